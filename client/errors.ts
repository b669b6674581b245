/**
 * The errors the client throws. Every answer of the API that is not a
 * success becomes an {@linkcode ApiError} carrying the JSON `code` and the
 * HTTP status; two situations the caller must tell apart get their own
 * classes: {@linkcode UnavailableError} (no endpoint could serve the
 * request: it was not applied) and {@linkcode OutcomeUnknownError} (a write
 * may or may not have been applied).
 *
 * @example Telling the outcomes apart
 * ```ts ignore
 * import { OutcomeUnknownError, PreconditionFailedError } from "@raftkv/raftkv/client";
 * try {
 *   await kv.put("config", "v2", { ifMatch: 41 });
 * } catch (err) {
 *   if (err instanceof PreconditionFailedError) console.log("now at", err.currentIndex);
 *   else if (err instanceof OutcomeUnknownError) console.log("maybe applied: read it back");
 *   else throw err;
 * }
 * ```
 *
 * @module
 */

/** The root of every error the client throws on purpose. */
export class RaftKvClientError extends Error {
  /** An error with `message` (and `options.cause`), named after its class. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** What the client knows of an error answer. */
export interface ApiErrorInit {
  /** The HTTP status, e.g. 412. */
  status: number;
  /** The stable `error.code` of the JSON body, e.g. `precondition_failed`. */
  code: string;
  /** The body's `error.message` (or the status text when the body had none). */
  message: string;
  /** The endpoint that answered. */
  endpoint: string;
  /** `Retry-After` in milliseconds, when the answer had one. */
  retryAfterMs?: number;
}

/**
 * The API answered with an error: `code` is the JSON `error.code` (see
 * docs/API.md, "Errors"), `status` the HTTP status. Subclasses name the
 * codes a caller usually branches on.
 */
export class ApiError extends RaftKvClientError {
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The stable error code of the answer's JSON body. */
  readonly code: string;
  /** The endpoint that answered. */
  readonly endpoint: string;
  /** `Retry-After` of the answer in milliseconds, when it had one. */
  readonly retryAfterMs?: number;
  /** The error of one answer. */
  constructor(init: ApiErrorInit) {
    super(`${init.code} (${init.status}): ${init.message}`);
    this.status = init.status;
    this.code = init.code;
    this.endpoint = init.endpoint;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

/** A key, member or route that does not exist (404). */
export class NotFoundError extends ApiError {}

/**
 * A condition failed (412): `If-Match` named another index, or
 * `If-None-Match: *` found the key present. `currentIndex` is the key's
 * index now (0 when absent), from the answer's `X-Raft-Index`.
 */
export class PreconditionFailedError extends ApiError {
  /** The key's current index (0 when the key is absent). */
  readonly currentIndex: number;
  /** The error of a 412 answer; `currentIndex` from its `X-Raft-Index`. */
  constructor(init: ApiErrorInit, currentIndex: number) {
    super(init);
    this.currentIndex = currentIndex;
  }
}

/** A lease that does not exist (any more): `404 lease_not_found`. */
export class LeaseNotFoundError extends NotFoundError {}

/** `409 lock_held`: another lease held the lock for all of `wait`. */
export class LockHeldError extends ApiError {}

/**
 * `410 compacted`: the watch position is older than the node's watch
 * history. `compactIndex` is the oldest index that node can still deliver:
 * re-read what you watch (a listing), then watch from its index.
 */
export class CompactedError extends ApiError {
  /** The oldest index the node can deliver (`error.compactIndex`). */
  readonly compactIndex: number;
  /** The error of a 410 answer; `compactIndex` from its body. */
  constructor(init: ApiErrorInit, compactIndex: number) {
    super(init);
    this.compactIndex = compactIndex;
  }
}

/**
 * The node ended a watch with `event: cancelled`: `reason` `"slow"` (the
 * watcher did not read fast enough and its buffer overflowed) or
 * `"compacted"` (the node replaced its history with a snapshot). `resume`
 * is the `from` to pass next; after `"compacted"`, watching from it
 * usually answers {@linkcode CompactedError}: re-read, then watch again.
 */
export class WatchCancelledError extends RaftKvClientError {
  /** Why the node ended the watch. */
  readonly reason: string;
  /** The first index not delivered: pass it as `from` to go on. */
  readonly resume: number;
  /** A watch the node cancelled for `reason`; go on from `resume`. */
  constructor(reason: string, resume: number) {
    super(`the node cancelled the watch (${reason}); resume from ${resume}`);
    this.reason = reason;
    this.resume = resume;
  }
}

/**
 * A lease kept alive by `keepAlive` was lost: it was gone when a keepalive
 * arrived (`cause` is the {@linkcode LeaseNotFoundError}), or no keepalive
 * succeeded for a whole TTL, so it may have expired (`cause` is the last
 * failure).
 */
export class LeaseLostError extends RaftKvClientError {
  /** The lease that was lost. */
  readonly id: number;
  /** Lease `id` was lost; `cause` says why. */
  constructor(id: number, message: string, cause: unknown) {
    super(`lease ${id} lost: ${message}`, { cause });
    this.id = id;
  }
}

/** The request lacked the right token (401): pass `token` to the client. */
export class UnauthorizedError extends ApiError {}

/**
 * No endpoint served the request within its attempts and time budget:
 * connection errors, `503` (not applied) or, for reads, `504`. The request
 * was **not** applied (a write is only ever retried when it was not).
 * `lastError` is the last failure seen.
 */
export class UnavailableError extends RaftKvClientError {
  /** The last failure: an {@linkcode ApiError} or a network error. */
  readonly lastError: unknown;
  /** How many requests were sent. */
  readonly attempts: number;
  /** Gave up after `attempts` requests; `lastError` is the last failure. */
  constructor(message: string, lastError: unknown, attempts: number) {
    super(message, { cause: lastError });
    this.lastError = lastError;
    this.attempts = attempts;
  }
}

/**
 * A write whose outcome is unknown: it answered `504`, or the connection
 * broke (or the time budget ran out) after the request was sent. It may
 * still be applied. The client never repeats such a write on its own: read
 * the key back, or repeat it with a condition (`ifMatch`) when that is safe.
 */
export class OutcomeUnknownError extends RaftKvClientError {
  /** The endpoint the write was sent to. */
  readonly endpoint: string;
  /** The `504` answer, or the network error or abort reason. */
  readonly reason: unknown;
  /** The write sent to `endpoint` ended with `reason` (a 504, a network error). */
  constructor(endpoint: string, reason: unknown) {
    const why = reason instanceof ApiError
      ? reason.message
      : reason instanceof Error
      ? reason.message
      : String(reason);
    super(`outcome unknown: the write may or may not be applied (${why})`, {
      cause: reason,
    });
    this.endpoint = endpoint;
    this.reason = reason;
  }
}

/** Parses `Retry-After` (seconds, or an HTTP date) into milliseconds. */
export function parseRetryAfter(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Builds the typed error of an answer that is not a success, from its
 * status, headers and JSON body (`{"error":{"code","message"}}`). Reads
 * (and so consumes) the body.
 */
export async function errorFromResponse(
  res: Response,
  endpoint: string,
): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let compactIndex = 0;
  try {
    const body = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; compactIndex?: unknown };
    };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
    if (typeof body.error?.compactIndex === "number") {
      compactIndex = body.error.compactIndex;
    }
  } catch {
    if (text !== "") message = text.slice(0, 200);
  }
  const init: ApiErrorInit = { status: res.status, code, message, endpoint };
  const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
  if (retryAfterMs !== undefined) init.retryAfterMs = retryAfterMs;
  switch (res.status) {
    case 401:
      return new UnauthorizedError(init);
    case 404:
      return code === "lease_not_found"
        ? new LeaseNotFoundError(init)
        : new NotFoundError(init);
    case 409:
      return code === "lock_held"
        ? new LockHeldError(init)
        : new ApiError(init);
    case 410:
      return code === "compacted"
        ? new CompactedError(init, compactIndex)
        : new ApiError(init);
    case 412:
      return new PreconditionFailedError(
        init,
        Number(res.headers.get("x-raft-index") ?? 0),
      );
    default:
      return new ApiError(init);
  }
}
