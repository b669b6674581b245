import assert from "node:assert/strict";
import { errorOf, setup } from "../fake_node.ts";

Deno.test("GET /v1/status returns the node's status as JSON", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  const res = await app.request("/v1/status");
  assert.equal(res.status, 200);
  const status = await res.json();
  for (
    const field of [
      "id",
      "role",
      "term",
      "leader",
      "commit",
      "applied",
      "snapshotIndex",
      "walSegments",
      "walBytes",
      "peers",
    ]
  ) {
    assert.ok(field in status, field);
  }
  assert.equal(status.applied, 1);
  assert.deepEqual(status.peers, [{ id: 2, match: 1, next: 2 }]);
});

Deno.test("GET /health is 200 when healthy, else 503 with Retry-After", async () => {
  const { app, node } = setup();
  const ok = await app.request("/health");
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { ok: true });
  node.healthState = { ok: false, reason: "no leader" };
  const sick = await app.request("/health");
  assert.equal(sick.status, 503);
  assert.equal(sick.headers.get("retry-after"), "1");
  assert.deepEqual(await errorOf(sick), {
    code: "unhealthy",
    message: "no leader",
  });
});

Deno.test("GET /metrics renders Prometheus text", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get("content-type")!,
    /^text\/plain; version=0\.0\.4/,
  );
  const text = await res.text();
  assert.match(text, /^# TYPE raftkv_term gauge$/m);
  assert.match(text, /^raftkv_term 3$/m);
  assert.match(text, /^raftkv_applied_index 1$/m);
  assert.match(text, /^raftkv_is_leader 1$/m);
  assert.match(text, /^raftkv_kv_keys 1$/m);
  assert.match(text, /^raftkv_peer_match_index\{peer="2"\} 1$/m);
  for (const line of text.trimEnd().split("\n")) {
    assert.match(
      line,
      /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[0-9.e+]+)$/,
      line,
    );
  }
});
