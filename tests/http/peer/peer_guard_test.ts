/**
 * Forged peer messages against a real node (RaftNode over DiskStorage on
 * in-memory files, KvNode, the app with its peer checks): every message
 * type, from a non-member, from another cluster, with a wrong token, on
 * `POST /raft` and on the stream, is refused before it reaches the node:
 * its term, vote, log, commit and applied index stay as they were. The
 * same message from a member of the cluster is taken (so the checks, not
 * the message, are what refused it).
 */

import assert from "node:assert/strict";
import { KvStore, WatchHub } from "../../../kv/mod.ts";
import {
  type Message,
  MESSAGE_TYPES,
  RaftNode,
  Registry,
  seededRng,
} from "../../../raft/mod.ts";
import { decodeMessages, encodeMessages } from "../../../raft/codec.ts";
import { DiskStorage } from "../../../raft/disk_storage.ts";
import { clusterIdOf } from "../../../raft/cluster_id.ts";
import { MemFs } from "../../../wal/mem_fs.ts";
import { createApp } from "../../../http/app.ts";
import { KvNode } from "../../../http/api/kv_node.ts";
import { PEER_HEADERS } from "../../../http/peer/peer_guard.ts";
import { RaftPeerDirectory } from "../../../http/peer/peer_directory.ts";
import { BinaryWsClient } from "../../../http/peer/ws_client.ts";
import { RAFT_STREAM_PATH } from "../../../http/peer/peer_stream.ts";
import { CLOSE_PEER_REFUSED } from "../../../http/peer/raft_routes.ts";
import { turn } from "../../raft/node_turns.ts";
import { errorOf, MemoryLogger } from "../fake_node.ts";

const URLS = [1, 2, 3].map((i) => `http://127.0.0.1:${43000 + i}`);
const CLUSTER = clusterIdOf(URLS);
const OTHER = clusterIdOf(URLS, "another");
const TOKEN = "peer-secret";

/** Node 1 of a three-member cluster, with the app in front of it. */
async function start(join = false) {
  const storage = await DiskStorage.open(new MemFs(), "/n1", {
    metadata: { clusterId: "", nodeId: 1 },
  });
  let clusterId = join ? "" : CLUSTER;
  if (clusterId !== "") await storage.adoptClusterId(clusterId);
  const sent: Message[] = [];
  const node = new RaftNode({
    id: 1,
    peers: new Map(URLS.map((u, i) => [i + 1, u] as const)),
    join,
    storage,
    stateMachine: new KvStore(),
    rng: seededRng(7),
    epoch: 7,
  });
  node.setTransport({ send: (msgs) => void sent.push(...msgs) });
  node.start();
  for (let i = 0; i < 10; i++) await turn();
  const registry = new Registry();
  const logger = new MemoryLogger();
  const store = new KvStore();
  const app = createApp({
    node: new KvNode({
      store,
      watches: new WatchHub(store),
      node: () => node,
      wal: () => storage,
      decodeMessages,
    }),
    logger,
    peerToken: TOKEN,
    metrics: registry,
    peers: new RaftPeerDirectory({
      id: 1,
      node: () => node,
      clusterId: () => clusterId,
      learnClusterId: async (id) => {
        await storage.adoptClusterId(id);
        clusterId = id;
      },
    }),
  });
  return { node, storage, app, registry, logger, sent };
}

/** What must not change: the node's term, vote, log, commit and applied. */
function stateOf(node: RaftNode) {
  const s = node.status();
  return {
    term: s.term,
    vote: s.vote,
    role: s.role,
    leader: s.leader,
    commit: s.commit,
    applied: s.applied,
    lastIndex: s.lastIndex,
  };
}

/**
 * A message of `type` as an attacker would forge it (the recipe):
 * a much higher term, the node's last index and term, one PUT entry, commit
 * one past the last index.
 */
function forged(type: Message["type"], from: number, node: RaftNode): Message {
  const last = node.status().lastIndex;
  return {
    type,
    from,
    to: 1,
    term: 50,
    logTerm: 1,
    index: last,
    entries: [{
      term: 50,
      index: last + 1,
      type: "normal",
      data: new Uint8Array([1, 2, 3]),
    }],
    commit: last + 1,
    reject: false,
    rejectHint: 0,
    rejectTerm: 0,
    context: "",
  };
}

function post(
  app: ReturnType<typeof createApp>,
  msgs: Message[],
  headers: Record<string, string>,
): Promise<Response> {
  return Promise.resolve(app.request("/raft", {
    method: "POST",
    headers,
    body: encodeMessages(msgs) as Uint8Array<ArrayBuffer>,
  }));
}

function peerHeaders(
  from: number,
  cluster = CLUSTER,
  token = TOKEN,
): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    [PEER_HEADERS.from]: String(from),
    [PEER_HEADERS.cluster]: cluster,
  };
}

