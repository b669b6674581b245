/**
 * How a large `POST /raft` body travels: the sender cuts a snapshot's
 * encoded batch into chunks of at most `chunkBytes`, each one `POST /raft`
 * with the headers below; the receiver (http/peer/snapshot_receiver.ts) puts
 * them back together and only then hands the whole batch to the node. So no
 * request body is larger than a chunk (plus one ordinary message), and a
 * peer's heartbeats, which travel on another lane, keep flowing while a
 * snapshot is on its way.
 *
 * Ordinary message batches are not chunked: the sender splits a batch into
 * several requests instead, each under the budget unless it holds a single
 * message larger than that (one entry of the largest value).
 *
 * @module
 */

import { crc32 } from "node:zlib";
import type { Message } from "../../raft/core/mod.ts";
import { crc32Combine } from "./crc32_combine.ts";

/**
 * What a `POST /raft` body may hold beyond the chunk size: the largest
 * ordinary message is one append of `maxMsgBytes` (1 MiB) or of a single
 * entry of the largest value, plus its key and framing.
 */
export const RAFT_BODY_MARGIN_BYTES = 64 * 1024;

/** The largest `POST /raft` body a node accepts with these limits. */
export function maxRaftBodyBytesFor(
  chunkBytes: number,
  maxValueBytes: number,
): number {
  return chunkBytes + Math.max(maxValueBytes, 1024 * 1024) +
    RAFT_BODY_MARGIN_BYTES;
}

/** Request headers of one chunk; their presence makes a body a chunk. */
export const CHUNK_HEADERS = {
  /** The sending node's id (one transfer per sender at a time). */
  from: "x-raft-from",
  /** An id of the transfer, new for each snapshot sent. */
  transfer: "x-raft-transfer",
  /** Where this chunk starts in the whole body. */
  offset: "x-raft-offset",
  /** The whole body's length. */
  total: "x-raft-total",
  /** CRC-32 of the whole body, checked once it is complete. */
  crc: "x-raft-crc32",
} as const;

/** What a chunk's headers say. */
export interface ChunkInfo {
  from: number;
  transfer: string;
  offset: number;
  total: number;
  crc: number;
}

/** One request of a transfer: its body and its chunk headers. */
export interface ChunkRequest {
  body: Uint8Array;
  headers: Record<string, string>;
}

/**
 * The CRC-32 of `body` (or of its parts joined), as carried in
 * {@linkcode CHUNK_HEADERS}.crc.
 */
export function bodyCrc(body: Uint8Array | readonly Uint8Array[]): number {
  if (body instanceof Uint8Array) return crc32(body) >>> 0;
  let crc = 0;
  for (const part of body) crc = crc32(part, crc);
  return crc >>> 0;
}

/** The headers of the chunk at `offset` of a `total`-byte transfer. */
function chunkHeaders(
  o: { from: number; transfer: string },
  offset: number,
  total: number,
  crc: string,
): Record<string, string> {
  return {
    [CHUNK_HEADERS.from]: String(o.from),
    [CHUNK_HEADERS.transfer]: o.transfer,
    [CHUNK_HEADERS.offset]: String(offset),
    [CHUNK_HEADERS.total]: String(total),
    [CHUNK_HEADERS.crc]: crc,
  };
}

/**
 * Cuts `body` (or its parts joined) into requests of at most `chunkBytes`
 * bytes, in order, all under one transfer id. A chunk within one part is a
 * view of it; only a chunk across parts is copied, so a body whose large
 * part is a whole state is never built in one buffer.
 */
