/**
 * Per-follower replication progress (etcd's tracker design): probe,
 * replicate and snapshot states, the in-flight window that bounds how far
 * the leader runs ahead of acknowledgements, and how the leader moves a
 * follower between the states.
 */

import assert from "node:assert/strict";
import { Progress } from "../../../raft/core/progress.ts";
import {
  BASE,
  CLASSIC,
  makeCommittedLeader,
  makeLeader,
  ofType,
  Peer,
  text,
} from "./peer.ts";

Deno.test("progress probe: one append at a time; an acknowledgement or a heartbeat answer unpauses", () => {
  const pr = new Progress(5, 4, false);
  assert.equal(pr.state, "probe");
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(7, 2);
  assert.equal(pr.isPaused(), true, "a probe waits for its answer");
  assert.equal(pr.next, 5, "probing does not move next optimistically");
  assert.equal(pr.maybeUpdate(7), true);
  assert.equal(pr.isPaused(), false);
  assert.deepEqual([pr.match, pr.next], [7, 8]);
});

Deno.test("progress replicate: at most maxInflight appends unanswered; answers free the window in order", () => {
  const pr = new Progress(1, 3, false);
  pr.maybeUpdate(4);
  pr.becomeReplicate();
  assert.equal(pr.next, 5);
  pr.sentEntries(6, 2);
  pr.sentEntries(7, 1);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(9, 2);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 10, "replicate moves next optimistically");
  pr.sentEntries(9, 0);
  assert.deepEqual(pr.inflights, [6, 7, 9], "an empty append takes no slot");
  pr.freeInflightsTo(7);
  assert.deepEqual(pr.inflights, [9]);
  assert.equal(pr.isPaused(), false);
});

Deno.test("progress: a rejection in replicate state restarts from match+1; a stale one (<= match) is ignored", () => {
  const pr = new Progress(1, 8, false);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  pr.sentEntries(9, 4);
  assert.equal(pr.maybeDecrTo(4, 0), false, "stale rejection");
  assert.equal(pr.next, 10);
  assert.equal(pr.maybeDecrTo(8, 3), true);
  assert.equal(pr.next, 6);
});

Deno.test("progress: in probe state only the rejection of the outstanding probe counts, and the hint moves next", () => {
  const pr = new Progress(11, 8, false);
  pr.sentEntries(11, 1);
  assert.equal(
    pr.maybeDecrTo(7, 2),
    false,
    "not the probe in flight (next-1 = 10)",
  );
  assert.equal(pr.maybeDecrTo(10, 4), true);
  assert.equal(pr.next, 5, "next = hint + 1");
  assert.equal(pr.isPaused(), false, "ready to probe again");
  assert.equal(pr.maybeDecrTo(4, 100), true);
  assert.equal(pr.next, 4, "never beyond the rejected index");
  pr.maybeUpdate(2);
  assert.equal(pr.maybeDecrTo(3, 0), true);
  assert.equal(pr.next, 3, "never at or below match");
});

Deno.test("progress snapshot: paused until the snapshot is reported; probing resumes after it", () => {
  const pr = new Progress(3, 8, false);
  pr.maybeUpdate(2);
  pr.becomeSnapshot(20);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.state, "probe");
  assert.equal(pr.next, 21);
});

Deno.test("a new leader probes each follower: no second append until the first is answered", () => {
  const p = new Peer(1, { config: CLASSIC });
  const first = makeLeader(p);
  assert.deepEqual(first.map((m) => m.to), [2, 3]);
  assert.deepEqual(p.status().peers.map((s) => [s.id, s.state]), [
    [1, "replicate"],
    [2, "probe"],
    [3, "probe"],
  ]);
  p.node.propose(text("a"));
  p.node.propose(text("b"));
  assert.deepEqual(
    ofType(p.flush(), "app"),
    [],
    "probing followers are paused",
  );
  const [toTwo] = first;
  p.step({ type: "appResp", from: 2, term: 2, index: toTwo!.index + 1 });
  const apps = ofType(p.flush(), "app").filter((m) => m.to === 2);
  assert.equal(p.status().peers[1]!.state, "replicate");
  assert.deepEqual(
    apps.flatMap((m) => m.entries.map((e) => new TextDecoder().decode(e.data))),
    ["a", "b"],
  );
});

