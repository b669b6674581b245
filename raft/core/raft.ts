/**
 * The Raft state machine of one node: roles, terms, elections, replication,
 * commitment, membership, ReadIndex and leadership transfer. Everything goes
 * through {@linkcode Raft.step} (messages) and {@linkcode Raft.tick} (time);
 * the results accumulate in the log and in `msgs`, which `RawNode` hands to
 * the application as a `Ready`. No I/O, no clock, no ambient randomness.
 *
 * Section marks (§5.2 ...) cite the Raft paper; "dissertation §x" cites
 * Ongaro's thesis.
 *
 * @module
 */

import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  PeerStatus,
  ReadState,
  RefusedProposal,
  Role,
  SnapshotMeta,
  Status,
} from "./types.ts";
import { message } from "./types.ts";
import type { Storage } from "./storage.ts";
import type { Rng } from "./rng.ts";
import type { Logger } from "./logger.ts";
import { nopLogger } from "./logger.ts";
import { RaftLog } from "./log.ts";
import { ConfLog } from "./conf_log.ts";
import {
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
  isMember,
} from "./conf_change.ts";
import { Progress } from "./progress.ts";
import { committedIndex, hasQuorum, voteResult } from "./quorum.ts";
import { ReadOnly } from "./read_only.ts";
import {
  assert,
  CompactedError,
  ConfChangeRefusedError,
  encodeRefusal,
  NoLeaderError,
  OverloadedError,
  ProposalDroppedError,
  RaftKvError,
  TransferRefusedError,
} from "./errors.ts";

/** How a node is configured; only `id`, `storage` and `rng` are required. */
export interface RaftConfig {
  id: NodeId;
  /** Stable storage, already holding what the node persisted before. */
  storage: Storage;
  /** The seeded source of election-timeout jitter. */
  rng: Rng;
  /** Ticks without a leader before a follower campaigns (randomized up to 2x). */
  electionTicks?: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks?: number;
  /** Run a PreVote round before disrupting the cluster with a new term. */
  preVote?: boolean;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  checkQuorum?: boolean;
  /** The most entry bytes in one append message. */
  maxMsgBytes?: number;
  /** The most unanswered appends to one follower in replicate state. */
  maxInflightMsgs?: number;
  /** The most committed-entry bytes in one Ready. */
  maxCommittedBytesPerReady?: number;
  /**
   * The most entry-payload bytes a leader holds appended but not yet handed
   * out as committed; proposals beyond it are dropped with
   * {@linkcode OverloadedError} (etcd's MaxUncommittedEntriesSize). A
   * proposal is always accepted while nothing is uncommitted, so one large
   * entry cannot get stuck. Default: unlimited.
   */
  maxUncommittedBytes?: number;
  /** The last index the application applied before a restart. */
  applied?: number;
  logger?: Logger;
}

/** The election timeout in ticks when {@linkcode RaftConfig} sets none. */
export const DEFAULT_ELECTION_TICKS = 10;
/** The heartbeat interval in ticks when {@linkcode RaftConfig} sets none. */
export const DEFAULT_HEARTBEAT_TICKS = 1;

/** Context marking a vote request that comes from a leadership transfer. */
const TRANSFER_CONTEXT = "transfer";

/** The Raft protocol state of one node. */
export class Raft {
  readonly id: NodeId;
  term = 0;
  /** The node voted for in `term`, 0 for none. */
  vote: NodeId = 0;
  /** The leader of `term` as far as this node knows, 0 for none. */
  lead: NodeId = 0;
  role: Role = "follower";
  readonly log: RaftLog;
  /** Memberships by log index; the latest one is in force. */
  readonly confLog: ConfLog;
  /** Leader only: progress of every member, this node included. */
  readonly prs = new Map<NodeId, Progress>();
  /** Messages to send once the current Ready is persisted. */
  msgs: Message[] = [];
  /** Reads confirmed since the last Ready. */
  readStates: ReadState[] = [];
  /** Forwarded proposals the leader refused since the last Ready. */
  refused: RefusedProposal[] = [];

  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedBytes: number;
  /** Leader only: payload bytes proposed in this term and not yet committed. */
  uncommittedBytes = 0;
  readonly logger: Logger;
  readonly #rng: Rng;

