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
  type LockOptions,
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
  CompactedError,
  LeaseLostError,
  LeaseNotFoundError,
  LockHeldError,
  NotFoundError,
  OutcomeUnknownError,
  PreconditionFailedError,
  RaftKvClientError,
  UnauthorizedError,
  UnavailableError,
  WatchCancelledError,
} from "./errors.ts";
export {
  decodeJsonValue,
  encodeJsonValue,
  fromBase64,
  type JsonValue,
  toBase64,
  utf8Text,
} from "./json_value.ts";
export type { KeepAlive, KeepAliveOptions } from "./keep_alive.ts";
export type { WatchOptions, WatchRange } from "./watch.ts";
export { type FetchFn, type TransportOptions } from "./transport.ts";
export type {
  ClusterStatus,
  KvEntry,
  KvPage,
  LeaseGrant,
  LeaseInfo,
  LockGrant,
  Member,
  MemberRole,
  MemberStatus,
  MembersView,
  NodeStatus,
  Snapshot,
  TxnCompare,
  TxnOp,
  TxnOpResult,
  TxnRequest,
  TxnResponse,
  TxnValue,
  WatchEvent,
  WatchMessage,
  WriteResult,
} from "./types.ts";
