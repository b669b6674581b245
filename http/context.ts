/**
 * The settings every route module shares, resolved once by `createApp`.
 *
 * @module
 */

import type { Logger } from "../raft/mod.ts";
import type { NodePort } from "./node_port.ts";
import type { WakeCoalescer } from "./api/wake_coalescer.ts";

/** What route handlers need: the node, the limits and the logger. */
export interface RouteContext {
  node: NodePort;
  logger: Logger;
  /** The largest value of a PUT, in bytes (413 beyond). */
  maxValueBytes: number;
  /** The largest `POST /raft` body, in bytes (413 beyond). */
  maxRaftBodyBytes: number;
  /** How long a request waits for the node before 504. */
  requestTimeoutMs: number;
  /** The `Retry-After` of every 503, in seconds. */
  retryAfterSeconds: number;
  /** How long a client has to send a request body, in ms (408 beyond). */
  bodyTimeoutMs: number;
  /** A watch stream sends a progress event after this many idle ms. */
  watchProgressMs: number;
  /** When the node's watch streams are woken (`--watch-coalesce-ms`). */
  watchWakes: WakeCoalescer;
  /** Aborts when the node stops: watch streams and long polls end. */
  stop?: AbortSignal;
}
