import assert from "node:assert/strict";
import { errorOf, setup } from "../fake_node.ts";
import { SseReader } from "../sse_reader.ts";

/** Opens a watch through the app; the stream's reader. */
async function watch(
  app: ReturnType<typeof setup>["app"],
  query: string,
  headers: Record<string, string> = {},
): Promise<{ res: Response; events: SseReader }> {
  const res = await app.request(`/v1/watch?${query}`, { headers });
  assert.equal(res.status, 200, await (res.status === 200 ? "" : res.text()));
  assert.equal(
    res.headers.get("content-type")?.split(";")[0],
    "text/event-stream",
  );
  return { res, events: new SseReader(res.body!) };
}

async function put(
  app: ReturnType<typeof setup>["app"],
  key: string,
  value: string,
) {
  const res = await app.request(`/v1/kv/${encodeURIComponent(key)}`, {
    method: "PUT",
    body: value,
  });
  assert.equal(res.status, 204);
  return Number(res.headers.get("x-raft-index"));
}

Deno.test("watch without from: first a progress at the read index B, then every change after it, one message per entry", async () => {
  const { app, node } = setup();
  await put(app, "a/1", "old");
  const { events } = await watch(app, "prefix=a/");
  assert.deepEqual(await events.nextJson("progress"), {
    id: "1",
    data: { index: 1 },
  });
  assert.ok(node.calls.includes("barrier"), "B is a linearizable read index");
  await put(app, "b/1", "other prefix");
  const i = await put(app, "a/1", "new");
  const del = await app.request("/v1/kv/a%2F1", {
    method: "DELETE",
  });
  assert.equal(del.status, 204);
  assert.deepEqual(await events.nextJson(), {
    id: String(i),
    data: {
      index: i,
      events: [{
        type: "put",
        key: "a/1",
        value: "new",
        createIndex: 1,
        modIndex: i,
        version: 2,
      }],
    },
  });
  assert.deepEqual(await events.nextJson(), {
    id: String(i + 1),
    data: {
      index: i + 1,
      events: [{ type: "delete", key: "a/1", modIndex: i + 1 }],
    },
  });
  assert.equal(node.watches.stats.watchers, 1);
  await events.cancel();
  assert.equal(
    node.watches.stats.watchers,
    0,
    "a client gone closes its watcher",
  );
});

Deno.test("from catches up from the history; Last-Event-ID wins over from", async () => {
  const { app } = setup();
  for (let i = 1; i <= 5; i++) await put(app, "k", `v${i}`);
  const a = await watch(app, "key=k&from=2");
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await a.events.nextJson()).id);
  assert.deepEqual(ids, ["2", "3", "4", "5"]);
  assert.deepEqual(await a.events.nextJson("progress"), {
    id: "5",
    data: { index: 5 },
  });
  await a.events.cancel();
  const b = await watch(app, "key=k&from=1", { "last-event-id": "3" });
  assert.equal(
    (await b.events.nextJson()).id,
    "4",
    "Last-Event-ID 3 means from 4",
  );
  await b.events.cancel();
});

Deno.test("410 compacted with compactIndex before the stream; from = compactIndex succeeds", async () => {
  const { app, node } = setup({}, { historyEntries: 2 });
  for (let i = 1; i <= 6; i++) await put(app, "k", `v${i}`);
  const compactIndex = node.watches.history.compactIndex;
  assert.ok(compactIndex > 1);
  const res = await app.request("/v1/watch?key=k&from=1");
  assert.equal(res.status, 410);
  const body = await res.json();
  assert.equal(body.error.code, "compacted");
  assert.equal(body.error.compactIndex, compactIndex);
  const ok = await watch(app, `key=k&from=${compactIndex}`);
  assert.equal((await ok.events.nextJson()).id, String(compactIndex));
  await ok.events.cancel();
  assert.equal(node.watches.stats.watchers, 0);
});

Deno.test("bad input gets a clear 400, opens no watcher, and the node serves on", async () => {
  const { app, node } = setup();
  await put(app, "k", "v");
  const cases: [string, Record<string, string>, string][] = [
    ["key=k&color=red", {}, "invalid_query"],
    ["key=k&prefix=k", {}, "invalid_query"],
    ["", {}, "invalid_query"],
    ["key=", {}, "invalid_query"],
    ["key=k&key=j", {}, "invalid_query"],
    ["key=k&from=abc", {}, "invalid_query"],
    ["key=k&from=-1", {}, "invalid_query"],
    ["key=k&from=0", {}, "invalid_query"],
    ["key=k&from=1e3", {}, "invalid_query"],
    ["key=k&from=99999999999999999", {}, "invalid_query"],
    ["key=k&from=1000", {}, "invalid_query"], // beyond the commit index
    ["key=k", { "last-event-id": "x" }, "invalid_header"],
    ["key=k", { "last-event-id": "-4" }, "invalid_header"],
    ["key=k&from=1", { "last-event-id": "5000" }, "invalid_query"],
  ];
  for (const [query, headers, code] of cases) {
    const res = await app.request(`/v1/watch?${query}`, { headers });
    assert.equal(res.status, 400, `${query} ${JSON.stringify(headers)}`);
    assert.equal((await errorOf(res)).code, code, query);
  }
  assert.equal(node.watches.stats.watchers, 0);
  assert.equal(await put(app, "k", "still"), 2);
  const post = await app.request("/v1/watch?key=k", { method: "POST" });
  assert.equal(post.status, 405);
});

