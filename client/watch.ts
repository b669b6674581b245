/**
 * A watch as an async iterator (docs/API.md "Watch"): it reads
 * `GET /v1/watch` as Server-Sent Events and, when the stream breaks (the
 * node died, restarted or the connection dropped), opens it again with
 * `Last-Event-ID` set to the last id it received, on another endpoint first.
 * The server guarantees that such a resumed stream misses nothing and
 * repeats nothing; so the iterator yields every change in the watched
 * range exactly once, in index order.
 *
 * It ends only when the caller stops it (`break`, `return()`, or the
 * signal); it throws {@linkcode WatchCancelledError} when the node cancels
 * the watch (a slow reader, or a node whose history was replaced by a
 * snapshot), {@linkcode CompactedError} when the position is older than
 * the history, and {@linkcode UnavailableError} when no endpoint serves it.
 *
 * @module
 */

import {
  ApiError,
  RaftKvClientError,
  UnavailableError,
  WatchCancelledError,
} from "./errors.ts";
import { decodeJsonValue, type JsonValue } from "./json_value.ts";
import { readSse } from "./sse.ts";
import type { Transport } from "./transport.ts";
import type { WatchEvent, WatchMessage } from "./types.ts";

/** What a watch follows: one key, or every key with a prefix (`""`: all). */
export type WatchRange = { key: string } | { prefix: string };

/** Options of a watch. */
export interface WatchOptions {
  /**
   * Deliver every change with an index >= `from` (e.g. a listing's index
   * + 1). Without it the watch starts now: every change acknowledged after
   * the call began.
   */
  from?: number;
  /** Also yield progress notices (`progress: true`, no events). */
  progress?: boolean;
  /**
   * Open the stream again when nothing (not even a progress event) arrived
   * for this long: the node may be paused or cut off (default 30 000 ms;
   * nodes send progress every 10 s by default).
   */
  idleTimeoutMs?: number;
  /**
   * How many times in a row a stream may break before it delivered
   * anything, before the watch gives up with `UnavailableError` (default:
   * 3 per endpoint).
   */
  maxReconnects?: number;
  /** Stops the watch: the iterator ends without an error. */
  signal?: AbortSignal;
}

/** The JSON of a change message's `data:`. */
interface ChangeJson {
  index: number;
  events: (JsonValue & {
    type: "put" | "delete";
    key: string;
    createIndex?: number;
    modIndex: number;
    version?: number;
    lease?: number;
    reason?: "lease";
  })[];
}

/** Decodes one event of a change message. */
function eventOf(e: ChangeJson["events"][number]): WatchEvent {
  if (e.type === "delete") {
    return e.reason === undefined
      ? { type: "delete", key: e.key, modIndex: e.modIndex }
      : { type: "delete", key: e.key, modIndex: e.modIndex, reason: e.reason };
  }
  const put: WatchEvent = {
    type: "put",
    key: e.key,
    value: decodeJsonValue(e),
    createIndex: e.createIndex ?? 0,
    modIndex: e.modIndex,
    version: e.version ?? 0,
  };
  if (e.lease !== undefined) put.lease = e.lease;
  return put;
}

/** The watch of the module doc, over `transport` with `endpointCount` endpoints. */
export async function* watchStream(
  transport: Transport,
  endpointCount: number,
  range: WatchRange,
  options: WatchOptions = {},
): AsyncGenerator<WatchMessage> {
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const maxReconnects = options.maxReconnects ?? 3 * endpointCount;
  /** The last id received; undefined until the first event. */
  let lastId: number | undefined;
  /** The endpoint of the stream that broke last. */
  let broken: string | undefined;
  let failures = 0;
  let lastFailure: unknown;
  for (;;) {
    if (options.signal?.aborted) return;
    const stop = new AbortController();
    const signals = [stop.signal];
    if (options.signal) signals.push(options.signal);
    const q = new URLSearchParams(
      "key" in range ? { key: range.key } : { prefix: range.prefix },
    );
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (lastId !== undefined) headers["last-event-id"] = String(lastId);
    else if (options.from !== undefined) q.set("from", String(options.from));
    let endpoint: string;
    let body: ReadableStream<Uint8Array>;
    try {
      const answer = await transport.send({
        method: "GET",
        path: `/v1/watch?${q}`,
        headers,
        write: false,
        stream: true,
        signal: AbortSignal.any(signals),
        ...(broken === undefined ? {} : { avoid: broken }),
      });
      endpoint = answer.endpoint;
      body = answer.response.body ?? new Response("").body!;
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    // Nothing for idleMs: the node may be paused; try another.
    let idle = setTimeout(() => stop.abort(), idleMs);
    let delivered = false;
    try {
      for await (const ev of readSse(body)) {
        clearTimeout(idle);
        idle = setTimeout(() => stop.abort(), idleMs);
        if (ev.event === "cancelled") {
          const c = JSON.parse(ev.data) as { reason: string; resume: number };
          throw new WatchCancelledError(c.reason, c.resume);
        }
        if (ev.id !== undefined && /^[0-9]+$/.test(ev.id)) {
          lastId = Number(ev.id);
        }
        delivered = true;
        failures = 0;
        if (ev.event === "progress") {
          if (options.progress && lastId !== undefined) {
            yield { index: lastId, events: [], progress: true };
          }
          continue;
        }
        if (ev.event !== "message") continue;
        const change = JSON.parse(ev.data) as ChangeJson;
        yield { index: change.index, events: change.events.map(eventOf) };
      }
      lastFailure = new RaftKvClientError(
        `the watch stream from ${endpoint} ended`,
      );
    } catch (err) {
      if (options.signal?.aborted) return;
      if (err instanceof WatchCancelledError || err instanceof ApiError) {
        throw err;
      }
      if (err instanceof SyntaxError) throw err;
      lastFailure = err;
    } finally {
      clearTimeout(idle);
      stop.abort();
    }
    broken = endpoint;
    if (!delivered && ++failures >= maxReconnects) {
      throw new UnavailableError(
        `the watch broke ${failures} times in a row without an event`,
        lastFailure,
        failures,
      );
    }
  }
}
