/**
 * Observability routes: `GET /v1/status` and `GET /health` (`GET /metrics`
 * is in metrics_routes.ts). They answer also while the node recovers
 * (health then says 503).
 *
 * @module
 */

import type { Hono } from "hono";
import type { RouteContext } from "../context.ts";
import { NodeRecoveringError, UnhealthyError } from "../errors.ts";

/** Registers `/v1/status` and `/health`. */
export function registerStatusRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/v1/status", (c) => c.json(ctx.node.status()));
  app.get("/health", (c) => {
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    const health = ctx.node.health();
    if (!health.ok) throw new UnhealthyError(health.reason ?? "unhealthy");
    return c.json({ ok: true });
  });
}
