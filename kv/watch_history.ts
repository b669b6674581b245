/**
 * The change history a watcher resumes from: the {@linkcode ChangeBatch} of
 * every recent applied entry that changed keys, in index order.
 *
 * Retention: every batch of the last `entries` log indexes is kept (the
 * `--watch-history` promise), unless the batches kept pass `bytes`; then
 * the oldest go first, whatever their index. `compactIndex` is the oldest
 * index a watcher can resume from: every change with an index >= it is
 * here. It moves forward as old batches are dropped, and to the snapshot's
 * index + 1 on {@linkcode WatchHistory.reset} (a snapshot replaced the
 * state).
 *
 * Memory: `bytes` counts what {@linkcode batchBytes} charges (keys, values
 * and about 150 bytes of overhead per event, close to their JSON size); the
 * history holds each batch encoded (key and value bytes plus 41 bytes per
 * put event, 4 per batch) and 32 bytes of columns per batch, so the
 * defaults hold at most 64 MiB and, for 100,000 batches of one put of a
 * short key and a 100-byte value, about 18 MB, in a few dozen objects.
 *
 * The history is not in snapshots: it is rebuilt by applying entries, so a
 * node that starts from a snapshot at index S and replays its log serves
 * every change from S + 1 on (`compactIndex` = S + 1).
 *
 * @module
 */

import {
  batchBytes,
  type ChangeBatch,
  type KeyRange,
  rangeContains,
  type WatchEvent,
} from "./watch_event.ts";

/** The default of `--watch-history`: log entries whose changes are kept. */
export const WATCH_HISTORY_ENTRIES_DEFAULT = 100_000;
/** The default byte bound of the history (64 MiB). */
export const WATCH_HISTORY_BYTES_DEFAULT = 64 * 1024 * 1024;

/** Options of {@linkcode WatchHistory}. */
export interface WatchHistoryOptions {
  /** Keep the changes of at least this many last log entries (>= 0). */
  entries?: number;
  /** Drop the oldest changes when more than this many bytes are kept. */
  bytes?: number;
}

/** A page of {@linkcode WatchHistory.read}. */
export interface HistoryPage {
  /** Batches with index >= from, each cut down to the events in range; none empty. */
  batches: ChangeBatch[];
  /** The `from` of the next page. */
  next: number;
  /** True when the page reached the newest batch kept. */
  done: boolean;
}

/** Batches per page of the per-batch columns (a power of two). */
const PAGE_BITS = 12;
const PAGE_BATCHES = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_BATCHES - 1;
/** Numbers per batch in a page: its index, its charged bytes, where its events are. */
const FIELDS = 4;
const INDEX = 0;
const SIZE = 1;
const CHUNK = 2;
const OFFSET = 3;
/** The size of a chunk of encoded events (a batch larger than this gets a chunk of its own). */
export const HISTORY_CHUNK_BYTES = 1 << 20;

/** Event kinds in the encoded form. */
const PUT = 0;
const DELETE = 1;
const DELETE_BY_LEASE = 2;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * Recent changes by index: see the module doc.
 *
 * Layout: the history holds no object per batch or per event, so a long
 * history costs the garbage collector a few hundred objects, not millions
 * (a collector marks every live object each full cycle). Each batch's
 * events are encoded into append-only byte chunks of
 * {@linkcode HISTORY_CHUNK_BYTES}; its index, charged bytes and position are
 * numbers in fixed-size `Float64Array` pages. Dropping the oldest batches
 * moves a head position and lets go of pages and chunks that hold only
 * dropped batches. {@linkcode WatchHistory.read} decodes the batches it
 * returns (fresh objects each call, values copied out).
 *
 * Encoded event: kind (1 byte: put, delete, delete by lease), key length
 * (uint32) and UTF-8 bytes, then for a put the value length (uint32) and
 * bytes and createIndex, modIndex, version, lease (float64 each); for a
 * delete, modIndex (float64). A batch is its event count (uint32) and its
 * events, never split across chunks.
 */
export class WatchHistory {
  readonly #entries: number;
  readonly #maxBytes: number;
  /** Per-batch columns: position p is in `#pages[(p >> PAGE_BITS) - #firstPage]`. */
  #pages: Float64Array[] = [];
  #firstPage = 0;
  /** Position (count of batches appended since the last reset) of the oldest kept. */
  #head = 0;
  /** Position the next batch gets. */
  #tail = 0;
  /** Encoded events: chunk number c is `#chunks[c - #firstChunk]`; the last one is written. */
  #chunks: Uint8Array[] = [];
  #views: DataView[] = [];
  #firstChunk = 0;
  /** Bytes written in the last chunk. */
  #used = 0;
  #bytes = 0;
  #compactIndex = 1;

