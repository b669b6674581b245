/**
 * A point-in-time view of a {@linkcode KvStore}, taken in O(1) while the
 * store keeps applying writes: what a snapshot is encoded from, in slices,
 * off the hot path.
 *
 * How it stays frozen (copy-on-write at two levels, no copy of the state):
 *
 * - the set of keys is a {@linkcode FrozenKeys}: the store's sorted key
 *   chunks, which the store copies before it changes one;
 * - a key's value and revision are read from the store's own slot tables,
 *   unless the store changed or deleted that key since the view was taken:
 *   before its first such change the store saves the key's old record into
 *   the view ({@linkcode StoreView.save}), and the view reads that instead.
 *
 * So the extra memory of a view is the records of the keys written while
 * it is held (at most every key once: one snapshot's size) plus the chunks
 * of keys copied on write. Release it when done, so the store stops saving.
 *
 * @module
 */

import type { KeyRevision, RevisionTable } from "./revision.ts";
import type { FrozenKeys } from "./sorted_keys.ts";
import type { ValueArena } from "./value_arena.ts";
import {
  leaseSectionBytes,
  SNAPSHOT_FRAME_BYTES,
  SnapshotSliceWriter,
} from "./snapshot_codec.ts";
import type { KvEntry } from "./store.ts";
import type { Lease } from "./lease_table.ts";

/** A key's record as it was when the view was taken. */
interface SavedRecord extends KeyRevision {
  readonly value: Uint8Array;
}

/** The store's tables a view reads through (never changed by the view). */
export interface StoreTables {
  readonly appliedIndex: number;
  readonly keys: FrozenKeys;
  readonly slots: ReadonlyMap<string, number>;
  readonly revisions: RevisionTable;
  readonly values: ValueArena;
  /** The snapshot's bytes (kept up to date by the store in O(1) a write). */
  readonly byteLength: number;
  /** The lease table when the view was taken (a copy), by id. */
  readonly leases: readonly Lease[];
}

/** The default size of the slices {@linkcode StoreView.slices} hands out. */
export const SNAPSHOT_SLICE_BYTES = 256 * 1024;

/** The store as it was at {@linkcode StoreView.appliedIndex}; see the module doc. */
export class StoreView {
  /** The index of the last entry applied when the view was taken. */
  readonly appliedIndex: number;
  /** The length of the snapshot bytes of this view. */
  readonly byteLength: number;
  readonly #t: StoreTables;
  readonly #saved = new Map<string, SavedRecord>();
  readonly #onRelease: (view: StoreView) => void;
  #released = false;

  constructor(tables: StoreTables, onRelease: (view: StoreView) => void) {
    this.#t = tables;
    this.appliedIndex = tables.appliedIndex;
    this.byteLength = tables.byteLength;
    this.#onRelease = onRelease;
  }

  /** The number of keys. */
  get size(): number {
    return this.#t.keys.size;
  }

  /** How many keys the store changed since the view was taken (tests, metrics). */
  get savedCount(): number {
    return this.#saved.size;
  }

  /**
   * The store calls this before it first changes or deletes the key in
   * `slot` while the view is held: the view keeps the key's record as it
   * is now (a copy of the value, so no arena chunk stays pinned).
   */
  save(key: string, slot: number): void {
    if (this.#saved.has(key)) return;
    const r = this.#t.revisions;
    this.#saved.set(key, {
      value: this.#t.values.get(slot).slice(),
      createIndex: r.createIndex(slot),
      modIndex: r.modIndex(slot),
      version: r.version(slot),
      lease: r.lease(slot),
    });
  }

  /** Returns the value and revision `key` had when the view was taken. */
  get(key: string): KvEntry | undefined {
    if (!this.#t.keys.has(key)) return undefined;
    const saved = this.#saved.get(key);
    if (saved) return { ...saved, index: saved.modIndex };
    const slot = this.#t.slots.get(key)!;
    const r = this.#t.revisions;
    return {
      value: this.#t.values.get(slot),
      index: r.modIndex(slot),
      createIndex: r.createIndex(slot),
      modIndex: r.modIndex(slot),
      version: r.version(slot),
      lease: r.lease(slot),
    };
  }

  /**
   * The snapshot bytes of the view (format of `snapshot_codec.ts`), made
   * lazily one slice of about `sliceBytes` at a time: each step of the
   * iterator does bounded work, so a caller that awaits between slices
   * never holds the event loop for longer than one slice takes. Joined,
   * the slices are exactly {@linkcode byteLength} bytes, the same as
   * `KvStore.snapshot()` gave at {@linkcode appliedIndex}.
   */
  slices(sliceBytes = SNAPSHOT_SLICE_BYTES): IterableIterator<Uint8Array> {
    return this.#slices(sliceBytes, false);
  }

  /**
   * The bytes of {@linkcode slices}, made in two buffers used by turns: a
   * slice is valid only until the next one is asked for (copy it to keep
   * it), and making all of them allocates two slices, not the snapshot's
   * size, so writing a snapshot leaves no garbage as large as the state.
   */
  reusedSlices(
    sliceBytes = SNAPSHOT_SLICE_BYTES,
  ): IterableIterator<Uint8Array> {
    return this.#slices(sliceBytes, true);
  }

  *#slices(
    sliceBytes: number,
    reuseBuffers: boolean,
  ): IterableIterator<Uint8Array> {
    this.#checkHeld();
    const t = this.#t;
    const r = t.revisions;
    // A state smaller than a slice gets a buffer of its own size: the same
    // one slice, without zeroing a whole slice's worth for a small store.
    const w = new SnapshotSliceWriter(
      Math.min(sliceBytes, this.byteLength),
      reuseBuffers,
    );
    w.header(this.appliedIndex, t.keys.size);
    for (const key of t.keys) {
      const saved = this.#saved.get(key);
      let full: Uint8Array | undefined;
      if (saved) {
        full = w.record(
          key,
          saved.createIndex,
          saved.modIndex,
          saved.version,
          saved.lease,
          saved.value,
        );
      } else {
        const slot = t.slots.get(key)!;
        full = w.record(
          key,
          r.createIndex(slot),
          r.modIndex(slot),
          r.version(slot),
          r.lease(slot),
          t.values.get(slot),
        );
      }
      if (full) {
        yield full;
        this.#checkHeld();
      }
    }
    yield* w.finish(t.leases);
  }

  /** The store stops saving records for this view; idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#saved.clear();
    this.#onRelease(this);
  }

  #checkHeld(): void {
    if (this.#released) throw new Error("the store view was released");
  }
}

/**
 * The snapshot bytes of a store with `recordBytes` bytes of records and
 * `leases` leases.
 */
export function snapshotByteLength(recordBytes: number, leases = 0): number {
  return SNAPSHOT_FRAME_BYTES + recordBytes + leaseSectionBytes(leases);
}
