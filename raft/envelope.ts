/**
 * Request ids inside log entries. A proposal may be forwarded to the leader
 * and committed under an index its proposer never learns; the id travels
 * with the data so that, when any node applies the entry, the node that
 * proposed it finds the waiting caller.
 *
 * Layout: 1 byte version (1), 4 bytes process epoch, 4+4 bytes sequence
 * (high, low), then the application payload. The epoch is random per
 * process, so ids from before a restart never match a new caller.
 *
 * @module
 */

const HEADER_BYTES = 13;
const VERSION = 1;

/** A request id split into the epoch and the sequence number. */
export interface RequestId {
  epoch: number;
  seq: number;
}

/** The key a waiter is registered under for `id`. */
export function requestKey(id: RequestId): string {
  return `${id.epoch}:${id.seq}`;
}

/** Prefixes `payload` with the request id. */
export function wrapPayload(id: RequestId, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  out[0] = VERSION;
  // Big-endian by hand: a DataView per proposal is garbage on the hot path.
  setUint32(out, 1, id.epoch);
  setUint32(out, 5, Math.floor(id.seq / 0x1_0000_0000));
  setUint32(out, 9, id.seq >>> 0);
  out.set(payload, HEADER_BYTES);
  return out;
}

function setUint32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

function getUint32(data: Uint8Array, at: number): number {
  return (data[at]! * 0x100_0000) +
    ((data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!);
}

/**
 * Splits entry data into its request id and payload. Returns undefined for
 * data that is not an envelope (the leader's empty no-op entries).
 */
export function unwrapPayload(
  data: Uint8Array,
): { id: RequestId; payload: Uint8Array } | undefined {
  if (data.byteLength < HEADER_BYTES || data[0] !== VERSION) return undefined;
  const epoch = getUint32(data, 1);
  const seq = getUint32(data, 5) * 0x1_0000_0000 + getUint32(data, 9);
  return { id: { epoch, seq }, payload: data.subarray(HEADER_BYTES) };
}
