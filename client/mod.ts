/**
 * The raftkv client library: a typed, `fetch`-based client of the raftkv
 * API that runs in Deno, Node 20+ and browsers. Imported as
 * `@raftkv/raftkv/client` (deno.json `exports`).
 *
 * @example
 * ```ts ignore
 * import { RaftKvClient } from "@raftkv/raftkv/client";
 * const kv = new RaftKvClient({ endpoints: "http://127.0.0.1:12380", token: "s3cret" });
 * await kv.put("greeting", "hello");
 * console.log(await kv.getText("greeting")); // "hello"
 * ```
 *
 * @module
 */

export {
  type CallOptions,
  type ClientOptions,
  type DeleteOptions,
  type ListOptions,
  type PutOptions,
  RaftKvClient,
  type ReadOptions,
} from "./client.ts";
export {
  Endpoints,
  InvalidEndpointError,
  parseEndpoints,
} from "./endpoints.ts";
export {
  ApiError,
  type ApiErrorInit,
  NotFoundError,
  OutcomeUnknownError,
  PreconditionFailedError,
  RaftKvClientError,
  UnauthorizedError,
  UnavailableError,
} from "./errors.ts";
export { type FetchFn, type TransportOptions } from "./transport.ts";
export type {
  ClusterStatus,
  KvEntry,
  KvPage,
  Member,
  MemberRole,
  MemberStatus,
  MembersView,
  NodeStatus,
  Snapshot,
  WriteResult,
} from "./types.ts";
