/**
 * Binary encoding (msgpack) of the core's values for the WAL, snapshot files
 * and the peer transport. Every value is a positional array, not a map, so
 * encoding is short and cheap. Numbers stay plain `number`s: decoding checks
 * `Number.isSafeInteger` and never yields a bigint.
 *
 * Decoders validate the whole shape and throw {@linkcode CodecError} on
 * anything else, whatever the input bytes: garbage from the network or the
 * disk never crashes a node with an unexpected exception.
 *
 * @module
 */

import { Decoder, Encoder } from "@msgpack/msgpack";
import { AssertionError, RaftKvError } from "./core/mod.ts";
import { MsgpackReader, UNHANDLED } from "./msgpack_reader.ts";
import { MsgpackWriter } from "./msgpack_writer.ts";
import { MESSAGE_TYPES } from "./core/mod.ts";
import type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  Snapshot,
  SnapshotMeta,
} from "./core/mod.ts";

/** Bytes that do not decode to the expected value. */
export class CodecError extends RaftKvError {
  constructor(what: string, detail: string) {
    super("invalid_encoding", `cannot decode ${what}: ${detail}`);
  }
}

/** A WAL snapshot marker: the snapshot file (index, term) is durable. */
export interface SnapshotMarker {
  index: number;
  term: number;
  /**
   * True when the log was replaced by a snapshot from the leader (entries
   * after `index` written earlier are void); false when the application took
   * the snapshot of its own log (entries after `index` stay).
   */
  reset: boolean;
}

/** Who wrote a data directory: stored at the head of every WAL segment. */
export interface StorageMetadata {
  clusterId: string;
  nodeId: number;
}

const encoder = new Encoder({ initialBufferSize: 64 * 1024 });
// No maps, no extensions: our encodings use neither, so garbage fails fast.
// The array limit bounds what a hostile length prefix can make us allocate.
const MAX_LENGTH = 1 << 20;
const decoder = new Decoder({
  maxArrayLength: MAX_LENGTH,
  maxMapLength: 0,
  maxExtLength: 0,
  maxStrLength: MAX_LENGTH,
});

// The hot encodings (message batches, entry batches) are written field by
// field into one reused buffer: no positional arrays are built for them.
// The bytes are the same as the encoder's for the tuples below.
const writer = new MsgpackWriter(64 * 1024);

const MESSAGE_TYPE_CODES = new Map(MESSAGE_TYPES.map((t, i) => [t, i]));
const ENTRY_TYPES: readonly EntryType[] = ["normal", "conf"];

// ---- encoding: values to positional arrays ----

function entryTuple(e: Entry): unknown[] {
  return [e.term, e.index, e.type === "conf" ? 1 : 0, e.data];
}

function metaTuple(m: SnapshotMeta): unknown[] {
  return [m.index, m.term, m.conf.voters, m.conf.learners];
}

/** Writes an entry as its tuple `[term, index, type, data]`. */
function writeEntry(e: Entry): void {
  writer.arrayHeader(4);
  writer.uint(e.term);
  writer.uint(e.index);
  writer.uint(e.type === "conf" ? 1 : 0);
  writer.bin(e.data);
}

/**
 * Writes a message as its 13-field tuple: type code, from, to, term,
 * logTerm, index, entries, commit, reject, rejectHint, rejectTerm,
 * snapshot (or nil), context.
 */
function writeMessage(m: Message): void {
  writeMessageHead(m);
  if (m.snapshot) writer.encoded(m.snapshot.data);
  writer.str(m.context);
}

/**
 * Writes {@linkcode writeMessage}'s bytes up to a snapshot's data (which
 * the caller writes or keeps apart), or up to the context when there is
 * no snapshot.
 */
function writeMessageHead(m: Message, snapshotHead = true): void {
  const type = MESSAGE_TYPE_CODES.get(m.type);
  // Not `assert`: its message would be built for every message.
  if (type === undefined) {
    throw new AssertionError(`unknown message type ${m.type}`);
  }
  writer.arrayHeader(13);
  writer.uint(type);
  writer.uint(m.from);
  writer.uint(m.to);
  writer.uint(m.term);
  writer.uint(m.logTerm);
  writer.uint(m.index);
  writer.arrayHeader(m.entries.length);
  for (const e of m.entries) writeEntry(e);
  writer.uint(m.commit);
  writer.bool(m.reject);
  writer.uint(m.rejectHint);
  writer.uint(m.rejectTerm);
  if (m.snapshot) {
    if (snapshotHead) {
      writer.encoded(
        encodeSnapshotHead(m.snapshot.meta, m.snapshot.data.length),
      );
    }
  } else writer.nil();
}

