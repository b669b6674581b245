/**
 * A leader whose storage keeps only the newest snapshot's metadata in memory
 * (`snapshotDataInMemory: false`) still brings a new member up to date: the
 * node reads the snapshot's data back from its file before sending it.
 * Real RaftNodes, in-memory files, an in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand } from "../../kv/mod.ts";
import type { Message } from "../../raft/mod.ts";
import { MemCluster } from "./mem_cluster.ts";

const urlOf = (id: number) => `http://127.0.0.1:${42000 + id}`;

Deno.test("a leader keeping snapshot metadata only sends the snapshot's data read from its file", async () => {
  const snapsSent: Message[] = [];
  const c = await MemCluster.start({
    urlOf,
    storage: { catchUpEntries: 0, snapshotDataInMemory: false },
    // Every 5 entries, however small the log is next to the snapshot.
    node: { snapshotEntries: 5, snapshotLogPercent: 1 },
    delivered: (m, sender) => {
      if (m.type !== "snap") return;
      snapsSent.push(m);
      sender.reportSnapshot(m.to, true);
    },
  });
  const { stores, until } = c;
  try {
    const leader = await c.leader();
    const value = new TextEncoder().encode("v");
    for (let i = 0; i < 20; i++) {
      const p = leader.propose(
        encodeCommand({ op: "put", key: `k${i}`, value }),
      );
      await until(() => true, "a turn");
      await p;
    }
    const leaderStorage = c.storages.get(leader.id)!;
    await until(
      () => leaderStorage.snapshot().meta.index >= 20,
      "the leader snapshots",
    );
    assert.equal(leaderStorage.snapshot().data.length, 0, "metadata only");

    await leader.addMember(4, urlOf(4), "learner");
    await c.add(4, true);
    await until(
      () => stores.get(4)!.get("k19") !== undefined,
      "the new member has the data",
    );
    assert.ok(snapsSent.length > 0, "the new member got a snapshot");
    assert.ok(snapsSent.every((m) => m.snapshot!.data.length > 0));
    assert.ok(stores.get(4)!.get("k0") !== undefined);
  } finally {
    await c.close();
  }
});
