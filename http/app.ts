/**
 * The raftkv HTTP app: every route of API.md in one Hono app, with one
 * error mapping (http/errors.ts), JSON 404s and 405s with `Allow`.
 *
 * @module
 */

import { Hono } from "hono";
import { DEFAULTS, type Logger, nopLogger, Registry } from "../raft/mod.ts";
import type { RouteContext } from "./context.ts";
import {
  errorResponse,
  MethodNotAllowedError,
  RouteNotFoundError,
} from "./errors.ts";
import { InvalidKeyError } from "../kv/mod.ts";
import { kvKeyRouter, registerKvRoutes } from "./api/kv_routes.ts";
import {
  registerMemberRoutes,
  registerRootMemberRoutes,
} from "./api/member_routes.ts";
import type { NodePort } from "./node_port.ts";
import { registerRaftRoutes, transferSinks } from "./peer/raft_routes.ts";
import { type PeerDirectory, PeerGuard } from "./peer/peer_guard.ts";
import { SnapshotReceiver } from "./peer/snapshot_receiver.ts";
import { authCheck, authMiddleware } from "./auth.ts";
import { registerSnapshotRoutes } from "./api/snapshot_routes.ts";
import { registerOpenapiRoutes } from "./api/openapi_routes.ts";
import { allowedMethods, KV_KEY_PREFIX } from "./api/route_table.ts";
import { registerStatusRoutes } from "./api/status_routes.ts";
import {
  HttpMetrics,
  httpMetricsMiddleware,
  registerMetricsRoutes,
} from "./api/metrics_routes.ts";
import { registerUiRoutes } from "./ui/ui_routes.ts";
import { registerTxnRoutes } from "./api/txn_routes.ts";
import { registerLeaseRoutes } from "./api/lease_routes.ts";
import { registerLockRoutes } from "./api/lock_routes.ts";
import { registerWatchRoutes } from "./api/watch_routes.ts";
import { REAL_WAKE_CLOCK, WakeCoalescer } from "./api/wake_coalescer.ts";
import { rawPath } from "./validate.ts";
import { drainBody } from "./body.ts";
import { maxRaftBodyBytesFor } from "./peer/snapshot_chunks.ts";

/** What {@linkcode createApp} needs. */
export interface AppDeps {
  /** The node the app serves. */
  node: NodePort;
  /** Where unexpected errors are logged (default: dropped). */
  logger?: Logger;
  /** The largest value of a PUT in bytes (default: `DEFAULTS.maxValueBytes`); 413 beyond. */
  maxValueBytes?: number;
  /**
   * The largest `POST /raft` body in bytes; 413 beyond. Default: from
   * `snapshotChunkBytes` and `maxValueBytes` (`maxRaftBodyBytesFor`).
   */
  maxRaftBodyBytes?: number;
  /** The snapshot chunk size the peers send (default: `DEFAULTS.snapshotChunkBytes`). */
  snapshotChunkBytes?: number;
  /** How long a request waits for the node before 504 (default: `DEFAULTS.requestTimeoutMs`). */
  requestTimeoutMs?: number;
  /** `Retry-After` of every 503 in seconds (default 1). */
  retryAfterSeconds?: number;
  /** The token peers must present on `POST /raft` (default: none, open). */
  peerToken?: string;
  /** The token clients must present on client routes (default: none, open). */
  clientToken?: string;
  /** How long a client may take to send a request body (default: `DEFAULTS.bodyTimeoutMs`); 408 beyond. */
  bodyTimeoutMs?: number;
  /**
   * How `GET /v1/cluster/status` reaches the other members (default: the
   * global fetch); with peer TLS, one that trusts the cluster's CA.
   */
  memberFetch?: typeof fetch;
  /**
   * Where `/metrics` renders from and HTTP metrics are recorded; pass the
   * registry of the node's RaftMetrics (default: a new one, HTTP only).
   */
  metrics?: Registry;
  /** `--watch-progress-ms` (default: `DEFAULTS.watchProgressMs`). */
  watchProgressMs?: number;
  /** `--watch-coalesce-ms` (default: `DEFAULTS.watchCoalesceMs`). */
  watchCoalesceMs?: number;
  /** `--watch-coalesce-max-ms` (default: `DEFAULTS.watchCoalesceMaxMs`). */
  watchCoalesceMaxMs?: number;
  /** Aborts when the node stops: open watch streams and long polls end. */
  stop?: AbortSignal;
  /**
   * Who this node is and whom it takes Raft messages from; with it, every
   * peer request is checked before the node sees it (http/peer/peer_guard.ts).
   * Default: none, no checks (tests of other routes).
   */
  peers?: PeerDirectory;
  /**
   * The most bytes all snapshot transfers in progress may announce
   * together (`--max-snapshot-bytes`; default:
   * `DEFAULTS.maxSnapshotBytes`); 413 beyond.
   */
  maxSnapshotBytes?: number;
}