/** Encodes one entry. */
export function encodeEntry(e: Entry): Uint8Array {
  return encoder.encode(entryTuple(e));
}

/** Encodes a batch of entries (one WAL record per batch). */
export function encodeEntries(ents: readonly Entry[]): Uint8Array {
  writer.reset();
  writer.arrayHeader(ents.length);
  for (const e of ents) writeEntry(e);
  return writer.finish();
}

/** Encodes a hard state. */
export function encodeHardState(hs: HardState): Uint8Array {
  return encoder.encode([hs.term, hs.vote, hs.commit]);
}

/** Encodes a snapshot's metadata. */
export function encodeSnapshotMeta(m: SnapshotMeta): Uint8Array {
  return encoder.encode(metaTuple(m));
}

/**
 * Writes the msgpack header of a bin of `length` bytes at `out[at]`;
 * returns the header's length (the smallest format, as msgpack's encoder
 * picks). With `out` undefined, only returns the length.
 */
export function binHeader(
  length: number,
  out?: Uint8Array,
  at = 0,
): number {
  if (length < 0x100) {
    if (out) out.set([0xc4, length], at);
    return 2;
  }
  if (length < 0x10000) {
    if (out) out.set([0xc5, length >>> 8, length & 0xff], at);
    return 3;
  }
  if (out) {
    out[at] = 0xc6;
    new DataView(out.buffer, out.byteOffset).setUint32(at + 1, length);
  }
  return 5;
}

/**
 * A whole snapshot's encoding (the same bytes as encoding the tuple with
 * msgpack) in two parts: a small head (array marker, metadata, bin header)
 * and the snapshot's own `data`, not copied. Snapshots are the largest thing
 * a node writes; the snapshot file is written from these parts, so the state
 * is never copied to be encoded.
 */
export function encodeSnapshotParts(s: Snapshot): [Uint8Array, Uint8Array] {
  return [encodeSnapshotHead(s.meta, s.data.length), s.data];
}

/**
 * The head of {@linkcode encodeSnapshotParts} alone, for data of
 * `dataLength` bytes that follows it in parts of its own.
 */
export function encodeSnapshotHead(
  meta: Snapshot["meta"],
  dataLength: number,
): Uint8Array {
  const metaBytes = encoder.encode(metaTuple(meta));
  const head = new Uint8Array(1 + metaBytes.length + binHeader(dataLength));
  head[0] = 0x92; // fixarray of 2
  head.set(metaBytes, 1);
  binHeader(dataLength, head, 1 + metaBytes.length);
  return head;
}

/**
 * Encodes a whole snapshot (metadata and data) in one buffer: the parts of
 * {@linkcode encodeSnapshotParts} joined.
 */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  const [head, data] = encodeSnapshotParts(s);
  const out = new Uint8Array(head.length + data.length);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}

/**
 * The bytes of {@linkcode encodeMessages} in parts, each snapshot's data a
 * part of its own, not copied: a body carrying a whole state is sent in
 * chunks cut from these parts, never built in one buffer.
 */
