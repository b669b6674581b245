/**
 * The bytes of a raftkv snapshot: the application's state plus the
 * membership with URLs (the core's snapshot metadata only knows ids).
 *
 * @module
 */

import { decode, decodeMulti, encode } from "@msgpack/msgpack";
import type { MembersImage } from "./members.ts";
import { binHeader, decodeSnapshotHead } from "./codec.ts";
import { MsgpackReader } from "./msgpack_reader.ts";
import { RaftKvError } from "./core/mod.ts";

/** A snapshot's content. */
export interface SnapshotContent {
  members: MembersImage;
  state: Uint8Array;
}

/** A snapshot whose bytes cannot be decoded. */
export class SnapshotDecodeError extends RaftKvError {
  constructor(reason: string) {
    super("bad_snapshot", `snapshot data cannot be decoded: ${reason}`);
  }
}

/** Encodes a snapshot's content. */
export function encodeSnapshotData(c: SnapshotContent): Uint8Array {
  // The bytes of `encode({ v: 1, members, state })`, built in one buffer
  // of the exact size: msgpack's encode would grow a buffer by doubling to
  // hold the state and hand back a view into it, which then stays pinned.
  const members = encode(c.members);
  const headLength = framingLength(members, c.state.length);
  const out = new Uint8Array(headLength + c.state.length);
  writeFraming(out, 0, members, c.state.length);
  out.set(c.state, headLength);
  return out;
}

/** The bytes in front of a state of `stateLength` bytes. */
function framingLength(members: Uint8Array, stateLength: number): number {
  return SNAPSHOT_DATA_PREFIX.length + members.length + STATE_KEY.length +
    binHeader(stateLength);
}

/**
 * Writes the bytes in front of the state (`{ v: 1, members: ..., state: `
 * and the state's bin header) into `out` at `at`.
 */
function writeFraming(
  out: Uint8Array,
  at: number,
  members: Uint8Array,
  stateLength: number,
): void {
  out.set(SNAPSHOT_DATA_PREFIX, at);
  at += SNAPSHOT_DATA_PREFIX.length;
  out.set(members, at);
  at += members.length;
  out.set(STATE_KEY, at);
  at += STATE_KEY.length;
  binHeader(stateLength, out, at);
}

/**
 * What {@linkcode encodeSnapshotDataFrom} takes the state from: a state
 * machine, which may offer to leave room for the framing.
 */
export interface SnapshotStateSource {
  /** The state's bytes. */
  snapshot(): Uint8Array;
  /**
   * The state's bytes after `headroom` bytes that belong to the caller, in
   * one fresh buffer of `headroom` + the state's length.
   */
  snapshotAfter?(headroom: number): Uint8Array;
}

/**
 * The bytes of {@linkcode encodeSnapshotData} for `members` and the state of
 * `source`, without copying the state when the source can leave room for
 * the framing in front of it (a snapshot can be tens of MB).
 */
export function encodeSnapshotDataFrom(
  members: MembersImage,
  source: SnapshotStateSource,
): Uint8Array {
  if (source.snapshotAfter === undefined) {
    return encodeSnapshotData({ members, state: source.snapshot() });
  }
  const membersBytes = encode(members);
  const headroom = SNAPSHOT_DATA_PREFIX.length + membersBytes.length +
    STATE_KEY.length + MAX_BIN_HEADER_BYTES;
  const whole = source.snapshotAfter(headroom);
  const stateLength = whole.length - headroom;
  const at = headroom - framingLength(membersBytes, stateLength);
  writeFraming(whole, at, membersBytes, stateLength);
  return whole.subarray(at);
}

/**
 * A point-in-time image of the state machine, taken in O(1) at the applied
 * index while entries keep being applied (`kv/store_view.ts`), whose bytes
 * are made lazily in bounded slices.
 */
export interface StateView {
  /** The length of the state's bytes. */
  readonly byteLength: number;
  /** The state's bytes, one bounded slice per step. */
  slices(): Iterable<Uint8Array>;
  /**
   * The bytes of {@linkcode slices} in reused buffers: each slice is valid
   * only until the next one is asked for.
   */
  reusedSlices(): Iterable<Uint8Array>;
  /** The view is no longer needed. */
  release(): void;
}

