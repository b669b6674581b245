/**
 * One simulated server: a {@linkcode RawNode} over a {@linkcode DurableStore}
 * with the in-memory {@linkcode ListStateMachine} and the client requests it
 * is serving. A crash drops the RawNode, the Ready being written, the state
 * machine and the pending requests; a restart builds a new RawNode over
 * what is durable, with the state machine restored from the durable
 * snapshot and `applied` at its index.
 *
 * Ready handling is split in two steps so that the node keeps stepping
 * messages and ticks while its write is in flight, as a real runtime does:
 * {@linkcode SimNode.takeReady} then, a simulated disk latency later,
 * {@linkcode SimNode.completeReady} (persist, send, apply, advance).
 *
 * @module
 */

import {
  CompactedError,
  type Entry,
  type Message,
  type NodeId,
  RawNode,
  type Ready,
  type Snapshot,
} from "../../raft/core/mod.ts";
import type { DurableStore, PersistBatch } from "./sim_storage.ts";
import { ListStateMachine } from "./sim_state_machine.ts";
import type { SimRng } from "./sim_rng.ts";

/** Raft settings shared by every node of a run. */
export interface NodeSettings {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Take an application snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a new snapshot (the storage's catch-up margin). */
  keepAfterSnapshot: number;
  /** The most entry bytes in one append (small values split the log into many appends). */
  maxMsgBytes: number;
  /** The most unanswered appends to one follower. */
  maxInflightMsgs: number;
}

/** What the simulator wants to hear from a node's Ready handling. */
export interface NodeObserver {
  /** `batch` is durable now (whole, or torn when `torn`). */
  persisted(node: SimNode, batch: PersistBatch, torn: boolean): void;
  /** The node's state machine was replaced by the image in its snapshot. */
  restored(node: SimNode): void;
  /** The node applied `e`; `value` is the value it wrote, if any. */
  applied(node: SimNode, e: Entry, value: string | undefined): void;
  /** A write proposed through this node came back applied at `index`. */
  acked(node: SimNode, value: string, index: number): void;
  /** A read is served at the node's applied index. */
  readServed(node: SimNode, read: ServedRead): void;
}

/** A ReadIndex read as the client sees it. */
export interface ServedRead {
  context: string;
  /** The read index the core returned. */
  index: number;
  /** The highest index known committed anywhere when the read was issued. */
  committedAtIssue: number;
}

/** The life of a simulated server. */
export type NodeState = "up" | "down" | "stopped";

/** One simulated server and its durable storage. */
export class SimNode {
  readonly id: NodeId;
  readonly durable: DurableStore;
  state: NodeState = "down";
  /** Bumped at every start; events of an older incarnation are void. */
  incarnation = 0;
  /** The running Raft node (undefined while down). */
  raw: RawNode | undefined;
  /** The in-memory application state; rebuilt at every start. */
  sm = new ListStateMachine();
  /** The Ready taken and not completed yet. */
  inflight: Ready | undefined;
  /** Whether a take or complete event is scheduled for this incarnation. */
  readyScheduled = false;
  /** Values proposed through this incarnation, not seen applied yet. */
  readonly proposals = new Set<string>();
  /** Reads issued through this incarnation: context -> committed index at issue. */
  readonly reads = new Map<string, number>();
  /** Reads with a read index, waiting for the state machine to reach it. */
  waiting: ServedRead[] = [];
  /** Ticks every this many ms (each node's clock runs at its own rate). */
  tickMs = 10;

  constructor(id: NodeId, durable: DurableStore) {
    this.id = id;
    this.durable = durable;
  }

  /** The running node; throws when down. */
  get node(): RawNode {
    if (!this.raw) throw new Error(`node ${this.id} is not running`);
    return this.raw;
  }

