/**
 * Cluster identity with real processes:
 *
 * - a second cluster whose `--cluster` list wrongly names one of this
 *   cluster's nodes elects its own leader, whose messages that node refuses
 *   (403 `cluster_mismatch`, counted in `/metrics`): nothing of the other
 *   cluster is applied, the node keeps its term and its leader, and keeps
 *   serving this cluster;
 * - a node started on its data directory with flags of another cluster
 *   (another `--cluster-token`) refuses to start, with exit status 2 and a
 *   message naming the directory; started right again, it rejoins.
 */

import assert from "node:assert/strict";
import { E2eCluster, waitFor } from "./cluster.ts";

/** `raftkv_peer_refused_total{reason}` of node `id`'s `/metrics`. */
async function refused(
  c: E2eCluster,
  id: number,
  reason: string,
): Promise<number> {
  const r = await c.request(`${c.node(id).url}/metrics`, {}, 2000);
  const line = r?.body.split("\n").find((l) =>
    l.startsWith(`raftkv_peer_refused_total{reason="${reason}"} `)
  );
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

Deno.test("e2e: a cluster whose --cluster list names one of this cluster's nodes cannot take it over", async () => {
  const a = await E2eCluster.start();
  // Cluster B: two nodes of its own and, by mistake, A's node 3 as its
  // third member. B's two nodes are a majority of B: they elect a leader,
  // which then sends to "its" node 3.
  const b = await E2eCluster.defined(3);
  try {
    await a.mustWrite(1, "before", "a");
    await waitFor("node 3 caught up", async () => {
      const s = await a.status(3);
      return s !== undefined && s.applied >= (await a.status(1))!.commit;
    });
    const before = (await a.status(3))!;
    b.node(3).url = a.node(3).url;
    b.spawn(1);
    b.spawn(2);
    const bLeader = await b.waitLeader();
    await waitFor(
      "node 3 of A to refuse B's messages",
      async () => (await refused(a, 3, "cluster_mismatch")) > 0,
    );
    // B's leader never replicated anything to A's node 3.
    const bStatus = (await b.status(bLeader))!;
    const p3 = (bStatus.peers as { id: number; match: number }[])
      .find((p) => p.id === 3);
    assert.equal(p3?.match ?? 0, 0);
    // A's node 3 still follows A, in A's term, with A's data only.
    const after = (await a.status(3))!;
    const aLeader = (await a.status(before.leader))!;
    assert.equal(after.leader, before.leader);
    assert.equal(after.term, aLeader.term);
    assert.equal(after.term, before.term);
    assert.deepEqual(after.voters, [1, 2, 3]);
    assert.equal(after.lastIndex, aLeader.lastIndex);
    const members = await a.members(3);
    assert.deepEqual(
      members?.members.map((m) => m.url),
      [1, 2, 3].map((id) => a.node(id).url),
    );
    // And it serves this cluster's writes and reads.
    await a.mustWrite(3, "after", "a3");
    assert.equal(await a.mustRead(3, "after"), "a3");
    assert.equal(await a.mustRead(3, "before"), "a");
  } finally {
    await b.close();
    await a.close();
  }
});

Deno.test("e2e: a data directory of another cluster refuses to start with status 2", async () => {
  const a = await E2eCluster.start();
  try {
    await a.mustWrite(1, "k", "v");
    await a.kill(3);
    a.spawn(3, false, ["--cluster-token", "another-cluster"]);
    const status = await a.waitExit(3);
    assert.equal(status.code, 2);
    const log = await Deno.readTextFile(a.node(3).logFile);
    assert.match(log, /belongs to cluster [0-9a-f]{16}/);
    assert.ok(log.includes(a.node(3).dataDir));
    // With its own flags it starts and serves again.
    a.spawn(3);
    await a.waitLeader();
    assert.equal(await a.mustRead(3, "k"), "v");
  } finally {
    await a.close();
  }
});
