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
 * Known sections: tag 1, the lease table (written only when a lease
 * exists): `count u32 | count × ( id u64 | ttl u32 )` in increasing id
 * order. Attached keys are not repeated there: each key's `lease` field
 * says it, and every such lease must be in the table.
 *
 * The records are one pass in key order after a header that needs only the
 * count, so a point-in-time view of the store can be written in slices
 * (issue 15). Sections are where later state goes without a new version;
 * a snapshot with a tag this version does not know is refused (a newer
 * raftkv wrote it, and loading it would lose state).
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

/** What a snapshot holds. */
export interface SnapshotContent {
  appliedIndex: number;
  /** Entries in strictly increasing key order. */
  entries: SnapshotEntry[];
  /** The lease table, in increasing id order. */
  leases: Lease[];
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

/** Where {@linkcode encodeSnapshot} reads the i-th entry (in key order). */
export interface SnapshotSource {
  /** The length of the i-th value in bytes. */
  valueLength(i: number): number;
  /** The revision fields of the i-th key. */
  createIndex(i: number): number;
  modIndex(i: number): number;
  version(i: number): number;
  lease(i: number): number;
  /** Copies the i-th value into `out` at `pos`. */
  copyValue(i: number, out: Uint8Array, pos: number): void;
}

/**
 * Encodes `appliedIndex` and the entries given by `keys` (sorted) and
 * `source` into one buffer, sized exactly in a first pass, with no object
 * made per entry. With `headroom`, the buffer starts with that many zero
 * bytes before the snapshot, for a caller to frame it without a copy.
 * `leases` (in increasing id order) go in the lease section.
 */
export function encodeSnapshot(
  appliedIndex: number,
  keys: readonly string[],
  source: SnapshotSource,
  headroom = 0,
  leases: readonly Lease[] = [],
): Uint8Array {
  const leaseSection = leases.length === 0
    ? 0
    : SECTION_HEADER_BYTES + 4 + leases.length * LEASE_RECORD_BYTES;
  let size = headroom + HEADER_BYTES + SECTION_COUNT_BYTES + leaseSection;
  for (let i = 0; i < keys.length; i++) {
    size += ENTRY_FIXED_BYTES + utf8ByteLength(keys[i]!) +
      source.valueLength(i);
  }
  const whole = new Uint8Array(size);
  const out = whole.subarray(headroom);
  const view = new DataView(whole.buffer, headroom);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  writeU64(view, 5, appliedIndex);
  view.setUint32(13, keys.length, true);
  let pos = HEADER_BYTES;
  for (let i = 0; i < keys.length; i++) {
    const { written } = utf8Encoder.encodeInto(keys[i]!, out.subarray(pos + 2));
    view.setUint16(pos, written, true);
    pos += 2 + written;
    writeU64(view, pos, source.createIndex(i));
    writeU64(view, pos + 8, source.modIndex(i));
    writeU64(view, pos + 16, source.version(i));
    writeU64(view, pos + 24, source.lease(i));
    const length = source.valueLength(i);
    view.setUint32(pos + 32, length, true);
    pos += 36;
    source.copyValue(i, out, pos);
    pos += length;
  }
  if (leases.length === 0) {
    view.setUint32(pos, 0, true); // no sections
    return whole;
  }
  view.setUint32(pos, 1, true);
  view.setUint16(pos + 4, LEASE_SECTION_TAG, true);
  view.setUint32(pos + 6, leaseSection - SECTION_HEADER_BYTES, true);
  view.setUint32(pos + 10, leases.length, true);
  pos += 14;
  for (const lease of leases) {
    writeU64(view, pos, lease.id);
    view.setUint32(pos + 8, lease.ttl, true);
    pos += LEASE_RECORD_BYTES;
  }
  return whole;
}

/** Throws unless `need` more bytes exist at `pos`. */
function need(bytes: Uint8Array, pos: number, n: number): void {
  if (pos + n > bytes.length) {
    throw new InvalidSnapshotError("the snapshot is truncated");
  }
}

/**
 * Decodes bytes made by {@linkcode encodeSnapshot}, or by the version-1
 * encoder (see the module doc for what its keys get). Values are views into
 * `bytes`: a caller that keeps them past `bytes` should copy them.
 *
 * @throws {InvalidSnapshotError} on any malformed input.
 */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
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
  const v1 = version === VERSION_1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const appliedIndex = readU64(view, 5);
  const count = view.getUint32(13, true);
  // Each entry takes at least its fixed bytes + 1: refuse absurd counts early.
  const fixed = v1 ? ENTRY_FIXED_BYTES_V1 : ENTRY_FIXED_BYTES;
  if (count * (fixed + 1) > bytes.length - HEADER_BYTES) {
    throw new InvalidSnapshotError("the snapshot is truncated");
  }
  const entries: SnapshotEntry[] = new Array(count);
  let pos = HEADER_BYTES;
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
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
    if (previous !== undefined && compareKeys(previous, key) >= 0) {
      throw new InvalidSnapshotError(
        "keys are not in strictly increasing order",
      );
    }
    pos += 2 + keyBytes;
    let createIndex: number, modIndex: number, version: number, lease: number;
    if (v1) {
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
    entries[i] = {
      key,
      value: bytes.subarray(pos, pos + valueBytes),
      createIndex,
      modIndex,
      version,
      lease,
    };
    pos += valueBytes;
    previous = key;
  }
  let leases: Lease[] = [];
  if (!v1) {
    need(bytes, pos, SECTION_COUNT_BYTES);
    const sections = view.getUint32(pos, true);
    pos += SECTION_COUNT_BYTES;
    for (let s = 0; s < sections; s++) {
      need(bytes, pos, SECTION_HEADER_BYTES);
      const tag = view.getUint16(pos, true);
      const length = view.getUint32(pos + 2, true);
      pos += SECTION_HEADER_BYTES;
      need(bytes, pos, length);
      if (tag !== LEASE_SECTION_TAG || s > 0) {
        throw new InvalidSnapshotError(
          `the snapshot has a section (tag ${tag}) this raftkv does not know (written by a newer version?)`,
        );
      }
      leases = decodeLeases(bytes.subarray(pos, pos + length), appliedIndex);
      pos += length;
    }
  }
  if (pos !== bytes.length) {
    throw new InvalidSnapshotError(
      `${bytes.length - pos} unexpected bytes after the last entry`,
    );
  }
  const ids = new Set(leases.map((l) => l.id));
  for (const e of entries) {
    if (e.lease !== 0 && !ids.has(e.lease)) {
      throw new InvalidSnapshotError(
        `a key is attached to lease ${e.lease}, which the snapshot does not hold`,
      );
    }
  }
  return { appliedIndex, entries, leases };
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
