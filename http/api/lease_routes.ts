/**
 * The lease routes (docs/API.md "Leases"): grant and revoke go through the
 * log like any write; a keepalive does not: it must reach the leader, whose
 * countdowns it restarts (http/node_port.ts `keepalive`). A node that does
 * not lead forwards the keepalive, and the reads that show `remaining`
 * (only the leader counts), to the leader over HTTP, once: a forwarded
 * request that meets another non-leader answers `503 not_leader`.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  InvalidCommandError,
  type Lease,
  LeaseNotFoundError,
  MAX_LEASE_TTL_SECONDS,
  MIN_LEASE_TTL_SECONDS,
} from "../../kv/mod.ts";
import {
  type Counter,
  NoLeaderError,
  NotLeaderError,
  type Registry,
} from "../../raft/mod.ts";
import { readJsonObject } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { BadRequestError, NodeRecoveringError } from "../errors.ts";
import { parseNodeId, pathBounds } from "../validate.ts";

/** The request header that marks a request one node forwarded to the leader. */
export const FORWARDED_HEADER = "x-raftkv-forwarded";

const LEASES_PREFIX = "/v1/leases/";

/** What the lease routes need besides the context. */
export interface LeaseRouteDeps {
  /** The registry `/metrics` renders. */
  metrics: Registry;
  /** The fetch used to reach the leader (TLS-aware). */
  fetch?: typeof fetch;
}

/** Registers `/v1/leases`, `/v1/leases/{id}` and `/v1/leases/{id}/keepalive`. */
export function registerLeaseRoutes(
  app: Hono,
  ctx: RouteContext,
  deps: LeaseRouteDeps,
): void {
  const keepalives = deps.metrics.counter(
    "raftkv_lease_keepalives_total",
    "Lease keepalives this node answered 200 as the leader.",
  );
  registerLeaseMetrics(ctx, deps.metrics);
  const doFetch = deps.fetch ?? fetch;

  app.post("/v1/leases", async (c) => {
    const body = await readJsonObject(c.req.raw, ctx.bodyTimeoutMs);
    const requested = body.ttl;
    if (
      typeof requested !== "number" || !Number.isSafeInteger(requested) ||
      requested < 1 || requested > MAX_LEASE_TTL_SECONDS
    ) {
      throw new BadRequestError(
        "invalid_body",
        `ttl must be an integer number of seconds from 1 to ${MAX_LEASE_TTL_SECONDS}`,
      );
    }
    const ttl = Math.max(requested, MIN_LEASE_TTL_SECONDS);
    requireRecovered(ctx);
    const result = await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.write({ op: "lease_grant", ttl }, s),
    );
    if (result.status !== "ok" || result.lease === undefined) {
      throw new InvalidCommandError("the grant was not applied");
    }
    const answer: Record<string, number> = {
      id: result.lease.id,
      ttl: result.lease.ttl,
    };
    if (ttl !== requested) answer.requestedTtl = requested;
    return c.json(answer, 201);
  });

  app.get("/v1/leases", async (c) => {
    requireRecovered(ctx);
    const forwarded = await forwardUnlessLeader(c.req.raw, ctx, doFetch);
    if (forwarded) return forwarded;
    await withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.readBarrier(s));
    const leases = ctx.node.store.leases.list().map((l) => leaseJson(ctx, l));
    return c.json({ leases });
  });

  app.get("/v1/leases/:id", async (c) => {
    const id = leaseIdOf(c.req.raw);
    requireRecovered(ctx);
    const forwarded = await forwardUnlessLeader(c.req.raw, ctx, doFetch);
    if (forwarded) return forwarded;
    await withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.readBarrier(s));
    const lease = ctx.node.store.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    return c.json(leaseJson(ctx, lease));
  });

  app.post("/v1/leases/:id/keepalive", async (c) => {
    const id = leaseIdOf(c.req.raw);
    requireRecovered(ctx);
    let lease: Lease;
    try {
      lease = await withDeadline(
        ctx.requestTimeoutMs,
        (s) => ctx.node.keepalive(id, s),
      );
    } catch (err) {
      if (!(err instanceof NotLeaderError)) throw err;
      const forwarded = await forwardUnlessLeader(c.req.raw, ctx, doFetch);
      if (forwarded) return forwarded;
      throw err;
    }
    keepalives.inc();
    return c.json({ id: lease.id, ttl: lease.ttl });
  });

  app.delete("/v1/leases/:id", async (c) => {
    const id = leaseIdOf(c.req.raw);
    requireRecovered(ctx);
    const result = await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.write({ op: "lease_revoke", id, term: 0 }, s),
    );
    if (result.status === "lease_not_found") throw new LeaseNotFoundError(id);
    if (result.status !== "ok") {
      throw new InvalidCommandError("the revoke was not applied");
    }
    return new Response(null, {
      status: 204,
      headers: { "x-raft-index": String(result.index) },
    });
  });
}

