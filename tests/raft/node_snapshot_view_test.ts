/**
 * A snapshot taken while writes keep applying is the state at its index:
 * the leader's snapshot file is held after its first bytes (before any of
 * the state is encoded), writes that overwrite, delete and create keys are
 * committed and applied meanwhile, and the file, once written, holds
 * exactly the state a store that applied the log up to the snapshot's
 * index has. Real RaftNodes and KvStores, in-memory files, an in-memory
 * network, manual ticks.
 */

import assert from "node:assert/strict";
import { type Command, encodeCommand, KvStore } from "../../kv/mod.ts";
import { decodeSnapshotData } from "../../raft/snapshot_data.ts";
import { GatedSnapshotFs } from "./gated_snapshot_fs.ts";
import { MemCluster } from "./mem_cluster.ts";

Deno.test("a snapshot taken while writes keep applying equals the state at its index", async () => {
  const c = await MemCluster.start({
    fs: () => new GatedSnapshotFs("writes after the first"),
    storage: { snapshotDataInMemory: false },
    node: { snapshotEntries: 8, snapshotLogPercent: 1 },
  });
  const { fs, until } = c;
  try {
    const leader = await c.leader();
    const leaderFs = fs.get(leader.id)!;
    for (const [id, f] of fs) if (id !== leader.id) f.release();
    const written: [number, Command][] = [];
    const write = async (cmd: Command) => {
      const applied = await leader.propose(encodeCommand(cmd));
      written.push([applied.index, cmd]);
    };
    const text = (s: string) => new TextEncoder().encode(s);
    for (let i = 0; i < 12 && !leaderFs.waiting; i++) {
      let done = false;
      write({ op: "put", key: `k${i % 6}`, value: text(`v${i}`) })
        .then(() => done = true, () => done = true);
      await until(() => done || leaderFs.waiting, "a write or the snapshot");
    }
    await until(() => leaderFs.waiting, "the leader's snapshot is held");
    const store = c.stores.get(leader.id)!;
    const appliedWhenHeld = store.appliedIndex;

    // While the snapshot is held: overwrite, delete, recreate, create.
    await write({ op: "put", key: "k0", value: text("after") });
    await write({ op: "delete", key: "k1" });
    await write({ op: "delete", key: "k2" });
    await write({ op: "put", key: "k2", value: text("recreated") });
    await write({ op: "put", key: "new", value: text("n") });
    assert.ok(store.appliedIndex > appliedWhenHeld, "writes kept applying");
    assert.deepEqual(store.get("k0")?.value, text("after"));

    leaderFs.release();
    const storage = c.storages.get(leader.id)!;
    await until(
      () => storage.snapshot().meta.index > 0,
      "the held snapshot completes",
    );
    const snap = await storage.loadSnapshot();
    assert.ok(snap.meta.index <= appliedWhenHeld + 1);
    const content = decodeSnapshotData(snap.data)!;
    const reference = new KvStore();
    for (const [index, cmd] of written.sort((a, b) => a[0] - b[0])) {
      if (index <= snap.meta.index) reference.apply(index, encodeCommand(cmd));
    }
    assert.deepEqual(content.state, reference.snapshot());
    const restored = new KvStore();
    restored.restore(content.state);
    assert.equal(restored.get("new"), undefined);
    assert.notDeepEqual(restored.get("k0")?.value, text("after"));
    assert.ok(restored.get("k1") !== undefined, "k1 was deleted later");
  } finally {
    for (const f of fs.values()) f.release();
    await c.close();
  }
});
