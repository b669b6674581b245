/**
 * One simulated server, built from the production parts: a
 * {@linkcode RaftNode} (raft/node.ts, its own Ready loop, waiters,
 * membership retries, background snapshots and lazy snapshot sends) over
 * the real `DiskStorage` on a crashing `MemFs` (through
 * {@linkcode DurableStore}), applying to the real `KvStore`
 * ({@linkcode SimStateMachine}). The simulator owns the rest of the world:
 *
 * - the node's `schedule`: each run of its Ready loop is a step of the
 *   simulation's agenda;
 * - its disk: every write the node asks for (a Ready, a snapshot it took,
 *   a snapshot read back to send) waits in {@link SimNode.disk} until the
 *   simulation completes it, a simulated disk latency later, in order; a
 *   crash meanwhile loses it, or cuts it short (`persistTorn`);
 * - its clocks (simulated time) and its transport.
 *
 * A crash drops the RaftNode, the state machine and every write still
 * queued; a restart builds a new RaftNode over what is durable.
 *
 * @module
 */

import {
  type Entry,
  type InitialState,
  type NodeId,
  type Ready,
  type Snapshot,
  type SnapshotMeta,
} from "../../raft/core/mod.ts";
import type { SnapshotBody } from "../../raft/snapshot_data.ts";
import type { SnapshotReceive } from "../../raft/snapshot_receive.ts";
import type { SnapshotStream } from "../../raft/snapshot_stream.ts";
import type { RawNode } from "../../raft/core/mod.ts";
import type { NodeStorage, RaftNode } from "../../raft/mod.ts";
import type { DiskStorage } from "../../raft/disk_storage.ts";
import type { DurableStore, PersistBatch } from "./sim_storage.ts";
import type { SimStateMachine } from "./sim_state_machine.ts";

/** Raft settings shared by every node of a run. */
export interface NodeSettings {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** The fewest applied entries between two application snapshots. */
  snapshotEvery: number;
  /**
   * The log bytes since the last snapshot, in % of its size, that make the
   * next one due (the node's amortized schedule; small values snapshot often).
   */
  snapshotLogPercent: number;
  /** Entries kept in the log behind a new snapshot (the storage's catch-up margin). */
  keepAfterSnapshot: number;
  /** The most entry bytes in one append (small values split the log into many appends). */
  maxMsgBytes: number;
  /** The most unanswered appends to one follower. */
  maxInflightMsgs: number;
}

/** A write (or read-back) the node asked its storage for, not completed yet. */
export type DiskOp =
  & { resolve(v?: unknown): void; reject(e: unknown): void }
  & (
    | { kind: "save"; batch: PersistBatch }
    | { kind: "snapshot"; snap: Snapshot }
    | { kind: "load" }
  );

/** The batch a Ready asks to persist. */
export function batchOf(
  rd: Pick<Ready, "hardState" | "entries" | "snapshot" | "mustSync">,
): PersistBatch {
  const b: PersistBatch = { entries: rd.entries, mustSync: rd.mustSync };
  if (rd.snapshot) b.snapshot = rd.snapshot;
  if (rd.hardState) b.hardState = rd.hardState;
  return b;
}

/**
 * The node's storage: reads go to the real `DiskStorage`; writes wait in
 * the simulated disk queue (see the module doc).
 */
export class SimNodeStorage implements NodeStorage {
  readonly #disk: DiskStorage;
  readonly #enqueue: (op: DiskOp) => void;

  constructor(disk: DiskStorage, enqueue: (op: DiskOp) => void) {
    this.#disk = disk;
    this.#enqueue = enqueue;
  }

  initialState(): InitialState {
    return this.#disk.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.#disk.entries(lo, hi, maxBytes);
  }
  term(i: number): number {
    return this.#disk.term(i);
  }
  firstIndex(): number {
    return this.#disk.firstIndex();
  }
  lastIndex(): number {
    return this.#disk.lastIndex();
  }
  snapshot(): Snapshot {
    return this.#disk.snapshot();
  }
  isEmpty(): boolean {
    return this.#disk.isEmpty();
  }

  save(
    rd: Pick<Ready, "hardState" | "entries" | "snapshot" | "mustSync">,
  ): Promise<void> {
    // Returned as it is (no async wrapper): the node resumes one microtask
    // after the simulation completes the write (see SimNode.settle).
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#enqueue({ kind: "save", batch: batchOf(rd), resolve, reject });
    return promise;
  }

