/**
 * A leader whose storage keeps only the newest snapshot's metadata in memory
 * (`snapshotDataInMemory: false`) still brings a new member up to date: the
 * node reads the snapshot's data back from its file before sending it.
 * Real RaftNodes, in-memory files, an in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  type Message,
  RaftNode,
  seededRng,
  StoppedError,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil, turn } from "./node_turns.ts";

const urlOf = (id: number) => `http://127.0.0.1:${42000 + id}`;

Deno.test("a leader keeping snapshot metadata only sends the snapshot's data read from its file", async () => {
  const nodes = new Map<number, RaftNode>();
  const stores = new Map<number, KvStore>();
  const storages: DiskStorage[] = [];
  const snapsSent: Message[] = [];
  const add = async (id: number, join: boolean) => {
    const storage = await DiskStorage.open(new MemFs(), `/n${id}`, {
      metadata: { clusterId: "", nodeId: id },
      catchUpEntries: 0,
      snapshotDataInMemory: false,
    });
    storages.push(storage);
    const kv = new KvStore();
    const node = new RaftNode({
      id,
      peers: new Map([1, 2, 3].map((i) => [i, urlOf(i)])),
      join,
      storage,
      stateMachine: kv,
      rng: seededRng(id),
      epoch: id,
      // Every 5 entries, however small the log is next to the snapshot.
      snapshotEntries: 5,
      snapshotLogPercent: 1,
    });
    node.setTransport({
      send: (msgs) => {
        setTimeout(() => {
          for (const m of msgs) {
            if (m.type === "snap") snapsSent.push(m);
            try {
              nodes.get(m.to)?.receive([m]);
            } catch (e) {
              // A stopped node takes nothing more.
              if (!(e instanceof StoppedError)) throw e;
            }
            if (m.type === "snap") node.reportSnapshot(m.to, true);
          }
        }, 0);
      },
    });
    nodes.set(id, node);
    stores.set(id, kv);
    node.start();
    return { node, storage };
  };
  const until = (cond: () => boolean, what: string) =>
    runUntil(nodes, cond, what);
  try {
    for (const id of [1, 2, 3]) await add(id, false);
    await until(
      () => [...nodes.values()].some((n) => n.status().role === "leader"),
      "a leader",
    );
    const leader = [...nodes.values()].find((n) =>
      n.status().role === "leader"
    )!;
    const value = new TextEncoder().encode("v");
    for (let i = 0; i < 20; i++) {
      const p = leader.propose(
        encodeCommand({ op: "put", key: `k${i}`, value }),
      );
      await until(() => true, "a turn");
      await p;
    }
    const leaderStorage = storages[leader.id - 1]!;
    await until(
      () => leaderStorage.snapshot().meta.index >= 20,
      "the leader snapshots",
    );
    assert.equal(leaderStorage.snapshot().data.length, 0, "metadata only");

    await leader.addMember(4, urlOf(4), "learner");
    await add(4, true);
    await until(
      () => stores.get(4)!.get("k19") !== undefined,
      "the new member has the data",
    );
    assert.ok(snapsSent.length > 0, "the new member got a snapshot");
    assert.ok(snapsSent.every((m) => m.snapshot!.data.length > 0));
    assert.ok(stores.get(4)!.get("k0") !== undefined);
  } finally {
    for (const n of nodes.values()) n.stop();
    await turn();
    for (const s of storages) await s.close();
  }
});
