/**
 * PreVote (dissertation §9.6): a node first asks whether it could win
 * before it bumps its term, so a node that was partitioned away does not
 * disrupt a working leader when it comes back. On by default.
 */

import assert from "node:assert/strict";
import { Cluster, data } from "./harness.ts";
import { BASE, ofType, Peer } from "./peer.ts";

Deno.test("§9.6 PreVote: a pre-candidate keeps its term and vote and persists nothing", () => {
  const p = new Peer(1);
  while (p.raft.role === "follower") p.tick();
  assert.equal(p.raft.role, "preCandidate");
  assert.equal(p.raft.term, 1);
  const rd = p.node.ready();
  assert.equal(rd.hardState, undefined, "no new term or vote to persist");
  assert.equal(rd.mustSync, false);
  const pre = ofType(rd.messages, "preVote");
  assert.deepEqual(pre.map((m) => [m.to, m.term, m.index, m.logTerm]), [[
    2,
    2,
    BASE,
    1,
  ], [3, 2, BASE, 1]]);
  p.node.advance();
});

Deno.test("§9.6 PreVote: a pre-candidate that wins the pre-vote runs a real election in the next term", () => {
  const p = new Peer(1);
  p.node.campaign();
  p.flush();
  p.step({ type: "preVoteResp", from: 2, term: 2 });
  assert.equal(p.raft.role, "candidate");
  assert.equal(p.raft.term, 2);
  assert.equal(p.raft.vote, 1);
  assert.deepEqual(ofType(p.flush(), "vote").map((m) => [m.to, m.term]), [[
    2,
    2,
  ], [3, 2]]);
});

Deno.test("§9.6 PreVote: a pre-candidate rejected by a majority goes back to follower in its old term", () => {
  const p = new Peer(1);
  p.node.campaign();
  p.flush();
  p.step({ type: "preVoteResp", from: 2, term: 1, reject: true });
  assert.equal(p.raft.role, "preCandidate");
  p.step({ type: "preVoteResp", from: 3, term: 1, reject: true });
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 1);
});

Deno.test("§9.6 PreVote: a voter grants a pre-vote without changing its own term or vote", () => {
  const p = new Peer(2);
  p.step({ type: "preVote", from: 1, term: 2, index: BASE, logTerm: 1 });
  const [resp] = ofType(p.flush(), "preVoteResp");
  assert.equal(resp?.reject, false);
  assert.equal(resp?.term, 2, "a grant answers in the candidate's future term");
  assert.equal(p.raft.term, 1);
  assert.equal(p.raft.vote, 0);
  assert.deepEqual(p.storage.hardState(), { term: 1, vote: 0, commit: BASE });
});

Deno.test("§9.6 PreVote: the election restriction (§5.4.1) applies to pre-votes", () => {
  const p = new Peer(2, { log: [1, 2], term: 2 });
  p.step({ type: "preVote", from: 1, term: 3, index: 10, logTerm: 1 });
  const [resp] = ofType(p.flush(), "preVoteResp");
  assert.equal(resp?.reject, true);
  assert.equal(p.raft.term, 2);
});

Deno.test("§9.6 PreVote: a pre-vote from a stale term is refused with the newer term, which ends the pre-campaign", () => {
  const voter = new Peer(2, { term: 5 });
  voter.step({ type: "preVote", from: 1, term: 3, index: BASE, logTerm: 1 });
  const [resp] = ofType(voter.flush(), "preVoteResp");
  assert.deepEqual([resp?.reject, resp?.term], [true, 5]);
  const cand = new Peer(1, { term: 2 });
  cand.node.campaign();
  cand.flush();
  cand.node.step(resp!);
  assert.equal(cand.raft.role, "follower");
  assert.equal(cand.raft.term, 5);
});

function partitionAndRejoin(
  config: { preVote: boolean; checkQuorum: boolean },
): {
  termBefore: number;
  termsAfter: number[];
  leaderAfter: number;
} {
  const c = new Cluster([1, 2, 3], { config });
  c.elect(1);
  const termBefore = c.get(1).node.status().term;
  c.isolate(3);
  c.tickAll(100);
  c.heal();
  c.tickAll(30);
  return {
    termBefore,
    termsAfter: [1, 2, 3].map((id) => c.get(id).node.status().term),
    leaderAfter: c.leader(),
  };
}

Deno.test("§9.6 PreVote: a partitioned node rejoining does not bump the term or disrupt the leader", () => {
  const r = partitionAndRejoin({ preVote: true, checkQuorum: true });
  assert.equal(r.leaderAfter, 1);
  assert.deepEqual(r.termsAfter, [r.termBefore, r.termBefore, r.termBefore]);
});

Deno.test("§9.6 PreVote (control): without it the rejoining node's inflated term deposes the leader", () => {
  // Shows what the previous test guards against: the isolated node's term
  // climbs, and once back it forces a new election.
  const r = partitionAndRejoin({ preVote: false, checkQuorum: true });
  assert.ok(r.termsAfter.every((t) => t > r.termBefore + 1), JSON.stringify(r));
});

Deno.test("§9.6 PreVote: a rejoining node whose log fell behind gets no pre-votes, even without CheckQuorum", () => {
  const c = new Cluster([1, 2, 3], {
    config: { preVote: true, checkQuorum: false },
  });
  c.elect(1);
  const term = c.get(1).node.status().term;
  c.isolate(3);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  c.tickAll(100);
  c.heal();
  c.tickAll(30);
  assert.equal(c.leader(), 1);
  for (const id of [1, 2, 3]) assert.equal(c.get(id).node.status().term, term);
  assert.deepEqual(c.appliedData(3), ["x"]);
});
