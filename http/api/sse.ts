/**
 * The Server-Sent Events encoding of a watch stream (docs/API.md "Watch"):
 * one event per change message, `event: progress` and `event: cancelled`.
 * Each event is whole lines ending in a blank line; the `data:` line is one
 * line of JSON (JSON escapes every line break inside strings), so a browser's
 * `EventSource` and `curl -N` read it as is.
 *
 * @module
 */

import {
  type Cancellation,
  type ChangeBatch,
  valueToJson,
  type WatchEvent,
} from "../../kv/mod.ts";

/** The `Content-Type` of a watch stream. */
export const SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8";

/** One event of a change message as JSON (docs/API.md "Watch"). */
export type JsonWatchEvent =
  | {
    type: "put";
    key: string;
    value?: string;
    value64?: string;
    createIndex: number;
    modIndex: number;
    version: number;
    lease?: number;
  }
  | { type: "delete"; key: string; modIndex: number; reason?: "lease" };

/**
 * An event's JSON object: a put carries its value as `value` (UTF-8) or
 * `value64` (base64) and `lease` only when attached; a delete carries
 * `reason` only when a lease removed the key.
 */
export function eventToJson(e: WatchEvent): JsonWatchEvent {
  if (e.type === "delete") {
    return e.reason === undefined
      ? { type: "delete", key: e.key, modIndex: e.modIndex }
      : { type: "delete", key: e.key, modIndex: e.modIndex, reason: e.reason };
  }
  const out: JsonWatchEvent = {
    type: "put",
    key: e.key,
    ...valueToJson(e.value),
    createIndex: e.createIndex,
    modIndex: e.modIndex,
    version: e.version,
  };
  if (e.lease !== 0) out.lease = e.lease;
  return out;
}

/** The event of one change message: `id: <index>` and its JSON. */
export function encodeChange(batch: ChangeBatch): string {
  const json = JSON.stringify({
    index: batch.index,
    events: batch.events.map(eventToJson),
  });
  return `id: ${batch.index}\ndata: ${json}\n\n`;
}

const utf8 = new TextEncoder();
/** Encoded messages by batch: a change is encoded once, for every stream. */
const encoded = new WeakMap<ChangeBatch, Uint8Array>();

/**
 * {@linkcode encodeChange} as UTF-8 bytes, encoded once per batch object
 * and shared by every stream that sends it (the hub hands the same batch
 * to every watcher whose range holds all its events). Never change them.
 */
export function encodeChangeBytes(batch: ChangeBatch): Uint8Array {
  let bytes = encoded.get(batch);
  if (bytes === undefined) {
    bytes = encodePlainChange(batch) ?? utf8.encode(encodeChange(batch));
    encoded.set(batch, bytes);
  }
  return bytes;
}

/**
 * The bytes of {@linkcode encodeChange}, written directly, when every key
 * and value in `batch` is plain (see {@linkcode isPlainText}): JSON then
 * quotes them as they are, so the value's bytes are copied without being
 * decoded, quoted and encoded again (most of what a change cost to encode,
 * once per node). Undefined otherwise: the caller encodes the usual way.
 */
function encodePlainChange(batch: ChangeBatch): Uint8Array | undefined {
  const parts: (string | Uint8Array)[] = [
    `id: ${batch.index}\ndata: {"index":${batch.index},"events":[`,
  ];
  let sep = "";
  for (const e of batch.events) {
    if (!isPlainText(e.key)) return undefined;
    if (e.type === "delete") {
      const reason = e.reason === undefined ? "" : `,"reason":"${e.reason}"`;
      parts.push(
        `${sep}{"type":"delete","key":"${e.key}","modIndex":${e.modIndex}${reason}}`,
      );
    } else {
      if (!isPlainBytes(e.value)) return undefined;
      const lease = e.lease === 0 ? "" : `,"lease":${e.lease}`;
      parts.push(
        `${sep}{"type":"put","key":"${e.key}","value":"`,
        e.value,
        `","createIndex":${e.createIndex},"modIndex":${e.modIndex},"version":${e.version}${lease}}`,
      );
    }
    sep = ",";
  }
  parts.push("]}\n\n");
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    if (typeof part === "string") {
      for (let i = 0; i < part.length; i++) out[at++] = part.charCodeAt(i);
    } else {
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

/** Whether `c` is a character JSON.stringify leaves as it is, in one byte. */
function isPlainCode(c: number): boolean {
  return c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c; // not `"`, `\`
}

/** Whether `text` is ASCII that JSON quotes without escapes. */
function isPlainText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (!isPlainCode(text.charCodeAt(i))) return false;
  }
  return true;
}

/** {@linkcode isPlainText} of bytes (ASCII is valid UTF-8: a `value`). */
function isPlainBytes(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (!isPlainCode(bytes[i]!)) return false;
  }
  return true;
}

/** The last messages joined, by their first batch: see below. */
const joined = new WeakMap<
  ChangeBatch,
  { batches: readonly ChangeBatch[]; bytes: Uint8Array }
>();

/**
 * The messages of `batches` one after the other, as one chunk: the
 * {@linkcode encodeChangeBytes} of each, joined. The streams that take the
 * same run of batches at once (every watcher of a busy prefix after one
 * apply) share one joined buffer instead of copying it each. Never change
 * the bytes.
 */
export function encodeChangesBytes(
  batches: readonly ChangeBatch[],
): Uint8Array {
  if (batches.length === 1) return encodeChangeBytes(batches[0]!);
  const first = batches[0]!;
  const cached = joined.get(first);
  if (cached !== undefined && sameBatches(cached.batches, batches)) {
    return cached.bytes;
  }
  let total = 0;
  const parts = batches.map((b) => {
    const part = encodeChangeBytes(b);
    total += part.length;
    return part;
  });
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  joined.set(first, { batches: batches.slice(), bytes });
  return bytes;
}

function sameBatches(
  a: readonly ChangeBatch[],
  b: readonly ChangeBatch[],
): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** `event: progress`: every change up to `index` has been sent. */
export function encodeProgress(index: number): string {
  return `event: progress\nid: ${index}\ndata: {"index":${index}}\n\n`;
}

/**
 * `event: cancelled` with the reason and the `from` to resume at; no `id:`
 * line, so a reconnecting `EventSource` keeps the last id it had.
 */
export function encodeCancelled(c: Cancellation): string {
  return `event: cancelled\ndata: ${
    JSON.stringify({ reason: c.reason, resume: c.resume })
  }\n\n`;
}
