/**
 * A snapshot received from the leader straight into a file, never held
 * whole in memory: the bytes of a chunked "snap" transfer (the body of a
 * batch of one "snap" message, http/peer/snapshot_chunks.ts) are taken in
 * order; the message's fields and the snapshot's metadata are read from
 * the first bytes, the snapshot's encoding (what a snapshot file holds) is
 * written to a temporary file in the snapshot directory as it comes
 * (wal/snapshot_file.ts `IncomingSnapshotFile`), and the context after it
 * is kept (a few bytes).
 *
 * Why a handle: the core (raft/core/) is pure and its `Snapshot.data` is a
 * `Uint8Array` it never looks into. The message stepped into it carries,
 * as `data`, a small handle naming the received file
 * ({@linkcode receivedSnapshotHandle}); the core passes it through its
 * Ready untouched, `DiskStorage.save` resolves it to install the file
 * (rename and directory fsync, before the WAL marker: persist before
 * apply, the append response only after the snapshot is durable, as for
 * any snapshot), and the node reads the state back from the file to apply
 * it. A handle starts with 0xc1, the one byte msgpack never uses, so data
 * that is not resolved can never be taken for a snapshot's content: decoding
 * it fails loudly.
 *
 * Crash safety: until `DiskStorage.save` installs it the file has a
 * temporary name, removed at the next open; after, it is a whole durable
 * snapshot file, used only once its WAL marker is durable too.
 *
 * @module
 */

import type { Message, Snapshot, SnapshotMeta } from "./core/mod.ts";
import {
  CodecError,
  decodeSnapshotMessageHead,
  decodeSnapshotMessageTail,
  type SnapshotMessageHead,
} from "./codec.ts";
import { concatBytes, type IncomingSnapshotFile } from "../wal/mod.ts";

/** The most bytes read before the message's head must be known. */
const MAX_HEAD_BYTES = 64 * 1024;
/** The most bytes after the snapshot (the message's context). */
const MAX_TAIL_BYTES = 64 * 1024;

const HANDLE_PREFIX = new Uint8Array([
  0xc1,
  ...new TextEncoder().encode("raftkv-received-snapshot:"),
]);

/** The handle of the received snapshot file number `n`. */
export function receivedSnapshotHandle(n: number): Uint8Array {
  const digits = new TextEncoder().encode(String(n));
  const out = new Uint8Array(HANDLE_PREFIX.length + digits.length);
  out.set(HANDLE_PREFIX, 0);
  out.set(digits, HANDLE_PREFIX.length);
  return out;
}

/**
 * The number a {@linkcode receivedSnapshotHandle} names, or undefined for
 * any other data (a snapshot's real bytes).
 */
export function receivedSnapshotNumber(data: Uint8Array): number | undefined {
  if (data.length <= HANDLE_PREFIX.length || data.length > 64) return undefined;
  for (let i = 0; i < HANDLE_PREFIX.length; i++) {
    if (data[i] !== HANDLE_PREFIX[i]) return undefined;
  }
  const n = Number(
    new TextDecoder().decode(data.subarray(HANDLE_PREFIX.length)),
  );
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Registers a sealed received file; returns its handle's number. */
export type RegisterReceived = (
  file: IncomingSnapshotFile,
  meta: SnapshotMeta,
) => number;

/** One snapshot transfer being received to a file; see the module doc. */
export class SnapshotReceive {
  readonly #total: number;
  readonly #create: () => Promise<IncomingSnapshotFile>;
  readonly #register: RegisterReceived;
  /** The first bytes, until the head is read. */
  #prefix: Uint8Array[] = [];
  #prefixBytes = 0;
  #head: SnapshotMessageHead | undefined;
  #file: IncomingSnapshotFile | undefined;
  readonly #tail: Uint8Array[] = [];
  /** Bytes of the body taken so far. */
  #at = 0;
  #done = false;
  /** Set once the storage owns the file. */
  #registered = false;

  /**
   * A transfer of `total` bytes; `create` opens its temporary file,
   * `register` takes it once sealed.
   */
  constructor(
    total: number,
    create: () => Promise<IncomingSnapshotFile>,
    register: RegisterReceived,
  ) {
    this.#total = total;
    this.#create = create;
    this.#register = register;
  }

  /**
   * Takes the next bytes of the body. Throws {@linkcode CodecError} when
   * the body is not a batch of one "snap" message; rejects when the file
   * cannot be written. Either way the caller must {@linkcode abort}.
   */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.#done) throw new CodecError("snapshot transfer", "already done");
    if (this.#at + chunk.length > this.#total) {
      throw new CodecError("snapshot transfer", "more bytes than announced");
    }
    if (!this.#head) {
      this.#prefix.push(chunk.slice());
      this.#prefixBytes += chunk.length;
      this.#at += chunk.length;
      const want = Math.min(this.#total, MAX_HEAD_BYTES);
      if (this.#prefixBytes < want) return;
      const prefix = concatBytes(this.#prefix, this.#prefixBytes);
      this.#prefix = [];
      const head = decodeSnapshotMessageHead(prefix);
      const end = head.snapshotAt + head.snapshotBytes;
      if (end > this.#total || this.#total - end > MAX_TAIL_BYTES) {
        throw new CodecError(
          "snapshot transfer",
          "the snapshot does not fit the transfer",
        );
      }
      this.#head = head;
      this.#file = await this.#create();
      await this.#route(prefix, 0);
      return;
    }
    const at = this.#at;
    this.#at += chunk.length;
    await this.#route(chunk, at);
  }

  /** Writes the snapshot's bytes of `bytes` (at `at` in the body) to the file, keeps the tail's. */
  async #route(bytes: Uint8Array, at: number): Promise<void> {
    const head = this.#head!;
    const from = head.snapshotAt;
    const to = from + head.snapshotBytes;
    const end = at + bytes.length;
    const a = Math.max(at, from), b = Math.min(end, to);
    if (a < b) await this.#file!.write(bytes.subarray(a - at, b - at));
    if (end > to) this.#tail.push(bytes.slice(Math.max(to, at) - at));
  }

  /**
   * Every byte is in (and the transfer's checksum matched): seals the file
   * (header, fsync) and returns the message to step, its snapshot's data a
   * handle of the file (see the module doc). Throws {@linkcode CodecError}
   * when the body is incomplete or its end does not decode.
   */
  async finish(): Promise<Message & { snapshot: Snapshot }> {
    if (this.#done || !this.#head || this.#at !== this.#total) {
      throw new CodecError("snapshot transfer", "incomplete");
    }
    this.#done = true;
    const head = this.#head;
    const file = this.#file!;
    let tailBytes = 0;
    for (const t of this.#tail) tailBytes += t.length;
    const context = decodeSnapshotMessageTail(
      concatBytes(this.#tail, tailBytes),
    );
    if (file.byteLength !== head.snapshotBytes) {
      throw new CodecError("snapshot transfer", "the snapshot is incomplete");
    }
    await file.seal();
    const n = this.#register(file, head.message.snapshot.meta);
    this.#registered = true;
    return {
      ...head.message,
      context,
      snapshot: {
        meta: head.message.snapshot.meta,
        data: receivedSnapshotHandle(n),
      },
    };
  }

  /** Gives up: removes the temporary file (unless it was registered). */
  async abort(): Promise<void> {
    this.#done = true;
    this.#prefix = [];
    if (!this.#registered) await this.#file?.discard();
  }
}
