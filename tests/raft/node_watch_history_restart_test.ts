/**
 * What a restarted node's watch history holds: the real RaftNode recovers
 * the store from its newest snapshot, then re-applies the log after it, so
 * the history serves every change from the snapshot's index + 1 on, the
 * same batches the node had before the restart. One node, in-memory files.
 */

import assert from "node:assert/strict";
import {
  CompactedError,
  encodeCommand,
  KvStore,
  WatchHub,
} from "../../kv/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil } from "./node_turns.ts";
import { startSingleNode } from "./single_node.ts";

const startNode = (fs: MemFs, store: KvStore) =>
  startSingleNode(fs, store, { node: { snapshotEntries: 10 } });

Deno.test("a restarted node's watch history serves every change from its snapshot index + 1, as before the restart", async () => {
  const fs = new MemFs();
  const before = new KvStore();
  const first = await startNode(fs, before);
  const nodes = new Map([[1, first.node]]);
  await runUntil(nodes, () => first.node.leader() === 1, "leader");
  for (let i = 0; i < 25; i++) {
    const key = `k${i % 4}`;
    const cmd = i % 5 === 4
      ? encodeCommand({ op: "delete", key })
      : encodeCommand({
        op: "put",
        key,
        value: new TextEncoder().encode(`${i}`),
      });
    await first.node.propose(cmd);
  }
  const applied = first.node.applied();
  await runUntil(
    nodes,
    () => first.storage.snapshot().meta.index > 0,
    "a snapshot taken",
  );
  first.node.stop();
  await first.storage.close();

  const after = new KvStore();
  const hub = new WatchHub(after);
  const second = await startNode(fs, after);
  try {
    await runUntil(
      new Map([[1, second.node]]),
      () => !second.node.recovering() && second.node.applied() >= applied,
      "recovered",
    );
    const snapshotIndex = second.storage.snapshot().meta.index;
    assert.ok(snapshotIndex > 0 && snapshotIndex < applied);
    assert.equal(after.history.compactIndex, snapshotIndex + 1);
    assert.throws(
      () => hub.open([{ prefix: "" }], snapshotIndex),
      CompactedError,
    );
    const w = hub.open([{ prefix: "" }], snapshotIndex + 1);
    const got = [];
    for (let page = w.take(); page.length > 0; page = w.take()) {
      got.push(...page);
    }
    const want = before.history.read(snapshotIndex + 1, [{ prefix: "" }])
      .batches;
    assert.ok(want.length > 0);
    assert.deepEqual(got, want);
  } finally {
    second.node.stop();
    await second.storage.close();
  }
});
