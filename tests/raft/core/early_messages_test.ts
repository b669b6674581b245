/**
 * `RawNode.takeEarlyMessages`: what may go out before the pending write is
 * durable (a leader's appends, heartbeats and snapshots, in a term and vote
 * already durable) and what must wait for its Ready (append and vote
 * responses, anything of a term not yet durable, anything a follower or a
 * candidate says). The runtime calls it while a Ready is being written, so
 * these tests hold a Ready outstanding and look at what comes out.
 */

import assert from "node:assert/strict";
import type { Message } from "../../../raft/core/mod.ts";
import {
  BASE,
  CLASSIC,
  entry,
  makeCommittedLeader,
  ofType,
  Peer,
  text,
} from "./peer.ts";

const kinds = (msgs: Message[]) => msgs.map((m) => `${m.type}->${m.to}`);

Deno.test("early messages: a leader's heartbeats made by ticks during a pending write are handed out, once", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.propose(text("x"));
  const rd = p.node.ready(); // the write of x is in flight
  assert.equal(rd.entries.length, 1);
  p.tick();
  const early = p.node.takeEarlyMessages();
  assert.deepEqual(kinds(early).sort(), ["heartbeat->2", "heartbeat->3"]);
  assert.deepEqual(p.node.takeEarlyMessages(), [], "handed out once");
  assert.deepEqual(p.raft.msgs, [], "nothing left for the next Ready");
  p.storage.append(rd.entries);
  p.node.advance();
});

Deno.test("early messages: a proposal's appends go out during a pending write, but the leader counts only its durable entries", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.propose(text("x"));
  const rd = p.node.ready(); // x (index 3) is being written
  const x = rd.entries[0]!;
  p.node.propose(text("y")); // y (index 4) is only in memory
  p.tick();
  // Heartbeats only: the appends of y stay for the next Ready...
  assert.deepEqual(
    kinds(p.node.takeEarlyMessages("heartbeat")).sort(),
    ["heartbeat->2", "heartbeat->3"],
  );
  assert.deepEqual(kinds(p.raft.msgs).sort(), ["app->2", "app->3"]);
  // ... unless all early messages are asked for.
  const apps = ofType(p.node.takeEarlyMessages(), "app");
  assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3]);
  assert.deepEqual(
    apps[0]!.entries.map((e) => e.index),
    [x.index + 1],
    "y goes out before anything of the leader's own is durable",
  );
  // Follower 2 acknowledges x and y: without the leader's own copy that is
  // one of three, not a majority.
  p.step({ type: "appResp", from: 2, term: 2, index: x.index + 1 });
  assert.equal(p.raft.log.committed, x.index - 1);
  // x becomes durable: the leader counts itself up to x, not y.
  p.storage.append(rd.entries);
  p.node.advance();
  assert.equal(p.raft.log.committed, x.index);
  assert.equal(p.raft.prs.get(1)?.match, x.index);
  // y becomes durable with the next Ready: now 1 and 2 hold it.
  const rd2 = p.node.ready();
  assert.deepEqual(rd2.entries.map((e) => e.index), [x.index + 1]);
  p.storage.append(rd2.entries);
  p.node.advance();
  assert.equal(p.raft.log.committed, x.index + 1);
});

Deno.test("early messages: a follower's append response during a pending write is never handed out", () => {
  const p = new Peer(2, { term: 2 });
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: BASE,
    logTerm: 1,
    entries: [entry(2, 2)],
    commit: BASE,
  });
  const rd = p.node.ready(); // entry 2 is being written, its ack waits
  assert.deepEqual(kinds(rd.messages), ["appResp->1"]);
  // Entry 3 arrives while entry 2 is being written: its ack promises entry
  // 3 is durable, so it waits for the Ready that writes it.
  p.step({
    type: "app",
    from: 1,
    term: 2,
    index: 2,
    logTerm: 2,
    entries: [entry(3, 2)],
    commit: BASE,
  });
  p.step({ type: "heartbeat", from: 1, term: 2, commit: BASE });
  assert.deepEqual(p.node.takeEarlyMessages(), []);
  p.storage.append(rd.entries);
  p.node.advance();
  const rd2 = p.node.ready();
  assert.deepEqual(rd2.entries.map((e) => e.index), [3]);
  assert.deepEqual(
    rd2.messages.map((m) => `${m.type}:${m.index}`),
    ["appResp:3", "heartbeatResp:0"],
  );
  p.node.advance();
});