Deno.test("a heartbeat answer unpauses a probing follower whose probe was lost", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeLeader(p); // probes to 2 and 3 are "lost"
  p.step({ type: "heartbeatResp", from: 2, term: 2 });
  const apps = ofType(p.flush(), "app");
  assert.deepEqual(apps.map((m) => m.to), [2], "the leader probes 2 again");
});

Deno.test("replicate state: the leader streams at most maxInflightMsgs unanswered appends to a follower", () => {
  const p = new Peer(1, { config: { ...CLASSIC, maxInflightMsgs: 2 } });
  makeCommittedLeader(p);
  const sent: number[][] = [];
  for (const s of ["a", "b", "c", "d", "e"]) {
    p.node.propose(text(s));
    for (const m of ofType(p.flush(), "app")) {
      if (m.to === 2) sent.push(m.entries.map((e) => e.index));
    }
  }
  const base = p.raft.log.lastIndex() - 5;
  assert.deepEqual(
    sent,
    [[base + 1], [base + 2]],
    "two in flight, then paused",
  );
  assert.equal(
    p.status().peers.find((s) => s.id === 2)?.inflight,
    2,
    "status() counts the unanswered appends",
  );
  p.step({ type: "appResp", from: 2, term: 2, index: base + 1 });
  const more = ofType(p.flush(), "app").filter((m) =>
    m.to === 2 && m.entries.length > 0
  );
  assert.deepEqual(more.map((m) => m.entries.map((e) => e.index)), [[
    base + 3,
    base + 4,
    base + 5,
  ]]);
  const s2 = p.status().peers.find((s) => s.id === 2)!;
  assert.deepEqual([s2.state, s2.match, s2.next, s2.inflight], [
    "replicate",
    base + 1,
    base + 6,
    2,
  ]);
});

Deno.test("a rejection from a replicating follower sends it back to probe from its match", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const match = p.raft.log.lastIndex();
  p.node.propose(text("a"));
  p.node.propose(text("b"));
  p.flush();
  p.step({
    type: "appResp",
    from: 2,
    term: 2,
    index: match + 2,
    reject: true,
    rejectHint: match,
    rejectTerm: 2,
  });
  const [retry] = ofType(p.flush(), "app").filter((m) => m.to === 2);
  const s2 = p.status().peers.find((s) => s.id === 2)!;
  assert.equal(s2.state, "probe");
  assert.deepEqual([retry?.index, retry?.entries.length], [match, 2]);
});

Deno.test("reportUnreachable moves a replicating follower to probe", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.reportUnreachable(2);
  assert.equal(p.status().peers.find((s) => s.id === 2)?.state, "probe");
  assert.equal(p.status().peers.find((s) => s.id === 3)?.state, "replicate");
});

Deno.test("status() on the leader shows each peer's match, next and state; followers show none", () => {
  const p = new Peer(1, { voters: [1, 2, 3], learners: [4], config: CLASSIC });
  makeLeader(p);
  const last = p.raft.log.lastIndex();
  p.step({ type: "appResp", from: 2, term: 2, index: last });
  p.flush();
  const st = p.status();
  assert.equal(st.role, "leader");
  assert.equal(st.term, 2);
  assert.equal(st.leader, 1);
  assert.equal(st.commit, last);
  assert.equal(st.applied, last);
  assert.equal(st.lastIndex, last);
  assert.equal(st.snapshotIndex, BASE);
  assert.deepEqual(st.conf, { voters: [1, 2, 3], learners: [4] });
  assert.deepEqual(
    st.peers.map((s) => [s.id, s.match, s.next, s.state, s.learner]),
    [
      [1, last, last + 1, "replicate", false],
      [2, last, last + 1, "replicate", false],
      [3, 0, last, "probe", false],
      [4, 0, last, "probe", true],
    ],
  );
  const f = new Peer(2);
  f.step({ type: "heartbeat", from: 1, term: 3 });
  const fs = f.status();
  assert.deepEqual([fs.role, fs.term, fs.leader, fs.peers], [
    "follower",
    3,
    1,
    [],
  ]);
});
