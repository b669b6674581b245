/**
 * The key routes: `/v1/kv/{key}` (GET, HEAD, PUT, DELETE), the listing
 * `GET /v1/kv`, and raftexample's `GET`, `HEAD` and `PUT /{key}`. This is
 * the benchmark's hot path: handlers read the raw URL once, build no JSON
 * on success and hand the stored bytes to the response without copying.
 *
 * The key routes have a router of their own, {@linkcode kvKeyRouter}, that
 * answers them before Hono sees the request: no Hono route exists for them,
 * so there is one place that decides which request is a key request. It
 * records the same metrics series as the Hono routes and maps errors in the
 * same place (http/errors.ts); why it and not Hono's router:
 * docs/notes/router_ab.md. The listing and every other route are Hono's.
 *
 * A read with `?index=N` is a long poll (http/api/long_poll.ts): it waits
 * for a change above N in the key or prefix, then answers as usual with
 * `X-Raft-Index` = the applied index the read was taken at (the `index` to
 * pass next). Only a query that names `index` or `wait` costs its parsing.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  type ApplyResult,
  type DeleteCommand,
  InvalidCommandError,
  KeyNotFoundError,
  type KvEntry,
  type KvItem,
  LeaseNotFoundError,
  PreconditionFailedError,
  type PutCommand,
  valueToJson,
} from "../../kv/mod.ts";
import type { AuthCheck } from "../auth.ts";
import { drainBody, readBody } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import {
  BadRequestError,
  errorResponse,
  NodeRecoveringError,
} from "../errors.ts";
import { waitForChange } from "./long_poll.ts";
import type { HttpMetrics } from "./metrics_routes.ts";
import { KV_KEY_PREFIX, RESERVED_ROOT_PATHS } from "./route_table.ts";
import {
  decodeKey,
  type LongPoll,
  parseIfMatch,
  parseIfNoneMatch,
  parseKeyQuery,
  parseLeaseQuery,
  parseListQuery,
  pathBounds,
  rawQuery,
} from "../validate.ts";

/** Registers the listing `GET /v1/kv` (the keys themselves: {@linkcode kvKeyRouter}). */
export function registerKvRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/v1/kv", (c) => listKeys(c.req.raw, ctx));
}

/** The route patterns, as the metrics label them (as Hono would). */
const KV_KEY_ROUTE = "/v1/kv/:key";
const ROOT_KEY_ROUTE = "/:key";

/** A request answered by the key router, or undefined for Hono's routes. */
export type KeyRouter = (
  req: Request,
  env?: unknown,
) => Promise<Response> | undefined;

/**
 * Returns the router of the key routes: it answers `GET`, `HEAD`, `PUT` and
 * `DELETE /v1/kv/{key}` and raftexample's `GET`, `HEAD` and `PUT /{key}`
 * (one path segment, not a route of its own such as `/health`), and returns
 * undefined for any other request, which then goes to Hono. It records each
 * request in `metrics` and checks the token with `auth` (when the node has
 * tokens) before the handler runs, as Hono's middleware does for the other
 * routes. A HEAD is answered as the GET without its body.
 */
