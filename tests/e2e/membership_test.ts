/**
 * Membership on real nodes: a fourth node added with `POST /v1/members` and
 * `--join` catches up from a snapshot sent in many chunks, is promoted to voter on its own and
 * serves linearizable reads; a removed node's process exits by itself;
 * removing the leader hands leadership over first; the cluster serves
 * writes throughout.
 */

import assert from "node:assert/strict";
import { RaftKvClient } from "../../client/mod.ts";
import {
  E2eCluster,
  lostWrites,
  request,
  show,
  waitFor,
  WriteLoad,
} from "./cluster.ts";

/**
 * More entries than the storage keeps behind a snapshot for slow followers
 * (5000, raft/disk_storage.ts), so the leader's log no longer starts at 1
 * and a new node can only catch up from a snapshot.
 */
const BULK_WRITES = 5200;

/**
 * Pads each bulk value so the snapshot (over 1.5 MiB) is larger than one
 * `POST /raft` body may be: node 4 can only get it in chunks.
 */
const PAD = "p".repeat(300);

/** Writes `count` keys `${prefix}${i}` through all nodes, 64 at a time. */
async function bulkWrite(
  c: E2eCluster,
  prefix: string,
  count: number,
): Promise<Map<string, string>> {
  const written = new Map<string, string>();
  const ids = c.running();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < count) {
      const i = next++;
      const value = `b${i}-${PAD}`;
      await c.mustWrite(ids[i % ids.length]!, `${prefix}${i}`, value);
      written.set(`${prefix}${i}`, value);
    }
  }));
  return written;
}

/** The role node `id` has in `GET /v1/members` on node `on`. */
async function roleOf(
  c: E2eCluster,
  on: number,
  id: number,
): Promise<string | undefined> {
  return (await c.members(on))?.members.find((m) => m.id === id)?.role;
}

/** Waits until every running node lists exactly `ids` as voters. */
async function waitVoters(c: E2eCluster, ids: number[]): Promise<void> {
  await waitFor(`voters ${ids} on every node`, async () => {
    for (const on of c.running()) {
      const view = await c.members(on);
      const voters = view?.members.filter((m) => m.role === "voter")
        .map((m) => m.id);
      if (JSON.stringify(voters) !== JSON.stringify(ids)) return false;
    }
    return true;
  });
}

Deno.test("add a node from a snapshot, remove a follower, remove the leader", async () => {
  // Small snapshot chunks: node 4's snapshot (the bulk writes, well over
  // 100 KiB) travels in many chunks and is stepped only once complete.
  // Snapshots every 50 entries however large the state is next to the log
  // (the fraction at 1 %), so the log is compacted and node 4 needs one.
  const c = await E2eCluster.start({
    snapshotEntries: 50,
    extraArgs: [
      "--snapshot-chunk-bytes",
      "4096",
      "--snapshot-log-percent",
      "1",
    ],
  });
  let load: WriteLoad | undefined;
  try {
    const bulk = await bulkWrite(c, "bulk-", BULK_WRITES);
    load = new WriteLoad(c, "bg-", 2);
    await load.progress(10, "before the changes");

    // Add node 4: a learner until it runs and catches up.
    const n4 = c.define(4);
    const via = (id: number) => new RaftKvClient({ endpoints: c.node(id).url });
    await via(2).addMember({ id: 4, url: n4.url, role: "voter" });
    // Node 2 answered after applying the change.
    assert.equal(await roleOf(c, 2, 4), "learner");
    // Node 4 never takes a snapshot of its own: one in its status came from
    // the leader.
    c.spawn(4, true, ["--snapshot-entries", "100000000"]);
    await waitFor("node 4 promoted to voter", async () => {
      for (const on of [1, 4]) {
        if (await roleOf(c, on, 4) !== "voter") return false;
      }
      return true;
    });
    const s4 = await waitFor("node 4's status", () => c.status(4));
    assert.ok(
      s4.snapshotIndex > 0,
      `node 4 caught up from a snapshot: ${JSON.stringify(s4)}`,
    );
    // Linearizable reads through node 4.
    await c.mustWrite(1, "after-join", "seen by 4");
    assert.equal(await c.mustRead(4, "after-join"), "seen by 4");
    const on4 = await waitFor("node 4's keys", () => c.list(4, "bulk-"));
    assert.deepEqual(lostWrites(bulk, on4), [], "node 4 has the bulk writes");
    await load.progress(10, "after node 4 joined");

    // Remove a follower (not node 4): its process exits by itself.
    const leader = await c.waitLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await via(4).removeMember(follower);
    await c.waitExit(follower);
    const rest = [1, 2, 3, 4].filter((id) => id !== follower);
    await waitVoters(c, rest);
    await load.progress(10, `after node ${follower} left`);

    // Remove the leader, through another node (raftexample's DELETE /{id}):
    // leadership moves first, the old leader exits, the rest serve.
    const old = await c.waitLeader();
    const other = rest.find((id) => id !== old)!;
    const gone = await request(`${c.node(other).url}/${old}`, {
      method: "DELETE",
    });
    assert.equal(gone?.status, 204, show(gone));
    await c.waitExit(old);
    const left = rest.filter((id) => id !== old);
    const next = await c.waitLeader();
    assert.ok(left.includes(next), `new leader ${next} in ${left}`);
    await waitVoters(c, left);
    await load.progress(10, `after leader ${old} left`);

    const stats = await load.stop();
    for (const id of left) {
      await c.mustWrite(id, `final-${id}`, "x");
      const seen = await waitFor(`node ${id}'s keys`, () => c.list(id, ""));
      assert.deepEqual(lostWrites(bulk, seen), [], `bulk on node ${id}`);
      assert.deepEqual(lostWrites(stats.acked, seen), [], `load on ${id}`);
    }
  } finally {
    await load?.stop();
    await c.close();
  }
});
