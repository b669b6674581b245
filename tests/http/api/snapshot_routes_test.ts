import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "../../../kv/mod.ts";
import { allowedMethods } from "../../../http/api/route_table.ts";
import { decodeBackupFile } from "../../../raft/mod.ts";
import { errorOf, setup } from "../fake_node.ts";

const utf8 = new TextEncoder();

Deno.test("GET /v1/snapshot streams a backup taken after a read barrier", async () => {
  const { app, node } = setup();
  node.store.apply(
    ++node.index,
    encodeCommand({ op: "put", key: "a", value: utf8.encode("1") }),
  );
  node.store.apply(
    ++node.index,
    encodeCommand({ op: "put", key: "b", value: new Uint8Array(70_000) }),
  );
  const res = await app.request("/v1/snapshot");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  assert.equal(
    res.headers.get("content-disposition"),
    'attachment; filename="raftkv-2.backup"',
  );
  assert.equal(res.headers.get("x-raftkv-snapshot-index"), "2");
  assert.equal(res.headers.get("x-raftkv-snapshot-term"), "3");
  const body = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.headers.get("content-length"), String(body.length));
  assert.deepEqual(node.calls, ["barrier", "image"]);

  const backup = decodeBackupFile(body);
  assert.equal(backup.index, 2);
  assert.equal(backup.term, 3);
  const restored = new KvStore();
  restored.restore(backup.state);
  assert.deepEqual(restored.get("a")?.value, utf8.encode("1"));
  assert.equal(restored.get("b")?.value.length, 70_000);
});

Deno.test("GET /v1/snapshot?consistency=stale skips the barrier", async () => {
  const { app, node } = setup();
  const res = await app.request("/v1/snapshot?consistency=stale");
  assert.equal(res.status, 200);
  await res.body?.cancel();
  assert.deepEqual(node.calls, ["image"]);
});

Deno.test("GET /v1/snapshot refuses bad queries, recovery and a failed barrier", async () => {
  const { app, node } = setup();
  const bad = await app.request("/v1/snapshot?consistency=eventual");
  assert.equal(bad.status, 400);
  assert.equal((await errorOf(bad)).code, "invalid_query");

  node.isRecovering = true;
  const recovering = await app.request("/v1/snapshot");
  assert.equal(recovering.status, 503);
  assert.equal(recovering.headers.get("retry-after"), "1");
  await recovering.body?.cancel();

  const { app: slowApp, node: slow } = setup({ requestTimeoutMs: 20 });
  slow.mode = "honor-signal";
  const timedOut = await slowApp.request("/v1/snapshot");
  assert.equal(timedOut.status, 504);
  await timedOut.body?.cancel();
  assert.deepEqual(slow.calls, ["barrier"], "no image without the barrier");
});

Deno.test("/v1/snapshot answers other methods with 405", async () => {
  const { app } = setup();
  assert.deepEqual(allowedMethods("/v1/snapshot"), ["GET", "HEAD"]);
  for (const method of ["PUT", "POST", "DELETE"]) {
    const res = await app.request("/v1/snapshot", { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    assert.equal((await errorOf(res)).code, "method_not_allowed");
  }
});

Deno.test("GET /v1/snapshot: writes after the image never show in the backup, and the view is released", async () => {
  const { app, node } = setup();
  for (let i = 0; i < 40; i++) {
    node.store.apply(
      ++node.index,
      encodeCommand({ op: "put", key: `k${i}`, value: new Uint8Array(20_000) }),
    );
  }
  const states: { byteLength: number; released: number }[] = [];
  const image = node.storeImage.bind(node);
  node.storeImage = () => {
    const img = image();
    const state = img.state;
    const seen = { byteLength: state.byteLength, released: 0 };
    states.push(seen);
    return {
      ...img,
      state: {
        byteLength: state.byteLength,
        slices: () => state.slices(),
        release() {
          seen.released++;
          state.release();
        },
      },
    };
  };
  const res = await app.request("/v1/snapshot?consistency=stale");
  assert.equal(res.status, 200);
  // The image is taken; these writes land while the body is still unread.
  node.store.apply(
    ++node.index,
    encodeCommand({ op: "put", key: "k0", value: utf8.encode("later") }),
  );
  node.store.apply(
    ++node.index,
    encodeCommand({ op: "put", key: "new", value: utf8.encode("later") }),
  );
  const body = new Uint8Array(await res.arrayBuffer());
  assert.equal(res.headers.get("content-length"), String(body.length));
  const backup = decodeBackupFile(body);
  assert.equal(backup.index, 40);
  const restored = new KvStore();
  restored.restore(backup.state);
  assert.equal(restored.get("k0")?.value.length, 20_000);
  assert.equal(restored.get("new"), undefined);
  assert.equal(restored.size, 40);
  assert.deepEqual(states.map((s) => s.released), [1]);

  // A client that goes away mid-body releases the view too.
  const gone = await app.request("/v1/snapshot?consistency=stale");
  const reader = gone.body!.getReader();
  await reader.read();
  await reader.cancel();
  assert.deepEqual(states.map((s) => s.released), [1, 1]);
});
