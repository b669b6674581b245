/**
 * Linearizable reads with ReadIndex (dissertation §6.4): the leader records
 * its commit index, confirms with one heartbeat round that it is still the
 * leader (reads that arrive meanwhile share the next round), and only then
 * answers; a follower asks the leader; no read index is served before the
 * leader has committed an entry of its term.
 */

import assert from "node:assert/strict";
import { type Message, NoLeaderError } from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";
import {
  ackAppends,
  CLASSIC,
  makeCommittedLeader,
  makeLeader,
  ofType,
  Peer,
} from "./peer.ts";

function contexts(msgs: Message[]): string[] {
  return ofType(msgs, "heartbeat").map((m) => m.context).filter((c) =>
    c !== ""
  );
}

Deno.test("§6.4 ReadIndex: one heartbeat round serves many reads", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.propose(data("w"));
  c.stabilize();
  const commit = c.get(1).node.status().commit;
  const rounds: Message[] = [];
  c.hook = (m) => {
    if (m.type === "heartbeat" && m.context !== "") rounds.push(m);
    return true;
  };
  for (let i = 0; i < 10; i++) c.get(1).node.readIndex(`r${i}`);
  c.stabilize();
  assert.deepEqual(
    c.get(1).readStates,
    Array.from({ length: 10 }, (_, i) => ({ context: `r${i}`, index: commit })),
  );
  // The first read starts a round at once; the nine that arrive while it is
  // in flight share the next one: two rounds of two heartbeats for ten reads.
  assert.equal(new Set(rounds.map((m) => m.context)).size, 2);
  assert.equal(rounds.length, 4);
});

Deno.test("§6.4 ReadIndex: a round started before a read arrived never confirms that read", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.readIndex("a");
  const [ctxA] = contexts(p.flush());
  p.node.readIndex("b");
  assert.deepEqual(contexts(p.flush()), [], "b waits for the next round");
  p.step({ type: "heartbeatResp", from: 2, term: 2, context: ctxA! });
  const next = p.flush();
  assert.deepEqual(p.readStates.map((r) => r.context), ["a"]);
  const [ctxB] = contexts(next);
  assert.ok(ctxB !== undefined && ctxB !== ctxA);
  p.step({ type: "heartbeatResp", from: 3, term: 2, context: ctxA! });
  p.flush();
  assert.deepEqual(
    p.readStates.map((r) => r.context),
    ["a"],
    "a late answer to the old round confirms nothing",
  );
  p.step({ type: "heartbeatResp", from: 3, term: 2, context: ctxB! });
  p.flush();
  assert.deepEqual(p.readStates.map((r) => r.context), ["a", "b"]);
});

Deno.test("§6.4 ReadIndex: the read index is the commit index when the read arrived", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const commit = p.raft.log.committed;
  p.node.readIndex("r");
  const [ctx] = contexts(p.flush());
  p.node.propose(data("later"));
  ackAppends(p, p.flush());
  p.flush();
  assert.equal(p.raft.log.committed, commit + 1);
  p.step({ type: "heartbeatResp", from: 2, term: 2, context: ctx! });
  p.flush();
  assert.deepEqual(p.readStates, [{ context: "r", index: commit }]);
});

Deno.test("§6.4 ReadIndex: a follower obtains the read index from the leader", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.propose(data("w"));
  c.stabilize();
  const seen: string[] = [];
  c.hook = (m) => {
    if (m.type === "readIndex" || m.type === "readIndexResp") {
      seen.push(`${m.type} ${m.from}->${m.to}`);
    }
    return true;
  };
  c.get(2).node.readIndex("f");
  c.stabilize();
  assert.deepEqual(c.get(2).readStates, [{
    context: "f",
    index: c.get(1).node.status().commit,
  }]);
  assert.deepEqual(c.get(1).readStates, []);
  assert.deepEqual(seen, ["readIndex 2->1", "readIndexResp 1->2"]);
});

Deno.test("§6.4 ReadIndex: no read index is served before the leader committed an entry of its term", () => {
  const p = new Peer(1, { log: [1, 1], term: 1, config: CLASSIC });
  const apps = makeLeader(p);
  p.node.readIndex("local");
  p.step({ type: "readIndex", from: 2, term: 0, context: "remote" });
  const held = p.flush();
  assert.deepEqual(contexts(held), [], "no round starts yet");
  assert.equal(p.readStates.length, 0);
  assert.deepEqual(ofType(held, "readIndexResp"), []);
  ackAppends(p, apps);
  const round = contexts(p.flush());
  assert.equal(
    round.length,
    2,
    "the held reads start a round once the empty entry commits",
  );
  p.step({ type: "heartbeatResp", from: 3, term: 2, context: round[0]! });
  const out = p.flush();
  const commit = p.raft.log.committed;
  assert.equal(p.raft.log.term(commit), 2);
  assert.deepEqual(p.readStates, [{ context: "local", index: commit }]);
  assert.deepEqual(
    ofType(out, "readIndexResp").map((m) => [m.to, m.context, m.index]),
    [[2, "remote", commit]],
  );
});

Deno.test("§6.4 ReadIndex: a leader cut off from the quorum serves no read", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(1);
  c.get(1).node.readIndex("r");
  c.tickAll(30);
  assert.deepEqual(c.get(1).readStates, []);
  assert.notEqual(
    c.get(1).node.status().role,
    "leader",
    "and CheckQuorum made it step down",
  );
});

Deno.test("§6.4 ReadIndex: with one of two followers answering, the read is served (a quorum, not everyone)", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.readIndex("r");
  const [ctx] = contexts(p.flush());
  p.flush();
  assert.equal(p.readStates.length, 0);
  p.step({ type: "heartbeatResp", from: 3, term: 2, context: ctx! });
  p.flush();
  assert.deepEqual(p.readStates.map((r) => r.context), ["r"]);
});

Deno.test("§6.4 ReadIndex: when a round's heartbeats are lost, the next regular heartbeat carries it again", () => {
  const p = new Peer(1, { config: { ...CLASSIC, heartbeatTicks: 2 } });
  makeCommittedLeader(p);
  p.node.readIndex("r");
  const [ctx] = contexts(p.flush()); // lost
  const again = contexts(p.tickFlush(2));
  assert.deepEqual(again, [ctx, ctx]);
  p.step({ type: "heartbeatResp", from: 2, term: 2, context: ctx! });
  p.flush();
  assert.deepEqual(p.readStates.map((r) => r.context), ["r"]);
});

Deno.test("§6.4 ReadIndex: a single-voter leader answers at once", () => {
  const p = new Peer(1, { voters: [1] });
  p.node.campaign();
  p.flush();
  p.node.readIndex("r");
  p.flush();
  assert.deepEqual(p.readStates, [{
    context: "r",
    index: p.raft.log.committed,
  }]);
});

Deno.test("§6.4 ReadIndex: with no leader known, readIndex fails at once with NoLeaderError", () => {
  const p = new Peer(1);
  assert.throws(() => p.node.readIndex("r"), NoLeaderError);
});

Deno.test("§6.4 ReadIndex: a leader that steps down drops its unconfirmed reads", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  p.node.readIndex("r");
  const [ctx] = contexts(p.flush());
  p.step({ type: "app", from: 2, term: 3, index: 1, logTerm: 1 });
  p.flush();
  p.step({ type: "heartbeatResp", from: 2, term: 2, context: ctx! });
  p.flush();
  assert.equal(p.readStates.length, 0);
});