/**
 * Builds the app. Serve it with `Deno.serve({ ... }, app.fetch)` on the
 * node's own port and on `--port`; tests call `app.request()`.
 *
 * @example
 * ```ts ignore
 * const app = createApp({ node, logger });
 * Deno.serve({ hostname: "127.0.0.1", port: 12379 }, app.fetch);
 * ```
 */
export function createApp(deps: AppDeps): Hono {
  const ctx: RouteContext = {
    node: deps.node,
    logger: deps.logger ?? nopLogger,
    maxValueBytes: deps.maxValueBytes ?? DEFAULTS.maxValueBytes.value,
    maxRaftBodyBytes: deps.maxRaftBodyBytes ??
      maxRaftBodyBytesFor(
        deps.snapshotChunkBytes ?? DEFAULTS.snapshotChunkBytes.value,
        deps.maxValueBytes ?? DEFAULTS.maxValueBytes.value,
      ),
    requestTimeoutMs: deps.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs.value,
    retryAfterSeconds: deps.retryAfterSeconds ?? 1,
    bodyTimeoutMs: deps.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs.value,
    watchProgressMs: deps.watchProgressMs ?? DEFAULTS.watchProgressMs.value,
    watchWakes: new WakeCoalescer(
      deps.watchCoalesceMs ?? DEFAULTS.watchCoalesceMs.value,
      REAL_WAKE_CLOCK,
      deps.watchCoalesceMaxMs ?? DEFAULTS.watchCoalesceMaxMs.value,
    ),
  };
  if (deps.stop !== undefined) ctx.stop = deps.stop;
  const app = new Hono();
  const metrics = deps.metrics ?? new Registry();
  const httpMetrics = new HttpMetrics(metrics);
  // First, so it counts every request, also those a middleware rejects.
  app.use(httpMetricsMiddleware(httpMetrics));
  // Without tokens every route is open: no check, no cost per request.
  const auth = deps.peerToken || deps.clientToken
    ? authCheck({
      peerToken: deps.peerToken,
      clientToken: deps.clientToken,
      logger: ctx.logger,
    })
    : undefined;
  if (auth) app.use(authMiddleware(auth));
  // Body deadlines (--body-timeout-ms) are set where bodies are read
  // (http/body.ts), only for requests that have one.
  // Order matters: exact routes first, raftexample's /{id} last.
  registerStatusRoutes(app, ctx);
  registerMetricsRoutes(app, ctx, metrics);
  registerUiRoutes(app, ctx, { fetch: deps.memberFetch });
  const snapshots = new SnapshotReceiver({
    maxTotalBytes: deps.maxSnapshotBytes,
    open: transferSinks(ctx),
  });
  const reserved = metrics.gauge(
    "raftkv_snapshot_receive_reserved_bytes",
    "Bytes reserved by snapshot transfers this node is receiving.",
  );
  metrics.onCollect(() => reserved.set(snapshots.reservedBytes));
  registerRaftRoutes(app, ctx, {
    snapshots,
    guard: deps.peers &&
      new PeerGuard({
        directory: deps.peers,
        logger: ctx.logger,
        registry: metrics,
      }),
  });
  registerMemberRoutes(app, ctx);
  registerSnapshotRoutes(app, ctx);
  registerOpenapiRoutes(app);
  registerKvRoutes(app, ctx);
  registerTxnRoutes(app, ctx, metrics);
  registerLeaseRoutes(app, ctx, { metrics, fetch: deps.memberFetch });
  registerLockRoutes(app, ctx, metrics);
  registerWatchRoutes(app, ctx);
  registerRootMemberRoutes(app, ctx);
  // The key routes (/v1/kv/{key}, raftexample's /{key}) have their own
  // router, ahead of Hono's: http/api/kv_routes.ts, docs/notes/router_ab.md.
  const keys = kvKeyRouter(ctx, httpMetrics, auth);
  const routed = app.fetch;
  app.fetch = (req, env, executionCtx) =>
    keys(req, env) ?? routed(req, env, executionCtx);
  app.notFound((c) => {
    throw unmatched(c.req.raw);
  });
  app.onError(async (err, c) => {
    const res = errorResponse(err, {
      logger: ctx.logger,
      retryAfterSeconds: ctx.retryAfterSeconds,
      request: c.req.raw,
    });
    // An error answered before the body was read (401, 413, 400, 503):
    // read it first, or HTTP/2 clients see a stream reset (http/body.ts).
    if (c.req.raw.body !== null) await drainBody(c.req.raw, ctx.bodyTimeoutMs);
    return res;
  });
  return app;
}

/** The error for a request no route matched: 405, 400 (bad key path) or 404. */
function unmatched(req: Request): Error {
  const path = rawPath(req.url);
  const allow = allowedMethods(path);
  if (allow !== undefined) {
    return new MethodNotAllowedError(req.method, path, allow);
  }
  if (path.startsWith(KV_KEY_PREFIX)) {
    return new InvalidKeyError(
      path.length === KV_KEY_PREFIX.length
        ? "the key is empty"
        : "a key is one path segment: percent-encode '/' as %2F",
    );
  }
  return new RouteNotFoundError(req.method, path);
}
