/**
 * The start-up line of a restarted node: `recovered in X s, N keys, M
 * entries replayed`, with the same numbers as structured fields (the time
 * from `startedAt` on the node's clock, the store's key count, the entries
 * applied after the snapshot it loaded). One real node, in-memory files.
 */

import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "../../kv/mod.ts";
import type { LogFields, Logger } from "../../raft/core/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil } from "./node_turns.ts";
import { startSingleNode } from "./single_node.ts";

/** A logger that keeps every info line. */
function capture(lines: { msg: string; fields?: LogFields }[]): Logger {
  const nop = () => {};
  return {
    debug: nop,
    info: (msg, fields) => lines.push({ msg, fields }),
    warn: nop,
    error: nop,
  };
}

function startNode(
  fs: MemFs,
  store: KvStore,
  extra: { logger?: Logger; now?: () => number; startedAt?: number } = {},
) {
  return startSingleNode(fs, store, {
    storage: { snapshotDataInMemory: false },
    node: { snapshotEntries: 10, snapshotLogPercent: 1, ...extra },
  });
}

Deno.test("a restarted node logs how long recovery took, its keys and the entries it replayed", async () => {
  const fs = new MemFs();
  const first = await startNode(fs, new KvStore());
  await runUntil(
    new Map([[1, first.node]]),
    () => first.node.leader() === 1,
    "leader",
  );
  for (let i = 0; i < 25; i++) {
    await first.node.propose(encodeCommand({
      op: "put",
      key: `k${i % 7}`,
      value: new TextEncoder().encode(`${i}`),
    }));
  }
  const applied = first.node.applied();
  first.node.stop();
  await first.storage.close();

  const lines: { msg: string; fields?: LogFields }[] = [];
  const store = new KvStore();
  const second = await startNode(fs, store, {
    logger: capture(lines),
    startedAt: 1000,
    now: () => 3500,
  });
  try {
    await runUntil(
      new Map([[1, second.node]]),
      () => !second.node.recovering(),
      "recovered",
    );
    const snapshotIndex = second.storage.snapshot().meta.index;
    assert.ok(snapshotIndex > 0, "recovery started from a snapshot");
    const line = lines.find((l) => l.fields?.entriesReplayed !== undefined);
    assert.ok(line, "a recovery line");
    assert.equal(line.fields!.seconds, 2.5);
    assert.equal(line.fields!.keys, 7);
    assert.equal(line.fields!.snapshotIndex, snapshotIndex);
    assert.ok(second.node.applied() >= applied);
    assert.equal(
      line.fields!.entriesReplayed,
      (line.fields!.applied as number) - snapshotIndex,
    );
    assert.ok((line.fields!.entriesReplayed as number) > 0);
    // Restored, the node no longer holds the snapshot's bytes in storage.
    assert.equal(second.storage.snapshot().data.length, 0);
    assert.equal(store.get("k3") !== undefined, true);
  } finally {
    second.node.stop();
    await second.storage.close();
  }
});
