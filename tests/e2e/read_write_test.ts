/**
 * Any node accepts any request, and reads are linearizable on every node:
 * a read that starts after a 2xx write returns that write, whichever nodes
 * took the write and the read.
 */

import assert from "node:assert/strict";
import { E2eCluster, show } from "./cluster.ts";

Deno.test("a write through any node is read back through every node", async () => {
  const c = await E2eCluster.start();
  try {
    const ids = c.running();
    // One key overwritten in turn through each node: a follower that
    // answered from its own state before catching up would show the
    // previous value (with stale reads this loop fails on most runs).
    for (let round = 0; round < 30; round++) {
      const writer = ids[round % ids.length]!;
      const value = `round ${round} via ${writer}`;
      await c.mustWrite(writer, "shared", value);
      const reads = await Promise.all(ids.map((r) => c.mustRead(r, "shared")));
      assert.deepEqual(
        reads,
        ids.map(() => value),
        `reads through nodes ${ids} after round ${round} (write via ${writer})`,
      );
    }
    // A fresh key per writer, read through every node at once.
    for (const writer of ids) {
      const key = `written-via-${writer}`;
      await c.mustWrite(writer, key, `hello from ${writer}`);
      const reads = await Promise.all(ids.map((r) => c.mustRead(r, key)));
      assert.deepEqual(reads, ids.map(() => `hello from ${writer}`));
    }
    // A delete is seen everywhere too.
    await c.mustWrite(ids[1]!, "shared", null);
    for (const reader of ids) {
      const r = await c.read(reader, "shared");
      assert.equal(r?.status, 404, `node ${reader}: ${show(r)}`);
    }
  } finally {
    await c.close();
  }
});