/** The value of `raftkv_peer_refused_total{reason}` in `/metrics`. */
function refusedCount(registry: Registry, reason: string): number {
  const line = registry.render().split("\n").find((l) =>
    l.startsWith(`raftkv_peer_refused_total{reason="${reason}"} `)
  );
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

Deno.test("peer_guard: every message type forged by a non-member, by another cluster or with a wrong token is refused, and the node's state is untouched", async () => {
  const { node, storage, app, registry, logger } = await start();
  const before = stateOf(node);
  const lastBefore = storage.lastIndex();
  const cases = [
    // A node id that is no member, with the right cluster id.
    { from: 99, headers: peerHeaders(99), status: 403, code: "peer_unknown" },
    // A member's id, sent by another cluster.
    {
      from: 2,
      headers: peerHeaders(2, OTHER),
      status: 403,
      code: "cluster_mismatch",
    },
    // No cluster id at all (an attacker who does not know it).
    {
      from: 2,
      headers: peerHeaders(2, ""),
      status: 403,
      code: "cluster_mismatch",
    },
    // A member's id and the right cluster, but a wrong token.
    {
      from: 2,
      headers: peerHeaders(2, CLUSTER, "guess"),
      status: 401,
      code: "unauthorized",
    },
    // The right headers for node 2, but a message that says it is from 99.
    {
      from: 99,
      headers: peerHeaders(2),
      status: 403,
      code: "peer_mismatch",
    },
  ];
  for (const c of cases) {
    for (const type of MESSAGE_TYPES) {
      const res = await post(app, [forged(type, c.from, node)], c.headers);
      assert.equal(res.status, c.status, `${type} ${c.code}`);
      assert.equal((await errorOf(res)).code, c.code, `${type} ${c.code}`);
    }
  }
  for (let i = 0; i < 10; i++) await turn();
  node.tick();
  for (let i = 0; i < 10; i++) await turn();
  assert.deepEqual(stateOf(node), before);
  assert.equal(storage.lastIndex(), lastBefore);
  const n = MESSAGE_TYPES.length;
  assert.equal(refusedCount(registry, "peer_unknown"), n);
  assert.equal(refusedCount(registry, "cluster_mismatch"), 2 * n);
  assert.equal(refusedCount(registry, "peer_mismatch"), n);
  // Logged once per sender and reason, not once per message.
  const warns = logger.lines.filter((l) => l.msg === "refused peer messages");
  assert.equal(warns.length, 4);

  // The same append from a member of this cluster reaches the node: its
  // term moves (so the checks above, not the message, refused the others).
  const res = await post(app, [forged("app", 2, node)], peerHeaders(2));
  assert.equal(res.status, 204);
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(node.status().term, 50);
});

Deno.test("peer_guard: a stream handshake from a non-member or another cluster is refused with 403; a forged frame on a member's stream closes it untouched", async () => {
  const { node, app } = await start();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
  const url = `ws://127.0.0.1:${server.addr.port}${RAFT_STREAM_PATH}`;
  const before = stateOf(node);
  /** Connects with `headers`; resolves with the refusal or the open socket. */
  const connect = (headers: Record<string, string>) => {
    const done = Promise.withResolvers<
      { refused: number } | { open: BinaryWsClient }
    >();
    const closed = Promise.withResolvers<number>();
    const ws: BinaryWsClient = new BinaryWsClient(url, headers, {
      onOpen: () => done.resolve({ open: ws }),
      onRefused: (status) => done.resolve({ refused: status }),
      onClose: (code) => closed.resolve(code),
    });
    return { result: done.promise, closed: closed.promise, ws };
  };
  try {
    for (
      const [headers, status] of [
        [peerHeaders(99), 403],
        [peerHeaders(2, OTHER), 403],
        [peerHeaders(2, CLUSTER, "guess"), 401],
      ] as const
    ) {
      const c = connect(headers);
      assert.deepEqual(await c.result, { refused: status });
      await c.closed;
    }
    // A member's stream carrying messages that claim another sender.
    const c = connect(peerHeaders(2));
    const r = await c.result;
    assert.ok("open" in r);
    r.open.send(encodeMessages(MESSAGE_TYPES.map((t) => forged(t, 99, node))));
    assert.equal(await c.closed, CLOSE_PEER_REFUSED);
    for (let i = 0; i < 10; i++) await turn();
    assert.deepEqual(stateOf(node), before);
  } finally {
    await server.shutdown();
  }
});

Deno.test("peer_guard: a joining node learns the cluster id from a member, persists it, and then refuses other clusters", async () => {
  const { node, storage, app } = await start(true);
  // A non-member cannot teach it an id.
  const stranger = await post(app, [forged("heartbeat", 99, node)], {
    ...peerHeaders(99),
  });
  assert.equal(stranger.status, 403);
  assert.equal(storage.metadata.clusterId, "");
  // The leader's first message (a member of --cluster) does.
  const hb: Message = { ...forged("heartbeat", 2, node), term: 2 };
  hb.entries = [];
  hb.commit = 0;
  const first = await post(app, [hb], peerHeaders(2));
  assert.equal(first.status, 204);
  assert.equal(storage.metadata.clusterId, CLUSTER);
  for (let i = 0; i < 10; i++) await turn();
  assert.equal(node.status().leader, 2);
  const before = stateOf(node);
  const other = await post(app, [{ ...hb, term: 9 }], peerHeaders(3, OTHER));
  assert.equal(other.status, 403);
  assert.equal((await errorOf(other)).code, "cluster_mismatch");
  for (let i = 0; i < 10; i++) await turn();
  assert.deepEqual(stateOf(node), before);
});
