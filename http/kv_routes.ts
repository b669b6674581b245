/**
 * The key routes: `/v1/kv/{key}` (GET, PUT, DELETE), the listing
 * `GET /v1/kv`, and raftexample's `GET /{key}` and `PUT /{key}`. This is the
 * benchmark's hot path: handlers read the raw URL once, build no JSON on
 * success and hand the stored bytes to the response without copying.
 *
 * {@linkcode kvFastPath} answers those key requests before Hono routes them
 * (when no middleware but the metrics one is registered): the same
 * handlers, the same metrics series and the same error mapping
 * (http/errors.ts), without the router, the middleware chain and the
 * per-request context objects.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  type ApplyResult,
  type DeleteCommand,
  InvalidCommandError,
  KeyNotFoundError,
  type KvItem,
  PreconditionFailedError,
  type PutCommand,
} from "../kv/mod.ts";
import { readBody } from "./body.ts";
import type { RouteContext } from "./context.ts";
import { withDeadline } from "./deadline.ts";
import {
  BadRequestError,
  errorResponse,
  MethodNotAllowedError,
  NodeRecoveringError,
} from "./errors.ts";
import type { HttpMetrics } from "./metrics_routes.ts";
import {
  allowedMethods,
  KV_KEY_PREFIX,
  RESERVED_ROOT_PATHS,
} from "./route_table.ts";
import {
  decodeKey,
  parseIfMatch,
  parseIfNoneMatch,
  parseListQuery,
  parseStale,
  pathBounds,
  rawQuery,
} from "./validate.ts";

/** Registers `GET /v1/kv` and `/v1/kv/{key}` GET, PUT and DELETE. */
export function registerKvRoutes(app: Hono, ctx: RouteContext): void {
  const prefix = KV_KEY_PREFIX.length;
  app.get("/v1/kv", (c) => listKeys(c.req.raw, ctx));
  app.get("/v1/kv/:key", (c) => getKey(c.req.raw, ctx, prefix));
  app.put("/v1/kv/:key", (c) => putKey(c.req.raw, ctx, prefix));
  app.delete("/v1/kv/:key", (c) => deleteKey(c.req.raw, ctx, prefix));
}

/**
 * Registers raftexample's `GET /{key}` and `PUT /{key}`. Register after
 * every other route: single-segment paths of their own (`/health`, `/raft`,
 * `/metrics`) are refused here with 405.
 */
export function registerRootKvRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/:key", (c) => {
    refuseReserved(c.req.raw);
    return getKey(c.req.raw, ctx, 1);
  });
  app.put("/:key", (c) => {
    refuseReserved(c.req.raw);
    return putKey(c.req.raw, ctx, 1);
  });
}

/** The route patterns, as the metrics label them (Hono's own patterns). */
const KV_KEY_ROUTE = "/v1/kv/:key";
const ROOT_KEY_ROUTE = "/:key";

/**
 * Returns a function that answers `GET`, `PUT` and `DELETE /v1/kv/{key}`
 * and raftexample's `GET` and `PUT /{key}` exactly as the Hono routes do
 * (same handlers, metrics and error mapping), and returns undefined for any
 * other request, which then goes to Hono. Only for an app whose middleware
 * is the metrics one alone (no tokens): it skips the others.
 */
