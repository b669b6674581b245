/**
 * Commitment (§5.3, §5.4.2): an entry commits once a majority of voters
 * store it, and a leader decides that by counting replicas only for entries
 * of its own term (Figure 8), which is why every new leader appends an
 * empty entry of its term at once.
 */

import assert from "node:assert/strict";
import { Cluster, data } from "./harness.ts";
import {
  BASE,
  CLASSIC,
  makeCommittedLeader,
  makeLeader,
  ofType,
  Peer,
  text,
} from "./peer.ts";

Deno.test("§5.3 a leader commits an entry once a majority of voters stored it, not before", () => {
  const cases = [
    { voters: [1], acks: 0, commits: true },
    { voters: [1, 2, 3], acks: 0, commits: false },
    { voters: [1, 2, 3], acks: 1, commits: true },
    { voters: [1, 2, 3, 4], acks: 1, commits: false },
    { voters: [1, 2, 3, 4], acks: 2, commits: true },
    { voters: [1, 2, 3, 4, 5], acks: 1, commits: false },
    { voters: [1, 2, 3, 4, 5], acks: 2, commits: true },
  ];
  for (const c of cases) {
    const p = new Peer(1, { voters: c.voters, config: CLASSIC });
    makeCommittedLeader(p);
    const before = p.raft.log.committed;
    p.node.propose(text("x"));
    const apps = ofType(p.flush(), "app");
    for (const m of apps.slice(0, c.acks)) {
      p.step({
        type: "appResp",
        from: m.to,
        term: m.term,
        index: m.index + m.entries.length,
      });
    }
    p.flush();
    assert.equal(
      p.raft.log.committed,
      c.commits ? before + 1 : before,
      JSON.stringify(c),
    );
    assert.equal(
      p.applied.some((e) => new TextDecoder().decode(e.data) === "x"),
      c.commits,
      JSON.stringify(c),
    );
  }
});

Deno.test("§5.3 committing an entry commits every entry before it, applied in order", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const before = p.raft.log.committed;
  for (const s of ["a", "b", "c"]) p.node.propose(text(s));
  p.flush();
  p.step({ type: "appResp", from: 2, term: 2, index: before + 3 });
  p.flush();
  assert.equal(p.raft.log.committed, before + 3);
  const tail = p.applied.slice(-3).map((
    e,
  ) => [e.index, new TextDecoder().decode(e.data)]);
  assert.deepEqual(tail, [[before + 1, "a"], [before + 2, "b"], [
    before + 3,
    "c",
  ]]);
});

Deno.test("§5.3 followers learn the commit index from the leader's next message and apply up to it", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.cutLink(1, 3);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  const commit = c.get(1).node.status().commit;
  assert.equal(c.get(2).node.status().commit, commit);
  assert.equal(c.get(3).node.status().commit, commit - 1);
  c.heal();
  c.tickAll(1);
  assert.equal(c.get(3).node.status().commit, commit);
  assert.deepEqual(c.appliedData(3), ["x"]);
});

Deno.test("§5.4.2 a new leader appends an empty entry of its term at once and sends it", () => {
  const p = new Peer(1, { log: [1, 1], term: 1, config: CLASSIC });
  const apps = makeLeader(p);
  const last = p.raft.log.lastIndex();
  assert.equal(last, BASE + 3);
  assert.equal(p.raft.log.term(last), 2);
  assert.equal(
    p.readies.flatMap((r) => r.entries).find((e) => e.index === last)?.data
      .length,
    0,
  );
  assert.deepEqual(
    apps.map((m) => [m.to, m.index, m.entries.map((e) => e.index)]),
    [
      [2, last - 1, [last]],
      [3, last - 1, [last]],
    ],
  );
});

Deno.test("§5.4.2 (Figure 8) a leader never commits an older-term entry by counting replicas", () => {
  // Leader log after BASE: index 2 term 1, index 3 term 2; it wins term 3
  // and appends its empty entry at index 4.
  const p = new Peer(1, { log: [1, 2], term: 2, config: CLASSIC });
  makeLeader(p);
  assert.equal(p.raft.term, 3);
  p.step({ type: "appResp", from: 2, term: 3, index: 3 });
  p.flush();
  assert.equal(
    p.status().commit,
    BASE,
    "index 3 (term 2) is on a majority but must not commit",
  );
  p.step({ type: "appResp", from: 2, term: 3, index: 4 });
  p.flush();
  assert.equal(
    p.status().commit,
    4,
    "the entry of term 3 commits, and index 3 with it",
  );
});

