import assert from "node:assert/strict";
import { CodecError } from "../../../raft/codec.ts";
import { PeerRemovedError } from "../../../raft/mod.ts";
import { errorOf, RAFT_BATCH_MAGIC, setup } from "../fake_node.ts";

Deno.test("POST /raft hands the body to the node as is", async () => {
  const { app, node } = setup();
  const body = new Uint8Array([RAFT_BATCH_MAGIC, 9, 8, 7]);
  const res = await app.request("/raft", { method: "POST", body });
  assert.equal(res.status, 204);
  assert.deepEqual(node.received, [body]);
});

Deno.test("garbage on POST /raft answers 400 and the node keeps serving", async () => {
  const { app, node } = setup();
  for (
    const body of [
      new Uint8Array(0),
      new Uint8Array([0xc1, 0xff]),
      new TextEncoder().encode("hello"),
    ]
  ) {
    const res = await app.request("/raft", { method: "POST", body });
    assert.equal(res.status, 400);
    assert.equal((await errorOf(res)).code, "invalid_message");
  }
  assert.equal(
    (await app.request("/v1/kv/a", { method: "PUT", body: "v" })).status,
    204,
  );
  assert.equal(
    (await app.request("/raft", {
      method: "POST",
      body: new Uint8Array([RAFT_BATCH_MAGIC]),
    })).status,
    204,
  );
  assert.equal(node.received.length, 1);
});

Deno.test("POST /raft over its body limit answers 413", async () => {
  const { app, node } = setup({ maxRaftBodyBytes: 16 });
  const res = await app.request("/raft", {
    method: "POST",
    body: new Uint8Array(17).fill(RAFT_BATCH_MAGIC),
  });
  assert.equal(res.status, 413);
  assert.equal((await errorOf(res)).code, "body_too_large");
  assert.deepEqual(node.received, []);
});

Deno.test("POST /raft from a removed node answers 410", async () => {
  const { app, node } = setup();
  node.failWith = new PeerRemovedError(3);
  const res = await app.request("/raft", {
    method: "POST",
    body: new Uint8Array([RAFT_BATCH_MAGIC]),
  });
  assert.equal(res.status, 410);
  assert.equal((await errorOf(res)).code, "peer_removed");
});

Deno.test("POST /raft is served while the node recovers", async () => {
  const { app, node } = setup();
  node.isRecovering = true;
  const res = await app.request("/raft", {
    method: "POST",
    body: new Uint8Array([RAFT_BATCH_MAGIC]),
  });
  assert.equal(res.status, 204);
});

Deno.test("a codec error from the node answers 400", async () => {
  const { app, node } = setup();
  node.failWith = new CodecError("message batch", "truncated");
  const res = await app.request("/raft", {
    method: "POST",
    body: new Uint8Array([RAFT_BATCH_MAGIC]),
  });
  assert.equal(res.status, 400);
  assert.equal((await errorOf(res)).code, "invalid_encoding");
});
