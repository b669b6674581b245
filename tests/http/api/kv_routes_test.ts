import assert from "node:assert/strict";
import { errorOf, setup } from "../fake_node.ts";

Deno.test("raftexample PUT /{key} then GET /{key} returns the value", async () => {
  const { app, node } = setup();
  const put = await app.request("/my-key", { method: "PUT", body: "hello" });
  assert.equal(put.status, 204);
  assert.equal(put.headers.get("x-raft-index"), "1");
  assert.equal(await put.text(), "");
  const get = await app.request("/my-key");
  assert.equal(get.status, 200);
  assert.equal(await get.text(), "hello");
  assert.equal(get.headers.get("content-type"), "application/octet-stream");
  assert.equal(get.headers.get("x-raft-index"), "1");
  assert.deepEqual(node.calls, ["write put my-key", "barrier"]);
});

Deno.test("GET of an absent key answers 404 JSON", async () => {
  const { app } = setup();
  for (const path of ["/absent", "/v1/kv/absent"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404);
    assert.equal((await errorOf(res)).code, "key_not_found");
  }
});

Deno.test("v1 PUT, GET and DELETE carry X-Raft-Index", async () => {
  const { app, node } = setup();
  const value = new Uint8Array([0, 1, 2, 255]);
  const put = await app.request("/v1/kv/a", { method: "PUT", body: value });
  assert.equal(put.status, 204);
  assert.equal(put.headers.get("x-raft-index"), "1");
  const get = await app.request("/v1/kv/a");
  assert.equal(get.status, 200);
  assert.deepEqual(new Uint8Array(await get.arrayBuffer()), value);
  assert.equal(get.headers.get("x-raft-index"), "1");
  assert.equal(get.headers.get("etag"), '"1"');
  // Serving the value did not consume the stored bytes.
  assert.deepEqual(node.store.get("a")?.value, value);
  assert.deepEqual(
    new Uint8Array(await (await app.request("/v1/kv/a")).arrayBuffer()),
    value,
  );

  const del = await app.request("/v1/kv/a", { method: "DELETE" });
  assert.equal(del.status, 204);
  assert.equal(del.headers.get("x-raft-index"), "2");
  assert.equal((await app.request("/v1/kv/a")).status, 404);
  const again = await app.request("/v1/kv/a", { method: "DELETE" });
  assert.equal(again.status, 204, "DELETE of an absent key is 204");
});

Deno.test("HEAD answers like GET without a body", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  const head = await app.request("/v1/kv/a", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("x-raft-index"), "1");
  assert.equal(await head.text(), "");
});

Deno.test("consistency=stale skips the read barrier; the default uses it", async () => {
  const { app, node } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  node.calls = [];
  assert.equal(
    await (await app.request("/v1/kv/a?consistency=stale")).text(),
    "v",
  );
  assert.equal(await (await app.request("/a?consistency=stale")).text(), "v");
  assert.deepEqual(node.calls, []);
  assert.equal(
    (await app.request("/v1/kv/a?consistency=linearizable")).status,
    200,
  );
  assert.deepEqual(node.calls, ["barrier"]);
  const bad = await app.request("/v1/kv/a?consistency=eventual");
  assert.equal(bad.status, 400);
  assert.equal((await errorOf(bad)).code, "invalid_query");
});

Deno.test("stale reads answer while the barrier cannot (no quorum)", async () => {
  const { app, node } = setup({ requestTimeoutMs: 20 });
  await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  node.mode = "honor-signal";
  assert.equal((await app.request("/v1/kv/a?consistency=stale")).status, 200);
  const res = await app.request("/v1/kv/a");
  assert.equal(res.status, 504);
});

Deno.test("If-Match makes a PUT a compare-and-set", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "1" });
  const stale = await app.request("/v1/kv/a", {
    method: "PUT",
    body: "x",
    headers: { "if-match": '"7"' },
  });
  assert.equal(stale.status, 412);
  assert.equal((await errorOf(stale)).code, "precondition_failed");
  assert.equal(
    stale.headers.get("x-raft-index"),
    "1",
    "412 tells the current index",
  );
  const ok = await app.request("/v1/kv/a", {
    method: "PUT",
    body: "2",
    headers: { "if-match": '"1"' },
  });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("x-raft-index"), "3");
  assert.equal(await (await app.request("/v1/kv/a")).text(), "2");
  // The index must be quoted, as the error text and the ETag say.
  const unquoted = await app.request("/v1/kv/a", {
    method: "PUT",
    body: "3",
    headers: { "if-match": "3" },
  });
  assert.equal(unquoted.status, 400);
  assert.equal((await errorOf(unquoted)).code, "invalid_header");
  // An absent key never matches.
  const absent = await app.request("/v1/kv/b", {
    method: "PUT",
    body: "x",
    headers: { "if-match": '"1"' },
  });
  assert.equal(absent.status, 412);
  assert.equal(absent.headers.get("x-raft-index"), "0");
});

