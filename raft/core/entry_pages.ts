/**
 * A run of log entries held without an object per entry: the read mirror's
 * log (hundreds of thousands of entries between snapshots) would otherwise
 * be that many long-lived objects (entry, `Uint8Array`, boxed numbers) for
 * the garbage collector to mark on every full cycle.
 *
 * @module
 */

import type { Entry, EntryType } from "./types.ts";
import { AssertionError } from "./errors.ts";

/** Entries per page of the per-entry columns (a power of two). */
const PAGE_ENTRIES = 4096;
/** Numbers per entry in a page: term, type, data chunk, data offset, data length. */
const FIELDS = 5;
const TERM = 0;
const TYPE = 1;
const CHUNK = 2;
const OFFSET = 3;
const LENGTH = 4;
/** The size of a chunk of entry data (a larger entry gets a chunk of its own). */
export const ENTRY_CHUNK_BYTES = 1 << 20;

const TYPES: readonly EntryType[] = ["normal", "conf"];

/**
 * The entries with indexes `[first, last]`, contiguous: terms and types in
 * fixed-size `Float64Array` pages indexed by entry index, data copied into
 * append-only byte chunks. {@linkcode EntryPages.entry} builds a fresh
 * `Entry` whose `data` is a view of the chunk: bytes once written are never
 * written again (a truncated tail's bytes are left behind, not reused), so
 * a view handed out never changes. Dropping the oldest entries lets go of
 * the pages and chunks that hold only dropped ones; nothing is copied.
 */
export class EntryPages {
  #first: number;
  #last: number;
  /** Entry i is in `#pages[floor(i / PAGE_ENTRIES) - #firstPage]`. */
  #pages: Float64Array[] = [];
  #firstPage: number;
  /** Chunk number c is `#chunks[c - #firstChunk]`; the last one is written. */
  #chunks: Uint8Array[] = [];
  #firstChunk = 0;
  /** Bytes written in the last chunk. */
  #used = 0;

  /** An empty run whose first entry will have index `first` (>= 0). */
  constructor(first: number) {
    this.#first = first;
    this.#last = first - 1;
    this.#firstPage = Math.floor(first / PAGE_ENTRIES);
  }

  /** The index of the first entry (`last + 1` when empty). */
  get first(): number {
    return this.#first;
  }

  /** The index of the last entry (`first - 1` when empty). */
  get last(): number {
    return this.#last;
  }

  /** The number of data chunks held (for tests: dropped entries free theirs). */
  get chunkCount(): number {
    return this.#chunks.length;
  }

  /** The number of column pages held (for tests: dropped entries free theirs). */
  get pageCount(): number {
    return this.#pages.length;
  }

  /** Appends a copy of `e`, whose index must be `last + 1`. */
  push(e: Entry): void {
    const i = this.#last + 1;
    // Messages are built only on failure: these run for every entry.
    if (e.index !== i) {
      throw new AssertionError(`entry ${e.index} appended after ${this.#last}`);
    }
    const page = Math.floor(i / PAGE_ENTRIES) - this.#firstPage;
    while (this.#pages.length <= page) {
      this.#pages.push(new Float64Array(PAGE_ENTRIES * FIELDS));
    }
    const n = e.data.length;
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (n > 0 && (chunk === undefined || this.#used + n > chunk.length)) {
      chunk = new Uint8Array(Math.max(ENTRY_CHUNK_BYTES, n));
      this.#chunks.push(chunk);
      this.#used = 0;
    }
    if (n > 0) chunk!.set(e.data, this.#used);
    const at = (i % PAGE_ENTRIES) * FIELDS;
    const p = this.#pages[page]!;
    p[at + TERM] = e.term;
    p[at + TYPE] = e.type === "normal" ? 0 : 1;
    p[at + CHUNK] = this.#firstChunk + this.#chunks.length - 1;
    p[at + OFFSET] = this.#used;
    p[at + LENGTH] = n;
    this.#used += n;
    this.#last = i;
  }

  /** The term of entry `i` (in `[first, last]`). */
  term(i: number): number {
    return this.#field(i, TERM);
  }

  /** The data size of entry `i` (in `[first, last]`), without building it. */
  dataLength(i: number): number {
    return this.#field(i, LENGTH);
  }

  /** Entry `i` (in `[first, last]`), a fresh object; `data` is a view never written again. */
  entry(i: number): Entry {
    const page = this.#pageOf(i);
    const at = (i % PAGE_ENTRIES) * FIELDS;
    const n = page[at + LENGTH]!;
    const data = n === 0 ? new Uint8Array() : this.#chunks[
      page[at + CHUNK]! - this.#firstChunk
    ]!.subarray(page[at + OFFSET]!, page[at + OFFSET]! + n);
    return {
      term: page[at + TERM]!,
      index: i,
      type: TYPES[page[at + TYPE]!]!,
      data,
    };
  }

  /** Drops the entries after `i` (`first - 1 <= i <= last`). */
  truncateAfter(i: number): void {
    if (i < this.#first - 1 || i > this.#last) {
      throw new AssertionError(
        `truncate after ${i} outside [${this.#first - 1}, ${this.#last}]`,
      );
    }
    this.#last = i;
    const keepPages = Math.floor(i / PAGE_ENTRIES) - this.#firstPage + 1;
    if (this.#pages.length > keepPages) {
      this.#pages.length = Math.max(keepPages, 0);
    }
  }

  /** Drops the entries before `i` (`first <= i <= last + 1`). */
  dropBefore(i: number): void {
    if (i < this.#first || i > this.#last + 1) {
      throw new AssertionError(
        `drop before ${i} outside [${this.#first}, ${this.#last + 1}]`,
      );
    }
    this.#first = i;
    if (i > this.#last) {
      // Empty: nothing references the chunks or pages any more.
      this.#chunks = [];
      this.#firstChunk = 0;
      this.#used = 0;
      this.#pages = [];
      this.#firstPage = Math.floor(i / PAGE_ENTRIES);
      return;
    }
    const firstChunk = this.#field(i, CHUNK);
    while (this.#firstChunk < firstChunk) {
      this.#chunks.shift();
      this.#firstChunk++;
    }
    const firstPage = Math.floor(i / PAGE_ENTRIES);
    while (this.#firstPage < firstPage) {
      this.#pages.shift();
      this.#firstPage++;
    }
  }

  #pageOf(i: number): Float64Array {
    if (i < this.#first || i > this.#last) {
      throw new AssertionError(
        `entry ${i} outside [${this.#first}, ${this.#last}]`,
      );
    }
    return this.#pages[Math.floor(i / PAGE_ENTRIES) - this.#firstPage]!;
  }

  #field(i: number, field: number): number {
    return this.#pageOf(i)[(i % PAGE_ENTRIES) * FIELDS + field]!;
  }
}