export function kvFastPath(
  ctx: RouteContext,
  metrics: HttpMetrics,
): (req: Request) => Promise<Response> | undefined {
  const prefix = KV_KEY_PREFIX.length;
  const answer = async (
    req: Request,
    route: string,
    run: () => Promise<Response>,
  ): Promise<Response> => {
    const started = performance.now();
    let res: Response;
    try {
      res = await run();
    } catch (err) {
      res = errorResponse(err, {
        logger: ctx.logger,
        retryAfterSeconds: ctx.retryAfterSeconds,
        request: req,
      });
    }
    metrics.record(route, req.method, res.status, started);
    return res;
  };
  return (req) => {
    const method = req.method;
    const isGet = method === "GET";
    if (!isGet && method !== "PUT" && method !== "DELETE") return undefined;
    const url = req.url;
    const { start, end } = pathBounds(url);
    if (url.startsWith(KV_KEY_PREFIX, start)) {
      // One segment after /v1/kv/, not empty; anything else goes to Hono.
      const keyStart = start + prefix;
      const next = url.indexOf("/", keyStart);
      if (end === keyStart || (next >= 0 && next < end)) return undefined;
      if (isGet) {
        return answer(req, KV_KEY_ROUTE, () => getKey(req, ctx, prefix));
      }
      if (method === "PUT") {
        return answer(req, KV_KEY_ROUTE, () => putKey(req, ctx, prefix));
      }
      return answer(req, KV_KEY_ROUTE, () => deleteKey(req, ctx, prefix));
    }
    // raftexample's /{key}: one segment that no route of its own has.
    if (method === "DELETE" || end <= start + 1) return undefined;
    const slash = url.indexOf("/", start + 1);
    if (slash >= 0 && slash < end) return undefined;
    if (RESERVED_ROOT_PATHS.has(url.slice(start, end))) return undefined;
    if (isGet) return answer(req, ROOT_KEY_ROUTE, () => getKey(req, ctx, 1));
    return answer(req, ROOT_KEY_ROUTE, () => putKey(req, ctx, 1));
  };
}

/** Throws 405 when a root route is asked for a reserved path such as `/raft`. */
export function refuseReserved(req: Request): void {
  const { start, end } = pathBounds(req.url);
  const path = req.url.slice(start, end);
  if (RESERVED_ROOT_PATHS.has(path)) {
    throw new MethodNotAllowedError(req.method, path, allowedMethods(path)!);
  }
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
  const stale = end < url.length && parseStale(rawQuery(url));
  requireRecovered(ctx);
  await readFence(ctx, stale);
  const entry = ctx.node.store.get(key);
  if (entry === undefined) throw new KeyNotFoundError();
  const index = String(entry.index);
  return new Response(entry.value as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": "application/octet-stream",
      "x-raft-index": index,
      etag: `"${index}"`,
    },
  });
}

async function putKey(
  req: Request,
  ctx: RouteContext,
  prefix: number,
): Promise<Response> {
  const key = keyOf(req.url, prefix).key;
  const ifMatch = parseIfMatch(req.headers.get("if-match"));
  const ifNoneMatch = parseIfNoneMatch(req.headers.get("if-none-match"));
  requireRecovered(ctx);
  const value = await readBody(req, {
    maxBytes: ctx.maxValueBytes,
    code: "value_too_large",
    timeoutMs: ctx.bodyTimeoutMs,
  });
  const cmd: PutCommand = { op: "put", key, value };
  if (ifMatch !== undefined) cmd.ifMatch = ifMatch;
  if (ifNoneMatch) cmd.ifNoneMatch = true;
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
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One item of the listing's JSON. */
interface JsonItem {
  key: string;
  value: string;
  index: number;
  /** Present when `value` is base64 rather than the value's UTF-8 text. */
  encoding?: "base64";
}

/** Renders an item: its value as text when it is UTF-8, else as base64. */
function jsonItem(item: KvItem, forceBase64: boolean): JsonItem {
  if (!forceBase64) {
    try {
      return {
        key: item.key,
        value: utf8.decode(item.value),
        index: item.index,
      };
    } catch {
      // Not UTF-8: fall through to base64.
    }
  }
  return {
    key: item.key,
    value: item.value.toBase64(),
    index: item.index,
    encoding: "base64",
  };
}

async function listKeys(req: Request, ctx: RouteContext): Promise<Response> {
  const query = parseListQuery(rawQuery(req.url));
  requireRecovered(ctx);
  await readFence(ctx, query.stale);
  const page = ctx.node.store.list(
    query.prefix,
    query.limit,
    query.after === undefined ? {} : { after: query.after },
  );
  const forceBase64 = query.encoding === "base64";
  const items = page.items.map((item) => jsonItem(item, forceBase64));
  return new Response(JSON.stringify({ items, more: page.more }), {
    headers: { "content-type": "application/json" },
  });
}
