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
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  view.setUint32(1, id.epoch);
  view.setUint32(5, Math.floor(id.seq / 0x1_0000_0000));
  view.setUint32(9, id.seq >>> 0);
  out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Splits entry data into its request id and payload. Returns undefined for
 * data that is not an envelope (the leader's empty no-op entries).
 */
export function unwrapPayload(
  data: Uint8Array,
): { id: RequestId; payload: Uint8Array } | undefined {
  if (data.byteLength < HEADER_BYTES || data[0] !== VERSION) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const epoch = view.getUint32(1);
  const seq = view.getUint32(5) * 0x1_0000_0000 + view.getUint32(9);
  return { id: { epoch, seq }, payload: data.subarray(HEADER_BYTES) };
}