/** The gauges and counters of the lease table, read when scraped. */
function registerLeaseMetrics(ctx: RouteContext, metrics: Registry): void {
  const alive = metrics.gauge(
    "raftkv_leases_alive",
    "Leases in this node's applied state.",
  );
  const counted: [keyof typeof seen, Counter][] = [
    [
      "granted",
      metrics.counter(
        "raftkv_leases_granted_total",
        "Leases granted (applied on this node since it started).",
      ),
    ],
    [
      "expired",
      metrics.counter(
        "raftkv_leases_expired_total",
        "Leases revoked because the leader found them expired (applied on this node since it started).",
      ),
    ],
    [
      "revoked",
      metrics.counter(
        "raftkv_leases_revoked_total",
        "Leases revoked by a client (applied on this node since it started).",
      ),
    ],
  ];
  const seen = { granted: 0, expired: 0, revoked: 0 };
  metrics.onCollect(() => {
    const leases = ctx.node.store.leases;
    alive.set(leases.size);
    for (const [name, counter] of counted) {
      const now = leases.counts[name];
      if (now > seen[name]) counter.inc(now - seen[name]);
      seen[name] = now;
    }
  });
}

function requireRecovered(ctx: RouteContext): void {
  if (ctx.node.recovering()) throw new NodeRecoveringError();
}

/** The lease id of `/v1/leases/{id}[/keepalive]`. */
function leaseIdOf(req: Request): number {
  const { start, end } = pathBounds(req.url);
  const rest = req.url.slice(start + LEASES_PREFIX.length, end);
  const slash = rest.indexOf("/");
  return parseNodeId(slash < 0 ? rest : rest.slice(0, slash));
}

/** A lease as the API shows it: `remaining` in seconds by the leader's countdown. */
function leaseJson(ctx: RouteContext, lease: Lease): Record<string, unknown> {
  const remainingMs = ctx.node.leaseRemainingMs(lease.id);
  return {
    id: lease.id,
    ttl: lease.ttl,
    remaining: remainingMs === undefined
      ? lease.ttl
      : Math.round(remainingMs) / 1000,
    keys: ctx.node.store.leases.keys(lease.id),
  };
}

/**
 * On the leader: undefined (serve here). Elsewhere: the leader's answer to
 * the same request. A request that was already forwarded once is not
 * forwarded again: `503 not_leader`.
 */
async function forwardUnlessLeader(
  req: Request,
  ctx: RouteContext,
  doFetch: typeof fetch,
): Promise<Response | undefined> {
  const status = ctx.node.status();
  if (status.role === "leader") return undefined;
  if (req.headers.has(FORWARDED_HEADER)) {
    throw new NotLeaderError(status.leader);
  }
  const view = ctx.node.members();
  const leader = view.members.find((m) => m.id === view.leader);
  if (leader === undefined) throw new NoLeaderError();
  const { start } = pathBounds(req.url);
  const headers = new Headers({ [FORWARDED_HEADER]: "1" });
  const auth = req.headers.get("authorization");
  if (auth !== null) headers.set("authorization", auth);
  let res: Response;
  try {
    res = await withDeadline(
      ctx.requestTimeoutMs,
      (signal) =>
        doFetch(leader.url + req.url.slice(start), {
          method: req.method,
          headers,
          signal,
        }),
    );
  } catch (err) {
    if (err instanceof DOMException) throw err;
    throw new NoLeaderError(
      `the leader (node ${leader.id}) could not be reached: not applied`,
    );
  }
  // Pass the leader's answer through (its body read here: the connection
  // to the leader is not held by the client's).
  const body = await res.arrayBuffer();
  const out = new Headers();
  for (const name of ["content-type", "retry-after", "x-raft-index"]) {
    const v = res.headers.get(name);
    if (v !== null) out.set(name, v);
  }
  return new Response(res.status === 204 ? null : body, {
    status: res.status,
    headers: out,
  });
}