/** A snapshot's data as parts made on demand, and their total length. */
export interface SnapshotBody {
  readonly byteLength: number;
  /**
   * The data in order, one bounded part per step. A part is valid only
   * until the next one is asked for (its buffer may be reused): a consumer
   * that keeps parts copies them.
   */
  parts(): Iterable<Uint8Array>;
}

/**
 * The bytes of {@linkcode encodeSnapshotData} for `members` and the state
 * of `view`, as a body whose parts are the small framing and then the
 * view's slices in reused buffers: nothing proportional to the state is
 * made, at once or over the whole body (each part is valid until the next).
 */
export function snapshotDataBody(
  members: MembersImage,
  view: StateView,
): SnapshotBody {
  const membersBytes = encode(members);
  const head = new Uint8Array(framingLength(membersBytes, view.byteLength));
  writeFraming(head, 0, membersBytes, view.byteLength);
  return {
    byteLength: head.length + view.byteLength,
    *parts() {
      yield head;
      yield* view.reusedSlices();
    },
  };
}

/** The longest msgpack bin header (bin 32). */
const MAX_BIN_HEADER_BYTES = 5;

/** msgpack of a 3-entry map's start: `{ v: 1, members: ` (the value follows). */
const SNAPSHOT_DATA_PREFIX = new Uint8Array([
  0x83,
  0xa1,
  0x76,
  0x01,
  0xa7,
  ...new TextEncoder().encode("members"),
]);
/** msgpack of the key `state`. */
const STATE_KEY = new Uint8Array([0xa5, ...new TextEncoder().encode("state")]);

/** Decodes a snapshot's content; an empty buffer is an empty snapshot. */
export function decodeSnapshotData(
  bytes: Uint8Array,
): SnapshotContent | undefined {
  if (bytes.byteLength === 0) return undefined;
  let v: unknown;
  try {
    v = decode(bytes);
  } catch (e) {
    throw new SnapshotDecodeError(String(e));
  }
  const o = v as { v?: unknown; members?: MembersImage; state?: unknown };
  if (
    o?.v !== 1 || !(o.state instanceof Uint8Array) ||
    !Array.isArray(o.members?.members)
  ) {
    throw new SnapshotDecodeError("unexpected shape");
  }
  return { members: o.members, state: o.state };
}

/**
 * Where the state lies in a snapshot file's data (the snapshot's encoding:
 * metadata, then {@linkcode encodeSnapshotData}'s bytes), read from its
 * first bytes, so the state can be restored from the file in pieces: the
 * membership, and the offset and length of the state, which ends the file.
 * Undefined when `prefix` does not show that layout whole up to the
 * state's first byte, or the state does not end at `total` (the caller
 * then reads the file whole).
 */
export function decodeSnapshotFileHead(
  prefix: Uint8Array,
  total: number,
): { members: MembersImage; stateAt: number; stateLength: number } | undefined {
  try {
    const { dataAt, dataLength } = decodeSnapshotHead(prefix);
    if (dataAt + dataLength !== total || dataLength === 0) return undefined;
    let at = dataAt;
    const starts = (bytes: Uint8Array) =>
      prefix.length >= at + bytes.length &&
      bytes.every((b, i) => prefix[at + i] === b);
    if (!starts(SNAPSHOT_DATA_PREFIX)) return undefined;
    at += SNAPSHOT_DATA_PREFIX.length;
    const first = decodeMulti(prefix.subarray(at)).next();
    const members = first.value as MembersImage | undefined;
    if (first.done || !Array.isArray(members?.members)) return undefined;
    // The decoder tells no position: the members' bytes are those of their
    // encoding, which must be what the file holds.
    const membersBytes = encode(members);
    if (!starts(membersBytes)) return undefined;
    at += membersBytes.length;
    if (!starts(STATE_KEY)) return undefined;
    at += STATE_KEY.length;
    const r = new MsgpackReader(prefix.subarray(at), 0);
    const stateLength = r.binHeader();
    at += r.position;
    if (at + stateLength !== total) return undefined;
    return { members, stateAt: at, stateLength };
  } catch {
    // UNHANDLED, CodecError, or the decoder's own: not this layout.
    return undefined;
  }
}
