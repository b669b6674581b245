/**
 * Taking a snapshot does not hold up the Ready loop: while the snapshot
 * file's fsync is stuck, the leader keeps sending heartbeats. Real
 * RaftNodes, in-memory files (the leader's snapshot syncs wait on a gate),
 * an in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import { RaftNode, seededRng, StoppedError } from "../../raft/mod.ts";
import type { FsFile, OpenOptions } from "../../wal/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil, turn } from "./node_turns.ts";

/** A MemFs whose snapshot-file syncs wait until {@linkcode open} is called. */
class GatedSnapshotFs extends MemFs {
  /** Set once a snapshot file's sync is waiting on the gate. */
  waiting = false;
  readonly #gate = Promise.withResolvers<void>();

  /** Lets the waiting (and every later) snapshot sync through. */
  release(): void {
    this.#gate.resolve();
  }

  override async open(path: string, options?: OpenOptions): Promise<FsFile> {
    const f = await super.open(path, options);
    if (!path.includes(".snap")) return f;
    const gated = (sync: () => Promise<void>) => async () => {
      this.waiting = true;
      await this.#gate.promise;
      return sync();
    };
    f.sync = gated(f.sync.bind(f));
    f.syncData = gated(f.syncData.bind(f));
    return f;
  }
}

Deno.test("while a snapshot's fsync is stuck, the leader keeps sending heartbeats", async () => {
  const fs = new Map<number, GatedSnapshotFs>();
  const nodes = new Map<number, RaftNode>();
  const storages: DiskStorage[] = [];
  const heartbeatsFrom = new Map<number, number>();
  for (const id of [1, 2, 3]) {
    const f = new GatedSnapshotFs();
    fs.set(id, f);
    const storage = await DiskStorage.open(f, `/n${id}`, {
      metadata: { clusterId: "", nodeId: id },
    });
    storages.push(storage);
    const node = new RaftNode({
      id,
      peers: new Map([1, 2, 3].map((i) => [i, `http://node${i}`])),
      join: false,
      storage,
      stateMachine: new KvStore(),
      rng: seededRng(id),
      epoch: id,
      snapshotEntries: 5,
    });
    node.setTransport({
      send: (msgs) =>
        setTimeout(() => {
          for (const m of msgs) {
            if (m.type === "heartbeat") {
              heartbeatsFrom.set(m.from, (heartbeatsFrom.get(m.from) ?? 0) + 1);
            }
            try {
              nodes.get(m.to)?.receive([m]);
            } catch (e) {
              if (!(e instanceof StoppedError)) throw e;
            }
          }
        }, 0),
    });
    nodes.set(id, node);
    node.start();
  }
  const until = (cond: () => boolean, what: string) =>
    runUntil(nodes, cond, what);
  try {
    await until(
      () => [...nodes.values()].some((n) => n.status().role === "leader"),
      "a leader",
    );
    const leader = [...nodes.values()].find((n) =>
      n.status().role === "leader"
    )!;
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
    const leaderStorage = storages[leader.id - 1]!;
    assert.ok(leaderStorage.snapshot().meta.index < 5, "still stuck");

    leaderFs.release();
    await until(
      () => leaderStorage.snapshot().meta.index >= 5,
      "the snapshot completes once the disk answers",
    );
  } finally {
    for (const f of fs.values()) f.release();
    for (const n of nodes.values()) n.stop();
    await turn();
    for (const s of storages) await s.close().catch(() => {});
  }
});
