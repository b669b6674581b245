/**
 * Reading request bodies under a size limit, without buffering more than
 * the limit allows: a declared `Content-Length` over the limit is refused
 * before reading, and a chunked body is cut off as soon as it passes it.
 *
 * Reading also has a deadline (`--body-timeout-ms`): Deno.serve has no knob
 * for slow clients, so a client that sends its headers and then trickles
 * the body would otherwise hold its request for as long as it likes. The
 * deadline is set only where a body is actually read, in the shared
 * deadline queue (http/deadline.ts: one timer per length, not per request).
 *
 * @module
 */

import { joinBytes } from "./bytes.ts";
import { addDeadline, cancelDeadline, type DeadlineSlot } from "./deadline.ts";
import {
  BadRequestError,
  BodyIncompleteError,
  BodyTimeoutError,
  HttpError,
  PayloadTooLargeError,
} from "./errors.ts";

/** Options of {@linkcode readBody}. */
export interface ReadBodyOptions {
  /** The largest body accepted, in bytes. */
  maxBytes: number;
  /** The 413 error code: `value_too_large` or `body_too_large`. */
  code: "value_too_large" | "body_too_large";
  /**
   * How long the client has to send the body, counted from when reading
   * starts; {@linkcode BodyTimeoutError} (408) beyond. Undefined: no
   * deadline (peers' `/raft`, whose sender has its own).
   */
  timeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

/**
 * The error of a body read that failed without one of our typed errors: the
 * client hung up or the connection broke mid-body (Deno's `BadResource`,
 * node:http's `ECONNRESET`): {@linkcode BodyIncompleteError}, a 400 that is
 * not logged, rather than a 500 with a stack.
 */
function readFailure(err: unknown): unknown {
  return err instanceof HttpError ? err : new BodyIncompleteError();
}

function tooLarge(options: ReadBodyOptions): PayloadTooLargeError {
  const what = options.code === "value_too_large" ? "the value" : "the body";
  return new PayloadTooLargeError(
    options.code,
    `${what} is larger than ${options.maxBytes} bytes`,
  );
}

/**
 * Reads the whole body of `req` as bytes, within `options.timeoutMs`.
 *
 * @throws {PayloadTooLargeError} when it is larger than `options.maxBytes`;
 * {BodyTimeoutError} when it has not arrived within `options.timeoutMs`;
 * {BodyIncompleteError} when it ended early (the client hung up).
 */
export function readBody(
  req: Request,
  options: ReadBodyOptions,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (length > options.maxBytes) return Promise.reject(tooLarge(options));
    if (Number.isSafeInteger(length)) {
      // Deno.serve hands over a body of known length without building a
      // stream for it; only a chunked body is read chunk by chunk. Not
      // async: this is every write's path, and an async frame per request
      // is garbage.
      return bytesWithin(req, options);
    }
  }
  return readChunked(req, options);
}

/** Reads a body of unknown length chunk by chunk, within the limits. */
async function readChunked(
  req: Request,
  options: ReadBodyOptions,
): Promise<Uint8Array> {
  const body = req.body;
  if (body === null) return EMPTY;
  const reader = body.getReader();
  const timeoutMs = options.timeoutMs;
  let timedOut = false;
  let slot: DeadlineSlot | undefined;
  if (timeoutMs !== undefined) {
    slot = addDeadline(timeoutMs, () => {
      timedOut = true;
      // Ends the pending read (it resolves as done) and drops the body.
      reader.cancel().catch(() => {});
    });
  }
  try {
    let first: Uint8Array | undefined;
    let chunks: Uint8Array[] | undefined;
    let total = 0;
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (err) {
        if (timedOut) throw new BodyTimeoutError(timeoutMs!);
        throw readFailure(err);
      }
      const { done, value } = next;
      if (timedOut) throw new BodyTimeoutError(timeoutMs!);
      if (done) break;
      total += value.length;
      if (total > options.maxBytes) {
        reader.cancel().catch(() => {});
        throw tooLarge(options);
      }
      if (first === undefined) first = value;
      else (chunks ??= [first]).push(value);
    }
    if (chunks === undefined) return first ?? EMPTY;
    return joinBytes(chunks, total);
  } finally {
    if (slot !== undefined) cancelDeadline(slot);
  }
}

/**
 * `req.bytes()` of at most `options.maxBytes` bytes, failing with
 * {@linkcode BodyTimeoutError} once `options.timeoutMs` passes. The late
 * read is left to end with the connection (a locked body cannot be
 * cancelled); the 408 goes out at once.
 */
function bytesWithin(
  req: Request,
  options: ReadBodyOptions,
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs;
  if (timeoutMs === undefined) {
    return req.bytes().then((bytes) => {
      if (bytes.length > options.maxBytes) throw tooLarge(options);
      return bytes;
    }, (err) => {
      throw readFailure(err);
    });
  }
  return new Promise<Uint8Array>((resolve, reject) => {
    const slot = addDeadline(
      timeoutMs,
      () => reject(new BodyTimeoutError(timeoutMs)),
    );
    req.bytes().then((bytes) => {
      cancelDeadline(slot);
      if (bytes.length > options.maxBytes) reject(tooLarge(options));
      else resolve(bytes);
    }, (err) => {
      cancelDeadline(slot);
      reject(readFailure(err));
    });
  });
}

/** The most bytes {@linkcode drainBody} reads before it gives up. */
export const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

/**
 * Reads and drops what is left of `req`'s body (at most
 * {@linkcode MAX_DRAIN_BYTES}, within `timeoutMs`) before an error answer
 * goes out. Over TLS, Deno.serve speaks HTTP/2, and an answer sent while the
 * request body is still unread ends the stream with a reset, which curl
 * reports as "Stream error in the HTTP/2 framing layer" instead of showing
 * the `401` or `413`. A body already read (or being read) is left alone; a
 * larger one, a late one or a broken one is dropped as before.
 */
export async function drainBody(
  req: Request,
  timeoutMs: number,
): Promise<void> {
  const body = req.body;
  if (body === null || req.bodyUsed || body.locked) return;
  const reader = body.getReader();
  if (Number(req.headers.get("content-length")) > MAX_DRAIN_BYTES) {
    reader.cancel().catch(() => {});
    return;
  }
  const slot = addDeadline(timeoutMs, () => {
    reader.cancel().catch(() => {});
  });
  try {
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.length;
      if (total > MAX_DRAIN_BYTES) {
        reader.cancel().catch(() => {});
        return;
      }
    }
  } catch {
    // The client went away: there is nothing left to drain.
  } finally {
    cancelDeadline(slot);
  }
}

/** The largest JSON or text body of the membership routes. */
export const MAX_SMALL_BODY_BYTES = 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a small UTF-8 text body (at most 64 KiB) within `timeoutMs`.
 *
 * @throws {PayloadTooLargeError} when larger; {BadRequestError}
 * (`invalid_body`) when not UTF-8; {BodyTimeoutError} when late.
 */
export async function readText(
  req: Request,
  timeoutMs: number,
): Promise<string> {
  const bytes = await readBody(req, {
    maxBytes: MAX_SMALL_BODY_BYTES,
    code: "body_too_large",
    timeoutMs,
  });
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BadRequestError("invalid_body", "the body is not UTF-8");
  }
}

/**
 * Reads a small JSON object body (at most 64 KiB) within `timeoutMs`.
 *
 * @throws {BadRequestError} (`invalid_body`) unless it is a JSON object.
 */
export async function readJsonObject(
  req: Request,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const text = await readText(req, timeoutMs);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequestError("invalid_body", "the body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError("invalid_body", "the body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}
