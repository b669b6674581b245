/**
 * `kill -9` of the leader under a steady write load: no acknowledged write
 * is lost, a new leader serves, and the killed node, restarted on its data
 * directory, catches up.
 */

import assert from "node:assert/strict";
import { E2eCluster, lostWrites, waitFor, WriteLoad } from "./cluster.ts";

Deno.test("kill -9 of the leader under load loses no acknowledged write", async () => {
  // Small snapshots so the restart also loads a snapshot and replays the
  // WAL after it.
  const c = await E2eCluster.start({ snapshotEntries: 100 });
  let load: WriteLoad | undefined;
  try {
    load = new WriteLoad(c, "load-", 4);
    await load.progress(100, "before the kill");

    const old = await c.waitLeader();
    await c.kill(old);
    const acksAtKill = load.ackedCount;

    // A new leader among the others, within a bounded number of election
    // timeouts (the cap is generous: no timing is asserted).
    const leader = await c.waitLeader([old], 30_000);
    assert.notEqual(leader, old);
    await load.progress(100, "after the new leader took over");
    const stats = await load.stop();
    assert.ok(
      stats.acked.size > acksAtKill,
      "writes are acknowledged after the kill",
    );

    // Every acknowledged write is on every live node (linearizable list).
    for (const id of c.running()) {
      const seen = await waitFor(
        `node ${id}'s keys`,
        () => c.list(id, "load-"),
      );
      assert.deepEqual(
        lostWrites(stats.acked, seen),
        [],
        `acknowledged writes missing on node ${id}`,
      );
    }

    // The killed node restarts on its data and catches up: its own state
    // (stale reads, no quorum round) eventually holds every acked write.
    c.spawn(old);
    await waitFor(`node ${old} to catch up`, async () => {
      const seen = await c.list(old, "load-", true);
      return seen !== undefined && lostWrites(stats.acked, seen).length === 0;
    });
    await c.waitLeader();
    const seen = await waitFor(
      `node ${old}'s keys`,
      () => c.list(old, "load-"),
    );
    assert.deepEqual(lostWrites(stats.acked, seen), []);
  } finally {
    await load?.stop();
    await c.close();
  }
});