  createSnapshot(snap: Snapshot): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#enqueue({ kind: "snapshot", snap, resolve, reject });
    return promise;
  }

  /**
   * As `DiskStorage.createSnapshotFrom`: the body's parts (the state
   * machine's point-in-time view) are read only when the simulated disk
   * completes the write, after the entries applied meanwhile.
   */
  createSnapshotFrom(meta: SnapshotMeta, body: SnapshotBody): Promise<void> {
    let data: Uint8Array | undefined;
    return this.createSnapshot({
      meta,
      get data() {
        if (data === undefined) {
          data = new Uint8Array(body.byteLength);
          let at = 0;
          for (const part of body.parts()) {
            data.set(part, at);
            at += part.length;
          }
        }
        return data;
      },
    });
  }

  /**
   * As in production: a snapshot transfer is written to a temporary file
   * as its chunks arrive, straight to the file system (not through the
   * disk queue: the transfer, not the Ready loop, writes it); the Ready's
   * save that installs it waits in the queue as any save.
   */
  receiveSnapshot(total: number): SnapshotReceive {
    return this.#disk.receiveSnapshot(total);
  }

  /** As {@linkcode receiveSnapshot}: straight to the file system. */
  discardReceivedSnapshot(data: Uint8Array): Promise<void> {
    return this.#disk.discardReceivedSnapshot(data);
  }

  /**
   * A received snapshot read back to be applied: straight from the disk,
   * like {@linkcode receiveSnapshot} (the Ready loop waits for it, and the
   * state machine is restored from it in the same step).
   */
  readSnapshot(meta: SnapshotMeta): Promise<Snapshot> {
    return this.#disk.readSnapshot(meta);
  }

  /**
   * A snapshot file opened to be read in pieces, straight from the disk
   * (as {@linkcode readSnapshot}): to restore a received snapshot from its
   * file step by step, and to send one from its file when the node's
   * transport streams (tests/sim/sim_snapshot_sends.ts; the other
   * incarnations read the snapshot back whole, {@linkcode loadSnapshot}).
   */
  openSnapshotStream(want?: SnapshotMeta): Promise<SnapshotStream> {
    return this.#disk.openSnapshotStream(want);
  }

  loadSnapshot(): Promise<Snapshot> {
    const { promise, resolve, reject } = Promise.withResolvers<Snapshot>();
    this.#enqueue({
      kind: "load",
      resolve: resolve as (v?: unknown) => void,
      reject,
    });
    return promise;
  }
}

/** The life of a simulated server. */
export type NodeState = "up" | "down" | "stopped";

/** One simulated server and its durable storage. */
export class SimNode {
  readonly id: NodeId;
  readonly durable: DurableStore;
  /** Whether it was a founding voter (else it joins an existing cluster). */
  readonly founder: boolean;
  state: NodeState = "down";
  /** Bumped at every start; events of an older incarnation are void. */
  incarnation = 0;
  /** The running node (undefined while down). */
  rn: RaftNode | undefined;
  /** Its state machine (undefined while down). */
  sm: SimStateMachine | undefined;
  /** Writes the node asked for and the simulated disk has not completed, oldest first. */
  disk: DiskOp[] = [];
  /** Whether the completion of the oldest disk write is on the agenda. */
  diskScheduled = false;
  /** Set when the next disk write is to be cut short by a crash. */
  crashInNextWrite = false;
  /**
   * The snapshot amortization account over the run: bytes the file system
   * took for the node's own (background) snapshots, their count and the
   * largest, and the restarts and received snapshots that start the
   * scheduler's count afresh.
   */
  readonly amortization = { bytes: 0, files: 0, largest: 0, resets: 0 };
  /** Ticks every this many ms (each node's clock runs at its own rate). */
  tickMs = 10;
  /** The node applied index last hashed by the image check. */
  checkedApplied = -1;

  constructor(id: NodeId, durable: DurableStore, founder: boolean) {
    this.id = id;
    this.durable = durable;
    this.founder = founder;
  }

  /** The running node; throws when down. */
  get node(): RaftNode {
    if (!this.rn) throw new Error(`node ${this.id} is not running`);
    return this.rn;
  }

  /** The running node's core (for the checks), undefined when down. */
  get core(): RawNode | undefined {
    return this.rn?.core;
  }

  /** The running node's applied index (-1 when down). */
  get applied(): number {
    return this.rn?.applied() ?? -1;
  }

  /**
   * Waits until the node's loop has nothing left to do on its own. One
   * microtask first: a write just completed resumes the loop only then.
   */
  async settle(): Promise<void> {
    await null;
    if (this.rn) await this.rn.idle();
  }

  /** Crashes (or, with `stop`, decommissions) the node: everything in memory is lost. */
  async crash(stop = false): Promise<void> {
    await this.durable.crash();
    this.rn = undefined;
    this.sm = undefined;
    this.disk = [];
    this.diskScheduled = false;
    this.crashInNextWrite = false;
    this.checkedApplied = -1;
    this.state = stop ? "stopped" : "down";
  }
}
