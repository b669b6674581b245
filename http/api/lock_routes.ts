/**
 * The lock routes (docs/API.md "Locks"): HTTP over the lock operations of
 * http/api/lock_service.ts (shared with the simulator):
 *
 * - `POST /v1/locks/{name}` `{"lease":ID,"wait":"10s"}`: {@linkcode acquireLock}
 *   with `wait` as a timer: `200 {"name","key","fence"}`, `409 lock_held`
 *   when `wait` ran out first (the request left no key), `404
 *   lease_not_found` when the lease is gone.
 * - `DELETE /v1/locks/{name}?lease=ID`: {@linkcode releaseLock}: `204`.
 *
 * @module
 */

import type { Hono } from "hono";
import { lockNameProblem, LockWaits } from "../../kv/mod.ts";
import type { Registry } from "../../raft/mod.ts";
import { readJsonObject } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { BadRequestError, NodeRecoveringError } from "../errors.ts";
import { parseLeaseQuery, pathBounds, rawQuery } from "../validate.ts";
import { acquireLock, releaseLock } from "./lock_service.ts";

const LOCKS_PREFIX = "/v1/locks/";

/** Registers `POST /v1/locks/{name}` and `DELETE /v1/locks/{name}`. */
export function registerLockRoutes(
  app: Hono,
  ctx: RouteContext,
  metrics: Registry,
): void {
  const waiters = metrics.gauge(
    "raftkv_lock_waiters",
    "Lock requests waiting on this node for their turn.",
  );
  const parked = new LockWaits();
  ctx.node.watches.listen(parked);
  app.post("/v1/locks/:name", async (c) => {
    const name = lockNameOf(c.req.raw);
    const body = await readJsonObject(c.req.raw, ctx.bodyTimeoutMs);
    const lease = body.lease;
    if (
      typeof lease !== "number" || !Number.isSafeInteger(lease) || lease < 1
    ) {
      throw new BadRequestError("invalid_body", '"lease" must be a lease id');
    }
    const waitMs = parseWait(body.wait, ctx.requestTimeoutMs);
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    // One timer for the whole wait: the bound, not a poll.
    const timeUp = waitMs === 0
      ? AbortSignal.abort()
      : AbortSignal.timeout(waitMs);
    return c.json(
      await acquireLock(ctx.node, {
        name,
        lease,
        timeUp,
        waits: parked,
        deadline: (op) => withDeadline(ctx.requestTimeoutMs, op),
        waiting: (delta) => delta > 0 ? waiters.inc() : waiters.dec(),
      }),
    );
  });

  app.delete("/v1/locks/:name", async (c) => {
    const name = lockNameOf(c.req.raw);
    const lease = parseLeaseQuery(rawQuery(c.req.raw.url));
    if (lease === 0) {
      throw new BadRequestError("invalid_query", "lease=ID is required");
    }
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    const index = await withDeadline(
      ctx.requestTimeoutMs,
      (s) => releaseLock(ctx.node, name, lease, s),
    );
    return new Response(null, {
      status: 204,
      headers: { "x-raft-index": String(index) },
    });
  });
}

/** The lock name of `/v1/locks/{name}`, percent-decoded and checked. */
function lockNameOf(req: Request): string {
  const { start, end } = pathBounds(req.url);
  let name: string;
  try {
    name = decodeURIComponent(req.url.slice(start + LOCKS_PREFIX.length, end));
  } catch {
    throw new BadRequestError("invalid_key", "the lock name is not UTF-8");
  }
  const problem = lockNameProblem(name);
  if (problem !== undefined) throw new BadRequestError("invalid_key", problem);
  return name;
}

const DURATION = /^([0-9]{1,9})(ms|s|m)$/;

/**
 * Parses `wait`: absent or 0 = try once; `"500ms"`, `"10s"`, `"2m"`, at most
 * the request timeout.
 *
 * @throws {BadRequestError} otherwise.
 */
export function parseWait(raw: unknown, maxMs: number): number {
  if (raw === undefined || raw === 0 || raw === "0") return 0;
  const m = typeof raw === "string" ? DURATION.exec(raw) : null;
  const ms = m === null
    ? NaN
    : Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
  if (!(ms >= 0) || ms > maxMs) {
    throw new BadRequestError(
      "invalid_body",
      `"wait" must be a duration like "500ms", "10s" or "2m", at most the request timeout (${maxMs} ms)`,
    );
  }
  return ms;
}