  /** Ticks since the last election timeout reset (or leader check). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** This term's election timeout, in `[electionTicks, 2 * electionTicks)`. */
  randomizedElectionTimeout = 0;
  /** Ticks since start, to judge how recently a peer was heard from. */
  tickCount = 0;
  /** Candidate only: votes received in this election. */
  readonly votes = new Map<NodeId, boolean>();
  /** Leader only: the node leadership is being transferred to, 0 for none. */
  leadTransferee: NodeId = 0;
  readonly readOnly = new ReadOnly();
  /** Leader only: reads that wait until an entry of this term commits. */
  pendingReads: Message[] = [];

  constructor(c: RaftConfig) {
    assert(Number.isSafeInteger(c.id) && c.id > 0, `bad node id ${c.id}`);
    this.id = c.id;
    this.electionTicks = c.electionTicks ?? DEFAULT_ELECTION_TICKS;
    this.heartbeatTicks = c.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS;
    assert(this.heartbeatTicks > 0, "heartbeatTicks must be positive");
    assert(
      this.electionTicks > this.heartbeatTicks,
      "electionTicks must exceed heartbeatTicks",
    );
    this.preVote = c.preVote ?? true;
    this.checkQuorum = c.checkQuorum ?? true;
    this.maxMsgBytes = c.maxMsgBytes ?? 1024 * 1024;
    this.maxInflightMsgs = c.maxInflightMsgs ?? 256;
    this.maxUncommittedBytes = c.maxUncommittedBytes ?? Infinity;
    this.logger = c.logger ?? nopLogger;
    this.#rng = c.rng;

    const hs = c.storage.initialState().hardState;
    this.log = new RaftLog(c.storage, c.applied ?? 0);
    const snap = c.storage.snapshot().meta;
    this.confLog = new ConfLog(snap.conf, snap.index);
    // The storage may keep entries at or before the snapshot's index (the
    // application compacts behind its snapshot to help slow followers);
    // their membership changes are already in `snap.conf`, so only entries
    // after the snapshot are replayed (found by the simulator; see
    // tests/raft/core/sim_regressions_test.ts).
    const first = Math.max(c.storage.firstIndex(), snap.index + 1);
    const last = c.storage.lastIndex();
    if (last >= first) {
      this.trackConfEntries(c.storage.entries(first, last + 1, Infinity));
    }
    this.becomeFollower(hs.term, 0);
    this.vote = hs.vote;
  }

  // ---- membership -------------------------------------------------------

  /** The membership in force (the latest one in the log). */
  conf(): ConfState {
    return this.confLog.latest();
  }

  /** Whether this node may campaign: it is a voter. */
  promotable(): boolean {
    return this.conf().voters.includes(this.id);
  }

  private trackConfEntries(ents: Entry[]): void {
    for (const e of ents) {
      if (e.type !== "conf") continue;
      this.confLog.push(
        e.index,
        applyConfChange(this.confLog.latest(), decodeConfChange(e.data)),
      );
    }
  }

  /** Appends entries to the log, rolling back and forward the membership. */
  private appendToLog(ents: Entry[]): void {
    if (ents.length === 0) return;
    const before = this.confLog.latestIndex();
    this.confLog.truncateFrom(ents[0]!.index);
    this.log.append(ents);
    this.trackConfEntries(ents);
    if (
      this.confLog.latestIndex() !== before ||
      ents.some((e) => e.type === "conf")
    ) {
      this.onConfChanged();
    }
  }

