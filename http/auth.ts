/**
 * Who may call what. Peers prove themselves on `POST /raft` and
 * `GET /raft/stream` with the cluster's peer token; clients, when a client token is set, on every other
 * route except `/health` and the `/ui` page shell. Both travel as
 * `Authorization: Bearer <token>` (HTTP proxies redact that header) and are
 * compared in constant time: both sides are hashed with SHA-256 first, so
 * neither the content nor the length of the token leaks through timing.
 *
 * A rejected peer request is never stepped: the check runs before the body
 * is read. Each rejection is logged as a warning, at most one line per
 * interval, with the number of rejections it stands for, so a flood of bad
 * requests cannot flood the log.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "../raft/mod.ts";
import { UnauthorizedError } from "./errors.ts";
import { rawPath } from "./validate.ts";

/** The routes only peers call: message batches and the message stream. */
export const PEER_PATHS: ReadonlySet<string> = new Set([
  "/raft",
  "/raft/stream",
]);

/**
 * The routes open without a client token: load balancers' health checks,
 * and the status page's shell (it holds no data; its calls to the API
 * carry the token like any client's).
 */
export function isOpenPath(path: string): boolean {
  return path === "/health" || path === "/ui" || path.startsWith("/ui/");
}

/** The `WWW-Authenticate` challenge of the client routes. */
export const CLIENT_CHALLENGE = 'Bearer realm="raftkv"';
/** The `WWW-Authenticate` challenge of the peer routes. */
export const PEER_CHALLENGE = 'Bearer realm="raftkv-peers"';

function sha256(text: string): Uint8Array {
  return createHash("sha256").update(text, "utf8").digest();
}

/** A secret token that presented tokens are compared with in constant time. */
export class Token {
  readonly #digest: Uint8Array;

  constructor(secret: string) {
    if (secret === "") throw new RangeError("a token must not be empty");
    this.#digest = sha256(secret);
  }

  /** Whether `presented` is the token; the time taken does not depend on either. */
  matches(presented: string | undefined): boolean {
    const same = timingSafeEqual(sha256(presented ?? ""), this.#digest);
    return same && presented !== undefined;
  }
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  return BEARER.exec(header)?.[1];
}

/**
 * Lets through at most one event per interval and counts the rest, for log
 * lines that must not multiply under a flood.
 */
export class RateLimiter {
  #nextAt = -Infinity;
  #suppressed = 0;

  constructor(
    readonly intervalMs: number,
    readonly now: () => number = Date.now,
  ) {}

  /**
   * Returns the number of events suppressed since the last one let through
   * when this one may go (the caller logs it), else undefined.
   */
  take(): number | undefined {
    const t = this.now();
    if (t < this.#nextAt) {
      this.#suppressed++;
      return undefined;
    }
    this.#nextAt = t + this.intervalMs;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

/** Options of {@linkcode authCheck}. */
export interface AuthOptions {
  /** The cluster's peer token; without it `/raft` is open. */
  peerToken?: string;
  /** The client token; without it the client routes are open. */
  clientToken?: string;
  logger: Logger;
  /** At most one warning per this many ms per kind (default 10 s). */
  warnIntervalMs?: number;
  /** The clock of the warning limiter (tests). */
  now?: () => number;
}

/** The remote address Deno.serve hands the app as its env, when known. */
function remoteOf(env: unknown): string | undefined {
  const addr = (env as { remoteAddr?: { hostname?: unknown } } | undefined)
    ?.remoteAddr;
  return typeof addr?.hostname === "string" ? addr.hostname : undefined;
}

/**
 * Checks one request's token: throws {@linkcode UnauthorizedError} (401
 * with `WWW-Authenticate`) when a token is required and missing or wrong,
 * and returns otherwise. `env` is what Deno.serve hands the app (for the
 * remote address in the warning).
 */
export type AuthCheck = (req: Request, env?: unknown) => void;

/** The token check of {@linkcode AuthOptions}, shared by every router. */
export function authCheck(o: AuthOptions): AuthCheck {
  const peer = o.peerToken ? new Token(o.peerToken) : undefined;
  const client = o.clientToken ? new Token(o.clientToken) : undefined;
  const interval = o.warnIntervalMs ?? 10_000;
  const peerWarn = new RateLimiter(interval, o.now);
  const clientWarn = new RateLimiter(interval, o.now);
  return (req, env) => {
    const path = rawPath(req.url);
    const isPeer = PEER_PATHS.has(path);
    const token = isPeer ? peer : isOpenPath(path) ? undefined : client;
    if (
      !token || token.matches(bearerToken(req.headers.get("authorization")))
    ) {
      return;
    }
    const limiter = isPeer ? peerWarn : clientWarn;
    const suppressed = limiter.take();
    if (suppressed !== undefined) {
      o.logger.warn(
        isPeer
          ? "refused a peer request without the right peer token"
          : "refused a client request without the right client token",
        {
          method: req.method,
          path: isPeer ? path : undefined,
          remote: remoteOf(env),
          suppressed,
        },
      );
    }
    throw isPeer
      ? new UnauthorizedError(
        "peer requests need the cluster's peer token (--peer-token)",
        PEER_CHALLENGE,
      )
      : new UnauthorizedError(
        "this node requires Authorization: Bearer <client token>",
        CLIENT_CHALLENGE,
      );
  };
}

/**
 * The middleware that checks tokens before any Hono route runs
 * ({@linkcode authCheck}; pass the same check to every router of an app so
 * they share its warning limiter).
 */
export function authMiddleware(o: AuthOptions | AuthCheck): MiddlewareHandler {
  const check = typeof o === "function" ? o : authCheck(o);
  return async (c, next) => {
    check(c.req.raw, c.env);
    await next();
  };
}

/**
 * Whether `host` (a host name or IP address, IPv6 with or without brackets)
 * can only be reached from this machine: 127.0.0.0/8, ::1 or localhost.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.replace(/^::ffff:/, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