export function kvKeyRouter(
  ctx: RouteContext,
  metrics: HttpMetrics,
  auth?: AuthCheck,
): KeyRouter {
  const prefix = KV_KEY_PREFIX.length;
  const answer = async (
    req: Request,
    env: unknown,
    route: string,
    run: () => Promise<Response>,
  ): Promise<Response> => {
    const started = performance.now();
    let res: Response;
    try {
      auth?.(req, env);
      res = await run();
    } catch (err) {
      res = errorResponse(err, {
        logger: ctx.logger,
        retryAfterSeconds: ctx.retryAfterSeconds,
        request: req,
      });
      // An error answered before the body was read (401, 413, 400, 503):
      // read it first, or HTTP/2 clients see a stream reset (http/body.ts).
      if (req.body !== null) await drainBody(req, ctx.bodyTimeoutMs);
    }
    metrics.record(route, req.method, res.status, started);
    // HEAD: the GET's status and headers, errors included, without a body.
    return req.method === "HEAD" ? new Response(null, res) : res;
  };
  return (req, env) => {
    const method = req.method;
    const isGet = method === "GET" || method === "HEAD";
    if (!isGet && method !== "PUT" && method !== "DELETE") return undefined;
    const url = req.url;
    const { start, end } = pathBounds(url);
    if (url.startsWith(KV_KEY_PREFIX, start)) {
      // One segment after /v1/kv/, not empty; anything else goes to Hono
      // (its 404/405/400 for unmatched paths, http/app.ts).
      const keyStart = start + prefix;
      const next = url.indexOf("/", keyStart);
      if (end === keyStart || (next >= 0 && next < end)) return undefined;
      if (isGet) {
        return answer(req, env, KV_KEY_ROUTE, () => getKey(req, ctx, prefix));
      }
      if (method === "PUT") {
        return answer(req, env, KV_KEY_ROUTE, () => putKey(req, ctx, prefix));
      }
      return answer(
        req,
        env,
        KV_KEY_ROUTE,
        () => deleteKey(req, ctx, prefix),
      );
    }
    // raftexample's /{key}: one segment that no route of its own has.
    if (method === "DELETE" || end <= start + 1) return undefined;
    const slash = url.indexOf("/", start + 1);
    if (slash >= 0 && slash < end) return undefined;
    if (RESERVED_ROOT_PATHS.has(url.slice(start, end))) return undefined;
    if (isGet) {
      return answer(req, env, ROOT_KEY_ROUTE, () => getKey(req, ctx, 1));
    }
    return answer(req, env, ROOT_KEY_ROUTE, () => putKey(req, ctx, 1));
  };
}

/** Throws 503 while the node recovers its state. */
function requireRecovered(ctx: RouteContext): void {
  if (ctx.node.recovering()) throw new NodeRecoveringError();
}

/**
 * The key of a key route: the path after its first `prefix` characters,
 * percent-decoded and checked; `end` is where the path ends in `url`.
 */
function keyOf(url: string, prefix: number): { key: string; end: number } {
  const { start, end } = pathBounds(url);
  return { key: decodeKey(url.slice(start + prefix, end)), end };
}

/** Waits for the linearizable read fence unless the read is stale. */
function readFence(ctx: RouteContext, stale: boolean): Promise<void> | void {
  if (stale) return;
  return withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.readBarrier(s));
}

async function getKey(
  req: Request,
  ctx: RouteContext,
  prefix: number,
): Promise<Response> {
  const url = req.url;
  const { key, end } = keyOf(url, prefix);
  const query = end < url.length ? parseKeyQuery(rawQuery(url)) : undefined;
  requireRecovered(ctx);
  if (query?.poll !== undefined) return pollKey(req, ctx, key, query.poll);
  await readFence(ctx, query?.stale ?? false);
  const entry = ctx.node.store.get(key);
  if (entry === undefined) throw new KeyNotFoundError();
  return valueResponse(entry, entry.index);
}

/**
 * A read key's value with its headers: `X-Raft-Index` is `raftIndex`, the
 * ETag the key's `modIndex`, and its create index, version and lease.
 */
function valueResponse(entry: KvEntry, raftIndex: number): Response {
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "x-raft-index": String(raftIndex),
    "x-create-index": String(entry.createIndex),
    "x-version": String(entry.version),
    etag: `"${entry.index}"`,
  };
  if (entry.lease !== 0) headers["x-lease"] = String(entry.lease);
  return new Response(entry.value as Uint8Array<ArrayBuffer>, { headers });
}

/**
 * A key read's long poll: waits, then reads; `X-Raft-Index` is the applied
 * index of the read (also on a 404), the ETag stays the key's `modIndex`.
 */
async function pollKey(
  req: Request,
  ctx: RouteContext,
  key: string,
  poll: LongPoll,
): Promise<Response> {
  await waitForChange(ctx.node.watches, { key }, poll.index, poll.waitMs, [
    req.signal,
    ctx.stop,
  ]);
  const stale = parseKeyQuery(rawQuery(req.url)).stale;
  await readFence(ctx, stale);
  const applied = ctx.node.store.appliedIndex;
  const entry = ctx.node.store.get(key);
  if (entry === undefined) {
    const res = errorResponse(new KeyNotFoundError(), {
      logger: ctx.logger,
      retryAfterSeconds: ctx.retryAfterSeconds,
    });
    res.headers.set("x-raft-index", String(applied));
    return res;
  }
  return valueResponse(entry, applied);
}

