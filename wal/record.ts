/**
 * Framing of the WAL. One append is one frame, written with one write:
 *
 * ```
 * frame   = header(12) payload(len) trailer(1)
 * header  = len:u32le  payloadCrc:u32le  headerCrc:u24le  0xA5
 * payload = record*            record = kind:u8  len:u32le  data
 * trailer = 0x5A
 * ```
 *
 * CRCs are CRC-32 (IEEE) from `node:zlib`; `headerCrc` is the low 24 bits of
 * the CRC of the header's first 8 bytes, so a damaged length is caught
 * before it is trusted. The last byte of the header and of the frame are
 * never zero, which tells a frame that reached the disk whole from one that
 * was cut off and zero-filled by a crash.
 *
 * A frame is all-or-nothing: a crash keeps a prefix of whole frames.
 *
 * @module
 */

import { crc32 } from "node:zlib";

/**
 * One record: an opaque payload tagged with a kind chosen by the owner
 * (1..254; 255 is the WAL's own).
 */
export interface WalRecord {
  kind: number;
  data: Uint8Array;
}

/** Record kinds the Raft storage adapter writes; the WAL treats them as opaque. */
export const RecordKind = {
  /** Cluster and node identity, first in every segment. */
  metadata: 1,
  /** A batch of log entries. */
  entries: 2,
  /** Term, vote and commit. */
  hardState: 3,
  /** A snapshot marker: the snapshot file (index, term) is durable. */
  snapshot: 4,
} as const;

/** Bytes before a frame's payload. */
export const FRAME_HEADER_BYTES = 12;
/** Bytes after a frame's payload. */
export const FRAME_TRAILER_BYTES = 1;
/** Bytes before each record's data. */
export const RECORD_HEADER_BYTES = 5;
const HEADER_MAGIC = 0xa5;
const TRAILER_MAGIC = 0x5a;
const MAX_FRAME_PAYLOAD = 0xffff_ffff;

/** The encoded size of a frame holding `records`. */
export function frameBytes(records: readonly WalRecord[]): number {
  let n = FRAME_HEADER_BYTES + FRAME_TRAILER_BYTES;
  for (const r of records) n += RECORD_HEADER_BYTES + r.data.length;
  return n;
}

/** Encodes `records` (at least one) as one frame. */
export function encodeFrame(records: readonly WalRecord[]): Uint8Array {
  if (records.length === 0) {
    throw new RangeError("a frame needs at least one record");
  }
  const total = frameBytes(records);
  const payloadLen = total - FRAME_HEADER_BYTES - FRAME_TRAILER_BYTES;
  if (payloadLen > MAX_FRAME_PAYLOAD) throw new RangeError("frame too large");
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  let off = FRAME_HEADER_BYTES;
  for (const r of records) {
    if (!Number.isInteger(r.kind) || r.kind < 1 || r.kind > 255) {
      throw new RangeError(`record kind ${r.kind} outside 1..255`);
    }
    buf[off] = r.kind;
    view.setUint32(off + 1, r.data.length, true);
    buf.set(r.data, off + RECORD_HEADER_BYTES);
    off += RECORD_HEADER_BYTES + r.data.length;
  }
  view.setUint32(0, payloadLen, true);
  view.setUint32(4, crc32(buf.subarray(FRAME_HEADER_BYTES, off)), true);
  const hcrc = crc32(buf.subarray(0, 8));
  buf[8] = hcrc & 0xff;
  buf[9] = (hcrc >>> 8) & 0xff;
  buf[10] = (hcrc >>> 16) & 0xff;
  buf[11] = HEADER_MAGIC;
  buf[off] = TRAILER_MAGIC;
  return buf;
}

/** A frame read back: where it starts and what it holds. */
export interface DecodedFrame {
  /** Byte offset of the frame in the buffer. */
  offset: number;
  /** Byte offset just past the frame. */
  end: number;
  /** The records, whose `data` are views into the decoded buffer. */
  records: WalRecord[];
}

/**
 * How the bytes after the last valid frame look:
 * - `clean`: there are none.
 * - `torn`: they are what a crash during the last write leaves (a cut-off or
 *   zero-filled frame, or zeros) and nothing valid follows them.
 * - `corrupt`: anything else (a whole frame with a bad checksum, or a valid
 *   frame after a damaged one).
 */
export type TailState = "clean" | "torn" | "corrupt";

/** The result of {@linkcode decodeFrames}. */
export interface DecodeResult {
  frames: DecodedFrame[];
  /** End of the last valid frame: the length a repair would cut to. */
  validEnd: number;
  tail: TailState;
  /** Why the tail is not clean. */
  reason: string;
}

