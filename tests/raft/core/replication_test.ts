/**
 * Log replication (§5.3): AppendEntries, the Log Matching consistency
 * check, conflict resolution, fast backtracking with the conflict
 * term/index hint, the per-message byte limit and proposal forwarding.
 */

import assert from "node:assert/strict";
import {
  type Message,
  NoLeaderError,
  type RaftConfig,
} from "../../../raft/core/mod.ts";
import { entryBytes } from "../../../raft/core/storage.ts";
import { Cluster, data } from "./harness.ts";
import {
  ackAppends,
  BASE,
  CLASSIC,
  entry,
  logTerms,
  makeCommittedLeader,
  makeLeader,
  ofType,
  Peer,
  storageWith,
  text,
} from "./peer.ts";

Deno.test("§5.3 a leader appends a proposal to its log and sends it with prevIndex, prevTerm and commit to every follower", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const commit = p.raft.log.committed;
  p.node.propose(text("x"));
  const rd = p.node.ready();
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[commit + 1, 2]]);
  const apps = ofType(rd.messages, "app");
  assert.deepEqual(apps.map((m) => m.to), [2, 3]);
  for (const m of apps) {
    assert.equal(m.index, commit);
    assert.equal(m.logTerm, 2);
    assert.equal(m.commit, commit);
    assert.deepEqual(m.entries.map((e) => new TextDecoder().decode(e.data)), [
      "x",
    ]);
  }
  p.node.advance();
});

Deno.test("§5.3 a follower accepts entries that follow a matching prevIndex/prevTerm and acknowledges its last new index", () => {
  const p = new Peer(2, { log: [1, 2], term: 2 });
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: 3,
    logTerm: 2,
    entries: [entry(4, 2), entry(5, 2)],
  });
  const rd = p.node.ready();
  assert.deepEqual(
    rd.entries.map((e) => e.index),
    [4, 5],
    "the new entries are persisted",
  );
  assert.deepEqual(
    ofType(rd.messages, "appResp").map((m) => [m.reject, m.index]),
    [[false, 5]],
  );
  p.storage.append(rd.entries);
  p.node.advance();
  assert.deepEqual(logTerms(p), [1, 2, 2, 2]);
});

Deno.test("§5.3 consistency check: a follower rejects an append whose prevIndex/prevTerm it does not hold", () => {
  const cases = [
    { name: "missing prevIndex", index: 5, logTerm: 2 },
    { name: "other term at prevIndex", index: 3, logTerm: 3 },
  ];
  for (const c of cases) {
    const p = new Peer(2, { log: [1, 2], term: 3 });
    p.step({
      type: "app",
      from: 1,
      term: 3,
      index: c.index,
      logTerm: c.logTerm,
      entries: [entry(c.index + 1, 3)],
    });
    const [resp] = ofType(p.flush(), "appResp");
    assert.equal(resp?.reject, true, c.name);
    assert.equal(resp?.index, c.index, c.name);
    assert.deepEqual(logTerms(p), [1, 2], c.name);
  }
});

Deno.test("§5.3 log matching: a follower truncates a conflicting uncommitted tail", () => {
  const p = new Peer(2, { log: [1, 2, 2, 2], term: 3 });
  p.step({
    type: "app",
    from: 1,
    term: 3,
    index: 3,
    logTerm: 2,
    entries: [entry(4, 3), entry(5, 3)],
  });
  const rd = p.node.ready();
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[4, 3], [5, 3]]);
  p.storage.append(rd.entries);
  p.node.advance();
  assert.deepEqual(logTerms(p), [1, 2, 3, 3], "index 6 (term 2) is gone too");
  assert.equal(
    p.storage.lastIndex(),
    5,
    "the storage dropped the conflicting tail",
  );
});

Deno.test("§5.3 a stale or duplicate append never truncates the entries that follow it", () => {
  const p = new Peer(2, { log: [1, 1, 1], term: 1 });
  p.step({
    type: "app",
    from: 1,
    term: 1,
    index: 2,
    logTerm: 1,
    entries: [entry(3, 1)],
  });
  const [resp] = ofType(p.flush(), "appResp");
  assert.deepEqual([resp?.reject, resp?.index], [false, 3]);
  assert.deepEqual(logTerms(p), [1, 1, 1], "entry 4 survives");
});

