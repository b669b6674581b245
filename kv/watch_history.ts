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
 * heap holds about 300 bytes more per batch (measured: 100,000 batches of
 * one 100-byte put take about 44 MB), so the defaults hold at most about
 * 64 MiB plus 30 MB.
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

/** Recent changes by index: see the module doc. */
export class WatchHistory {
  readonly #entries: number;
  readonly #maxBytes: number;
  /** Batches in index order from `#head` on (dropped ones are cut lazily). */
  #batches: (ChangeBatch | undefined)[] = [];
  #sizes: number[] = [];
  #head = 0;
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
    return this.#batches.length - this.#head;
  }

  /** The bytes charged for the batches kept ({@linkcode batchBytes}). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The index of the newest batch kept, 0 when none. */
  get lastIndex(): number {
    return this.size === 0 ? 0 : this.#batches[this.#batches.length - 1]!.index;
  }

  /**
   * Appends the changes of the entry at `batch.index`, which must be above
   * every index appended before, and drops what retention lets go.
   */
  append(batch: ChangeBatch): void {
    if (batch.index <= this.lastIndex || batch.index < this.#compactIndex) {
      throw new RangeError(
        `history index ${batch.index} not above ${this.lastIndex}`,
      );
    }
    const size = batchBytes(batch.events);
    this.#batches.push(batch);
    this.#sizes.push(size);
    this.#bytes += size;
    const oldestKept = batch.index - this.#entries + 1;
    while (
      this.size > 0 &&
      (this.#batches[this.#head]!.index < oldestKept ||
        this.#bytes > this.#maxBytes)
    ) this.#dropOldest();
    this.#compact();
  }

  /**
   * Forgets everything: the state was replaced by a snapshot's at
   * `appliedIndex`, so the history starts over after it (`compactIndex` =
   * `appliedIndex` + 1, also when that is lower than before).
   */
  reset(appliedIndex: number): void {
    this.#batches = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#compactIndex = appliedIndex + 1;
  }

  #dropOldest(): void {
    const batch = this.#batches[this.#head]!;
    this.#bytes -= this.#sizes[this.#head]!;
    this.#batches[this.#head] = undefined; // cut off by #compact
    this.#head++;
    this.#compactIndex = batch.index + 1;
  }

  /** Cuts dropped batches off the arrays once they are half of them. */
  #compact(): void {
    if (this.#head < 1024 || this.#head * 2 < this.#batches.length) return;
    this.#batches = this.#batches.slice(this.#head);
    this.#sizes = this.#sizes.slice(this.#head);
    this.#head = 0;
  }

  /** The position of the first batch kept with index >= `from`. */
  #lowerBound(from: number): number {
    let lo = this.#head;
    let hi = this.#batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#batches[mid]!.index < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Returns the changes with index >= `from` (>= `compactIndex`) to keys in
   * any of `ranges`, one batch per entry, stopping after the batch that
   * brings the page to `maxBytes` (so a page is never empty while changes
   * remain). Costs O(log n + batches scanned).
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
    const end = this.#batches.length;
    let i = this.#lowerBound(from);
    for (; i < end && bytes < maxBytes; i++) {
      const batch = this.#batches[i]!;
      const events = eventsIn(batch.events, ranges);
      if (events.length === 0) continue;
      const kept = events.length === batch.events.length
        ? batch
        : { index: batch.index, events };
      batches.push(kept);
      bytes += kept === batch ? this.#sizes[i]! : batchBytes(events);
    }
    const done = i === end;
    const next = done
      ? Math.max(from, this.lastIndex + 1)
      : this.#batches[i]!.index;
    return { batches, next, done };
  }
}

/** The events of `events` whose key is in any of `ranges`, in order. */
function eventsIn(
  events: readonly WatchEvent[],
  ranges: readonly KeyRange[],
): WatchEvent[] {
  return events.filter((e) => ranges.some((r) => rangeContains(r, e.key)));
}
