/**
 * Leases and transactions on real processes, one shared cluster:
 * - a lease left alone expires through the log: its keys disappear on every
 *   node;
 * - a lease kept alive (every ttl/3, through a node that is not the leader)
 *   survives a `kill -9` of the leader, and a SIGSTOP of the leader for
 *   longer than its TTL followed by SIGCONT: its key is never deleted (it
 *   still has the createIndex it was written with, and nobody writes it
 *   again);
 * - two contenders cycle a lock (through a follower) while the leader is
 *   killed: a fence-checking resource sees strictly increasing fences and
 *   refuses none, and no lock key is left behind;
 * - a transaction that moves a token between two keys under concurrent
 *   movers and writers never loses or duplicates it.
 *
 * No timing is asserted: every wait is for a condition, bounded generously.
 */

import assert from "node:assert/strict";
import { E2eCluster, show, waitFor } from "./cluster.ts";
import {
  grant,
  Keeper,
  post,
  putLeased,
  readItem,
  type TxnItem,
} from "./lease_client.ts";

const TTL = 6;

Deno.test("leases and transactions on a real cluster", async (t) => {
  const c = await E2eCluster.start();
  try {
    await t.step(
      "a lease left alone expires: its keys disappear on every node, through the log",
      async () => {
        const leader = await c.waitLeader();
        const lease = await grant(c, leader, 2);
        await putLeased(c, leader, "alone/a", lease);
        await putLeased(c, leader, "alone/b", lease);
        for (const id of c.running()) {
          await waitFor(`alone/* gone on node ${id}`, async () => {
            const a = await c.request(c.keyUrl(id, "alone/a"));
            const b = await c.request(
              `${c.keyUrl(id, "alone/b")}?consistency=stale`,
            );
            return a?.status === 404 && b?.status === 404;
          }, 60_000);
          const r = await c.request(`${c.node(id).url}/v1/leases/${lease}`);
          assert.equal(r?.status, 404, show(r));
        }
      },
    );

    await t.step(
      "a lease kept alive through a follower survives a kill -9 of the leader",
      async () => {
        const leader = await c.waitLeader();
        const follower = c.running().find((id) => id !== leader)!;
        const lease = await grant(c, follower, TTL);
        await putLeased(c, follower, "kept/kill", lease);
        const before = await readItem(c, follower, "kept/kill");
        assert.ok(before);
        const keeper = new Keeper(c, lease, TTL, () => follower);
        try {
          await keeper.more(2, "keepalives before the kill");
          await c.kill(leader);
          const next = await c.waitLeader([leader], 60_000);
          assert.notEqual(next, leader);
          // More than a TTL's worth of keepalives under the new leader.
          await keeper.more(4, "keepalives after the kill");
          const after = await readItem(c, follower, "kept/kill");
          assert.equal(after?.createIndex, before.createIndex);
          assert.equal(after?.lease, lease);
        } finally {
          await keeper.stop();
        }
        c.spawn(leader);
        await c.waitLeader();
      },
    );

    await t.step(
      "SIGSTOP of the leader for longer than the TTL, keepalives elsewhere, SIGCONT: the key is never deleted",
      async () => {
        const leader = await c.waitLeader();
        const others = c.running().filter((id) => id !== leader);
        const lease = await grant(c, others[0]!, TTL);
        await putLeased(c, others[0]!, "kept/stop", lease);
        const before = await readItem(c, others[0]!, "kept/stop");
        assert.ok(before);
        const keeper = new Keeper(c, lease, TTL, () => others[0]!);
        try {
          await keeper.more(2, "keepalives before the pause");
          c.pause(leader);
          await c.waitLeader([leader], 60_000);
          // The paused leader's own countdown passes the TTL meanwhile:
          // wait for more than a TTL's worth of keepalives answered 200.
          await keeper.more(5, "keepalives while the old leader is paused");
          c.resume(leader);
          // The old leader wakes with expired countdowns in its old term;
          // let it rejoin and catch up while the keepalives go on.
          await waitFor("the old leader to rejoin as a follower", async () => {
            const s = await c.status(leader);
            const ref = await c.status(others[0]!);
            return s !== undefined && ref !== undefined &&
              s.role !== "leader" && s.term >= ref.term &&
              s.applied >= ref.commit;
          }, 60_000);
          await keeper.more(3, "keepalives after the resume");
          for (const id of c.running()) {
            const after = await readItem(c, id, "kept/stop");
            assert.equal(after?.createIndex, before.createIndex, `node ${id}`);
          }
        } finally {
          c.resume(leader);
          await keeper.stop();
        }
      },
    );

    await t.step(
      "two contenders cycle a lock while the leader is killed: a fencing resource sees fences only increase, none refused",
      async () => {
        const leader = await c.waitLeader();
        const via = c.running().find((id) => id !== leader)!;
        // The resource: accepts a write only with a fence >= the highest seen.
        let highest = 0;
        const accepted: number[] = [];
        const refused: string[] = [];
        const write = (who: string, fence: number) => {
          if (fence < highest) {
            refused.push(`${who}: fence ${fence} < ${highest}`);
          } else {
            highest = fence;
            accepted.push(fence);
          }
        };
        let cycles = 0;
        let stop = false;
        const contender = async (who: string) => {
          const lease = await grant(c, via, TTL);
          const keeper = new Keeper(c, lease, TTL, () => via);
          try {
            while (!stop) {
              const r = await post(c, via, "/v1/locks/res", {
                lease,
                wait: "3s",
              });
              if (r?.status !== 200) continue;
              const { fence } = JSON.parse(r.body);
              write(who, fence);
              cycles++;
              await waitFor("a release", async () => {
                const d = await c.request(
                  `${c.node(via).url}/v1/locks/res?lease=${lease}`,
                  { method: "DELETE" },
                );
                return d?.status === 204;
              });
            }
          } finally {
            await keeper.stop();
          }
        };
        const running = [contender("A"), contender("B")];
        await waitFor("cycles before the kill", () => cycles >= 10, 60_000);
        await c.kill(leader);
        await c.waitLeader([leader], 60_000);
        const atKill = cycles;
        await waitFor(
          "cycles after the kill",
          () => cycles >= atKill + 10,
          60_000,
        );
        stop = true;
        await Promise.all(running);
        assert.deepEqual(refused, []);
        for (let i = 1; i < accepted.length; i++) {
          assert.ok(accepted[i]! > accepted[i - 1]!, `fences ${accepted}`);
        }
        // Released at the end of every cycle; a request cut short by the kill
        // that left its key is retried with the same lease, so none is left
        // (or, at worst, goes with its lease once that is no longer kept alive).
        await waitFor("no lock key left behind", async () => {
          const left = await c.list(via, "_locks/res/");
          return left?.size === 0;
        }, 60_000);
        c.spawn(leader);
        await c.waitLeader();
      },
    );
    await t.step(
      "a txn moving a token between two keys under concurrent movers and writers never loses or duplicates it",
      async () => {
        const leader = await c.waitLeader();
        const init = await post(c, leader, "/v1/txn", {
          success: [
            { op: "put", key: "acct/a", value: "token" },
            { op: "put", key: "acct/b", value: "" },
          ],
        });
        assert.equal(init?.status, 200, show(init));
        let moves = 0;
        const violations: string[] = [];
        const mover = async (id: number, rounds: number) => {
          for (let i = 0; i < rounds; i++) {
            const r = await post(c, id, "/v1/txn", {
              success: [
                { op: "get", key: "acct/a" },
                { op: "get", key: "acct/b" },
              ],
            });
            if (r?.status !== 200) continue;
            const [a, b] = JSON.parse(r.body).results.map((
              x: { items: TxnItem[] },
            ) => x.items[0]!);
            const holders = [a, b].filter((x) => x.value === "token").length;
            if (holders !== 1) {
              violations.push(
                `index ${JSON.parse(r.body).index}: ${holders} tokens`,
              );
            }
            const [from, to] = a.value === "token" ? [a, b] : [b, a];
            const move = await post(c, id, "/v1/txn", {
              compare: [
                { key: from.key, target: "value", op: "==", value: "token" },
                { key: to.key, target: "value", op: "==", value: "" },
              ],
              success: [
                { op: "put", key: from.key, value: "" },
                { op: "put", key: to.key, value: "token" },
              ],
            });
            if (move?.status === 200 && JSON.parse(move.body).succeeded) {
              moves++;
            }
          }
        };
        const writer = async (id: number, rounds: number) => {
          for (let i = 0; i < rounds; i++) {
            await c.put(id, `noise/${id}`, `${i}`);
          }
        };
        const ids = c.running();
        await Promise.all([
          ...ids.map((id) => mover(id, 40)),
          ...ids.map((id) => writer(id, 40)),
        ]);
        assert.deepEqual(violations, []);
        assert.ok(moves > 0, "some moves succeeded");
        const a = await readItem(c, leader, "acct/a");
        const b = await readItem(c, leader, "acct/b");
        assert.equal(
          [a, b].filter((x) => x?.value === "token").length,
          1,
          "exactly one key holds the token",
        );
      },
    );
  } finally {
    await c.close();
  }
});
