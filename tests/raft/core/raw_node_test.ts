/**
 * The Ready contract of RawNode (etcd's Ready/Advance): hard state and
 * entries come in the same Ready as the messages that depend on them, to be
 * persisted before those messages are sent; `mustSync` says when an fsync
 * is needed; a leader counts its own entries toward commit only after
 * `advance()`; one Ready is outstanding at a time.
 */

import assert from "node:assert/strict";
import {
  AssertionError,
  type Message,
  type Ready,
} from "../../../raft/core/mod.ts";
import { Cluster, data, type TestNode } from "./harness.ts";
import {
  BASE,
  CLASSIC,
  entry,
  makeCommittedLeader,
  ofType,
  Peer,
  text,
} from "./peer.ts";

/**
 * Checks, at the moment a Ready's messages may be sent, that everything they
 * promise is already in the node's storage (the contract's step 1 before 2).
 */
function checkPersistedBeforeSend(t: TestNode, rd: Ready, seed: number): void {
  const hs = t.storage.hardState();
  for (const m of rd.messages) {
    const where = `seed ${seed}, node ${t.id} sending ${m.type} to ${m.to}`;
    if (m.term > 0 && m.type !== "preVote" && m.type !== "preVoteResp") {
      assert.ok(
        hs.term >= m.term,
        `${where}: term ${m.term} not persisted (${hs.term})`,
      );
    }
    if (m.type === "vote") {
      assert.deepEqual(
        [hs.term, hs.vote],
        [m.term, t.id],
        `${where}: own vote not persisted`,
      );
    }
    if (m.type === "voteResp" && !m.reject) {
      assert.deepEqual(
        [hs.term, hs.vote],
        [m.term, m.to],
        `${where}: granted vote not persisted`,
      );
    }
    if (m.type === "appResp" && !m.reject && m.index > 0) {
      assert.ok(
        t.storage.lastIndex() >= m.index,
        `${where}: acks ${m.index}, storage ends at ${t.storage.lastIndex()}`,
      );
    }
    if (m.type === "app") {
      for (const e of m.entries) {
        assert.equal(
          t.storage.term(e.index),
          e.term,
          `${where}: entry ${e.index} not persisted by its leader`,
        );
      }
    }
  }
  if (rd.hardState) {
    assert.ok(
      t.storage.lastIndex() >= rd.hardState.commit,
      `seed ${seed}, node ${t.id}: commit beyond its persisted log`,
    );
  }
}

Deno.test("Ready contract: every message's term, vote and entries are persisted by the time it may be sent", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const c = new Cluster([1, 2, 3], { seed });
    c.onReady = (t, rd) => checkPersistedBeforeSend(t, rd, seed);
    for (let i = 0; i < 40; i++) {
      const lead = c.leader();
      if (lead !== 0 && i % 3 === 0) c.get(lead).node.propose(data(`v${i}`));
      if (i === 15) c.isolate(lead === 0 ? 1 : lead);
      if (i === 28) c.heal();
      c.tickAll(1);
    }
    assert.notEqual(c.leader(), 0, `seed ${seed}`);
  }
});

Deno.test("Ready contract: a granted vote and the new term come in the Ready that carries the answer", () => {
  const p = new Peer(2, { config: CLASSIC });
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  const rd = p.node.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: BASE });
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.to, m.reject]), [[
    "voteResp",
    1,
    false,
  ]]);
  p.node.advance();
});

Deno.test("Ready contract: a follower's new entries come in the Ready that carries its acknowledgement", () => {
  const p = new Peer(2, { term: 2 });
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [entry(2, 2), entry(3, 2)],
    commit: BASE,
  });
  const rd = p.node.ready();
  assert.deepEqual(rd.entries.map((e) => e.index), [2, 3]);
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.messages.map((m) => [m.type, m.index]), [["appResp", 3]]);
  p.node.advance();
});

Deno.test("mustSync: true when term, vote or entries change; false when only the commit index moves", () => {
  const p = new Peer(2, { log: [1, 1], term: 1 });
  p.step({ type: "heartbeat", from: 1, term: 1, commit: 3 });
  const rd = p.node.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 0, commit: 3 });
  assert.equal(rd.mustSync, false);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [2, 3]);
  p.node.advance();
  p.step({ type: "heartbeat", from: 1, term: 2, commit: 3 });
  const rd2 = p.node.ready();
  assert.equal(rd2.mustSync, true, "new term");
  p.node.advance();
});

Deno.test("mustSync: a vote cast in the current term needs an fsync even though the term did not change", () => {
  const p = new Peer(2, { term: 2, config: CLASSIC });
  p.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  const rd = p.node.ready();
  assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: BASE });
  assert.equal(rd.mustSync, true);
  p.node.advance();
});

Deno.test("mustSync: a snapshot from the leader must be durable before the answer that acknowledges it", () => {
  // The answer tells the leader this node holds everything up to the
  // snapshot's index; if the snapshot were lost in a crash, the leader's
  // next heartbeat would carry a commit index beyond this node's log.
  const p = new Peer(2, { term: 2, config: CLASSIC });
  p.step({
    type: "snap",
    from: 1,
    term: 2,
    snapshot: {
      meta: { index: 9, term: 2, conf: { voters: [1, 2, 3], learners: [] } },
      data: new Uint8Array(),
    },
  });
  const rd = p.node.ready();
  assert.equal(rd.snapshot?.meta.index, 9);
  assert.deepEqual(rd.entries, []);
  assert.deepEqual(ofType(rd.messages, "appResp").map((m) => m.index), [9]);
  assert.equal(rd.mustSync, true);
  p.storage.applySnapshot(rd.snapshot!);
  p.node.advance();
});

