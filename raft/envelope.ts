/**
 * Request ids inside log entries. A proposal may be forwarded to the leader
 * and committed under an index its proposer never learns; the id travels
 * with the data so that, when any node applies the entry, the node that
 * proposed it finds the waiting caller.
 *
 * Layout of version 2: 1 byte version (2), 4 bytes process epoch, 4+4
 * bytes sequence (high, low), 4+4 bytes the term the proposer was in
 * (high, low), then the application payload. Version 1 (written before
 * the term was added; still in old logs) lacks the term. The epoch is
 * random per process, so ids from before a restart never match a new
 * caller.
 *
 * The term makes a copy of a proposal that reaches the log in another
 * term inert ({@linkcode isStaleCopy}): every node applies such an entry
 * as a no-op. A forwarded proposal delayed in the network may be appended
 * by the leader of a later term; because that copy does nothing, the
 * proposer may propose the request again (same id) once it knows no copy
 * of the earlier term can commit (raft/proposals.ts), and it still
 * applies at most once.
 *
 * @module
 */

const V1_HEADER_BYTES = 13;
const V2_HEADER_BYTES = 21;

/** A request id split into the epoch and the sequence number. */
export interface RequestId {
  epoch: number;
  seq: number;
}

/** What entry data carries besides the payload. */
export interface Envelope {
  id: RequestId;
  /**
   * The term the proposer was in when it proposed; undefined for entries
   * of version 1, which are never stale copies.
   */
  term: number | undefined;
  payload: Uint8Array;
}

/** The key a waiter is registered under for `id`. */
export function requestKey(id: RequestId): string {
  return `${id.epoch}:${id.seq}`;
}

/** Prefixes `payload` with the request id and the proposer's `term` (version 2). */
export function wrapPayload(
  id: RequestId,
  term: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(V2_HEADER_BYTES + payload.byteLength);
  out[0] = 2;
  // Big-endian by hand: a DataView per proposal is garbage on the hot path.
  setUint32(out, 1, id.epoch);
  setUint64(out, 5, id.seq);
  setUint64(out, 13, term);
  out.set(payload, V2_HEADER_BYTES);
  return out;
}

function setUint32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

function setUint64(out: Uint8Array, at: number, v: number): void {
  setUint32(out, at, Math.floor(v / 0x1_0000_0000));
  setUint32(out, at + 4, v >>> 0);
}

function getUint32(data: Uint8Array, at: number): number {
  return (data[at]! * 0x100_0000) +
    ((data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!);
}

function getUint64(data: Uint8Array, at: number): number {
  return getUint32(data, at) * 0x1_0000_0000 + getUint32(data, at + 4);
}

/**
 * Splits entry data into its request id, the proposer's term (version 2)
 * and the payload. Returns undefined for data that is not an envelope (the
 * leader's empty no-op entries).
 */
export function unwrapPayload(data: Uint8Array): Envelope | undefined {
  const version = data[0];
  if (version === 2 && data.byteLength >= V2_HEADER_BYTES) {
    return {
      id: { epoch: getUint32(data, 1), seq: getUint64(data, 5) },
      term: getUint64(data, 13),
      payload: data.subarray(V2_HEADER_BYTES),
    };
  }
  if (version === 1 && data.byteLength >= V1_HEADER_BYTES) {
    return {
      id: { epoch: getUint32(data, 1), seq: getUint64(data, 5) },
      term: undefined,
      payload: data.subarray(V1_HEADER_BYTES),
    };
  }
  return undefined;
}

/**
 * Whether `env`, found in an entry of term `entryTerm`, is a copy that
 * reached the log in another term than the one its proposer meant: it is
 * applied as a no-op (the index advances, the state machine never sees
 * the payload). Depends only on the entry, so every node agrees.
 */
export function isStaleCopy(env: Envelope, entryTerm: number): boolean {
  return env.term !== undefined && env.term !== entryTerm;
}
