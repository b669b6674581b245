/**
 * The core's read-only view of stable storage, and an in-memory
 * implementation. The application writes (it is told what by `Ready`); the
 * core only reads. Reads are synchronous: a disk-backed storage keeps an
 * in-memory mirror and writes through to its WAL.
 *
 * @module
 */

import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";
import {
  assert,
  AssertionError,
  CompactedError,
  UnavailableError,
} from "./errors.ts";

/** What a node recovers with: the persisted hard state. */
export interface InitialState {
  hardState: HardState;
}

/**
 * Stable storage as the core sees it. Invariant: the log holds every entry in
 * `[firstIndex(), lastIndex()]`; everything before `firstIndex()` is in
 * `snapshot()`.
 */
export interface Storage {
  /** The persisted hard state. */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`, at least one, at most `maxBytes` of data after the
   * first. Throws {@linkcode CompactedError} when `lo < firstIndex()` and
   * {@linkcode UnavailableError} when `hi > lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** The term of entry `i`, for `i` in `[firstIndex() - 1, lastIndex()]`. */
  term(i: number): number;
  /** The index of the first entry still in the log. */
  firstIndex(): number;
  /** The index of the last entry (`firstIndex() - 1` when empty). */
  lastIndex(): number;
  /** The newest snapshot (index 0 when there is none). */
  snapshot(): Snapshot;
}

/** The payload size an entry counts for toward a byte limit. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength + 16;
}

/**
 * Cuts `ents` so that their size stays within `maxBytes`, keeping at least
 * one entry so progress is always possible.
 */
export function limitBytes(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entryBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/**
 * Storage held in memory: the log from the snapshot on, the hard state and
 * the newest snapshot. Used directly by tests and the simulator, and as the
 * read mirror of the disk storage.
 *
 * Internally `ents[0]` is a dummy entry at the snapshot's index and term, so
 * `term(firstIndex() - 1)` answers without a special case.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot = {
    meta: { index: 0, term: 0, conf: EMPTY_CONF },
    data: new Uint8Array(),
  };
  #ents: Entry[] = [{
    term: 0,
    index: 0,
    type: "normal",
    data: new Uint8Array(),
  }];

  initialState(): InitialState {
    return { hardState: { ...this.#hardState } };
  }

  /** Records the hard state (the caller has made it durable). */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** The hard state last recorded. */
  hardState(): HardState {
    return { ...this.#hardState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#ents[0]!.index;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi);
    if (lo >= hi) return [];
    return limitBytes(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: number): number {
    const offset = this.#ents[0]!.index;
    if (i < offset) throw new CompactedError(i);
    if (i - offset >= this.#ents.length) throw new UnavailableError(i);
    return this.#ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.#ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.#ents[0]!.index + this.#ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /**
   * Replaces the whole log with a snapshot received from the leader. Ignored
   * when older than the snapshot already held.
   */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) return;
    this.#snapshot = snap;
    this.#ents = [{
      term: snap.meta.term,
      index: snap.meta.index,
      type: "normal",
      data: new Uint8Array(),
    }];
  }

  /**
   * Records a snapshot the application took at `snap.meta.index` (which must
   * be in the log) without dropping entries; {@linkcode compact} does that.
   */
  createSnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) return;
    assert(
      snap.meta.index <= this.lastIndex(),
      `snapshot ${snap.meta.index} beyond last index ${this.lastIndex()}`,
    );
    this.#snapshot = snap;
  }

  /**
   * Keeps only the snapshot's metadata: for a caller that keeps the data
   * elsewhere (a file) and has used it.
   */
  dropSnapshotData(): void {
    this.#snapshot = { meta: this.#snapshot.meta, data: new Uint8Array() };
  }

  /** Drops the entries before `compactIndex`; it stays as the dummy entry. */
  compact(compactIndex: number): void {
    const offset = this.#ents[0]!.index;
    if (compactIndex <= offset) return;
    assert(
      compactIndex <= this.lastIndex(),
      `compact ${compactIndex} beyond last index ${this.lastIndex()}`,
    );
    const i = compactIndex - offset;
    const head = this.#ents[i]!;
    this.#ents = [
      {
        term: head.term,
        index: head.index,
        type: "normal",
        data: new Uint8Array(),
      },
      ...this.#ents.slice(i + 1),
    ];
  }

  /**
   * Appends entries, replacing any existing entries from the first new
   * index on (a new leader may overwrite an uncommitted tail). Entries
   * already compacted away are skipped.
   */
  append(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = this.firstIndex();
    const last = ents[ents.length - 1]!.index;
    if (last < first) return;
    if (ents[0]!.index < first) ents = ents.slice(first - ents[0]!.index);
    const offset = ents[0]!.index - this.#ents[0]!.index;
    // The message is built only on failure: this runs for every append.
    if (offset > this.#ents.length) {
      throw new AssertionError(
        `missing log entry: last ${this.lastIndex()}, appending at ${
          ents[0]!.index
        }`,
      );
    }
    if (offset < this.#ents.length) this.#ents.length = offset;
    for (const e of ents) this.#ents.push(e);
  }
}