Deno.test("early messages: a candidate's vote requests and a voter's answer wait for their term and vote to be durable", () => {
  const c = new Peer(1, { config: CLASSIC });
  c.node.campaign();
  assert.deepEqual(c.node.takeEarlyMessages(), [], "a candidate sends none");
  assert.deepEqual(kinds(ofType(c.raft.msgs, "vote")), [
    "vote->2",
    "vote->3",
  ]);
  const v = new Peer(2, { config: CLASSIC });
  v.step({ type: "vote", from: 1, term: 2, index: BASE, logTerm: 1 });
  assert.deepEqual(v.node.takeEarlyMessages(), []);
  assert.deepEqual(kinds(v.node.ready().messages), ["voteResp->1"]);
  v.node.advance();
});

Deno.test("early messages: a new leader's heartbeats wait until its term and vote are durable", () => {
  const p = new Peer(1, { config: CLASSIC });
  p.node.campaign();
  p.flush(); // term 2 and the vote for itself are durable
  p.step({ type: "voteResp", from: 2, term: 2 });
  assert.equal(p.raft.role, "leader");
  // Elected in term 2 with the vote already durable: its appends may go.
  assert.deepEqual(kinds(p.node.takeEarlyMessages()).sort(), [
    "app->2",
    "app->3",
  ]);

  // A leader whose new term is still being written sends nothing early.
  const q = new Peer(1, { config: CLASSIC, term: 1 });
  q.node.campaign();
  const rd = q.node.ready(); // term 2, vote 1: being written
  q.step({ type: "voteResp", from: 2, term: 2 });
  assert.equal(q.raft.role, "leader");
  q.tick();
  assert.deepEqual(q.node.takeEarlyMessages(), []);
  q.storage.setHardState(rd.hardState!);
  q.node.advance();
  assert.ok(q.node.takeEarlyMessages().length > 0, "durable now");
});

Deno.test("early messages: read index rounds' heartbeats go out during a pending write; their answers wait for the Ready", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const commit = p.raft.log.committed;
  p.node.propose(text("x"));
  const rd = p.node.ready(); // the write of x is in flight
  // A follower's read, then one of the leader's own: one round each.
  const rounds: string[] = [];
  for (const read of ["remote", "local"]) {
    if (read === "remote") {
      p.step({ type: "readIndex", from: 3, term: 0, context: read });
    } else p.node.readIndex(read);
    const round = p.node.takeEarlyMessages("heartbeat");
    assert.deepEqual(round.map((m) => m.to).sort(), [2, 3]);
    const ctx = round[0]!.context;
    assert.ok(ctx !== "", "the heartbeats carry the round's context");
    rounds.push(ctx);
    p.step({ type: "heartbeatResp", from: 2, term: 2, context: ctx });
  }
  assert.equal(new Set(rounds).size, 2);
  // Both confirmed by a quorum during the write; the answer to node 3 is
  // not an early message, and the local read state comes in a Ready.
  assert.deepEqual(ofType(p.node.takeEarlyMessages(), "readIndexResp"), []);
  p.storage.append(rd.entries);
  p.node.advance();
  const rd2 = p.node.ready();
  assert.deepEqual(rd2.readStates, [{ context: "local", index: commit }]);
  assert.deepEqual(
    ofType(rd2.messages, "readIndexResp").map((m) => [m.to, m.index]),
    [[3, commit]],
  );
  p.node.advance();
});
