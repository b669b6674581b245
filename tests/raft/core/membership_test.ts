/**
 * Membership changes, one server at a time (dissertation §4.1): adding a
 * learner, promoting it, removing a member; at most one change pending; a
 * new leader commits an entry of its term before any change; a change that
 * would leave no reachable quorum is refused; the leader cannot remove
 * itself; learners neither vote nor count for commit; a membership takes
 * effect when appended and is rolled back when its entry is truncated.
 */

import assert from "node:assert/strict";
import {
  type ConfChange,
  ConfChangeRefusedError,
  decodeConfChange,
  encodeConfChange,
  type Entry,
} from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";
import {
  ackAppends,
  BASE,
  CLASSIC,
  makeCommittedLeader,
  makeLeader,
  ofType,
  Peer,
} from "./peer.ts";

function confEntry(index: number, term: number, cc: ConfChange): Entry {
  return { index, term, type: "conf", data: encodeConfChange(cc) };
}

/** A committed three-node cluster led by 1, plus a fresh node 4 with an empty log. */
function clusterWithLearner(): Cluster {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.addNode(4);
  c.get(1).node.proposeConfChange({
    type: "addLearner",
    node: 4,
    context: "url-4",
  });
  c.stabilize();
  return c;
}

Deno.test("§4.1 add a learner: it receives the whole log and the new membership, and applies what the others apply", () => {
  const c = clusterWithLearner();
  for (const id of [1, 2, 3, 4]) {
    assert.deepEqual(c.get(id).node.status().conf, {
      voters: [1, 2, 3],
      learners: [4],
    }, `node ${id}`);
  }
  c.get(1).node.propose(data("a"));
  c.stabilize();
  assert.deepEqual(c.appliedData(4), ["a"]);
  const confs = c.get(4).applied.filter((e) => e.type === "conf").map((e) =>
    decodeConfChange(e.data)
  );
  assert.deepEqual(confs.at(-1), {
    type: "addLearner",
    node: 4,
    context: "url-4",
  });
  const pr4 = c.get(1).node.status().peers.find((p) => p.id === 4);
  assert.deepEqual([pr4?.learner, pr4?.state], [true, "replicate"]);
});

Deno.test("§4.1 promote a learner to voter: it then counts for commit and may campaign", () => {
  const c = clusterWithLearner();
  c.get(1).node.proposeConfChange({
    type: "addVoter",
    node: 4,
    context: "url-4",
  });
  c.stabilize();
  assert.deepEqual(c.get(4).node.status().conf, {
    voters: [1, 2, 3, 4],
    learners: [],
  });
  // With four voters a commit needs three: 1 and 2 alone no longer suffice.
  c.cutLink(1, 3);
  c.cutLink(1, 4);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  assert.deepEqual(c.appliedData(1), []);
  c.heal();
  c.cutLink(1, 3);
  c.tickAll(1);
  assert.deepEqual(c.appliedData(1), ["x"]);
  c.heal();
  c.get(1).node.transferLeader(4);
  c.stabilize();
  assert.equal(c.leader(), 4, "a voter now, it can win an election");
});

Deno.test("§4.1 remove a voter: the leader stops replicating to it and the quorum shrinks", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.proposeConfChange({ type: "remove", node: 3, context: "" });
  c.stabilize();
  assert.deepEqual(c.get(1).node.status().conf, {
    voters: [1, 2],
    learners: [],
  });
  assert.deepEqual(c.get(1).node.status().peers.map((p) => p.id), [1, 2]);
  const toThree: string[] = [];
  c.hook = (m) => {
    if (m.to === 3) toThree.push(m.type);
    return true;
  };
  c.get(1).node.propose(data("after"));
  c.tickAll(5);
  assert.deepEqual(toThree, []);
  assert.deepEqual(c.appliedData(2), ["after"]);
});

Deno.test("§4.1 at most one membership change is pending at a time", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.addNode(4);
  c.addNode(5);
  const leader = c.get(1).node;
  leader.proposeConfChange({ type: "addLearner", node: 4, context: "" });
  assert.throws(
    () =>
      leader.proposeConfChange({ type: "addLearner", node: 5, context: "" }),
    ConfChangeRefusedError,
  );
  c.stabilize();
  leader.proposeConfChange({ type: "addLearner", node: 5, context: "" });
  c.stabilize();
  assert.deepEqual(c.get(1).node.status().conf.learners, [4, 5]);
});

