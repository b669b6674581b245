/**
 * The lock routes (docs/API.md "Locks"), built on leases, revisions and
 * transactions (kv/lock_queue.ts):
 *
 * - `POST /v1/locks/{name}` `{"lease":ID,"wait":"10s"}`: one transaction
 *   creates the lease's key `_locks/{name}/{lease}` if it is absent
 *   (attached to the lease; `404 lease_not_found` when the lease is gone).
 *   Then, until `wait` runs out: once this node's state shows the key first
 *   in the queue (a waiter sleeps until an applied entry deletes a key of
 *   the lock: {@linkcode LockWaits}; no polling), a ReadIndex barrier
 *   confirms it, and the answer is
 *   `200 {"name","key","fence"}` (`fence` = the key's createIndex). When
 *   `wait` runs out first, a key this request created is deleted (only
 *   that version of it: `ifMatch`) and the answer is `409 lock_held`.
 * - `DELETE /v1/locks/{name}?lease=ID`: deletes the key: `204`.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  InvalidCommandError,
  type KvItem,
  LeaseNotFoundError,
  lockKey,
  lockNameProblem,
  lockQueue,
  LockWaits,
} from "../../kv/mod.ts";
import type { Registry } from "../../raft/mod.ts";
import { readJsonObject } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { BadRequestError, HttpError, NodeRecoveringError } from "../errors.ts";
import { parseLeaseQuery, pathBounds, rawQuery } from "../validate.ts";

const LOCKS_PREFIX = "/v1/locks/";

/** The lock is held by another lease and was not free within `wait` (409). */
export class LockHeldError extends HttpError {
  constructor(name: string) {
    super("lock_held", `lock ${name} is held by another lease`);
  }
}

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
    const key = lockKey(name, lease);
    const created = await createPlace(ctx, key, lease);
    // One timer for the whole wait: the bound, not a poll.
    const timeUp = waitMs === 0
      ? AbortSignal.abort()
      : AbortSignal.timeout(waitMs);
    waiters.inc();
    try {
      for (;;) {
        // Sleep until this node's state shows the key first (an applied
        // delete in the lock wakes the waiter) or the time runs out, then
        // confirm with a linearizable read. The check and the parking
        // happen with no await in between: no wake-up is missed. A key
        // deleted under it (its lease revoked) ends the wait at once.
        while (
          !isFirst(ctx, name, key) && !timeUp.aborted &&
          ctx.node.store.get(key) !== undefined
        ) {
          await parked.next(name, timeUp);
        }
        await withDeadline(
          ctx.requestTimeoutMs,
          (s) => ctx.node.readBarrier(s),
        );
        const mine = ctx.node.store.get(key);
        if (mine === undefined) {
          // Revoked (or released) while it waited.
          if (!ctx.node.store.leases.has(lease)) {
            throw new LeaseNotFoundError(lease);
          }
          throw new LockHeldError(name);
        }
        if (isFirst(ctx, name, key)) {
          return c.json({ name, key, fence: mine.createIndex });
        }
        if (timeUp.aborted) {
          if (created !== undefined) await giveUp(ctx, key, created);
          throw new LockHeldError(name);
        }
      }
    } finally {
      waiters.dec();
    }
  });

  app.delete("/v1/locks/:name", async (c) => {
    const name = lockNameOf(c.req.raw);
    const lease = parseLeaseQuery(rawQuery(c.req.raw.url));
    if (lease === 0) {
      throw new BadRequestError("invalid_query", "lease=ID is required");
    }
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    const result = await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.write({ op: "delete", key: lockKey(name, lease) }, s),
    );
    if (result.status !== "ok") {
      throw new InvalidCommandError("the release was not applied");
    }
    return new Response(null, {
      status: 204,
      headers: { "x-raft-index": String(result.index) },
    });
  });
}

/**
 * Creates `key` attached to `lease` unless it exists, in one transaction.
 * Returns the modIndex of the key it created, or undefined when the key
 * existed (this lease asked before: same place, same fence).
 */
async function createPlace(
  ctx: RouteContext,
  key: string,
  lease: number,
): Promise<number | undefined> {
  const result = await withDeadline(
    ctx.requestTimeoutMs,
    (s) =>
      ctx.node.write({
        op: "txn",
        compare: [{ key, target: "createIndex", op: "==", value: 0 }],
        success: [{ op: "put", key, value: new Uint8Array(0), lease }],
        failure: [{ op: "get", key }],
      }, s),
  );
  if (result.status === "lease_not_found") {
    throw new LeaseNotFoundError(lease);
  }
  if (result.status !== "ok" || result.txn === undefined) {
    throw new InvalidCommandError("the lock request was not applied");
  }
  if (result.txn.succeeded) return result.index;
  const got = result.txn.results[0];
  const item: KvItem | undefined = got?.op === "get" ? got.items[0] : undefined;
  if (item !== undefined && item.lease !== lease) {
    throw new BadRequestError(
      "invalid_body",
      `${key} exists and is not attached to lease ${lease}`,
    );
  }
  return undefined;
}

/** Deletes the waiter key this request created (that version only). */
async function giveUp(
  ctx: RouteContext,
  key: string,
  modIndex: number,
): Promise<void> {
  await withDeadline(
    ctx.requestTimeoutMs,
    (s) => ctx.node.write({ op: "delete", key, ifMatch: modIndex }, s),
  );
}

/** Whether `key` is first in lock `name`'s queue in this node's state. */
function isFirst(ctx: RouteContext, name: string, key: string): boolean {
  return lockQueue(ctx.node.store, name)[0]?.key === key;
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
