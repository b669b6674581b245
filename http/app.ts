/**
 * The raftkv HTTP app: every route of API.md in one Hono app, with one
 * error mapping (http/errors.ts), JSON 404s and 405s with `Allow`.
 *
 * @module
 */

import { Hono } from "hono";
import { type Logger, nopLogger, Registry } from "../raft/mod.ts";
import type { RouteContext } from "./context.ts";
import {
  errorResponse,
  MethodNotAllowedError,
  RouteNotFoundError,
} from "./errors.ts";
import { InvalidKeyError } from "../kv/mod.ts";
import {
  kvFastPath,
  registerKvRoutes,
  registerRootKvRoutes,
} from "./kv_routes.ts";
import {
  registerMemberRoutes,
  registerRootMemberRoutes,
} from "./member_routes.ts";
import type { NodePort } from "./node_port.ts";
import { registerRaftRoutes } from "./raft_routes.ts";
import { type PeerDirectory, PeerGuard } from "./peer_guard.ts";
import { SnapshotReceiver } from "./snapshot_receiver.ts";
import { authMiddleware } from "./auth.ts";
import { BODY_TIMEOUT_MS_DEFAULT } from "./body.ts";
import { registerSnapshotRoutes } from "./snapshot_routes.ts";
import { allowedMethods, KV_KEY_PREFIX } from "./route_table.ts";
import { registerStatusRoutes } from "./status_routes.ts";
import {
  HttpMetrics,
  httpMetricsMiddleware,
  registerMetricsRoutes,
} from "./metrics_routes.ts";
import { registerUiRoutes } from "./ui_routes.ts";
import { rawPath } from "./validate.ts";
import {
  raftBodyBytesMaxFor,
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
} from "./snapshot_chunks.ts";

/** The default largest value: 1 MiB (API.md). */
export const VALUE_BYTES_MAX_DEFAULT = 1024 * 1024;
/**
 * The default largest `POST /raft` body: one snapshot chunk plus the
 * largest ordinary message (http/snapshot_chunks.ts), about 2 MiB.
 */
export const RAFT_BODY_BYTES_MAX_DEFAULT = raftBodyBytesMaxFor(
  SNAPSHOT_CHUNK_BYTES_DEFAULT,
  VALUE_BYTES_MAX_DEFAULT,
);
/** The default request deadline: 5 s. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 5000;

/** What {@linkcode createApp} needs. */
export interface AppDeps {
  /** The node the app serves. */
  node: NodePort;
  /** Where unexpected errors are logged (default: dropped). */
  logger?: Logger;
  /** The largest value of a PUT in bytes (default 1 MiB); 413 beyond. */
  valueBytesMax?: number;
  /**
   * The largest `POST /raft` body in bytes; 413 beyond. Default: from
   * `snapshotChunkBytes` and `valueBytesMax` (`raftBodyBytesMaxFor`).
   */
  raftBodyBytesMax?: number;
  /** The snapshot chunk size the peers send (default 1 MiB). */
  snapshotChunkBytes?: number;
  /** How long a request waits for the node before 504 (default 5000 ms). */
  requestTimeoutMs?: number;
  /** `Retry-After` of every 503 in seconds (default 1). */
  retryAfterSeconds?: number;
  /** The token peers must present on `POST /raft` (default: none, open). */
  peerToken?: string;
  /** The token clients must present on client routes (default: none, open). */
  clientToken?: string;
  /** How long a client may take to send a request body (default 30 s); 408 beyond. */
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
  /**
   * Who this node is and whom it takes Raft messages from; with it, every
   * peer request is checked before the node sees it (http/peer_guard.ts).
   * Default: none, no checks (tests of other routes).
   */
  peers?: PeerDirectory;
  /**
   * The most bytes all snapshot transfers in progress may announce
   * together (`--max-snapshot-bytes`; default 2 GiB); 413 beyond.
   */
  snapshotBytesMax?: number;
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
    valueBytesMax: deps.valueBytesMax ?? VALUE_BYTES_MAX_DEFAULT,
    raftBodyBytesMax: deps.raftBodyBytesMax ??
      raftBodyBytesMaxFor(
        deps.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES_DEFAULT,
        deps.valueBytesMax ?? VALUE_BYTES_MAX_DEFAULT,
      ),
    requestTimeoutMs: deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
    retryAfterSeconds: deps.retryAfterSeconds ?? 1,
    bodyTimeoutMs: deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS_DEFAULT,
  };
  const app = new Hono();
  const metrics = deps.metrics ?? new Registry();
  const httpMetrics = new HttpMetrics(metrics);
  // First, so it counts every request, also those a middleware rejects.
  app.use(httpMetricsMiddleware(httpMetrics));
  const auth = Boolean(deps.peerToken || deps.clientToken);
  // Without tokens every route is open: no middleware, no cost per request.
  if (auth) {
    app.use(authMiddleware({
      peerToken: deps.peerToken,
      clientToken: deps.clientToken,
      logger: ctx.logger,
    }));
  }
  // Body deadlines (--body-timeout-ms) are set where bodies are read
  // (http/body.ts), only for requests that have one.
  // Order matters: exact routes first, raftexample's /{key} and /{id} last.
  registerStatusRoutes(app, ctx);
  registerMetricsRoutes(app, ctx, metrics);
  registerUiRoutes(app, ctx, { fetch: deps.memberFetch });
  const snapshots = new SnapshotReceiver({
    totalBytesMax: deps.snapshotBytesMax,
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
  registerKvRoutes(app, ctx);
  registerRootKvRoutes(app, ctx);
  registerRootMemberRoutes(app, ctx);
  if (!auth) {
    // The key routes skip Hono's router and context when nothing but the
    // metrics middleware would run (http/kv_routes.ts' kvFastPath).
    const fast = kvFastPath(ctx, httpMetrics);
    const routed = app.fetch;
    app.fetch = (req, env, executionCtx) =>
      fast(req) ?? routed(req, env, executionCtx);
  }
  app.notFound((c) => {
    throw unmatched(c.req.raw);
  });
  app.onError((err, c) =>
    errorResponse(err, {
      logger: ctx.logger,
      retryAfterSeconds: ctx.retryAfterSeconds,
      request: c.req.raw,
    })
  );
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
