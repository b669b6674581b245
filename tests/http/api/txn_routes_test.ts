import assert from "node:assert/strict";
import { errorOf, setup } from "../fake_node.ts";

function post(body: unknown): RequestInit {
  return {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json" },
  };
}

Deno.test("POST /v1/txn: compares, the branch taken, one result per operation, the entry's index", async () => {
  const { app, node } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "x" });
  await app.request("/v1/kv/cfg%2F1", {
    method: "PUT",
    body: new Uint8Array([0xff]),
  });
  const res = await app.request(
    "/v1/txn",
    post({
      compare: [
        { key: "a", target: "value", op: "==", value: "x" },
        { key: "b", target: "modIndex", op: "<", value: 40 },
      ],
      success: [
        { op: "put", key: "a", value: "y" },
        { op: "delete", key: "b" },
        { op: "get", prefix: "cfg/", limit: 100 },
        { op: "put", key: "bin", value64: "AAE=" },
      ],
      failure: [{ op: "get", key: "a" }],
    }),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    succeeded: true,
    index: 3,
    results: [
      {},
      { deleted: 0 },
      {
        items: [{
          key: "cfg/1",
          value64: "/w==",
          createIndex: 2,
          modIndex: 2,
          version: 1,
        }],
        more: false,
      },
      {},
    ],
  });
  assert.deepEqual(node.store.get("bin")?.value, new Uint8Array([0, 1]));
  const failed = await app.request(
    "/v1/txn",
    post({
      compare: [{ key: "a", target: "version", op: ">", value: 5 }],
      failure: [{ op: "get", key: "a" }],
    }),
  );
  assert.deepEqual(await failed.json(), {
    succeeded: false,
    index: 4,
    results: [{
      items: [{
        key: "a",
        value: "y",
        createIndex: 1,
        modIndex: 3,
        version: 2,
      }],
      more: false,
    }],
  });
});

Deno.test("POST /v1/txn: a bad part anywhere answers 400 and proposes nothing", async () => {
  const { app, node } = setup();
  const bodies: unknown[] = [
    "not json",
    [],
    { compare: {} },
    { unknown: [] },
    { compare: [{ key: "a", target: "size", op: "==", value: 1 }] },
    { compare: [{ key: "a", target: "version", op: "=", value: 1 }] },
    { compare: [{ key: "a", target: "version", op: "==", value: "1" }] },
    { compare: [{ key: "a", target: "value", op: "==" }] },
    { compare: [{ key: "", target: "version", op: "==", value: 1 }] },
    { success: [{ op: "put", key: "a", value: "1" }], failure: [{ op: "x" }] },
    { success: [{ op: "put", key: "a" }] },
    { success: [{ op: "put", key: "a", value: "1", value64: "MQ==" }] },
    { success: [{ op: "put", key: "a", value64: "!!" }] },
    { success: [{ op: "delete", key: "a", prefix: "a" }] },
    { success: [{ op: "get", key: "a", limit: 3 }] },
    { success: [{ op: "get", prefix: "a", limit: 0 }] },
    { success: [{ op: "get", key: "a", extra: 1 }] },
    { success: Array.from({ length: 129 }, () => ({ op: "get", key: "a" })) },
  ];
  for (const body of bodies) {
    const res = await app.request("/v1/txn", post(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    await errorOf(res);
  }
  assert.deepEqual(node.calls, []);
  assert.equal(node.store.appliedIndex, 0);
});

Deno.test("POST /v1/txn: a body over the limit answers 413", async () => {
  const { app, node } = setup({ maxValueBytes: 16 });
  const big = "x".repeat(70 * 1024);
  const res = await app.request(
    "/v1/txn",
    post({ success: [{ op: "put", key: "a", value: big }] }),
  );
  assert.equal(res.status, 413);
  assert.deepEqual(node.calls, []);
});

Deno.test("POST /v1/txn: a read-only transaction goes through the log", async () => {
  const { app, node } = setup();
  const res = await app.request(
    "/v1/txn",
    post({ success: [{ op: "get", key: "nothing" }] }),
  );
  assert.deepEqual(await res.json(), {
    succeeded: true,
    index: 1,
    results: [{ items: [], more: false }],
  });
  assert.deepEqual(node.calls, ["write txn "]);
});
