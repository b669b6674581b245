import assert from "node:assert/strict";
import type { Message } from "../../../raft/core/mod.ts";
import { PeerRemovedError } from "../../../raft/mod.ts";
import { PeerTransport } from "../../../http/peer/peer_transport.ts";
import { clientFrame } from "../../../http/peer/ws_client.ts";
import { serveWithTimeouts } from "../../../http/serving/timeout_server.ts";
import { RAFT_BATCH_MAGIC, setup } from "../fake_node.ts";
import { hasOpenssl, withTestPem } from "../test_pki.ts";

/**
 * An append to peer 2 whose index tells it apart; with an entry (never
 * pruned) whose term differs from the next one's `logTerm` (never merged).
 */
function msg(index: number): Message {
  return {
    type: "app",
    from: 1,
    to: 2,
    term: 1,
    logTerm: 0,
    index,
    entries: [{
      term: 1,
      index: index + 1,
      type: "normal",
      data: new Uint8Array(),
    }],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectTerm: 0,
    context: "",
  };
}

/** Encodes a batch as the fake node accepts it: magic, then each index. */
function encode(msgs: Message[]): Uint8Array {
  return new Uint8Array([RAFT_BATCH_MAGIC, ...msgs.map((m) => m.index)]);
}

interface Events {
  unreachable: number[];
  removed: number;
  changed: PromiseWithResolvers<void>;
}

function listener(ev: Events) {
  return {
    reportUnreachable(id: number) {
      ev.unreachable.push(id);
      ev.changed.resolve();
    },
    reportSnapshot() {},
    removedByPeer() {
      ev.removed++;
      ev.changed.resolve();
    },
  };
}

/** How {@linkcode serve} serves: TLS files and the peer token. */
interface ServeOptions {
  cert?: string;
  key?: string;
  peerToken?: string;
  /** Serve with http/serving/timeout_server.ts instead of Deno.serve. */
  timeouts?: boolean;
}

/**
 * Serves the app with a fake node on a free loopback port. `frames(n, ev)`
 * waits for `n` frames, and fails at once instead of waiting forever when
 * the transport reports the peer unreachable or removed (then no frame is
 * coming: the lane dropped its queue).
 */
function serve(o: ServeOptions = {}) {
  const s = setup(o.peerToken ? { peerToken: o.peerToken } : {});
  let arrived = Promise.withResolvers<void>();
  const receive = s.node.receiveRaft.bind(s.node);
  s.node.receiveRaft = (body: Uint8Array) => {
    receive(body);
    arrived.resolve();
  };
  const tls = o.cert && o.key ? { cert: o.cert, key: o.key } : {};
  const server = o.timeouts
    ? serveWithTimeouts(s.app.fetch, {
      hostname: "127.0.0.1",
      port: 0,
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      ...tls,
    })
    : Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
      s.app.fetch,
    );
  const scheme = o.cert ? "https" : "http";
  return {
    ...s,
    server,
    /** Resolves once the server listens. */
    listening: "listening" in server ? server.listening : Promise.resolve(),
    get url() {
      const port = "addr" in server ? server.addr.port : server.port;
      return `${scheme}://127.0.0.1:${port}`;
    },
    /** Resolves once `n` frames have arrived; rejects if the lane gave up. */
    async frames(n: number, ev: Events): Promise<Uint8Array[]> {
      while (s.node.received.length < n) {
        if (ev.unreachable.length > 0 || ev.removed > 0) {
          throw new Error(
            `the lane gave up after ${s.node.received.length} of ${n} ` +
              `frames: unreachable ${ev.unreachable}, removed ${ev.removed}`,
          );
        }
        // Taken before waiting, so an arrival in between is not missed.
        const next = arrived.promise;
        await Promise.race([next, ev.changed.promise]);
        if (next === arrived.promise) arrived = Promise.withResolvers<void>();
      }
      return s.node.received;
    },
  };
}

/** Fresh event records for {@linkcode listener}. */
function events(): Events {
  return { unreachable: [], removed: 0, changed: Promise.withResolvers() };
}

Deno.test("the stream lane delivers batches in order, one frame per turn", async () => {
  const peer = serve();
  const ev = events();
  const t = new PeerTransport({
    urlOf: () => peer.url,
    encode,
    listener: listener(ev),
  });
  try {
    t.send([msg(1)]);
    t.send([msg(2), msg(3)]);
    const first = await peer.frames(1, ev);
    // Queued while the socket connected: one frame.
    assert.deepEqual([...first[0]!], [RAFT_BATCH_MAGIC, 1, 2, 3]);
    t.send([msg(4)]);
    t.send([msg(5)]);
    await peer.frames(2, ev);
    t.send([msg(6)]);
    const all = await peer.frames(3, ev);
    assert.deepEqual(all.slice(1).map((f) => [...f]), [
      [RAFT_BATCH_MAGIC, 4, 5],
      [RAFT_BATCH_MAGIC, 6],
    ]);
    assert.deepEqual(ev.unreachable, []);
    assert.equal(t.stats().get(2)?.sent, 6);
  } finally {
    t.close();
    await peer.server.shutdown();
  }
});

Deno.test("a receiver that says the sender was removed stops it", async () => {
  const peer = serve();
  peer.node.failWith = new PeerRemovedError(1);
  const ev: Events = {
    unreachable: [],
    removed: 0,
    changed: Promise.withResolvers(),
  };
  const t = new PeerTransport({
    urlOf: () => peer.url,
    encode,
    listener: listener(ev),
  });
  try {
    t.send([msg(1)]);
    await ev.changed.promise;
    assert.equal(ev.removed, 1);
    assert.deepEqual(ev.unreachable, []);
  } finally {
    t.close();
    await peer.server.shutdown();
  }
});

