/**
 * `GET /metrics` and the HTTP request metrics, read back through a small
 * parser of the Prometheus text exposition format (0.0.4) that checks the
 * grammar of every line.
 */

import assert from "node:assert/strict";
import type { Hono } from "hono";
import { RaftMetrics, Registry } from "../../../raft/mod.ts";
import { ProcessGauges } from "../../../http/api/process_metrics.ts";
import type { NodeStatus } from "../../../http/mod.ts";
import { createApp } from "../../../http/mod.ts";
import { FakeNode, setup } from "../fake_node.ts";
import {
  checkHistograms,
  type Family,
  parseExposition,
  valueOf,
} from "../exposition.ts";

async function scrape(
  app: Hono,
  headers: Record<string, string> = {},
): Promise<Map<string, Family>> {
  const res = await app.request("/metrics", { headers });
  assert.equal(res.status, 200);
  assert.equal(
    res.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return parseExposition(await res.text());
}

// ---- the parser itself -------------------------------------------------------

Deno.test("the test's parser refuses lines outside the grammar", () => {
  const ok = '# HELP a A.\n# TYPE a counter\na{x="1",y="q\\"z"} 2\n';
  assert.equal(parseExposition(ok).get("a")!.samples[0]!.labels.y, 'q"z');
  for (
    const bad of [
      "# TYPE a counter\na 1\n", // no HELP
      "# HELP a A.\na 1\n", // no TYPE
      "# HELP a A.\n# TYPE a counter\na{x=1} 2\n", // unquoted label
      "# HELP a A.\n# TYPE a counter\na 1 2 3\n",
      "# HELP a A.\n# TYPE a counter\na-b 1\n",
      "# HELP a A.\n# TYPE a counter\na 1", // no final line feed
      "# HELP a A.\n# TYPE a counter\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\na 2\n",
    ]
  ) {
    assert.throws(() => parseExposition(bad), Error, bad);
  }
});

// ---- /metrics ---------------------------------------------------------------

Deno.test("GET /metrics is valid exposition text with HELP and TYPE for every family", async () => {
  const metrics = new RaftMetrics();
  const { app } = setup({ metrics: metrics.registry });
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  const families = await scrape(app);
  for (const name of families.keys()) {
    // process_resident_memory_bytes keeps the name every Prometheus client gives it.
    if (name === "process_resident_memory_bytes") continue;
    assert.match(name, /^raftkv_/, `${name} has the raftkv_ prefix`);
  }
  for (
    const [name, type] of [
      ["raftkv_term", "gauge"],
      ["raftkv_role", "gauge"],
      ["raftkv_is_leader", "gauge"],
      ["raftkv_commit_index", "gauge"],
      ["raftkv_applied_index", "gauge"],
      ["raftkv_wal_bytes", "gauge"],
      ["raftkv_wal_segments", "gauge"],
      ["raftkv_leader_changes_total", "counter"],
      ["raftkv_proposals_committed_total", "counter"],
      ["raftkv_proposals_dropped_total", "counter"],
      ["raftkv_proposals_timed_out_total", "counter"],
      ["raftkv_proposals_retried_total", "counter"],
      ["raftkv_stale_entries_skipped_total", "counter"],
      ["raftkv_wal_fsync_duration_seconds", "histogram"],
      ["raftkv_apply_duration_seconds", "histogram"],
      ["raftkv_snapshots_taken_total", "counter"],
      ["raftkv_snapshot_duration_seconds", "histogram"],
      ["raftkv_peer_send_failures_total", "counter"],
      ["raftkv_peer_inflight_appends", "gauge"],
      ["raftkv_http_requests_total", "counter"],
      ["raftkv_http_request_duration_seconds", "histogram"],
      ["process_resident_memory_bytes", "gauge"],
      ["raftkv_js_heap_total_bytes", "gauge"],
      ["raftkv_js_heap_used_bytes", "gauge"],
      ["raftkv_js_external_memory_bytes", "gauge"],
    ]
  ) {
    assert.equal(families.get(name!)?.type, type, name);
  }
  assert.equal(valueOf(families, "raftkv_term"), 3);
  assert.equal(valueOf(families, "raftkv_applied_index"), 1);
  assert.equal(valueOf(families, "raftkv_is_leader"), 1);
  assert.equal(valueOf(families, "raftkv_wal_bytes"), 4096);
  assert.equal(valueOf(families, "raftkv_peer_match_index", { peer: "2" }), 1);
  // One role is 1, the others 0.
  const roles = families.get("raftkv_role")!.samples;
  assert.deepEqual(
    roles.filter((s) => s.value === 1).map((s) => s.labels.role),
    ["leader"],
  );
  assert.ok(roles.length >= 4);
  assert.ok(checkHistograms(families) >= 4);
});

Deno.test("the process memory gauges show what the runtime reports at each scrape", () => {
  const registry = new Registry();
  let usage = { rss: 300, heapTotal: 200, heapUsed: 150, external: 40 };
  const gauges = new ProcessGauges(registry, () => usage);
  registry.onCollect(() => gauges.update());
  const first = parseExposition(registry.render());
  assert.equal(valueOf(first, "process_resident_memory_bytes"), 300);
  assert.equal(valueOf(first, "raftkv_js_heap_total_bytes"), 200);
  assert.equal(valueOf(first, "raftkv_js_heap_used_bytes"), 150);
  assert.equal(valueOf(first, "raftkv_js_external_memory_bytes"), 40);
  usage = { rss: 500, heapTotal: 220, heapUsed: 90, external: 60 };
  const second = parseExposition(registry.render());
  assert.equal(valueOf(second, "process_resident_memory_bytes"), 500);
  assert.equal(valueOf(second, "raftkv_js_heap_used_bytes"), 90);
  assert.equal(valueOf(second, "raftkv_js_external_memory_bytes"), 60);
});

Deno.test("the real process's resident memory and heap are scraped", async () => {
  const { app } = setup();
  const families = await scrape(app);
  const rss = valueOf(families, "process_resident_memory_bytes");
  const used = valueOf(families, "raftkv_js_heap_used_bytes");
  assert.ok(used > 0, "heap in use");
  assert.ok(rss > 0, "resident memory");
});

Deno.test("request counters and durations grow with each write, labelled by route pattern", async () => {
  const { app } = setup();
  const put = { route: "/v1/kv/:key", method: "PUT", status: "204" };
  const before = await scrape(app);
  assert.equal(valueOf(before, "raftkv_http_requests_total", put), 0);
  const key = "secret-key-4711";
  await app.request(`/v1/kv/${key}`, { method: "PUT", body: "v1" });
  const once = await scrape(app);
  assert.equal(valueOf(once, "raftkv_http_requests_total", put), 1);
  await app.request(`/v1/kv/${key}`, { method: "PUT", body: "v2" });
  await app.request(`/${key}`, { method: "PUT", body: "v3" });
  (await app.request(`/${key}`)).body?.cancel();
  const res = await app.request("/metrics");
  const text = await res.text();
  const after = parseExposition(text);
  assert.equal(valueOf(after, "raftkv_http_requests_total", put), 2);
  assert.equal(
    valueOf(after, "raftkv_http_requests_total", {
      route: "/:key",
      method: "PUT",
      status: "204",
    }),
    1,
  );
  assert.equal(
    valueOf(after, "raftkv_http_requests_total", {
      route: "/:key",
      method: "GET",
      status: "200",
    }),
    1,
  );
  assert.equal(
    valueOf(after, "raftkv_http_request_duration_seconds_count", {
      route: "/v1/kv/:key",
      method: "PUT",
    }),
    2,
  );
  // Earlier scrapes count too: /metrics is a route like the others.
  assert.equal(
    valueOf(after, "raftkv_http_requests_total", {
      route: "/metrics",
      method: "GET",
      status: "200",
    }),
    2,
  );
  assert.ok(!text.includes(key), "no key in any label");
  checkHistograms(after);
});

Deno.test("errors, unmatched paths and odd methods are counted with bounded labels", async () => {
  const { app } = setup();
  (await app.request("/v1/kv/a%2Fb/c", { method: "DELETE" })).body?.cancel();
  (await app.request("/no/such/path")).body?.cancel();
  (await app.request("/v1/status", { method: "PUT" })).body?.cancel();
  (await app.request("/x", { method: "PURGE" })).body?.cancel();
  (await app.request("/v1/kv/missing")).body?.cancel();
  const f = await scrape(app);
  const count = (labels: Record<string, string>) =>
    valueOf(f, "raftkv_http_requests_total", labels);
  assert.equal(
    count({ route: "unmatched", method: "DELETE", status: "400" }),
    1,
  );
  assert.equal(count({ route: "unmatched", method: "GET", status: "404" }), 1);
  assert.equal(count({ method: "PUT", status: "405" }), 1);
  assert.equal(count({ method: "other", status: "405" }), 1);
  assert.equal(
    count({ route: "/v1/kv/:key", method: "GET", status: "404" }),
    1,
  );
  const methods = new Set(
    f.get("raftkv_http_requests_total")!.samples.map((s) => s.labels.method),
  );
  assert.ok(!methods.has("PURGE"));
});

Deno.test("a request a middleware rejects is still counted, under its route", async () => {
  const { app } = setup({ clientToken: "sesame" });
  (await app.request("/v1/kv/k", { method: "PUT", body: "v" })).body?.cancel();
  const f = await scrape(app, { authorization: "Bearer sesame" });
  assert.equal(
    valueOf(f, "raftkv_http_requests_total", {
      route: "/v1/kv/:key",
      method: "PUT",
      status: "401",
    }),
    1,
  );
});

Deno.test("peer gauges follow the status: in-flight appends when the node reports them", async () => {
  class InflightNode extends FakeNode {
    override status(): NodeStatus {
      const s = super.status();
      s.peers = [
        { id: 1, match: 9, inflight: 0 },
        { id: 3, match: 7, inflight: 2 },
      ];
      return s;
    }
  }
  const node = new InflightNode();
  const app = createApp({ node });
  let f = await scrape(app);
  assert.equal(valueOf(f, "raftkv_peer_inflight_appends", { peer: "3" }), 2);
  assert.equal(valueOf(f, "raftkv_peer_match_index", { peer: "3" }), 7);
  // A follower has no peer series at all: none are left over.
  node.leader = 2;
  const plain = new FakeNode();
  plain.leader = 2;
  f = await scrape(createApp({ node: plain }));
  assert.equal(f.get("raftkv_peer_inflight_appends")!.samples.length, 0);
  assert.equal(valueOf(f, "raftkv_is_leader"), 0);
  assert.equal(valueOf(f, "raftkv_role", { role: "follower" }), 1);
});

Deno.test("peer series of a leader that stepped down disappear on the next scrape", async () => {
  const node = new FakeNode();
  const app = createApp({ node });
  let f = await scrape(app);
  assert.equal(f.get("raftkv_peer_match_index")!.samples.length, 1);
  node.leader = 2;
  f = await scrape(app);
  assert.equal(f.get("raftkv_peer_match_index")!.samples.length, 0);
});
