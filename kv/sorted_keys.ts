/**
 * A sorted set of keys kept as a list of small sorted chunks, so insert and
 * delete cost O(log n + chunk) instead of shifting one large array, and a
 * range scan starts in O(log n) and then walks in order.
 *
 * @module
 */

import { compareKeys } from "./key.ts";

/** Chunks split when they grow past twice this many keys. */
const CHUNK_KEYS = 512;

/** Returns the first position in sorted `arr` whose key is >= `key`. */
function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(arr[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Keys in UTF-8 byte order ({@linkcode compareKeys}).
 *
 * Invariant: every chunk is non-empty and sorted, and the last key of each
 * chunk sorts before the first key of the next one.
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;

  /** Builds a set from keys already in strictly increasing order. */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const set = new SortedKeys();
    for (let i = 0; i < keys.length; i += CHUNK_KEYS) {
      set.#chunks.push(keys.slice(i, i + CHUNK_KEYS));
    }
    set.#size = keys.length;
    return set;
  }

  /** The number of keys. */
  get size(): number {
    return this.#size;
  }

  /** Returns the index of the first chunk whose last key is >= `key`, or chunks.length. */
  #chunkFor(key: string): number {
    const chunks = this.#chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = chunks[mid]!;
      if (compareKeys(chunk[chunk.length - 1]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `key`; returns false when it was already there. */
  insert(key: string): boolean {
    const chunks = this.#chunks;
    if (chunks.length === 0) {
      chunks.push([key]);
      this.#size = 1;
      return true;
    }
    let c = this.#chunkFor(key);
    if (c === chunks.length) c--; // larger than every key: append to the last chunk
    const chunk = chunks[c]!;
    const pos = lowerBound(chunk, key);
    if (pos < chunk.length && chunk[pos] === key) return false;
    if (pos === chunk.length) chunk.push(key);
    else chunk.splice(pos, 0, key);
    this.#size++;
    if (chunk.length > 2 * CHUNK_KEYS) {
      chunks.splice(c + 1, 0, chunk.splice(CHUNK_KEYS));
    }
    return true;
  }

  /** Removes `key`; returns false when it was not there. */
  delete(key: string): boolean {
    const chunks = this.#chunks;
    const c = this.#chunkFor(key);
    if (c === chunks.length) return false;
    const chunk = chunks[c]!;
    const pos = lowerBound(chunk, key);
    if (pos === chunk.length || chunk[pos] !== key) return false;
    chunk.splice(pos, 1);
    if (chunk.length === 0) chunks.splice(c, 1);
    this.#size--;
    return true;
  }

  /**
   * Calls `visit` with each key >= `start` in order until it returns false
   * or the keys run out.
   */
  scan(start: string, visit: (key: string) => boolean): void {
    const chunks = this.#chunks;
    let c = this.#chunkFor(start);
    if (c === chunks.length) return;
    let pos = lowerBound(chunks[c]!, start);
    for (; c < chunks.length; c++, pos = 0) {
      const chunk = chunks[c]!;
      for (; pos < chunk.length; pos++) {
        if (!visit(chunk[pos]!)) return;
      }
    }
  }

  /** Returns every key in order (a new array). */
  toArray(): string[] {
    return this.#chunks.flat();
  }
}
