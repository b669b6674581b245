/**
 * A simulated node's durable storage: what survives a crash. The simulator
 * talks to it only through {@linkcode DurableStore}; the implementation is
 * the real disk storage (raft/disk_storage.ts, wal/) over an in-memory file
 * system that can crash (sim_disk_store.ts).
 *
 * Writes are asynchronous; the simulator awaits each one before its next
 * step, so a run stays deterministic. The reads (`hardState`, `snapshot`,
 * `lastIndex`, `term`) are synchronous views of what is durable, for the
 * invariants.
 *
 * @module
 */

import type { Entry, HardState, Snapshot } from "../../raft/core/mod.ts";
import type { DiskStorage } from "../../raft/disk_storage.ts";
import type { DiskCounts } from "./sim_counting_fs.ts";

/** What one Ready asks to make durable, in this order. */
export interface PersistBatch {
  snapshot?: Snapshot;
  entries: Entry[];
  hardState?: HardState;
  /** The Ready's `mustSync`: without it a hard-state-only write may stay unsynced. */
  mustSync: boolean;
}

/** Durable storage of one simulated node. */
export interface DurableStore {
  /** Makes the batch durable: snapshot, then entries, then hard state. */
  persist(batch: PersistBatch): Promise<void>;
  /**
   * Starts persisting `batch`, but the machine loses power at a random
   * point inside the write (possibly after it finished). The node is
   * crashed right after. Resolves to true when the write completed.
   */
  persistTorn(batch: PersistBatch): Promise<boolean>;
  /** Records an application snapshot (the store compacts the log behind it). */
  saveSnapshot(snap: Snapshot): Promise<void>;
  /** As {@linkcode persistTorn}, for an application snapshot. */
  snapshotTorn(snap: Snapshot): Promise<boolean>;
  /** The durable hard state. */
  hardState(): HardState;
  /** The newest durable snapshot (index 0 when none). */
  snapshot(): Snapshot;
  /** The index of the last durable entry (the snapshot's when the log is empty). */
  lastIndex(): number;
  /** The term of durable entry `i`, from the snapshot's index on; undefined elsewhere. */
  term(i: number): number | undefined;
  /**
   * The machine stops now: whatever is not durable is lost (and unsynced
   * writes may be torn). Recovery runs and is checked against what was
   * durable.
   */
  crash(): Promise<void>;
  /**
   * The storage a node starting now reads: exactly what is durable. Called
   * at every (re)start.
   */
  open(): Promise<DiskStorage>;
  /** What the storage did to the disk so far. */
  readonly counts: DiskCounts;
  /** Writes the machine's power loss cut short (not completed). */
  readonly writesCut: number;
  /** Crashes that hit the recovery after a crash. */
  readonly recoveryCrashes: number;
}
