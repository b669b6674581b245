/**
 * A simulated node's durable storage: what survives a crash. The simulator
 * talks to it only through {@linkcode DurableStore}, so a later change can
 * put the real disk storage over an in-memory crashing file system behind
 * the same interface.
 *
 * Writes may be asynchronous (a disk storage awaits its WAL); the simulator
 * awaits each one before its next step, so a run stays deterministic. The
 * reads (`hardState`, `snapshot`, `lastIndex`, `term`) are synchronous views
 * of what is durable, for the invariants.
 *
 * {@linkcode MemDurableStore} treats every completed write as durable at
 * once (the fsync finished); a crash in the middle of a write is modelled
 * by {@linkcode DurableStore.persistTorn}, which keeps only a prefix of the
 * batch's entries and drops its hard state, as a WAL truncates a torn tail.
 *
 * @module
 */

import {
  type Entry,
  type HardState,
  MemoryStorage,
  type Snapshot,
  type Storage,
} from "../../raft/core/mod.ts";

/** What one Ready asks to make durable, in this order. */
export interface PersistBatch {
  snapshot?: Snapshot;
  entries: Entry[];
  hardState?: HardState;
}

/** Durable storage of one simulated node. */
export interface DurableStore {
  /** Makes the whole batch durable: snapshot, then entries, then hard state. */
  persist(batch: PersistBatch): void | Promise<void>;
  /**
   * A write cut short by a crash: the snapshot only if `withSnapshot`, then
   * the first `entries` entries, and never the hard state. The node is
   * crashed right after.
   */
  persistTorn(
    batch: PersistBatch,
    entries: number,
    withSnapshot: boolean,
  ): void | Promise<void>;
  /** Saves an application snapshot and drops the log before `compactTo`. */
  saveSnapshot(snap: Snapshot, compactTo: number): void | Promise<void>;
  /** The durable hard state. */
  hardState(): HardState;
  /** The newest durable snapshot (index 0 when none). */
  snapshot(): Snapshot;
  /** The index of the last durable entry (the snapshot's when the log is empty). */
  lastIndex(): number;
  /** The term of durable entry `i`, from the snapshot's index on; undefined elsewhere. */
  term(i: number): number | undefined;
  /** The machine stops now: whatever is not durable is lost. */
  crash(): void | Promise<void>;
  /**
   * The storage a node starting now reads: exactly what is durable. Called
   * at every (re)start.
   */
  open(): Storage | Promise<Storage>;
}

/** Durable storage over a {@linkcode MemoryStorage}: every write is durable. */
export class MemDurableStore implements DurableStore {
  readonly #mem = new MemoryStorage();

  persist(batch: PersistBatch): void {
    if (batch.snapshot) this.#mem.applySnapshot(batch.snapshot);
    this.#mem.append(batch.entries);
    if (batch.hardState) this.#mem.setHardState(batch.hardState);
  }

  persistTorn(
    batch: PersistBatch,
    entries: number,
    withSnapshot: boolean,
  ): void {
    if (batch.snapshot && withSnapshot) this.#mem.applySnapshot(batch.snapshot);
    // Without its snapshot, entries that follow it have no place in the log.
    if (batch.snapshot && !withSnapshot) return;
    this.#mem.append(batch.entries.slice(0, entries));
  }

  saveSnapshot(snap: Snapshot, compactTo: number): void {
    this.#mem.createSnapshot(snap);
    this.#mem.compact(compactTo);
  }

  hardState(): HardState {
    return this.#mem.hardState();
  }

  snapshot(): Snapshot {
    return this.#mem.snapshot();
  }

  lastIndex(): number {
    return this.#mem.lastIndex();
  }

  term(i: number): number | undefined {
    if (i < this.#mem.firstIndex() - 1 || i > this.#mem.lastIndex()) {
      return undefined;
    }
    return this.#mem.term(i);
  }

  crash(): void {
    // Every completed write was durable; a write cut short is persistTorn.
  }

  open(): Storage {
    return this.#mem;
  }
}
