import assert from "node:assert/strict";
import {
  authMiddleware,
  bearerToken,
  isLoopbackHost,
  RateLimiter,
  Token,
} from "../../http/auth.ts";
import { errorOf, MemoryLogger, RAFT_BATCH_MAGIC, setup } from "./fake_node.ts";
import { Hono } from "hono";

const PEER = "peer-secret-0123456789";
const CLIENT = "client-secret-abcdef";

function bearer(token: string): HeadersInit {
  return { authorization: `Bearer ${token}` };
}

function raftBody(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([RAFT_BATCH_MAGIC, 1, 2, 3]);
}

Deno.test("without tokens every route is open", async () => {
  const { app, node } = setup();
  const res = await app.request("/raft", { method: "POST", body: raftBody() });
  assert.equal(res.status, 204);
  assert.equal(node.received.length, 1);
  assert.equal(
    (await app.request("/v1/kv/a", { method: "PUT", body: "v" })).status,
    204,
  );
});

Deno.test("a peer request without the right peer token gets 401 and is never stepped", async () => {
  const { app, node, logger } = setup({ peerToken: PEER });
  for (
    const headers of [
      {},
      bearer("wrong"),
      bearer(PEER + "x"),
      bearer(PEER.slice(0, -1)),
      { authorization: PEER },
      { authorization: `Basic ${btoa(`raftkv:${PEER}`)}` },
    ] as HeadersInit[]
  ) {
    const res = await app.request("/raft", {
      method: "POST",
      body: raftBody(),
      headers,
    });
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.equal(
      res.headers.get("www-authenticate"),
      'Bearer realm="raftkv-peers"',
    );
    assert.equal((await errorOf(res)).code, "unauthorized");
  }
  assert.deepEqual(node.received, []);
  assert.ok(logger.lines.some((l) => l.level === "warn"));

  const ok = await app.request("/raft", {
    method: "POST",
    body: raftBody(),
    headers: bearer(PEER),
  });
  assert.equal(ok.status, 204);
  assert.equal(node.received.length, 1);
  // Client routes stay open when only a peer token is set.
  assert.equal((await app.request("/v1/status")).status, 200);
});

Deno.test("with a client token every client route needs it, /health and /ui stay open", async () => {
  const { app, node } = setup({ clientToken: CLIENT, peerToken: PEER });
  const protectedRoutes: [string, string, string | null][] = [
    ["GET", "/v1/kv/a", null],
    ["PUT", "/v1/kv/a", "v"],
    ["DELETE", "/v1/kv/a", null],
    ["GET", "/v1/kv?prefix=", null],
    ["GET", "/v1/members", null],
    ["POST", "/v1/members", '{"id":4,"url":"http://127.0.0.1:4"}'],
    ["DELETE", "/v1/members/2", null],
    ["POST", "/v1/leader", '{"id":2}'],
    ["GET", "/v1/status", null],
    ["GET", "/metrics", null],
    ["GET", "/v1/snapshot", null],
    ["GET", "/v1/cluster/status", null],
    ["GET", "/a", null],
    ["PUT", "/a", "v"],
    ["POST", "/4", "http://127.0.0.1:4"],
    ["DELETE", "/4", null],
    ["GET", "/no/such/route", null],
  ];
  for (const [method, path, body] of protectedRoutes) {
    for (const headers of [{}, bearer("nope"), bearer(PEER)] as HeadersInit[]) {
      const res = await app.request(path, { method, body, headers });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(
        res.headers.get("www-authenticate"),
        'Bearer realm="raftkv"',
      );
      assert.equal((await errorOf(res)).code, "unauthorized");
    }
  }
  assert.deepEqual(node.calls, [], "nothing reached the node");

  const put = await app.request("/v1/kv/a", {
    method: "PUT",
    body: "v",
    headers: bearer(CLIENT),
  });
  assert.equal(put.status, 204);
  const get = await app.request("/v1/kv/a", {
    headers: { authorization: `bearer  ${CLIENT}` },
  });
  assert.equal(get.status, 200);
  assert.equal(await get.text(), "v");

  assert.notEqual((await app.request("/health")).status, 401);
  assert.notEqual((await app.request("/ui")).status, 401);
  // The client token is no peer token.
  const raft = await app.request("/raft", {
    method: "POST",
    body: raftBody(),
    headers: bearer(CLIENT),
  });
  assert.equal(raft.status, 401);
  const stream = await app.request("/raft/stream", { headers: bearer(CLIENT) });
  assert.equal(stream.status, 401);
  assert.equal(
    stream.headers.get("www-authenticate"),
    'Bearer realm="raftkv-peers"',
  );
});

Deno.test("refusals are logged at most once per interval, with the count they stand for", async () => {
  let now = 1000;
  const logger = new MemoryLogger();
  const app = new Hono();
  app.use(authMiddleware({
    peerToken: PEER,
    logger,
    warnIntervalMs: 10_000,
    now: () => now,
  }));
  app.post("/raft", (c) => c.body(null, 204));
  app.onError((_, c) => c.body(null, 401));
  const post = () => app.request("/raft", { method: "POST", body: "x" });
  for (let i = 0; i < 100; i++) assert.equal((await post()).status, 401);
  assert.equal(logger.lines.length, 1);
  assert.equal(logger.lines[0]!.level, "warn");
  assert.equal(logger.lines[0]!.fields?.suppressed, 0);
  now += 10_000;
  await post();
  assert.equal(logger.lines.length, 2);
  assert.equal(logger.lines[1]!.fields?.suppressed, 99);
});

Deno.test("a rate limiter lets one event per interval through", () => {
  let now = 0;
  const limiter = new RateLimiter(100, () => now);
  assert.equal(limiter.take(), 0);
  assert.equal(limiter.take(), undefined);
  assert.equal(limiter.take(), undefined);
  now = 99;
  assert.equal(limiter.take(), undefined);
  now = 100;
  assert.equal(limiter.take(), 3);
});

Deno.test("tokens match only themselves", () => {
  const t = new Token("s3cret");
  assert.ok(t.matches("s3cret"));
  for (const other of [undefined, "", "s3cre", "s3cret ", "S3CRET", "x"]) {
    assert.ok(!t.matches(other), String(other));
  }
  assert.throws(() => new Token(""), RangeError);
});

Deno.test("bearer tokens are parsed from Authorization", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("bearer   abc  "), "abc");
  assert.equal(bearerToken(null), undefined);
  assert.equal(bearerToken("abc"), undefined);
  assert.equal(bearerToken("Bearer"), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
  assert.equal(bearerToken("Basic abc"), undefined);
});

Deno.test("loopback hosts are told apart from the rest", () => {
  for (
    const h of [
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "[::1]",
      "localhost",
      "LOCALHOST",
      "node.localhost",
      "::ffff:127.0.0.1",
    ]
  ) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (
    const h of [
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "192.168.1.2",
      "example.com",
      "localhost.example.com",
      "128.0.0.1",
      "",
    ]
  ) {
    assert.ok(!isLoopbackHost(h), h);
  }
});
