import assert from "node:assert/strict";
import { OverloadedError } from "../../raft/mod.ts";
import { errorOf, setup } from "./fake_node.ts";

/** A body that sends `first` and then nothing, ever. */
function stalledBody(first: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller): Promise<void> {
      if (sent) return new Promise<void>(() => {});
      sent = true;
      controller.enqueue(new TextEncoder().encode(first));
      return Promise.resolve();
    },
  });
}

Deno.test("a client that trickles its body gets 408 and nothing is applied", async () => {
  const { app, node } = setup({ bodyTimeoutMs: 50 });
  // Chunked, and with a declared length (read whole, not chunk by chunk).
  for (const length of [undefined, "100"]) {
    for (const path of ["/v1/kv/a", "/a"]) {
      const res = await app.request(path, {
        method: "PUT",
        body: stalledBody("par"),
        headers: length === undefined ? {} : { "content-length": length },
        duplex: "half",
      } as RequestInit);
      assert.equal(res.status, 408, `${path} ${length}`);
      const err = await errorOf(res);
      assert.equal(err.code, "body_timeout");
    }
  }
  const members = await app.request("/v1/members", {
    method: "POST",
    body: stalledBody('{"id":'),
    duplex: "half",
  } as RequestInit);
  assert.equal(members.status, 408);
  assert.deepEqual(node.calls, []);
});

Deno.test("a body that arrives in time is read whole", async () => {
  const { app, node } = setup({ bodyTimeoutMs: 60_000 });
  const chunks = ["a", "b", "c"];
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  const res = await app.request("/v1/kv/k", {
    method: "PUT",
    body,
    duplex: "half",
  } as RequestInit);
  assert.equal(res.status, 204);
  assert.deepEqual(node.calls, ["write put k"]);
  assert.equal(await (await app.request("/v1/kv/k")).text(), "abc");
});

Deno.test("an overloaded node answers 503 with Retry-After: not applied", async () => {
  const { app, node } = setup({ retryAfterSeconds: 3 });
  node.failWith = new OverloadedError("10000 proposals are waiting");
  const res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "3");
  const err = await errorOf(res);
  assert.equal(err.code, "overloaded");
  assert.match(err.message, /not applied/);
});
