/**
 * The node runtime: one loop around the pure core that handles each Ready in
 * the order its contract demands (persist, send, apply, advance), while a
 * leader's appends go out before its write and its heartbeats also during
 * it (`RawNode.takeEarlyMessages`, see `#sendEarly`), and settles
 * the callers that proposals, reads and leadership transfers leave waiting
 * (raft/wait.ts); writes wait in proposals.ts, which also proposes again
 * the ones a leader change left dead. Membership changes are carried out in
 * member_changes.ts, snapshots are taken by snapshot_scheduler.ts, messages
 * leave through outbox.ts.
 *
 * The node owns no timers and no sockets: `main.ts` calls {@linkcode
 * RaftNode.tick} from an interval and hands it a {@linkcode Transport}; the
 * peer endpoint calls {@linkcode RaftNode.receive}. That keeps it usable by
 * tests and the simulator.
 *
 * @module
 */

import {
  assert,
  decodeRefusal,
  type Entry,
  type Logger,
  type Message,
  type NodeId,
  nopLogger,
  type RaftConfig,
  RawNode,
  type Ready,
  type RefusedProposal,
  type Rng,
  seededRng,
  type Snapshot,
  type SnapshotMeta,
  type Status,
  type Storage,
} from "./core/mod.ts";
import {
  isStaleCopy,
  type RequestId,
  requestKey,
  unwrapPayload,
} from "./envelope.ts";
import { encodeConfContext, type Member, Members } from "./members.ts";
import {
  decodeSnapshotData,
  decodeSnapshotFileHead,
  type SnapshotBody,
  type StateView,
} from "./snapshot_data.ts";
import { RaftMetrics } from "./raft_metrics.ts";
import { HeartbeatWatch } from "./heartbeat_watch.ts";
import { DEFAULTS } from "./defaults.ts";
import {
  LeaderChangedError,
  MemberError,
  OutcomeUnknownError,
  PeerRemovedError,
  RecoveringError,
  StoppedError,
} from "./errors.ts";
import { IndexWait, Wait } from "./wait.ts";
import { MemberChanges } from "./member_changes.ts";
import { SnapshotScheduler } from "./snapshot_scheduler.ts";
import { Outbox } from "./outbox.ts";
import type { SnapshotStream } from "./snapshot_stream.ts";
import {
  receivedSnapshotNumber,
  type SnapshotReceive,
} from "./snapshot_receive.ts";
import { BackgroundWork } from "./background_work.ts";
import { type Applied, Proposals } from "./proposals.ts";

export type { Applied } from "./proposals.ts";

/** The replicated application: deterministic, driven only by applied entries. */
export interface StateMachine {
  /**
   * Applies a committed command at `index`, an entry of `term`; the result
   * goes to the proposer.
   */
  apply(index: number, payload: Uint8Array, term: number): unknown;
  /** Serializes the whole state (deterministic bytes). */
  snapshot(): Uint8Array;
  /**
   * Optional: the same bytes after `headroom` bytes left for the caller, in
   * one fresh buffer, so the node frames a snapshot without copying it.
   */
  snapshotAfter?(headroom: number): Uint8Array;
  /** Replaces the whole state with a snapshot's bytes. */
  restore(state: Uint8Array): void;
  /**
   * Optional: the state as it is now, in O(1), encoded lazily in slices
   * while entries keep being applied: how snapshots stay off the loop.
   */
  view?(): StateView;
  /**
   * Optional: {@linkcode restore} in bounded steps, the state replaced at
   * the last one; the node yields to the event loop between steps. With
   * `total` larger than `state.length`, `state` holds the first bytes only
   * and a step may ask for more ({@linkcode StateFeed}): the node reads
   * them from the snapshot file and feeds them before going on.
   */
  restoreSteps?(
    state: Uint8Array,
    recordsPerStep?: number,
    total?: number,
  ): Iterable<StateFeed | undefined | void>;
  /** Optional: the number of keys, for the recovery log line. */
  readonly size?: number;
}

/** A restore step that needs at least `need` more bytes of the state. */
export interface StateFeed {
  readonly need: number;
  feed(more: Uint8Array): void;
}

/** The bytes read from a snapshot file at once to restore from it. */
const RESTORE_READ_BYTES = 1024 * 1024;
/** The fewest bytes read first: the snapshot's metadata and membership. */
const RESTORE_HEAD_BYTES = 64 * 1024;

/** Delivers messages to peers; never blocks, may drop (Raft retransmits). */
export interface Transport {
  send(msgs: Message[]): void;
  /**
   * Optional: sends the "snap" message `m` (whose snapshot's data is empty)
   * with the snapshot read from `stream` as it goes out, never held whole.
   * The transport owns `stream`: it closes it when done, whatever happens,
   * and reports the snapshot (`reportSnapshot`) as for any "snap" message.
   */
  sendSnapshot?(m: Message, stream: SnapshotStream): void;
}

