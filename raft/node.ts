/**
 * The node runtime: one loop around the pure core that handles each Ready in
 * the order its contract demands (persist, send, apply, advance), and the
 * waiting callers that proposals, reads and membership changes leave behind.
 *
 * The node owns no timers and no sockets: `main.ts` calls {@linkcode
 * RaftNode.tick} from an interval and hands it a {@linkcode Transport}; the
 * peer endpoint calls {@linkcode RaftNode.receive}. That keeps it usable by
 * tests and the simulator.
 *
 * @module
 */

import {
  type ConfChange,
  ConfChangeRefusedError,
  decodeConfChange,
  decodeRefusal,
  type Entry,
  type Logger,
  type Message,
  type NodeId,
  nopLogger,
  NotLeaderError,
  OverloadedError,
  type RaftConfig,
  RaftKvError,
  RawNode,
  type Ready,
  type RefusedProposal,
  type Rng,
  type Snapshot,
  type Status,
  type Storage,
} from "./core/mod.ts";
import {
  type RequestId,
  requestKey,
  unwrapPayload,
  wrapPayload,
} from "./envelope.ts";
import {
  decodeConfContext,
  encodeConfContext,
  type Member,
  Members,
} from "./members.ts";
import { decodeSnapshotData, encodeSnapshotDataFrom } from "./snapshot_data.ts";
import { RaftMetrics } from "./raft_metrics.ts";
import { HeartbeatWatch } from "./heartbeat_watch.ts";
import {
  LeaderChangedError,
  MemberError,
  PeerRemovedError,
  RecoveringError,
  StoppedError,
} from "./errors.ts";

/** The replicated application: deterministic, driven only by applied entries. */
export interface StateMachine {
  /** Applies a committed command at `index`; the result goes to the proposer. */
  apply(index: number, payload: Uint8Array): unknown;
  /** Serializes the whole state (deterministic bytes). */
  snapshot(): Uint8Array;
  /**
   * Optional: the same bytes after `headroom` bytes left for the caller, in
   * one fresh buffer, so the node frames a snapshot without copying it.
   */
  snapshotAfter?(headroom: number): Uint8Array;
  /** Replaces the whole state with a snapshot's bytes. */
  restore(state: Uint8Array): void;
}

/** Delivers messages to peers; never blocks, may drop (Raft retransmits). */
export interface Transport {
  send(msgs: Message[]): void;
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
   * Optional: the newest snapshot with its data, for storage whose
   * `snapshot()` keeps only metadata; the node fills in a "snap" message's
   * empty data from it before sending.
   */
  loadSnapshot?(): Promise<Snapshot>;
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
  /** Take a snapshot after this many applied entries. */
  snapshotEntries?: number;
  /**
   * The most proposals waiting here for their outcome; more are refused
   * with {@linkcode OverloadedError} (default 10000).
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

/** The result of an applied proposal. */
export interface Applied {
  index: number;
  result: unknown;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}

interface ReadWaiter extends Waiter<number> {
  /** The read index once known, else -1. */
  index: number;
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

/** Message types a leader may send before its own write is durable. */
const LEADER_EARLY: ReadonlySet<string> = new Set(["app", "heartbeat", "snap"]);

/** Resolves when `signal` aborts; rejects the waiter with its reason. */
function onAbort(
  signal: AbortSignal | undefined,
  fn: (reason: unknown) => void,
): void {
  if (!signal) return;
  if (signal.aborted) fn(signal.reason);
  else {signal.addEventListener("abort", () => fn(signal.reason), {
      once: true,
    });}
}

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
  readonly #snapshotEntries: number;
  readonly #maxPendingProposals: number;
  readonly #metrics: RaftMetrics;
  readonly #now: () => number;
  readonly #wallClock: () => number;
  readonly #scheduleFn: (fn: () => void) => void;
  /** Set when `tickMs` is known: warns when heartbeats go out late. */
  readonly #heartbeats: HeartbeatWatch | undefined;
  #transport: Transport = { send() {} };
  #seq = 0;
  #applied: number;
  #appliedSinceSnapshot = 0;
  /** Set while a snapshot is being written (one at a time). */
  #snapshotting = false;
  #recoverTarget: number;
  #recovering = true;
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
  #persistedTerm: number;
  #persistedVote: NodeId;
  /** Writes of this process by sequence number (their epoch is #epoch). */
  readonly #writes = new Map<number, Waiter<Applied>>();
  readonly #confs = new Map<string, Waiter<number>>();
  /** Callers waiting for the change at `index` to apply (see #waitConfApplied). */
  #confApplyWaits: {
    index: number;
    done(byUser: boolean | undefined): void;
  }[] = [];
  /** The newest applied membership change, and whether a user asked for it. */
  #lastConf = { index: 0, byUser: false };
  readonly #reads = new Map<string, ReadWaiter>();
  #leaderWaiters: { target: NodeId; w: Waiter<void> }[] = [];
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
    this.#snapshotEntries = o.snapshotEntries ?? 10_000;
    this.#maxPendingProposals = o.maxPendingProposals ?? 10_000;
    this.#metrics = o.metrics ?? new RaftMetrics();
    this.#now = o.now ?? (() => performance.now());
    this.#wallClock = o.wallClock ?? (() => Date.now());
    this.#scheduleFn = o.schedule ?? ((fn) => queueMicrotask(fn));
    this.#heartbeats = o.tickMs === undefined
      ? undefined
      : new HeartbeatWatch(o.tickMs * (o.heartbeatTicks ?? 1));