  /** Starts a new incarnation over the durable state. */
  async start(settings: NodeSettings, rng: SimRng): Promise<void> {
    const storage = await this.durable.open();
    this.sm = ListStateMachine.decode(this.durable.snapshot().data);
    this.raw = new RawNode({
      id: this.id,
      storage,
      rng: { intn: (n) => rng.intn(n) },
      electionTicks: settings.electionTicks,
      heartbeatTicks: settings.heartbeatTicks,
      preVote: settings.preVote,
      checkQuorum: settings.checkQuorum,
      maxMsgBytes: settings.maxMsgBytes,
      maxInflightMsgs: settings.maxInflightMsgs,
      applied: this.sm.applied,
    });
    this.state = "up";
    this.incarnation++;
  }

  /** Crashes (or, with `stop`, decommissions) the node: everything in memory is lost. */
  async crash(stop = false): Promise<void> {
    await this.durable.crash();
    this.raw = undefined;
    this.inflight = undefined;
    this.readyScheduled = false;
    this.sm = new ListStateMachine();
    this.proposals.clear();
    this.reads.clear();
    this.waiting = [];
    this.state = stop ? "stopped" : "down";
  }

  /** Takes the node's pending work, to be completed by {@linkcode completeReady}. */
  takeReady(): Ready | undefined {
    if (!this.raw || this.inflight || !this.raw.hasReady()) return undefined;
    this.inflight = this.raw.ready();
    return this.inflight;
  }

  /** The batch the in-flight Ready asks to persist. */
  static batchOf(rd: Ready): PersistBatch {
    const b: PersistBatch = { entries: rd.entries, mustSync: rd.mustSync };
    if (rd.snapshot) b.snapshot = rd.snapshot;
    if (rd.hardState) b.hardState = rd.hardState;
    return b;
  }

  /**
   * Completes the in-flight Ready: persist, send, apply, advance, then take
   * an application snapshot when due.
   */
  async completeReady(
    settings: NodeSettings,
    obs: NodeObserver,
    send: (m: Message) => void,
  ): Promise<void> {
    const rd = this.inflight;
    const raw = this.raw;
    if (!rd || !raw) return;
    const batch = SimNode.batchOf(rd);
    await this.durable.persist(batch);
    obs.persisted(this, batch, false);
    for (const m of rd.messages) send(m);
    if (rd.snapshot) {
      this.sm = ListStateMachine.decode(rd.snapshot.data);
      obs.restored(this);
    }
    for (const e of rd.committedEntries) {
      const value = this.sm.apply(e);
      obs.applied(this, e, value);
      if (value !== undefined && this.proposals.delete(value)) {
        obs.acked(this, value, e.index);
      }
    }
    for (const rs of rd.readStates) {
      const issued = this.reads.get(rs.context);
      if (issued === undefined) continue;
      this.reads.delete(rs.context);
      this.waiting.push({
        context: rs.context,
        index: rs.index,
        committedAtIssue: issued,
      });
    }
    this.inflight = undefined;
    raw.advance();
    this.serveReads(obs);
    await this.maybeSnapshot(settings);
  }

  /** Serves the reads whose read index the state machine has reached. */
  private serveReads(obs: NodeObserver): void {
    if (this.waiting.length === 0) return;
    const still: ServedRead[] = [];
    for (const r of this.waiting) {
      if (r.index <= this.sm.applied) obs.readServed(this, r);
      else still.push(r);
    }
    this.waiting = still;
  }

  private async maybeSnapshot(s: NodeSettings): Promise<void> {
    const last = this.durable.snapshot().meta.index;
    if (this.sm.applied - last < s.snapshotEvery) return;
    const snap = this.appSnapshot();
    if (snap) await this.durable.saveSnapshot(snap);
  }

  /**
   * A snapshot of the state machine at its applied index, or undefined when
   * there is nothing new to snapshot (or a leader's snapshot replaced the
   * log meanwhile; it is applied next).
   */
  appSnapshot(): Snapshot | undefined {
    if (this.sm.applied <= this.durable.snapshot().meta.index) return undefined;
    let meta;
    try {
      meta = this.node.snapshotMeta(this.sm.applied);
    } catch (e) {
      if (e instanceof CompactedError) return undefined;
      throw e;
    }
    return { meta, data: this.sm.encode() };
  }
}
