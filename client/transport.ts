/**
 * One request over several endpoints: the retry policy of the client.
 *
 * - A connection that could not be opened, a `503` (not applied) and, for
 *   reads, a `504` or a broken connection move the request to the next
 *   endpoint. After a round over every endpoint the client waits for the
 *   largest `Retry-After` it was given (or a short backoff), within the
 *   request's time budget; the number of attempts is bounded too.
 * - A write that answered `504`, or whose connection broke after it was
 *   sent, or that ran out of time, is never sent again: it throws
 *   {@linkcode OutcomeUnknownError}.
 * - Any other error answer throws its typed {@linkcode ApiError} at once.
 *
 * Only `fetch`, `AbortSignal` and timers are used: it runs in Deno, Node 20+
 * and browsers.
 *
 * @module
 */

import type { Endpoints } from "./endpoints.ts";
import {
  ApiError,
  errorFromResponse,
  OutcomeUnknownError,
  RaftKvClientError,
  UnavailableError,
} from "./errors.ts";

/** The `fetch` the client calls; pass your own for TLS settings, proxies or tests. */
export type FetchFn = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>;

/** How the transport behaves; every field has a default. */
export interface TransportOptions {
  /** The time budget of one call, retries and waits included (default 10 000 ms). */
  timeoutMs?: number;
  /** At most this many requests per call (default: 2 per endpoint, at least 3). */
  maxAttempts?: number;
  /** The wait after a round of connection errors without `Retry-After` (default 200 ms). */
  backoffMs?: number;
  /** `Authorization: Bearer <token>` on every request. */
  token?: string;
  /** The fetch to use (default: the global `fetch`). */
  fetch?: FetchFn;
}

/** One request as the client methods describe it. */
export interface Call {
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** Path and query, e.g. `/v1/kv/a%2Fb?consistency=stale`. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** True for requests that change state: never repeated after they may have applied. */
  write: boolean;
  /** Statuses that are answers, not errors (e.g. 404 for a `get`). */
  accept?: readonly number[];
  /** Cancels the call (and any wait), and the answer's body. */
  signal?: AbortSignal;
  /**
   * The answer's body is a stream that lasts (a watch): the time budget
   * covers getting the answer's head only, not reading its body.
   */
  stream?: boolean;
  /** This call's time budget instead of the transport's (e.g. a lock's wait on top). */
  timeoutMs?: number;
  /** Try this endpoint last in the first round (a watch that broke there). */
  avoid?: string;
}

/** The answer of a call, its body not yet read. */
export interface Answer {
  response: Response;
  /** The endpoint that answered. */
  endpoint: string;
}

/** Sends {@linkcode Call}s with the policy of the module doc. */
export class Transport {
  readonly #endpoints: Endpoints;
  readonly #fetch: FetchFn;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #token?: string;

  constructor(endpoints: Endpoints, options: TransportOptions = {}) {
    this.#endpoints = endpoints;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxAttempts = options.maxAttempts ??
      Math.max(3, 2 * endpoints.all.length);
    this.#backoffMs = options.backoffMs ?? 200;
    if (options.token !== undefined) this.#token = options.token;
  }

  /**
   * Sends `call`, retrying as the module doc says, and resolves with the
   * first answer that is a success or in `call.accept`.
   *
   * @throws {ApiError} for an error answer that is not retried.
   * @throws {UnavailableError} when attempts or time ran out (not applied).
   * @throws {OutcomeUnknownError} for a write that may have been applied.
   */
  async send(call: Call): Promise<Answer> {
    const deadline = Date.now() + (call.timeoutMs ?? this.#timeoutMs);
    const roundSize = this.#endpoints.all.length;
    const skip = call.avoid !== undefined && roundSize > 1 &&
        this.#endpoints.at(0) === call.avoid
      ? 1
      : 0;
    let last: unknown;
    let waitMs = 0;
    let sent = 0;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (attempt > 0 && attempt % roundSize === 0) {
        // A whole round failed: wait as asked (or back off) within budget.
        const wait = waitMs > 0 ? waitMs : this.#backoffMs;
        if (Date.now() + wait >= deadline) break;
        await sleep(wait, call.signal);
        waitMs = 0;
      }
      const endpoint = this.#endpoints.at(attempt + skip);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const timeout = call.stream
        ? headTimeout(remaining)
        : { signal: AbortSignal.timeout(remaining), clear: () => {} };
      const signal = call.signal
        ? AbortSignal.any([call.signal, timeout.signal])
        : timeout.signal;
      let response: Response;
      sent++;
      try {
        response = await this.#fetch(endpoint + call.path, {
          method: call.method,
          headers: this.#headers(call),
          ...(call.body === undefined ? {} : { body: call.body }),
          signal,
        });
      } catch (err) {
        timeout.clear();
        if (call.signal?.aborted) throw call.signal.reason;
        if (timeout.signal.aborted) {
          if (call.write) throw new OutcomeUnknownError(endpoint, err);
          last = err;
          break;
        }
        if (call.write && !isConnectError(err)) {
          throw new OutcomeUnknownError(endpoint, err);
        }
        last = err;
        continue;
      }
      timeout.clear();
      const status = response.status;
      if (status < 300 || call.accept?.includes(status)) {
        this.#endpoints.worked(endpoint);
        return { response, endpoint };
      }
      const error = await errorFromResponse(response, endpoint);
      if (status === 504 && call.write) {
        throw new OutcomeUnknownError(endpoint, error);
      }
      if (status === 503 || status === 504) {
        last = error;
        waitMs = Math.max(waitMs, error.retryAfterMs ?? 0);
        continue;
      }
      throw error;
    }
    throw new UnavailableError(
      `no endpoint served ${call.method} ${call.path.split("?")[0]} ` +
        `(tried ${this.#endpoints.all.join(", ")}): ${describe(last)}`,
      last,
      sent,
    );
  }

  #headers(call: Call): Record<string, string> {
    const headers: Record<string, string> = { ...call.headers };
    if (this.#token !== undefined) {
      headers["authorization"] = `Bearer ${this.#token}`;
    }
    return headers;
  }
}

/**
 * Whether a fetch error says the connection was never opened (refused,
 * unreachable, unknown host), so the request surely was not received.
 * Deno says "tcp connect error" / "Connection refused"; Node's undici puts
 * `ECONNREFUSED` and friends on `cause.code`; browsers say nothing precise
 * (a `TypeError`), which counts as not connected only for reads.
 */
export function isConnectError(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === "string" ? cause.code : "";
  if (
    ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]
      .includes(code)
  ) return true;
  return /\(Connect\)|connect error|connection refused|dns error|failed to lookup/i
    .test(messageOf(err));
}

/** An error's message with its cause's (Deno and Node put the detail there). */
function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err ?? "no attempt");
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return err.message + cause;
}

function describe(err: unknown): string {
  if (err instanceof ApiError || err instanceof RaftKvClientError) {
    return err.message;
  }
  return messageOf(err);
}

/**
 * A time limit that can be lifted: `signal` aborts after `ms` unless
 * `clear()` came first (a stream's body outlives its head's deadline).
 */
function headTimeout(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException("timed out", "TimeoutError")),
    ms,
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