    // Recovery order is fixed here: the newest snapshot first, then the
    // committed entries after it, which the core hands out as Ready batches.
    const snap = o.storage.snapshot();
    this.#applied = snap.meta.index;
    const content = decodeSnapshotData(snap.data);
    if (content) {
      this.#sm.restore(content.state);
      this.members.restore(content.members);
    }
    this.#raw = new RawNode({
      id: o.id,
      storage: o.storage,
      rng: o.rng,
      applied: this.#applied,
      logger: this.#logger,
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: o.heartbeatTicks ?? 1,
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
    const hs = o.storage.initialState().hardState;
    this.#persistedTerm = hs.term;
    this.#persistedVote = hs.vote;
    this.#recoverTarget = this.#raw.status().commit;
    this.#logger.info("node starting", {
      snapshotIndex: snap.meta.index,
      commit: this.#recoverTarget,
      lastIndex: o.storage.lastIndex(),
    });
  }

  /** Sets the transport (created after the node, since it reports back to it). */
  setTransport(t: Transport): void {
    this.#transport = t;
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
   * Resolves once the Ready loop has nothing left to do on its own: it is
   * not running, or it waits for its storage, or its next run is scheduled
   * (see `schedule`) and not started. The simulator awaits it after every
   * step, so each step ends at the same point of the loop on every run.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return !this.#running || this.#queued || this.#saving ||
      this.#stopped !== undefined;
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
    if (this.#role === "leader") this.#promoteCaughtUpLearners();
    this.#schedule();
  }

  /**
   * Steps messages received from a peer. Throws {@linkcode PeerRemovedError}
   * when the sender was removed from the cluster (it should stop).
   */
  receive(msgs: Message[]): void {
    if (this.#stopped) throw this.#stopped;
    for (const m of msgs) {
      if (this.members.isRemoved(m.from)) throw new PeerRemovedError(m.from);
      this.#raw.step(m);
    }
    this.#schedule();
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
   * with the state machine's result. Rejects with the core's typed errors
   * when it cannot be proposed, or with `signal.reason` when the caller
   * gives up (the outcome is then unknown).
   */
  propose(payload: Uint8Array, signal?: AbortSignal): Promise<Applied> {
    this.#checkServing();
    if (this.#writes.size >= this.#maxPendingProposals) {
      this.#metrics.proposalsDropped.inc();
      throw new OverloadedError(
        `${this.#writes.size} proposals are waiting on this node (limit ${this.#maxPendingProposals})`,
      );
    }
    const id = this.#nextId();
    const key = id.seq;
    const p = new Promise<Applied>((resolve, reject) =>
      this.#writes.set(key, { resolve, reject })
    );
    try {
      this.#raw.propose(wrapPayload(id, payload));
    } catch (e) {
      this.#writes.delete(key);
      this.#metrics.proposalsDropped.inc();
      throw e;
    }
    onAbort(signal, (r) => {
      if (this.#settle(this.#writes, key, r)) {
        this.#metrics.proposalsTimedOut.inc();
      }
    });
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
    const p = new Promise<number>((resolve, reject) => {
      this.#reads.set(key, { resolve, reject, index: -1 });
    });
    try {
      this.#raw.readIndex(key);
    } catch (e) {
      this.#reads.delete(key);
      throw e;
    }
    onAbort(signal, (r) => this.#settle(this.#reads, key, r));
    this.#schedule();
    return p.then(() => {});
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
    if (this.members.isRemoved(id)) {
      throw new MemberError(
        "member_removed",
        `node id ${id} was removed before and cannot be reused`,
      );
    }
    if (this.members.get(id)) {
      throw new MemberError("member_exists", `node ${id} is already a member`);
    }
    return this.#changeMembership(
      {
        type: "addLearner",
        node: id,
        context: "",
      },
      { url, promote: role === "voter" },
      signal,
    );
  }

  /**
   * Removes node `id`. When it is this node and this node leads, leadership
   * moves to the most caught-up voter first.
   */
  async removeMember(id: NodeId, signal?: AbortSignal): Promise<void> {
    const member = this.members.get(id);
    if (!member) {
      throw new MemberError("member_unknown", `node ${id} is not a member`);
    }
    // The leader refuses to remove itself, also when a follower forwards
    // the change: whoever takes the request moves leadership away first.
    if (id === this.#leader) {
      const target = this.#role === "leader"
        ? this.#bestTransferTarget()
        : this.#otherVoter(id);
      if (target === 0) {
        throw new MemberError(
          "member_unknown",
          "no other voter to hand leadership to",
        );
      }
      await this.transferLeader(target, signal);
      // The new leader refuses changes until an entry of its term commits;
      // a read fence waits for exactly that.
      await this.readBarrier(signal);
    }
    try {
      await this.#changeMembership({ type: "remove", node: id, context: "" }, {
        url: member.url,
      }, signal);
    } catch (e) {
      // A removed node may hear of its removal from a peer (and stop)
      // before it applies the entry itself: the change did commit.
      if (id === this.id && this.#removed) return;
      throw e;
    }
  }

  /** A voter other than `id`: this node when it votes, else the lowest id. */
  #otherVoter(id: NodeId): NodeId {
    const voters = this.members.list().filter((m) =>
      m.role === "voter" && m.id !== id
    );
    return voters.find((m) => m.id === this.id)?.id ?? voters[0]?.id ?? 0;
  }

  #bestTransferTarget(): NodeId {
    let best: NodeId = 0, bestMatch = -1;
    for (const p of this.#raw.status().peers) {
      if (p.id === this.id || p.learner) continue;
      if (p.match > bestMatch) {
        best = p.id;
        bestMatch = p.match;
      }
    }
    return best;
  }

  /**
   * Proposes a user's membership change and waits until it is applied. A
   * refusal that passes on its own does not reach the caller: while the
   * leader's own change (a learner's automatic promotion) is pending, or a
   * new leader has not committed an entry of its term, this waits for that
   * and proposes again, until `signal` aborts. The caller then gets the
   * refusal (409: the change was certainly not applied). Another user's
   * pending change is a real conflict: the refusal is passed on once that
   * change is applied, so a retry sees the membership it made.
   */
  async #changeMembership(
    cc: ConfChange,
    ctx: { url: string; promote?: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    for (;;) {
      try {
        return await this.#proposeConf(cc, ctx, signal);
      } catch (e) {
        if (!(e instanceof ConfChangeRefusedError)) throw e;
        if (e.refusal === "uncommittedTerm") {
          try {
            await this.readBarrier(signal);
          } catch (err) {
            if (signal?.aborted) throw e;
            throw err;
          }
        } else if (e.refusal === "pending" && e.pendingIndex > 0) {
          const byUser = await this.#waitConfApplied(e.pendingIndex, signal);
          if (this.#stopped) throw this.#stopped;
          if (byUser !== false) throw e;
          this.#logger.info("membership change waited for a pending one", {
            node: cc.node,
            pending: e.pendingIndex,
          });
        } else {
          throw e;
        }
      }
    }
  }

  /**
   * Resolves once the membership change at `index` (or anything past it)
   * is applied here: `true` when a user asked for it, `false` when it was
   * automatic (or cannot be told apart any more), `undefined` when `signal`
   * aborted or the node stopped first.
   */
  #waitConfApplied(
    index: number,
    signal?: AbortSignal,
  ): Promise<boolean | undefined> {
    if (index <= this.#applied) {
      return Promise.resolve(
        index === this.#lastConf.index && this.#lastConf.byUser,
      );
    }
    return new Promise((resolve) => {
      const wait = { index, done: resolve };
      this.#confApplyWaits.push(wait);
      onAbort(signal, () => {
        this.#confApplyWaits = this.#confApplyWaits.filter((w) => w !== wait);
        resolve(undefined);
      });
    });
  }

  /** Ends the waits of #waitConfApplied up to the applied index. */
  #releaseConfApplyWaits(): void {
    this.#confApplyWaits = this.#confApplyWaits.filter((w) => {
      if (w.index > this.#applied) return true;
      w.done(w.index === this.#lastConf.index && this.#lastConf.byUser);
      return false;
    });
  }

  /** Fails the callers of proposals the leader refused (see the core's `propResp`). */
  #failRefused(refused: RefusedProposal[]): void {
    for (const r of refused) {
      const err = decodeRefusal(r.reason);
      for (const e of r.entries) {
        if (e.type === "conf") {
          let req: string | undefined;
          try {
            req = decodeConfContext(decodeConfChange(e.data).context).req;
          } catch {
            continue;
          }
          if (req) this.#settle(this.#confs, req, err);
          continue;
        }
        const env = unwrapPayload(e.data);
        if (
          env && env.id.epoch === this.#epoch &&
          this.#settle(this.#writes, env.id.seq, err)
        ) {
          this.#metrics.proposalsDropped.inc();
        }
      }
    }
  }

  #proposeConf(
    cc: ConfChange,
    ctx: { url: string; promote?: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    this.#checkServing();
    const key = `conf:${requestKey(this.#nextId())}`;
    const p = new Promise<number>((resolve, reject) =>
      this.#confs.set(key, { resolve, reject })
    );
    try {
      this.#raw.proposeConfChange({
        ...cc,
        context: encodeConfContext({ ...ctx, req: key }),
      });
    } catch (e) {
      this.#confs.delete(key);
      throw e;
    }
    onAbort(signal, (r) => this.#settle(this.#confs, key, r));
    this.#schedule();
    return p.then(() => {});
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
    const p = new Promise<void>((resolve, reject) => {
      const entry = { target, w: { resolve, reject } };
      this.#leaderWaiters.push(entry);
      onAbort(signal, (r) => {
        this.#leaderWaiters = this.#leaderWaiters.filter((x) => x !== entry);
        reject(r);
      });
    });
    this.#schedule();
    return p;
  }

  /**
   * The core's status plus the runtime's view. On the leader each peer also
   * carries `inflight`: append messages sent to it and not yet acknowledged.
   */
  status(): Status {
    const s = this.#raw.status();
    for (const p of s.peers) {
      // An extra field, passed through to /v1/status and /metrics.
      (p as { inflight?: number }).inflight =
        this.#raw.raft.prs.get(p.id)?.inflightCount ?? 0;
    }
    return s;
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

  /** Stops the node: every waiting caller is rejected as not applied or unknown. */
  stop(reason = "the node is shutting down"): void {
    this.#stop(new StoppedError(reason), false);
  }

  #stop(err: StoppedError, fatal: boolean): void {
    if (this.#stopped) return;
    this.#stopped = err;
    for (
      const map of [this.#writes, this.#confs, this.#reads] as Map<
        unknown,
        Waiter<never>
      >[]
    ) {
      for (const w of map.values()) w.reject(err);
      map.clear();
    }
    for (const { w } of this.#leaderWaiters) w.reject(err);
    this.#leaderWaiters = [];
    for (const w of this.#confApplyWaits) w.done(undefined);
    this.#confApplyWaits = [];
    this.#releaseIdle();
    this.onStop(err, fatal);
  }

  /** Rejects the waiter under `key`; false when none was waiting. */
  #settle<K, T>(
    map: Map<K, Waiter<T>>,
    key: K,
    reason: unknown,
  ): boolean {
    const w = map.get(key);
    if (!w) return false;
    map.delete(key);
    w.reject(reason);
    return true;
  }

  // ---- the Ready loop ---------------------------------------------------

  #schedule(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#queued = true;
    this.#scheduleFn(() => this.#run());
  }

  async #run(): Promise<void> {
    this.#queued = false;
    try {
      while (!this.#stopped && this.#raw.hasReady()) {
        await this.#handleReady(this.#raw.ready());
      }
    } catch (e) {
      this.#logger.error("fatal: the node must stop", {
        error: String(e),
        stack: (e as Error)?.stack,
      });
      this.#stop(new StoppedError(`fatal error: ${String(e)}`), true);
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
    // A leader's appends promise nothing about its own disk (it counts its
    // own copy only after advance), so they go out while its write is in
    // flight: replication and the local fsync overlap. Not when this Ready
    // changes term or vote: those must be durable before anyone hears them.
    const early = this.#role === "leader" &&
      (!rd.hardState || (rd.hardState.term === this.#persistedTerm &&
        rd.hardState.vote === this.#persistedVote));
    let later = rd.messages;
    if (early && later.length > 0) {
      this.#send(later.filter((m) => LEADER_EARLY.has(m.type)));
      later = later.filter((m) => !LEADER_EARLY.has(m.type));
    }
    const saved = this.#storage.save(rd);
    this.#saving = true;
    this.#releaseIdle();
    try {
      await saved;
    } finally {
      this.#saving = false;
    }
    if (rd.hardState) {
      this.#persistedTerm = rd.hardState.term;
      this.#persistedVote = rd.hardState.vote;
    }
    if (later.length > 0) this.#send(later);
    if (rd.snapshot) this.#applySnapshot(rd.snapshot);
    for (const e of rd.committedEntries) this.#applyEntry(e);
    if (this.#confApplyWaits.length > 0) this.#releaseConfApplyWaits();
    if (rd.refused) this.#failRefused(rd.refused);
    for (const rs of rd.readStates) {
      const w = this.#reads.get(rs.context);
      if (w) w.index = rs.index;
    }
    this.#raw.advance();
    this.#releaseReads();
    if (this.#recovering && this.#applied >= this.#recoverTarget) {
      this.#recovering = false;
      this.#logger.info("recovered", { applied: this.#applied });
    }
    if (
      this.#appliedSinceSnapshot >= this.#snapshotEntries && !this.#snapshotting
    ) {
      this.#startSnapshot();
    }
  }

  /**
   * Takes a snapshot without holding up the Ready loop: the state is
   * encoded now (it must match the applied index), and the file write, its
   * fsync and the WAL marker run in the background, queued in the storage
   * with the next saves, so heartbeats keep going out meanwhile.
   */
  #startSnapshot(): void {
    this.#snapshotting = true;
    this.#takeSnapshot()
      .catch((e) => {
        if (this.#stopped) return; // Storage closed under it at shutdown.
        this.#logger.error("fatal: the node must stop", {
          error: String(e),
          stack: (e as Error)?.stack,
        });
        this.#stop(new StoppedError(`fatal error: ${String(e)}`), true);
      })
      .finally(() => this.#snapshotting = false);
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
      for (const [key, w] of this.#reads) {
        if (w.index < 0) {
          this.#reads.delete(key);
          w.reject(new LeaderChangedError());
        }
      }
      this.#leaderWaiters = this.#leaderWaiters.filter(({ target, w }) => {
        if (target !== leader) return true;
        w.resolve();
        return false;
      });
    }
  }

  #releaseReads(): void {
    for (const [key, w] of this.#reads) {
      if (w.index >= 0 && w.index <= this.#applied) {
        this.#reads.delete(key);
        w.resolve(w.index);
      }
    }
  }

  #applySnapshot(snap: Snapshot): void {
    const content = decodeSnapshotData(snap.data);
    if (content) {
      this.#sm.restore(content.state);
      this.members.restore(content.members);
    }
    this.#applied = snap.meta.index;
    this.#appliedSinceSnapshot = 0;
    this.#metrics.snapshotsApplied.inc();
    this.#logger.info("applied snapshot", { index: snap.meta.index });
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
    this.#appliedSinceSnapshot++;
    if (e.type === "conf") {
      this.#applyConf(e);
      return;
    }
    const env = unwrapPayload(e.data);
    if (!env) return;
    const started = this.#now();
    const result = this.#sm.apply(e.index, env.payload);
    this.#metrics.applyDuration.observe((this.#now() - started) / 1000);
    if (env.id.epoch !== this.#epoch) return;
    const w = this.#writes.get(env.id.seq);
    if (w) {
      this.#writes.delete(env.id.seq);
      this.#metrics.proposalsCommitted.inc();
      w.resolve({ index: e.index, result });
    }
  }

  #applyConf(e: Entry): void {
    const cc = decodeConfChange(e.data);
    this.members.apply(cc);
    this.#logger.info("membership changed", {
      change: cc.type,
      node: cc.node,
      index: e.index,
    });
    const req = decodeConfContext(cc.context).req;
    this.#lastConf = { index: e.index, byUser: req !== undefined };
    const w = req ? this.#confs.get(req) : undefined;
    if (req && w) {
      this.#confs.delete(req);
      w.resolve(e.index);
    }
    if (cc.type === "remove" && cc.node === this.id) {
      this.#removed = true;
      this.#scheduleFn(() =>
        this.#stop(
          new StoppedError("this node was removed from the cluster"),
          false,
        )
      );
    }
  }

  /**
   * Hands `msgs` to the transport. A "snap" message whose snapshot has no
   * data (storage kept only its metadata) goes out once the data is read
   * back; if that fails, the send is reported failed and the core retries.
   */
  #send(msgs: Message[]): void {
    const load = this.#storage.loadSnapshot?.bind(this.#storage);
    if (
      !load ||
      !msgs.some((m) => m.type === "snap" && m.snapshot?.data.length === 0)
    ) {
      this.#transport.send(msgs);
      return;
    }
    const now: Message[] = [];
    for (const m of msgs) {
      if (m.type !== "snap" || m.snapshot?.data.length !== 0) {
        now.push(m);
        continue;
      }
      const want = m.snapshot.meta;
      load().then((full) => {
        if (this.#stopped) return;
        if (full.meta.index !== want.index || full.meta.term !== want.term) {
          throw new RaftKvError(
            "snapshot_gone",
            `snapshot ${want.index} was replaced by ${full.meta.index}`,
          );
        }
        this.#transport.send([{ ...m, snapshot: full }]);
      }).catch((err) => {
        if (this.#stopped) return;
        this.#logger.warn("could not read the snapshot to send", {
          to: m.to,
          index: want.index,
          error: err instanceof Error ? err.message : String(err),
        });
        this.reportSnapshot(m.to, false);
      });
    }
    if (now.length > 0) this.#transport.send(now);
  }

  async #takeSnapshot(): Promise<void> {
    let meta;
    try {
      meta = this.#raw.snapshotMeta(this.#applied);
    } catch (e) {
      // A leader's snapshot replaced the log meanwhile: nothing to take.
      if (e instanceof RaftKvError && e.code === "compacted") return;
      throw e;
    }
    const started = this.#now();
    const data = encodeSnapshotDataFrom(this.members.image(), this.#sm);
    this.#appliedSinceSnapshot = 0;
    await this.#storage.createSnapshot({ meta, data });
    this.#metrics.snapshotsTaken.inc();
    this.#metrics.snapshotDuration.observe((this.#now() - started) / 1000);
    this.#logger.info("snapshot taken", {
      index: meta.index,
      bytes: data.byteLength,
    });
  }

  /** Leader: proposes promotion of auto-promote learners that caught up. */
  #promoteCaughtUpLearners(): void {
    const s = this.#raw.status();
    for (const p of s.peers) {
      if (!p.learner || p.match < s.commit) continue;
      const m = this.members.get(p.id);
      if (!m?.autoPromote) continue;
      try {
        this.#raw.proposeConfChange({
          type: "addVoter",
          node: p.id,
          context: encodeConfContext({ url: m.url }),
        });
        this.#logger.info("promoting caught-up learner", { node: p.id });
      } catch (e) {
        if (e instanceof NotLeaderError) return;
        // Another change is pending, or no reachable quorum yet: next tick.
      }
      return;
    }
  }
}