  constructor(options: WatchHistoryOptions = {}) {
    this.#entries = options.entries ?? WATCH_HISTORY_ENTRIES_DEFAULT;
    this.#maxBytes = options.bytes ?? WATCH_HISTORY_BYTES_DEFAULT;
  }

  /** The oldest index a watcher can resume from (>= 1). */
  get compactIndex(): number {
    return this.#compactIndex;
  }

  /** The number of batches kept. */
  get size(): number {
    return this.#tail - this.#head;
  }

  /** The bytes charged for the batches kept ({@linkcode batchBytes}). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The index of the newest batch kept, 0 when none. */
  get lastIndex(): number {
    return this.size === 0 ? 0 : this.#field(this.#tail - 1, INDEX);
  }

  /** The number of byte chunks held (for tests: dropped batches free theirs). */
  get chunkCount(): number {
    return this.#chunks.length;
  }

  /** The number of column pages held (for tests: dropped batches free theirs). */
  get pageCount(): number {
    return this.#pages.length;
  }

  /**
   * Appends the changes of the entry at `batch.index`, which must be above
   * every index appended before, and drops what retention lets go. The
   * history keeps an encoded copy: `batch` is not held.
   */
  append(batch: ChangeBatch): void {
    if (batch.index <= this.lastIndex || batch.index < this.#compactIndex) {
      throw new RangeError(
        `history index ${batch.index} not above ${this.lastIndex}`,
      );
    }
    const size = batchBytes(batch.events);
    const [chunk, offset] = this.#encode(batch.events);
    const p = this.#tail;
    if ((p >> PAGE_BITS) - this.#firstPage === this.#pages.length) {
      if (this.#pages.length === 0) this.#firstPage = p >> PAGE_BITS;
      this.#pages.push(new Float64Array(PAGE_BATCHES * FIELDS));
    }
    const page = this.#pages[(p >> PAGE_BITS) - this.#firstPage]!;
    const at = (p & PAGE_MASK) * FIELDS;
    page[at + INDEX] = batch.index;
    page[at + SIZE] = size;
    page[at + CHUNK] = chunk;
    page[at + OFFSET] = offset;
    this.#tail++;
    this.#bytes += size;
    const oldestKept = batch.index - this.#entries + 1;
    while (
      this.size > 0 &&
      (this.#field(this.#head, INDEX) < oldestKept ||
        this.#bytes > this.#maxBytes)
    ) this.#dropOldest();
    this.#release();
  }

  /**
   * Forgets everything: the state was replaced by a snapshot's at
   * `appliedIndex`, so the history starts over after it (`compactIndex` =
   * `appliedIndex` + 1, also when that is lower than before).
   */
  reset(appliedIndex: number): void {
    this.#pages = [];
    this.#firstPage = 0;
    this.#head = 0;
    this.#tail = 0;
    this.#chunks = [];
    this.#views = [];
    this.#firstChunk = 0;
    this.#used = 0;
    this.#bytes = 0;
    this.#compactIndex = appliedIndex + 1;
  }

  #field(p: number, field: number): number {
    return this.#pages[(p >> PAGE_BITS) - this.#firstPage]![
      (p & PAGE_MASK) * FIELDS + field
    ]!;
  }