Deno.test("If-None-Match: * creates only", async () => {
  const { app } = setup();
  const init = { method: "PUT", headers: { "if-none-match": "*" } };
  assert.equal(
    (await app.request("/v1/kv/a", { ...init, body: "1" })).status,
    204,
  );
  const second = await app.request("/v1/kv/a", { ...init, body: "2" });
  assert.equal(second.status, 412);
  assert.equal((await errorOf(second)).code, "precondition_failed");
  assert.equal(await (await app.request("/v1/kv/a")).text(), "1");
});

Deno.test("DELETE accepts If-Match", async () => {
  const { app } = setup();
  await app.request("/v1/kv/a", { method: "PUT", body: "1" });
  const wrong = await app.request("/v1/kv/a", {
    method: "DELETE",
    headers: { "if-match": '"5"' },
  });
  assert.equal(wrong.status, 412);
  assert.equal((await app.request("/v1/kv/a")).status, 200);
  const right = await app.request("/v1/kv/a", {
    method: "DELETE",
    headers: { "if-match": '"1"' },
  });
  assert.equal(right.status, 204);
  assert.equal((await app.request("/v1/kv/a")).status, 404);
});

Deno.test("malformed conditional headers answer 400 and write nothing", async () => {
  const { app, node } = setup();
  const cases: [string, Record<string, string>][] = [
    ["PUT", { "if-match": 'W/"1"' }],
    ["PUT", { "if-match": "abc" }],
    ["PUT", { "if-match": '"0"' }],
    ["PUT", { "if-match": "*" }],
    ["PUT", { "if-match": '"-1"' }],
    ["PUT", { "if-match": "5" }],
    ["DELETE", { "if-match": "5" }],
    ["PUT", { "if-none-match": '"1"' }],
    ["DELETE", { "if-none-match": "*" }],
    ["DELETE", { "if-match": "x" }],
  ];
  for (const [method, headers] of cases) {
    const res = await app.request("/v1/kv/a", {
      method,
      headers,
      body: method === "PUT" ? "v" : null,
    });
    assert.equal(res.status, 400, `${method} ${JSON.stringify(headers)}`);
    assert.equal((await errorOf(res)).code, "invalid_header");
  }
  assert.deepEqual(node.calls, []);
});

Deno.test("keys are percent-decoded path segments of 1 to 4096 bytes of UTF-8", async () => {
  const { app, node } = setup();
  const ok = await app.request("/v1/kv/a%2Fb%20%C3%A9", {
    method: "PUT",
    body: "v",
  });
  assert.equal(ok.status, 204);
  assert.equal(node.store.get("a/b é")?.index, 1);
  assert.equal(await (await app.request("/v1/kv/a%2Fb%20%C3%A9")).text(), "v");
  assert.equal(await (await app.request("/a%2Fb%20%C3%A9")).text(), "v");

  const longest = "k".repeat(4096);
  assert.equal(
    (await app.request(`/v1/kv/${longest}`, { method: "PUT", body: "v" }))
      .status,
    204,
  );
  assert.equal((await app.request(`/${longest}`)).status, 200);

  const badKeys = [
    "k".repeat(4097),
    "%C3%A9".repeat(2048) + "k", // 4097 bytes of UTF-8
    "%FF", // not UTF-8
    "%E9", // Latin-1, not UTF-8
    "%ZZ", // not percent-encoding
    "%ED%A0%80", // a lone surrogate
  ];
  for (const key of badKeys) {
    for (const path of [`/v1/kv/${key}`, `/${key}`]) {
      const res = await app.request(path, { method: "PUT", body: "v" });
      assert.equal(res.status, 400, path.slice(0, 40));
      assert.equal((await errorOf(res)).code, "invalid_key");
      assert.equal((await app.request(path)).status, 400);
    }
  }
});

Deno.test("a key path with more than one segment or none answers 400", async () => {
  const { app } = setup();
  for (const path of ["/v1/kv/a/b", "/v1/kv/", "/v1/kv/a/"]) {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const res = await app.request(path, { method });
      assert.equal(res.status, 400, `${method} ${path}`);
      assert.equal((await errorOf(res)).code, "invalid_key");
    }
  }
});