Deno.test("§5.3 a follower sets its commit to min(leaderCommit, index of its last new entry)", () => {
  const cases = [
    { leaderCommit: 3, want: 3 },
    { leaderCommit: 9, want: 4 }, // beyond what this append proved matching
    { leaderCommit: 1, want: BASE },
  ];
  for (const c of cases) {
    const p = new Peer(2, { log: [1, 1, 1, 1], term: 1 });
    p.step({
      type: "app",
      from: 1,
      term: 1,
      index: 3,
      logTerm: 1,
      entries: [entry(4, 1)],
      commit: c.leaderCommit,
    });
    p.flush();
    assert.equal(p.raft.log.committed, c.want, JSON.stringify(c));
    assert.equal(
      p.applied.at(-1)?.index ?? BASE,
      c.want,
      "and applies up to it",
    );
  }
});

Deno.test("§5.3 an append below the follower's commit index is answered with that commit index", () => {
  const p = new Peer(2, { log: [1, 1, 1], term: 1, commit: 4 });
  p.step({
    type: "app",
    from: 1,
    term: 1,
    index: 2,
    logTerm: 1,
    entries: [entry(3, 1)],
  });
  const [resp] = ofType(p.flush(), "appResp");
  assert.deepEqual([resp?.reject, resp?.index], [false, 4]);
});

Deno.test("§5.3 fast backtracking: the follower's rejection names the conflicting term and the last index at or below it", () => {
  // Figure 7 (f): 1 1 1 2 2 2 3 3 3 3 3 against a leader whose entry 11 is of term 6.
  const p = new Peer(2, { log: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], term: 7 });
  p.step({
    type: "app",
    from: 1,
    term: 8,
    index: 11,
    logTerm: 6,
    entries: [entry(12, 8)],
  });
  const [resp] = ofType(p.flush(), "appResp");
  assert.deepEqual(
    [resp?.reject, resp?.index, resp?.rejectHint, resp?.rejectTerm],
    [true, 11, 11, 3],
  );
});

Deno.test("§5.3 fast backtracking: the leader skips every entry of a term the follower cannot match in one step", () => {
  // Leader log: 1 1 1 4 4 5 5 6 6 6 (Figure 7), leading term 8.
  const p = new Peer(1, {
    log: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    term: 7,
    config: CLASSIC,
  });
  makeLeader(p);
  p.step({
    type: "appResp",
    from: 2,
    term: 8,
    index: 11,
    reject: true,
    rejectHint: 11,
    rejectTerm: 3,
  });
  const [app] = ofType(p.flush(), "app").filter((m) => m.to === 2);
  // The leader's last index with term <= 3 is 4 (term 1): probe from there.
  assert.deepEqual([app?.index, app?.logTerm], [4, 1]);
});

Deno.test("§5.3 fast backtracking with the conflict term/index hint: at most one round trip per Figure 7 follower", () => {
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: { name: string; log: number[]; rejections: number }[] = [
    { name: "a", log: [1, 1, 1, 4, 4, 5, 5, 6, 6], rejections: 1 },
    { name: "b", log: [1, 1, 1, 4], rejections: 1 },
    { name: "c", log: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], rejections: 0 },
    { name: "d", log: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], rejections: 0 },
    { name: "e", log: [1, 1, 1, 4, 4, 4, 4], rejections: 1 },
    { name: "f", log: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], rejections: 1 },
  ];
  for (const f of followers) {
    const c = new Cluster([], { config: CLASSIC });
    c.addNode(1, storageWith({ log: leaderLog, term: 7 }));
    c.addNode(2, storageWith({ log: f.log, term: 7 }));
    c.addNode(3, storageWith({ log: leaderLog, term: 7 }));
    let rejections = 0;
    c.hook = (m) => {
      if (m.type === "appResp" && m.from === 2 && m.reject) rejections++;
      return true;
    };
    c.elect(1);
    assert.equal(c.leader(), 1, f.name);
    assert.equal(
      rejections,
      f.rejections,
      `follower (${f.name}): ${rejections} rejected appends`,
    );
    const want = [...leaderLog, 8];
    const got = c.get(2).node.raft.log;
    for (let i = BASE + 1; i <= BASE + want.length; i++) {
      assert.equal(
        got.term(i),
        want[i - BASE - 1],
        `follower (${f.name}) index ${i}`,
      );
    }
    assert.equal(got.lastIndex(), BASE + want.length, f.name);
    assert.equal(got.committed, BASE + want.length, f.name);
  }
});

Deno.test("§5.3 fast backtracking: a follower 60 entries into a stale term catches up after a single rejection", () => {
  const c = new Cluster([], { config: CLASSIC });
  c.addNode(1, storageWith({ log: Array(50).fill(3), term: 3 }));
  c.addNode(2, storageWith({ log: Array(60).fill(2), term: 3 }));
  c.addNode(3, storageWith({ log: Array(50).fill(3), term: 3 }));
  let rejections = 0;
  c.hook = (m) => {
    if (m.type === "appResp" && m.reject) rejections++;
    return true;
  };
  c.elect(1);
  assert.equal(rejections, 1);
  assert.equal(c.get(2).node.raft.log.lastIndex(), BASE + 51);
  assert.equal(c.get(2).node.raft.log.term(BASE + 50), 3);
});