Deno.test("a watcher that does not read is cancelled as slow with its resume index; writes go on", async () => {
  const { app, node } = setup({}, { bufferBytes: 1024 });
  const { events } = await watch(app, "prefix=");
  assert.deepEqual(await events.nextJson("progress"), {
    id: "0",
    data: { index: 0 },
  });
  const big = "x".repeat(400);
  // The body queues 64 KiB, then the watcher's buffer fills: bounded.
  for (let i = 0; i < 400 && node.watches.stats.cancelledSlow === 0; i++) {
    await put(app, `k${i}`, big);
  }
  assert.equal(node.watches.stats.cancelledSlow, 1);
  assert.equal(node.watches.stats.watchers, 0);
  let last = 0;
  for (;;) {
    const e = await events.next();
    assert.ok(e !== undefined, "the cancellation comes before the end");
    if (e.event === "cancelled") {
      assert.deepEqual(JSON.parse(e.data), {
        reason: "slow",
        resume: last + 1,
      });
      break;
    }
    assert.equal(Number(e.id), last + 1, "no gap before the cancellation");
    last = Number(e.id);
  }
  assert.equal(await events.next(), undefined, "then the stream ends");
});

Deno.test("an idle stream gets progress events; the node's stop ends every stream", async () => {
  const stop = new AbortController();
  const { app, node } = setup({ watchProgressMs: 20, stop: stop.signal });
  await put(app, "k", "v");
  const { events } = await watch(app, "key=k&from=2");
  assert.deepEqual(await events.nextJson("progress"), {
    id: "1",
    data: { index: 1 },
  });
  await put(app, "other", "v");
  assert.deepEqual(await events.nextJson("progress"), {
    id: "2",
    data: { index: 2 },
  });
  stop.abort();
  assert.equal(await events.next(), undefined);
  assert.equal(node.watches.stats.watchers, 0);
});

Deno.test("HEAD /v1/watch answers the headers without opening a watcher", async () => {
  const { app, node } = setup();
  const res = await app.request("/v1/watch?prefix=", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(node.watches.stats.watchers, 0);
});

Deno.test("GET /v1/kv/{key} carries X-Create-Index and X-Version; DELETE of an absent key has X-Raft-Index", async () => {
  const { app } = setup();
  await put(app, "k", "1");
  await put(app, "k", "2");
  const get = await app.request("/v1/kv/k");
  assert.equal(get.headers.get("x-raft-index"), "2");
  assert.equal(get.headers.get("x-create-index"), "1");
  assert.equal(get.headers.get("x-version"), "2");
  assert.equal(get.headers.get("x-lease"), null, "no lease: no header");
  const del = await app.request("/v1/kv/absent", { method: "DELETE" });
  assert.equal(del.status, 204);
  assert.equal(del.headers.get("x-raft-index"), "3");
});

Deno.test("listing items carry the revision and value or value64", async () => {
  const { app } = setup();
  await put(app, "a", "1");
  await app.request("/v1/kv/b", {
    method: "PUT",
    body: new Uint8Array([0xff]),
  });
  await put(app, "a", "2");
  const res = await app.request("/v1/kv?prefix=");
  assert.equal(res.headers.get("x-raft-index"), "3");
  assert.deepEqual((await res.json()).items, [
    { key: "a", value: "2", index: 3, createIndex: 1, modIndex: 3, version: 2 },
    {
      key: "b",
      value64: "/w==",
      index: 2,
      createIndex: 2,
      modIndex: 2,
      version: 1,
    },
  ]);
});

Deno.test("long poll on a key answers once a change above index is applied, with the index to pass next", async () => {
  const { app } = setup();
  const first = await put(app, "k", "1");
  const waiting = app.request(`/v1/kv/k?index=${first}&wait=30s`);
  await put(app, "other", "x");
  const second = await put(app, "k", "2");
  const res = await waiting;
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "2");
  assert.equal(res.headers.get("x-raft-index"), String(second));
  assert.equal(res.headers.get("etag"), `"${second}"`);
  // A change already applied answers at once.
  const again = await app.request(`/v1/kv/k?index=${first}&wait=30s`);
  assert.equal(await again.text(), "2");
  // A delete wakes a poll too; the 404 carries the index to pass next.
  const gone = app.request(`/v1/kv/k?index=${second}&wait=5m`);
  await app.request("/v1/kv/k", { method: "DELETE" });
  const res404 = await gone;
  assert.equal(res404.status, 404);
  assert.equal(res404.headers.get("x-raft-index"), String(second + 1));
  // wait runs out: the usual answer.
  const timeout = await app.request(
    `/v1/kv/other?index=${second + 1}&wait=10ms`,
  );
  assert.equal(timeout.status, 200);
  assert.equal(timeout.headers.get("x-raft-index"), String(second + 1));
});

Deno.test("long poll on a listing wakes on a change in its prefix only", async () => {
  const { app } = setup();
  const start = await put(app, "p/a", "1");
  const waiting = app.request(`/v1/kv?prefix=p/&index=${start}&wait=30s`);
  await put(app, "q/a", "no");
  const i = await put(app, "p/b", "yes");
  const res = await waiting;
  assert.equal(res.headers.get("x-raft-index"), String(i));
  assert.deepEqual(
    (await res.json()).items.map((x: { key: string }) => x.key),
    ["p/a", "p/b"],
  );
});

Deno.test("long poll bad input: 400", async () => {
  const { app } = setup();
  for (
    const q of [
      "index=x",
      "index=-1",
      "wait=10s",
      "index=1&wait=6m",
      "index=1&wait=soon",
    ]
  ) {
    for (const path of ["/v1/kv/k", "/v1/kv"]) {
      const res = await app.request(`${path}?${q}`);
      assert.equal(res.status, 400, `${path}?${q}`);
      assert.equal((await errorOf(res)).code, "invalid_query");
    }
  }
});
