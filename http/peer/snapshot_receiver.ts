/**
 * The receiving side of chunked `POST /raft` bodies (http/peer/snapshot_chunks.ts):
 * hands each sender's chunks, in order, to a {@linkcode TransferSink} and
 * returns what it made of them only once every byte is there and its CRC
 * matches, so the node never sees a partial snapshot. The node's sink
 * (raft/snapshot_receive.ts, through the node port's
 * `openSnapshotReceive`) writes the snapshot to a temporary file as it
 * comes, so the follower never holds a whole transfer in memory; without
 * one (a node whose storage cannot), the chunks are put back together in
 * memory ({@linkcode memorySink}).
 *
 * Each sender has at most one transfer in progress, keyed by the sender the
 * request declares (http/peer/peer_guard.ts admits it first: a member, and the
 * leader this node knows), so a chunk of one sender never touches another
 * sender's transfer. Chunks must come in order (the sender's snapshot lane
 * sends one at a time): a chunk that does not continue the transfer
 * discards it and is refused, and the sender reports the snapshot as failed
 * (the leader retries later). A chunk at offset 0 starts a new transfer and
 * drops the sender's previous one; a transfer that hears nothing for
 * `staleMs`, or whose sender is no longer the leader, is dropped by
 * {@linkcode SnapshotReceiver.sweep}, which the peer routes call on every
 * request.
 *
 * Memory (or disk) is bounded: a transfer reserves its announced total at
 * offset 0, and the totals of all transfers in progress may not exceed
 * `maxTotalBytes` (`--max-snapshot-bytes`); a chunk announcing more is
 * refused with 413 before anything of it is kept. A dropped or refused
 * transfer's sink is aborted (its temporary file removed).
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { CHUNK_HEADERS, type ChunkInfo } from "./snapshot_chunks.ts";
import { BadRequestError, PayloadTooLargeError } from "../errors.ts";
import { DEFAULTS, type Message } from "../../raft/mod.ts";

/** The default time after which a silent transfer is dropped: 60 s. */
export const DEFAULT_SNAPSHOT_STALE_MS = 60_000;

/**
 * What a completed transfer gives: the whole body (reassembled in memory,
 * for `receiveRaft`) or the decoded batch, ready to be checked and stepped.
 */
export type ReceivedTransfer = Uint8Array | ReceivedMessages;

/** A transfer decoded by its sink, for the node to step. */
export interface ReceivedMessages {
  /**
   * Steps the batch into the node after `check` (the peer guard's batch
   * check) accepted it; throws what the check or the node throws.
   */
  deliver(check?: (msgs: readonly Message[]) => void): void;
}

/** Where one transfer's bytes go, in order. */
export interface TransferSink {
  /** Takes the next bytes; rejects when they cannot be kept or decoded. */
  write(chunk: Uint8Array): Promise<void>;
  /** Every byte is in and the CRC matched: what the transfer carried. */
  finish(): Promise<ReceivedTransfer>;
  /** The transfer is dropped: releases what the sink holds. */
  abort(): void;
}

/** A sink that puts the body back together in memory, one buffer of `total`. */
export function memorySink(total: number): TransferSink {
  const body = new Uint8Array(total);
  let at = 0;
  return {
    write(chunk) {
      body.set(chunk, at);
      at += chunk.length;
      return Promise.resolve();
    },
    finish: () => Promise.resolve(body),
    abort() {},
  };
}

/** Options of {@linkcode SnapshotReceiver}. */
export interface SnapshotReceiverOptions {
  /**
   * The most bytes all transfers in progress may announce together (413
   * beyond; default: `DEFAULTS.maxSnapshotBytes`).
   */
  maxTotalBytes?: number;
  /** Drop a transfer that received no chunk for this long. */
  staleMs?: number;
  /** The clock (tests). */
  now?: () => number;
  /**
   * Opens the sink of a new transfer of `total` bytes (default:
   * {@linkcode memorySink}).
   */
  open?: (total: number) => TransferSink;
}

interface Transfer {
  id: string;
  total: number;
  crc: number;
  received: number;
  /** Where the chunks go as they come. */
  sink: TransferSink;
  /** CRC-32 of the bytes received so far. */
  crcSoFar: number;
  lastAt: number;
}

/** Reassembles chunked transfers; see the module doc. */
export class SnapshotReceiver {
  readonly #transfers = new Map<number, Transfer>();
  readonly #maxTotalBytes: number;
  readonly #staleMs: number;
  readonly #now: () => number;
  readonly #open: (total: number) => TransferSink;

  constructor(o: SnapshotReceiverOptions = {}) {
    this.#open = o.open ?? memorySink;
    this.#maxTotalBytes = o.maxTotalBytes ?? DEFAULTS.maxSnapshotBytes.value;
    this.#staleMs = o.staleMs ?? DEFAULT_SNAPSHOT_STALE_MS;
    this.#now = o.now ?? Date.now;
  }

  /** How many transfers are in progress. */
  get pending(): number {
    return this.#transfers.size;
  }

