/**
 * Leader election (§5.1, §5.2) and the election restriction (§5.4.1), in
 * the style of etcd's raft_paper_test.go: one node under test, the others
 * played by hand-made messages. PreVote and CheckQuorum are off here (the
 * paper's algorithm); prevote_test.ts and check_quorum_test.ts cover them.
 */

import assert from "node:assert/strict";
import { MemoryStorage, RawNode, seededRng } from "../../../raft/core/mod.ts";
import { BASE, CLASSIC, makeLeader, ofType, Peer } from "./peer.ts";
import { Cluster } from "./harness.ts";

Deno.test("§5.1 a follower that sees a higher term adopts it (and the sender as leader for an append)", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.step({ type: "app", from: 2, term: 5, index: BASE, logTerm: 1 });
  assert.equal(p.raft.term, 5);
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.lead, 2);
  assert.equal(p.raft.vote, 0);
});

Deno.test("§5.1 a candidate that sees a higher term reverts to follower", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  assert.equal(p.raft.role, "candidate");
  p.step({ type: "heartbeat", from: 3, term: 4 });
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 4);
  assert.equal(p.raft.lead, 3);
});

Deno.test("§5.1 a leader that sees a higher term reverts to follower", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeLeader(p);
  const term = p.raft.term;
  p.step({ type: "vote", from: 2, term: term + 1, index: 100, logTerm: 100 });
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, term + 1);
  assert.equal(p.raft.lead, 0);
});

Deno.test("§5.1 a request with a stale term is rejected: the log is unchanged", () => {
  const p = new Peer(1, { term: 3, config: CLASSIC });
  p.step({
    type: "app",
    from: 2,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [{ index: 2, term: 2, type: "normal", data: new Uint8Array() }],
  });
  const msgs = p.flush();
  assert.equal(p.raft.log.lastIndex(), BASE);
  assert.equal(p.raft.term, 3);
  assert.equal(
    ofType(msgs, "appResp").filter((m) => !m.reject && m.index > BASE).length,
    0,
  );
});

Deno.test("§5.1 a stale leader learns the newer term from the answer to its append and steps down", () => {
  // With PreVote or CheckQuorum on, the newer node answers a stale append
  // with its term; otherwise the stale leader would never hear of it.
  const follower = new Peer(2, { term: 7 });
  follower.step({ type: "app", from: 1, term: 5, index: BASE, logTerm: 1 });
  const [resp] = ofType(follower.flush(), "appResp");
  assert.ok(resp, "the newer node answers the stale append");
  assert.equal(resp.term, 7);

  const leader = new Peer(1, { term: 4 });
  makeLeader(leader);
  assert.equal(leader.raft.term, 5);
  leader.node.step(resp);
  assert.equal(leader.raft.role, "follower");
  assert.equal(leader.raft.term, 7);
});

Deno.test("§5.2 a follower that hears nothing campaigns after its election timeout", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const p = new Peer(1, { config: { ...CLASSIC, electionTicks: 10 }, seed });
    let ticks = 0;
    while (p.raft.role === "follower") {
      p.tick();
      ticks++;
      assert.ok(ticks < 100, "never campaigned");
    }
    assert.ok(
      ticks >= 10 && ticks < 20,
      `campaigned after ${ticks} ticks (seed ${seed})`,
    );
    assert.equal(p.raft.role, "candidate");
    assert.equal(p.raft.term, 2);
    const votes = ofType(p.flush(), "vote");
    assert.deepEqual(votes.map((m) => m.to).sort(), [2, 3]);
    for (const m of votes) {
      assert.equal(m.term, 2);
      assert.equal(m.index, BASE);
      assert.equal(m.logTerm, 1);
    }
  }
});

Deno.test("§5.2 election timeouts are randomized in [electionTicks, 2*electionTicks)", () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) {
    const p = new Peer(1, { config: { ...CLASSIC, electionTicks: 10 }, seed });
    const t = p.raft.randomizedElectionTimeout;
    assert.ok(t >= 10 && t < 20, `timeout ${t} out of range (seed ${seed})`);
    seen.add(t);
  }
  assert.ok(
    seen.size >= 8,
    `only ${seen.size} distinct timeouts over 200 seeds`,
  );
});

Deno.test("§5.2 the same seed gives the same election timeout (injected RNG, no ambient randomness)", () => {
  const a = new Peer(1, { seed: 42 }), b = new Peer(1, { seed: 42 });
  for (let i = 0; i < 5; i++) {
    assert.equal(
      a.raft.randomizedElectionTimeout,
      b.raft.randomizedElectionTimeout,
    );
    a.node.campaign();
    b.node.campaign();
    a.tick(30);
    b.tick(30);
  }
});