function appsTo(to: number, sink: Message[]): (m: Message) => boolean {
  return (m) => {
    if (m.type === "app" && m.to === to) sink.push(m);
    return true;
  };
}

Deno.test("maxMsgBytes: a lagging follower is caught up with appends that each fit the byte limit", () => {
  const maxMsgBytes = 250; // two 100-byte entries (116 bytes each as counted)
  const c = new Cluster([1, 2, 3], { config: { maxMsgBytes } });
  c.elect(1);
  c.isolate(3);
  const want: string[] = [];
  for (let i = 0; i < 10; i++) {
    const s = `${i}`.padStart(100, "x");
    want.push(s);
    c.get(1).node.propose(data(s));
    c.stabilize();
  }
  const sent: Message[] = [];
  c.heal();
  c.hook = appsTo(3, sent);
  c.tickAll(3);
  assert.deepEqual(c.appliedData(3), want);
  const withEntries = sent.filter((m) => m.entries.length > 0);
  for (const m of withEntries) {
    const bytes = m.entries.reduce((n, e) => n + entryBytes(e), 0);
    assert.ok(
      bytes <= maxMsgBytes,
      `append of ${m.entries.length} entries, ${bytes} bytes`,
    );
  }
  assert.ok(
    withEntries.some((m) => m.entries.length === 2),
    "entries are batched up to the limit",
  );
  assert.ok(
    withEntries.length >= 5,
    `only ${withEntries.length} appends carried 10 entries`,
  );
});

Deno.test("maxMsgBytes: an entry larger than the limit still travels, alone", () => {
  const c = new Cluster([1, 2, 3], { config: { maxMsgBytes: 10 } });
  c.elect(1);
  c.isolate(3);
  for (let i = 0; i < 4; i++) {
    c.get(1).node.propose(data(`entry-${i}-`.padEnd(64, ".")));
    c.stabilize();
  }
  const sent: Message[] = [];
  c.heal();
  c.hook = appsTo(3, sent);
  c.tickAll(3);
  assert.equal(c.appliedData(3).length, 4);
  assert.ok(sent.every((m) => m.entries.length <= 1));
});

Deno.test("§5.3 a leader retries a follower that missed appends until its log matches (heartbeat response triggers it)", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  for (const s of ["a", "b", "c"]) {
    c.get(1).node.propose(data(s));
    c.stabilize();
  }
  assert.deepEqual(c.appliedData(3), []);
  c.heal();
  c.stabilize();
  assert.deepEqual(
    c.appliedData(3),
    [],
    "nothing moves until the next heartbeat",
  );
  c.tickAll(1);
  assert.deepEqual(c.appliedData(3), ["a", "b", "c"]);
});

Deno.test("proposals made on a follower are forwarded to the leader and commit everywhere", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  const props: Message[] = [];
  c.hook = (m) => {
    if (m.type === "prop") props.push(m);
    return true;
  };
  c.get(3).node.propose(data("from-3"));
  c.stabilize();
  assert.deepEqual(props.map((m) => [m.from, m.to]), [[3, 1]]);
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ["from-3"]);
});

Deno.test("a proposal with no leader fails at once with NoLeaderError (never silently lost)", () => {
  const configs: Partial<RaftConfig>[] = [CLASSIC, {}];
  for (const config of configs) {
    const follower = new Peer(1, { config });
    assert.throws(() => follower.node.propose(text("x")), NoLeaderError);
    const candidate = new Peer(1, { config });
    candidate.node.campaign();
    candidate.flush();
    assert.throws(() => candidate.node.propose(text("x")), NoLeaderError);
    assert.deepEqual(candidate.flush(), [], "nothing was queued");
    assert.throws(
      () =>
        candidate.node.proposeConfChange({
          type: "addLearner",
          node: 4,
          context: "",
        }),
      NoLeaderError,
    );
  }
});

Deno.test("a leader that lost leadership with a proposal in flight never reports it committed", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.propose(text("lost"));
  const apps = ofType(p.flush(), "app");
  p.step({
    type: "app",
    from: 2,
    term: 3,
    index: BASE,
    logTerm: 1,
    commit: BASE,
  });
  p.flush();
  ackAppends(p, apps);
  p.flush();
  assert.equal(p.raft.role, "follower");
  assert.ok(
    !p.applied.some((e) => new TextDecoder().decode(e.data) === "lost"),
  );
});
