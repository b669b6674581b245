/**
 * A deadline on reading request bodies. Deno.serve has no knob for slow
 * clients (no header, body or idle timeout), so a client that sends its
 * headers and then trickles the body would hold its request, and what it
 * waits on, for as long as it likes. This middleware hands the routes a
 * body that fails with {@linkcode BodyTimeoutError} (408) once the deadline
 * passes, counted from when the request reached the app.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { BodyTimeoutError } from "./errors.ts";
import { PEER_PATHS } from "./auth.ts";
import { rawPath } from "./validate.ts";

/** The default time a client has to send a request body: 30 s. */
export const BODY_TIMEOUT_MS_DEFAULT = 30_000;

/**
 * Wraps `body` so that reading it fails with a {@linkcode BodyTimeoutError}
 * after `timeoutMs`. Returns the new body and a function that clears the
 * timer (call it once the request is answered).
 */
export function deadlineBody(
  body: ReadableStream<Uint8Array>,
  timeoutMs: number,
): { body: ReadableStream<Uint8Array>; clear: () => void } {
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settled = false;
  const clear = () => {
    settled = true;
    clearTimeout(timer);
  };
  const wrapped = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        controller.error(new BodyTimeoutError(timeoutMs));
        reader.cancel().catch(() => {});
      }, timeoutMs);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (settled) return;
        if (done) {
          clear();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        if (settled) return;
        clear();
        controller.error(err);
      }
    },
    cancel(reason) {
      clear();
      return reader.cancel(reason);
    },
  });
  return { body: wrapped, clear };
}

/**
 * The middleware that puts a read deadline of `timeoutMs` on every request
 * body except peers' (`/raft` carries snapshots; its sender has its own
 * deadline, and with a peer token strangers are refused before their body
 * is read).
 */
export function bodyDeadlineMiddleware(timeoutMs: number): MiddlewareHandler {
  return async (c, next) => {
    const req = c.req.raw;
    if (req.body === null || PEER_PATHS.has(rawPath(req.url))) {
      await next();
      return;
    }
    const { body, clear } = deadlineBody(req.body, timeoutMs);
    // Built from the parts, not from `req`: copying `req` would follow its
    // signal, which Deno.serve warns about (its legacy abort behaviour).
    c.req.raw = new Request(req.url, {
      method: req.method,
      headers: req.headers,
      body,
      duplex: "half",
    } as RequestInit);
    try {
      await next();
    } finally {
      clear();
    }
  };
}
