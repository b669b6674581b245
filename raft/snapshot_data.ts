/**
 * The bytes of a raftkv snapshot: the application's state plus the
 * membership with URLs (the core's snapshot metadata only knows ids).
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";
import type { MembersImage } from "./members.ts";
import { binHeader } from "./codec.ts";
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
  /** The view is no longer needed. */
  release(): void;
}

/** A snapshot's data as parts made on demand, and their total length. */
export interface SnapshotBody {
  readonly byteLength: number;
  /** The data in order, one bounded part per step. */
  parts(): Iterable<Uint8Array>;
}

/**
 * The bytes of {@linkcode encodeSnapshotData} for `members` and the state
 * of `view`, as a body whose parts are the small framing and then the
 * view's slices: nothing proportional to the state is made at once.
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
      yield* view.slices();
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
