/**
 * The core's read-only view of stable storage, and an in-memory
 * implementation. The application writes (it is told what by `Ready`); the
 * core only reads. Reads are synchronous: a disk-backed storage keeps an
 * in-memory mirror and writes through to its WAL.
 *
 * @module
 */

import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";
import { EntryPages } from "./entry_pages.ts";
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
 * Internally the log is an {@linkcode EntryPages} (no object per entry)
 * after a dummy position at the snapshot's index and term (`#offset`,
 * `#offsetTerm`), so `term(firstIndex() - 1)` answers without a special
 * case. `entries` builds fresh `Entry` objects each call; their `data` are
 * views that never change.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: 0, commit: 0 };
  #snapshot: Snapshot = {
    meta: { index: 0, term: 0, conf: EMPTY_CONF },
    data: new Uint8Array(),
  };
  /** The index and term of the dummy position: the snapshot's, or the last compacted entry's. */
  #offset = 0;
  #offsetTerm = 0;
  /** Entries `[#offset + 1, lastIndex()]`. */
  #ents = new EntryPages(1);

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
    const offset = this.#offset;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi);
    if (lo >= hi) return [];
    // limitBytes, counted before the entries are built.
    const ents = this.#ents;
    let size = ents.dataLength(lo) + 16;
    let end = lo + 1;
    for (; end < hi; end++) {
      size += ents.dataLength(end) + 16;
      if (size > maxBytes) break;
    }
    const out: Entry[] = new Array(end - lo);
    for (let i = lo; i < end; i++) out[i - lo] = ents.entry(i);
    return out;
  }

  term(i: number): number {
    const offset = this.#offset;
    if (i < offset) throw new CompactedError(i);
    if (i > this.lastIndex()) throw new UnavailableError(i);
    return i === offset ? this.#offsetTerm : this.#ents.term(i);
  }

  firstIndex(): number {
    return this.#offset + 1;
  }

  lastIndex(): number {
    return this.#ents.last;
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
    this.#offset = snap.meta.index;
    this.#offsetTerm = snap.meta.term;
    this.#ents = new EntryPages(snap.meta.index + 1);
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
    const offset = this.#offset;
    if (compactIndex <= offset) return;
    assert(
      compactIndex <= this.lastIndex(),
      `compact ${compactIndex} beyond last index ${this.lastIndex()}`,
    );
    this.#offsetTerm = this.#ents.term(compactIndex);
    this.#offset = compactIndex;
    this.#ents.dropBefore(compactIndex + 1);
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
    const at = ents[0]!.index;
    // The message is built only on failure: this runs for every append.
    if (at > this.lastIndex() + 1) {
      throw new AssertionError(
        `missing log entry: last ${this.lastIndex()}, appending at ${at}`,
      );
    }
    if (at <= this.lastIndex()) this.#ents.truncateAfter(at - 1);
    for (const e of ents) this.#ents.push(e);
  }
}