  /**
   * The bytes reserved by transfers in progress: the sum of their announced
   * totals, the most they can hold.
   */
  get reservedBytes(): number {
    let sum = 0;
    for (const t of this.#transfers.values()) sum += t.total;
    return sum;
  }

  /**
   * Drops transfers that heard nothing for `staleMs`, and, when `leader` is
   * given, those of any other sender (only the leader's can complete).
   */
  sweep(leader?: number): void {
    const now = this.#now();
    for (const [from, t] of this.#transfers) {
      if (
        now - t.lastAt >= this.#staleMs ||
        (leader !== undefined && from !== leader)
      ) {
        this.#drop(from);
      }
    }
  }

  /** Forgets the sender's transfer, aborting its sink. */
  #drop(from: number): void {
    const t = this.#transfers.get(from);
    if (!t) return;
    this.#transfers.delete(from);
    t.sink.abort();
  }

  /**
   * Adds one chunk. Resolves to what the sink made of the transfer when
   * this chunk completes it, else undefined. Rejects with
   * {@linkcode BadRequestError} (the transfer is discarded) for a chunk out
   * of order, of another transfer, or a whole body whose CRC does not
   * match; {@linkcode PayloadTooLargeError} for a transfer that would take
   * the transfers in progress over the limit; with what the sink throws
   * (the transfer discarded too). `info.from` must be the sender the
   * request was admitted as. Chunks of one sender come one at a time.
   */
  async accept(
    info: ChunkInfo,
    chunk: Uint8Array,
  ): Promise<ReceivedTransfer | undefined> {
    this.sweep();
    if (info.offset === 0) {
      // A new transfer replaces the sender's previous one.
      this.#drop(info.from);
      const reserved = this.reservedBytes;
      if (reserved + info.total > this.#maxTotalBytes) {
        throw new PayloadTooLargeError(
          "body_too_large",
          `a snapshot of ${info.total} bytes does not fit: ${reserved} of ` +
            `${this.#maxTotalBytes} bytes (--max-snapshot-bytes) are taken ` +
            "by transfers in progress",
        );
      }
    }
    if (info.offset + chunk.length > info.total || chunk.length === 0) {
      this.#drop(info.from);
      throw new BadRequestError(
        "invalid_body",
        `a snapshot chunk of ${chunk.length} bytes at ${info.offset} does not fit a total of ${info.total}`,
      );
    }
    let t = this.#transfers.get(info.from);
    if (info.offset === 0) {
      t = {
        id: info.transfer,
        total: info.total,
        crc: info.crc,
        received: 0,
        sink: this.#open(info.total),
        crcSoFar: 0,
        lastAt: 0,
      };
      this.#transfers.set(info.from, t);
    } else if (
      !t || t.id !== info.transfer || t.total !== info.total ||
      t.crc !== info.crc || t.received !== info.offset
    ) {
      this.#drop(info.from);
      throw new BadRequestError(
        "invalid_body",
        t && t.id === info.transfer
          ? `snapshot chunk at ${info.offset}, expected ${t.received}: transfer discarded`
          : `snapshot chunk of unknown transfer ${info.transfer}: discarded`,
      );
    }
    // Each chunk goes to the sink and is checksummed as it comes, so
    // completing a transfer costs no more than any other chunk.
    t.crcSoFar = crc32(chunk, t.crcSoFar);
    t.received += chunk.length;
    t.lastAt = this.#now();
    try {
      await t.sink.write(chunk);
    } catch (e) {
      if (this.#transfers.get(info.from) === t) this.#drop(info.from);
      else t.sink.abort();
      throw e;
    }
    if (t.received < t.total) return undefined;
    if (this.#transfers.get(info.from) !== t) {
      // Dropped while its last chunk was being written.
      throw new BadRequestError(
        "invalid_body",
        "the snapshot transfer was dropped: discarded",
      );
    }
    this.#transfers.delete(info.from);
    if ((t.crcSoFar >>> 0) !== t.crc) {
      t.sink.abort();
      throw new BadRequestError(
        "invalid_body",
        "the reassembled snapshot does not match its CRC: transfer discarded",
      );
    }
    try {
      return await t.sink.finish();
    } catch (e) {
      t.sink.abort();
      throw e;
    }
  }
}

/** A non-negative safe integer header, or a 400. */
function uintHeader(headers: Headers, name: string, max: number): number {
  const raw = headers.get(name) ?? "";
  const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new BadRequestError(
      "invalid_header",
      `${name} must be an integer from 0 to ${max}`,
    );
  }
  return n;
}

/**
 * Reads the chunk headers of a `POST /raft`, or returns undefined when the
 * request carries none (an ordinary batch). Throws a 400 for a chunk with
 * malformed headers.
 */
export function chunkInfoOf(headers: Headers): ChunkInfo | undefined {
  const transfer = headers.get(CHUNK_HEADERS.transfer);
  if (transfer === null) return undefined;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(transfer)) {
    throw new BadRequestError(
      "invalid_header",
      `${CHUNK_HEADERS.transfer} must be 1 to 64 letters, digits, '-', '_' or '.'`,
    );
  }
  const from = uintHeader(headers, CHUNK_HEADERS.from, Number.MAX_SAFE_INTEGER);
  if (from === 0) {
    throw new BadRequestError(
      "invalid_header",
      `${CHUNK_HEADERS.from} must be a node id`,
    );
  }
  return {
    from,
    transfer,
    offset: uintHeader(headers, CHUNK_HEADERS.offset, Number.MAX_SAFE_INTEGER),
    total: uintHeader(headers, CHUNK_HEADERS.total, Number.MAX_SAFE_INTEGER),
    crc: uintHeader(headers, CHUNK_HEADERS.crc, 0xffff_ffff),
  };
}