Deno.test("§4.1 a change forwarded from a follower is dropped by the leader if another is pending", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.proposeConfChange({ type: "addLearner", node: 4, context: "" });
  c.get(2).node.proposeConfChange({ type: "addLearner", node: 5, context: "" });
  c.stabilize();
  assert.deepEqual(c.get(1).node.status().conf.learners, [4]);
  const confs = c.get(2).applied.filter((e) => e.type === "conf");
  assert.equal(decodeConfChange(confs.at(-1)!.data).node, 4);
});

Deno.test("§4.1 a new leader must commit an entry of its term before it accepts a change", () => {
  const p = new Peer(1, { config: CLASSIC });
  const apps = makeLeader(p);
  const cc: ConfChange = { type: "addLearner", node: 4, context: "" };
  assert.throws(() => p.node.proposeConfChange(cc), ConfChangeRefusedError);
  ackAppends(p, apps);
  p.flush();
  p.node.proposeConfChange(cc);
  assert.deepEqual(p.raft.conf().learners, [4]);
});

Deno.test("§4.1 a change that would leave no reachable quorum is refused", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  c.tickAll(15); // 3 has been silent for longer than an election timeout
  const leader = c.get(1).node;
  assert.equal(leader.status().role, "leader");
  assert.throws(
    () => leader.proposeConfChange({ type: "remove", node: 2, context: "" }),
    ConfChangeRefusedError,
    "voters {1, 3} with 3 unreachable have no quorum",
  );
  // Adding a voter nobody has heard from: {1, 2, 3, 4} needs three of 1, 2.
  assert.throws(
    () => leader.proposeConfChange({ type: "addVoter", node: 4, context: "" }),
    ConfChangeRefusedError,
  );
  leader.proposeConfChange({ type: "remove", node: 3, context: "" });
  c.stabilize();
  assert.deepEqual(leader.status().conf.voters, [1, 2]);
});

Deno.test("§4.1 a lone voter cannot add a voter directly (no quorum until it answers): add a learner first", () => {
  const c = new Cluster([1]);
  c.elect(1);
  c.addNode(2);
  const leader = c.get(1).node;
  assert.throws(
    () => leader.proposeConfChange({ type: "addVoter", node: 2, context: "" }),
    ConfChangeRefusedError,
  );
  leader.proposeConfChange({ type: "addLearner", node: 2, context: "" });
  c.stabilize();
  leader.proposeConfChange({ type: "addVoter", node: 2, context: "" });
  c.stabilize();
  assert.deepEqual(c.get(2).node.status().conf.voters, [1, 2]);
});

Deno.test("§4.1 a malformed or doubled membership change forwarded by a peer is dropped, never thrown out of step()", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const last = p.raft.log.lastIndex();
  const garbage = {
    index: 0,
    term: 0,
    type: "conf" as const,
    data: new TextEncoder().encode("{not json"),
  };
  const two = [
    confEntry(0, 0, { type: "addLearner", node: 4, context: "" }),
    confEntry(0, 0, { type: "addLearner", node: 5, context: "" }),
  ];
  p.step({ type: "prop", from: 2, term: 0, entries: [garbage] });
  p.step({ type: "prop", from: 2, term: 0, entries: two });
  p.flush();
  assert.equal(p.raft.log.lastIndex(), last, "nothing appended");
  assert.equal(p.raft.role, "leader");
});

Deno.test("§4.1 the leader cannot remove itself (transfer leadership first)", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  assert.throws(
    () =>
      c.get(1).node.proposeConfChange({ type: "remove", node: 1, context: "" }),
    ConfChangeRefusedError,
  );
});

Deno.test("§4.1 changes that make no sense are refused: a voter twice, a stranger removed, a voter demoted", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  const leader = c.get(1).node;
  const bad: ConfChange[] = [
    { type: "addVoter", node: 2, context: "" },
    { type: "remove", node: 9, context: "" },
    { type: "addLearner", node: 3, context: "" },
  ];
  for (const cc of bad) {
    assert.throws(
      () => leader.proposeConfChange(cc),
      ConfChangeRefusedError,
      JSON.stringify(cc),
    );
  }
});