/** What the node needs of its durable storage (raft/disk_storage.ts). */
export interface NodeStorage extends Storage {
  /** True for a data directory that never held anything. */
  isEmpty(): boolean;
  /** Persists a Ready's durable part; resolves once it is on stable storage. */
  save(
    rd: Pick<Ready, "hardState" | "entries" | "snapshot" | "mustSync">,
  ): Promise<void>;
  /** Persists an application snapshot and compacts what it covers. */
  createSnapshot(snap: Snapshot): Promise<void>;
  /**
   * Optional: the node has restored its state from `snapshot()` at start;
   * storage that can read the data back later may drop it from memory.
   */
  releaseSnapshotData?(): void;
  /** Optional: {@linkcode createSnapshot} from data made part by part. */
  createSnapshotFrom?(meta: SnapshotMeta, body: SnapshotBody): Promise<void>;
  /**
   * Optional: the newest snapshot with its data, for storage whose
   * `snapshot()` keeps only metadata; the node fills in a "snap" message's
   * empty data from it before sending.
   */
  loadSnapshot?(): Promise<Snapshot>;
  /**
   * Optional: the newest snapshot opened to be read from its file in
   * pieces; preferred over {@linkcode loadSnapshot} when the transport can
   * send from it (`Transport.sendSnapshot`).
   */
  openSnapshotStream?(want?: SnapshotMeta): Promise<SnapshotStream>;
  /**
   * Optional: starts receiving a snapshot transfer into a file
   * (raft/snapshot_receive.ts); a storage that offers it resolves the
   * handle the finished transfer's message carries in `save`, and must
   * offer {@linkcode readSnapshot} to read it back.
   */
  receiveSnapshot?(total: number): SnapshotReceive;
  /**
   * Optional: the core did not take the received snapshot whose data is
   * the handle `data` ({@linkcode receiveSnapshot}): its file can go now.
   */
  discardReceivedSnapshot?(data: Uint8Array): Promise<void>;
  /**
   * Optional: the durable snapshot `meta` names, read back (and verified)
   * from its file, to apply a snapshot received into a file.
   */
  readSnapshot?(meta: SnapshotMeta): Promise<Snapshot>;
}

/** Options of {@linkcode RaftNode}. */
export interface RaftNodeOptions {
  id: NodeId;
  /** URLs of the initial members by id (from `--cluster`). */
  peers: Map<NodeId, string>;
  /** Join an existing cluster instead of bootstrapping one. */
  join: boolean;
  storage: NodeStorage;
  stateMachine: StateMachine;
  rng: Rng;
  /** Random per process: keeps request ids from before a restart apart. */
  epoch: number;
  logger?: Logger;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** The fewest applied entries between two snapshots. */
  snapshotEntries?: number;
  /**
   * A snapshot is due once the log since the last one reaches this % of
   * its size (raft/snapshot_scheduler.ts).
   */
  snapshotLogPercent?: number;
  /**
   * Stretches both snapshot thresholds by a factor drawn after every
   * snapshot from [1, 1 + this/100), seeded by the node's id, so that the
   * nodes of a cluster snapshot apart; 0: exactly at the thresholds.
   */
  snapshotSpreadPercent?: number;
  /** A snapshot is due once this many bytes were logged since the last. */
  snapshotMaxLogBytes?: number;
  /**
   * When start-up began on the `now` clock (before the storage opened), for
   * the recovery time in the "recovered" log line; default: construction.
   */
  startedAt?: number;
  /**
   * The most proposals waiting here for their outcome; more are refused
   * with {@linkcode OverloadedError} (default: `DEFAULTS.maxPendingProposals`).
   */
  maxPendingProposals?: number;
  /** The leader's uncommitted-bytes limit (the core's `maxUncommittedBytes`). */
  maxUncommittedBytes?: number;
  /** Where the node records its metrics (default: a private registry). */
  metrics?: RaftMetrics;
  /**
   * Milliseconds per tick, as the caller of {@linkcode RaftNode.tick} runs
   * it; enables the late-heartbeat warning. Omit it when ticks are virtual.
   */
  tickMs?: number;
  /** A monotonic clock in ms (default `performance.now`); tests fake it. */
  now?: () => number;
  /**
   * The bytes read at once when a snapshot received into a file is
   * restored from it (default 1 MiB); the simulator uses small pieces so
   * records span them.
   */
  restoreReadBytes?: number;
  /**
   * Lets the event loop run (timers, I/O) between the steps of applying a
   * received snapshot; default: a zero-delay timeout.
   */
  yieldTurn?: () => Promise<void>;
  /**
   * Wall-clock time in ms since the Unix epoch (default `Date.now`), for
   * what the node reports to people (leader changes); the simulator fakes it.
   */
  wallClock?: () => number;
  /**
   * Runs `fn` soon, outside the caller's stack (default `queueMicrotask`):
   * each run of the Ready loop, and the stop that follows this node's own
   * removal, start through it. The simulator queues them as steps of its own.
   */
  schedule?: (fn: () => void) => void;
  /** Protocol settings passed to the core as they are (default: the core's). */
  core?: Pick<
    RaftConfig,
    "preVote" | "checkQuorum" | "maxMsgBytes" | "maxInflightMsgs"
  >;
}

