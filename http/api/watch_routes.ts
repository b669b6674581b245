/**
 * `GET /v1/watch?key=K` or `?prefix=P`: a watch stream as Server-Sent Events
 * (docs/API.md "Watch"). The request is checked, the start position found
 * (`Last-Event-ID` + 1, `from`, or a linearizable read index B with a first
 * `event: progress` of id B), a watcher opened on the node's hub, and its
 * stream (http/api/watch_stream.ts) returned as the body. A position older
 * than the node's history is answered `410 compacted` before any stream.
 *
 * @module
 */

import type { Hono } from "hono";
import { CompactedError } from "../../kv/mod.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { BadRequestError, NodeRecoveringError } from "../errors.ts";
import { parseWatchQuery, rawQuery } from "../validate.ts";
import { SSE_CONTENT_TYPE } from "./sse.ts";
import { watchStream } from "./watch_stream.ts";

/** Registers `GET /v1/watch`. */
export function registerWatchRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/v1/watch", (c) => watch(c.req.raw, ctx));
}

const STREAM_HEADERS = {
  "content-type": SSE_CONTENT_TYPE,
  "cache-control": "no-cache",
  // Proxies that buffer (nginx) pass the events on at once.
  "x-accel-buffering": "no",
};

async function watch(req: Request, ctx: RouteContext): Promise<Response> {
  const query = parseWatchQuery(
    rawQuery(req.url),
    req.headers.get("last-event-id"),
  );
  if (ctx.node.recovering()) throw new NodeRecoveringError();
  const hub = ctx.node.watches;
  let from = query.from;
  const barrier = () =>
    withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.readBarrier(s));
  let firstProgress: number | undefined;
  if (from === undefined) {
    // Every change acknowledged before the request began is <= B.
    await barrier();
    firstProgress = hub.appliedIndex;
    from = firstProgress + 1;
  } else if (from - 1 > hub.appliedIndex) {
    // Behind the position: catch up with the cluster first. An id no node
    // can have sent (beyond the commit index) is refused.
    await barrier();
    if (from - 1 > hub.appliedIndex) {
      throw new BadRequestError(
        "invalid_query",
        `from ${from} is beyond the cluster's last committed index ${hub.appliedIndex} + 1: no stream has sent that id`,
      );
    }
  }
  // A HEAD gets the answer's status and headers only: no watcher.
  if (req.method === "HEAD") {
    const compactIndex = hub.history.compactIndex;
    if (from < compactIndex) throw new CompactedError(from, compactIndex);
    return new Response(null, { headers: STREAM_HEADERS });
  }
  // No await between reading B and opening: nothing applied in between.
  const watcher = hub.open([query.range], from); // 410 when compacted
  const options = {
    progressMs: ctx.watchProgressMs,
    wakes: ctx.watchWakes,
    ...(firstProgress === undefined ? {} : { firstProgress }),
    ...(ctx.stop === undefined ? {} : { stop: ctx.stop }),
  };
  return new Response(watchStream(hub, watcher, options), {
    headers: STREAM_HEADERS,
  });
}
