/**
 * A sorted set of keys kept as a list of small sorted chunks, so insert and
 * delete cost O(log n + chunk) instead of shifting one large array, and a
 * range scan starts in O(log n) and then walks in order.
 *
 * {@linkcode SortedKeys.freeze} hands out the set as it is now in O(1)
 * ({@linkcode FrozenKeys}): the chunks are then shared, and the live set
 * copies the list of chunks, or a chunk, before its first change to it
 * (copy-on-write), so the frozen keys never change. That costs at most one
 * copy of each chunk (about 512-1024 pointers) and one of the chunk list
 * per freeze, spread over the writes that follow.
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

/** Returns the index of the first chunk whose last key is >= `key`, or chunks.length. */
function chunkFor(
  chunks: readonly (readonly string[])[],
  key: string,
): number {
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

/**
 * Keys in UTF-8 byte order ({@linkcode compareKeys}).
 *
 * Invariant: every chunk is non-empty and sorted, and the last key of each
 * chunk sorts before the first key of the next one.
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;
  /** Whether a frozen view shares `#chunks` itself (copy before a change). */
  #listShared = false;
  /**
   * Chunks made or copied since the last freeze, which no frozen view
   * shares; undefined when no frozen view is held (every chunk is ours).
   */
  #owned: Set<string[]> | undefined;

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

  /**
   * The keys as they are now, in O(1); later changes to this set never show
   * through it. Call {@linkcode thaw} once no frozen view is in use.
   */
  freeze(): FrozenKeys {
    this.#listShared = true;
    this.#owned = new Set();
    return new FrozenKeys(this.#chunks, this.#size);
  }

  /** No frozen view is in use any more: changes need no copies. */
  thaw(): void {
    this.#listShared = false;
    this.#owned = undefined;
  }

  /** The chunk list, copied first when a frozen view shares it. */
  #list(): string[][] {
    if (this.#listShared) {
      this.#chunks = this.#chunks.slice();
      this.#listShared = false;
    }
    return this.#chunks;
  }

  /** Chunk `c`, copied first when a frozen view shares it. */
  #writable(c: number): string[] {
    const chunks = this.#list();
    const owned = this.#owned;
    if (owned === undefined || owned.has(chunks[c]!)) return chunks[c]!;
    const copy = chunks[c]!.slice();
    chunks[c] = copy;
    owned.add(copy);
    return copy;
  }

  /** Records a chunk made since the last freeze. */
  #made(chunk: string[]): string[] {
    this.#owned?.add(chunk);
    return chunk;
  }

  /** Adds `key`; returns false when it was already there. */
  insert(key: string): boolean {
    if (this.#chunks.length === 0) {
      this.#list().push(this.#made([key]));
      this.#size = 1;
      return true;
    }
    let c = chunkFor(this.#chunks, key);
    if (c === this.#chunks.length) c--; // larger than every key: append to the last chunk
    const found = this.#chunks[c]!;
    const pos = lowerBound(found, key);
    if (pos < found.length && found[pos] === key) return false;
    const chunk = this.#writable(c);
    if (pos === chunk.length) chunk.push(key);
    else chunk.splice(pos, 0, key);
    this.#size++;
    if (chunk.length > 2 * CHUNK_KEYS) {
      this.#chunks.splice(c + 1, 0, this.#made(chunk.splice(CHUNK_KEYS)));
    }
    return true;
  }

  /** Removes `key`; returns false when it was not there. */
  delete(key: string): boolean {
    const c = chunkFor(this.#chunks, key);
    if (c === this.#chunks.length) return false;
    const found = this.#chunks[c]!;
    const pos = lowerBound(found, key);
    if (pos === found.length || found[pos] !== key) return false;
    const chunk = this.#writable(c);
    chunk.splice(pos, 1);
    if (chunk.length === 0) this.#chunks.splice(c, 1);
    this.#size--;
    return true;
  }

  /**
   * Calls `visit` with each key >= `start` in order until it returns false
   * or the keys run out.
   */
  scan(start: string, visit: (key: string) => boolean): void {
    const chunks = this.#chunks;
    let c = chunkFor(this.#chunks, start);
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

/**
 * The keys of a {@linkcode SortedKeys} as they were when it was frozen:
 * never changes (the live set copies what it changes).
 */
export class FrozenKeys {
  readonly #chunks: readonly (readonly string[])[];
  /** The number of keys. */
  readonly size: number;

  constructor(chunks: readonly (readonly string[])[], size: number) {
    this.#chunks = chunks;
    this.size = size;
  }

  /** Whether `key` is among the keys; O(log n). */
  has(key: string): boolean {
    const chunks = this.#chunks;
    const lo = chunkFor(chunks, key);
    if (lo === chunks.length) return false;
    const chunk = chunks[lo]!;
    return chunk[lowerBound(chunk, key)] === key;
  }

  /** The keys in order. */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const chunk of this.#chunks) yield* chunk;
  }
}
