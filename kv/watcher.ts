/**
 * One watch stream's state, as plain data: where it is, what waits to be
 * sent, and whether it was cancelled. No timers and no I/O: the HTTP layer
 * takes messages when its connection can write, and encodes them.
 *
 * A watcher starts catching up: {@linkcode Watcher.take} reads the changes
 * from `from` on out of the history, a page at a time, holding nothing
 * itself. Once it has read the newest change, it is live: each applied
 * change in its ranges is queued in its buffer, bounded in bytes. A buffer
 * that would pass the bound cancels the watcher (`slow`, resume = the last
 * index sent + 1); so does a history that dropped changes the watcher has
 * not read yet. A snapshot that replaces the state under a watcher cancels
 * it as `compacted`: the changes it jumped over cannot be sent one by one.
 *
 * @module
 */

import { batchBytes, type ChangeBatch, type KeyRange } from "./watch_event.ts";
import type { WatchHistory } from "./watch_history.ts";

/** Why a watcher was cancelled. */
export type CancelReason = "slow" | "compacted";

/** A watcher's end: why, and the `from` to pass when reconnecting. */
export interface Cancellation {
  readonly reason: CancelReason;
  /** The last index sent + 1. */
  readonly resume: number;
}

/** What a watcher needs of the node around it (the watch hub). */
export interface WatcherHost {
  /** The changes a catching-up watcher reads. */
  readonly history: WatchHistory;
  /** The index of the last entry applied. */
  readonly appliedIndex: number;
  /** Told once when `watcher` is cancelled (it leaves the fan-out). */
  cancelled(watcher: Watcher, cancellation: Cancellation): void;
  /** Told of every `count` messages taken to be sent. */
  sent(count: number): void;
}

/** One watch stream: see the module doc. */
export class Watcher {
  /** The keys watched. */
  readonly ranges: readonly KeyRange[];
  /** The first index this stream delivers. */
  readonly from: number;
  /**
   * Called (synchronously, from inside the apply) when the watcher had
   * nothing to take and now has: a message, or its cancellation. Set by
   * the sender. The watcher's state is settled before the call, so the
   * sender may take inside it; it must not throw.
   */
  onReady: (() => void) | undefined;
  readonly #host: WatcherHost;
  readonly #bufferBytesMax: number;
  #live = false;
  /** The next index to read from the history, or to accept when live. */
  #next: number;
  #buffer: ChangeBatch[] = [];
  #bufferSizes: number[] = [];
  #bufferBytes = 0;
  #lastSent: number;
  #cancelled: Cancellation | undefined;

  /**
   * A watcher of `ranges` from index `from` (>= 1). Only the hub makes
   * watchers, after checking `from` against the history.
   */
  constructor(
    host: WatcherHost,
    ranges: readonly KeyRange[],
    from: number,
    bufferBytesMax: number,
  ) {
    this.#host = host;
    this.ranges = ranges;
    this.from = from;
    this.#next = from;
    this.#lastSent = from - 1;
    this.#bufferBytesMax = bufferBytesMax;
  }

  /** Why and where the watcher ended, or undefined while it runs. */
  get cancelled(): Cancellation | undefined {
    return this.#cancelled;
  }

  /** The highest index handed out to be sent (from - 1 before any). */
  get lastSent(): number {
    return this.#lastSent;
  }

  /** Whether the watcher has caught up with the history. */
  get live(): boolean {
    return this.#live;
  }

  /** The bytes queued and not yet taken ({@linkcode batchBytes} each). */
  get bufferedBytes(): number {
    return this.#bufferBytes;
  }

  /**
   * Takes the messages to send now, in index order, about `maxBytes` of
   * them (at least one when any is ready): history pages while catching
   * up, then the buffer. They count as sent. An empty answer means: wait
   * for {@linkcode onReady}, then check {@linkcode cancelled} and take
   * again. Never empty while catching up, unless the catch-up just ended.
   */
  take(maxBytes: number = this.#bufferBytesMax): ChangeBatch[] {
    if (this.#cancelled !== undefined) return [];
    let out: ChangeBatch[];
    if (!this.#live) {
      const history = this.#host.history;
      if (this.#next < history.compactIndex) {
        this.cancel("slow");
        return [];
      }
      const page = history.read(this.#next, this.ranges, maxBytes);
      out = page.batches;
      this.#next = page.next;
      if (page.done) {
        this.#live = true;
        this.#next = Math.max(this.#next, this.#host.appliedIndex + 1);
      }
    } else {
      let n = 0;
      let bytes = 0;
      while (n < this.#buffer.length && (n === 0 || bytes < maxBytes)) {
        bytes += this.#bufferSizes[n]!;
        n++;
      }
      out = this.#buffer.splice(0, n);
      this.#bufferSizes.splice(0, n);
      this.#bufferBytes -= bytes;
    }
    if (out.length > 0) {
      this.#lastSent = out[out.length - 1]!.index;
      this.#host.sent(out.length);
    }
    return out;
  }

  /**
   * The id of a progress event to send now, or undefined when there is
   * none: the watcher is live, has nothing queued, and the node has applied
   * at least up to `from - 1`. Every change in range up to the returned
   * index has been taken; it counts as sent.
   */
  progress(): number | undefined {
    if (
      this.#cancelled !== undefined || !this.#live || this.#buffer.length > 0
    ) return undefined;
    const applied = this.#host.appliedIndex;
    if (applied < this.from - 1) return undefined;
    this.#lastSent = Math.max(this.#lastSent, applied);
    return this.#lastSent;
  }

  /**
   * Queues the changes of one applied entry already cut down to this
   * watcher's ranges (the hub's fan-out). Ignored while catching up (the
   * history has them) and below `from`. Cancels the watcher as `slow` when
   * the buffer would pass its bound; a message that alone passes it is
   * still taken into an empty buffer. `size` is `batchBytes(batch.events)`,
   * when the caller has it already (the hub counts a shared batch once).
   */
  deliver(batch: ChangeBatch, size?: number): void {
    if (
      this.#cancelled !== undefined || !this.#live || batch.index < this.#next
    ) return;
    size ??= batchBytes(batch.events);
    if (
      this.#buffer.length > 0 && this.#bufferBytes + size > this.#bufferBytesMax
    ) {
      this.cancel("slow");
      return;
    }
    this.#buffer.push(batch);
    this.#bufferSizes.push(size);
    this.#bufferBytes += size;
    this.#next = batch.index + 1;
    if (this.#buffer.length === 1) this.onReady?.();
  }

  /**
   * A snapshot replaced the state at `appliedIndex`: cancels the watcher
   * as `compacted` unless every change it still has to send is after it.
   */
  restored(appliedIndex: number): void {
    if (this.#next <= appliedIndex) this.cancel("compacted");
  }

  /**
   * Ends the watcher: drops what is queued, leaves the fan-out and wakes
   * the sender to send the cancellation. Does nothing the second time.
   */
  cancel(reason: CancelReason): void {
    if (this.#cancelled !== undefined) return;
    const cancellation = { reason, resume: this.#lastSent + 1 };
    this.#cancelled = cancellation;
    this.#buffer = [];
    this.#bufferSizes = [];
    this.#bufferBytes = 0;
    this.#host.cancelled(this, cancellation);
    this.onReady?.();
  }
}
