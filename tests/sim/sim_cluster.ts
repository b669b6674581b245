/**
 * The simulation of one seed: a cluster of {@linkcode SimNode}s on a
 * {@linkcode SimNetwork}, driven by one agenda of timed events (node ticks on
 * each node's own drifting clock, Ready writes with disk latency, message
 * deliveries, crashes and restarts, and a global clock that runs the fault
 * schedule and the client workload). Every event is one step; after every
 * step the {@linkcode Invariants} are checked on the node it touched, and
 * the electability check on every running node.
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
  type ConfChange,
  decodeConfChange,
  type Entry,
  type Message,
  type NodeId,
  RaftKvError,
} from "../../raft/core/mod.ts";
import { SimRng } from "./sim_rng.ts";
import { type Timed, TimedQueue } from "./sim_heap.ts";
import { CALM, SimNetwork } from "./sim_network.ts";
import { type NodeObserver, type ServedRead, SimNode } from "./sim_node.ts";
import type { DurableStore } from "./sim_storage.ts";
import { DiskDurableStore, type DiskStoreOptions } from "./sim_disk_store.ts";
import {
  addDiskCounts,
  type DiskCounts,
  zeroDiskCounts,
} from "./sim_counting_fs.ts";
import { Invariants, InvariantViolation } from "./invariants.ts";
import { drawConfig, type SimConfig, TICK_MS } from "./sim_config.ts";
import { Workload } from "./sim_workload.ts";
import {
  type ClockEvent,
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
  messages: number;
  livenessTicks: number;
}

const TRACE_KEEP = 60;
const encoder = new TextEncoder();

/** One seeded simulation run. */
export class Simulation implements NodeObserver {
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
  };
  readonly #confIndexes = new Set<number>();
  readonly #agenda = new TimedQueue<SimEvent>();
  #seq = 0;
  readonly #trace: TraceItem[] = [];
  readonly #traceOut: ((line: string) => void) | undefined;
  readonly #durable: (opts: DiskStoreOptions) => DurableStore;
  readonly #storageRng: SimRng;
  readonly #stopping = new Set<NodeId>();
  readonly #workload: Workload;
  #nextId = 1;
  readonly #liveness: LivenessProbe;
  readonly #faults: Faults;
  #newestLeaderTerm = 0;

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
    this.#liveness = new LivenessProbe({
      leader: () => this.leader(),
      liveMembers: () => this.liveMembers(),
      propose: (n, v) => this.propose(n, v),
      acked: this.invariants.acked,
    }, this.config.livenessTicks);
  }

  // ---- the run ------------------------------------------------------------

  /** Runs the seed to the end; throws {@linkcode SimFailure} on any violation. */
  async run(): Promise<SimResult> {
    try {
      await this.#bootstrap();
      await this.#loop();
      checkAcknowledgedWrites(this.liveMembers(), this.invariants.acked);
    } catch (e) {
      throw this.#failure(e);
    }
    const lastTick = Math.floor(this.now / TICK_MS);
    return {
      seed: this.seed,
      steps: this.step,
      ticks: lastTick,
      nodes: this.config.nodes,
      maxTerm: Math.max(0, ...this.#up().map((n) => n.node.raft.term)),
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
      messages: this.network.counts.sent,
      livenessTicks: this.#liveness.ticks,
    };
  }

  async #bootstrap(): Promise<void> {
    const founders: NodeId[] = [];
    for (let i = 0; i < this.config.nodes; i++) founders.push(this.#nextId++);
    for (const id of founders) {
      const n = this.#create(id);
      await n.start(this.config.settings, this.rng.nodes.fork());
      n.node.bootstrap(founders.map((p) => ({ id: p, context: `node-${p}` })));
      n.takeReady();
      await n.completeReady(
        this.config.settings,
        this,
        (m) => this.#send(n, m),
      );
      this.#check(n);
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
        this.#deliver(delivery.msg, cut);
      } else {
        this.#agenda.pop();
        this.now = ev!.at;
        this.step++;
        this.#note(ev!);
        if (ev!.kind === "clock") {
          if (await this.#clock(ev!.tick)) return;
        } else {
          const p = this.#handle(ev!);
          if (p) await p;
        }
      }
      if (this.now > deadline) {
        throw new InvariantViolation("liveness", "run overran its deadline");
      }
    }
  }

  // ---- scheduling -------------------------------------------------------------

  /** Puts `ev` on the agenda at time `at`. */
  schedule(
    ev: NodeEvent | ReportEvent | LifeEvent | ClockEvent | FlapEvent,
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

  /** Schedules taking the node's Ready, if it has one and no write is in flight. */
  scheduleReady(n: SimNode): void {
    if (
      n.state !== "up" || n.readyScheduled || n.inflight || !n.node.hasReady()
    ) return;
    n.readyScheduled = true;
    this.schedule(
      { kind: "take", node: n.id, inc: n.incarnation },
      this.now + this.rng.disk.intn(2),
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

  // ---- events -------------------------------------------------------------------

  /** Handles one event; returns a promise only when it has to wait for storage. */
  #handle(ev: SimEvent): Promise<void> | void {
    if (ev.kind === "restart") return this.#restart(ev.node);
    if (ev.kind === "stop") return this.#stop(ev.node);
    if (ev.kind === "clock") return;
    if (ev.kind === "flap") return this.#faults.flap(ev);
    return this.#handleNodeEvent(ev);
  }

  #handleNodeEvent(
    ev: Timed & (NodeEvent | ReportEvent),
  ): Promise<void> | void {
    const n = this.nodes.get(ev.node)!;
    if (n.state !== "up" || n.incarnation !== ev.inc) return;
    switch (ev.kind) {
      case "tick":
        n.node.tick();
        this.#scheduleTick(n, n.tickMs);
        break;
      case "take":
        n.readyScheduled = false;
        if (n.takeReady()) {
          n.readyScheduled = true;
          this.schedule(
            { kind: "complete", node: n.id, inc: n.incarnation },
            this.now + this.#diskLatency(),
          );
        }
        break;
      case "complete":
        n.readyScheduled = false;
        return this.#complete(n);
      case "report":
        if (ev.what === "unreachable") n.node.reportUnreachable(ev.peer);
        else n.node.reportSnapshot(ev.peer, ev.what === "snapOk");
        break;
    }
    this.#check(n);
    this.scheduleReady(n);
  }

  async #complete(n: SimNode): Promise<void> {
    if (await this.#faults.crashInsideSnapshotWrite(n)) return;
    await n.completeReady(this.config.settings, this, (m) => this.#send(n, m));
    if (n.state !== "up") return;
    this.#check(n);
    this.scheduleReady(n);
  }

  #send(from: SimNode, m: Message): void {
    this.invariants.onSend(from, m);
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

  #deliver(m: Message, cut: boolean): void {
    const to = this.nodes.get(m.to);
    if (cut || !to || to.state !== "up") {
      if (m.type === "snap") this.#report(m.from, m.to, "snapFail");
      else if (cut && m.type === "app") {
        this.#report(m.from, m.to, "unreachable");
      }
      return;
    }
    to.node.step(m);
    if (m.type === "snap") this.#report(m.from, m.to, "snapOk");
    this.#check(to);
    this.scheduleReady(to);
  }

  /** The global clock: faults and workload, or the liveness phase. Returns true when the run is over. */
  async #clock(tick: number): Promise<boolean> {
    this.schedule({ kind: "clock", tick: tick + 1 }, (tick + 1) * TICK_MS);
    if (this.phase === "faults") {
      if (tick < this.config.faultTicks) {
        await this.#faults.tick();
        await this.#workload.tick();
        return false;
      }
      await this.#heal();
    }
    return this.#liveness.tick(tick - this.config.faultTicks);
  }

  async #restart(id: NodeId): Promise<void> {
    const n = this.nodes.get(id)!;
    if (n.state !== "down") return;
    await n.start(this.config.settings, this.rng.nodes.fork());
    this.invariants.onRestored(n);
    this.#check(n);
    this.#scheduleTick(n, this.rng.nodes.intn(n.tickMs));
    this.scheduleReady(n);
  }

  async #stop(id: NodeId): Promise<void> {
    const n = this.nodes.get(id)!;
    if (n.state === "stopped") return;
    await n.crash(true);
    this.note(`node ${id} decommissioned`);
  }

  // ---- cluster API for the workload ---------------------------------------------------

  #create(id: NodeId): SimNode {
    const durable = this.#durable({
      id,
      rng: this.#storageRng.fork(),
      segmentBytes: this.config.disk.segmentBytes,
      keepSnapshots: this.config.disk.keepSnapshots,
      catchUpEntries: this.config.settings.keepAfterSnapshot,
      note: (text) => this.note(text),
    });
    const n = new SimNode(id, durable);
    n.tickMs = TICK_MS + this.rng.nodes.range(-1, 1);
    this.nodes.set(id, n);
    this.ids.push(id);
    return n;
  }

  /** Starts a brand-new empty node with a never-used id (to be added as a learner). */
  async spawn(): Promise<SimNode> {
    const n = this.#create(this.#nextId++);
    await n.start(this.config.settings, this.rng.nodes.fork());
    this.#check(n);
    this.#scheduleTick(n, this.rng.nodes.intn(n.tickMs));
    return n;
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
      const r = n.node.raft;
      if (r.role === "leader" && (!best || r.term > best.node.raft.term)) {
        best = n;
      }
    }
    return best;
  }

  /**
   * Runs a client request against `n` (a proposal, read, change or
   * transfer). Refusals the core reports with a typed error are the
   * client's problem, not a failure; anything else propagates.
   */
  request(n: SimNode, op: (n: SimNode) => void): boolean {
    let ok = true;
    try {
      op(n);
    } catch (e) {
      if (!(e instanceof RaftKvError) || e.code === "assertion") throw e;
      ok = false;
    }
    this.#check(n);
    this.scheduleReady(n);
    return ok;
  }

  /** Proposes the unique `value` through `n`. */
  propose(n: SimNode, value: string): void {
    this.request(n, (x) => {
      x.node.propose(encoder.encode(value));
      x.proposals.add(value);
    });
  }

  /** Issues a ReadIndex read through `n`. */
  read(n: SimNode, context: string): void {
    const committed = this.invariants.maxCommitted;
    this.request(n, (x) => {
      x.node.readIndex(context);
      x.reads.set(context, committed);
    });
  }

  /** Proposes a membership change through `n`. */
  changeConf(n: SimNode, cc: ConfChange): void {
    this.note(`client: ${cc.type} ${cc.node} via ${n.id}`);
    this.request(n, (x) => x.node.proposeConfChange(cc));
  }

  /** Asks `n` to move leadership to `target`. */
  transfer(n: SimNode, target: NodeId): void {
    this.note(`client: transfer to ${target} via ${n.id}`);
    this.request(n, (x) => x.node.transferLeader(target));
  }

  // ---- observer ---------------------------------------------------------------------

  /** @inheritdoc */
  persisted(n: SimNode): void {
    this.invariants.onPersisted(n);
  }

  /** @inheritdoc */
  restored(n: SimNode): void {
    this.invariants.onRestored(n);
  }

  /** @inheritdoc */
  applied(n: SimNode, e: Entry, value: string | undefined): void {
    this.invariants.onApplied(n, e);
    if (value !== undefined) this.#liveness.onApplied(value, e.index);
    if (e.type !== "conf") return;
    const cc = decodeConfChange(e.data);
    if (e.index > this.config.nodes && !this.#confIndexes.has(e.index)) {
      this.#confIndexes.add(e.index);
      if (cc.type === "addLearner") this.stats.added++;
      else if (cc.type === "addVoter") this.stats.promoted++;
      else this.stats.removed++;
    }
    if (cc.type !== "remove" || this.#stopping.has(cc.node)) return;
    this.#stopping.add(cc.node);
    // A removed node is shut down a little later, as an operator would.
    this.schedule(
      { kind: "stop", node: cc.node },
      this.now + this.rng.faults.range(0, 300),
    );
  }

  /** @inheritdoc */
  acked(_n: SimNode, value: string, index: number): void {
    this.invariants.onAcked(value, index);
  }

  /** @inheritdoc */
  readServed(n: SimNode, read: ServedRead): void {
    this.stats.readsServed++;
    this.invariants.onReadServed(n, read);
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
    const conf = leader.node.raft.conf();
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
    const r = n.raw?.raft;
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
      `preVote ${c.settings.preVote} checkQuorum ${c.settings.checkQuorum} snapshotEvery ${c.settings.snapshotEvery}`,
      `  partitions: ${this.network.partitions.join("; ") || "none"}`,
      "  nodes:",
      ...describeNodes(this.ids.map((id) => this.nodes.get(id)!)).map((l) =>
        `    ${l}`
      ),
      `  last ${Math.min(TRACE_KEEP, this.#trace.length)} steps:`,
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
