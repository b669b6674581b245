/**
 * Value bytes packed into large append-only chunks, addressed by slot
 * number. One `Uint8Array` with its own `ArrayBuffer` per value costs about
 * 200 bytes of bookkeeping on top of the value (the view, the buffer object,
 * its backing store); here a value costs its bytes plus 12 bytes of
 * location in typed arrays.
 *
 * Bytes once written are never changed: a value read out is a view into its
 * chunk and stays valid however the arena changes later. Replacing a value
 * appends the new bytes and leaves the old ones dead; a chunk whose dead
 * bytes pass a third of it has its live values moved to the chunk being
 * filled and is then dropped (not reused), so dead space stays below about
 * half of the live bytes plus one chunk.
 *
 * Finding a chunk's live values costs the chunk, not the arena: each chunk
 * lists the slots placed in it (4 bytes a placement, at most one per byte
 * of the chunk: an empty value takes no place), and a slot in the list
 * whose location has since moved to another chunk is skipped. So moving a
 * chunk out looks at no more slots than were ever placed in it, however
 * many keys the arena holds ({@linkcode ValueArena.reclaimWork}).
 *
 * @module
 */

/** Bytes per chunk. */
const CHUNK_BYTES = 256 * 1024;
/** Values at least this long get a chunk of their own, of their exact size. */
const OWN_CHUNK_BYTES = CHUNK_BYTES / 8;
/** No chunk: a free slot. */
const NONE = -1;
/** The list of a chunk nothing was placed in yet. */
const NO_SLOTS = new Int32Array(0);
/** Slots per page of locations (a power of two): 4096 slots, 48 KiB. */
const PAGE_BITS = 12;
/** The number of slots in one page of a {@linkcode ValueArena}'s locations. */
export const ARENA_PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = ARENA_PAGE_SLOTS - 1;

/** Value bytes by slot number: see the module doc. */
export class ValueArena {
  /** Chunks by id; undefined once dropped (the id is then reused). */
  #chunks: (Uint8Array | undefined)[] = [];
  /** Bytes appended to each chunk so far. */
  #used: number[] = [];
  /** Bytes of each chunk still referenced by a slot. */
  #live: number[] = [];
  /** Ids of dropped chunks, to reuse. */
  #freeIds: number[] = [];
  /** The slots placed in each chunk, oldest first (some moved on since). */
  #placed: Int32Array[] = [];
  /** How many entries of each chunk's `#placed` are in use. */
  #placedCount: number[] = [];
  /** The chunk being filled, or NONE. */
  #current = NONE;
  #reclaimWork = 0;
  /**
   * Each slot's location (chunk id, offset, length) in fixed-size pages:
   * growing adds pages and never copies the ones there are, so making room
   * for one more slot costs one page at most, whatever the number of keys.
   */
  #chunkOf: Int32Array[] = [];
  #offsetOf: Int32Array[] = [];
  #lengthOf: Int32Array[] = [];

  /** The number of slots there is room for (a multiple of the page size). */
  get capacity(): number {
    return this.#chunkOf.length * ARENA_PAGE_SLOTS;
  }

  /**
   * Slots looked at so far to move chunks' live values out (tests): each
   * was placed in the chunk moved, so the work of a move is bounded by
   * that chunk, never by the number of slots.
   */
  get reclaimWork(): number {
    return this.#reclaimWork;
  }

  /** The number of chunks held (tests: memory given back). */
  get chunkCount(): number {
    return this.#chunks.length - this.#freeIds.length;
  }

  /** The number of pages of locations held. */
  get pageCount(): number {
    return this.#chunkOf.length;
  }

  /**
   * Makes room for slots 0..capacity-1 (never shrinks): adds the pages
   * missing, keeping the others as they are.
   */
  reserve(capacity: number): void {
    while (this.capacity < capacity) {
      this.#chunkOf.push(new Int32Array(ARENA_PAGE_SLOTS).fill(NONE));
      this.#offsetOf.push(new Int32Array(ARENA_PAGE_SLOTS));
      this.#lengthOf.push(new Int32Array(ARENA_PAGE_SLOTS));
    }
  }