/** A leader this node saw take office, for the status page. */
export interface LeaderChange {
  /** Wall-clock time (ms since the Unix epoch) this node learned of it. */
  at: number;
  term: number;
  leader: NodeId;
}

/** How many leader changes a node remembers (the newest ones). */
const LEADER_CHANGES_KEPT = 20;

/** A Raft node with its runtime loop. */
export class RaftNode {
  readonly id: NodeId;
  readonly members = new Members();
  readonly #raw: RawNode;
  readonly #storage: NodeStorage;
  readonly #sm: StateMachine;
  readonly #logger: Logger;
  readonly #peers: Map<NodeId, string>;
  readonly #epoch: number;
  readonly #metrics: RaftMetrics;
  readonly #now: () => number;
  readonly #yieldTurn: () => Promise<void>;
  readonly #restoreReadBytes: number;
  readonly #wallClock: () => number;
  readonly #scheduleFn: (fn: () => void) => void;
  /** Set when `tickMs` is known: warns when heartbeats go out late. */
  readonly #heartbeats: HeartbeatWatch | undefined;
  readonly #outbox: Outbox;
  readonly #snapshots: SnapshotScheduler;
  readonly #memberChanges: MemberChanges;
  /** Snapshots written or read back off the loop (see idle()). */
  readonly #background = new BackgroundWork(() => this.#releaseIdle());
  #seq = 0;
  #applied: number;
  #recoverTarget: number;
  #recovering = true;
  readonly #startedAt: number;
  readonly #snapshotIndexAtStart: number;
  #running = false;
  /** Set while a run is scheduled and has not started yet. */
  #queued = false;
  /** Set while the loop waits for its storage to persist a Ready. */
  #saving = false;
  /** Callers of {@linkcode RaftNode.idle} waiting for the loop to settle. */
  #idleWaiters: (() => void)[] = [];
  #stopped: StoppedError | undefined;
  /** Set once this node knows it was removed from the cluster. */
  #removed = false;
  #leader: NodeId = 0;
  #role: Status["role"] = "follower";
  /** Writes of this process by sequence number (their epoch is #epoch). */
  readonly #writes: Proposals;
  /** Reads by request key, until the leader confirms their read index. */
  readonly #reads = new Wait<string, number>();
  /** Callers waiting for the applied index to reach a value. */
  readonly #appliedWait: IndexWait;
  /** Callers of transferLeader by the leader they wait for. */
  readonly #leaderWaits = new Wait<NodeId, void>();
  /** The newest leader changes this node saw, oldest first. */
  readonly #leaderChanges: LeaderChange[] = [];
  /** Called once when the node must stop: fatal error or removal. */
  onStop: (reason: StoppedError, fatal: boolean) => void = () => {};

