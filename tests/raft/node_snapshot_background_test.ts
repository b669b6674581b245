/**
 * Taking a snapshot does not hold up the Ready loop: while the snapshot
 * file's fsync is stuck, the leader keeps sending heartbeats. Real
 * RaftNodes, in-memory files (the leader's snapshot syncs wait on a gate),
 * an in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand } from "../../kv/mod.ts";
import { GatedSnapshotFs } from "./gated_snapshot_fs.ts";
import { MemCluster } from "./mem_cluster.ts";

Deno.test("while a snapshot's fsync is stuck, the leader keeps sending heartbeats", async () => {
  const heartbeatsFrom = new Map<number, number>();
  const c = await MemCluster.start({
    fs: () => new GatedSnapshotFs("syncs"),
    node: { snapshotEntries: 5 },
    delivered: (m) => {
      if (m.type === "heartbeat") {
        heartbeatsFrom.set(m.from, (heartbeatsFrom.get(m.from) ?? 0) + 1);
      }
    },
  });
  const { fs, until } = c;
  try {
    const leader = await c.leader();
    const leaderFs = fs.get(leader.id)!;
    // Only the leader's snapshot is held; the followers' go through.
    for (const [id, f] of fs) if (id !== leader.id) f.release();
    const value = new TextEncoder().encode("v");
    // Writes until the leader starts a snapshot (every 5 applied entries).
    // A write behind it waits with it in the storage queue, so none is
    // awaited once the snapshot sync is waiting.
    for (let i = 0; i < 10 && !leaderFs.waiting; i++) {
      let done = false;
      leader.propose(encodeCommand({ op: "put", key: `k${i}`, value }))
        .then(() => done = true, () => done = true);
      await until(() => done || leaderFs.waiting, "a write or the snapshot");
    }
    await until(() => leaderFs.waiting, "the leader's snapshot sync waits");
    const before = heartbeatsFrom.get(leader.id) ?? 0;
    await until(
      () => (heartbeatsFrom.get(leader.id) ?? 0) >= before + 3,
      "heartbeats while the snapshot is stuck",
    );
    assert.equal(leader.status().role, "leader");
    const leaderStorage = c.storages.get(leader.id)!;
    assert.ok(leaderStorage.snapshot().meta.index < 5, "still stuck");

    leaderFs.release();
    await until(
      () => leaderStorage.snapshot().meta.index >= 5,
      "the snapshot completes once the disk answers",
    );
  } finally {
    for (const f of fs.values()) f.release();
    await c.close();
  }
});
