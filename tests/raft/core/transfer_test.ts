/**
 * Leadership transfer (dissertation §3.10): the leader stops taking
 * proposals, brings the target's log up to date, then sends it TimeoutNow so
 * it campaigns at once; a transfer that does not finish within an election
 * timeout is abandoned.
 */

import assert from "node:assert/strict";
import {
  type Message,
  ProposalDroppedError,
  TransferRefusedError,
} from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";
import { makeCommittedLeader, ofType, Peer } from "./peer.ts";

Deno.test("§3.10 transfer: the leader catches the target up, then sends TimeoutNow, and the target wins at once", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  const term = c.get(1).node.status().term;
  c.cutLink(1, 3);
  for (const s of ["a", "b", "c"]) c.get(1).node.propose(data(s));
  c.stabilize();
  c.heal();
  const order: string[] = [];
  c.hook = (m) => {
    if (m.to !== 3 || (m.type !== "app" && m.type !== "timeoutNow")) {
      return true;
    }
    order.push(m.type);
    if (m.type === "timeoutNow") {
      assert.equal(
        c.get(3).node.status().lastIndex,
        c.get(1).node.status().lastIndex,
        "TimeoutNow only once the target holds the leader's whole log",
      );
    }
    return true;
  };
  c.get(1).node.transferLeader(3);
  c.stabilize(); // no ticks: no election timeout is involved
  assert.equal(order[0], "app");
  assert.ok(order.includes("timeoutNow"));
  assert.equal(c.leader(), 3);
  assert.equal(c.get(3).node.status().term, term + 1);
  assert.deepEqual(c.appliedData(3), ["a", "b", "c"]);
});

Deno.test("§3.10 transfer to an up-to-date target sends TimeoutNow at once", () => {
  const p = new Peer(1);
  makeCommittedLeader(p);
  p.node.transferLeader(2);
  assert.deepEqual(p.flush().map((m) => [m.type, m.to]), [["timeoutNow", 2]]);
});

Deno.test("§3.10 TimeoutNow makes a follower campaign at once, skipping PreVote and the lease of the others", () => {
  const target = new Peer(2);
  target.step({ type: "heartbeat", from: 1, term: 1 });
  target.flush();
  target.step({ type: "timeoutNow", from: 1, term: 1 });
  assert.equal(target.raft.role, "candidate");
  assert.equal(target.raft.term, 2);
  const votes = ofType(target.flush(), "vote");
  assert.deepEqual(votes.map((m) => m.to), [1, 3]);
  // A voter in its lease (it just heard from the leader) still answers a
  // vote that the leader itself asked for.
  const voter = new Peer(3);
  voter.step({ type: "heartbeat", from: 1, term: 1 });
  voter.flush();
  voter.node.step(votes.find((m) => m.to === 3)!);
  const [resp] = ofType(voter.flush(), "voteResp");
  assert.equal(resp?.reject, false);
});

Deno.test("§3.10 proposals are refused while a transfer is in progress", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.cutLink(1, 3);
  c.get(1).node.propose(data("before"));
  c.stabilize();
  c.get(1).node.transferLeader(3); // 3 is behind and unreachable: the transfer hangs
  c.stabilize();
  const lastIndex = c.get(1).node.status().lastIndex;
  assert.throws(
    () => c.get(1).node.propose(data("during")),
    ProposalDroppedError,
  );
  c.get(2).node.propose(data("forwarded")); // the leader drops it too
  c.stabilize();
  assert.equal(
    c.get(1).node.status().lastIndex,
    lastIndex,
    "nothing was appended",
  );
  assert.equal(c.get(1).node.status().role, "leader");
});

Deno.test("§3.10 a transfer that does not finish within an election timeout is aborted", () => {
  const c = new Cluster([1, 2, 3], { config: { electionTicks: 10 } });
  c.elect(1);
  c.cutLink(1, 3);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  c.get(1).node.transferLeader(3);
  c.stabilize();
  c.tickAll(9);
  assert.throws(
    () => c.get(1).node.propose(data("still moving")),
    ProposalDroppedError,
  );
  c.tickAll(1);
  assert.equal(c.leader(), 1);
  c.get(1).node.propose(data("y"));
  c.stabilize();
  assert.deepEqual(c.appliedData(2), ["x", "y"]);
});

Deno.test("§3.10 a follower forwards a transfer request to its leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  const seen: Message[] = [];
  c.hook = (m) => {
    if (m.type === "transferLeader") seen.push(m);
    return true;
  };
  c.get(2).node.transferLeader(3);
  c.stabilize();
  assert.deepEqual(seen.map((m) => [m.from, m.to, m.index]), [[2, 1, 3]]);
  assert.equal(c.leader(), 3);
});

Deno.test("§3.10 a transfer to a node that is not a voter is refused; to the leader itself it is a no-op", () => {
  const p = new Peer(1, { voters: [1, 2, 3], learners: [4] });
  makeCommittedLeader(p);
  assert.throws(() => p.node.transferLeader(4), TransferRefusedError);
  assert.throws(() => p.node.transferLeader(9), TransferRefusedError);
  p.node.transferLeader(1);
  assert.deepEqual(p.flush(), []);
  assert.equal(p.raft.leadTransferee, 0);
  p.node.propose(data("ok"));
});