  constructor(o: RaftNodeOptions) {
    this.id = o.id;
    this.#storage = o.storage;
    this.#sm = o.stateMachine;
    this.#logger = o.logger ?? nopLogger;
    this.#peers = o.peers;
    this.#epoch = o.epoch >>> 0;
    this.#metrics = o.metrics ?? new RaftMetrics();
    this.#now = o.now ?? (() => performance.now());
    this.#startedAt = o.startedAt ?? this.#now();
    this.#yieldTurn = o.yieldTurn ??
      (() => new Promise((resolve) => setTimeout(resolve, 0)));
    this.#wallClock = o.wallClock ?? (() => Date.now());
    this.#restoreReadBytes = Math.max(
      1,
      o.restoreReadBytes ?? RESTORE_READ_BYTES,
    );
    this.#scheduleFn = o.schedule ?? ((fn) => queueMicrotask(fn));
    this.#heartbeats = o.tickMs === undefined ? undefined : new HeartbeatWatch(
      o.tickMs * (o.heartbeatTicks ?? DEFAULTS.heartbeatTicks.value),
    );

    // Recovery order is fixed here: the newest snapshot first, then the
    // committed entries after it, which the core hands out as Ready batches.
    const snap = o.storage.snapshot();
    this.#applied = snap.meta.index;
    this.#snapshotIndexAtStart = snap.meta.index;
    const content = decodeSnapshotData(snap.data);
    if (content) {
      this.#sm.restore(content.state);
      this.members.restore(content.members);
    }
    o.storage.releaseSnapshotData?.();
    this.#raw = new RawNode({
      id: o.id,
      storage: o.storage,
      rng: o.rng,
      applied: this.#applied,
      logger: this.#logger,
      electionTicks: o.electionTicks ?? DEFAULTS.electionTicks.value,
      heartbeatTicks: o.heartbeatTicks ?? DEFAULTS.heartbeatTicks.value,
      maxUncommittedBytes: o.maxUncommittedBytes,
      ...o.core,
    });
    if (o.storage.isEmpty() && !o.join) {
      this.#raw.bootstrap(
        [...o.peers].map(([id, url]) => ({
          id,
          context: encodeConfContext({ url }),
        })),
      );
    }
    this.#appliedWait = new IndexWait(this.#applied);
    this.#writes = new Proposals({
      raw: this.#raw,
      metrics: this.#metrics,
      term: () => this.#raw.raft.term,
      leader: () => this.#leader,
      maxPending: o.maxPendingProposals ?? DEFAULTS.maxPendingProposals.value,
    });
    this.#outbox = new Outbox({
      storage: o.storage,
      logger: this.#logger,
      background: this.#background,
      stopped: () => this.#stopped !== undefined,
      snapshotFailed: (to) => this.reportSnapshot(to, false),
    });
    this.#snapshots = new SnapshotScheduler({
      raw: this.#raw,
      storage: o.storage,
      stateMachine: o.stateMachine,
      members: this.members,
      logger: this.#logger,
      metrics: this.#metrics,
      background: this.#background,
      now: this.#now,
      entries: o.snapshotEntries ?? DEFAULTS.snapshotEntries.value,
      logPercent: o.snapshotLogPercent ?? DEFAULTS.snapshotLogPercent.value,
      spreadPercent: o.snapshotSpreadPercent ??
        DEFAULTS.snapshotSpreadPercent.value,
      spreadRng: seededRng(o.id),
      maxLogBytes: o.snapshotMaxLogBytes ??
        DEFAULTS.snapshotMaxLogBytes.value,
      lastSnapshotBytes: snap.data.length,
      applied: () => this.#applied,
      stopped: () => this.#stopped !== undefined,
      fail: (e) => this.#fail(e),
    });
    this.#memberChanges = new MemberChanges({
      id: this.id,
      members: this.members,
      raw: this.#raw,
      logger: this.#logger,
      applied: this.#appliedWait,
      leader: () => this.#leader,
      isLeader: () => this.#role === "leader",
      checkServing: () => this.#checkServing(),
      nextId: () => this.#nextId(),
      schedule: () => this.#schedule(),
      stopped: () => this.#stopped,
      removed: () => this.#removed,
      readBarrier: (signal) => this.readBarrier(signal),
      transferLeader: (target, signal) => this.transferLeader(target, signal),
    });
    this.#recoverTarget = this.#raw.status().commit;
    this.#logger.info("node starting", {
      snapshotIndex: snap.meta.index,
      commit: this.#recoverTarget,
      lastIndex: o.storage.lastIndex(),
    });
  }

  /** Sets the transport (created after the node, since it reports back to it). */
  setTransport(t: Transport): void {
    this.#outbox.setTransport(t);
  }

  /** Starts processing: replays committed entries after the snapshot. */
  start(): void {
    this.#schedule();
  }

  /**
   * The core, to inspect only (the simulator's invariant checks read its
   * log and progress); driving it directly breaks the node's contract.
   */
  get core(): RawNode {
    return this.#raw;
  }

  /**
   * Resolves once the node has nothing left to do on its own: its Ready
   * loop is not running, or waits for its storage, or its next run is
   * scheduled (see `schedule`) and not started; and its work off the loop
   * (a snapshot being written, one read back to be sent) is done or waits
   * for its storage. Writes a leader change left dead are proposed again
   * inside the loop, so they are covered too. The simulator awaits it
   * after every step, so each step ends at the same point on every run.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    if (this.#stopped !== undefined) return true;
    const loopIdle = !this.#running || this.#queued || this.#saving;
    return loopIdle && this.#background.settled;
  }

  /** Releases the callers of {@linkcode RaftNode.idle} once idle. */
  #releaseIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Whether the node is still replaying its log after a start. */
  recovering(): boolean {
    return this.#recovering;
  }

  /** The index of the last applied entry. */
  applied(): number {
    return this.#applied;
  }

  /** The known leader, 0 for none. */
  leader(): NodeId {
    return this.#leader;
  }

  /** The URL of member `id` (from the membership, else from `--cluster`). */
  urlOf(id: NodeId): string | undefined {
    return this.members.get(id)?.url || this.#peers.get(id);
  }

  /** Advances logical time; called every tick interval. */
  tick(): void {
    if (this.#stopped) return;
    this.#raw.tick();
    if (this.#role === "leader") this.#memberChanges.promoteCaughtUpLearners();
    this.#schedule();
  }

  /**
   * Steps messages received from a peer. Throws {@linkcode PeerRemovedError}
   * when the sender was removed from the cluster (it should stop).
   */
  receive(msgs: Message[]): void {
    if (this.#stopped) {
      this.#discardUntaken(msgs);
      throw this.#stopped;
    }
    for (const [k, m] of msgs.entries()) {
      if (this.members.isRemoved(m.from)) {
        this.#discardUntaken(msgs.slice(k));
        throw new PeerRemovedError(m.from);
      }
      this.#raw.step(m);
      this.#discardUntaken([m]);
    }
    this.#schedule();
  }

  /**
   * Removes the files of snapshots received into files
   * ({@linkcode openSnapshotReceive}) that `msgs` carry and the core did
   * not take: a stale one it answered without restoring, or one never
   * stepped. A snapshot the core took is pending in its log until the
   * Ready's save installs its file.
   */
  #discardUntaken(msgs: readonly Message[]): void {
    const discard = this.#storage.discardReceivedSnapshot;
    if (!discard) return;
    const pending = this.#raw.raft.log.unstable.snapshot?.data;
    const taken = pending && receivedSnapshotNumber(pending);
    for (const m of msgs) {
      const n = m.snapshot && receivedSnapshotNumber(m.snapshot.data);
      if (n === undefined || n === taken) continue;
      this.#background.run(
        this.#background.io(discard.call(this.#storage, m.snapshot!.data)),
      ).catch((e) =>
        this.#logger.warn("could not remove a received snapshot's file", {
          index: m.snapshot!.meta.index,
          error: e instanceof Error ? e.message : String(e),
        })
      );
    }
  }

  /**
   * Starts receiving a chunked snapshot transfer of `total` bytes into a
   * file, when the storage can (else undefined: the caller reassembles it
   * in memory). Step the message its `finish` returns with
   * {@linkcode receive}.
   */
  openSnapshotReceive(total: number): SnapshotReceive | undefined {
    if (this.#stopped) throw this.#stopped;
    if (!this.#storage.readSnapshot) return undefined;
    return this.#storage.receiveSnapshot?.(total);
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: NodeId): void {
    this.#raw.reportUnreachable(id);
    this.#schedule();
  }

  /** A snapshot to `id` was delivered or lost. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#raw.reportSnapshot(id, ok);
    this.#schedule();
  }

  /** A peer told us we were removed from the cluster: stop. */
  removedByPeer(): void {
    this.#removed = true;
    this.#stop(
      new StoppedError("this node was removed from the cluster"),
      false,
    );
  }

  #checkServing(): void {
    if (this.#stopped) throw this.#stopped;
    if (this.#recovering) throw new RecoveringError();
  }

  #nextId(): RequestId {
    return { epoch: this.#epoch, seq: ++this.#seq };
  }

  /**
   * Proposes `payload` and resolves once it is committed and applied here,
   * with the state machine's result; it is applied at most once. Throws
   * the core's typed errors when it cannot be proposed. After a leader
   * change that left it dead it is proposed again (proposals.ts); it
   * rejects with {@linkcode LeaderChangedError} when `signal` aborts before
   * that could be done (not applied), with `signal.reason` when it aborts
   * while a copy may still commit (the outcome is then unknown).
   */
  propose(payload: Uint8Array, signal?: AbortSignal): Promise<Applied> {
    this.#checkServing();
    const p = this.#writes.propose(this.#nextId(), payload, signal);
    this.#schedule();
    return p;
  }

  /**
   * Resolves once this node has applied everything committed before the
   * call, as confirmed by the leader with a quorum round (ReadIndex): a
   * local read after it is linearizable.
   */
  readBarrier(signal?: AbortSignal): Promise<void> {
    this.#checkServing();
    const key = `read:${requestKey(this.#nextId())}`;
    this.#raw.readIndex(key);
    const readIndex = this.#reads.register(key, signal);
    this.#schedule();
    return readIndex.then((index) => this.#appliedWait.wait(index, signal));
  }

  /**
   * Adds node `id` at `url` as a learner; with `role` "voter" the leader
   * promotes it once it has caught up, so adding a node never costs
   * availability. Resolves when the addition is committed and applied here.
   */
  addMember(
    id: NodeId,
    url: string,
    role: "voter" | "learner",
    signal?: AbortSignal,
  ): Promise<void> {
    return this.#memberChanges.add(id, url, role, signal);
  }

  /**
   * Removes node `id`. When it is this node and this node leads, leadership
   * moves to the most caught-up voter first.
   */
  removeMember(id: NodeId, signal?: AbortSignal): Promise<void> {
    return this.#memberChanges.remove(id, signal);
  }

  /** Moves leadership to `target`; resolves when this node sees it lead. */
  transferLeader(target: NodeId, signal?: AbortSignal): Promise<void> {
    this.#checkServing();
    const member = this.members.get(target);
    if (!member || member.role !== "voter") {
      throw new MemberError("member_unknown", `node ${target} is not a voter`);
    }
    if (this.#leader === target) return Promise.resolve();
    // The core refuses first (no leader known, say): no waiter is left
    // behind, which the node's stop would reject with nobody listening.
    this.#raw.transferLeader(target);
    const p = this.#leaderWaits.register(target, signal);
    this.#schedule();
    return p;
  }

  /** The core's status (on the leader, with each peer's progress). */
  status(): Status {
    return this.#raw.status();
  }

  /** The newest leader changes this node saw (at most 20), oldest first. */
  leaderChanges(): LeaderChange[] {
    return this.#leaderChanges.map((c) => ({ ...c }));
  }

  /** Whether the node has a leader and has applied all it knows committed. */
  health(): { ok: boolean; reason?: string } {
    if (this.#stopped) return { ok: false, reason: this.#stopped.message };
    if (this.#recovering) return { ok: false, reason: "recovering" };
    if (this.#leader === 0) return { ok: false, reason: "no leader" };
    const s = this.#raw.status();
    if (s.applied < s.commit) {
      return { ok: false, reason: "applying committed entries" };
    }
    return { ok: true };
  }

  /** Membership with URLs and the leader. */
  memberList(): { leader: NodeId; members: Member[] } {
    return { leader: this.#leader, members: this.members.list() };
  }

  /**
   * Stops the node: every waiting caller is rejected, as not applied
   * ({@linkcode StoppedError}) or, for a write or membership change that
   * may still commit elsewhere, as unknown ({@linkcode OutcomeUnknownError}).
   */
  stop(reason = "the node is shutting down"): void {
    this.#stop(new StoppedError(reason), false);
  }

  #stop(err: StoppedError, fatal: boolean): void {
    if (this.#stopped) return;
    this.#stopped = err;
    this.#writes.failAll(err);
    this.#memberChanges.failAll(new OutcomeUnknownError(err.message));
    this.#reads.failAll(err);
    this.#leaderWaits.failAll(err);
    this.#appliedWait.close(err);
    this.#releaseIdle();
    this.onStop(err, fatal);
  }

  /** Logs the fatal error `e` and stops the node. */
  #fail(e: unknown): void {
    this.#logger.error("fatal: the node must stop", {
      error: String(e),
      stack: (e as Error)?.stack,
    });
    this.#stop(new StoppedError(`fatal error: ${String(e)}`), true);
  }

  // ---- the Ready loop ---------------------------------------------------

  /**
   * Runs the loop soon. While the loop waits for its storage, the leader's
   * heartbeats made since (by ticks, or a read's ReadIndex round) go out
   * now, not after the write: see `#sendEarly`.
   */
  #schedule(): void {
    if (this.#saving && !this.#stopped) this.#sendEarly("heartbeat");
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#queued = true;
    this.#scheduleFn(() => this.#run());
  }

  async #run(): Promise<void> {
    this.#queued = false;
    try {
      while (!this.#stopped) {
        this.#sendEarly();
        if (!this.#raw.hasReady()) break;
        await this.#handleReady(this.#raw.ready());
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#running = false;
    }
    if (!this.#stopped && this.#raw.hasReady()) this.#schedule();
    this.#releaseIdle();
  }

  async #handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.#onSoftState(rd.softState.role, rd.softState.leader);
    if (this.#heartbeats && this.#role === "leader") {
      this.#watchHeartbeats(rd.messages, this.#heartbeats);
    }
    const saved = this.#storage.save(rd);
    this.#saving = true;
    this.#releaseIdle();
    try {
      await saved;
    } finally {
      this.#saving = false;
    }
    if (rd.messages.length > 0) this.#outbox.send(rd.messages);
    if (rd.snapshot) await this.#applySnapshot(rd.snapshot);
    for (const e of rd.committedEntries) this.#applyEntry(e);
    this.#appliedWait.trigger(this.#applied);
    if (rd.refused) this.#failRefused(rd.refused);
    for (const rs of rd.readStates) this.#reads.trigger(rs.context, rs.index);
    this.#raw.advance();
    this.#writes.proposeAgain();
    if (this.#recovering && this.#applied >= this.#recoverTarget) {
      this.#recovering = false;
      this.#logRecovered();
    }
    this.#snapshots.maybeStart();
  }

  /**
   * Sends the leader's messages that may go out before its pending write is
   * durable (`RawNode.takeEarlyMessages`). Taken before each Ready, they
   * are its appends (and heartbeats): they go out while its own fsync runs,
   * so replication and the local write overlap. Taken while the loop waits
   * for its storage, they are heartbeats only (`only` "heartbeat"), so a
   * slow fsync never holds them back; appends that proposals make meanwhile
   * wait for the next Ready and leave batched, one message per follower,
   * not one per proposal (sending those at once cost about a third of the
   * write throughput in a benchmark on a loaded box).
   */
  #sendEarly(only?: "heartbeat"): void {
    const early = this.#raw.takeEarlyMessages(only);
    if (early.length === 0) return;
    if (this.#heartbeats) this.#watchHeartbeats(early, this.#heartbeats);
    this.#outbox.send(early);
  }

  /** The start-up line: `recovered in X s, N keys, M entries replayed`. */
  #logRecovered(): void {
    const seconds = Math.round((this.#now() - this.#startedAt) / 10) / 100;
    const keys = this.#sm.size;
    const replayed = Math.max(0, this.#applied - this.#snapshotIndexAtStart);
    this.#logger.info(
      `recovered in ${seconds} s, ${
        keys ?? "?"
      } keys, ${replayed} entries replayed`,
      {
        seconds,
        keys,
        entriesReplayed: replayed,
        snapshotIndex: this.#snapshotIndexAtStart,
        applied: this.#applied,
      },
    );
  }

  #onSoftState(role: Status["role"], leader: NodeId): void {
    const leaderChanged = leader !== this.#leader;
    if (leaderChanged) this.#logger.info("leader changed", { leader, role });
    if (leaderChanged && leader !== 0) {
      this.#metrics.leaderChanges.inc();
      this.#heartbeats?.reset();
      const term = this.#raw.status().term;
      this.#leaderChanges.push({ at: this.#wallClock(), term, leader });
      if (this.#leaderChanges.length > LEADER_CHANGES_KEPT) {
        this.#leaderChanges.shift();
      }
    }
    this.#role = role;
    this.#leader = leader;
    if (leaderChanged) {
      // Reads in flight were confirmed by (or forwarded to) the old leader,
      // which will never answer now: fail them as retryable.
      this.#reads.failAll(new LeaderChangedError());
      this.#leaderWaits.trigger(leader, undefined);
    }
  }

  /**
   * Replaces the state with a received snapshot's, in bounded steps with
   * the event loop free between them when the state machine can; nothing
   * else is applied meanwhile (the Ready loop waits for it).
   */
  async #applySnapshot(snap: Snapshot): Promise<void> {
    let data = snap.data;
    const fromFile = receivedSnapshotNumber(data) !== undefined;
    const restored = fromFile ? await this.#restoreFromFile(snap.meta) : -1;
    if (restored >= 0) {
      this.#applied = snap.meta.index;
      this.#writes.snapshotApplied(snap.meta.term);
      this.#snapshots.restored(restored);
      this.#metrics.snapshotsApplied.inc();
      this.#logger.info("applied snapshot", {
        index: snap.meta.index,
        streamed: true,
      });
      return;
    }
    if (fromFile) {
      // Received into a file, which `save` installed, that cannot be
      // restored in pieces (no stepwise restore, or a layout
      // #restoreFromFile does not know): read back whole. A handle only
      // comes from openSnapshotReceive, which requires readSnapshot.
      const full = await this.#storage.readSnapshot!(snap.meta);
      assert(
        full.meta.index === snap.meta.index &&
          full.meta.term === snap.meta.term,
        `received snapshot ${snap.meta.index} read back as ${full.meta.index}`,
      );
      data = full.data;
    }
    const content = decodeSnapshotData(data);
    if (content) {
      if (this.#sm.restoreSteps) {
        for (const _ of this.#sm.restoreSteps(content.state)) {
          await this.#yieldTurn();
        }
      } else {
        this.#sm.restore(content.state);
      }
      this.members.restore(content.members);
    }
    this.#applied = snap.meta.index;
    this.#writes.snapshotApplied(snap.meta.term);
    this.#snapshots.restored(data.length);
    this.#metrics.snapshotsApplied.inc();
    this.#logger.info("applied snapshot", { index: snap.meta.index });
  }

  /**
   * Restores the state from the durable file of snapshot `meta` read in
   * pieces (at most about `restoreReadBytes` and one record
   * held at once), yielding between steps: how a snapshot received into a
   * file is applied without holding it whole. Resolves to the file's data
   * length, or -1 when it cannot be read so (no stepwise restore, a layout
   * it does not know), and the caller reads it whole instead. A file whose
   * checksum fails at its last piece rejects before the state is replaced.
   */
  async #restoreFromFile(meta: SnapshotMeta): Promise<number> {
    const open = this.#storage.openSnapshotStream;
    if (!this.#sm.restoreSteps || !open) return -1;
    const stream = await open.call(this.#storage, meta);
    try {
      const pieceBytes = this.#restoreReadBytes;
      const first = new Uint8Array(
        Math.min(stream.byteLength, Math.max(pieceBytes, RESTORE_HEAD_BYTES)),
      );
      await stream.readNext(first);
      const head = decodeSnapshotFileHead(first, stream.byteLength);
      if (!head) return -1;
      // The state's bytes: what the first read holds, then the file's.
      let buffered = first.subarray(head.stateAt);
      let left = stream.byteLength - first.length;
      const take = async (n: number): Promise<Uint8Array> => {
        if (buffered.length > 0) {
          const piece = buffered.subarray(0, n);
          buffered = buffered.subarray(piece.length);
          return piece;
        }
        const piece = new Uint8Array(Math.min(n, left));
        await stream.readNext(piece);
        left -= piece.length;
        return piece;
      };
      // The state's header (17 bytes) must be in the first piece.
      let initial = await take(pieceBytes);
      while (initial.length < Math.min(64, head.stateLength)) {
        const more = await take(pieceBytes);
        const joined = new Uint8Array(initial.length + more.length);
        joined.set(initial, 0);
        joined.set(more, initial.length);
        initial = joined;
      }
      const steps = this.#sm.restoreSteps(
        initial,
        undefined,
        head.stateLength,
      );
      for (const step of steps) {
        if (step) step.feed(await take(Math.max(step.need, pieceBytes)));
        else await this.#yieldTurn();
      }
      this.members.restore(head.members);
      return stream.byteLength;
    } finally {
      stream.close();
    }
  }

  /** Leader: warns (and counts) when heartbeats to a peer went out late. */
  #watchHeartbeats(msgs: Message[], watch: HeartbeatWatch): void {
    let now = -1;
    for (const m of msgs) {
      if (m.type !== "heartbeat") continue;
      if (now < 0) now = this.#now();
      const late = watch.sent(m.to, now);
      if (!late) continue;
      this.#metrics.heartbeatsLate.inc();
      this.#logger.warn(
        "leader failed to send heartbeats on time; it is likely overloaded, often by a slow disk",
        {
          peer: late.peer,
          heartbeatIntervalMs: late.intervalMs,
          expectedMs: 2 * late.intervalMs,
          gapMs: late.gapMs,
          exceededMs: late.exceededMs,
        },
      );
    }
  }

  #applyEntry(e: Entry): void {
    this.#applied = e.index;
    this.#snapshots.entryApplied(e.data.length);
    this.#writes.entryApplying(e.term);
    if (e.type === "conf") {
      this.#applyConf(e);
      return;
    }
    const env = unwrapPayload(e.data);
    if (!env) return;
    if (isStaleCopy(env, e.term)) {
      this.#metrics.staleEntriesSkipped.inc();
      return;
    }
    const started = this.#now();
    const result = this.#sm.apply(e.index, env.payload, e.term);
    this.#metrics.applyDuration.observe((this.#now() - started) / 1000);
    if (env.id.epoch !== this.#epoch) return;
    this.#writes.applied(env.id.seq, { index: e.index, result });
  }

  #applyConf(e: Entry): void {
    if (this.#memberChanges.apply(e)) {
      this.#removed = true;
      this.#scheduleFn(() =>
        this.#stop(
          new StoppedError("this node was removed from the cluster"),
          false,
        )
      );
    }
  }

  /** Fails the callers of proposals the leader refused (see the core's `propResp`). */
  #failRefused(refused: RefusedProposal[]): void {
    for (const r of refused) {
      const err = decodeRefusal(r.reason);
      for (const e of r.entries) {
        if (e.type === "conf") {
          this.#memberChanges.refused(e, err);
          continue;
        }
        const env = unwrapPayload(e.data);
        if (env && env.id.epoch === this.#epoch) {
          this.#writes.refused(env.id.seq, env.term, err);
        }
      }
    }
  }
}
