/**
 * The application's handle on the Raft core, in the style of etcd's
 * `RawNode`: feed it ticks, messages and proposals; take a {@linkcode Ready};
 * persist, send and apply it in that order; then call `advance()`. A
 * leader's messages that need nothing durable (appends, heartbeats) may be
 * taken apart at any time, even while a Ready is being written:
 * `takeEarlyMessages()`.
 *
 * One proposal's path: `propose()` (here) → `Raft.propose` appends it to the
 * leader's log (raft.ts, log.ts, log_unstable.ts) and queues appends to the
 * followers → `ready().entries` and `ready().messages` → the application
 * persists and sends → followers' `appResp` come back through `step()` and
 * move each follower's `Progress` (progress.ts) → `maybeCommit` counts a
 * majority of matches (quorum.ts) → the entry appears in
 * `ready().committedEntries` → the application applies it → `advance()`.
 *
 * @module
 */

import type {
  ConfChange,
  HardState,
  Message,
  NodeId,
  Ready,
  SnapshotMeta,
  SoftState,
  Status,
} from "./types.ts";
import { Raft, type RaftConfig } from "./raft.ts";
import { assert } from "./errors.ts";
import { MESSAGE_TYPES } from "./types.ts";

/** Message types a node accepts from its peers. */
const PEER_TYPES: ReadonlySet<string> = new Set(MESSAGE_TYPES);

/**
 * Message types a leader may send before anything of its own is durable:
 * they promise nothing about its disk (it counts its own copy toward commit
 * only after `advance()`). Like etcd raft 3.6, which holds back only the
 * messages that promise a durable append or vote (`MsgAppResp`,
 * `MsgVoteResp`, `MsgPreVoteResp`); raftkv keeps the list short and lets
 * everything else wait for its Ready.
 */