export function encodeMessageParts(msgs: readonly Message[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  writer.reset();
  writer.arrayHeader(msgs.length);
  for (const m of msgs) {
    writeMessageHead(m);
    if (m.snapshot) {
      parts.push(writer.finish(), m.snapshot.data);
      writer.reset();
    }
    writer.str(m.context);
  }
  parts.push(writer.finish());
  return parts;
}

/**
 * The bytes of {@linkcode encodeMessages} of `[m]`, a "snap" message, around
 * its snapshot: the body is `before`, then the snapshot's whole encoding
 * ({@linkcode encodeSnapshot}, what its file holds), then `after`. So a
 * snapshot read from its file is sent without being decoded or held.
 */
export function encodeSnapshotMessageFrame(
  m: Message,
): { before: Uint8Array; after: Uint8Array } {
  if (m.snapshot === undefined) {
    throw new AssertionError("not a snapshot message");
  }
  writer.reset();
  writer.arrayHeader(1);
  writeMessageHead(m, false);
  const before = writer.finish();
  writer.reset();
  writer.str(m.context);
  return { before, after: writer.finish() };
}

/**
 * Where the snapshot lies in the body of a batch of one "snap" message (the
 * bytes of {@linkcode encodeMessages} of `[m]`, as a chunked transfer
 * carries them), read from the body's first bytes only: the message without
 * its snapshot's data, and the span of the snapshot's encoding
 * ({@linkcode encodeSnapshot}, what a snapshot file holds).
 */
export interface SnapshotMessageHead {
  /** The message; its snapshot's `data` is empty (it is in the span). */
  message: Message & { snapshot: Snapshot };
  /** Where the snapshot's encoding starts in the body. */
  snapshotAt: number;
  /** The length of the snapshot's encoding (metadata and data). */
  snapshotBytes: number;
}

/**
 * Reads a snapshot tuple's metadata (`[[index, term, voters, learners],
 * data]`) up to the data's bin header, leaving `r` at the data's first
 * byte. Throws {@linkcode CodecError} (named `what`) on another shape.
 */
function readSnapshotHead(
  r: MsgpackReader,
  what: string,
): { meta: SnapshotMeta; dataLength: number } {
  if (r.arrayHeader() !== 2 || r.arrayHeader() !== 4) {
    throw new CodecError(what, "bad snapshot tuple");
  }
  const index = r.uint(), term = r.uint();
  const voters: number[] = new Array(r.arrayHeader());
  for (let i = 0; i < voters.length; i++) voters[i] = r.uint();
  const learners: number[] = new Array(r.arrayHeader());
  for (let i = 0; i < learners.length; i++) learners[i] = r.uint();
  const dataLength = r.binHeader();
  return {
    meta: { index, term, conf: confFrom(voters, learners) },
    dataLength,
  };
}

/**
 * Reads {@linkcode SnapshotMessageHead} from `prefix`, the first bytes of
 * a body (the message's fields and the snapshot's metadata must be in it:
 * a few hundred bytes). The context after the snapshot is read later, by
 * {@linkcode decodeSnapshotMessageTail}. Throws {@linkcode CodecError}
 * when the prefix is not the start of a batch of exactly one "snap"
 * message without entries, or is too short to tell.
 */
export function decodeSnapshotMessageHead(
  prefix: Uint8Array,
): SnapshotMessageHead {
  const r = new MsgpackReader(prefix, MAX_LENGTH);
  try {
    if (r.arrayHeader() !== 1 || r.arrayHeader() !== 13) {
      throw new CodecError("snapshot message", "not a batch of one message");
    }
    const type = MESSAGE_TYPES[r.uint()];
    if (type !== "snap") {
      throw new CodecError("snapshot message", "not a snapshot message");
    }
    const from = r.uint(), to = r.uint(), term = r.uint();
    const logTerm = r.uint(), index = r.uint();
    if (r.arrayHeader() !== 0) {
      throw new CodecError("snapshot message", "a snapshot with entries");
    }
    const commit = r.uint(), reject = r.bool();
    const rejectHint = r.uint(), rejectTerm = r.uint();
    const snapshotAt = r.position;
    const { meta, dataLength } = readSnapshotHead(r, "snapshot message");
    return {
      message: {
        type,
        from,
        to,
        term,
        logTerm,
        index,
        entries: [],
        commit,
        reject,
        rejectHint,
        rejectTerm,
        context: "",
        snapshot: { meta, data: new Uint8Array(0) },
      },
      snapshotAt,
      snapshotBytes: r.position - snapshotAt + dataLength,
    };
  } catch (e) {
    if (e === UNHANDLED) {
      throw new CodecError("snapshot message", "unexpected encoding");
    }
    throw e;
  }
}

/**
 * Where a snapshot's data starts in its encoding ({@linkcode encodeSnapshot},
 * what a snapshot file holds), read from the encoding's first bytes: its
 * metadata, and the offset and length of its data. Throws
 * {@linkcode CodecError} when `prefix` does not start such an encoding.
 */
export function decodeSnapshotHead(
  prefix: Uint8Array,
): { meta: SnapshotMeta; dataAt: number; dataLength: number } {
  const r = new MsgpackReader(prefix, MAX_LENGTH);
  try {
    const { meta, dataLength } = readSnapshotHead(r, "snapshot");
    return { meta, dataAt: r.position, dataLength };
  } catch (e) {
    if (e === UNHANDLED) {
      throw new CodecError("snapshot", "unexpected encoding");
    }
    throw e;
  }
}

/** The context of a snapshot message: the bytes after its snapshot. */
export function decodeSnapshotMessageTail(tail: Uint8Array): string {
  const v = parse("snapshot message context", tail);
  if (typeof v !== "string") {
    throw new CodecError("snapshot message", "context is not a string");
  }
  return v;
}

/** Encodes a batch of messages (one peer request body). */
export function encodeMessages(msgs: readonly Message[]): Uint8Array {
  writer.reset();
  writer.arrayHeader(msgs.length);
  for (const m of msgs) writeMessage(m);
  return writer.finish();
}

/** Encodes a WAL snapshot marker. */
export function encodeSnapshotMarker(m: SnapshotMarker): Uint8Array {
  return encoder.encode([m.index, m.term, m.reset]);
}

/** Encodes the data directory's metadata. */
export function encodeStorageMetadata(m: StorageMetadata): Uint8Array {
  return encoder.encode([m.clusterId, m.nodeId]);
}

// ---- decoding: validated positional arrays to values ----

function parse(what: string, bytes: Uint8Array): unknown {
  try {
    return decoder.decode(bytes);
  } catch (err) {
    throw new CodecError(
      what,
      err instanceof Error ? err.message : String(err),
    );
  }
}

function tuple(what: string, v: unknown, len: number): unknown[] {
  if (!Array.isArray(v) || v.length !== len) {
    throw new CodecError(what, `expected an array of ${len}`);
  }
  return v;
}

function uint(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new CodecError(
      what,
      `expected a non-negative safe integer, got ${typeof v}`,
    );
  }
  return v;
}

