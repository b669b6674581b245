/**
 * Revisions: the numbers every key carries besides its value (COORDINATION.md
 * "Revisions"). The raft index is the revision: `modIndex` is the index of
 * the entry that last wrote the key, `createIndex` the index of the entry
 * that created it, `version` the number of writes since creation, and
 * `lease` the lease the key is attached to (0 = none; leases come later, the
 * slot is reserved now so the snapshot format need not change again).
 *
 * @module
 */

/** A key's revision record. All fields are safe integers >= 0. */
export interface KeyRevision {
  /** Index of the entry that created the key (after a delete, the next put creates anew). */
  readonly createIndex: number;
  /** Index of the entry that last wrote the key. */
  readonly modIndex: number;
  /** Writes since creation: 1 after the creating put. */
  readonly version: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: number;
}

/** The revision of an absent key: every field 0. */
export const ABSENT_REVISION: KeyRevision = Object.freeze({
  createIndex: 0,
  modIndex: 0,
  version: 0,
  lease: 0,
});

/** Numbers per slot in a {@linkcode RevisionTable}. */
const FIELDS = 4;
const CREATE = 0;
const MOD = 1;
const VERSION = 2;
const LEASE = 3;
/** Slots per page (a power of two): 4096 slots, 128 KiB. */
const PAGE_BITS = 12;
/** The number of slots in one page of a {@linkcode RevisionTable}. */
export const REVISION_PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = REVISION_PAGE_SLOTS - 1;

/**
 * Revision records by slot number, packed in fixed-size `Float64Array`
 * pages (32 bytes a slot, no object per key). Growing adds pages and never
 * copies the ones there are, so making room for one more slot costs one
 * page at most, whatever the number of keys. A free slot holds zeros.
 */
export class RevisionTable {
  #pages: Float64Array[] = [];

  /** The number of slots there is room for (a multiple of the page size). */
  get capacity(): number {
    return this.#pages.length * REVISION_PAGE_SLOTS;
  }

  /** The number of pages held. */
  get pageCount(): number {
    return this.#pages.length;
  }

  /**
   * Makes room for slots 0..capacity-1 (never shrinks): adds the pages
   * missing, keeping the others as they are.
   */
  reserve(capacity: number): void {
    while (this.capacity < capacity) {
      this.#pages.push(new Float64Array(REVISION_PAGE_SLOTS * FIELDS));
    }
  }

  /** The page of `slot`. */
  #page(slot: number): Float64Array {
    return this.#pages[slot >>> PAGE_BITS]!;
  }

  /** The index of the entry that created the key in `slot`. */
  createIndex(slot: number): number {
    return this.#page(slot)[(slot & PAGE_MASK) * FIELDS + CREATE]!;
  }

  /** The index of the entry that last wrote the key in `slot` (0 when free). */
  modIndex(slot: number): number {
    return this.#page(slot)[(slot & PAGE_MASK) * FIELDS + MOD]!;
  }

  /** Writes since creation of the key in `slot`. */
  version(slot: number): number {
    return this.#page(slot)[(slot & PAGE_MASK) * FIELDS + VERSION]!;
  }

  /** The lease of the key in `slot`, 0 for none. */
  lease(slot: number): number {
    return this.#page(slot)[(slot & PAGE_MASK) * FIELDS + LEASE]!;
  }

  /** The record of `slot` as an object. */
  get(slot: number): KeyRevision {
    const at = (slot & PAGE_MASK) * FIELDS;
    const c = this.#page(slot);
    return {
      createIndex: c[at + CREATE]!,
      modIndex: c[at + MOD]!,
      version: c[at + VERSION]!,
      lease: c[at + LEASE]!,
    };
  }

  /** Sets the whole record of `slot` (reserved first). */
  set(slot: number, r: KeyRevision): void {
    const at = (slot & PAGE_MASK) * FIELDS;
    const c = this.#page(slot);
    c[at + CREATE] = r.createIndex;
    c[at + MOD] = r.modIndex;
    c[at + VERSION] = r.version;
    c[at + LEASE] = r.lease;
  }

  /**
   * Records a write at `index` to `slot`: a creation (version 1, createIndex
   * = index) when `created`, otherwise the next version of the same key.
   */
  write(slot: number, index: number, created: boolean, lease: number): void {
    const at = (slot & PAGE_MASK) * FIELDS;
    const c = this.#page(slot);
    if (created) {
      c[at + CREATE] = index;
      c[at + VERSION] = 1;
    } else {
      c[at + VERSION] = c[at + VERSION]! + 1;
    }
    c[at + MOD] = index;
    c[at + LEASE] = lease;
  }

  /** Zeroes `slot` (its key was deleted). */
  clear(slot: number): void {
    const at = (slot & PAGE_MASK) * FIELDS;
    this.#page(slot).fill(0, at, at + FIELDS);
  }
}
