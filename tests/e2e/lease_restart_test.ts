/**
 * Leases across restarts of real processes (docs/API.md "Leases": leases
 * are Raft state, survive restarts, and a new leader restarts every
 * countdown in full):
 *
 * - a lease with keys, kept alive through another node, while a follower is
 *   killed with SIGKILL and started again: once it has caught up, its own
 *   state (stale reads) holds the lease's keys attached to the lease, the
 *   lease lists them through it, and keepalives sent to it are answered;
 * - a lease with keys whose countdown was let run down, then all three
 *   processes killed and started again: the lease and its keys are there
 *   under the new leader, whose countdown for it started afresh (its
 *   `remaining` is more than it was when the processes were killed); left
 *   alone, the lease then expires and its keys disappear on every node.
 *
 * Every wait is for a condition, bounded generously; no timing is asserted.
 */

import assert from "node:assert/strict";
import { E2eCluster, show, waitFor } from "./cluster.ts";
import { grant, Keeper, putLeased, readItem } from "./lease_client.ts";

interface LeaseView {
  id: number;
  ttl: number;
  remaining: number;
  keys: string[];
}

/** `GET /v1/leases/{id}` through node `id` (answered by the leader). */
async function leaseOn(
  c: E2eCluster,
  id: number,
  lease: number,
): Promise<LeaseView> {
  const r = await waitFor(`lease ${lease} through node ${id}`, async () => {
    const r = await c.request(`${c.node(id).url}/v1/leases/${lease}`);
    return r?.status === 200 || r?.status === 404 ? r : false;
  });
  assert.equal(r.status, 200, `lease ${lease} on node ${id}: ${show(r)}`);
  return JSON.parse(r.body);
}

/** Waits until every running node has applied what the leader committed. */
async function caughtUp(c: E2eCluster): Promise<void> {
  const leader = await c.waitLeader();
  const s = await waitFor("the leader's status", () => c.status(leader));
  for (const id of c.running()) {
    await waitFor(`node ${id} to apply ${s.commit}`, async () => {
      const n = await c.status(id);
      return n !== undefined && !n.recovering && n.applied >= s.commit;
    }, 60_000);
  }
}

/** Node `id`'s own state for `key` (a stale read): its `X-Lease`, or 404. */
async function staleLease(
  c: E2eCluster,
  id: number,
  key: string,
): Promise<string | null | undefined> {
  const r = await c.request(`${c.keyUrl(id, key)}?consistency=stale`);
  if (r?.status === 404) return null;
  if (r?.status !== 200) return undefined;
  return r.headers.get("x-lease");
}

Deno.test("a lease and its keys survive a kill -9 and restart of a follower; keepalives through it work", async () => {
  const c = await E2eCluster.start();
  try {
    const ttl = 6;
    const leader = await c.waitLeader();
    const [follower, other] = c.running().filter((id) => id !== leader);
    const lease = await grant(c, leader, ttl);
    await putLeased(c, leader, "rf/a", lease);
    await putLeased(c, leader, "rf/b", lease);
    const before = await readItem(c, leader, "rf/a");
    assert.ok(before);
    let target = other!;
    const keeper = new Keeper(c, lease, ttl, () => target);
    try {
      await keeper.more(1, "a keepalive before the kill");
      await c.kill(follower!);
      await keeper.more(2, "keepalives while the follower is down");
      c.spawn(follower!);
      await caughtUp(c);
      // Its own state, not the leader's: stale reads on the restarted node.
      for (const key of ["rf/a", "rf/b"]) {
        const got = await waitFor(
          `${key} on the restarted node`,
          () => staleLease(c, follower!, key),
        );
        assert.equal(got, String(lease), `${key} attached on node ${follower}`);
      }
      const view = await leaseOn(c, follower!, lease);
      assert.deepEqual([...view.keys].sort(), ["rf/a", "rf/b"]);
      // Keepalives sent to the restarted node are answered.
      target = follower!;
      await keeper.more(3, "keepalives through the restarted follower");
      const after = await readItem(c, follower!, "rf/a");
      assert.equal(after?.createIndex, before.createIndex);
      assert.equal(after?.lease, lease);
    } finally {
      await keeper.stop();
    }
  } finally {
    await c.close();
  }
});

Deno.test("a lease and its keys survive a restart of the whole cluster with their countdown restarted in full; left alone, the lease then expires everywhere", async () => {
  const c = await E2eCluster.start();
  try {
    const ttl = 20;
    const leader = await c.waitLeader();
    const lease = await grant(c, leader, ttl);
    await putLeased(c, leader, "rc/a", lease);
    await putLeased(c, leader, "rc/b", lease);
    const before = await readItem(c, leader, "rc/a");
    assert.ok(before);
    // Let the countdown run down (no keepalives) to a few seconds, then
    // kill every process: a countdown carried over from before (or a
    // clock) would expire it at once after the restart.
    const atKill = await waitFor(
      "the countdown to run down",
      async () => {
        const v = await leaseOn(c, leader, lease);
        return v.remaining <= 4 ? v : false;
      },
      (ttl + 30) * 1000,
      200,
    );
    const ids = c.running();
    await Promise.all(ids.map((id) => c.kill(id)));
    for (const id of ids) c.spawn(id);
    const next = await c.waitLeader();
    const after = await leaseOn(c, next, lease);
    assert.deepEqual([...after.keys].sort(), ["rc/a", "rc/b"]);
    assert.ok(
      after.remaining > atKill.remaining,
      `the new leader's countdown restarted: ${after.remaining} s left, ${atKill.remaining} s at the kill`,
    );
    const a = await readItem(c, next, "rc/a");
    assert.equal(a?.createIndex, before.createIndex);
    assert.equal(a?.lease, lease);
    // Left alone: it expires through the log, its keys gone on every node.
    for (const id of c.running()) {
      await waitFor(`rc/* gone on node ${id}`, async () => {
        const ra = await c.request(c.keyUrl(id, "rc/a"));
        const rb = await c.request(c.keyUrl(id, "rc/b"));
        return ra?.status === 404 && rb?.status === 404;
      }, (ttl + 60) * 1000);
    }
    await caughtUp(c);
    for (const id of c.running()) {
      assert.equal(await staleLease(c, id, "rc/a"), null, `node ${id}`);
      assert.equal(await staleLease(c, id, "rc/b"), null, `node ${id}`);
      const r = await c.request(`${c.node(id).url}/v1/leases/${lease}`);
      assert.equal(r?.status, 404, show(r));
    }
  } finally {
    await c.close();
  }
});