Deno.test("a peer that is down is reported unreachable and messages drop", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const ev: Events = {
    unreachable: [],
    removed: 0,
    changed: Promise.withResolvers(),
  };
  const t = new PeerTransport({
    urlOf: () => `http://127.0.0.1:${port}`,
    encode,
    listener: listener(ev),
  });
  t.send([msg(1)]);
  await ev.changed.promise;
  assert.deepEqual(ev.unreachable, [2]);
  assert.equal(t.stats().get(2)?.dropped, 1);
  t.close();
});

Deno.test("GET /raft/stream without a WebSocket upgrade answers 400", async () => {
  const { app, node } = setup();
  const res = await app.request("/raft/stream");
  assert.equal(res.status, 400);
  await res.body?.cancel();
  assert.deepEqual(node.received, []);
});

Deno.test("client frames carry the payload after a masked header of the right length", () => {
  for (const n of [0, 125, 126, 65535, 65536]) {
    const payload = new Uint8Array(n).fill(7);
    const f = clientFrame(2, payload);
    assert.equal(f[0], 0x82);
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    assert.equal(f.length, head + 4 + n);
    assert.equal(f[1]! & 0x80, 0x80);
    assert.equal(f[1]! & 0x7f, n < 126 ? n : n < 65536 ? 126 : 127);
    assert.deepEqual(f.subarray(head, head + 4), new Uint8Array(4));
    assert.ok(f.subarray(head + 4).every((b) => b === 7));
  }
});

Deno.test({
  name:
    "over https the stream lane speaks wss, trusts the CA and sends the peer token",
  ignore: !hasOpenssl(),
  async fn() {
    await withTestPem(async (pem) => {
      const ca = pem.ca;
      const peer = serve({
        cert: pem.cert,
        key: pem.key,
        peerToken: "wss-peer-token",
      });
      const ev = events();
      const t = new PeerTransport({
        urlOf: () => peer.url,
        encode,
        listener: listener(ev),
        headers: { authorization: "Bearer wss-peer-token" },
        caCerts: [ca],
        // The POST lane would go through this: it must not be used.
        fetch: () => Promise.reject(new Error("the POST lane was used")),
      });
      try {
        t.send([msg(1)]);
        t.send([msg(2)]);
        const first = await peer.frames(1, ev);
        assert.deepEqual([...first[0]!], [RAFT_BATCH_MAGIC, 1, 2]);
        t.send([msg(3)]);
        const all = await peer.frames(2, ev);
        assert.deepEqual([...all[1]!], [RAFT_BATCH_MAGIC, 3]);
        assert.deepEqual(ev.unreachable, []);
        assert.deepEqual(t.stats().get(2), { sent: 3, failed: 0, dropped: 0 });
      } finally {
        t.close();
        await peer.server.shutdown();
      }
    });
  },
});

Deno.test({
  name:
    "over https a peer whose certificate is not trusted, or a missing peer token, is unreachable",
  ignore: !hasOpenssl(),
  async fn() {
    await withTestPem(async (pem) => {
      const ca = pem.ca;
      const peer = serve({
        cert: pem.cert,
        key: pem.key,
        peerToken: "wss-peer-token",
      });
      try {
        for (
          const o of [
            { caCerts: undefined, token: "wss-peer-token" },
            { caCerts: [ca], token: undefined },
          ]
        ) {
          const ev = events();
          const t = new PeerTransport({
            urlOf: () => peer.url,
            encode,
            listener: listener(ev),
            headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
            ...(o.caCerts ? { caCerts: o.caCerts } : {}),
          });
          t.send([msg(1)]);
          await ev.changed.promise;
          t.close();
          assert.deepEqual(ev.unreachable, [2]);
          assert.equal(t.stats().get(2)?.dropped, 1);
        }
        assert.deepEqual(peer.node.received, []);
      } finally {
        await peer.server.shutdown();
      }
    });
  },
});

Deno.test({
  name:
    "a peer that cannot serve the stream over TLS (501) gets its batches by POST",
  ignore: !hasOpenssl(),
  async fn() {
    await withTestPem(async (pem) => {
      const peer = serve({
        cert: pem.cert,
        key: pem.key,
        timeouts: true,
      });
      await peer.listening;
      const ev = events();
      const ca = pem.ca;
      const client = Deno.createHttpClient({ caCerts: [ca] });
      const t = new PeerTransport({
        urlOf: () => peer.url,
        encode,
        listener: listener(ev),
        caCerts: [ca],
        fetch: (input, init) => fetch(input, { ...init, client }),
      });
      try {
        // The first batch meets the refused handshake and is dropped (Raft
        // retransmits); the lane reports the peer unreachable once.
        t.send([msg(1)]);
        await ev.changed.promise;
        assert.deepEqual(ev.unreachable, [2]);
        ev.unreachable = [];
        ev.changed = Promise.withResolvers();
        t.send([msg(2)]);
        t.send([msg(3)]);
        // One POST in flight at a time: two bodies or one.
        const want = [2, 3];
        const got: number[] = [];
        for (let n = 1; got.length < want.length; n++) {
          const bodies = await peer.frames(n, ev);
          got.splice(0, got.length, ...bodies.flatMap((b) => [...b.slice(1)]));
        }
        assert.deepEqual(got, want);
        assert.equal(t.stats().get(2)?.dropped, 1);
      } finally {
        t.close();
        client.close();
        await peer.server.shutdown();
      }
    });
  },
});