  #dropOldest(): void {
    this.#bytes -= this.#field(this.#head, SIZE);
    this.#compactIndex = this.#field(this.#head, INDEX) + 1;
    this.#head++;
  }

  /** Lets go of the pages and chunks that hold only dropped batches. */
  #release(): void {
    const headPage = this.#head >> PAGE_BITS;
    while (this.#pages.length > 0 && this.#firstPage < headPage) {
      this.#pages.shift();
      this.#firstPage++;
    }
    if (this.size === 0) {
      // Nothing kept: the newest chunk is written again from its start
      // (read copies out what it returns, so no one sees its old bytes).
      while (this.#chunks.length > 1) {
        this.#chunks.shift();
        this.#views.shift();
        this.#firstChunk++;
      }
      this.#used = 0;
      return;
    }
    const headChunk = this.#field(this.#head, CHUNK);
    while (this.#firstChunk < headChunk) {
      this.#chunks.shift();
      this.#views.shift();
      this.#firstChunk++;
    }
  }

  /** Writes `events` into the current chunk (or a new one); returns where. */
  #encode(events: readonly WatchEvent[]): [number, number] {
    let bound = 4;
    for (const e of events) {
      bound += 1 + 4 + e.key.length * 3 + 8;
      if (e.type === "put") bound += 4 + e.value.length + 24;
    }
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (chunk === undefined || this.#used + bound > chunk.length) {
      chunk = new Uint8Array(Math.max(HISTORY_CHUNK_BYTES, bound));
      this.#chunks.push(chunk);
      this.#views.push(new DataView(chunk.buffer));
      this.#used = 0;
    }
    const view = this.#views[this.#views.length - 1]!;
    const start = this.#used;
    let at = start;
    view.setUint32(at, events.length);
    at += 4;
    for (const e of events) {
      if (e.type === "put") chunk[at++] = PUT;
      else chunk[at++] = e.reason === "lease" ? DELETE_BY_LEASE : DELETE;
      at = writeKey(chunk, view, at, e.key);
      if (e.type === "put") {
        view.setUint32(at, e.value.length);
        chunk.set(e.value, at + 4);
        at += 4 + e.value.length;
        view.setFloat64(at, e.createIndex);
        view.setFloat64(at + 8, e.modIndex);
        view.setFloat64(at + 16, e.version);
        view.setFloat64(at + 24, e.lease);
        at += 32;
      } else {
        view.setFloat64(at, e.modIndex);
        at += 8;
      }
    }
    this.#used = at;
    return [this.#firstChunk + this.#chunks.length - 1, start];
  }

  /** The events of the batch at position `p`, decoded. */
  #decode(p: number): WatchEvent[] {
    const c = this.#field(p, CHUNK) - this.#firstChunk;
    const chunk = this.#chunks[c]!;
    const view = this.#views[c]!;
    let at = this.#field(p, OFFSET);
    const n = view.getUint32(at);
    at += 4;
    const events: WatchEvent[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const kind = chunk[at++]!;
      const keyLength = view.getUint32(at);
      const key = readKey(chunk, at + 4, keyLength);
      at += 4 + keyLength;
      if (kind === PUT) {
        const valueLength = view.getUint32(at);
        const value = chunk.slice(at + 4, at + 4 + valueLength);
        at += 4 + valueLength;
        events[i] = {
          type: "put",
          key,
          value,
          createIndex: view.getFloat64(at),
          modIndex: view.getFloat64(at + 8),
          version: view.getFloat64(at + 16),
          lease: view.getFloat64(at + 24),
        };
        at += 32;
      } else {
        const modIndex = view.getFloat64(at);
        at += 8;
        events[i] = kind === DELETE_BY_LEASE
          ? { type: "delete", key, modIndex, reason: "lease" }
          : { type: "delete", key, modIndex };
      }
    }
    return events;
  }

  /** The position of the first batch kept with index >= `from`. */
  #lowerBound(from: number): number {
    let lo = this.#head;
    let hi = this.#tail;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.#field(mid, INDEX) < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Returns the changes with index >= `from` (>= `compactIndex`) to keys in
   * any of `ranges`, one batch per entry, stopping after the batch that
   * brings the page to `maxBytes` (so a page is never empty while changes
   * remain). Costs O(log n + events scanned).
   *
   * @throws {RangeError} when `from` is below `compactIndex`.
   */
  read(
    from: number,
    ranges: readonly KeyRange[],
    maxBytes = Infinity,
  ): HistoryPage {
    if (from < this.#compactIndex) {
      throw new RangeError(
        `from ${from} is below the compact index ${this.#compactIndex}`,
      );
    }
    const batches: ChangeBatch[] = [];
    let bytes = 0;
    const end = this.#tail;
    let p = this.#lowerBound(from);
    for (; p < end && bytes < maxBytes; p++) {
      const all = this.#decode(p);
      const events = eventsIn(all, ranges);
      if (events.length === 0) continue;
      batches.push({ index: this.#field(p, INDEX), events });
      bytes += events.length === all.length
        ? this.#field(p, SIZE)
        : batchBytes(events);
    }
    const done = p === end;
    const next = done
      ? Math.max(from, this.lastIndex + 1)
      : this.#field(p, INDEX);
    return { batches, next, done };
  }
}

/** Writes `key` as uint32 length + UTF-8 at `at`; returns the end. */
function writeKey(
  chunk: Uint8Array,
  view: DataView,
  at: number,
  key: string,
): number {
  let n = 0;
  for (; n < key.length; n++) {
    const c = key.charCodeAt(n);
    if (c >= 0x80) break;
    chunk[at + 4 + n] = c;
  }
  if (n < key.length) {
    n = utf8Encoder.encodeInto(key, chunk.subarray(at + 4)).written;
  }
  view.setUint32(at, n);
  return at + 4 + n;
}

/** The key of `length` UTF-8 bytes at `at`. */
function readKey(chunk: Uint8Array, at: number, length: number): string {
  let ascii = true;
  for (let i = 0; i < length; i++) {
    if (chunk[at + i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return utf8Decoder.decode(chunk.subarray(at, at + length));
  if (length <= 64) {
    return String.fromCharCode(...chunk.subarray(at, at + length));
  }
  return utf8Decoder.decode(chunk.subarray(at, at + length));
}

/** The events of `events` whose key is in any of `ranges`, in order. */
function eventsIn(
  events: readonly WatchEvent[],
  ranges: readonly KeyRange[],
): WatchEvent[] {
  return events.filter((e) => ranges.some((r) => rangeContains(r, e.key)));
}