Deno.test("a value over the limit answers 413; the limit itself is accepted", async () => {
  const { app, node } = setup({ maxValueBytes: 10 });
  const exact = await app.request("/v1/kv/a", {
    method: "PUT",
    body: new Uint8Array(10),
  });
  assert.equal(exact.status, 204);
  // Without Content-Length (streamed) and with it (refused before reading).
  const streamed = await app.request("/v1/kv/a", {
    method: "PUT",
    body: new Uint8Array(11),
  });
  assert.equal(streamed.status, 413);
  assert.equal((await errorOf(streamed)).code, "value_too_large");
  const declared = await app.request("/a", {
    method: "PUT",
    body: new Uint8Array(11),
    headers: { "content-length": "11" },
  });
  assert.equal(declared.status, 413);
  const chunked = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(4));
      controller.close();
    },
  });
  const res = await app.request("/v1/kv/b", { method: "PUT", body: chunked });
  assert.equal(res.status, 413);
  assert.equal(node.store.get("b"), undefined);
  assert.equal(node.index, 1, "only the accepted write reached the node");
});

Deno.test("the default value limit is 1 MiB", async () => {
  const { app } = setup();
  const mib = 1024 * 1024;
  assert.equal(
    (await app.request("/v1/kv/a", {
      method: "PUT",
      body: new Uint8Array(mib),
    })).status,
    204,
  );
  assert.equal(
    (await app.request("/v1/kv/a", {
      method: "PUT",
      body: new Uint8Array(mib + 1),
    })).status,
    413,
  );
});

Deno.test("an empty value is a value", async () => {
  const { app } = setup();
  assert.equal((await app.request("/v1/kv/a", { method: "PUT" })).status, 204);
  const res = await app.request("/v1/kv/a");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "");
});

Deno.test("GET /v1/kv lists keys with a prefix, sorted, with limit and more", async () => {
  const { app } = setup();
  for (const key of ["b", "a2", "a1", "a10", "c"]) {
    await app.request(`/v1/kv/${key}`, { method: "PUT", body: `v-${key}` });
  }
  const res = await app.request("/v1/kv?prefix=a&limit=2");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), {
    items: [
      {
        key: "a1",
        value: "v-a1",
        index: 3,
        createIndex: 3,
        modIndex: 3,
        version: 1,
      },
      {
        key: "a10",
        value: "v-a10",
        index: 4,
        createIndex: 4,
        modIndex: 4,
        version: 1,
      },
    ],
    more: true,
  });
  const next = await (await app.request("/v1/kv?prefix=a&limit=2&after=a10"))
    .json();
  assert.deepEqual(next, {
    items: [{
      key: "a2",
      value: "v-a2",
      index: 2,
      createIndex: 2,
      modIndex: 2,
      version: 1,
    }],
    more: false,
  });
  const all = await (await app.request("/v1/kv")).json();
  assert.deepEqual(all.items.map((i: { key: string }) => i.key), [
    "a1",
    "a10",
    "a2",
    "b",
    "c",
  ]);
  assert.equal(all.more, false);
  const none = await (await app.request("/v1/kv?prefix=zzz")).json();
  assert.deepEqual(none, { items: [], more: false });
});

Deno.test("listing shows non-UTF-8 values as value64, and all values on request", async () => {
  const { app } = setup();
  await app.request("/v1/kv/bin", {
    method: "PUT",
    body: new Uint8Array([0xff, 0x00]),
  });
  await app.request("/v1/kv/txt", { method: "PUT", body: "héllo" });
  const mixed = await (await app.request("/v1/kv")).json();
  assert.deepEqual(mixed.items, [
    {
      key: "bin",
      value64: "/wA=",
      index: 1,
      createIndex: 1,
      modIndex: 1,
      version: 1,
    },
    {
      key: "txt",
      value: "héllo",
      index: 2,
      createIndex: 2,
      modIndex: 2,
      version: 1,
    },
  ]);
  const forced = await (await app.request("/v1/kv?prefix=t&encoding=base64"))
    .json();
  assert.deepEqual(forced.items, [
    {
      key: "txt",
      value64: btoa("h\xc3\xa9llo"),
      index: 2,
      createIndex: 2,
      modIndex: 2,
      version: 1,
    },
  ]);
});

Deno.test("listing query parameters are validated", async () => {
  const { app, node } = setup();
  for (
    const query of [
      "limit=0",
      "limit=-1",
      "limit=abc",
      "limit=10001",
      "encoding=hex",
      "consistency=x",
    ]
  ) {
    const res = await app.request(`/v1/kv?${query}`);
    assert.equal(res.status, 400, query);
    assert.equal((await errorOf(res)).code, "invalid_query");
  }
  assert.equal(
    (await app.request(`/v1/kv?prefix=${"p".repeat(4097)}`)).status,
    400,
  );
  // Keys are UTF-8: a prefix (or after) that does not decode to UTF-8 is
  // refused, as the key %FF is, rather than listing nothing.
  for (const query of ["prefix=%FF", "after=%C3", "prefix=a%FFb"]) {
    const res = await app.request(`/v1/kv?${query}`);
    assert.equal(res.status, 400, query);
    assert.equal((await errorOf(res)).code, "invalid_query", query);
  }
  assert.equal((await app.request("/v1/kv/%FF")).status, 400);
  await app.request("/v1/kv/%C3%A9t%C3%A9", { method: "PUT", body: "x" });
  const accented = await (await app.request("/v1/kv?prefix=%C3%A9")).json();
  assert.deepEqual(accented.items.map((i: { key: string }) => i.key), ["été"]);
  assert.equal((await app.request("/v1/kv?limit=10000")).status, 200);
  node.calls = [];
  assert.equal((await app.request("/v1/kv?consistency=stale")).status, 200);
  assert.deepEqual(node.calls, []);
});