  #chunkIdOf(slot: number): number {
    return this.#chunkOf[slot >>> PAGE_BITS]![slot & PAGE_MASK]!;
  }

  #offsetIn(slot: number): number {
    return this.#offsetOf[slot >>> PAGE_BITS]![slot & PAGE_MASK]!;
  }

  /** Returns a view of the value in `slot` (empty when the slot is free). */
  get(slot: number): Uint8Array {
    const c = this.#chunkIdOf(slot);
    if (c === NONE) return new Uint8Array(0);
    const off = this.#offsetIn(slot);
    return this.#chunks[c]!.subarray(off, off + this.length(slot));
  }

  /** The length of the value in `slot`. */
  length(slot: number): number {
    return this.#lengthOf[slot >>> PAGE_BITS]![slot & PAGE_MASK]!;
  }

  /** Copies the value in `slot` into `out` at `pos`. */
  copyTo(slot: number, out: Uint8Array, pos: number): void {
    const c = this.#chunkIdOf(slot);
    if (c === NONE) return;
    const off = this.#offsetIn(slot);
    out.set(this.#chunks[c]!.subarray(off, off + this.length(slot)), pos);
  }

  /**
   * Stores a copy of `value` in `slot` (reserved first), replacing what was
   * there.
   */
  set(slot: number, value: Uint8Array): void {
    this.clear(slot);
    this.#place(slot, value);
  }

  /** Frees the value in `slot`. */
  clear(slot: number): void {
    const c = this.#chunkIdOf(slot);
    if (c === NONE) return;
    const page = slot >>> PAGE_BITS;
    const at = slot & PAGE_MASK;
    this.#chunkOf[page]![at] = NONE;
    this.#live[c]! -= this.#lengthOf[page]![at]!;
    this.#lengthOf[page]![at] = 0;
    this.#reclaim(c);
  }

  #place(slot: number, value: Uint8Array): void {
    const len = value.length;
    // An empty value reads as a free slot does: it takes no place.
    if (len === 0) return;
    let c: number;
    let off = 0;
    if (len >= OWN_CHUNK_BYTES) {
      c = this.#newChunk(len);
      this.#used[c] = len;
    } else {
      c = this.#current;
      if (c === NONE || this.#used[c]! + len > CHUNK_BYTES) {
        const old = c;
        c = this.#current = this.#newChunk(CHUNK_BYTES);
        if (old !== NONE) this.#reclaim(old);
      }
      off = this.#used[c]!;
      this.#used[c] = off + len;
    }
    this.#chunks[c]!.set(value, off);
    this.#live[c]! += len;
    const page = slot >>> PAGE_BITS;
    const at = slot & PAGE_MASK;
    this.#chunkOf[page]![at] = c;
    this.#offsetOf[page]![at] = off;
    this.#lengthOf[page]![at] = len;
    this.#notePlaced(c, slot);
  }

  /** Adds `slot` to chunk `c`'s list, doubling the list when full. */
  #notePlaced(c: number, slot: number): void {
    let list = this.#placed[c]!;
    const n = this.#placedCount[c]!;
    if (n === list.length) {
      const grown = new Int32Array(Math.max(16, list.length * 2));
      grown.set(list);
      list = this.#placed[c] = grown;
    }
    list[n] = slot;
    this.#placedCount[c] = n + 1;
  }

  #newChunk(size: number): number {
    const c = this.#freeIds.length > 0
      ? this.#freeIds.pop()!
      : this.#chunks.length;
    this.#chunks[c] = new Uint8Array(size);
    this.#used[c] = 0;
    this.#live[c] = 0;
    this.#placed[c] = NO_SLOTS;
    this.#placedCount[c] = 0;
    return c;
  }

  /** Drops chunk `c` when empty, or moves its values out when mostly dead. */
  #reclaim(c: number): void {
    if (c === this.#current) return;
    const live = this.#live[c]!;
    if (live === 0) {
      this.#chunks[c] = undefined;
      this.#used[c] = 0;
      this.#placed[c] = NO_SLOTS;
      this.#placedCount[c] = 0;
      this.#freeIds.push(c);
      return;
    }
    if (live * 3 >= this.#used[c]! * 2) return;
    const chunk = this.#chunks[c]!;
    // Every slot whose value is in `c` was placed in it since it was made,
    // so it is in the list; a slot listed twice, or moved on since, is no
    // longer in `c` when its entry comes and is skipped.
    const list = this.#placed[c]!;
    const n = this.#placedCount[c]!;
    this.#reclaimWork += n;
    for (let k = 0; k < n; k++) {
      const slot = list[k]!;
      if (this.#chunkIdOf(slot) !== c) continue;
      const off = this.#offsetIn(slot);
      const len = this.length(slot);
      this.#live[c]! -= len;
      this.#place(slot, chunk.subarray(off, off + len));
    }
    this.#reclaim(c);
  }
}
