/**
 * The HTTP layer of raftkv, entered only through this module (the other
 * folders and main.ts import nothing else of http/; tests/arch_test.ts):
 * the Hono app of API.md (`createApp`), the port it needs from the node
 * (`NodePort`, `KvNode` for a real one), the error mapping, the peer
 * transport (`PeerTransport`) and the server with connection timeouts
 * (`serveWithTimeouts`). Inside: `api/` the client API, `peer/` node to
 * node, `serving/` the socket layer, `ui/` the status page; shared
 * middleware at the top (docs/ARCHITECTURE.md).
 *
 * @example
 * ```ts ignore
 * import { createApp } from "./mod.ts";
 *
 * const app = createApp({ node });
 * Deno.serve({ hostname: "127.0.0.1", port: 12379 }, app.fetch);
 * ```
 *
 * @module
 */

export {
  type AppDeps,
  createApp,
  RAFT_BODY_BYTES_MAX_DEFAULT,
  REQUEST_TIMEOUT_MS_DEFAULT,
  VALUE_BYTES_MAX_DEFAULT,
} from "./app.ts";
export {
  BadRequestError,
  errorResponse,
  HttpError,
  MethodNotAllowedError,
  NodeRecoveringError,
  PayloadTooLargeError,
  RequestTimeoutError,
  RouteNotFoundError,
  STATUS_BY_CODE,
  UnhealthyError,
} from "./errors.ts";
export type {
  Health,
  Member,
  MemberRole,
  MembersView,
  NodePort,
  NodeStatus,
  PeerProgress,
} from "./node_port.ts";
export { isLoopbackHost } from "./auth.ts";
export { KvNode } from "./api/kv_node.ts";
export type { WalStats } from "./api/kv_node.ts";
export { HttpMetrics, httpMetricsMiddleware } from "./api/metrics_routes.ts";
export { PeerTransport } from "./peer/peer_transport.ts";
export type {
  PeerStats,
  PeerTransportOptions,
  TransportListener,
} from "./peer/peer_transport.ts";
export { serveWithTimeouts } from "./serving/timeout_server.ts";
export type {
  FetchHandler,
  TimeoutServer,
  TimeoutServerOptions,
} from "./serving/timeout_server.ts";
