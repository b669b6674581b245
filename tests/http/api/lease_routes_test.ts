import assert from "node:assert/strict";
import { errorOf, setup } from "../fake_node.ts";

function json(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  };
}

Deno.test("leases: grant (ttl raised to the minimum, the answer says), attach with ?lease=, read, keepalive, revoke", async () => {
  const { app, node } = setup();
  const granted = await app.request("/v1/leases", json("POST", { ttl: 1 }));
  assert.equal(granted.status, 201);
  assert.deepEqual(await granted.json(), { id: 1, ttl: 2, requestedTtl: 1 });
  const plain = await app.request("/v1/leases", json("POST", { ttl: 30 }));
  assert.deepEqual(await plain.json(), { id: 2, ttl: 30 });
  const put = await app.request("/v1/kv/svc%2Fa?lease=1", {
    method: "PUT",
    body: "x",
  });
  assert.equal(put.status, 204);
  assert.equal(node.store.get("svc/a")?.lease, 1);
  const one = await app.request("/v1/leases/1");
  assert.deepEqual(await one.json(), {
    id: 1,
    ttl: 2,
    remaining: 2,
    keys: ["svc/a"],
  });
  const list = await app.request("/v1/leases");
  assert.deepEqual(
    (await list.json()).leases.map((l: { id: number }) => l.id),
    [1, 2],
  );
  const kept = await app.request("/v1/leases/1/keepalive", { method: "POST" });
  assert.equal(kept.status, 200);
  assert.deepEqual(await kept.json(), { id: 1, ttl: 2 });
  const revoked = await app.request("/v1/leases/1", { method: "DELETE" });
  assert.equal(revoked.status, 204);
  assert.equal(node.store.get("svc/a"), undefined);
  for (
    const [path, init] of [
      ["/v1/leases/1", { method: "DELETE" }],
      ["/v1/leases/1/keepalive", { method: "POST" }],
      ["/v1/leases/1", {}],
      ["/v1/kv/b?lease=1", { method: "PUT", body: "y" }],
    ] as const
  ) {
    const res = await app.request(path, init);
    assert.equal(res.status, 404, path);
    assert.equal((await errorOf(res)).code, "lease_not_found");
  }
  assert.equal(node.store.get("b"), undefined);
});

Deno.test("leases: bad input answers 400 and proposes nothing", async () => {
  const { app, node } = setup();
  for (const ttl of [0, -1, 1.5, "10", null, 1e12]) {
    const res = await app.request("/v1/leases", json("POST", { ttl }));
    assert.equal(res.status, 400, String(ttl));
  }
  for (const path of ["/v1/leases/x", "/v1/leases/0/keepalive"]) {
    const res = await app.request(path, { method: "DELETE" });
    assert.ok(res.status === 400 || res.status === 405, path);
  }
  const res = await app.request("/v1/kv/a?lease=abc", {
    method: "PUT",
    body: "v",
  });
  assert.equal(res.status, 400);
  assert.deepEqual(node.calls, []);
});

Deno.test("leases: a node that does not lead forwards a keepalive to the leader once, marked as forwarded", async () => {
  const seen: { url: string; headers: Headers }[] = [];
  const { app, node } = setup({
    memberFetch: (input, init) => {
      seen.push({ url: String(input), headers: new Headers(init?.headers) });
      return Promise.resolve(Response.json({ id: 7, ttl: 9 }));
    },
  });
  node.leader = 2;
  const res = await app.request("/v1/leases/7/keepalive", {
    method: "POST",
    headers: { authorization: "Bearer t" },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: 7, ttl: 9 });
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.url, "http://127.0.0.1:22379/v1/leases/7/keepalive");
  assert.equal(seen[0]!.headers.get("x-raftkv-forwarded"), "1");
  assert.equal(seen[0]!.headers.get("authorization"), "Bearer t");
  // A forwarded request that meets a non-leader is not forwarded again.
  const again = await app.request("/v1/leases/7/keepalive", {
    method: "POST",
    headers: { "x-raftkv-forwarded": "1" },
  });
  assert.equal(again.status, 503);
  assert.equal((await errorOf(again)).code, "not_leader");
  assert.equal(seen.length, 1);
});
