/**
 * The sending side of chunked snapshots: a snapshot larger than a chunk
 * leaves as several `POST /raft` requests of at most one chunk, which a
 * receiving app puts back together into exactly the batch that was sent;
 * a failed chunk ends the transfer and reports the snapshot lost; ordinary
 * messages keep flowing while a snapshot transfer is in progress; ordinary
 * batches are split within the same budget.
 */

import assert from "node:assert/strict";
import {
  decodeMessages,
  encodeMessageParts,
  encodeMessages,
} from "../../../raft/codec.ts";
import { PeerTransport } from "../../../http/peer/peer_transport.ts";
import { CHUNK_HEADERS } from "../../../http/peer/snapshot_chunks.ts";
import { type Message, message } from "../../../raft/mod.ts";
import { setup } from "../fake_node.ts";

/** A snapshot message from node 1 to node 2 carrying `bytes` of state. */
function snap(bytes: number): Message {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 13) & 0xff;
  return message({
    type: "snap",
    from: 1,
    to: 2,
    term: 3,
    snapshot: {
      meta: { index: 40, term: 3, conf: { voters: [1, 2, 3], learners: [] } },
      data,
    },
  });
}

const heartbeat = message({ type: "heartbeat", from: 1, to: 2, term: 3 });

interface Sent {
  headers: Headers;
  body: Uint8Array;
}

/** Listener events, in order. */
class Events {
  log: string[] = [];
  readonly changed = new EventTarget();
  #push(e: string): void {
    this.log.push(e);
    this.changed.dispatchEvent(new Event("x"));
  }
  reportUnreachable(id: number): void {
    this.#push(`unreachable ${id}`);
  }
  reportSnapshot(id: number, ok: boolean): void {
    this.#push(`snapshot ${id} ${ok}`);
  }
  removedByPeer(): void {
    this.#push("removed");
  }
  /** Resolves once an event matching `re` was reported. */
  wait(re: RegExp): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.log.some((e) => re.test(e))) {
          this.changed.removeEventListener("x", check);
          resolve();
        }
      };
      this.changed.addEventListener("x", check);
      check();
    });
  }
}

function transport(
  fetch: (req: Sent) => Promise<Response>,
  events: Events,
  chunkBytes = 4096,
): PeerTransport {
  return new PeerTransport({
    urlOf: () => "http://peer.invalid",
    encode: encodeMessages,
    // As the server wires it: a snapshot's data is cut without a copy.
    encodeParts: encodeMessageParts,
    listener: events,
    stream: false,
    snapshotChunkBytes: chunkBytes,
    fetch: async (_url, init) => {
      const body = new Uint8Array(init!.body as Uint8Array);
      return await fetch({ headers: new Headers(init!.headers), body });
    },
  });
}

Deno.test("a large snapshot goes in chunks and a receiving app rebuilds the exact batch", async () => {
  const { app, node } = setup({ snapshotChunkBytes: 4096 });
  // The fake node's own batch check knows a test magic, not the codec's.
  node.receiveRaft = (b) => void node.received.push(b);
  const sent: Sent[] = [];
  const events = new Events();
  const t = transport(async (req) => {
    sent.push(req);
    return await app.request("/raft", {
      method: "POST",
      headers: req.headers,
      body: req.body as Uint8Array<ArrayBuffer>,
    });
  }, events);
  const m = snap(50_000);
  t.send([m]);
  await events.wait(/^snapshot 2/);
  assert.deepEqual(events.log, ["snapshot 2 true"]);
  assert.ok(sent.length >= 13, `${sent.length} requests`);
  for (const s of sent) {
    assert.ok(s.body.length <= 4096, `chunk of ${s.body.length} bytes`);
    assert.ok(s.headers.has(CHUNK_HEADERS.transfer));
  }
  assert.equal(
    new Set(sent.map((s) => s.headers.get("x-raft-transfer"))).size,
    1,
  );
  assert.equal(node.received.length, 1);
  assert.deepEqual(node.received[0], encodeMessages([m]));
  assert.deepEqual(decodeMessages(node.received[0]!), [m]);
});