export function chunkBody(
  body: Uint8Array | readonly Uint8Array[],
  o: { from: number; transfer: string; chunkBytes: number },
): ChunkRequest[] {
  const parts = body instanceof Uint8Array ? [body] : body;
  let total = 0;
  for (const p of parts) total += p.length;
  const crc = String(bodyCrc(parts));
  const out: ChunkRequest[] = [];
  let part = 0;
  let at = 0; // within parts[part]
  for (let offset = 0; offset < total; offset += o.chunkBytes) {
    const length = Math.min(o.chunkBytes, total - offset);
    let chunk: Uint8Array;
    while (at === parts[part]!.length) {
      part++;
      at = 0;
    }
    if (parts[part]!.length - at >= length) {
      chunk = parts[part]!.subarray(at, at + length);
      at += length;
    } else {
      chunk = new Uint8Array(length);
      for (let filled = 0; filled < length;) {
        while (at === parts[part]!.length) {
          part++;
          at = 0;
        }
        const take = Math.min(length - filled, parts[part]!.length - at);
        chunk.set(parts[part]!.subarray(at, at + take), filled);
        filled += take;
        at += take;
      }
    }
    out.push({ body: chunk, headers: chunkHeaders(o, offset, total, crc) });
  }
  return out;
}

/**
 * A body made of a small `before`, `middle.byteLength` bytes read in order
 * from `middle` (a snapshot file), and a small `after`: the shape of a
 * "snap" message streamed from its file (raft/codec.ts
 * `encodeSnapshotMessageFrame`).
 */
export interface StreamedBody {
  before: Uint8Array;
  middle: {
    readonly byteLength: number;
    /** The CRC-32 of the middle's bytes, known before they are read. */
    readonly crc: number;
    /** Fills `into` with the next bytes; rejects on a bad read or checksum. */
    readNext(into: Uint8Array): Promise<void>;
  };
  after: Uint8Array;
}

/** The whole length of a {@linkcode StreamedBody}. */
export function streamedBodyBytes(body: StreamedBody): number {
  return body.before.length + body.middle.byteLength + body.after.length;
}

/**
 * The requests of {@linkcode chunkBody} for a body read as it goes: each
 * chunk is one new buffer of at most `chunkBytes`, filled from the frame
 * and the next bytes of the middle when it is asked for, so a transfer
 * holds one chunk at a time however large the snapshot. The body's
 * checksum (every chunk's header) is combined from the parts' checksums
 * up front. A read that fails (the file is damaged or gone, or its
 * checksum does not match when its end is read) rejects before the chunk
 * holding it is handed out, so a bad file never completes a transfer.
 */
export async function* streamChunks(
  body: StreamedBody,
  o: { from: number; transfer: string; chunkBytes: number },
): AsyncGenerator<ChunkRequest> {
  const { before, middle, after } = body;
  const total = streamedBodyBytes(body);
  const crc = String(
    crc32Combine(
      crc32Combine(crc32(before) >>> 0, middle.crc, middle.byteLength),
      crc32(after) >>> 0,
      after.length,
    ),
  );
  const middleEnd = before.length + middle.byteLength;
  for (let offset = 0; offset < total; offset += o.chunkBytes) {
    const end = Math.min(offset + o.chunkBytes, total);
    const chunk = new Uint8Array(end - offset);
    // The frame's bytes in this chunk, then the middle's, then the tail's.
    if (offset < before.length) {
      chunk.set(before.subarray(offset, Math.min(end, before.length)));
    }
    const from = Math.max(offset, before.length);
    const to = Math.min(end, middleEnd);
    if (from < to) {
      await middle.readNext(chunk.subarray(from - offset, to - offset));
    }
    if (end > middleEnd) {
      const at = Math.max(offset, middleEnd);
      chunk.set(
        after.subarray(at - middleEnd, end - middleEnd),
        at - offset,
      );
    }
    yield { body: chunk, headers: chunkHeaders(o, offset, total, crc) };
  }
}

/**
 * Encodes `batch` as one or more bodies of at most `budget` bytes each,
 * splitting it in order (halves, recursively); a single message larger than
 * the budget goes alone.
 */
export function encodeWithin(
  batch: Message[],
  budget: number,
  encode: (msgs: Message[]) => Uint8Array,
): Uint8Array[] {
  const body = encode(batch);
  if (body.length <= budget || batch.length === 1) return [body];
  const half = Math.ceil(batch.length / 2);
  return [
    ...encodeWithin(batch.slice(0, half), budget, encode),
    ...encodeWithin(batch.slice(half), budget, encode),
  ];
}