Deno.test("§5.2 a follower that keeps hearing from its leader never campaigns", () => {
  const p = new Peer(1, { config: { ...CLASSIC, electionTicks: 10 } });
  for (let i = 0; i < 100; i++) {
    p.tick(9);
    p.step({ type: "heartbeat", from: 2, term: 1 });
    p.flush();
  }
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 1);
  assert.equal(p.raft.lead, 2);
});

Deno.test("§5.2 a candidate votes for itself, persists term and vote, and requests votes in the same Ready", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  const rd = p.node.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: BASE });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(ofType(rd.messages, "vote").map((m) => m.to).sort(), [2, 3]);
  p.node.advance();
});

Deno.test("§5.2 a candidate wins with votes from a majority; loses with rejections from a majority", () => {
  const cases: {
    voters: number[];
    votes: Record<number, boolean>;
    want: string;
  }[] = [
    { voters: [1], votes: {}, want: "leader" },
    { voters: [1, 2, 3], votes: { 2: true, 3: true }, want: "leader" },
    { voters: [1, 2, 3], votes: { 2: true }, want: "leader" },
    { voters: [1, 2, 3], votes: {}, want: "candidate" },
    { voters: [1, 2, 3], votes: { 2: false }, want: "candidate" },
    { voters: [1, 2, 3], votes: { 2: false, 3: false }, want: "follower" },
    { voters: [1, 2, 3, 4, 5], votes: { 2: true, 3: true }, want: "leader" },
    { voters: [1, 2, 3, 4, 5], votes: { 2: true }, want: "candidate" },
    {
      voters: [1, 2, 3, 4, 5],
      votes: { 2: false, 3: false },
      want: "candidate",
    },
    {
      voters: [1, 2, 3, 4, 5],
      votes: { 2: false, 3: false, 4: false },
      want: "follower",
    },
    {
      voters: [1, 2, 3, 4, 5],
      votes: { 2: true, 3: false, 4: false, 5: true },
      want: "leader",
    },
    { voters: [1, 2, 3, 4], votes: { 2: true }, want: "candidate" },
    { voters: [1, 2, 3, 4], votes: { 2: true, 3: true }, want: "leader" },
    { voters: [1, 2, 3, 4], votes: { 2: false, 3: false }, want: "follower" },
  ];
  for (const c of cases) {
    const p = new Peer(1, { voters: c.voters, config: CLASSIC });
    p.node.campaign();
    for (const [from, granted] of Object.entries(c.votes)) {
      p.step({
        type: "voteResp",
        from: Number(from),
        term: 2,
        reject: !granted,
      });
    }
    assert.equal(p.raft.role, c.want, JSON.stringify(c));
    if (c.want === "leader") assert.equal(p.raft.lead, 1);
  }
});

Deno.test("§5.2 a voter grants at most one vote per term, first come first served", () => {
  const p = new Peer(2, { config: CLASSIC });
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  p.step({ type: "vote", from: 3, term: 2, index: BASE, logTerm: 1 });
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  const resps = ofType(p.flush(), "voteResp");
  assert.deepEqual(resps.map((m) => [m.to, m.reject]), [[1, false], [3, true], [
    1,
    false,
  ]]);
  assert.equal(p.raft.vote, 1);
  assert.equal(p.storage.hardState().vote, 1);
});

Deno.test("§5.2 granting a vote resets the election timer: the voter does not run against the candidate at once", () => {
  // The vote comes in the voter's current term, so no term change resets
  // the timer: only the grant does.
  const p = new Peer(2, {
    term: 2,
    config: { ...CLASSIC, electionTicks: 10 },
    seed: 5,
  });
  const timeout = p.raft.randomizedElectionTimeout;
  p.tick(timeout - 1);
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  p.flush();
  p.tick(timeout - 1);
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 2);
});

Deno.test("§5.2 (Figure 2) term and vote survive a restart, so a node never votes twice in a term", () => {
  const p = new Peer(2, { config: CLASSIC });
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  p.flush();
  const restarted = new RawNode({
    id: 2,
    storage: p.storage,
    rng: seededRng(9),
    ...CLASSIC,
  });
  assert.equal(restarted.status().term, 2);
  assert.equal(restarted.status().vote, 1);
  restarted.step({
    type: "vote",
    from: 3,
    to: 2,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectTerm: 0,
    context: "",
  });
  const rd = restarted.ready();
  assert.deepEqual(rd.messages.map((m) => [m.type, m.to, m.reject]), [[
    "voteResp",
    3,
    true,
  ]]);
});