function headerValid(buf: Uint8Array, off: number): boolean {
  if (buf[off + 11] !== HEADER_MAGIC) return false;
  const hcrc = crc32(buf.subarray(off, off + 8)) & 0xff_ffff;
  return hcrc ===
    (buf[off + 8]! | (buf[off + 9]! << 8) | (buf[off + 10]! << 16));
}

function payloadLength(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16)) +
    buf[off + 3]! * 0x100_0000;
}

/** Decodes the frame at `off`, or returns why it is not valid. */
function decodeFrameAt(buf: Uint8Array, off: number): DecodedFrame | string {
  if (buf.length - off < FRAME_HEADER_BYTES) return "incomplete frame header";
  if (!headerValid(buf, off)) return "bad frame header checksum";
  const len = payloadLength(buf, off);
  const start = off + FRAME_HEADER_BYTES;
  const end = start + len;
  if (end + FRAME_TRAILER_BYTES > buf.length) {
    return "frame runs past the end of the file";
  }
  if (buf[end] !== TRAILER_MAGIC) return "bad frame trailer";
  const want = payloadLength(buf, off + 4);
  if ((crc32(buf.subarray(start, end)) >>> 0) !== want) {
    return "payload checksum mismatch";
  }
  const records: WalRecord[] = [];
  let p = start;
  while (p < end) {
    if (end - p < RECORD_HEADER_BYTES) return "bad record structure";
    const kind = buf[p]!;
    const n = payloadLength(buf, p + 1);
    if (kind === 0 || p + RECORD_HEADER_BYTES + n > end) {
      return "bad record structure";
    }
    records.push({
      kind,
      data: buf.subarray(p + RECORD_HEADER_BYTES, p + RECORD_HEADER_BYTES + n),
    });
    p += RECORD_HEADER_BYTES + n;
  }
  if (records.length === 0) return "empty frame";
  return { offset: off, end: end + FRAME_TRAILER_BYTES, records };
}

/** Whether a whole valid frame starts anywhere after `from`. */
function validFrameAfter(buf: Uint8Array, from: number): number {
  for (
    let i = buf.indexOf(HEADER_MAGIC, from + 11);
    i >= 0;
    i = buf.indexOf(HEADER_MAGIC, i + 1)
  ) {
    if (typeof decodeFrameAt(buf, i - 11) !== "string") return i - 11;
  }
  return -1;
}

function allZero(buf: Uint8Array, from: number): boolean {
  let i = from;
  // Bytes up to a 4-byte boundary, then whole words (preallocated tails are long).
  for (; i < buf.length && (buf.byteOffset + i) % 4 !== 0; i++) {
    if (buf[i] !== 0) return false;
  }
  const words = Math.floor((buf.length - i) / 4);
  const view = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
  for (let w = 0; w < words; w++) if (view[w] !== 0) return false;
  for (i += words * 4; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Decodes the frames of one segment and classifies what follows the last
 * valid one (see {@linkcode TailState}). Never throws on any input.
 */
export function decodeFrames(buf: Uint8Array): DecodeResult {
  const frames: DecodedFrame[] = [];
  let off = 0;
  while (off < buf.length) {
    const f = decodeFrameAt(buf, off);
    if (typeof f === "string") return classify(buf, frames, off, f);
    frames.push(f);
    off = f.end;
  }
  return { frames, validEnd: off, tail: "clean", reason: "" };
}

function classify(
  buf: Uint8Array,
  frames: DecodedFrame[],
  off: number,
  why: string,
): DecodeResult {
  const result = (tail: TailState, reason: string): DecodeResult => ({
    frames,
    validEnd: off,
    tail,
    reason,
  });
  let torn: string | undefined;
  if (allZero(buf, off)) torn = "zero-filled tail";
  else if (buf.length - off < FRAME_HEADER_BYTES) {
    torn = "incomplete frame header";
  } else if (!headerValid(buf, off)) {
    // A header that reached the disk whole ends in the non-zero magic byte.
    if (buf[off + 11] === 0) torn = "frame header not fully written";
  } else {
    const last = off + FRAME_HEADER_BYTES + payloadLength(buf, off);
    if (last >= buf.length) torn = "frame cut off by the end of the file";
    // A frame that reached the disk whole ends in the non-zero trailer.
    else if (buf[last] === 0) torn = "frame not fully written";
  }
  if (torn === undefined) return result("corrupt", why);
  const next = validFrameAfter(buf, off);
  if (next >= 0) {
    return result(
      "corrupt",
      `${why}, yet a valid frame follows at offset ${next}`,
    );
  }
  return result("torn", torn);
}
