/**
 * The one place where errors become HTTP responses. Every typed error of
 * raftkv carries a stable `code`; {@linkcode STATUS_BY_CODE} maps codes to
 * status codes, and {@linkcode errorResponse} builds the JSON body
 * `{"error":{"code","message"}}` with the headers each status needs
 * (`Retry-After` on every 503, `Allow` on 405, `X-Raft-Index` on 412), and
 * `compactIndex` in the body of a 410 `compacted`.
 * Anything unexpected becomes a logged 500.
 *
 * @module
 */

import { type Logger, RaftKvError } from "../raft/mod.ts";
import { CompactedError, KvError, PreconditionFailedError } from "../kv/mod.ts";

/** The root of the HTTP layer's own errors; `code` is stable. */
export class HttpError extends Error {
  /** A stable snake_case identifier of the error kind. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Malformed input (400). `code` names what was wrong: `invalid_id`,
 * `invalid_url`, `invalid_header`, `invalid_body` or `invalid_query`.
 */
export class BadRequestError extends HttpError {}

/** A value (`value_too_large`) or body (`body_too_large`) over its limit (413). */
export class PayloadTooLargeError extends HttpError {}

/**
 * A request without the right token (401): `unauthorized`. `challenge` is
 * the `WWW-Authenticate` value the answer carries.
 */
export class UnauthorizedError extends HttpError {
  /** The `WWW-Authenticate` header of the answer, e.g. `Bearer realm="raftkv"`. */
  readonly challenge: string;
  constructor(message: string, challenge: string) {
    super("unauthorized", message);
    this.challenge = challenge;
  }
}

/**
 * The request body ended before it was complete: the client hung up or the
 * connection broke mid-body (400, `body_incomplete`). Nothing was applied;
 * the answer usually reaches no one, and it is not logged as an error.
 */
export class BodyIncompleteError extends HttpError {
  constructor() {
    super(
      "body_incomplete",
      "the request body ended before it was complete: the request was not applied",
    );
  }
}

/**
 * A peer message refused before it reached the node (403), by the checks of
 * http/peer/peer_guard.ts. `code` says why: `cluster_mismatch` (another cluster
 * id, or none), `peer_unknown` (the sender is not a member),
 * `peer_mismatch` (a message of the batch, or a snapshot chunk, names
 * another sender or receiver than the request declares) or
 * `peer_not_leader` (a snapshot chunk from a node this node does not know
 * as its leader).
 */
export class PeerRefusedError extends HttpError {}

/** The client did not send the whole body in time (408, `body_timeout`). */
export class BodyTimeoutError extends HttpError {
  constructor(timeoutMs: number) {
    super(
      "body_timeout",
      `the request body did not arrive within ${timeoutMs} ms: the request was not applied`,
    );
  }
}

/**
 * A WebSocket upgrade this server cannot perform (501): the Node-based
 * server of `--header-timeout-ms`/`--idle-timeout-ms` over TLS, where Deno
 * 2.9 cannot take the connection over. Peers then send `POST /raft`.
 */
export class UpgradeUnsupportedError extends HttpError {
  constructor() {
    super(
      "upgrade_unsupported",
      "this node cannot upgrade TLS connections to WebSocket: use POST /raft",
    );
  }
}

/** No route has this path (404). */
export class RouteNotFoundError extends HttpError {
  constructor(method: string, path: string) {
    super("not_found", `no route for ${method} ${path}`);
  }
}

/** The path exists but not for this method (405); `allow` lists the methods. */
export class MethodNotAllowedError extends HttpError {
  /** The methods the path accepts, for the `Allow` header. */
  readonly allow: readonly string[];
  constructor(method: string, path: string, allow: readonly string[]) {
    super(
      "method_not_allowed",
      `${method} is not allowed on ${path}; allowed: ${allow.join(", ")}`,
    );
    this.allow = allow;
  }
}

/** The node is still loading its snapshot and WAL (503, retry). */
export class NodeRecoveringError extends HttpError {
  constructor() {
    super(
      "recovering",
      "the node is still recovering its state: the request was not applied",
    );
  }
}

/** The node is not healthy: no leader, or behind its commit index (503). */
export class UnhealthyError extends HttpError {
  constructor(reason: string) {
    super("unhealthy", reason);
  }
}

/**
 * The request's deadline passed before its outcome was known (504): a write
 * may still apply. It is also the abort reason of the signal handed to the
 * node, so a node that rejects with `signal.reason` produces it.
 */
export class RequestTimeoutError extends HttpError {
  constructor(deadlineMs: number) {
    super(
      "timeout",
      `no outcome within ${deadlineMs} ms: the request may still be applied`,
    );
  }
}

/**
 * Status code of each code that may reach a client. Codes come from
 * kv/errors.ts, raft/core/errors.ts, raft/errors.ts and this file. The node
 * signals garbage on `/raft` with code `invalid_message` (a `NodePort` may)
 * or `invalid_encoding` (raft/codec.ts's CodecError), a sender that was
 * removed from the cluster with `peer_removed` (410, the transport then
 * stops that node), a closing node with `stopped` (and a write it proposed
 * that may still commit with `outcome_unknown`), a passed deadline with
 * `timeout`, a lease request forwarded to a node that no longer leads with
 * `not_leader` (503).
 *
 * The internal codes are deliberately absent: `invalid_snapshot` and
 * `apply_order` (kv), `compacted` and `unavailable` (storage), `assertion`
 * (a broken Raft invariant) are produced only by raftkv's own bugs; one
 * reaching HTTP is answered `500 internal` and logged with its stack, like
 * any unexpected error.
 */
export const STATUS_BY_CODE: ReadonlyMap<string, number> = new Map([
  ["invalid_key", 400],
  ["invalid_id", 400],
  ["invalid_url", 400],
  ["invalid_header", 400],
  ["invalid_body", 400],
  ["invalid_query", 400],
  ["invalid_message", 400],
  ["invalid_encoding", 400],
  ["invalid_command", 400],
  ["invalid_value", 400],
  ["unauthorized", 401],
  ["cluster_mismatch", 403],
  ["peer_unknown", 403],
  ["peer_mismatch", 403],
  ["peer_not_leader", 403],
  ["key_not_found", 404],
  ["lease_not_found", 404],
  ["not_found", 404],
  ["method_not_allowed", 405],
  ["member_unknown", 404],
  ["conf_change_refused", 409],
  ["transfer_refused", 409],
  ["lock_held", 409],
  ["member_exists", 409],
  ["body_timeout", 408],
  ["member_removed", 409],
  ["member_url_exists", 409],
  ["body_incomplete", 400],
  ["peer_removed", 410],
  ["precondition_failed", 412],
  ["value_too_large", 413],
  ["body_too_large", 413],
  ["no_leader", 503],
  ["not_leader", 503],
  ["leader_changed", 503],
  ["proposal_dropped", 503],
  ["recovering", 503],
  ["stopped", 503],
  ["unhealthy", 503],
  ["overloaded", 503],
  ["upgrade_unsupported", 501],
  ["timeout", 504],
  ["outcome_unknown", 504],
]);

/** Options of {@linkcode errorResponse}. */
export interface ErrorResponseOptions {
  /** Where 500s are logged with their stack. */
  logger: Logger;
  /** The `Retry-After` value of every 503, in seconds. */
  retryAfterSeconds: number;
  /** The request, for the log line of a 500. */
  request?: Request;
}

/** Returns `err`'s stable code when it is one of raftkv's typed errors. */
function typedCode(err: unknown): string | undefined {
  if (
    err instanceof HttpError || err instanceof KvError ||
    err instanceof RaftKvError
  ) {
    return err.code;
  }
  // The signal's reason when a deadline or client abort cut the wait short:
  // the outcome is unknown, which is what 504 says.
  if (
    err instanceof DOMException &&
    (err.name === "TimeoutError" || err.name === "AbortError")
  ) {
    return "timeout";
  }
  return undefined;
}

/**
 * The status of a typed error: {@linkcode STATUS_BY_CODE} of its code, and
 * `410` for kv's `CompactedError` (a watch position older than the history;
 * matched by class, since the Raft core's internal `compacted` is a 500).
 */
export function statusFor(
  err: unknown,
  code: string | undefined = typedCode(err),
): number | undefined {
  if (err instanceof CompactedError) return 410;
  return code === undefined ? undefined : STATUS_BY_CODE.get(code);
}

/** Builds the JSON error response of `code` with `status` and extra headers. */
export function jsonError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  extra: Record<string, number> = {},
): Response {
  headers["content-type"] = "application/json";
  return new Response(JSON.stringify({ error: { code, message, ...extra } }), {
    status,
    headers,
  });
}

/** Maps any thrown value to its HTTP response; see the module doc. */
export function errorResponse(
  err: unknown,
  options: ErrorResponseOptions,
): Response {
  const code = typedCode(err);
  const status = statusFor(err, code);
  if (code === undefined || status === undefined) {
    options.logger.error("unexpected error while serving a request", {
      method: options.request?.method,
      url: options.request?.url,
      error: err instanceof Error ? err.message : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    return jsonError(500, "internal", "internal server error");
  }
  const headers: Record<string, string> = {};
  if (status === 503) {
    headers["retry-after"] = String(options.retryAfterSeconds);
  }
  if (err instanceof MethodNotAllowedError) {
    headers["allow"] = err.allow.join(", ");
  }
  if (err instanceof UnauthorizedError) {
    headers["www-authenticate"] = err.challenge;
  }
  if (err instanceof PreconditionFailedError) {
    headers["x-raft-index"] = String(err.currentIndex);
  }
  const message = err instanceof DOMException
    ? "the request was cut short before its outcome was known: it may still be applied"
    : (err as Error).message;
  const extra = err instanceof CompactedError
    ? { compactIndex: err.compactIndex }
    : undefined;
  return jsonError(status, code, message, headers, extra);
}
