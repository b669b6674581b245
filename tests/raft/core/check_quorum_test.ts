/**
 * CheckQuorum and the leader lease (dissertation §6.2 and §4.2.3): a leader
 * that has not heard from a quorum for an election timeout steps down, and
 * a node that heard from a live leader within the election timeout ignores
 * vote requests from would-be disruptors. On by default.
 */

import assert from "node:assert/strict";
import { Cluster } from "./harness.ts";
import { BASE, makeLeader, ofType, Peer } from "./peer.ts";

Deno.test("§6.2 CheckQuorum: a leader cut off from a quorum steps down within two election timeouts", () => {
  const p = new Peer(1, { config: { electionTicks: 10 } });
  makeLeader(p);
  let ticks = 0;
  while (p.raft.role === "leader") {
    p.tickFlush(1);
    ticks++;
    assert.ok(ticks <= 20, "still leader after two election timeouts");
  }
  assert.ok(ticks >= 10, `stepped down after only ${ticks} ticks`);
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.lead, 0);
});

Deno.test("§6.2 CheckQuorum: a leader that hears from a quorum (itself and one of two) stays leader", () => {
  const p = new Peer(1, { config: { electionTicks: 10 } });
  makeLeader(p);
  for (let i = 0; i < 100; i++) {
    for (const m of p.tickFlush(1)) {
      if (m.type === "heartbeat" && m.to === 2) {
        p.step({ type: "heartbeatResp", from: 2, term: m.term });
      }
    }
  }
  assert.equal(p.raft.role, "leader");
});

Deno.test("§6.2 CheckQuorum (control): with it off, a cut-off leader stays leader", () => {
  const p = new Peer(1, { config: { electionTicks: 10, checkQuorum: false } });
  makeLeader(p);
  p.tickFlush(100);
  assert.equal(p.raft.role, "leader");
});

Deno.test("§6.2 CheckQuorum: an isolated leader steps down and the majority side elects a new one", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(1);
  c.tickAll(60);
  assert.notEqual(c.get(1).node.status().role, "leader");
  assert.equal(
    c.get(1).node.status().term,
    2,
    "isolated, it only pre-campaigns",
  );
  const lead = c.leader();
  assert.ok(lead === 2 || lead === 3, `leader ${lead}`);
});

Deno.test("§4.2.3 lease: a follower that heard from its leader within the election timeout ignores vote requests", () => {
  const p = new Peer(2, { config: { electionTicks: 10 } });
  p.step({ type: "heartbeat", from: 1, term: 1 });
  p.flush();
  p.tick(5);
  p.step({ type: "vote", from: 3, term: 5, index: 100, logTerm: 5 });
  p.step({ type: "preVote", from: 3, term: 5, index: 100, logTerm: 5 });
  assert.deepEqual(p.flush(), [], "no answer at all");
  assert.equal(p.raft.term, 1);
  assert.equal(p.raft.lead, 1);
});

Deno.test("§4.2.3 lease: once the election timeout passes without the leader, the vote is granted", () => {
  const p = new Peer(2, { config: { electionTicks: 10 }, seed: 3 });
  p.step({ type: "heartbeat", from: 1, term: 1 });
  p.flush();
  p.tick(10);
  p.flush();
  p.step({ type: "vote", from: 3, term: 5, index: 100, logTerm: 5 });
  const [resp] = ofType(p.flush(), "voteResp");
  assert.equal(resp?.reject, false);
  assert.equal(p.raft.term, 5);
});

Deno.test("§4.2.3 lease: a leader ignores vote requests while it holds a quorum", () => {
  const p = new Peer(1);
  makeLeader(p);
  p.step({ type: "vote", from: 3, term: 9, index: BASE + 100, logTerm: 9 });
  assert.equal(p.raft.role, "leader");
  assert.equal(p.raft.term, 2);
});

Deno.test("§4.2.3 lease (control): without CheckQuorum a follower with a leader still votes in a higher term", () => {
  const p = new Peer(2, { config: { checkQuorum: false } });
  p.step({ type: "heartbeat", from: 1, term: 1 });
  p.flush();
  p.step({ type: "vote", from: 3, term: 5, index: 100, logTerm: 5 });
  const [resp] = ofType(p.flush(), "voteResp");
  assert.equal(resp?.reject, false);
  assert.equal(p.raft.term, 5);
});