Deno.test("§5.4.2 (Figure 8) on five nodes: an old-term entry stored on a majority stays uncommitted and is safely overwritten", () => {
  const c = new Cluster([1, 2, 3, 4, 5], {
    config: { ...CLASSIC, maxMsgBytes: 1 },
  });
  const electAgain = (id: number): void => {
    for (let i = 0; i < 3 && c.get(id).node.status().role !== "leader"; i++) {
      c.elect(id);
    }
    assert.equal(
      c.get(id).node.status().role,
      "leader",
      `node ${id} not elected`,
    );
  };
  // (a) S1 leads term 2 and stores x (index i, term 2) on S1 and S2 only.
  electAgain(1);
  for (const id of [3, 4, 5]) c.cutLink(1, id);
  c.get(1).node.propose(data("x"));
  c.stabilize();
  const i = c.get(1).node.status().lastIndex;
  // (b) S1 crashes; S5 wins term 3 with S3, S4 and appends index i (term 3) alone.
  c.heal();
  c.restart(1);
  c.isolate(1);
  c.isolate(2);
  c.hook = (m) => !(m.from === 5 && m.type === "app");
  electAgain(5);
  assert.equal(c.get(5).node.raft.log.term(i), 3);
  // (c) S5 crashes; S1 comes back, wins term 4, and gets x onto S3 and S4,
  // while its own empty entry of term 4 reaches only S2.
  c.heal();
  c.restart(5);
  c.isolate(5);
  const probed = new Set<number>();
  c.hook = (m) => {
    if (
      m.type !== "app" || (m.to !== 3 && m.to !== 4) ||
      !m.entries.some((e) => e.term === 4)
    ) return true;
    if (probed.has(m.to)) return false;
    probed.add(m.to); // the first probe gets through: S3 and S4 lack index i and reject it
    return true;
  };
  electAgain(1);
  const t1 = c.get(1).node.status().term;
  for (const id of [1, 2, 3, 4]) {
    assert.equal(
      c.get(id).node.raft.log.term(i),
      2,
      `x is stored on node ${id}`,
    );
  }
  assert.ok(
    c.get(1).node.status().commit < i,
    "x (term 2) must not commit by counting replicas",
  );
  for (const id of [1, 2, 3, 4, 5]) assert.deepEqual(c.appliedData(id), []);
  // (d) S1 crashes; S5 can win again (its last entry has term 3) and
  // overwrite x everywhere: fine, because x was never committed.
  c.hook = undefined;
  c.heal();
  c.restart(1);
  c.isolate(1);
  electAgain(5);
  assert.ok(c.get(5).node.status().term > t1);
  c.heal();
  c.tickAll(3);
  for (const id of [1, 2, 3, 4, 5]) {
    assert.equal(
      c.get(id).node.raft.log.term(i),
      3,
      `node ${id} now holds S5's entry at ${i}`,
    );
    assert.deepEqual(
      c.appliedData(id),
      [],
      `node ${id} applied nothing but empty entries`,
    );
  }
});

Deno.test("§5.3 commit never moves back, even when a heartbeat carries a lower commit index", () => {
  const p = new Peer(2, { log: [1, 1, 1], term: 1, commit: 4 });
  p.step({ type: "heartbeat", from: 1, term: 1, commit: 2 });
  p.step({ type: "app", from: 1, term: 1, index: 4, logTerm: 1, commit: 3 });
  p.flush();
  assert.equal(p.raft.log.committed, 4);
});

Deno.test("§5.3 a heartbeat never tells a follower to commit beyond what it is known to hold", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.propose(text("x"));
  const [to2] = ofType(p.flush(), "app").filter((m) => m.to === 2);
  p.step({ type: "appResp", from: 2, term: 2, index: to2!.index + 1 });
  p.flush();
  const commit = p.raft.log.committed;
  const hb = ofType(p.tickFlush(1), "heartbeat");
  assert.deepEqual(hb.map((m) => [m.to, m.commit]), [[2, commit], [
    3,
    commit - 1,
  ]]);
});

Deno.test("§5.3 every node applies the same entries once each, at consecutive indexes", () => {
  const c = new Cluster([1, 2, 3, 4, 5], { seed: 7 });
  c.elect(1);
  for (let i = 0; i < 30; i++) {
    c.get(1 + (i % 5)).node.propose(data(`v${i}`));
    if (i % 7 === 0) c.isolate(2 + (i % 4));
    if (i % 7 === 3) c.heal();
    c.tickAll(1);
  }
  c.heal();
  c.tickAll(5);
  const ref = c.get(1).applied.map((e) => `${e.index}/${e.term}`);
  assert.ok(c.appliedData(1).length >= 20);
  for (const id of [1, 2, 3, 4, 5]) {
    const applied = c.get(id).applied;
    assert.deepEqual(
      applied.map((e) => `${e.index}/${e.term}`),
      ref,
      `node ${id}`,
    );
    for (let k = 1; k < applied.length; k++) {
      assert.equal(applied[k]!.index, applied[k - 1]!.index + 1);
    }
  }
});
