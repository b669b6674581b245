/**
 * `RaftNode.idle` (the simulator's step boundary) covers the work the node
 * does off its Ready loop: a background snapshot counts as settled only
 * while it waits for its storage, and as pending from the moment the
 * storage answers until it is done.
 */

import assert from "node:assert/strict";
import { KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  type NodeStorage,
  RaftMetrics,
  RaftNode,
  seededRng,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil } from "./node_turns.ts";

Deno.test("idle() waits for a background snapshot once its storage answered", async () => {
  const disk = await DiskStorage.open(new MemFs(), "/solo", {
    metadata: { clusterId: "", nodeId: 1 },
  });
  // The snapshot write waits until the test answers it (nothing is written).
  const writes: PromiseWithResolvers<void>[] = [];
  const storage: NodeStorage = {
    initialState: () => disk.initialState(),
    entries: (lo, hi, maxBytes) => disk.entries(lo, hi, maxBytes),
    term: (i) => disk.term(i),
    firstIndex: () => disk.firstIndex(),
    lastIndex: () => disk.lastIndex(),
    snapshot: () => disk.snapshot(),
    isEmpty: () => disk.isEmpty(),
    save: (rd) => disk.save(rd),
    createSnapshot: () => {
      const w = Promise.withResolvers<void>();
      writes.push(w);
      return w.promise;
    },
  };
  const metrics = new RaftMetrics();
  const node = new RaftNode({
    id: 1,
    peers: new Map([[1, "http://node1"]]),
    join: false,
    storage,
    stateMachine: new KvStore(),
    rng: seededRng(1),
    epoch: 1,
    snapshotEntries: 1,
    metrics,
  });
  const nodes = new Map([[1, node]]);
  try {
    node.start();
    await runUntil(nodes, () => node.health().ok, "node 1 leads");
    await runUntil(nodes, () => writes.length > 0, "a snapshot is started");
    // Waiting for its storage: the node has nothing to do on its own.
    await node.idle();
    assert.equal(metrics.snapshotsTaken.value, 0);
    writes[0]!.resolve();
    // One microtask for the storage's answer to reach the node (as the
    // simulator's settle does), then idle() covers the rest of the write.
    await null;
    await node.idle();
    assert.equal(metrics.snapshotsTaken.value, 1);
  } finally {
    node.stop();
    await disk.close();
  }
});