Deno.test("the key routes answer the same with no tokens as with the right client token", async () => {
  // The key router (kvKeyRouter) answers the key routes in both apps, with
  // the token check in one of them; other paths go to Hono's routes, with
  // its auth middleware in that one. Answers, node calls and metrics match.
  const fast = setup();
  const routed = setup({ clientToken: "tok" });
  const auth = { authorization: "Bearer tok" };
  const requests: [string, RequestInit][] = [
    ["/v1/kv/a", { method: "PUT", body: "one" }],
    ["/v1/kv/a", {}],
    ["/v1/kv/a?consistency=stale", {}],
    ["/v1/kv/a?consistency=bogus", {}],
    ["/v1/kv/a", {
      method: "PUT",
      body: "two",
      headers: { "if-match": '"9"' },
    }],
    ["/v1/kv/a", { method: "PUT", body: "x", headers: { "if-match": "no" } }],
    ["/v1/kv/b%2Fc", { method: "PUT", body: "slash" }],
    ["/v1/kv/b%2Fc", {}],
    ["/v1/kv/b/c", {}],
    ["/v1/kv/", {}],
    ["/v1/kv/%zz", {}],
    ["/v1/kv/a", { method: "DELETE" }],
    ["/v1/kv/a", {}],
    ["/v1/kv/a", { method: "HEAD" }],
    ["/v1/kv/a", { method: "POST", body: "p" }],
    ["/root", { method: "PUT", body: "r" }],
    ["/root", {}],
    ["/root", { method: "DELETE" }],
    ["/raft", {}],
    ["/health", {}],
    ["/", {}],
    ["/a/b", {}],
  ];
  for (const [path, init] of requests) {
    const a = await fast.app.request(path, init);
    const b = await routed.app.request(path, {
      ...init,
      headers: { ...init.headers as Record<string, string>, ...auth },
    });
    const what = `${init.method ?? "GET"} ${path}`;
    assert.equal(a.status, b.status, what);
    for (const h of ["content-type", "x-raft-index", "etag", "allow"]) {
      assert.equal(a.headers.get(h), b.headers.get(h), `${what}: ${h}`);
    }
    assert.equal(await a.text(), await b.text(), what);
  }
  assert.deepEqual(fast.node.calls, routed.node.calls);
  const scrape = async (s: typeof fast) => {
    const text = await (await s.app.request("/metrics", {
      headers: auth,
    })).text();
    return text.split("\n").filter((l) =>
      l.startsWith("raftkv_http_requests_total{") && !l.includes("/metrics")
    );
  };
  assert.deepEqual(await scrape(fast), await scrape(routed));
});

Deno.test("HEAD on a key answers as GET without the body, and is counted as HEAD", async () => {
  for (const s of [setup(), setup({ clientToken: "tok" })]) {
    const headers = { authorization: "Bearer tok" };
    await s.app.request("/v1/kv/h", { method: "PUT", body: "value", headers });
    await s.app.request("/h", { method: "PUT", body: "root", headers });
    for (const path of ["/v1/kv/h", "/h"]) {
      const get = await s.app.request(path, { headers });
      const head = await s.app.request(path, { method: "HEAD", headers });
      assert.equal(head.status, 200, path);
      for (const h of ["content-type", "x-raft-index", "etag"]) {
        assert.equal(head.headers.get(h), get.headers.get(h), `${path}: ${h}`);
      }
      assert.equal(await head.text(), "", path);
      await get.body?.cancel();
    }
    const missing = await s.app.request("/v1/kv/nope", {
      method: "HEAD",
      headers,
    });
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "");
    const text = await (await s.app.request("/metrics", { headers })).text();
    assert.match(
      text,
      /raftkv_http_requests_total\{route="\/v1\/kv\/:key",method="HEAD",status="200"\} 1\n/,
    );
    assert.match(
      text,
      /raftkv_http_requests_total\{route="\/v1\/kv\/:key",method="HEAD",status="404"\} 1\n/,
    );
    assert.match(
      text,
      /raftkv_http_requests_total\{route="\/:key",method="HEAD",status="200"\} 1\n/,
    );
  }
});
