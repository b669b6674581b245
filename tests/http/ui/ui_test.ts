import assert from "node:assert/strict";
import { Hono } from "hono";
import { createApp } from "../../../http/mod.ts";
import type { LeaderChange, NodeStatus } from "../../../http/node_port.ts";
import { allowedMethods } from "../../../http/api/route_table.ts";
import { WakeCoalescer } from "../../../http/api/wake_coalescer.ts";
import {
  type ClusterStatus,
  registerUiRoutes,
} from "../../../http/ui/ui_routes.ts";
import { nopLogger } from "../../../raft/mod.ts";
import { errorOf, FakeNode, setup } from "../fake_node.ts";

/** A fake node with its own id, role and leader history. */
class MemberNode extends FakeNode {
  constructor(
    readonly nodeId: number,
    readonly changes: LeaderChange[] = [],
  ) {
    super();
  }

  override status(): NodeStatus {
    const s = super.status();
    return {
      ...s,
      id: this.nodeId,
      role: this.leader === this.nodeId ? "leader" : "follower",
      lastIndex: this.index,
      peers: this.leader === this.nodeId ? s.peers : [],
      leaderChanges: this.changes,
    };
  }
}

/** A port on 127.0.0.1 that nothing listens on (connections are refused). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("GET /ui serves one self-contained HTML page with headings and tables", async () => {
  const { app } = setup();
  const res = await app.request("/ui");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(
    res.headers.get("content-security-policy") ?? "",
    /default-src 'none'/,
  );
  const html = await res.text();
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<h1>[^<]+<\/h1>/);
  for (
    const heading of [
      "Members",
      "Replication lag",
      "Leases",
      "Recent leader changes",
    ]
  ) {
    assert.match(html, new RegExp(`<h2 [^>]*>${heading}</h2>`), heading);
  }
  assert.match(html, /<table id="members">/);
  assert.match(html, /<th scope="col">State<\/th>/);
  assert.match(html, /<tbody id="members-body">/);
  assert.match(html, /<table id="changes">/);
  assert.match(html, /<ul id="lag">/);
  // The data comes from the aggregate, relative to the page.
  assert.match(html, /"v1\/cluster\/status"/);
  // The leases come from GET /v1/leases (served by the leader).
  assert.match(html, /<tbody id="leases-body">/);
  assert.match(html, /"v1\/leases"/);
  // The locks come from the listing of their keys under _locks/.
  assert.match(html, /<tbody id="locks-body">/);
  assert.match(html, /"v1\/kv\?prefix=_locks\/"/);
  // No build step and nothing external: inline style and script only.
  assert.match(html, /<style>[\s\S]+<\/style>/);
  assert.match(html, /<script>[\s\S]+<\/script>/);
  assert.doesNotMatch(html, /<script [^>]*src=|<link |https?:\/\//);
  // Everything dynamic is inserted as text, never parsed as HTML.
  assert.doesNotMatch(html, /innerHTML|outerHTML|insertAdjacentHTML/);
});

Deno.test("/ui and /v1/cluster/status answer only GET and HEAD", async () => {
  const { app } = setup();
  for (const path of ["/ui", "/v1/cluster/status"]) {
    assert.deepEqual(allowedMethods(path), ["GET", "HEAD"], path);
    const res = await app.request(path, { method: "POST", body: "x" });
    assert.equal(res.status, 405, path);
    assert.equal(res.headers.get("allow"), "GET, HEAD", path);
    assert.equal((await errorOf(res)).code, "method_not_allowed");
    const head = await app.request(path, { method: "HEAD" });
    assert.equal(head.status, 200, path);
  }
});

Deno.test("GET /v1/cluster/status returns one entry per member, over real HTTP, down ones marked", async () => {
  const self = new MemberNode(1, [
    { at: 1000, term: 2, leader: 1 },
  ]);
  const other = new MemberNode(2, [
    { at: 900, term: 2, leader: 1 },
    { at: 500, term: 1, leader: 2 },
  ]);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createApp({ node: other }).fetch,
  );
  try {
    const downUrl = `http://127.0.0.1:${closedPort()}`;
    self.memberList = [
      // This node's own URL is never fetched: its status is local.
      { id: 1, url: downUrl, role: "voter" },
      { id: 3, url: downUrl, role: "learner" },
      { id: 2, url: `http://127.0.0.1:${server.addr.port}`, role: "voter" },
    ];
    await self.write(
      { op: "put", key: "secret-key", value: new TextEncoder().encode("v") },
      AbortSignal.timeout(1000),
    );
    const app = createApp({ node: self });
    const res = await app.request("/v1/cluster/status");
    assert.equal(res.status, 200);
    const body: ClusterStatus = await res.json();
    assert.equal(body.node, 1);
    assert.equal(body.leader, 1);
    assert.equal(typeof body.at, "number");
    assert.deepEqual(
      body.members.map((m) => [m.id, m.role, m.up]),
      [[1, "voter", true], [2, "voter", true], [3, "learner", false]],
    );
    const [one, two, three] = body.members;
    assert.equal(one!.status!.role, "leader");
    assert.equal(one!.status!.applied, 1);
    assert.equal(two!.status!.id, 2);
    assert.equal(two!.status!.role, "follower");
    assert.equal(three!.status, undefined);
    assert.equal(three!.error, "unreachable");
    // One change per term, the earliest sighting, newest term first.
    assert.deepEqual(body.leaderChanges, [
      { at: 900, term: 2, leader: 1 },
      { at: 500, term: 1, leader: 2 },
    ]);
    // Counts and indexes only: no key or value.
    const text = JSON.stringify(body);
    assert.ok(!text.includes("secret-key"), text);
  } finally {
    await server.shutdown();
  }
});

Deno.test("GET /v1/cluster/status marks a member down when it does not answer in time, and forwards the client's token", async () => {
  const node = new MemberNode(1);
  node.memberList = [
    { id: 1, url: "http://node1.invalid", role: "voter" },
    { id: 2, url: "http://node2.invalid", role: "voter" },
    { id: 3, url: "http://node3.invalid", role: "voter" },
    { id: 4, url: "http://node4.invalid", role: "voter" },
  ];
  const seen: { url: string; auth: string | null }[] = [];
  const fakeFetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    seen.push({ url, auth: new Headers(init?.headers).get("authorization") });
    if (url.startsWith("http://node2.")) {
      return Promise.resolve(Response.json(new MemberNode(2).status()));
    }
    if (url.startsWith("http://node3.")) {
      // Hangs until the aggregate gives up on it.
      return new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener("abort", () => {
          reject(init.signal!.reason);
        });
      });
    }
    return Promise.resolve(Response.json({ error: "nope" }, { status: 503 }));
  };
  const app = new Hono();
  registerUiRoutes(app, {
    node,
    logger: nopLogger,
    maxValueBytes: 1024,
    maxRaftBodyBytes: 1024,
    requestTimeoutMs: 1000,
    retryAfterSeconds: 1,
    bodyTimeoutMs: 1000,
    watchProgressMs: 1000,
    watchWakes: new WakeCoalescer(0),
  }, { fetch: fakeFetch as typeof fetch, memberTimeoutMs: 50 });
  const res = await app.request("/v1/cluster/status", {
    headers: { authorization: "Bearer t0ken" },
  });
  assert.equal(res.status, 200);
  const body: ClusterStatus = await res.json();
  assert.deepEqual(
    body.members.map((m) => [m.id, m.up, m.error]),
    [
      [1, true, undefined],
      [2, true, undefined],
      [3, false, "no answer in time"],
      [4, false, "GET /v1/status answered 503"],
    ],
  );
  assert.deepEqual(seen.map((s) => s.url).sort(), [
    "http://node2.invalid/v1/status",
    "http://node3.invalid/v1/status",
    "http://node4.invalid/v1/status",
  ]);
  assert.ok(seen.every((s) => s.auth === "Bearer t0ken"));
});

Deno.test("GET /v1/cluster/status lists this node alone while it knows no members", async () => {
  const node = new MemberNode(1);
  node.memberList = [];
  node.leader = 0;
  const app = createApp({ node });
  const body: ClusterStatus = await (await app.request("/v1/cluster/status"))
    .json();
  assert.deepEqual(
    body.members.map((m) => [m.id, m.up, m.status?.role]),
    [[1, true, "follower"]],
  );
  assert.deepEqual(body.leaderChanges, []);
});
