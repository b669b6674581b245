/**
 * What a watcher is told: the changes one applied log entry made, as events
 * (COORDINATION.md "Watch"), and the key ranges a watcher selects them by.
 *
 * @module
 */

import { utf8ByteLength } from "./key.ts";

/** A key was created or replaced. */
export interface PutEvent {
  readonly type: "put";
  readonly key: string;
  /** The new value; a copy owned by the event, never changed. */
  readonly value: Uint8Array;
  readonly createIndex: number;
  readonly modIndex: number;
  readonly version: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: number;
}

/** A key that existed was removed. */
export interface DeleteEvent {
  readonly type: "delete";
  readonly key: string;
  /** The index of the entry that deleted it. */
  readonly modIndex: number;
  /** `"lease"` when a lease's expiry or revocation removed it. */
  readonly reason?: "lease";
}

/** One change to one key. */
export type WatchEvent = PutEvent | DeleteEvent;

/**
 * The changes of one applied log entry, in the order the entry made them.
 * Never empty: an entry that changed nothing has no batch.
 */
export interface ChangeBatch {
  /** The log index of the entry. */
  readonly index: number;
  readonly events: readonly WatchEvent[];
}

/** The keys a watcher selects: one key, or every key with a prefix ("" = all). */
export type KeyRange =
  | { readonly key: string }
  | { readonly prefix: string };

/** Whether `key` is in `range`. */
export function rangeContains(range: KeyRange, key: string): boolean {
  return "key" in range ? range.key === key : key.startsWith(range.prefix);
}

/** Bytes counted for an event besides its key and value (field names, numbers). */
const EVENT_OVERHEAD_BYTES = 96;
/** Bytes counted for a message besides its events (id, index, framing). */
const BATCH_OVERHEAD_BYTES = 48;

/**
 * The memory an event is charged: its key and value bytes plus a fixed
 * overhead. Deterministic (depends on the event only); close to the size of
 * its JSON form for UTF-8 values, so buffers bounded in these bytes are
 * bounded in what they send.
 */
export function eventBytes(e: WatchEvent): number {
  const value = e.type === "put" ? e.value.length : 0;
  return EVENT_OVERHEAD_BYTES + utf8ByteLength(e.key) + value;
}

/** The bytes a message carrying `events` is charged: see {@linkcode eventBytes}. */
export function batchBytes(events: readonly WatchEvent[]): number {
  let bytes = BATCH_OVERHEAD_BYTES;
  for (const e of events) bytes += eventBytes(e);
  return bytes;
}