Deno.test("§5.2 a candidate that hears from a leader of its own term becomes its follower", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  p.step({ type: "app", from: 3, term: 2, index: BASE, logTerm: 1 });
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 2);
  assert.equal(p.raft.lead, 3);
  const [resp] = ofType(p.flush(), "appResp");
  assert.equal(resp?.reject, false);
});

Deno.test("§5.2 a candidate whose election splits starts a new one in a higher term after a timeout", () => {
  const p = new Peer(1, { config: { ...CLASSIC, electionTicks: 10 } });
  p.node.campaign();
  assert.equal(p.raft.term, 2);
  p.flush();
  p.tick(20);
  assert.equal(p.raft.role, "candidate");
  assert.equal(p.raft.term, 3);
  assert.deepEqual(ofType(p.flush(), "vote").map((m) => [m.to, m.term]), [[
    2,
    3,
  ], [3, 3]]);
});

Deno.test("§5.2 a leader sends heartbeats every heartbeatTicks to keep its authority", () => {
  const p = new Peer(1, { config: { ...CLASSIC, heartbeatTicks: 3 } });
  makeLeader(p);
  p.flush();
  assert.deepEqual(ofType(p.tickFlush(2), "heartbeat"), []);
  const hb = ofType(p.tickFlush(1), "heartbeat");
  assert.deepEqual(hb.map((m) => [m.to, m.term]), [[2, 2], [3, 2]]);
});

Deno.test("§5.2 elections in a real cluster: one leader, everyone agrees on it", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const c = new Cluster([1, 2, 3, 4, 5], { seed, config: CLASSIC });
    c.tickAll(40);
    const lead = c.leader();
    assert.notEqual(lead, 0, `no leader (seed ${seed})`);
    for (const t of c.nodes.values()) {
      assert.equal(t.node.status().leader, lead, `seed ${seed}`);
    }
  }
});

Deno.test("§5.4.1 election restriction: a voter rejects a candidate with a less up-to-date log", () => {
  // Voter log after BASE: terms [1, 2] → last entry (index 3, term 2).
  const cases: { index: number; logTerm: number; grant: boolean }[] = [
    { index: 3, logTerm: 2, grant: true }, // same last entry
    { index: 4, logTerm: 2, grant: true }, // same term, longer
    { index: 2, logTerm: 2, grant: false }, // same term, shorter
    { index: 9, logTerm: 1, grant: false }, // longer but older last term
    { index: 3, logTerm: 1, grant: false },
    { index: 2, logTerm: 3, grant: true }, // newer last term beats length
    { index: 1, logTerm: 1, grant: false },
  ];
  for (const c of cases) {
    const p = new Peer(2, { log: [1, 2], term: 2, config: CLASSIC });
    p.step({
      type: "vote",
      from: 1,
      term: 3,
      index: c.index,
      logTerm: c.logTerm,
    });
    const [resp] = ofType(p.flush(), "voteResp");
    assert.equal(resp?.reject, !c.grant, JSON.stringify(c));
    assert.equal(p.raft.vote, c.grant ? 1 : 0, JSON.stringify(c));
  }
});

Deno.test("§5.4.1 a node missing a committed entry cannot win: the cluster elects one that has it", () => {
  const c = new Cluster([1, 2, 3], { config: CLASSIC });
  c.elect(1);
  c.cutLink(1, 3);
  c.get(1).node.propose(new TextEncoder().encode("x"));
  c.stabilize();
  assert.deepEqual(c.appliedData(1), ["x"]);
  assert.deepEqual(c.appliedData(3), []);
  c.isolate(1);
  c.cut.delete("3->2");
  c.cut.delete("2->3");
  c.elect(3);
  assert.equal(
    c.get(3).node.status().role,
    "candidate",
    "2 must refuse its vote to 3",
  );
  c.elect(2);
  assert.equal(c.get(2).node.status().role, "leader");
  assert.deepEqual(c.appliedData(2), ["x"]);
  assert.deepEqual(
    c.appliedData(3),
    ["x"],
    "the new leader brings 3 the committed entry",
  );
});

Deno.test("§5.2 a learner or a node outside the membership never campaigns", () => {
  const p = new Peer(4, { voters: [1, 2, 3], learners: [4], config: CLASSIC });
  p.tick(100);
  p.node.campaign();
  assert.equal(p.raft.role, "follower");
  assert.equal(p.raft.term, 1);
  const stranger = new RawNode({
    id: 9,
    storage: new MemoryStorage(),
    rng: seededRng(1),
  });
  for (let i = 0; i < 100; i++) stranger.tick();
  assert.equal(stranger.status().role, "follower");
  assert.equal(stranger.hasReady(), false);
});