Deno.test("snapshots queued for one peer leave as one transfer each, a batch of one", async () => {
  const sent: Sent[] = [];
  const events = new Events();
  const gate = Promise.withResolvers<void>();
  const t = transport(async (req) => {
    sent.push(req);
    if (sent.length === 1) await gate.promise;
    return new Response(null, { status: 204 });
  }, events);
  t.send([snap(9_000)]); // on its way, held by the gate
  t.send([snap(50_000)]);
  t.send([snap(9_000)]); // both queued behind it
  gate.resolve();
  await new Promise<void>((resolve) => {
    const check = () => {
      if (events.log.length === 3) resolve();
    };
    events.changed.addEventListener("x", check);
    check();
  });
  assert.deepEqual(events.log, Array(3).fill("snapshot 2 true"));
  const transfers = new Set(
    sent.map((s) => s.headers.get(CHUNK_HEADERS.transfer)),
  );
  assert.equal(transfers.size, 3, "one transfer per snapshot");
});

Deno.test("a failed chunk ends the transfer and reports the snapshot lost", async () => {
  const sent: Sent[] = [];
  const events = new Events();
  const t = transport((req) => {
    sent.push(req);
    return Promise.resolve(
      new Response(null, { status: sent.length === 3 ? 503 : 204 }),
    );
  }, events);
  t.send([snap(50_000)]);
  await events.wait(/^snapshot 2/);
  assert.equal(sent.length, 3, "no chunk after the failed one");
  assert.deepEqual(events.log, ["snapshot 2 false", "unreachable 2"]);
});

Deno.test("ordinary messages go out while a snapshot transfer is in flight", async () => {
  const events = new Events();
  const gate = Promise.withResolvers<void>();
  const ordinary: Sent[] = [];
  let chunksSent = 0;
  const t = transport(async (req) => {
    if (req.headers.has(CHUNK_HEADERS.transfer)) {
      chunksSent++;
      // The receiver is slow to take the snapshot.
      await gate.promise;
    } else {
      ordinary.push(req);
    }
    return new Response(null, { status: 204 });
  }, events);
  t.send([snap(50_000)]);
  t.send([heartbeat]);
  t.send([{ ...heartbeat, commit: 7 }]);
  await new Promise((r) => setTimeout(r, 0));
  while (ordinary.length < 2) await new Promise((r) => setTimeout(r, 0));
  assert.equal(chunksSent, 1, "the snapshot is still on its first chunk");
  assert.deepEqual(
    ordinary.flatMap((s) => decodeMessages(s.body).map((m) => m.type)),
    ["heartbeat", "heartbeat"],
  );
  gate.resolve();
  await events.wait(/^snapshot 2/);
  assert.deepEqual(events.log, ["snapshot 2 true"]);
});

Deno.test("an ordinary batch is split into bodies within the budget, in order", async () => {
  const events = new Events();
  const sent: Sent[] = [];
  const t = transport((req) => {
    sent.push(req);
    return Promise.resolve(new Response(null, { status: 204 }));
  }, events);
  const appends: Message[] = Array.from({ length: 12 }, (_, i) =>
    message({
      type: "app",
      from: 1,
      to: 2,
      term: 3,
      index: i,
      entries: [{
        term: 3,
        index: i + 1,
        type: "normal",
        data: new Uint8Array(1000).fill(i),
      }],
    }));
  t.send(appends);
  while (sent.flatMap((s) => decodeMessages(s.body)).length < 12) {
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.ok(sent.length > 1, `${sent.length} requests`);
  for (const s of sent) assert.ok(s.body.length <= 4096, `${s.body.length}`);
  assert.deepEqual(
    sent.flatMap((s) => decodeMessages(s.body)).map((m) => m.index),
    appends.map((m) => m.index),
  );
});
