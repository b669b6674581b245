/**
 * The bytes of a raftkv snapshot: the application's state plus the
 * membership with URLs (the core's snapshot metadata only knows ids).
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";
import type { MembersImage } from "./members.ts";
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
  return encode({ v: 1, members: c.members, state: c.state });
}

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
