/**
 * The node's pending-proposal limit: a node holds at most so many writes
 * waiting for their outcome, and refuses more with a typed, retryable error
 * instead of queueing without bound.
 */

import assert from "node:assert/strict";
import { KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  message,
  OverloadedError,
  RaftNode,
  seededRng,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";

const PEERS = new Map([
  [1, "http://127.0.0.1:41001"],
  [2, "http://127.0.0.1:41002"],
  [3, "http://127.0.0.1:41003"],
]);

/** Lets the node's Ready loop run until `cond` holds (bounded). */
async function settle(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error(`never reached: ${what}`);
}

Deno.test("a node refuses proposals beyond its pending limit until some settle", async () => {
  const storage = await DiskStorage.open(new MemFs(), "/n1", {
    metadata: { clusterId: "", nodeId: 1 },
  });
  const node = new RaftNode({
    id: 1,
    peers: PEERS,
    join: false,
    storage,
    stateMachine: new KvStore(),
    rng: seededRng(1),
    epoch: 1,
    maxPendingProposals: 2,
  });
  // Messages go nowhere: forwarded proposals never commit.
  node.setTransport({ send() {} });
  node.start();
  try {
    await settle(() => !node.recovering(), "recovered");
    node.receive([message({ type: "heartbeat", from: 2, to: 1, term: 1 })]);
    await settle(() => node.leader() === 2, "node 2 known as leader");

    const aborts = [new AbortController(), new AbortController()];
    const pending = aborts.map((a) =>
      node.propose(new Uint8Array([1]), a.signal).catch((e) => e)
    );
    assert.throws(
      () => node.propose(new Uint8Array([2])),
      (e) => e instanceof OverloadedError && e.code === "overloaded",
    );
    // A caller that gives up frees its slot.
    aborts[0]!.abort(new Error("gave up"));
    assert.equal((await pending[0]!).message, "gave up");
    const third = node.propose(new Uint8Array([3])).catch((e) => e);
    assert.throws(() => node.propose(new Uint8Array([4])), OverloadedError);
    node.stop();
    await Promise.all([pending[1], third]);
  } finally {
    node.stop();
    await storage.close();
  }
});
