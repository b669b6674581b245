/**
 * The simulation of one seed: a cluster of {@linkcode SimNode}s (each the
 * production `RaftNode` over the real disk storage and key-value store) on
 * a {@linkcode SimNetwork}, driven by one agenda of timed events: node
 * ticks on each node's own drifting clock, runs of each node's Ready loop
 * (queued through the node's injected `schedule`), completions of its disk
 * writes after a simulated latency, message deliveries, crashes and
 * restarts, client deadlines, and a global clock that runs the fault
 * schedule and the client workload. Every event is one step; after it the
 * node it touched settles (`RaftNode.idle`), then the
 * {@linkcode Invariants} are checked on that node, and the electability
 * check on every running node.
 *
 * A run has two phases: `faults` (workload plus loss, duplication, delay,
 * partitions, crashes with torn writes, membership churn, transfers), then
 * `liveness`: everything heals, crashed nodes restart, and a leader must be
 * elected and a fresh write applied by every live member within a bounded
 * number of ticks. Finally the client oracle checks that no acknowledged
 * write was lost.
 *
 * @module
 */

import {
  ConfChangeRefusedError,
  type Message,
  type NodeId,
  RaftKvError,
  seededRng,
} from "../../raft/core/mod.ts";
import { type LogFields, type Logger } from "../../raft/core/mod.ts";
import {
  PeerRemovedError,
  RaftMetrics,
  RaftNode,
  type Transport,
} from "../../raft/mod.ts";
import { encodeMessages } from "../../raft/codec.ts";
import { encodeCommand, KvError, type KvStore } from "../../kv/mod.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import { SimRng } from "./sim_rng.ts";
import { TimedQueue } from "./sim_heap.ts";
import { CALM, SimNetwork } from "./sim_network.ts";
import { type DiskOp, SimNode, SimNodeStorage } from "./sim_node.ts";
import type { DurableStore } from "./sim_storage.ts";
import { DiskDurableStore, type DiskStoreOptions } from "./sim_disk_store.ts";
import {
  addDiskCounts,
  type DiskCounts,
  zeroDiskCounts,
} from "./sim_counting_fs.ts";
import { Invariants, InvariantViolation } from "./invariants.ts";
import { STATUS_BY_CODE } from "../../http/mod.ts";
import { drawConfig, type SimConfig, TICK_MS } from "./sim_config.ts";
import { Workload } from "./sim_workload.ts";
import { SimWatchers, type WatchCounts } from "./sim_watchers.ts";
import { type LeaseCounts, SimLeases } from "./sim_leases.ts";
import { SimTxns, type TxnCounts } from "./sim_txns.ts";
import { type LockCounts, SimLocks } from "./sim_locks.ts";
import { type SendCounts, SimSnapshotSends } from "./sim_snapshot_sends.ts";
import {
  type AbortEvent,
  type ChunkEvent,
  type ClockEvent,
  type ConfEvent,
  describeBatch,
  type FlapEvent,
  formatStep,
  type LifeEvent,
  type NodeEvent,
  type ReportEvent,
  type SimEvent,
  type TraceItem,
} from "./sim_events.ts";
import { describeNodes, replayCommand, SimFailure } from "./sim_report.ts";
import { checkAcknowledgedWrites, LivenessProbe } from "./sim_liveness.ts";
import { Faults } from "./sim_faults.ts";
import { type AppliedCommand, SimStateMachine } from "./sim_state_machine.ts";

export { replayCommand, SimFailure } from "./sim_report.ts";

/** Options of one run. */
export interface SimOptions {
  seed: number;
  /** Prints every step as it happens. */
  trace?: (line: string) => void;
  /** Builds each node's durable storage (default: {@linkcode DiskDurableStore} with these options). */
  durable?: (opts: DiskStoreOptions) => DurableStore;
  /** Overrides parts of the drawn configuration (tests). */
  tweak?: (c: SimConfig) => void;
}

/** Figures of a finished run. */
export interface SimResult {
  seed: number;
  steps: number;
  ticks: number;
  nodes: number;
  maxTerm: number;
  committed: number;
  acked: number;
  readsServed: number;
  crashes: number;
  /** Crashes that hit a write (in flight, or an application snapshot). */
  tornWrites: number;
  /** Of those, writes the power failure cut short. */
  writesCut: number;
  /** Crashes during the recovery from a crash. */
  recoveryCrashes: number;
  /** What the storage did to the (simulated) disks. */
  disk: DiskCounts;
  /** Membership changes committed, by type. */
  added: number;
  promoted: number;
  removed: number;
  /** Leadership transfers that reached the TimeoutNow step. */
  transfers: number;
  snapshotsSent: number;
  /** Snapshots read back from their file to be sent (the lazy send). */
  snapshotReads: number;
  /** Snapshots the nodes took in the background. */
  snapshotsTaken: number;
  /** Crashes of a leader inside its write of entries it had already sent. */
  leaderWriteCrashes: number;
  /** Crashes of a node about to propose a membership change again. */
  retryCrashes: number;
  backgroundSnapshotCrashes: number;
  receivedSnapshotCrashes: number;
  /** Crashes in the middle of a snapshot transfer (between two chunks). */
  receiveCrashes: number;
  snapshotReadCrashes: number;
  /** Bytes of background snapshots and of the WAL, over all nodes, and the highest share of the bound a node used. */
  amortization: { snapBytes: number; walBytes: number; worst: number };
  messages: number;
  livenessTicks: number;
  /** How the clients' writes were answered (`2xx`, `503 <code>`, `504 <code>`). */
  writeAnswers: Map<string, number>;
  /** Writes proposed again (same id) after a leader change; stale copies applied as no-ops. */
  proposalsRetried: number;
  staleCopiesSkipped: number;
  /** What the watch clients went through (sim_watchers.ts). */
  watch: WatchCounts;
  /** What the lease clients went through (sim_leases.ts). */
  leases: LeaseCounts;
  /** What the transaction clients went through (sim_txns.ts). */
  txns: TxnCounts;
  /** What the lock contenders went through (sim_locks.ts). */
  locks: LockCounts;
  /** What the snapshot transfers streamed from a file went through (sim_snapshot_sends.ts). */
  sends: SendCounts;
}

