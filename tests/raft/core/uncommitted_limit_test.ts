/**
 * The leader's uncommitted-bytes limit (etcd's MaxUncommittedEntriesSize):
 * proposals beyond it are dropped with a typed error instead of growing the
 * log without bound while followers cannot keep up.
 */

import assert from "node:assert/strict";
import { decodeRefusal, OverloadedError } from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";
import { CLASSIC } from "./peer.ts";

const LIMIT = 100;

/** A three-node cluster led by node 1 whose followers hear nothing. */
function stalledCluster(): Cluster {
  const c = new Cluster([1, 2, 3], {
    config: { ...CLASSIC, maxUncommittedBytes: LIMIT },
  });
  c.elect(1);
  c.isolate(1);
  return c;
}

Deno.test("a leader drops a proposal that would pass its uncommitted-bytes limit", () => {
  const c = stalledCluster();
  const leader = c.get(1).node;
  leader.propose(data("a".repeat(60)));
  c.stabilize();
  assert.throws(
    () => leader.propose(data("b".repeat(60))),
    (e) => e instanceof OverloadedError && e.code === "overloaded",
  );
  // Up to the limit still fits.
  leader.propose(data("c".repeat(40)));
  c.stabilize();
  assert.throws(() => leader.propose(data("d")), OverloadedError);
  assert.equal(leader.raft.uncommittedBytes, LIMIT);

  // Once the entries commit, the budget comes back.
  c.heal();
  c.tickAll(2);
  assert.equal(leader.raft.uncommittedBytes, 0);
  leader.propose(data("e".repeat(60)));
  c.stabilize();
  assert.deepEqual(
    c.appliedData(2).map((s) => s[0]),
    ["a", "c", "e"],
  );
});

Deno.test("one proposal larger than the limit is accepted while nothing is uncommitted", () => {
  const c = stalledCluster();
  const leader = c.get(1).node;
  leader.propose(data("x".repeat(LIMIT * 3)));
  c.stabilize();
  assert.throws(() => leader.propose(data("y")), OverloadedError);
  c.heal();
  c.tickAll(2);
  assert.equal(c.appliedData(3)[0]?.length, LIMIT * 3);
});

Deno.test("a forwarded proposal beyond the limit is refused by the leader, not appended", () => {
  const c = new Cluster([1, 2, 3], {
    config: { maxUncommittedBytes: LIMIT },
  });
  c.elect(1);
  // Node 2 still reaches the leader, but node 3 is gone and node 2's acks
  // are lost, so nothing commits.
  c.cutLink(1, 3);
  c.hook = (m) => !(m.from === 2 && m.type === "appResp");
  const refusals: string[] = [];
  c.onReady = (t, rd) => {
    for (const r of rd.refused ?? []) {
      if (t.id === 2) refusals.push(decodeRefusal(r.reason).code);
    }
  };
  const leader = c.get(1).node;
  const last = leader.raft.log.lastIndex();
  c.get(2).node.propose(data("f".repeat(80)));
  c.stabilize();
  c.get(2).node.propose(data("g".repeat(80)));
  c.stabilize();
  assert.equal(leader.raft.log.lastIndex(), last + 1);
  assert.equal(leader.raft.uncommittedBytes, 80);
  // The follower learns why, and fails its caller with the same error.
  assert.deepEqual(refusals, ["overloaded"]);
});

Deno.test("a new leader starts with an empty uncommitted budget", () => {
  const c = stalledCluster();
  c.get(1).node.propose(data("a".repeat(90)));
  c.stabilize();
  assert.equal(c.get(1).node.raft.uncommittedBytes, 90);
  c.elect(2);
  const leader2 = c.get(2).node;
  assert.equal(leader2.status().role, "leader");
  assert.equal(leader2.raft.uncommittedBytes, 0);
  leader2.propose(data("b".repeat(90)));
  c.stabilize();
  c.heal();
  c.tickAll(2);
  assert.equal(c.leader(), 2);
  assert.deepEqual(c.appliedData(2).map((s) => s[0]), ["b"]);
  assert.equal(c.get(1).node.raft.uncommittedBytes, 0);
});
