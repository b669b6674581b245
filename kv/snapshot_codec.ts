/**
 * The byte format of a store snapshot. Deterministic by construction: the
 * same applied index and the same keys, values and revisions in the same
 * (sorted) order always give the same bytes. Little-endian throughout.
 * Version 2 (written since revisions exist):
 *
 * ```
 * "RKVS" | version u8 = 2 | appliedIndex u64 | count u32
 * count × ( keyBytes u16 | key (UTF-8) | createIndex u64 | modIndex u64
 *           | version u64 | lease u64 | valueBytes u32 | value )
 * sectionCount u32
 * sectionCount × ( tag u16 | sectionBytes u32 | section )
 * ```
 *
 * The records are one pass in key order after a header that needs only the
 * count, so a point-in-time view of the store is written in slices
 * ({@linkcode SnapshotSliceWriter}). Sections are where later state goes
 * without a new version; a snapshot with a tag this version does not know is
 * refused (a newer raftkv wrote it, and loading it would lose state).
 *
 * Known sections: tag 1, the lease table (written only when a lease
 * exists): `count u32 | count × ( id u64 | ttl u32 )` in increasing id
 * order. Attached keys are not repeated there: each key's `lease` field
 * says it, and every such lease must be in the table.
 *
 * Version 1 (before revisions) still loads:
 *
 * ```
 * "RKVS" | version u8 = 1 | appliedIndex u64 | count u32
 * count × ( keyBytes u16 | key (UTF-8) | index u64 | valueBytes u32 | value )
 * ```
 *
 * A version-1 key gets `modIndex` = its recorded index (so ETags and
 * `If-Match` keep working across the upgrade), `createIndex` = the same
 * index, `version` 1 and no lease: as if the last write had created it.
 *
 * Integrity (CRC) is the snapshot file's job; decoding still checks every
 * length and rule so a bad snapshot is refused, never half-loaded.
 *
 * @module
 */

import { InvalidSnapshotError } from "./errors.ts";
import { compareKeys, MAX_KEY_BYTES, utf8ByteLength } from "./key.ts";
import type { KeyRevision } from "./revision.ts";
import type { Lease } from "./lease_table.ts";

const MAGIC = [0x52, 0x4b, 0x56, 0x53]; // "RKVS"
/** The version written. */
const VERSION = 2;
/** The version before revisions, still read. */
const VERSION_1 = 1;
const HEADER_BYTES = 4 + 1 + 8 + 4;
const ENTRY_FIXED_BYTES = 2 + 4 * 8 + 4;
const ENTRY_FIXED_BYTES_V1 = 2 + 8 + 4;
const SECTION_COUNT_BYTES = 4;
const SECTION_HEADER_BYTES = 2 + 4;
const LEASE_SECTION_TAG = 1;
const LEASE_RECORD_BYTES = 8 + 4;
const TWO_POW_32 = 0x1_0000_0000;

/** One key's record in a snapshot. */
export interface SnapshotEntry extends KeyRevision {
  key: string;
  value: Uint8Array;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function writeU64(view: DataView, pos: number, n: number): void {
  view.setUint32(pos, n % TWO_POW_32, true);
  view.setUint32(pos + 4, Math.floor(n / TWO_POW_32), true);
}

function readU64(view: DataView, pos: number): number {
  const lo = view.getUint32(pos, true);
  const hi = view.getUint32(pos + 4, true);
  if (hi >= 0x20_0000) throw new InvalidSnapshotError("an index exceeds 2^53");
  return hi * TWO_POW_32 + lo;
}

/** The bytes of a snapshot besides its records: header and section count. */
export const SNAPSHOT_FRAME_BYTES = HEADER_BYTES + SECTION_COUNT_BYTES;

/** The bytes of the lease section for `leases` leases (0: none is written). */
export function leaseSectionBytes(leases: number): number {
  return leases === 0
    ? 0
    : SECTION_HEADER_BYTES + 4 + leases * LEASE_RECORD_BYTES;
}

/** The bytes of one record whose key has `keyBytes` bytes of UTF-8. */
export function snapshotRecordBytes(
  keyBytes: number,
  valueBytes: number,
): number {
  return ENTRY_FIXED_BYTES + keyBytes + valueBytes;
}

/**
 * Writes a snapshot in slices of about `sliceBytes` (a record longer than
 * that gets a slice of its own size): {@linkcode SnapshotSliceWriter.header}
 * once, {@linkcode SnapshotSliceWriter.record} for each key in key order,
 * then {@linkcode SnapshotSliceWriter.finish}. Each call returns the slices
 * it completed; joined in order they are the snapshot's bytes. No object is
 * made per record.
 *
 * With `reuseBuffers`, the writer fills two buffers by turns instead of a
 * fresh one per slice, so writing a snapshot allocates two slices' worth
 * of memory, not the snapshot's size: a slice it returned is then valid
 * only until the slice after the next one is completed, which a caller
 * that is done with each slice before it asks for the next one (a
 * generator's consumer writing it to a file) never notices.
 */
export class SnapshotSliceWriter {
  readonly #sliceBytes: number;
  readonly #reuse: boolean;
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  /** With reuse: the other buffer, whose slice was handed out before. */
  #spare: Uint8Array | undefined;