Deno.test("Ready contract: a single-node leader counts its own entry toward commit only after advance()", () => {
  const p = new Peer(1, { voters: [1] });
  p.node.campaign();
  assert.equal(p.raft.role, "leader");
  const rd = p.node.ready();
  const noop = rd.entries.at(-1)!;
  assert.equal(noop.term, 2);
  assert.deepEqual(
    rd.committedEntries,
    [],
    "not durable yet, so not committed",
  );
  assert.equal(p.raft.log.committed, BASE);
  p.storage.append(rd.entries);
  if (rd.hardState) p.storage.setHardState(rd.hardState);
  p.node.advance();
  assert.equal(p.raft.log.committed, noop.index);
  const rd2 = p.node.ready();
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [noop.index]);
  p.node.advance();

  p.node.propose(text("x"));
  const rd3 = p.node.ready();
  assert.equal(rd3.entries.length, 1);
  assert.deepEqual(rd3.committedEntries, []);
  p.storage.append(rd3.entries);
  p.node.advance();
  assert.equal(p.raft.log.committed, noop.index + 1);
});

Deno.test("Ready contract: with followers' acks in hand, the leader still waits for its own write before committing (3 nodes)", () => {
  // Two of three is a majority only if the leader's own copy counts, and it
  // counts only once advance() reports it durable.
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.propose(text("x"));
  const rd = p.node.ready(); // the leader's write of x is in flight
  const [app] = ofType(rd.messages, "app").filter((m) => m.to === 2);
  const ack: Message = {
    ...app!,
    type: "appResp",
    from: 2,
    to: 1,
    index: app!.index + 1,
    entries: [],
  };
  p.node.step(ack);
  assert.equal(
    p.raft.log.committed,
    app!.index,
    "2's ack alone is not a majority",
  );
  p.storage.append(rd.entries);
  p.node.advance();
  assert.equal(p.raft.log.committed, app!.index + 1);
});

Deno.test("one Ready outstanding: hasReady() is false and ready() throws until advance()", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  assert.equal(p.node.hasReady(), true);
  p.node.ready();
  assert.equal(p.node.hasReady(), false);
  assert.throws(() => p.node.ready(), AssertionError);
  p.node.advance();
  assert.throws(
    () => p.node.advance(),
    AssertionError,
    "advance() without ready()",
  );
  assert.equal(p.node.hasReady(), false, "nothing new since");
});

Deno.test("softState reports role and leader changes, once each", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  const rd = p.node.ready();
  assert.deepEqual(rd.softState, { role: "candidate", leader: 0 });
  p.node.advance();
  p.step({ type: "voteResp", from: 2, term: 2 });
  const rd2 = p.node.ready();
  assert.deepEqual(rd2.softState, { role: "leader", leader: 1 });
  p.storage.append(rd2.entries);
  p.node.advance();
  p.node.propose(text("x"));
  assert.equal(p.node.ready().softState, undefined);
  p.node.advance();
});

Deno.test("step() drops messages addressed to another node, from id 0, or of an unknown type", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.step({ ...msg("app"), to: 9 });
  p.node.step({ ...msg("app"), from: 0 });
  p.node.step({ ...msg("app"), type: "hup" as Message["type"] });
  assert.equal(p.raft.term, 1);
  assert.equal(p.node.hasReady(), false);
  p.node.step(msg("app"));
  assert.equal(p.raft.term, 5);
});

function msg(type: Message["type"]): Message {
  return {
    type,
    from: 2,
    to: 1,
    term: 5,
    logTerm: 1,
    index: BASE,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectTerm: 0,
    context: "",
  };
}

Deno.test("committed entries per Ready are bounded by maxCommittedBytesPerReady, and all arrive in order", () => {
  const p = new Peer(2, {
    log: [1, 1, 1, 1],
    term: 1,
    config: { maxCommittedBytesPerReady: 40 },
  });
  p.step({ type: "heartbeat", from: 1, term: 1, commit: 5 });
  p.flush();
  const batches = p.readies.map((r) => r.committedEntries.map((e) => e.index))
    .filter((b) => b.length > 0);
  assert.deepEqual(batches, [[2, 3], [4, 5]]);
});

Deno.test("restart: a node rebuilt from its storage keeps log, hard state and membership and does not re-apply", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.propose(data("a"));
  c.stabilize();
  const before = c.get(2).node.status();
  const t = c.restart(2);
  const after = t.node.status();
  assert.deepEqual(
    [
      after.term,
      after.vote,
      after.commit,
      after.applied,
      after.lastIndex,
      after.conf,
    ],
    [
      before.term,
      before.vote,
      before.commit,
      before.applied,
      before.lastIndex,
      before.conf,
    ],
  );
  assert.equal(after.role, "follower");
  assert.equal(t.node.hasReady(), false, "nothing to re-apply");
  c.get(1).node.propose(data("b"));
  c.stabilize();
  assert.deepEqual(c.appliedData(2), ["a", "b"]);
});
