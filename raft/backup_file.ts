/**
 * The backup file of `GET /v1/snapshot` and `raftkv restore`: a
 * self-describing image of the store at one applied index. Little-endian:
 *
 * ```
 * offset size
 *      0    8  magic "RKVBACK\n"
 *      8    1  version = 1
 *      9    7  reserved, zero
 *     16    8  index: the Raft applied index the image was taken at
 *     24    8  term: the node's term when it was taken
 *     32    8  createdMs: Unix time in milliseconds (informational)
 *     40    8  stateBytes
 *     48    n  state: the store image (kv/snapshot_codec.ts, opaque here)
 *   48+n    4  crc32 (IEEE) of every byte before it
 * ```
 *
 * The checksum trails the data so the file can be streamed in one pass; a
 * flipped bit, a cut-off tail or trailing bytes are refused by
 * {@linkcode decodeBackupFile} with a {@linkcode BackupFileError}.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { RaftKvError } from "./core/mod.ts";

/** The first bytes of every backup file: "RKVBACK\n". */
export const BACKUP_MAGIC: Uint8Array = new TextEncoder().encode("RKVBACK\n");
/** The format version {@linkcode encodeBackupChunks} writes. */
export const BACKUP_VERSION = 1;
/** Bytes before the state. */
export const BACKUP_HEADER_BYTES = 48;
/** Bytes after the state (the checksum). */
export const BACKUP_TRAILER_BYTES = 4;
/** The size of the state chunks {@linkcode encodeBackupChunks} yields. */
const CHUNK_BYTES = 64 * 1024;
const TWO_POW_32 = 0x1_0000_0000;

/** What a backup says about itself. */
export interface BackupMeta {
  /** The Raft applied index the image corresponds to exactly. */
  index: number;
  /** The term of the node that took it (at least the term of `index`). */
  term: number;
  /** When it was taken, Unix milliseconds. */
  createdMs: number;
}

/** A decoded, verified backup. */
export interface Backup extends BackupMeta {
  /** The store image (kv/snapshot_codec.ts bytes). */
  state: Uint8Array;
}

/** A backup file that is not one, is of an unknown version, or is damaged. */
export class BackupFileError extends RaftKvError {
  constructor(reason: string) {
    super("invalid_backup", `not a valid raftkv backup: ${reason}`);
  }
}

function writeU64(view: DataView, pos: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`backup field ${n} is not a non-negative integer`);
  }
  view.setUint32(pos, n % TWO_POW_32, true);
  view.setUint32(pos + 4, Math.floor(n / TWO_POW_32), true);
}

function readU64(view: DataView, pos: number, field: string): number {
  const lo = view.getUint32(pos, true);
  const hi = view.getUint32(pos + 4, true);
  if (hi >= 0x20_0000) throw new BackupFileError(`${field} exceeds 2^53`);
  return hi * TWO_POW_32 + lo;
}

/** The total size of a backup holding `stateBytes` bytes of state. */
export function backupFileBytes(stateBytes: number): number {
  return BACKUP_HEADER_BYTES + stateBytes + BACKUP_TRAILER_BYTES;
}

/**
 * A store image made lazily: its length up front, then its bytes in
 * bounded slices (a point-in-time view of the store, raft/snapshot_data.ts
 * `StateView`).
 */
export interface BackupStateSource {
  /** The length of the state's bytes. */
  readonly byteLength: number;
  /** The state's bytes in order, one bounded slice per step. */
  slices(): Iterable<Uint8Array>;
}

/**
 * Yields the backup file of `state` taken at `meta` as chunks (header,
 * state in 64 KiB views or in the source's slices, checksum), so a server
 * can stream it without a copy of the whole state. Together they are
 * {@linkcode backupFileBytes} long; the bytes do not depend on how the
 * state is given. A source whose slices do not add up to its `byteLength`
 * throws instead of ending a file that would not decode.
 */
export function* encodeBackupChunks(
  meta: BackupMeta,
  state: Uint8Array | BackupStateSource,
): Generator<Uint8Array> {
  const header = new Uint8Array(BACKUP_HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(BACKUP_MAGIC, 0);
  header[8] = BACKUP_VERSION;
  writeU64(view, 16, meta.index);
  writeU64(view, 24, meta.term);
  writeU64(view, 32, meta.createdMs);
  writeU64(view, 40, state.byteLength);
  let crc = crc32(header);
  yield header;
  if (state instanceof Uint8Array) {
    for (let pos = 0; pos < state.length; pos += CHUNK_BYTES) {
      const chunk = state.subarray(pos, pos + CHUNK_BYTES);
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } else {
    let written = 0;
    for (const slice of state.slices()) {
      written += slice.length;
      if (written > state.byteLength) break;
      crc = crc32(slice, crc);
      yield slice;
    }
    if (written !== state.byteLength) {
      throw new RangeError(
        `the state gave ${written} bytes, not the ${state.byteLength} announced`,
      );
    }
  }
  const trailer = new Uint8Array(BACKUP_TRAILER_BYTES);
  new DataView(trailer.buffer).setUint32(0, crc, true);
  yield trailer;
}

/** The whole backup file in one buffer (tests and small tools). */
export function encodeBackupFile(
  meta: BackupMeta,
  state: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(backupFileBytes(state.length));
  let pos = 0;
  for (const chunk of encodeBackupChunks(meta, state)) {
    out.set(chunk, pos);
    pos += chunk.length;
  }
  return out;
}

/**
 * Verifies and decodes a backup file. The state is a view into `bytes`.
 *
 * @throws {BackupFileError} when the bytes are not a backup, of another
 * version, truncated, followed by other bytes, or fail the checksum.
 */
export function decodeBackupFile(bytes: Uint8Array): Backup {
  if (
    bytes.length < BACKUP_MAGIC.length ||
    BACKUP_MAGIC.some((b, i) => bytes[i] !== b)
  ) {
    throw new BackupFileError("the file does not start with RKVBACK");
  }
  if (bytes.length < BACKUP_HEADER_BYTES + BACKUP_TRAILER_BYTES) {
    throw new BackupFileError(
      `the file is truncated (${bytes.length} bytes, less than a header)`,
    );
  }
  if (bytes[8] !== BACKUP_VERSION) {
    const version = bytes[8];
    throw new BackupFileError(
      `unknown format version ${version} (this raftkv reads ${BACKUP_VERSION})`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stateBytes = readU64(view, 40, "the state length");
  const want = backupFileBytes(stateBytes);
  if (bytes.length !== want) {
    throw new BackupFileError(
      bytes.length < want
        ? `the file is truncated (${bytes.length} of ${want} bytes)`
        : `${bytes.length - want} unexpected bytes after the end`,
    );
  }
  const end = bytes.length - BACKUP_TRAILER_BYTES;
  const stored = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (stored !== actual) {
    throw new BackupFileError(
      `checksum mismatch (stored ${hex(stored)}, computed ${
        hex(actual)
      }): the file is corrupt`,
    );
  }
  for (let i = 9; i < 16; i++) {
    if (bytes[i] !== 0) throw new BackupFileError("reserved bytes are set");
  }
  return {
    index: readU64(view, 16, "the index"),
    term: readU64(view, 24, "the term"),
    createdMs: readU64(view, 32, "the creation time"),
    state: bytes.subarray(BACKUP_HEADER_BYTES, end),
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