function bytes(what: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) {
    throw new CodecError(what, "expected binary data");
  }
  return v;
}

function ids(what: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new CodecError(what, "expected an array of ids");
  return v.map((x) => uint(what, x));
}

function entryFrom(v: unknown): Entry {
  const t = tuple("entry", v, 4);
  const type = ENTRY_TYPES[uint("entry type", t[2])];
  if (type === undefined) throw new CodecError("entry", "unknown entry type");
  return {
    term: uint("entry term", t[0]),
    index: uint("entry index", t[1]),
    type,
    data: bytes("entry data", t[3]),
  };
}

function entriesFrom(v: unknown): Entry[] {
  if (!Array.isArray(v)) throw new CodecError("entries", "expected an array");
  return v.map(entryFrom);
}

function confFrom(voters: unknown, learners: unknown): ConfState {
  return { voters: ids("voters", voters), learners: ids("learners", learners) };
}

function metaFrom(v: unknown): SnapshotMeta {
  const t = tuple("snapshot metadata", v, 4);
  return {
    index: uint("snapshot index", t[0]),
    term: uint("snapshot term", t[1]),
    conf: confFrom(t[2], t[3]),
  };
}

function snapshotFrom(v: unknown): Snapshot {
  const t = tuple("snapshot", v, 2);
  return { meta: metaFrom(t[0]), data: bytes("snapshot data", t[1]) };
}

function messageFrom(v: unknown): Message {
  const t = tuple("message", v, 13);
  const type = MESSAGE_TYPES[uint("message type", t[0])];
  if (type === undefined) {
    throw new CodecError("message", "unknown message type");
  }
  if (typeof t[8] !== "boolean") {
    throw new CodecError("message", "reject is not a boolean");
  }
  if (typeof t[12] !== "string") {
    throw new CodecError("message", "context is not a string");
  }
  const m: Message = {
    type,
    from: uint("message from", t[1]),
    to: uint("message to", t[2]),
    term: uint("message term", t[3]),
    logTerm: uint("message logTerm", t[4]),
    index: uint("message index", t[5]),
    entries: entriesFrom(t[6]),
    commit: uint("message commit", t[7]),
    reject: t[8],
    rejectHint: uint("message rejectHint", t[9]),
    rejectTerm: uint("message rejectTerm", t[10]),
    context: t[12],
  };
  if (t[11] !== null) m.snapshot = snapshotFrom(t[11]);
  return m;
}