const EARLY_TYPES: ReadonlySet<string> = new Set(["app", "heartbeat", "snap"]);

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** A single-threaded Raft node driven by its application. */
export class RawNode {
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #outstanding: Ready | undefined;
  readonly #maxCommittedBytes: number;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.#prevSoft = this.softState();
    this.#prevHard = this.hardState();
    this.#maxCommittedBytes = config.maxCommittedBytesPerReady ??
      64 * 1024 * 1024;
  }

  /**
   * Writes the first entries of a brand-new cluster whose voters are
   * `peers` (`context` is handed back in the conf entries: raftkv puts the
   * node's URL there). Every founding member calls it with the same list.
   */
  bootstrap(peers: { id: NodeId; context: string }[]): void {
    this.raft.bootstrap(peers);
  }

  /** Advances logical time by one tick (the runtime calls it every tick-ms). */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Steps a message received from a peer. Messages not addressed to this
   * node or of an unknown type are dropped.
   */
  step(m: Message): void {
    if (m.to !== this.raft.id || m.from <= 0 || !PEER_TYPES.has(m.type)) return;
    this.raft.step(m);
  }

  /** Starts an election now (tests and operators). */
  campaign(): void {
    this.raft.hup();
  }

  /** Proposes application data; see `Raft.propose` for the errors. */
  propose(data: Uint8Array): void {
    this.raft.propose(data);
  }

  /** Proposes a membership change; see `Raft.proposeConfChange`. */
  proposeConfChange(cc: ConfChange): void {
    this.raft.proposeConfChange(cc);
  }

  /** Requests a linearizable read index under request id `context`. */
  readIndex(context: string): void {
    this.raft.readIndex(context);
  }

  /** Asks for leadership to move to `target`. */
  transferLeader(target: NodeId): void {
    this.raft.transferLeader(target);
  }

  /** The transport failed to reach `id`. */
  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  /** The snapshot sent to `id` was delivered (`ok`) or lost. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  /**
   * The metadata for a snapshot of the state machine at applied `index`.
   * Throws `CompactedError` when a snapshot from the leader has replaced the
   * log in the meantime (it comes in the next Ready): skip this snapshot.
   */
  snapshotMeta(index: number): SnapshotMeta {
    return this.raft.snapshotMeta(index);
  }

  private softState(): SoftState {
    return { role: this.raft.role, leader: this.raft.lead };
  }

  private hardState(): HardState {
    return {
      term: this.raft.term,
      vote: this.raft.vote,
      commit: this.raft.log.committed,
    };
  }

  /**
   * Hands out, and removes from the pending messages, those that may go out
   * before anything is persisted: a leader's `app`, `heartbeat` and `snap`
   * messages, while its term and vote are those of the last advanced Ready
   * (durable already). Anything else (an append or vote response, a message
   * of a term not yet durable, any message of a follower or candidate) stays
   * for the next Ready, to be sent after its persistence step. Produces no
   * Ready and may be called while one is outstanding.
   *
   * With `only` "heartbeat", only heartbeats (a ReadIndex round's included)
   * are handed out: what a runtime takes while a Ready is being written, so
   * the leader's authority does not wait for its fsync, while the appends
   * that proposals make meanwhile stay to go out together with the next
   * Ready rather than one small message per proposal.
   */
  takeEarlyMessages(only?: "heartbeat"): Message[] {
    const r = this.raft;
    if (
      r.role !== "leader" || r.msgs.length === 0 ||
      r.term !== this.#prevHard.term || r.vote !== this.#prevHard.vote
    ) return [];
    const take = (m: Message) =>
      only ? m.type === only : EARLY_TYPES.has(m.type);
    // Called on every proposal while a write is pending: with nothing to
    // take (the usual case between ticks) the pending list stays as it is.
    if (!r.msgs.some(take)) return [];
    const early: Message[] = [];
    const later: Message[] = [];
    for (const m of r.msgs) (take(m) ? early : later).push(m);
    r.msgs = later;
    return early;
  }

  /** Whether there is work for the application (and no Ready is outstanding). */
  hasReady(): boolean {
    if (this.#outstanding) return false;
    const r = this.raft;
    const soft = this.softState();
    return r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.refused.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommittedEnts() ||
      !sameHardState(this.hardState(), this.#prevHard) ||
      soft.role !== this.#prevSoft.role ||
      soft.leader !== this.#prevSoft.leader;
  }

  /**
   * Takes the pending work. Only one Ready may be outstanding: handle it,
   * then call {@linkcode advance} before asking again.
   */
  ready(): Ready {
    assert(!this.#outstanding, "ready() called again before advance()");
    const r = this.raft;
    const hard = this.hardState();
    const soft = this.softState();
    const entries = r.log.unstable.entries.slice();
    const committedEntries = r.log.nextCommittedEnts(this.#maxCommittedBytes);
    const rd: Ready = {
      entries,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      // A snapshot needs an fsync too: the answer in `messages` tells the
      // leader this node holds everything up to the snapshot's index, and
      // the leader will send commit indexes up to there.
      mustSync: entries.length > 0 || r.log.unstable.snapshot !== undefined ||
        hard.term !== this.#prevHard.term || hard.vote !== this.#prevHard.vote,
    };
    const snap = r.log.unstable.snapshot;
    if (snap) rd.snapshot = snap;
    if (r.refused.length > 0) rd.refused = r.refused;
    if (!sameHardState(hard, this.#prevHard)) rd.hardState = hard;
    if (
      soft.role !== this.#prevSoft.role || soft.leader !== this.#prevSoft.leader
    ) rd.softState = soft;
    r.msgs = [];
    r.readStates = [];
    r.refused = [];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted) r.log.applyingTo(lastCommitted.index);
    r.releaseUncommittedBytes(committedEntries);
    this.#outstanding = rd;
    return rd;
  }

  /**
   * Acknowledges the outstanding Ready: its entries, hard state and
   * snapshot are durable and its committed entries applied.
   */
  advance(): void {
    const rd = this.#outstanding;
    assert(rd, "advance() without an outstanding ready()");
    this.#outstanding = undefined;
    const log = this.raft.log;
    if (rd.hardState) this.#prevHard = rd.hardState;
    if (rd.softState) this.#prevSoft = rd.softState;
    if (rd.snapshot) {
      log.unstable.stableSnapTo(rd.snapshot.meta.index);
      log.appliedTo(rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.unstable.stableTo(last.index, last.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) log.appliedTo(lastCommitted.index);
    this.raft.onPersisted();
  }

  /** The node's current view of itself and, on the leader, of its peers. */
  status(): Status {
    return this.raft.status();
  }
}
