/**
 * `POST /raft`: peer messages. The body is opaque here and goes to the
 * node as is; bytes that do not decode get 400 and the node keeps running.
 *
 * @module
 */

import type { Hono } from "hono";
import { readBody } from "./body.ts";
import type { RouteContext } from "./context.ts";

/** Registers `POST /raft`. */
export function registerRaftRoutes(app: Hono, ctx: RouteContext): void {
  app.post("/raft", async (c) => {
    const body = await readBody(c.req.raw, {
      bytesMax: ctx.raftBodyBytesMax,
      code: "body_too_large",
    });
    await ctx.node.receiveRaft(body);
    return new Response(null, { status: 204 });
  });
}
