/**
 * The watch fan-out index: which watchers want a changed key, found without
 * looking at the watchers that do not. Exact keys sit in a map key →
 * watchers; prefixes in a map prefix → watchers, probed with the changed
 * key's own prefixes of only those lengths some registered prefix has. A
 * change costs O(distinct prefix lengths registered + matches), whatever
 * the number of watchers; a watcher that matches nothing costs nothing.
 *
 * @module
 */

import type { KeyRange, WatchEvent } from "./watch_event.ts";

/** Watchers by the key ranges they registered: see the module doc. */
export class WatcherIndex<W> {
  readonly #exact = new Map<string, Set<W>>();
  readonly #prefixes = new Map<string, Set<W>>();
  /** How many registered prefixes have each length. */
  readonly #lengthUse = new Map<number, number>();
  /** The lengths of `#lengthUse`, ascending. */
  #lengths: number[] = [];
  readonly #ranges = new Map<W, readonly KeyRange[]>();

  /** The number of watchers registered. */
  get size(): number {
    return this.#ranges.size;
  }

  /**
   * Registers `watcher` for every key in any of `ranges` (a key, or a
   * prefix; the empty prefix is every key).
   *
   * @throws {RangeError} when `watcher` is registered already.
   */
  add(watcher: W, ranges: readonly KeyRange[]): void {
    if (this.#ranges.has(watcher)) {
      throw new RangeError("the watcher is registered already");
    }
    this.#ranges.set(watcher, ranges);
    for (const range of ranges) {
      if ("key" in range) {
        addTo(this.#exact, range.key, watcher);
      } else if (addTo(this.#prefixes, range.prefix, watcher)) {
        this.#useLength(range.prefix.length, +1);
      }
    }
  }

  /** Unregisters `watcher`; returns false when it was not registered. */
  remove(watcher: W): boolean {
    const ranges = this.#ranges.get(watcher);
    if (ranges === undefined) return false;
    this.#ranges.delete(watcher);
    for (const range of ranges) {
      if ("key" in range) {
        removeFrom(this.#exact, range.key, watcher);
      } else if (removeFrom(this.#prefixes, range.prefix, watcher)) {
        this.#useLength(range.prefix.length, -1);
      }
    }
    return true;
  }

  #useLength(length: number, delta: number): void {
    const use = (this.#lengthUse.get(length) ?? 0) + delta;
    if (use > 0) {
      this.#lengthUse.set(length, use);
      if (use === 1 && delta > 0) {
        this.#lengths = [...this.#lengthUse.keys()].sort((a, b) => a - b);
      }
    } else {
      this.#lengthUse.delete(length);
      this.#lengths = this.#lengths.filter((l) => l !== length);
    }
  }

  /** Calls `visit` for every watcher registered, in registration order. */
  forEachWatcher(visit: (watcher: W) => void): void {
    for (const watcher of this.#ranges.keys()) visit(watcher);
  }

  /**
   * Calls `visit` for each watcher whose ranges hold `key`: once per
   * matching range, so a watcher with two matching prefixes comes twice.
   */
  forEachMatch(key: string, visit: (watcher: W) => void): void {
    this.#exact.get(key)?.forEach(visit);
    const lengths = this.#lengths;
    for (let i = 0; i < lengths.length; i++) {
      const length = lengths[i]!;
      if (length > key.length) break;
      this.#prefixes.get(key.slice(0, length))?.forEach(visit);
    }
  }

  /**
   * Groups the events of one entry by the watchers that want them: each
   * matching watcher gets its events once each, in the entry's order.
   */
  group(events: readonly WatchEvent[]): Map<W, WatchEvent[]> {
    const out = new Map<W, WatchEvent[]>();
    for (const event of events) {
      this.forEachMatch(event.key, (watcher) => {
        const list = out.get(watcher);
        if (list === undefined) out.set(watcher, [event]);
        else if (list[list.length - 1] !== event) list.push(event);
      });
    }
    return out;
  }
}

/** Adds `w` under `k`; returns true when `k` was new in `map`. */
function addTo<W>(map: Map<string, Set<W>>, k: string, w: W): boolean {
  const set = map.get(k);
  if (set !== undefined) {
    set.add(w);
    return false;
  }
  map.set(k, new Set([w]));
  return true;
}

/** Removes `w` under `k`; returns true when that emptied `k` from `map`. */
function removeFrom<W>(map: Map<string, Set<W>>, k: string, w: W): boolean {
  const set = map.get(k);
  if (set === undefined || !set.delete(w) || set.size > 0) return false;
  map.delete(k);
  return true;
}
