/**
 * Which methods each path accepts, for 405 answers with an `Allow` header.
 * Kept beside the routes it describes: a new route must be added here too
 * (tests/http/app_test.ts checks every entry).
 *
 * @module
 */

const GET = ["GET", "HEAD"];

const EXACT_PATHS: ReadonlyMap<string, readonly string[]> = new Map([
  ["/health", GET],
  ["/metrics", GET],
  ["/raft", ["POST"]],
  ["/raft/stream", GET],
  ["/v1/kv", GET],
  ["/v1/members", [...GET, "POST"]],
  ["/v1/leader", ["POST"]],
  ["/v1/status", GET],
  ["/v1/cluster/status", GET],
  ["/ui", GET],
  ["/v1/snapshot", GET],
  ["/v1/openapi.json", GET],
  ["/v1/watch", GET],
  ["/v1/txn", ["POST"]],
  ["/v1/leases", [...GET, "POST"]],
]);

/**
 * Single-segment paths that are routes of their own, so the raftexample
 * root routes (`/{key}`, `/{id}`) do not serve them.
 */
export const RESERVED_ROOT_PATHS: ReadonlySet<string> = new Set(
  [...EXACT_PATHS.keys()].filter((path) => path.lastIndexOf("/") === 0),
);

/** The path prefix of `/v1/kv/{key}`. */
export const KV_KEY_PREFIX = "/v1/kv/";
const KV_KEY_METHODS = [...GET, "PUT", "DELETE"];
const MEMBER_PREFIX = "/v1/members/";
const LEASE_PREFIX = "/v1/leases/";
const LOCK_PREFIX = "/v1/locks/";

/**
 * Every route's path as docs/openapi.json writes it (`{key}`, `{id}`, and
 * `{name}` for raftexample's `/{key}` and `/{id}`), for the test that keeps
 * the document and the routes in step.
 */
export const ROUTE_TEMPLATES: readonly string[] = [
  ...EXACT_PATHS.keys(),
  "/v1/kv/{key}",
  "/v1/members/{id}",
  "/v1/leases/{id}",
  "/v1/leases/{id}/keepalive",
  "/v1/locks/{lock}",
  "/{name}",
];

/** The methods of the raftexample root routes `/{key}` and `/{id}`. */
export const ROOT_METHODS: readonly string[] = [
  ...GET,
  "PUT",
  "POST",
  "DELETE",
];

/**
 * Returns the methods `path` (raw, without query) accepts, or undefined
 * when no route has that path.
 */
export function allowedMethods(path: string): readonly string[] | undefined {
  const exact = EXACT_PATHS.get(path);
  if (exact !== undefined) return exact;
  if (path.startsWith(KV_KEY_PREFIX)) {
    return isOneSegment(path.slice(KV_KEY_PREFIX.length))
      ? KV_KEY_METHODS
      : undefined;
  }
  if (path.startsWith(LOCK_PREFIX)) {
    return isOneSegment(path.slice(LOCK_PREFIX.length))
      ? ["POST", "DELETE"]
      : undefined;
  }
  if (path.startsWith(LEASE_PREFIX)) {
    const rest = path.slice(LEASE_PREFIX.length);
    if (isOneSegment(rest)) return [...GET, "DELETE"];
    const slash = rest.indexOf("/");
    return slash > 0 && rest.slice(slash) === "/keepalive" &&
        isOneSegment(rest.slice(0, slash))
      ? ["POST"]
      : undefined;
  }
  if (path.startsWith(MEMBER_PREFIX)) {
    return isOneSegment(path.slice(MEMBER_PREFIX.length))
      ? ["DELETE"]
      : undefined;
  }
  return isOneSegment(path.slice(1)) && path.startsWith("/")
    ? ROOT_METHODS
    : undefined;
}

/** Whether `rest` is one non-empty path segment. */
function isOneSegment(rest: string): boolean {
  return rest.length > 0 && !rest.includes("/");
}