async function putKey(
  req: Request,
  ctx: RouteContext,
  prefix: number,
): Promise<Response> {
  const { key, end } = keyOf(req.url, prefix);
  const ifMatch = parseIfMatch(req.headers.get("if-match"));
  const ifNoneMatch = parseIfNoneMatch(req.headers.get("if-none-match"));
  const lease = end < req.url.length ? parseLeaseQuery(rawQuery(req.url)) : 0;
  requireRecovered(ctx);
  const value = await readBody(req, {
    maxBytes: ctx.maxValueBytes,
    code: "value_too_large",
    timeoutMs: ctx.bodyTimeoutMs,
  });
  const cmd: PutCommand = { op: "put", key, value };
  if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
  if (ifNoneMatch) cmd.ifNoneMatch = true;
  if (lease !== 0) cmd.lease = lease;
  return writeResponse(
    await withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.write(cmd, s)),
  );
}

async function deleteKey(
  req: Request,
  ctx: RouteContext,
  prefix: number,
): Promise<Response> {
  const key = keyOf(req.url, prefix).key;
  const ifMatch = parseIfMatch(req.headers.get("if-match"));
  if (req.headers.has("if-none-match")) {
    throw new BadRequestError(
      "invalid_header",
      "If-None-Match applies to PUT only",
    );
  }
  requireRecovered(ctx);
  const cmd: DeleteCommand = { op: "delete", key };
  if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
  return writeResponse(
    await withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.write(cmd, s)),
  );
}

/** Turns the store's answer to a write into 204 + `X-Raft-Index`, or throws. */
function writeResponse(result: ApplyResult): Response {
  switch (result.status) {
    case "ok":
      return new Response(null, {
        status: 204,
        headers: { "x-raft-index": String(result.index) },
      });
    case "precondition_failed":
      throw new PreconditionFailedError(result.currentIndex);
    case "invalid":
      throw new InvalidCommandError(result.message);
    case "lease_not_found":
      throw new LeaseNotFoundError(result.lease);
  }
}

/** One item of the listing's JSON (docs/API.md "Values in JSON"). */
type JsonItem =
  & { key: string }
  & ({ value: string } | { value64: string })
  & {
    /** The same as `modIndex` (the listing's field before revisions). */
    index: number;
    createIndex: number;
    modIndex: number;
    version: number;
    lease?: number;
  };

/** Renders an item: `value` when UTF-8, else (or when forced) `value64`. */
function jsonItem(item: KvItem, forceBase64: boolean): JsonItem {
  const out: JsonItem = {
    key: item.key,
    ...(forceBase64
      ? { value64: item.value.toBase64() }
      : valueToJson(item.value)),
    index: item.index,
    createIndex: item.createIndex,
    modIndex: item.modIndex,
    version: item.version,
  };
  if (item.lease !== 0) out.lease = item.lease;
  return out;
}

async function listKeys(req: Request, ctx: RouteContext): Promise<Response> {
  const query = parseListQuery(rawQuery(req.url));
  requireRecovered(ctx);
  if (query.poll !== undefined) {
    await waitForChange(
      ctx.node.watches,
      { prefix: query.prefix },
      query.poll.index,
      query.poll.waitMs,
      [req.signal, ctx.stop],
    );
  }
  await readFence(ctx, query.stale);
  // No await between these: the page is of exactly this applied index.
  const applied = ctx.node.store.appliedIndex;
  const page = ctx.node.store.list(
    query.prefix,
    query.limit,
    query.after === undefined ? {} : { after: query.after },
  );
  const forceBase64 = query.encoding === "base64";
  const items = page.items.map((item) => jsonItem(item, forceBase64));
  return new Response(JSON.stringify({ items, more: page.more }), {
    headers: {
      "content-type": "application/json",
      "x-raft-index": String(applied),
    },
  });
}
