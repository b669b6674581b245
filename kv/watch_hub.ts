/**
 * The watch hub: opens and closes {@linkcode Watcher}s on a store, and fans
 * each applied change out to the watchers whose ranges hold it, through a
 * {@linkcode WatcherIndex} (never a scan of every watcher). One message per
 * entry per watcher. Everything runs synchronously inside the store's apply;
 * what a watcher then sends is up to its sender (the HTTP layer).
 *
 * @module
 */

import { CompactedError } from "./errors.ts";
import type { ChangeListener, KvStore } from "./store.ts";
import { batchBytes, type ChangeBatch, type KeyRange } from "./watch_event.ts";
import type { WatchHistory } from "./watch_history.ts";
import { type Cancellation, Watcher, type WatcherHost } from "./watcher.ts";
import { WatcherIndex } from "./watcher_index.ts";

/** The default of `--watch-buffer-bytes`: a stream's buffer bound (1 MiB). */
export const WATCH_BUFFER_BYTES_DEFAULT = 1024 * 1024;

/** Options of {@linkcode WatchHub}. */
export interface WatchHubOptions {
  /** The bound of each stream's buffer, in bytes as `batchBytes` counts them. */
  bufferBytes?: number;
}

/** Counters for `/metrics`. */
export interface WatchStats {
  /** Watchers open now. */
  readonly watchers: number;
  /** Messages taken to be sent, since start. */
  readonly messagesSent: number;
  /** Watchers cancelled for a full buffer or a history that moved on. */
  readonly cancelledSlow: number;
  /** Watchers cancelled because a snapshot replaced the state under them. */
  readonly cancelledCompacted: number;
}

/** Watchers on one store: see the module doc. */
export class WatchHub implements ChangeListener, WatcherHost {
  readonly #store: KvStore;
  readonly #bufferBytes: number;
  readonly #index = new WatcherIndex<Watcher>();
  readonly #unlisten: () => void;
  #messagesSent = 0;
  #cancelledSlow = 0;
  #cancelledCompacted = 0;

  /** Starts listening to `store`'s changes. */
  constructor(store: KvStore, options: WatchHubOptions = {}) {
    this.#store = store;
    this.#bufferBytes = options.bufferBytes ?? WATCH_BUFFER_BYTES_DEFAULT;
    this.#unlisten = store.listen(this);
  }

  /** The store's watch history. */
  get history(): WatchHistory {
    return this.#store.history;
  }

  /** The store's applied index. */
  get appliedIndex(): number {
    return this.#store.appliedIndex;
  }

  /** The counters of {@linkcode WatchStats}, now. */
  get stats(): WatchStats {
    return {
      watchers: this.#index.size,
      messagesSent: this.#messagesSent,
      cancelledSlow: this.#cancelledSlow,
      cancelledCompacted: this.#cancelledCompacted,
    };
  }

  /**
   * Opens a watcher of the keys in `ranges` delivering every change with
   * index >= `from`. `from` may be beyond the applied index: the watcher
   * then sends nothing until the node gets there.
   *
   * @throws {CompactedError} when `from` is below the history's
   * `compactIndex` (HTTP 410).
   * @throws {RangeError} when `from` is not a positive safe integer or
   * `ranges` is empty (the HTTP layer validates first).
   */
  open(ranges: readonly KeyRange[], from: number): Watcher {
    if (!Number.isSafeInteger(from) || from < 1) {
      throw new RangeError(`from must be a positive integer, not ${from}`);
    }
    if (ranges.length === 0) throw new RangeError("no key range to watch");
    const compactIndex = this.history.compactIndex;
    if (from < compactIndex) throw new CompactedError(from, compactIndex);
    const watcher = new Watcher(this, ranges, from, this.#bufferBytes);
    this.#index.add(watcher, ranges);
    return watcher;
  }

  /** Closes `watcher` (its stream ended); nothing more is queued for it. */
  close(watcher: Watcher): void {
    this.#index.remove(watcher);
  }

  /**
   * Calls `listener` on every change of the store from now on, like the
   * hub itself (lock waiters park this way); returns the unsubscribe.
   */
  listen(listener: ChangeListener): () => void {
    return this.#store.listen(listener);
  }

  /** Stops listening to the store; open watchers get nothing more. */
  dispose(): void {
    this.#unlisten();
  }

  /**
   * {@linkcode ChangeListener}: fans one entry's changes out. An entry of
   * one change (the common case) goes to each matching watcher as the same
   * batch object with its size counted once, with no grouping: a watcher
   * that matches twice ignores the second delivery (same index).
   */
  changed(batch: ChangeBatch): void {
    if (this.#index.size === 0) return;
    const events = batch.events;
    if (events.length === 1) {
      let size = -1;
      this.#index.forEachMatch(events[0]!.key, (watcher) => {
        if (size < 0) size = batchBytes(events);
        watcher.deliver(batch, size);
      });
      return;
    }
    const groups = this.#index.group(events);
    let size = -1;
    for (const [watcher, group] of groups) {
      if (group.length === events.length) {
        if (size < 0) size = batchBytes(events);
        watcher.deliver(batch, size);
      } else {
        watcher.deliver({ index: batch.index, events: group });
      }
    }
  }

  /** {@linkcode ChangeListener}: cancels the watchers a snapshot jumped over. */
  restored(appliedIndex: number): void {
    const watchers: Watcher[] = [];
    this.#index.forEachWatcher((w) => watchers.push(w));
    for (const w of watchers) w.restored(appliedIndex);
  }

  /** {@linkcode WatcherHost}: a watcher ended; it leaves the index. */
  cancelled(watcher: Watcher, cancellation: Cancellation): void {
    this.#index.remove(watcher);
    if (cancellation.reason === "slow") this.#cancelledSlow++;
    else this.#cancelledCompacted++;
  }

  /** {@linkcode WatcherHost}: counts messages sent. */
  sent(count: number): void {
    this.#messagesSent += count;
  }
}
