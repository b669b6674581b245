/**
 * The status page: `GET /ui` (one self-contained HTML page, no build step)
 * and `GET /v1/cluster/status`, the data it polls: every member's
 * `/v1/status` gathered by the serving node, so the browser talks to one
 * origin only. Members that do not answer in time are listed as down.
 *
 * @module
 */

import type { Hono } from "hono";
import type { RouteContext } from "../context.ts";
import type {
  LeaderChange,
  Member,
  MemberRole,
  NodeStatus,
} from "../node_port.ts";
import { UI_PAGE_HTML } from "./ui_page.ts";

/** How long the aggregate waits for one member's `/v1/status` by default. */
export const DEFAULT_MEMBER_STATUS_TIMEOUT_MS = 1000;
/** How many leader changes the aggregate returns (newest first). */
const LEADER_CHANGES_SHOWN = 20;

/** One member as `GET /v1/cluster/status` reports it. */
export interface MemberStatus {
  id: number;
  url: string;
  role: MemberRole;
  /** True when the member answered its `/v1/status` in time. */
  up: boolean;
  /** The member's own `/v1/status`, when it is up. */
  status?: NodeStatus;
  /** Why the member counts as down, when it does. */
  error?: string;
}

/** The body of `GET /v1/cluster/status`. */
export interface ClusterStatus {
  /** The id of the node that answered (its own status is local). */
  node: number;
  /** When the answer was assembled (ms since the Unix epoch, this node's clock). */
  at: number;
  /** The leader the answering node knows of, 0 for none. */
  leader: number;
  /** Every member the answering node knows, sorted by id. */
  members: MemberStatus[];
  /** Leader changes seen by any member, one per term, newest first. */
  leaderChanges: LeaderChange[];
}

/** Options of {@linkcode registerUiRoutes}. */
export interface UiOptions {
  /**
   * How the aggregate reaches other members (default: the global fetch).
   * Pass one built on the cluster's TLS client when peers use https.
   */
  fetch?: typeof fetch;
  /** How long one member may take to answer (default 1000 ms). */
  memberTimeoutMs?: number;
}

/** Registers `GET /ui` and `GET /v1/cluster/status`. */
export function registerUiRoutes(
  app: Hono,
  ctx: RouteContext,
  options: UiOptions = {},
): void {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.memberTimeoutMs ?? DEFAULT_MEMBER_STATUS_TIMEOUT_MS;
  app.get("/ui", (c) => {
    c.header("cache-control", "no-store");
    c.header("x-content-type-options", "nosniff");
    c.header(
      "content-security-policy",
      "default-src 'none'; script-src 'unsafe-inline'; " +
        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
    );
    return c.html(UI_PAGE_HTML);
  });
  app.get("/v1/cluster/status", async (c) => {
    c.header("cache-control", "no-store");
    const auth = c.req.header("authorization");
    const body = await clusterStatus(ctx, {
      fetch: fetchFn,
      timeoutMs,
      headers: auth ? { authorization: auth } : {},
    });
    return c.json(body);
  });
}

/**
 * Gathers every member's status in parallel: this node's from the node
 * itself, the others' over HTTP with `timeoutMs` each.
 */
async function clusterStatus(
  ctx: RouteContext,
  o: { fetch: typeof fetch; timeoutMs: number; headers: HeadersInit },
): Promise<ClusterStatus> {
  const local = ctx.node.status();
  const view = ctx.node.members();
  const known: Member[] = view.members.length > 0
    ? view.members
    : [{ id: local.id, url: "", role: "voter" }];
  const members = await Promise.all(
    known.map(async (m): Promise<MemberStatus> => {
      const base = { id: m.id, url: m.url, role: m.role };
      if (m.id === local.id) return { ...base, up: true, status: local };
      try {
        const status = await fetchStatus(m.url, o);
        return { ...base, up: true, status };
      } catch (e) {
        return { ...base, up: false, error: describe(e) };
      }
    }),
  );
  members.sort((a, b) => a.id - b.id);
  return {
    node: local.id,
    at: Date.now(),
    leader: view.leader,
    members,
    leaderChanges: mergeLeaderChanges(members),
  };
}

/** Fetches `url`'s `/v1/status`; throws when it is not a 200 status body. */
async function fetchStatus(
  url: string,
  o: { fetch: typeof fetch; timeoutMs: number; headers: HeadersInit },
): Promise<NodeStatus> {
  const res = await o.fetch(new URL("/v1/status", url), {
    headers: o.headers,
    signal: AbortSignal.timeout(o.timeoutMs),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`GET /v1/status answered ${res.status}`);
  }
  const body: unknown = await res.json();
  if (!isStatus(body)) throw new Error("GET /v1/status: not a status body");
  return body;
}

/** Whether `v` looks like a `/v1/status` body (the fields the page reads). */
function isStatus(v: unknown): v is NodeStatus {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return ["id", "term", "leader", "commit", "applied"].every((f) =>
    typeof s[f] === "number"
  ) && typeof s.role === "string" && Array.isArray(s.peers);
}

/** A short reason for a member counting as down. */
function describe(e: unknown): string {
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return "no answer in time";
  }
  if (e instanceof TypeError) return "unreachable";
  return e instanceof Error ? e.message : String(e);
}

/**
 * One change per term (a term has at most one leader), from whichever
 * member saw it first, newest term first.
 */
function mergeLeaderChanges(members: MemberStatus[]): LeaderChange[] {
  const byTerm = new Map<number, LeaderChange>();
  for (const m of members) {
    const changes = m.status?.leaderChanges;
    if (!Array.isArray(changes)) continue;
    for (const c of changes as Partial<LeaderChange>[]) {
      if (
        typeof c?.at !== "number" || typeof c.term !== "number" ||
        typeof c.leader !== "number"
      ) continue;
      const seen = byTerm.get(c.term);
      if (!seen || c.at < seen.at) {
        byTerm.set(c.term, { at: c.at, term: c.term, leader: c.leader });
      }
    }
  }
  return [...byTerm.values()].sort((a, b) => b.term - a.term)
    .slice(0, LEADER_CHANGES_SHOWN);
}
