import assert from "node:assert/strict";
import { allowedMethods } from "../../http/api/route_table.ts";
import { encodeCommand } from "../../kv/mod.ts";
import { errorOf, setup } from "./fake_node.ts";

Deno.test("unknown routes answer 404 JSON", async () => {
  const { app } = setup();
  for (
    const path of [
      "/",
      "/v1/nope",
      "/a/b",
      "/v1/members/1/x",
      "/v2/kv/a",
      "/v1/members/",
    ]
  ) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    const err = await errorOf(res);
    assert.equal(err.code, "not_found");
    assert.match(err.message, /no route for GET/);
  }
});

/** Every route path with the methods it serves. */
const ROUTES: [string, string[]][] = [
  ["/health", ["GET", "HEAD"]],
  ["/metrics", ["GET", "HEAD"]],
  ["/raft", ["POST"]],
  ["/v1/kv", ["GET", "HEAD"]],
  ["/v1/kv/key", ["GET", "HEAD", "PUT", "DELETE"]],
  ["/v1/members", ["GET", "HEAD", "POST"]],
  ["/v1/members/2", ["DELETE"]],
  ["/v1/leader", ["POST"]],
  ["/v1/status", ["GET", "HEAD"]],
  ["/v1/cluster/status", ["GET", "HEAD"]],
  ["/v1/snapshot", ["GET", "HEAD"]],
  ["/v1/openapi.json", ["GET", "HEAD"]],
  ["/ui", ["GET", "HEAD"]],
  ["/key", ["GET", "HEAD", "PUT", "POST", "DELETE"]],
];
const METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];

Deno.test("wrong methods answer 405 JSON with Allow, right ones reach a route", async () => {
  const { app, node } = setup();
  for (const [path, allowed] of ROUTES) {
    assert.deepEqual(allowedMethods(path), allowed, path);
    for (const method of METHODS) {
      // The key exists, so a GET that reaches its route answers 200, not 404.
      node.store.apply(
        ++node.index,
        encodeCommand({ op: "put", key: "key", value: new Uint8Array(1) }),
      );
      const res = await app.request(path, { method });
      if (allowed.includes(method)) {
        assert.notEqual(res.status, 405, `${method} ${path}`);
        assert.notEqual(res.status, 404, `${method} ${path}`);
        await res.body?.cancel();
        continue;
      }
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(
        res.headers.get("allow"),
        allowed.join(", "),
        `${method} ${path}`,
      );
      if (method !== "HEAD") {
        assert.equal((await errorOf(res)).code, "method_not_allowed");
      }
    }
  }
});

Deno.test("reserved single-segment paths are not raftexample keys or ids", async () => {
  const { app, node } = setup();
  const cases: [string, string][] = [
    ["PUT", "/health"],
    ["GET", "/raft"],
    ["POST", "/metrics"],
    ["DELETE", "/health"],
  ];
  for (const [method, path] of cases) {
    const res = await app.request(path, {
      method,
      body: method === "GET" ? null : "x",
    });
    assert.equal(res.status, 405, `${method} ${path}`);
  }
  assert.deepEqual(node.calls, []);
  // /v1 alone is not reserved: it is a key like any other.
  assert.equal(
    (await app.request("/v1", { method: "PUT", body: "x" })).status,
    204,
  );
});
