/**
 * Observability routes: `GET /v1/status`, `GET /health` and `GET /metrics`.
 * They answer also while the node recovers (health then says 503).
 *
 * @module
 */

import type { Hono } from "hono";
import type { RouteContext } from "./context.ts";
import { NodeRecoveringError, UnhealthyError } from "./errors.ts";
import type { NodeStatus } from "./node_port.ts";

/** Registers `/v1/status`, `/health` and `/metrics`. */
export function registerStatusRoutes(app: Hono, ctx: RouteContext): void {
  app.get("/v1/status", (c) => c.json(ctx.node.status()));
  app.get("/health", (c) => {
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    const health = ctx.node.health();
    if (!health.ok) throw new UnhealthyError(health.reason ?? "unhealthy");
    return c.json({ ok: true });
  });
  app.get(
    "/metrics",
    () =>
      new Response(renderMetrics(ctx.node.status(), ctx.node.store.size), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      }),
  );
}

/** One gauge in Prometheus text format. */
function gauge(name: string, help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}\n`;
}

/** Renders the node's status as Prometheus text (exposition format 0.0.4). */
export function renderMetrics(status: NodeStatus, keys: number): string {
  let text = gauge("raftkv_node_id", "This node's id.", status.id) +
    gauge("raftkv_term", "The current Raft term.", status.term) +
    gauge("raftkv_leader_id", "The known leader, 0 for none.", status.leader) +
    gauge(
      "raftkv_is_leader",
      "1 when this node is the leader.",
      status.role === "leader" ? 1 : 0,
    ) +
    gauge("raftkv_commit_index", "The commit index.", status.commit) +
    gauge("raftkv_applied_index", "The applied index.", status.applied) +
    gauge(
      "raftkv_snapshot_index",
      "The index of the newest snapshot.",
      status.snapshotIndex,
    ) +
    gauge("raftkv_wal_segments", "WAL segment files.", status.walSegments) +
    gauge("raftkv_wal_bytes", "Bytes in WAL segment files.", status.walBytes) +
    gauge(
      "raftkv_recovering",
      "1 while the node replays its snapshot and WAL.",
      status.recovering ? 1 : 0,
    ) +
    gauge("raftkv_kv_keys", "Keys in the store.", keys);
  if (status.peers.length > 0) {
    text += "# HELP raftkv_peer_match_index A peer's replicated index " +
      "(on the leader).\n# TYPE raftkv_peer_match_index gauge\n";
    for (const peer of status.peers) {
      text += `raftkv_peer_match_index{peer="${peer.id}"} ${peer.match}\n`;
    }
  }
  return text;
}