  /** Brings the leader's progress map and any transfer in line with the membership. */
  private onConfChanged(): void {
    if (this.role !== "leader") return;
    const conf = this.conf();
    for (const id of [...conf.voters, ...conf.learners]) {
      const learner = conf.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = learner;
      else {
        const fresh = new Progress(
          this.log.lastIndex() + 1,
          this.maxInflightMsgs,
          learner,
        );
        fresh.lastHeardTick = this.tickCount;
        this.prs.set(id, fresh);
      }
    }
    for (const id of [...this.prs.keys()]) {
      if (!isMember(conf, id)) this.prs.delete(id);
    }
    if (
      this.leadTransferee !== 0 && !conf.voters.includes(this.leadTransferee)
    ) {
      this.abortLeaderTransfer();
    }
    if (this.maybeCommit()) this.bcastAppend();
  }

  // ---- role changes -----------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks +
      this.#rng.intn(this.electionTicks);
    this.abortLeaderTransfer();
    this.votes.clear();
    this.readOnly.reset();
    this.pendingReads = [];
    this.prs.clear();
    this.uncommittedBytes = 0;
  }

  /** Becomes a follower of `lead` (0 when unknown) in `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
    this.logger.debug("became follower", { term, lead });
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "leader cannot become pre-candidate");
    this.votes.clear();
    this.lead = 0;
    this.role = "preCandidate";
    this.logger.debug("became pre-candidate", { term: this.term });
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "leader cannot become candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
    this.logger.debug("became candidate", { term: this.term });
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", `${this.role} cannot become leader`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    this.onConfChanged();
    const self = this.prs.get(this.id);
    if (self) {
      self.match = this.stableLastIndex();
      self.becomeReplicate();
    }
    // A leader commits nothing of an earlier term by counting (§5.4.2): an
    // empty entry of its own term, once committed, commits all before it.
    this.appendEntries([{
      term: 0,
      index: 0,
      type: "normal",
      data: new Uint8Array(),
    }]);
    this.logger.info("became leader", { term: this.term });
  }

  /** The last index known durable on this node. */
  private stableLastIndex(): number {
    return Math.min(this.log.lastIndex(), this.log.unstable.offset - 1);
  }

  // ---- time -------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    this.tickCount++;
    if (this.role === "leader") this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (
      this.promotable() &&
      this.electionElapsed >= this.randomizedElectionTimeout
    ) {
      this.electionElapsed = 0;
      this.hup();
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.logger.warn(
            "stepped down: no quorum heard from in an election timeout",
            {
              term: this.term,
            },
          );
          this.becomeFollower(this.term, 0);
          return;
        }
        for (const [id, pr] of this.prs) {
          if (id !== this.id) pr.recentActive = false;
        }
      }
      if (this.leadTransferee !== 0) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    return hasQuorum(
      this.conf().voters,
      (id) => id === this.id || this.prs.get(id)?.recentActive === true,
    );
  }

  // ---- elections (§5.2, dissertation §9.6) --------------------------------

  /** Starts an election now (PreVote first, when enabled). */
  hup(): void {
    if (this.role === "leader" || !this.promotable()) return;
    this.campaign(this.preVote ? "preVote" : "vote");
  }

  private campaign(kind: "preVote" | "vote" | "transfer"): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    if (kind === "preVote") {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    const type = kind === "preVote" ? "preVote" : "vote";
    this.votes.set(this.id, true);
    if (this.countVotes() === "won") return;
    for (const id of this.conf().voters) {
      if (id === this.id) continue;
      this.send(message({
        type,
        from: this.id,
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: kind === "transfer" ? TRANSFER_CONTEXT : "",
      }));
    }
  }

  /** Tallies votes; acts on a win or a loss. */
  private countVotes(): "won" | "lost" | "pending" {
    const result = voteResult(this.conf().voters, this.votes);
    if (result === "won") {
      if (this.role === "preCandidate") this.campaign("vote");
      else this.becomeLeader();
    } else if (result === "lost") {
      this.becomeFollower(this.term, 0);
    }
    return result;
  }

  private handleVoteRequest(m: Message): void {
    const respType = m.type === "vote" ? "voteResp" : "preVoteResp";
    const canVote = this.vote === m.from ||
      (this.vote === 0 && this.lead === 0) ||
      (m.type === "preVote" && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote grant answers in the candidate's future term (§9.6).
      this.send(
        message({ type: respType, from: this.id, to: m.from, term: m.term }),
      );
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(
        message({
          type: respType,
          from: this.id,
          to: m.from,
          term: this.term,
          reject: true,
        }),
      );
    }
  }

  // ---- the step function --------------------------------------------------

  /** Processes one message from a peer (or forwarded by one). */
  step(m: Message): void {
    if (m.term > this.term && !this.stepHigherTerm(m)) return;
    if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    if (m.type === "propResp") {
      if (m.reject) {
        this.refused.push({ entries: m.entries, reason: m.context });
      }
      return;
    }
    if (m.type === "prop" && this.role !== "leader") {
      this.refuseProposal(
        m,
        new ProposalDroppedError(`node ${this.id} is not the leader`),
      );
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  /** A message from a higher term; returns false when it is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === "vote" || m.type === "preVote") {
      const force = m.context === TRANSFER_CONTEXT;
      const inLease = this.checkQuorum && this.lead !== 0 &&
        this.electionElapsed < this.electionTicks;
      // A node that hears from a live leader ignores would-be disruptors
      // (dissertation §4.2.3), unless the leader itself asked for the vote.
      if (inLease && !force) return false;
    }
    if (m.type === "preVote" || (m.type === "preVoteResp" && !m.reject)) {
      return true;
    }
    const fromLeader = m.type === "app" || m.type === "heartbeat" ||
      m.type === "snap";
    this.becomeFollower(m.term, fromLeader ? m.from : 0);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if (
      (this.checkQuorum || this.preVote) &&
      (m.type === "app" || m.type === "heartbeat")
    ) {
      // Tell a stale leader about the newer term so it steps down; with
      // PreVote or CheckQuorum it would otherwise never learn of it.
      this.send(
        message({
          type: "appResp",
          from: this.id,
          to: m.from,
          term: this.term,
        }),
      );
    } else if (m.type === "preVote") {
      this.send(message({
        type: "preVoteResp",
        from: this.id,
        to: m.from,
        term: this.term,
        reject: true,
      }));
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.log.commitTo(m.commit);
        this.send(message({
          type: "heartbeatResp",
          from: this.id,
          to: m.from,
          term: this.term,
          context: m.context,
        }));
        break;
      case "snap":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        this.logger.info("campaigning at once: leadership transfer", {
          term: this.term,
        });
        this.campaign("transfer");
        break;
      case "readIndexResp":
        this.readStates.push({ context: m.context, index: m.index });
        break;
      default:
        // Requests meant for a leader that arrive here are relays of relays
        // (the sender's view is stale): drop them, the sender times out.
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case "voteResp":
      case "preVoteResp":
        if ((m.type === "voteResp") !== (this.role === "candidate")) return;
        this.votes.set(m.from, !m.reject);
        this.countVotes();
        break;
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case "prop":
        try {
          this.leaderPropose(m.entries);
        } catch (e) {
          if (!(e instanceof RaftKvError) || e.code === "assertion") throw e;
          this.refuseProposal(m, e);
        }
        return;
      case "readIndex":
        this.leaderReadIndex(m);
        return;
      case "transferLeader":
        try {
          this.leaderTransfer(m.index);
        } catch (e) {
          if (!(e instanceof TransferRefusedError)) throw e;
        }
        return;
    }
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case "appResp":
        pr.recentActive = true;
        pr.lastHeardTick = this.tickCount;
        this.handleAppendResponse(m, pr);
        break;
      case "heartbeatResp":
        pr.recentActive = true;
        pr.lastHeardTick = this.tickCount;
        pr.probeSent = false;
        // The follower is alive but every append in flight to it went
        // unanswered (it was down, or they were lost): with the window
        // full nothing would ever be sent again, so probe from its match
        // (found by the simulator; see sim_regressions_test.ts).
        if (pr.state === "replicate" && pr.isPaused()) pr.becomeProbe();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        this.handleReadAck(m);
        break;
      default:
        break;
    }
  }

  // ---- replication (§5.3) -------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({
        type: "appResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
      }));
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const conflict = this.log.findConflict(m.entries);
      if (conflict !== 0) {
        assert(
          conflict > this.log.committed,
          `conflict ${conflict} at or below commit`,
        );
        this.appendToLog(m.entries.slice(conflict - m.entries[0]!.index));
      }
      const lastNew = m.index + m.entries.length;
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.send(
        message({
          type: "appResp",
          from: this.id,
          to: m.from,
          term: this.term,
          index: lastNew,
        }),
      );
      return;
    }
    // Reject with a hint that skips a whole conflicting term at once.
    const hint = this.log.findConflictByTerm(
      Math.min(m.index, this.log.lastIndex()),
      m.logTerm,
    );
    this.send(message({
      type: "appResp",
      from: this.id,
      to: m.from,
      term: this.term,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      rejectTerm: hint.term,
    }));
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let next = m.rejectHint;
      if (m.rejectTerm > 0) {
        next = this.log.findConflictByTerm(m.rejectHint, m.rejectTerm).index;
      }
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") pr.freeInflightsTo(m.index);

    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from);
    while (this.sendAppend(m.from, false));
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (!snap) return;
    const { index, term } = snap.meta;
    if (index <= this.log.committed) {
      this.send(message({
        type: "appResp",
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
      }));
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // We already hold the snapshot's entries: just learn they are committed.
      this.log.commitTo(index);
    } else {
      this.logger.info("restoring from snapshot", { index, term });
      this.log.restore(snap);
      this.confLog.reset(snap.meta.conf, index);
      this.onConfChanged();
    }
    this.send(message({
      type: "appResp",
      from: this.id,
      to: m.from,
      term: this.term,
      index: this.log.lastIndex(),
    }));
  }

  /**
   * Sends the follower what it lacks: entries from its next index, or the
   * snapshot when those are compacted away. Returns whether it sent.
   * With `sendIfEmpty` false, sends only when there are entries.
   */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        ents = this.log.slice(
          pr.next,
          this.log.lastIndex() + 1,
          this.maxMsgBytes,
        );
      } catch (e) {
        if (!(e instanceof RaftKvError) || e.code !== "compacted") throw e;
      }
    }
    if (prevTerm === undefined || ents === undefined) {
      return this.sendSnapshot(to, pr);
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(message({
      type: "app",
      from: this.id,
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    }));
    pr.sentEntries(prevIndex + ents.length, ents.length);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) return false;
    this.logger.info("sending snapshot", { to, index: snap.meta.index });
    this.send(
      message({
        type: "snap",
        from: this.id,
        to,
        term: this.term,
        snapshot: snap,
      }),
    );
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.round()?.id ?? "";
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send(message({
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.term,
        // Never tell a follower to commit past what it is known to hold.
        commit: Math.min(pr.match, this.log.committed),
        context: ctx,
      }));
    }
  }

  /**
   * Commits the highest index a majority of voters hold, but only if that
   * entry is of the current term (§5.4.2, Figure 8). Returns whether commit
   * moved.
   */
  private maybeCommit(): boolean {
    if (this.role !== "leader") return false;
    const mci = committedIndex(
      this.conf().voters,
      (id) => this.prs.get(id)?.match ?? 0,
    );
    if (mci <= this.log.committed || this.log.term(mci) !== this.term) {
      return false;
    }
    this.log.commitTo(mci);
    this.releasePendingReads();
    return true;
  }

  /** Appends new entries of this term to the leader's log and replicates them. */
  private appendEntries(ents: Entry[]): void {
    const last = this.log.lastIndex();
    const stamped = ents.map((e, i): Entry => ({
      term: this.term,
      index: last + 1 + i,
      type: e.type,
      data: e.data,
    }));
    this.appendToLog(stamped);
    this.bcastAppend();
  }

  /** The application persisted the log up to its last entry (after a Ready). */
  onPersisted(): void {
    if (this.role !== "leader") return;
    const self = this.prs.get(this.id);
    if (
      self && self.maybeUpdate(this.stableLastIndex()) && this.maybeCommit()
    ) this.bcastAppend();
  }

  // ---- proposals ------------------------------------------------------------

  /**
   * Proposes `data` as a normal entry: appended here when leader, forwarded
   * to the leader otherwise. Throws {@linkcode NoLeaderError} when no leader
   * is known and {@linkcode ProposalDroppedError} while leadership moves.
   */
  propose(data: Uint8Array): void {
    const ent: Entry = { term: 0, index: 0, type: "normal", data };
    this.proposeEntries([ent]);
  }

  private proposeEntries(ents: Entry[]): void {
    if (this.role === "leader") {
      this.leaderPropose(ents);
      return;
    }
    if (this.lead === 0) throw new NoLeaderError();
    this.send(
      message({
        type: "prop",
        from: this.id,
        to: this.lead,
        term: 0,
        entries: ents,
      }),
    );
  }

  /**
   * Answers a forwarded proposal that will not be appended, so the follower
   * fails its caller at once instead of at its deadline.
   */
  private refuseProposal(m: Message, e: RaftKvError): void {
    this.logger.info("refused a forwarded proposal", {
      from: m.from,
      reason: e.message,
    });
    if (m.from === this.id) return;
    this.send(message({
      type: "propResp",
      from: this.id,
      to: m.from,
      term: 0,
      reject: true,
      entries: m.entries,
      context: encodeRefusal(e),
    }));
  }

  private leaderPropose(ents: Entry[]): void {
    if (this.leadTransferee !== 0) {
      throw new ProposalDroppedError(
        `leadership is moving to node ${this.leadTransferee}`,
      );
    }
    if (!this.prs.has(this.id)) {
      throw new ProposalDroppedError("the leader is not a member");
    }
    // Forwarded batches come from peers: at most one change per batch (the
    // pending-change rule only sees the log), and malformed data is dropped
    // with a typed error instead of escaping from step().
    const confs = ents.filter((e) => e.type === "conf");
    if (confs.length > 1) {
      throw new ConfChangeRefusedError("one membership change at a time");
    }
    for (const e of confs) {
      let cc: ConfChange;
      try {
        cc = decodeConfChange(e.data);
      } catch {
        throw new ProposalDroppedError("malformed membership change");
      }
      this.checkConfChange(cc);
    }
    this.takeUncommittedBytes(ents);
    this.appendEntries(ents.map((e) => ({ ...e })));
  }

  /**
   * Counts a proposal's payload against the uncommitted-bytes limit, or
   * throws {@linkcode OverloadedError} when it would pass it.
   */
  private takeUncommittedBytes(ents: Entry[]): void {
    let bytes = 0;
    for (const e of ents) bytes += e.data.byteLength;
    if (
      this.uncommittedBytes > 0 &&
      this.uncommittedBytes + bytes > this.maxUncommittedBytes
    ) {
      throw new OverloadedError(
        `the leader holds ${this.uncommittedBytes} uncommitted bytes (limit ${this.maxUncommittedBytes})`,
      );
    }
    this.uncommittedBytes += bytes;
  }

  /**
   * Releases the payload bytes of entries handed to the application as
   * committed. Entries of earlier terms were never counted, so the count
   * stops at zero.
   */
  releaseUncommittedBytes(ents: readonly Entry[]): void {
    if (this.role !== "leader" || this.uncommittedBytes === 0) return;
    let bytes = 0;
    for (const e of ents) bytes += e.data.byteLength;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  /**
   * Proposes a membership change. On the leader it is checked at once and
   * refused with {@linkcode ConfChangeRefusedError}; a follower forwards it,
   * and the leader drops it if it fails the same checks.
   */
  proposeConfChange(cc: ConfChange): void {
    this.proposeEntries([{
      term: 0,
      index: 0,
      type: "conf",
      data: encodeConfChange(cc),
    }]);
  }

  /** The leader's rules for accepting a membership change (see conf_change.ts). */
  private checkConfChange(cc: ConfChange): void {
    if (this.log.term(this.log.committed) !== this.term) {
      throw new ConfChangeRefusedError(
        "the leader has not committed an entry of its term yet",
        "uncommittedTerm",
      );
    }
    if (this.confLog.latestIndex() > this.log.committed) {
      throw new ConfChangeRefusedError(
        "another membership change is not committed yet",
        "pending",
        this.confLog.latestIndex(),
      );
    }
    if (cc.type === "remove" && cc.node === this.id) {
      throw new ConfChangeRefusedError(
        "the leader cannot remove itself: transfer leadership first",
      );
    }
    const next = applyConfChange(this.conf(), cc);
    const reachable = (id: NodeId): boolean => {
      if (id === this.id) return true;
      const pr = this.prs.get(id);
      return pr !== undefined &&
        this.tickCount - pr.lastHeardTick <= this.electionTicks;
    };
    if (!hasQuorum(next.voters, reachable)) {
      throw new ConfChangeRefusedError(
        "the new membership would have no reachable quorum",
      );
    }
  }

  // ---- linearizable reads (dissertation §6.4) ------------------------------

  /**
   * Asks for a read index under request id `context`; the answer arrives as
   * a {@linkcode ReadState} in a later Ready. Throws
   * {@linkcode NoLeaderError} when no leader is known.
   */
  readIndex(context: string): void {
    const m = message({
      type: "readIndex",
      from: this.id,
      to: this.lead,
      term: 0,
      context,
    });
    if (this.role === "leader") this.leaderReadIndex(m);
    else if (this.lead === 0) throw new NoLeaderError();
    else this.send(m);
  }

  /** With `startRound` false the read is only queued (the caller starts the round). */
  private leaderReadIndex(m: Message, startRound = true): void {
    // Until an entry of this term commits, the leader's commit index may lag
    // what earlier leaders committed: reads wait for it.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReads.push(m);
      return;
    }
    if (this.conf().voters.length === 1 && this.conf().voters[0] === this.id) {
      this.answerRead(m.from, m.context, this.log.committed);
      return;
    }
    this.readOnly.add({ from: m.from, context: m.context });
    if (startRound) this.maybeStartReadRound();
  }

  private releasePendingReads(): void {
    if (
      this.pendingReads.length === 0 ||
      this.log.term(this.log.committed) !== this.term
    ) return;
    const reads = this.pendingReads;
    this.pendingReads = [];
    // Queue them all, then start one round: the reads held back until this
    // term's first commit share a single heartbeat round.
    for (const m of reads) this.leaderReadIndex(m, false);
    this.maybeStartReadRound();
  }

  private maybeStartReadRound(): void {
    const round = this.readOnly.maybeStartRound(this.term, this.log.committed);
    if (!round) return;
    this.heartbeatElapsed = 0;
    this.bcastHeartbeat();
  }

  private handleReadAck(m: Message): void {
    const round = this.readOnly.round();
    if (!round || m.context !== round.id) return;
    round.acks.add(m.from);
    const ok = hasQuorum(
      this.conf().voters,
      (id) => id === this.id || round.acks.has(id),
    );
    if (!ok) return;
    this.readOnly.finishRound();
    for (const req of round.requests) {
      this.answerRead(req.from, req.context, round.index);
    }
    this.maybeStartReadRound();
  }

  private answerRead(to: NodeId, context: string, index: number): void {
    if (to === this.id) {
      this.readStates.push({ context, index });
    } else {
      this.send(
        message({
          type: "readIndexResp",
          from: this.id,
          to,
          term: this.term,
          index,
          context,
        }),
      );
    }
  }

  // ---- leadership transfer (dissertation §3.10) -----------------------------

  /**
   * Moves leadership to `target`: the leader catches it up, then tells it to
   * campaign at once. Followers forward the request to their leader.
   */
  transferLeader(target: NodeId): void {
    if (this.role === "leader") {
      this.leaderTransfer(target);
      return;
    }
    if (this.lead === 0) throw new NoLeaderError();
    this.send(message({
      type: "transferLeader",
      from: this.id,
      to: this.lead,
      term: 0,
      index: target,
    }));
  }

  private leaderTransfer(target: NodeId): void {
    if (target === this.id) return;
    if (!this.conf().voters.includes(target)) {
      throw new TransferRefusedError(`node ${target} is not a voter`);
    }
    if (this.leadTransferee === target) return;
    this.abortLeaderTransfer();
    this.leadTransferee = target;
    this.electionElapsed = 0;
    this.logger.info("transferring leadership", {
      to: target,
      term: this.term,
    });
    const pr = this.prs.get(target)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(
      message({ type: "timeoutNow", from: this.id, to, term: this.term }),
    );
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = 0;
  }

  // ---- reports from the transport -------------------------------------------

  /** The transport could not reach `id`: stop streaming to it, probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.role === "leader" ? this.prs.get(id) : undefined;
    if (pr?.state === "replicate") pr.becomeProbe();
  }

  /** The snapshot sent to `id` arrived (`ok`) or was lost. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === "leader" ? this.prs.get(id) : undefined;
    if (!pr || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer to the snapshot before probing again.
    pr.probeSent = ok;
  }

  // ---- misc -------------------------------------------------------------

  /** Appends `m` to the outbox. */
  private send(m: Message): void {
    this.msgs.push(m);
  }

  /**
   * The snapshot metadata for an application snapshot at applied `index`.
   * Throws {@linkcode CompactedError} when the log no longer holds `index`:
   * a snapshot from the leader replaced the log while the application was
   * still applying older entries (it waits in the next Ready), so there is
   * nothing to snapshot; the caller skips it. Found by the simulator: this
   * used to be an assertion, fatal to the node.
   */
  snapshotMeta(index: number): SnapshotMeta {
    assert(
      index <= this.log.applied,
      `snapshot at ${index} beyond applied ${this.log.applied}`,
    );
    const term = this.log.term(index);
    if (term === undefined) throw new CompactedError(index);
    return { index, term, conf: this.confLog.at(index) };
  }

  /** Writes the entries for a brand-new cluster of `peers` (all voters). */
  bootstrap(peers: { id: NodeId; context: string }[]): void {
    assert(this.log.lastIndex() === 0, "bootstrap needs an empty log");
    assert(peers.length > 0, "bootstrap needs at least one peer");
    this.becomeFollower(1, 0);
    const ents: Entry[] = peers.map((p, i) => ({
      term: 1,
      index: i + 1,
      type: "conf" as const,
      data: encodeConfChange({
        type: "addVoter",
        node: p.id,
        context: p.context,
      }),
    }));
    this.appendToLog(ents);
    this.log.commitTo(ents.length);
  }

  /** A snapshot of this node's state. */
  status(): Status {
    const peers: PeerStatus[] = [];
    if (this.role === "leader") {
      for (const id of [...this.prs.keys()].sort((a, b) => a - b)) {
        const pr = this.prs.get(id)!;
        peers.push({
          id,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          learner: pr.isLearner,
          recentActive: id === this.id || pr.recentActive,
          inflight: pr.inflightCount,
        });
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshot().meta.index,
      conf: this.conf(),
      peers,
    };
  }
}
