/**
 * Membership and leadership routes: `GET/POST /v1/members`,
 * `DELETE /v1/members/{id}`, `POST /v1/leader`, and raftexample's
 * `POST /{id}` (body = URL) and `DELETE /{id}`. Each answers once the change
 * is committed (or, for a transfer, done).
 *
 * @module
 */

import type { Hono } from "hono";
import { readJsonObject, readText } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import {
  BadRequestError,
  MethodNotAllowedError,
  NodeRecoveringError,
} from "../errors.ts";
import type { Member, MemberRole } from "../node_port.ts";
import {
  parseJsonNodeId,
  parseMemberUrl,
  parseNodeId,
  pathBounds,
} from "../validate.ts";
import { allowedMethods, RESERVED_ROOT_PATHS } from "./route_table.ts";

const MEMBER_PREFIX_BYTES = "/v1/members/".length;

/** Registers `/v1/members`, `/v1/members/{id}` and `/v1/leader`. */
export function registerMemberRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/v1/members", (c) => {
    requireRecovered(ctx);
    return c.json(ctx.node.members());
  });
  app.post("/v1/members", async (c) => {
    const body = await readJsonObject(c.req.raw, ctx.bodyTimeoutMs);
    const member: Member = {
      id: parseJsonNodeId(body.id),
      url: parseMemberUrl(body.url),
      role: parseRole(body.role),
    };
    requireRecovered(ctx);
    await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.addMember(member, s),
    );
    // The role it has now: every node enters as a learner (a voter-to-be is
    // promoted by the leader once it has caught up).
    const now = ctx.node.members().members.find((m) => m.id === member.id);
    return c.json({ ...member, role: now?.role ?? "learner" }, 201);
  });
  app.delete("/v1/members/:id", async (c) => {
    const id = parseNodeId(rawSegment(c.req.raw, MEMBER_PREFIX_BYTES));
    return await removeMember(ctx, id);
  });
  app.post("/v1/leader", async (c) => {
    const body = await readJsonObject(c.req.raw, ctx.bodyTimeoutMs);
    const id = parseJsonNodeId(body.id);
    requireRecovered(ctx);
    await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.transferLeader(id, s),
    );
    return new Response(null, { status: 204 });
  });
}

/** Throws 405 when a root route is asked for a reserved path such as `/raft`. */
function refuseReserved(req: Request): void {
  const { start, end } = pathBounds(req.url);
  const path = req.url.slice(start, end);
  if (RESERVED_ROOT_PATHS.has(path)) {
    throw new MethodNotAllowedError(req.method, path, allowedMethods(path)!);
  }
}

/**
 * Registers raftexample's `POST /{id}` (body = the new node's URL; it joins
 * as a learner and is promoted to voter once caught up) and `DELETE /{id}`.
 * Register after every other route.
 */
export function registerRootMemberRoutes(app: Hono, ctx: RouteContext): void {
  app.post("/:id", async (c) => {
    refuseReserved(c.req.raw);
    const id = parseNodeId(rawSegment(c.req.raw, 1));
    const url = parseMemberUrl(await readText(c.req.raw, ctx.bodyTimeoutMs));
    requireRecovered(ctx);
    await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.addMember({ id, url, role: "voter" }, s),
    );
    return new Response(null, { status: 204 });
  });
  app.delete("/:id", async (c) => {
    refuseReserved(c.req.raw);
    const id = parseNodeId(
      rawSegment(c.req.raw, 1),
      " (DELETE /{id} removes a member; to delete a key use DELETE /v1/kv/{key})",
    );
    return await removeMember(ctx, id);
  });
}

/** Returns the raw path after its first `prefixBytes` characters. */
function rawSegment(req: Request, prefixBytes: number): string {
  const { start, end } = pathBounds(req.url);
  return req.url.slice(start + prefixBytes, end);
}

function requireRecovered(ctx: RouteContext): void {
  if (ctx.node.recovering()) throw new NodeRecoveringError();
}

async function removeMember(ctx: RouteContext, id: number): Promise<Response> {
  requireRecovered(ctx);
  await withDeadline(
    ctx.requestTimeoutMs,
    (s) => ctx.node.removeMember(id, s),
  );
  return new Response(null, { status: 204 });
}

/** Parses the optional `role` of `POST /v1/members` (default `voter`). */
function parseRole(raw: unknown): MemberRole {
  if (raw === undefined || raw === null) return "voter";
  if (raw === "voter" || raw === "learner") return raw;
  throw new BadRequestError(
    "invalid_body",
    'role must be "voter" or "learner"',
  );
}