/** Decodes one entry; throws {@linkcode CodecError}. `data` views `buf`. */
export function decodeEntry(buf: Uint8Array): Entry {
  return entryFrom(parse("entry", buf));
}

/** Decodes a batch of entries; throws {@linkcode CodecError}. */
export function decodeEntries(buf: Uint8Array): Entry[] {
  return entriesFrom(parse("entries", buf));
}

/** Decodes a hard state; throws {@linkcode CodecError}. */
export function decodeHardState(buf: Uint8Array): HardState {
  const t = tuple("hard state", parse("hard state", buf), 3);
  return {
    term: uint("term", t[0]),
    vote: uint("vote", t[1]),
    commit: uint("commit", t[2]),
  };
}

/** Decodes a snapshot's metadata; throws {@linkcode CodecError}. */
export function decodeSnapshotMeta(buf: Uint8Array): SnapshotMeta {
  return metaFrom(parse("snapshot metadata", buf));
}

/** Decodes a whole snapshot; throws {@linkcode CodecError}. */
export function decodeSnapshot(buf: Uint8Array): Snapshot {
  return snapshotFrom(parse("snapshot", buf));
}

/**
 * Reads one message of the common shape (no snapshot, an ASCII context)
 * off `r`, as {@linkcode messageFrom} would build it from the tuple.
 */
function readMessage(r: MsgpackReader): Message {
  if (r.arrayHeader() !== 13) throw UNHANDLED;
  const type = MESSAGE_TYPES[r.uint()];
  if (type === undefined) throw UNHANDLED;
  const from = r.uint();
  const to = r.uint();
  const term = r.uint();
  const logTerm = r.uint();
  const index = r.uint();
  const entries: Entry[] = [];
  for (let n = r.arrayHeader(); n > 0; n--) {
    if (r.arrayHeader() !== 4) throw UNHANDLED;
    const term = r.uint();
    const index = r.uint();
    const type = ENTRY_TYPES[r.uint()];
    if (type === undefined) throw UNHANDLED;
    entries.push({ term, index, type, data: r.bin() });
  }
  const commit = r.uint();
  const reject = r.bool();
  const rejectHint = r.uint();
  const rejectTerm = r.uint();
  r.nil();
  const context = r.asciiStr();
  return {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject,
    rejectHint,
    rejectTerm,
    context,
  };
}

/**
 * The fast path of {@linkcode decodeMessages}: reads a batch of messages of
 * the common shape straight off the bytes, or returns undefined for
 * anything else (a snapshot, other formats, garbage), left to the general
 * decoder and its checks.
 */
function readMessages(buf: Uint8Array): Message[] | undefined {
  const r = new MsgpackReader(buf, MAX_LENGTH);
  try {
    const msgs: Message[] = [];
    for (let n = r.arrayHeader(); n > 0; n--) msgs.push(readMessage(r));
    return r.done() ? msgs : undefined;
  } catch (e) {
    if (e === UNHANDLED) return undefined;
    throw e;
  }
}

/** Decodes a batch of messages; throws {@linkcode CodecError}. */
export function decodeMessages(buf: Uint8Array): Message[] {
  const fast = readMessages(buf);
  if (fast !== undefined) return fast;
  const v = parse("messages", buf);
  if (!Array.isArray(v)) throw new CodecError("messages", "expected an array");
  return v.map(messageFrom);
}

/** Decodes a WAL snapshot marker; throws {@linkcode CodecError}. */
export function decodeSnapshotMarker(buf: Uint8Array): SnapshotMarker {
  const t = tuple("snapshot marker", parse("snapshot marker", buf), 3);
  if (typeof t[2] !== "boolean") {
    throw new CodecError("snapshot marker", "reset is not a boolean");
  }
  return {
    index: uint("marker index", t[0]),
    term: uint("marker term", t[1]),
    reset: t[2],
  };
}

/** Decodes the data directory's metadata; throws {@linkcode CodecError}. */
export function decodeStorageMetadata(buf: Uint8Array): StorageMetadata {
  const t = tuple("storage metadata", parse("storage metadata", buf), 2);
  if (typeof t[0] !== "string") {
    throw new CodecError("storage metadata", "cluster id is not a string");
  }
  return { clusterId: t[0], nodeId: uint("node id", t[1]) };
}