Deno.test("§4.1 learners never count toward commit", () => {
  const c = clusterWithLearner();
  c.cutLink(1, 2);
  c.cutLink(1, 3);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  assert.equal(
    c.get(4).node.raft.log.lastIndex(),
    c.get(1).node.status().lastIndex,
    "the learner stored it",
  );
  assert.deepEqual(
    c.appliedData(1),
    [],
    "leader + learner is not a majority of {1, 2, 3}",
  );
  c.heal();
  c.tickAll(1);
  assert.deepEqual(c.appliedData(1), ["x"]);
});

Deno.test("§4.1 learners never count toward commit, however many of them hold the entry", () => {
  // Leader plus two learners would be three of five members: still not a
  // majority of the three voters.
  const p = new Peer(1, {
    voters: [1, 2, 3],
    learners: [4, 5],
    config: CLASSIC,
  });
  makeCommittedLeader(p);
  const before = p.raft.log.committed;
  p.node.propose(data("x"));
  const apps = ofType(p.flush(), "app");
  ackAppends(p, apps.filter((m) => m.to === 4 || m.to === 5));
  p.flush();
  assert.equal(p.raft.log.committed, before);
  ackAppends(p, apps.filter((m) => m.to === 2));
  p.flush();
  assert.equal(p.raft.log.committed, before + 1);
});

Deno.test("§4.1 learners never vote: candidates do not ask them and their votes do not count", () => {
  const p = new Peer(1, { voters: [1, 2, 3], learners: [4], config: CLASSIC });
  p.node.campaign();
  assert.deepEqual(ofType(p.flush(), "vote").map((m) => m.to), [2, 3]);
  p.step({ type: "voteResp", from: 4, term: 2 });
  assert.equal(p.raft.role, "candidate");
  p.step({ type: "voteResp", from: 2, term: 2 });
  assert.equal(p.raft.role, "leader");
});

Deno.test("§4.1 a membership takes effect when appended, and is rolled back when its entry is truncated", () => {
  const p = new Peer(2, { term: 2, config: CLASSIC });
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [confEntry(2, 2, { type: "addLearner", node: 4, context: "" })],
    commit: BASE,
  });
  p.flush();
  assert.deepEqual(
    p.raft.conf(),
    { voters: [1, 2, 3], learners: [4] },
    "in force before it commits",
  );
  // A new leader of term 3 never had that entry: its append truncates it.
  p.step({
    type: "app",
    from: 3,
    term: 3,
    index: BASE,
    logTerm: 1,
    entries: [{ index: 2, term: 3, type: "normal", data: new Uint8Array() }],
    commit: BASE,
  });
  p.flush();
  assert.equal(p.raft.log.term(2), 3);
  assert.deepEqual(
    p.raft.conf(),
    { voters: [1, 2, 3], learners: [] },
    "rolled back",
  );
});

Deno.test("§4.1 rollback restores the previous membership, not the base one, when only the newer change is truncated", () => {
  const p = new Peer(2, { term: 2, config: CLASSIC });
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [
      confEntry(2, 2, { type: "addLearner", node: 4, context: "" }),
      confEntry(3, 2, { type: "addVoter", node: 4, context: "" }),
    ],
    commit: 2,
  });
  p.flush();
  assert.deepEqual(p.raft.conf().voters, [1, 2, 3, 4]);
  p.step({
    type: "app",
    from: 3,
    term: 3,
    index: 2,
    logTerm: 2,
    entries: [{ index: 3, term: 3, type: "normal", data: new Uint8Array() }],
    commit: 2,
  });
  p.flush();
  assert.deepEqual(p.raft.conf(), { voters: [1, 2, 3], learners: [4] });
});

Deno.test("§4.1 the conf change survives a restart: memberships are rebuilt from the log", () => {
  const c = clusterWithLearner();
  const t = c.restart(2);
  assert.deepEqual(t.node.status().conf, { voters: [1, 2, 3], learners: [4] });
});
