/**
 * Observability of real node processes: `/metrics` of a live three-node
 * cluster reflects its writes and roles, and `--log-level` decides which
 * JSON lines a node writes.
 */

import assert from "node:assert/strict";
import { E2eCluster, show } from "./cluster.ts";
import {
  checkHistograms,
  type Family,
  parseExposition,
  valueOf,
} from "../http/exposition.ts";

async function scrape(
  c: E2eCluster,
  id: number,
): Promise<Map<string, Family>> {
  const r = await c.request(`${c.node(id).url}/metrics`);
  assert.equal(r?.status, 200, show(r));
  assert.match(
    r!.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  return parseExposition(r!.body);
}

/** Stops node `id` and returns its log lines (JSON objects). */
async function logLines(
  c: E2eCluster,
  id: number,
): Promise<Record<string, unknown>[]> {
  await c.kill(id);
  await c.node(id).logDone;
  const text = await Deno.readTextFile(c.node(id).logFile);
  const lines: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    lines.push(JSON.parse(line));
  }
  return lines;
}

Deno.test("a live cluster's /metrics shows its writes, one leader and its peers", async () => {
  const c = await E2eCluster.start();
  try {
    const ids = c.running();
    const leader = await c.waitLeader();
    const via = ids.find((id) => id !== leader)!;
    const writes = 5;
    for (let i = 0; i < writes; i++) await c.mustWrite(via, `m${i}`, "v");
    const all = new Map<number, Map<string, Family>>();
    for (const id of ids) all.set(id, await scrape(c, id));

    let leaders = 0;
    for (const [id, f] of all) {
      leaders += valueOf(f, "raftkv_is_leader");
      assert.equal(
        valueOf(f, "raftkv_role", { role: "leader" }),
        id === leader ? 1 : 0,
      );
      assert.ok(valueOf(f, "raftkv_leader_changes_total") >= 1, `node ${id}`);
      assert.ok(
        valueOf(f, "raftkv_wal_fsync_duration_seconds_count") > 0,
        `node ${id} timed its fsyncs`,
      );
      assert.ok(valueOf(f, "raftkv_applied_index") >= writes, `node ${id}`);
      assert.ok(valueOf(f, "raftkv_wal_segments") >= 1, `node ${id}`);
      checkHistograms(f);
    }
    assert.equal(leaders, 1);

    const viaMetrics = all.get(via)!;
    assert.ok(
      valueOf(viaMetrics, "raftkv_proposals_committed_total") >= writes,
      "the writes were proposed through this node",
    );
    assert.ok(
      valueOf(viaMetrics, "raftkv_http_requests_total", {
        route: "/v1/kv/:key",
        method: "PUT",
        status: "204",
      }) >= writes,
    );
    assert.ok(
      valueOf(viaMetrics, "raftkv_apply_duration_seconds_count") >= writes,
    );
    const leaderMetrics = all.get(leader)!;
    const inflight = leaderMetrics.get("raftkv_peer_inflight_appends")!.samples;
    for (const id of ids.filter((id) => id !== leader)) {
      assert.ok(
        inflight.some((s) => s.labels.peer === String(id)),
        `leader reports in-flight appends to ${id}`,
      );
    }
    assert.ok(
      leaderMetrics.get("raftkv_peer_send_failures_total")!.samples.length >=
        ids.length - 1,
      "a send-failure series per peer",
    );
    // The harness runs nodes at --log-level info: info lines, no debug ones.
    for (const id of ids) {
      const levels = new Set((await logLines(c, id)).map((l) => l.level));
      assert.ok(levels.has("info"), `node ${id} logged at info`);
      assert.ok(!levels.has("debug"), `node ${id} logged no debug lines`);
    }
  } finally {
    await c.close();
  }
});

Deno.test("--log-level debug adds the debug lines; warn leaves out info", async () => {
  const debug = await E2eCluster.start({
    size: 1,
    extraArgs: ["--log-level", "debug"],
  });
  const debugLines = await logLines(debug, 1).finally(() => debug.close());
  assert.ok(
    debugLines.some((l) => l.level === "debug"),
    "a debug line (the core's role changes)",
  );
  for (const l of debugLines) {
    assert.equal(typeof l.ts, "string");
    assert.equal(typeof l.msg, "string");
    assert.equal(l.node, 1);
  }

  const quiet = await E2eCluster.start({
    size: 1,
    extraArgs: ["--log-level", "warn"],
  });
  await quiet.mustWrite(1, "k", "v").catch(async (e) => {
    await quiet.close();
    throw e;
  });
  const quietLines = await logLines(quiet, 1).finally(() => quiet.close());
  const levels = new Set(quietLines.map((l) => l.level));
  assert.ok(!levels.has("info") && !levels.has("debug"), [...levels].join());
});