  constructor(sliceBytes: number, reuseBuffers = false) {
    this.#sliceBytes = Math.max(sliceBytes, HEADER_BYTES);
    this.#reuse = reuseBuffers;
    this.#buf = new Uint8Array(this.#sliceBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Starts the snapshot: its applied index and how many records follow. */
  header(appliedIndex: number, count: number): void {
    const out = this.#buf;
    out.set(MAGIC, 0);
    out[4] = VERSION;
    writeU64(this.#view, 5, appliedIndex);
    this.#view.setUint32(13, count, true);
    this.#pos = HEADER_BYTES;
  }

  /**
   * Adds one key's record; returns the slice it completed, if any (a view
   * of a buffer this writer never touches again).
   */
  record(
    key: string,
    createIndex: number,
    modIndex: number,
    version: number,
    lease: number,
    value: Uint8Array,
  ): Uint8Array | undefined {
    const size = snapshotRecordBytes(utf8ByteLength(key), value.length);
    const full = this.#pos + size > this.#buf.length
      ? this.#next(size)
      : undefined;
    const out = this.#buf;
    const view = this.#view;
    let pos = this.#pos;
    const { written } = utf8Encoder.encodeInto(key, out.subarray(pos + 2));
    view.setUint16(pos, written, true);
    pos += 2 + written;
    writeU64(view, pos, createIndex);
    writeU64(view, pos + 8, modIndex);
    writeU64(view, pos + 16, version);
    writeU64(view, pos + 24, lease);
    view.setUint32(pos + 32, value.length, true);
    pos += 36;
    out.set(value, pos);
    this.#pos = pos + value.length;
    return full;
  }

  /**
   * Ends the snapshot with its sections (the lease section when `leases`,
   * in increasing id order, is not empty); returns the last slices.
   */
  finish(leases: readonly Lease[] = []): Uint8Array[] {
    const out: Uint8Array[] = [];
    const section = leaseSectionBytes(leases.length);
    const size = SECTION_COUNT_BYTES + section;
    if (this.#pos + size > this.#buf.length) {
      const full = this.#next(size);
      if (full) out.push(full);
    }
    const view = this.#view;
    let pos = this.#pos;
    view.setUint32(pos, leases.length === 0 ? 0 : 1, true);
    pos += SECTION_COUNT_BYTES;
    if (leases.length > 0) {
      view.setUint16(pos, LEASE_SECTION_TAG, true);
      view.setUint32(pos + 2, section - SECTION_HEADER_BYTES, true);
      view.setUint32(pos + 6, leases.length, true);
      pos += 10;
      for (const lease of leases) {
        writeU64(view, pos, lease.id);
        view.setUint32(pos + 8, lease.ttl, true);
        pos += LEASE_RECORD_BYTES;
      }
    }
    this.#pos = pos;
    out.push(this.#buf.subarray(0, this.#pos));
    return out;
  }

  /** Hands out the filled part and starts a buffer with room for `size`. */
  #next(size: number): Uint8Array | undefined {
    const full = this.#pos > 0 ? this.#buf.subarray(0, this.#pos) : undefined;
    const want = Math.max(this.#sliceBytes, size);
    const spare = this.#spare;
    if (this.#reuse) this.#spare = this.#buf;
    this.#buf = spare !== undefined && spare.length >= want
      ? spare
      : new Uint8Array(want);
    this.#view = new DataView(this.#buf.buffer);
    this.#pos = 0;
    return full;
  }
}

/** Throws unless `need` more bytes exist at `pos`. */
function need(bytes: Uint8Array, pos: number, n: number): void {
  if (pos + n > bytes.length) {
    throw new InvalidSnapshotError("the snapshot is truncated");
  }
}

/**
 * Reads a snapshot made by {@linkcode SnapshotSliceWriter}, or by the
 * version-1 encoder (see the module doc for what its keys get), one record
 * at a time, checking every length and rule on the way: the constructor
 * reads the header, {@linkcode SnapshotReader.next} each record, and after
 * the last one the end of the snapshot. Values are views into `bytes`: a
 * caller that keeps them past `bytes` should copy them.
 *
 * A snapshot can also be read as it arrives (from a file, say), without
 * ever holding it whole: construct the reader with its first bytes and its
 * `total` length, and before each {@linkcode SnapshotReader.next} give it
 * the bytes {@linkcode SnapshotReader.wanted} asks for
 * ({@linkcode SnapshotReader.feed}); only the record being read and what
 * follows it in the last bytes fed are held.
 *
 * @throws {InvalidSnapshotError} on any malformed input.
 */
export class SnapshotReader {
  /** The applied index the snapshot was taken at. */
  readonly appliedIndex: number;
  /** The number of records. */
  readonly count: number;
  /** The lease table, in increasing id order: complete once `next` returned undefined. */
  leases: Lease[] = [];
  /** The leases the records name. */
  readonly #leaseRefs = new Set<number>();
  /** The bytes held: the snapshot's from `#base` on. */
  #bytes: Uint8Array;
  #view: DataView;
  /** Where `#bytes` starts in the snapshot. */
  #base = 0;
  readonly #total: number;
  readonly #v1: boolean;
  #read = 0;
  #pos = HEADER_BYTES;
  #previous: string | undefined;

  /**
   * Reads the snapshot whose first bytes are `bytes` (all of it, unless
   * `total` says it is longer: see the class doc).
   */
  constructor(bytes: Uint8Array, total = bytes.length) {
    need(bytes, 0, HEADER_BYTES);
    for (let i = 0; i < MAGIC.length; i++) {
      if (bytes[i] !== MAGIC[i]) {
        throw new InvalidSnapshotError("not a raftkv store snapshot");
      }
    }
    const version = bytes[4];
    if (version !== VERSION && version !== VERSION_1) {
      throw new InvalidSnapshotError(`unknown snapshot version ${version}`);
    }
    this.#bytes = bytes;
    this.#total = total;
    this.#v1 = version === VERSION_1;
    this.#view = new DataView(
      bytes.buffer,
      bytes.byteOffset,
      bytes.byteLength,
    );
    this.appliedIndex = readU64(this.#view, 5);
    this.count = this.#view.getUint32(13, true);
    // Each entry takes at least its fixed bytes + 1: refuse absurd counts early.
    const fixed = this.#v1 ? ENTRY_FIXED_BYTES_V1 : ENTRY_FIXED_BYTES;
    if (this.count * (fixed + 1) > total - HEADER_BYTES) {
      throw new InvalidSnapshotError("the snapshot is truncated");
    }
  }

  /**
   * How many more bytes than those held {@linkcode next} needs to read the
   * next record (or, after the last one, the end): 0 once it can go on.
   */
  wanted(): number {
    const missing = this.#total - this.#base - this.#bytes.length;
    if (missing === 0) return 0;
    if (this.#read === this.count) return missing;
    const have = this.#bytes.length - this.#pos;
    const fixed = this.#v1 ? ENTRY_FIXED_BYTES_V1 : ENTRY_FIXED_BYTES;
    if (have < 2) return 2 - have;
    const keyBytes = this.#view.getUint16(this.#pos, true);
    // A bad length is for next() to refuse.
    if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES) return 0;
    const head = keyBytes + fixed;
    if (have < head) return Math.min(head - have, missing);
    const valueBytes = this.#view.getUint32(this.#pos + head - 4, true);
    return Math.min(Math.max(0, head + valueBytes - have), missing);
  }

  /** Adds the next bytes of the snapshot (see the class doc). */
  feed(more: Uint8Array): void {
    const held = this.#bytes.length - this.#pos;
    if (this.#base + this.#bytes.length + more.length > this.#total) {
      throw new InvalidSnapshotError("more bytes than the snapshot has");
    }
    const bytes = new Uint8Array(held + more.length);
    bytes.set(this.#bytes.subarray(this.#pos), 0);
    bytes.set(more, held);
    this.#base += this.#pos;
    this.#pos = 0;
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer);
  }

  /**
   * The next record in key order; undefined after the last one, once the
   * end of the snapshot has been checked too.
   */
  next(): SnapshotEntry | undefined {
    const bytes = this.#bytes;
    const view = this.#view;
    if (this.#read === this.count) {
      this.#end();
      return undefined;
    }
    const fixed = this.#v1 ? ENTRY_FIXED_BYTES_V1 : ENTRY_FIXED_BYTES;
    let pos = this.#pos;
    need(bytes, pos, 2);
    const keyBytes = view.getUint16(pos, true);
    if (keyBytes === 0 || keyBytes > MAX_KEY_BYTES) {
      throw new InvalidSnapshotError(`bad key length ${keyBytes}`);
    }
    need(bytes, pos + 2, keyBytes + fixed - 2);
    let key: string;
    try {
      key = utf8Decoder.decode(bytes.subarray(pos + 2, pos + 2 + keyBytes));
    } catch {
      throw new InvalidSnapshotError("a key is not valid UTF-8");
    }
    const previous = this.#previous;
    if (previous !== undefined && compareKeys(previous, key) >= 0) {
      throw new InvalidSnapshotError(
        "keys are not in strictly increasing order",
      );
    }
    pos += 2 + keyBytes;
    let createIndex: number, modIndex: number, version: number, lease: number;
    if (this.#v1) {
      createIndex = modIndex = readU64(view, pos);
      version = 1;
      lease = 0;
      pos += 8;
    } else {
      createIndex = readU64(view, pos);
      modIndex = readU64(view, pos + 8);
      version = readU64(view, pos + 16);
      lease = readU64(view, pos + 24);
      pos += 32;
    }
    const appliedIndex = this.appliedIndex;
    if (modIndex < 1 || modIndex > appliedIndex) {
      throw new InvalidSnapshotError(
        `key index ${modIndex} outside 1..${appliedIndex}`,
      );
    }
    if (createIndex < 1 || createIndex > modIndex) {
      throw new InvalidSnapshotError(
        `create index ${createIndex} outside 1..${modIndex}`,
      );
    }
    if (version < 1) throw new InvalidSnapshotError("a key has version 0");
    const valueBytes = view.getUint32(pos, true);
    pos += 4;
    need(bytes, pos, valueBytes);
    const entry = {
      key,
      value: bytes.subarray(pos, pos + valueBytes),
      createIndex,
      modIndex,
      version,
      lease,
    };
    if (lease !== 0) this.#leaseRefs.add(lease);
    this.#pos = pos + valueBytes;
    this.#previous = key;
    this.#read++;
    return entry;
  }

  /** Checks what follows the last record. */
  #end(): void {
    const bytes = this.#bytes;
    let pos = this.#pos;
    if (!this.#v1) {
      need(bytes, pos, SECTION_COUNT_BYTES);
      const sections = this.#view.getUint32(pos, true);
      pos += SECTION_COUNT_BYTES;
      for (let s = 0; s < sections; s++) {
        need(bytes, pos, SECTION_HEADER_BYTES);
        const tag = this.#view.getUint16(pos, true);
        const length = this.#view.getUint32(pos + 2, true);
        pos += SECTION_HEADER_BYTES;
        need(bytes, pos, length);
        if (tag !== LEASE_SECTION_TAG || s > 0) {
          throw new InvalidSnapshotError(
            `the snapshot has a section (tag ${tag}) this raftkv does not know (written by a newer version?)`,
          );
        }
        this.leases = decodeLeases(
          bytes.subarray(pos, pos + length),
          this.appliedIndex,
        );
        pos += length;
      }
    }
    if (pos !== bytes.length) {
      throw new InvalidSnapshotError(
        `${bytes.length - pos} unexpected bytes after the last entry`,
      );
    }
    const ids = new Set(this.leases.map((l) => l.id));
    for (const lease of this.#leaseRefs) {
      if (!ids.has(lease)) {
        throw new InvalidSnapshotError(
          `a key is attached to lease ${lease}, which the snapshot does not hold`,
        );
      }
    }
  }
}

/** Decodes the lease section: ids increasing within 1..appliedIndex, ttl >= 1. */
function decodeLeases(bytes: Uint8Array, appliedIndex: number): Lease[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  need(bytes, 0, 4);
  const count = view.getUint32(0, true);
  if (bytes.length !== 4 + count * LEASE_RECORD_BYTES) {
    throw new InvalidSnapshotError("the lease section has a bad length");
  }
  const leases: Lease[] = new Array(count);
  let previous = 0;
  for (let i = 0; i < count; i++) {
    const at = 4 + i * LEASE_RECORD_BYTES;
    const id = readU64(view, at);
    const ttl = view.getUint32(at + 8, true);
    if (id <= previous || id > appliedIndex || ttl < 1) {
      throw new InvalidSnapshotError(`bad lease ${id} (ttl ${ttl})`);
    }
    leases[i] = { id, ttl };
    previous = id;
  }
  return leases;
}