/** Bytes of a snapshot file besides its data (header, checksum), at most. */
const SNAPSHOT_FILE_OVERHEAD = 64;

/** How many trace lines a failure report shows. */
const TRACE_KEEP = 80;
/** How long a client waits for a write, read or change before it gives up (ms). */
const CLIENT_TIMEOUT_MS = 3000;
/** Keys the clients write and read (few, so reads meet recent writes). */
const KEYS = 6;
const encoder = new TextEncoder();

/** One seeded simulation run. */
export class Simulation {
  readonly seed: number;
  readonly config: SimConfig;
  readonly invariants = new Invariants();
  readonly network: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Ids of every node ever created, ascending. */
  readonly ids: NodeId[] = [];
  phase: "faults" | "liveness" = "faults";
  now = 0;
  step = 0;
  readonly rng: { faults: SimRng; client: SimRng; disk: SimRng; nodes: SimRng };
  readonly stats = {
    crashes: 0,
    tornWrites: 0,
    added: 0,
    promoted: 0,
    removed: 0,
    transfers: 0,
    snapshotsSent: 0,
    readsServed: 0,
    snapshotReads: 0,
    snapshotsTaken: 0,
    leaderWriteCrashes: 0,
    retryCrashes: 0,
    backgroundSnapshotCrashes: 0,
    receivedSnapshotCrashes: 0,
    receiveCrashes: 0,
    snapshotReadCrashes: 0,
  };
  readonly #confIndexes = new Set<number>();
  /** One registry for every node of the run (the retry and stale-copy counts). */
  readonly #metrics = new RaftMetrics();
  readonly #agenda = new TimedQueue<SimEvent>();
  #seq = 0;
  readonly #trace: TraceItem[] = [];
  readonly #traceOut: ((line: string) => void) | undefined;
  readonly #durable: (opts: DiskStoreOptions) => DurableStore;
  readonly #storageRng: SimRng;
  readonly #stopping = new Set<NodeId>();
  readonly #workload: Workload;
  readonly #watchers: SimWatchers;
  readonly #leases: SimLeases;
  readonly #txns: SimTxns;
  readonly #locks: SimLocks;
  readonly #sends: SimSnapshotSends;
  #nextId = 1;
  readonly #founders = new Map<NodeId, string>();
  readonly #liveness: LivenessProbe;
  readonly #faults: Faults;
  #newestLeaderTerm = 0;
  /** A failure found outside a step (a client's promise, a node's fatal stop). */
  #asyncFailure: unknown;
  #values = 0;
  #reads = 0;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    const root = new SimRng(opts.seed);
    this.config = drawConfig(root.fork());
    opts.tweak?.(this.config);
    this.rng = {
      faults: root.fork(),
      client: root.fork(),
      disk: root.fork(),
      nodes: root.fork(),
    };
    this.network = new SimNetwork(root.fork(), this.config.network);
    this.#storageRng = root.fork();
    this.#traceOut = opts.trace;
    this.#durable = opts.durable ?? ((o) => new DiskDurableStore(o));
    this.#workload = new Workload(this, this.rng.client);
    this.#faults = new Faults(this, this.rng.faults);
    // Forked last: the streams above stay as they were before watchers.
    this.#watchers = new SimWatchers({
      up: () => this.#up(),
      keys: KEYS,
    }, root.fork());
    this.#leases = new SimLeases({
      now: () => this.now,
      fail: (e) => this.#asyncFailure ??= e,
      up: () => this.#up(),
      deadline: (what) => this.#deadline(what),
      request: (what, op, ok, refused) => this.#request(what, op, ok, refused),
    }, root.fork());
    this.#txns = new SimTxns({
      randomPort: () => this.#randomPort(),
      liveLeases: () => this.#leases.liveLeases(),
      deadline: (what) => this.#deadline(what),
      request: (what, op, ok) => this.#request(what, op, ok),
      fail: (e) => this.#asyncFailure ??= e,
    }, root.fork());
    this.#locks = new SimLocks({
      randomPort: () => this.#randomPort(),
      liveLeases: () => this.#leases.liveLeases(),
      deadline: (what, ms) => this.#deadline(what, ms),
      request: (what, op, ok, refused) => this.#request(what, op, ok, refused),
      fail: (e) => this.#asyncFailure ??= e,
      committed: (prefix) => this.#txns.model.list(prefix),
    }, root.fork());
    // Forked after the clients: their streams stay as they were.
    this.#sends = new SimSnapshotSends({
      now: () => this.now,
      phase: () => this.phase,
      crashRate: this.config.crashRate,
      network: this.network,
      nodes: this.nodes,
      scheduleChunk: (transfer, at) =>
        this.schedule({ kind: "chunk", transfer }, at),
      report: (node, inc, peer, what) => {
        const n = this.nodes.get(node);
        if (!n || n.state !== "up" || n.incarnation !== inc) return;
        this.schedule(
          { kind: "report", node, inc, peer, what },
          this.now + 1,
        );
      },
      crash: (n) => this.#faults.crash(n, false),
      port: (n) => this.#leases.port(n.id, n.incarnation),
      settle: (n) => this.#settle(n),
      checkImage: (n, snap) => this.invariants.checkSnapshotImage(n, snap),
      note: (text) => this.note(text),
    }, root.fork());
    this.#liveness = new LivenessProbe({
      leader: () => this.leader(),
      liveMembers: () => this.liveMembers(),
      propose: (n, v) => this.propose(n, "live", v),
      acked: this.invariants,
    }, this.config.livenessTicks);
  }

  // ---- the run ------------------------------------------------------------

  /** Runs the seed to the end; throws {@linkcode SimFailure} on any violation. */
  async run(): Promise<SimResult> {
    let amortization;
    try {
      await this.#bootstrap();
      await this.#loop();
      this.#watchers.drainAll();
      checkAcknowledgedWrites(this.liveMembers(), this.invariants);
      this.#locks.finish(
        this.liveMembers().map((n) => ({ id: n.id, store: n.sm!.store })),
        this.#txns.model,
      );
      this.invariants.checkAnswers();
      amortization = this.#checkAmortization();
    } catch (e) {
      throw this.#failure(e);
    }
    const lastTick = Math.floor(this.now / TICK_MS);
    return {
      seed: this.seed,
      steps: this.step,
      ticks: lastTick,
      nodes: this.config.nodes,
      maxTerm: Math.max(0, ...this.#up().map((n) => n.core!.raft.term)),
      committed: this.invariants.maxCommitted,
      acked: this.invariants.acked.size,
      readsServed: this.stats.readsServed,
      crashes: this.stats.crashes,
      tornWrites: this.stats.tornWrites,
      ...this.#diskFigures(),
      added: this.stats.added,
      promoted: this.stats.promoted,
      removed: this.stats.removed,
      transfers: this.stats.transfers,
      snapshotsSent: this.stats.snapshotsSent,
      snapshotReads: this.stats.snapshotReads,
      snapshotsTaken: this.stats.snapshotsTaken,
      leaderWriteCrashes: this.stats.leaderWriteCrashes,
      retryCrashes: this.stats.retryCrashes,
      backgroundSnapshotCrashes: this.stats.backgroundSnapshotCrashes,
      receivedSnapshotCrashes: this.stats.receivedSnapshotCrashes,
      receiveCrashes: this.stats.receiveCrashes,
      snapshotReadCrashes: this.stats.snapshotReadCrashes,
      amortization: amortization!,
      messages: this.network.counts.sent,
      livenessTicks: this.#liveness.ticks,
      writeAnswers: this.invariants.writeAnswers,
      proposalsRetried: this.#metrics.proposalsRetried.value,
      staleCopiesSkipped: this.#metrics.staleEntriesSkipped.value,
      watch: this.#watchers.counts,
      leases: this.#leases.counts,
      txns: this.#txns.counts,
      locks: this.#locks.counts,
      sends: this.#sends.counts,
    };
  }

  async #bootstrap(): Promise<void> {
    const founders: NodeId[] = [];
    for (let i = 0; i < this.config.nodes; i++) founders.push(this.#nextId++);
    for (const id of founders) this.#founders.set(id, urlOf(id));
    for (const id of founders) {
      const n = this.#create(id, true);
      await this.#start(n);
      this.#scheduleTick(n, this.rng.nodes.intn(TICK_MS));
    }
    this.schedule({ kind: "clock", tick: 0 }, 0);
  }

  async #loop(): Promise<void> {
    const deadline = (this.config.faultTicks + this.config.livenessTicks + 1) *
      TICK_MS;
    for (;;) {
      const ev = this.#agenda.peek();
      const netAt = this.network.nextAt();
      if (!ev && netAt === undefined) {
        throw new InvariantViolation("liveness", "nothing left to do");
      }
      if (netAt !== undefined && (!ev || netAt <= ev.at)) {
        const { delivery, cut } = this.network.popNext()!;
        this.now = delivery.at;
        this.step++;
        this.#note({ kind: "deliver", msg: delivery.msg, cut });
        await this.#deliver(delivery.msg, cut);
      } else {
        this.#agenda.pop();
        this.now = ev!.at;
        this.step++;
        this.#note(ev!);
        if (ev!.kind === "clock") {
          if (await this.#clock(ev!.tick)) return;
        } else {
          await this.#handle(ev!);
        }
      }
      if (this.#asyncFailure !== undefined) throw this.#asyncFailure;
      if (this.now > deadline) {
        throw new InvariantViolation("liveness", "run overran its deadline");
      }
    }
  }

  // ---- scheduling -------------------------------------------------------------

  /** Puts `ev` on the agenda at time `at`. */
  schedule(
    ev:
      | NodeEvent
      | ReportEvent
      | LifeEvent
      | ClockEvent
      | ChunkEvent
      | FlapEvent
      | AbortEvent
      | ConfEvent,
    at: number,
  ): void {
    this.#agenda.push({ ...ev, at, seq: this.#seq++ } as SimEvent);
  }

  #scheduleTick(n: SimNode, delay: number): void {
    this.schedule(
      { kind: "tick", node: n.id, inc: n.incarnation },
      this.now + delay,
    );
  }

  #diskLatency(): number {
    const c = this.config;
    let ms = this.rng.disk.exp(c.diskMeanMs);
    if (this.rng.disk.chance(c.diskSlowRate)) {
      ms += this.rng.disk.range(1, c.maxDiskSlowMs);
    }
    return ms;
  }

  /** Queues a write the node asked for; its completion goes on the agenda. */
  #enqueueDisk(n: SimNode, inc: number, op: DiskOp): void {
    if (n.incarnation !== inc || n.state !== "up") return;
    n.disk.push(op);
    if (op.kind === "save") {
      this.note(`node ${n.id} ready: ${describeBatch(op.batch)}`);
    } else if (op.kind === "snapshot") {
      this.note(`node ${n.id} writes snapshot ${op.snap.meta.index}`);
    } else this.note(`node ${n.id} reads its snapshot back to send it`);
    this.#scheduleDisk(n);
  }

  #scheduleDisk(n: SimNode): void {
    if (n.diskScheduled || n.disk.length === 0) return;
    n.diskScheduled = true;
    this.schedule(
      { kind: "disk", node: n.id, inc: n.incarnation },
      this.now + this.#diskLatency(),
    );
  }

  // ---- events -------------------------------------------------------------------

  async #handle(ev: SimEvent): Promise<void> {
    switch (ev.kind) {
      case "restart":
        return this.#restart(ev.node);
      case "stop":
        return this.#stop(ev.node);
      case "clock":
        return;
      case "chunk":
        return this.#sends.step(ev.transfer);
      case "flap":
        return this.#faults.flap(ev);
      case "abort":
        ev.ctl.abort(new RaftKvError("timeout", `client gave up: ${ev.what}`));
        return this.#settleAll();
      case "conf": {
        const via = this.nodes.get(ev.node)!;
        if (via.state !== "up" || via.incarnation !== ev.inc) return;
        await this.#workload.changeMembership(via);
        return this.#settleAll();
      }
    }
    const n = this.nodes.get(ev.node)!;
    if (n.state !== "up" || n.incarnation !== ev.inc) return;
    switch (ev.kind) {
      case "tick":
        n.node.tick();
        this.#scheduleTick(n, n.tickMs);
        break;
      case "run":
        ev.fn();
        break;
      case "disk":
        n.diskScheduled = false;
        if (!await this.#completeDisk(n)) return;
        break;
      case "report":
        if (ev.what === "unreachable") n.node.reportUnreachable(ev.peer);
        else if (ev.what === "removed") n.node.removedByPeer();
        else n.node.reportSnapshot(ev.peer, ev.what === "snapOk");
        break;
    }
    await this.#settle(n);
  }

  /**
   * Completes the oldest write in the node's disk queue (or crashes the
   * node inside it). Returns false when the node crashed.
   */
  async #completeDisk(n: SimNode): Promise<boolean> {
    // A background snapshot's write runs beside the Ready loop's: now and
    // then the save behind it completes first, so the node applies entries
    // while its snapshot (from the view taken before them) is still pending.
    const [first, second] = n.disk;
    if (
      first?.kind === "snapshot" && second?.kind === "save" &&
      this.rng.disk.chance(0.5)
    ) {
      n.disk[0] = second;
      n.disk[1] = first;
    }
    const op = n.disk[0];
    if (!op) return true;
    if (await this.#faults.crashInsideWrite(n, op)) return false;
    n.disk.shift();
    try {
      if (op.kind === "save") {
        if (op.batch.snapshot) n.amortization.resets++;
        await n.durable.persist(op.batch);
        this.invariants.onPersisted(n);
        op.resolve();
      } else if (op.kind === "snapshot") {
        const before = n.durable.counts.snapBytes;
        await n.durable.saveSnapshot(op.snap);
        const bytes = n.durable.counts.snapBytes - before;
        const a = n.amortization;
        a.bytes += bytes;
        a.files++;
        a.largest = Math.max(a.largest, bytes);
        this.invariants.checkSnapshotImage(n, op.snap);
        this.stats.snapshotsTaken++;
        this.invariants.onPersisted(n);
        op.resolve();
      } else {
        this.stats.snapshotReads++;
        op.resolve(await (await n.durable.open()).loadSnapshot());
      }
    } catch (e) {
      if (e instanceof InvariantViolation) throw e;
      op.reject(e);
    }
    this.#scheduleDisk(n);
    return true;
  }

  /** Lets `n` finish what the step started, then checks it. */
  async #settle(n: SimNode): Promise<void> {
    await n.settle();
    if (n.state === "up") this.#check(n);
  }

  async #settleAll(): Promise<void> {
    for (const n of this.#up()) await this.#settle(n);
  }

  #send(from: SimNode, inc: number, m: Message): void {
    if (from.incarnation !== inc || from.state !== "up") return;
    // A violation found inside the node's loop is the run's failure, not
    // an error for the node to stop on.
    if (!this.#guard(() => this.invariants.onSend(from, m))) return;
    if (m.type === "snap") this.stats.snapshotsSent++;
    if (m.type === "timeoutNow") this.stats.transfers++;
    if (m.type === "voteResp" && !m.reject) this.#faults.onVoteGranted(from);
    const sent = this.network.send(this.now, m);
    if (!sent && m.type === "snap") this.#report(m.from, m.to, "snapFail");
  }

  #report(node: NodeId, peer: NodeId, what: ReportEvent["what"]): void {
    const n = this.nodes.get(node);
    if (!n || n.state !== "up") return;
    this.schedule(
      { kind: "report", node, inc: n.incarnation, peer, what },
      this.now + 1,
    );
  }

  async #deliver(m: Message, cut: boolean): Promise<void> {
    const to = this.nodes.get(m.to);
    if (cut || !to || to.state !== "up") {
      if (m.type === "snap") this.#report(m.from, m.to, "snapFail");
      else if (cut && m.type === "app") {
        this.#report(m.from, m.to, "unreachable");
      }
      return;
    }
    try {
      if (m.type === "snap") {
        const received = await this.#receiveSnapshot(to, m);
        if (!received) return;
        m = received;
      }
      to.node.receive([m]);
    } catch (e) {
      // As the peer endpoint does: a removed sender hears it must stop; a
      // stopped receiver answers nothing.
      if (e instanceof PeerRemovedError) {
        this.#report(m.from, m.to, "removed");
      } else if (!(e instanceof RaftKvError && e.code === "stopped")) throw e;
      return;
    }
    if (m.type === "snap") this.#report(m.from, m.to, "snapOk");
    await this.#settle(to);
  }

  /**
   * Takes the "snap" message `m` as the HTTP peer endpoint does: its body
   * in one request, stepped as it is (the snapshot's data in memory), or
   * in chunks (2 to 8, drawn) through the node's file receive
   * (raft/snapshot_receive.ts), then the message that carries the
   * received file's handle. Now and then the node loses power between two
   * chunks (a crash in the middle of a transfer): undefined then, and the
   * sender hears the snapshot failed.
   */
  async #receiveSnapshot(
    to: SimNode,
    m: Message,
  ): Promise<Message | undefined> {
    // Half the time a body within one request, which carries its snapshot
    // in memory (no chunk headers), as in production for small ones.
    if (this.rng.nodes.chance(0.5)) return m;
    const pieces = 2 + this.rng.nodes.intn(7);
    const body = encodeMessages([m]);
    const rx = to.node.openSnapshotReceive(body.length);
    if (!rx) return m;
    const chunkBytes = Math.ceil(body.length / pieces);
    const crashAt =
      this.rng.faults.chance(Math.min(0.5, this.config.crashRate * 20))
        ? this.rng.faults.intn(pieces)
        : -1;
    try {
      for (let i = 0, at = 0; at < body.length; i++, at += chunkBytes) {
        if (i === crashAt) {
          this.stats.receiveCrashes++;
          this.note(
            `node ${to.id} loses power in the middle of a snapshot transfer (chunk ${i} of ${pieces})`,
          );
          await rx.abort();
          await this.#faults.crash(to, false);
          this.#report(m.from, m.to, "snapFail");
          return undefined;
        }
        await rx.write(body.subarray(at, at + chunkBytes));
      }
      return await rx.finish();
    } catch (e) {
      await rx.abort();
      throw e;
    }
  }

  /** The global clock: faults and workload, or the liveness phase. Returns true when the run is over. */
  async #clock(tick: number): Promise<boolean> {
    this.schedule({ kind: "clock", tick: tick + 1 }, (tick + 1) * TICK_MS);
    if (this.phase === "faults") {
      if (tick < this.config.faultTicks) {
        await this.#faults.tick();
        await this.#workload.tick();
        await this.#settleAll();
        this.#watchers.tick();
        this.#leases.tick(true);
        this.#txns.tick();
        this.#locks.tick();
        return false;
      }
      await this.#heal();
    }
    const since = tick - this.config.faultTicks;
    this.#leases.tick(false);
    const done = this.#liveness.tick(since) &&
      this.#leases.settled(
        this.liveMembers().map((n) => n.id),
        since >= this.config.livenessTicks - 1,
      );
    await this.#settleAll();
    return done;
  }

  /**
   * The amortization bound of the snapshot schedule (raft/snapshot_scheduler.ts,
   * docs/WAL.md), counted through each node's file system: a snapshot is
   * due only once the log since the last one reached P % of that one's
   * size, so the bytes of a node's own snapshots are at most 100/P times
   * its WAL bytes, plus the snapshot after which no other came and a
   * small per-file overhead (the file's header and checksum). A restart
   * or a received snapshot starts the count afresh (and a restart counts
   * the log it replays again), so each of those allows one more snapshot's
   * worth. Returns the figures and the highest share of the bound used.
   */
  #checkAmortization(): { snapBytes: number; walBytes: number; worst: number } {
    const p = this.config.settings.snapshotLogPercent;
    let snapBytes = 0, walBytes = 0, worst = 0;
    for (const id of this.ids) {
      const n = this.nodes.get(id)!;
      const a = n.amortization;
      const wal = n.durable.counts.walBytes;
      const bound = (100 / p) * wal + (1 + a.resets) * a.largest +
        a.files * SNAPSHOT_FILE_OVERHEAD;
      if (a.bytes > bound) {
        throw new InvariantViolation(
          "snapshot amortization",
          `node ${id}: ${a.bytes} snapshot bytes in ${a.files} files > ${
            bound.toFixed(0)
          } ` +
            `(100/${p} x ${wal} WAL bytes + ${
              1 + a.resets
            } x ${a.largest} + ${a.files} x ${SNAPSHOT_FILE_OVERHEAD})`,
        );
      }
      snapBytes += a.bytes;
      walBytes += wal;
      if (bound > 0) worst = Math.max(worst, a.bytes / bound);
    }
    return { snapBytes, walBytes, worst };
  }

  async #restart(id: NodeId): Promise<void> {
    const n = this.nodes.get(id)!;
    if (n.state !== "down") return;
    n.amortization.resets++;
    await this.#start(n);
    this.#scheduleTick(n, this.rng.nodes.intn(n.tickMs));
  }

  async #stop(id: NodeId): Promise<void> {
    const n = this.nodes.get(id)!;
    if (n.state === "stopped") return;
    await n.crash(true);
    this.note(`node ${id} decommissioned`);
  }

  // ---- nodes ----------------------------------------------------------------------

  #create(id: NodeId, founder: boolean): SimNode {
    const durable = this.#durable({
      id,
      rng: this.#storageRng.fork(),
      segmentBytes: this.config.disk.segmentBytes,
      keepSnapshots: this.config.disk.keepSnapshots,
      catchUpEntries: this.config.settings.keepAfterSnapshot,
      note: (text) => this.note(text),
    });
    const n = new SimNode(id, durable, founder);
    n.tickMs = TICK_MS + this.rng.nodes.range(-1, 1);
    this.nodes.set(id, n);
    this.ids.push(id);
    return n;
  }

  /** Starts a new incarnation of `n`: a RaftNode over what is durable. */
  async #start(n: SimNode): Promise<void> {
    const disk = await n.durable.open();
    const inc = ++n.incarnation;
    const s = this.config.settings;
    const rng = this.rng.nodes.fork();
    const sm = new SimStateMachine(
      { applied: (c) => this.#onApplied(n, c) },
      { history: { entries: this.#watchers.historyEntries } },
    );
    this.#watchers.attach(n.id, inc, sm.store);
    // As main.ts: the adapter (and its lease countdowns) before the node
    // restores anything into the store.
    // Only while this incarnation lives: a request still inside the adapter
    // of a crashed node (a lock waiter, say) dies with it, as it would with
    // the process, instead of reaching the next incarnation's RaftNode
    // while reading this one's frozen store.
    this.#leases.attach(
      n.id,
      inc,
      sm,
      () => n.incarnation === inc ? n.rn : undefined,
    );
    this.#txns.attach(n.id, sm.store);
    this.#locks.attach(n.id, sm.store);
    const node = new RaftNode({
      id: n.id,
      peers: new Map(this.#founders),
      join: !n.founder,
      storage: new SimNodeStorage(disk, (op) => this.#enqueueDisk(n, inc, op)),
      stateMachine: sm,
      rng: seededRng(rng.intn(2 ** 31)),
      epoch: rng.intn(2 ** 31),
      logger: this.#logger(n, inc),
      electionTicks: s.electionTicks,
      heartbeatTicks: s.heartbeatTicks,
      snapshotEntries: s.snapshotEvery,
      snapshotLogPercent: s.snapshotLogPercent,
      // Steps of applying a received snapshot yield as a microtask: the
      // simulator's clock, not a timer, moves the run on.
      yieldTurn: () => Promise.resolve(),
      // Small pieces: a snapshot restored from its file spans many, and
      // its records straddle them.
      restoreReadBytes: 100,
      now: () => this.now,
      wallClock: () => this.now,
      schedule: (fn) => {
        if (n.incarnation !== inc || n.state !== "up") return;
        this.schedule(
          { kind: "run", node: n.id, inc, fn },
          this.now + this.rng.disk.intn(2),
        );
      },
      metrics: this.#metrics,
      core: {
        preVote: s.preVote,
        checkQuorum: s.checkQuorum,
        maxMsgBytes: s.maxMsgBytes,
        maxInflightMsgs: s.maxInflightMsgs,
      },
    });
    const transport: Transport = {
      send: (msgs) => {
        for (const m of msgs) this.#send(n, inc, m);
      },
    };
    // As PeerTransport: the snapshot read from its file as the chunks go.
    if (this.#sends.drawStreaming()) {
      transport.sendSnapshot = (m, stream) => {
        if (
          n.incarnation !== inc || n.state !== "up" ||
          !this.#guard(() => this.invariants.onSend(n, m))
        ) {
          stream.close();
          return;
        }
        this.stats.snapshotsSent++;
        this.#sends.start(n, inc, m, stream);
      };
    }
    node.setTransport(transport);
    node.onStop = (reason, fatal) => {
      if (n.incarnation !== inc) return;
      if (fatal) {
        this.#asyncFailure ??= new InvariantViolation(
          "node stopped",
          `node ${n.id}: ${reason.message}`,
        );
        return;
      }
      this.note(`node ${n.id} stops: ${reason.message}`);
      // The operator takes it away a little later.
      this.schedule({ kind: "stop", node: n.id }, this.now + 1);
    };
    n.rn = node;
    n.sm = sm;
    n.state = "up";
    node.start();
    await this.#settle(n);
  }

  /** The node's log lines as trace lines; a few of them drive targeted faults. */
  #logger(n: SimNode, inc: number): Logger {
    const line = (level: string) => (msg: string, f?: LogFields) => {
      if (n.incarnation !== inc) return;
      this.note(
        `node ${n.id} ${level}: ${msg}${f ? ` ${JSON.stringify(f)}` : ""}`,
      );
      if (msg === "membership changed") this.#onConfApplied(f ?? {});
      if (msg === "membership change waited for a pending one") {
        this.#faults.onMembershipRetry(n);
      }
      // A user's change right behind the leader's automatic promotion
      // meets it pending: the node waits for it and proposes again.
      if (
        msg === "promoting caught-up learner" && this.phase === "faults" &&
        this.rng.client.chance(this.config.confOnPromotionRate)
      ) {
        this.schedule({ kind: "conf", node: n.id, inc }, this.now);
      }
    };
    return {
      debug() {},
      info: line("info"),
      warn: line("warn"),
      error: line("error"),
    };
  }

  /** Runs `check`; a violation is kept as the run's failure. False then. */
  #guard(check: () => void): boolean {
    try {
      check();
      return true;
    } catch (e) {
      this.#asyncFailure ??= e;
      return false;
    }
  }

  #onApplied(n: SimNode, c: AppliedCommand): void {
    this.#guard(() => this.invariants.onApplied(n, c));
    this.#guard(() => this.#txns.onApplied(n.id, c));
    if (c.key === "live") this.#liveness.onApplied(c.value, c.index);
  }

  #onConfApplied(f: LogFields): void {
    const index = Number(f.index), node = Number(f.node);
    if (index > this.config.nodes && !this.#confIndexes.has(index)) {
      this.#confIndexes.add(index);
      if (f.change === "addLearner") this.stats.added++;
      else if (f.change === "addVoter") this.stats.promoted++;
      else this.stats.removed++;
    }
    if (f.change !== "remove" || this.#stopping.has(node)) return;
    this.#stopping.add(node);
    // A removed node is shut down a little later, as an operator would.
    this.schedule(
      { kind: "stop", node },
      this.now + this.rng.faults.range(0, 300),
    );
  }

  /** Starts a brand-new empty node with a never-used id (to be added as a learner). */
  async spawn(): Promise<SimNode> {
    const n = this.#create(this.#nextId++, false);
    await this.#start(n);
    this.#scheduleTick(n, this.rng.nodes.intn(n.tickMs));
    return n;
  }

  /** A random running node's HTTP adapter and store, for the coordination clients. */
  #randomPort(): { port: KvNode; store: KvStore } | undefined {
    const up = this.#up();
    if (up.length === 0) return undefined;
    const n = this.rng.client.pick(up);
    const port = this.#leases.port(n.id, n.incarnation);
    return port && { port, store: n.sm!.store };
  }

  #up(): SimNode[] {
    const out: SimNode[] = [];
    for (const id of this.ids) {
      const n = this.nodes.get(id)!;
      if (n.state === "up") out.push(n);
    }
    return out;
  }

  /** Running nodes, by ascending id. */
  upNodes(): SimNode[] {
    return this.#up();
  }

  /** The running leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.#up()) {
      const r = n.core!.raft;
      if (r.role === "leader" && (!best || r.term > best.core!.raft.term)) {
        best = n;
      }
    }
    return best;
  }

  // ---- clients ------------------------------------------------------------------------

  /** A deadline for one client request, as an HTTP client has. */
  #deadline(what: string, ms = CLIENT_TIMEOUT_MS): AbortSignal {
    const ctl = new AbortController();
    this.schedule({ kind: "abort", ctl, what }, this.now + ms);
    return ctl.signal;
  }

  /**
   * Runs a client request against `n` through the node's own API. Typed
   * refusals and give-ups are the client's problem; anything else (an
   * untyped error, a core assertion) fails the run.
   */
  #request<T>(
    what: string,
    op: () => Promise<T>,
    ok?: (v: T) => void,
    refused?: (e: RaftKvError | KvError) => void,
  ): void {
    const bad = (e: unknown) => {
      if (
        (e instanceof RaftKvError && e.code !== "assertion") ||
        e instanceof KvError
      ) {
        if (refused) this.#guard(() => refused(e));
        return;
      }
      this.note(`client request ${what} failed: ${String(e)}`);
      this.#asyncFailure ??= e;
    };
    let p: Promise<T>;
    try {
      p = op();
    } catch (e) {
      bad(e);
      return;
    }
    p.then((v) => {
      try {
        ok?.(v);
      } catch (e) {
        this.#asyncFailure ??= e;
      }
    }, bad);
  }

  /** Writes `key` = the unique `value` through `n`; the acknowledgement is RaftNode's. */
  propose(n: SimNode, key: string, value: string): void {
    const node = n.node;
    const cmd = encodeCommand({
      op: "put",
      key,
      value: encoder.encode(value),
    });
    const sm = n.sm!;
    const text = `put ${key}=${value}`;
    this.#request(
      text,
      () => node.propose(cmd, this.#deadline(text)),
      (a) => {
        this.invariants.onWriteAnswered(text, 200, "");
        this.invariants.onAcked(key, value, a.index);
        this.invariants.checkAckApplied(
          n,
          node.applied(),
          sm.store.get(key),
          a.index,
        );
      },
      (e) =>
        this.invariants.onWriteAnswered(
          text,
          STATUS_BY_CODE.get(e.code) ?? 500,
          e.code,
        ),
    );
  }

  /** A client write of a fresh value to one of the keys. */
  write(n: SimNode): void {
    this.propose(
      n,
      `k${this.rng.client.intn(KEYS)}`,
      `v${++this.#values}`,
    );
  }

  /** A linearizable read of one key through `n`: a barrier, then the local store. */
  read(n: SimNode): void {
    const key = `k${this.rng.client.intn(KEYS)}`;
    const node = n.node, sm = n.sm!;
    const issued = this.invariants.readIssued(key, `r${++this.#reads}`);
    this.#request(
      issued.context,
      () => node.readBarrier(this.#deadline(`read ${key}`)),
      () => {
        this.stats.readsServed++;
        this.invariants.onReadServed(
          n,
          node.applied(),
          sm.store.get(key),
          issued,
        );
      },
    );
  }

  /** Adds the brand-new node `fresh` through `via`, as a voter (promoted once caught up) or a learner. */
  addMember(via: SimNode, fresh: SimNode, role: "voter" | "learner"): void {
    this.note(`client: add ${fresh.id} as ${role} via ${via.id}`);
    const node = via.node;
    this.#request(
      "add",
      () =>
        node.addMember(fresh.id, urlOf(fresh.id), role, this.#deadline("add")),
      undefined,
      (e) => {
        if (e instanceof ConfChangeRefusedError) {
          this.invariants.onAddRefused(fresh.id);
        }
      },
    );
  }

  /** Removes member `id` through `via`. */
  removeMember(via: SimNode, id: NodeId): void {
    this.note(`client: remove ${id} via ${via.id}`);
    const node = via.node;
    this.#request(
      "remove",
      () => node.removeMember(id, this.#deadline("remove")),
    );
  }

  /** Asks `n` to move leadership to `target`. */
  transfer(n: SimNode, target: NodeId): void {
    this.note(`client: transfer to ${target} via ${n.id}`);
    const node = n.node;
    this.#request(
      "transfer",
      () => node.transferLeader(target, this.#deadline("transfer")),
    );
  }

  // ---- liveness ------------------------------------------------------------------------

  async #heal(): Promise<void> {
    this.phase = "liveness";
    this.note("heal: network calm, every crashed node restarts");
    this.network.config = CALM;
    this.network.heal();
    for (const id of this.ids) {
      const n = this.nodes.get(id)!;
      if (n.state === "down") await this.#restart(id);
    }
  }

  /** The running members of the leader's membership (none without a leader). */
  liveMembers(): SimNode[] {
    const leader = this.leader();
    if (!leader) return [];
    const conf = leader.core!.raft.conf();
    return [...conf.voters, ...conf.learners].map((id) => this.nodes.get(id))
      .filter((n): n is SimNode => n !== undefined && n.state === "up");
  }

  #diskFigures(): {
    writesCut: number;
    recoveryCrashes: number;
    disk: DiskCounts;
  } {
    let writesCut = 0, recoveryCrashes = 0;
    const disk = zeroDiskCounts();
    for (const id of this.ids) {
      const d = this.nodes.get(id)!.durable;
      writesCut += d.writesCut;
      recoveryCrashes += d.recoveryCrashes;
      addDiskCounts(disk, d.counts);
    }
    return { writesCut, recoveryCrashes, disk };
  }

  // ---- checks, trace and report ------------------------------------------------------

  #check(n: SimNode): void {
    this.invariants.checkNode(n);
    this.invariants.checkElectable(this.#up(), (id) => this.nodes.get(id));
    const r = n.core?.raft;
    if (r?.role === "leader" && r.term > this.#newestLeaderTerm) {
      this.#newestLeaderTerm = r.term;
      this.#faults.onNewLeader(n);
    }
  }

  #note(what: TraceItem["what"]): void {
    const item: TraceItem = { step: this.step, at: this.now, what };
    if (this.#traceOut) this.#traceOut(formatStep(item));
    this.#trace.push(item);
    if (this.#trace.length > TRACE_KEEP * 2) {
      this.#trace.splice(0, this.#trace.length - TRACE_KEEP);
    }
  }

  /** Adds a line to the trace. */
  note(text: string): void {
    this.#note({ kind: "note", text });
  }

  #failure(e: unknown): SimFailure {
    const invariant = e instanceof InvariantViolation
      ? e.invariant
      : e instanceof RaftKvError && e.code === "assertion"
      ? "core assertion"
      : "exception";
    const detail = e instanceof InvariantViolation
      ? e.message.slice(e.invariant.length + 2)
      : e instanceof Error
      ? `${e.message}\n${e.stack ?? ""}`
      : String(e);
    const tick = Math.floor(this.now / TICK_MS);
    const c = this.config;
    const lines = [
      `SIMULATION FAILURE seed ${this.seed}: ${invariant}`,
      `  ${detail}`,
      `  at step ${this.step}, time ${this.now}ms (tick ${tick}), phase ${this.phase}`,
      `  config: ${c.nodes} nodes, election ${c.settings.electionTicks} heartbeat ${c.settings.heartbeatTicks} ` +
      `preVote ${c.settings.preVote} checkQuorum ${c.settings.checkQuorum} snapshotEvery ${c.settings.snapshotEvery} snapshotLogPercent ${c.settings.snapshotLogPercent}`,
      `  partitions: ${this.network.partitions.join("; ") || "none"}`,
      "  nodes:",
      ...describeNodes(this.ids.map((id) => this.nodes.get(id)!)).map((l) =>
        `    ${l}`
      ),
      `  last ${
        Math.min(TRACE_KEEP, this.#trace.length)
      } steps (messages delivered, Ready batches, node events):`,
      ...this.#trace.slice(-TRACE_KEEP).map((t) => `    ${formatStep(t)}`),
      `  replay: ${
        replayCommand(this.seed)
      }   (add --trace to print every step)`,
    ];
    return new SimFailure({
      seed: this.seed,
      invariant,
      detail,
      step: this.step,
      tick,
      report: lines.join("\n"),
    });
  }
}

/** The URL a simulated node is known by (never dialled). */
function urlOf(id: NodeId): string {
  return `http://sim-node-${id}`;
}
