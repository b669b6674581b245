/**
 * The HTTP layer of raftkv, entered only through this module (the other
 * folders and main.ts import nothing else of http/; tests/arch_test.ts):
 * the Hono app of API.md, the port it needs from the node, the error
 * mapping, and the serving layer that main.ts starts: the command-line
 * configuration and a wired, running node. Inside: `api/` the client API,
 * `peer/` node to node, `serving/` configuration, server wiring and the
 * socket layer, `ui/` the status page; shared middleware at the top
 * (docs/ARCHITECTURE.md).
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

export { type AppDeps, createApp } from "./app.ts";
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
  StoreImage,
  StoreImageState,
} from "./node_port.ts";
export { HttpMetrics, httpMetricsMiddleware } from "./api/metrics_routes.ts";
export {
  type Config,
  type ListenAddress,
  LOG_LEVELS,
  parseServeArgs,
  type ServeCommand,
  usage,
  VERSION,
} from "./serving/config.ts";
export {
  ConfigError,
  DEFAULT_CLUSTER,
  type Env,
  envName,
  EXIT_BAD_CONFIG,
  readEnv,
} from "./serving/flags.ts";
export {
  parseRestoreArgs,
  type RestoreArgs,
  type RestoreCommand,
  type RestoreOutcome,
  restoreUsage,
  runRestore,
} from "./serving/restore_command.ts";
export { securityWarnings } from "./serving/security.ts";
export { runServer, type ServerDeps } from "./serving/server.ts";
