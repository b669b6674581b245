/**
 * Writes across a leader change (raft/proposals.ts, raft/envelope.ts), on
 * a real node that follows leaders played by the test:
 *
 * - a write forwarded to a leader that is replaced is proposed again, with
 *   the same request id, once this node applies an entry of the new term;
 *   it is applied once, and the old copy, appended late by the new
 *   leader, is a no-op (before or after the retry in the log);
 * - a refusal of the old copy does not fail the retry;
 * - a write that cannot be proposed again (no leader) answers
 *   leader_changed (503: not applied) when its caller gives up, and is
 *   proposed again as soon as a leader is known.
 */

import assert from "node:assert/strict";
import {
  encodeRefusal,
  type Entry,
  LeaderChangedError,
  type Message,
  message,
  ProposalDroppedError,
  RaftMetrics,
  type StateMachine,
} from "../../raft/mod.ts";
import { unwrapPayload } from "../../raft/envelope.ts";
import { turn } from "./node_turns.ts";
import { loneFollower, until } from "./lone_follower.ts";
import { track } from "./tracked.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A state machine that records every payload it applies, in order. */
class Recorder implements StateMachine {
  applied: string[] = [];
  apply(_index: number, payload: Uint8Array): unknown {
    this.applied.push(decoder.decode(payload));
    return this.applied.length;
  }
  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify(this.applied));
  }
  restore(state: Uint8Array): void {
    this.applied = JSON.parse(decoder.decode(state));
  }
}

/** The forwarded proposals node 1 sent so far. */
function props(sent: Message[]): Message[] {
  return sent.filter((m) => m.type === "prop");
}

/** An "app" from `leader` in `term` appending `entries` after (index, logTerm). */
function app(
  leader: number,
  term: number,
  index: number,
  logTerm: number,
  entries: Entry[],
): Message {
  return message({
    type: "app",
    from: leader,
    to: 1,
    term,
    index,
    logTerm,
    entries,
    commit: index + entries.length,
  });
}

function entry(index: number, term: number, data: Uint8Array): Entry {
  return { index, term, type: "normal", data };
}

for (const staleFirst of [false, true]) {
  Deno.test(
    `a write pending across a leader change is proposed again with its id and applied once; its old copy ${
      staleFirst ? "before" : "after"
    } the retry is a no-op`,
    async () => {
      const sm = new Recorder();
      const metrics = new RaftMetrics();
      const { node, sent, close } = await loneFollower({
        stateMachine: sm,
        metrics,
      });
      try {
        const a = node.applied();
        const write = track(node.propose(encoder.encode("x")));
        await until(() => props(sent).length === 1, "forwarded to node 2");
        const first = props(sent)[0]!;
        assert.equal(first.to, 2);
        const old = first.entries[0]!.data;
        assert.equal(unwrapPayload(old)?.term, 1);

        // Node 3 leads term 2; its first entry commits and is applied here.
        node.receive([app(3, 2, a, 1, [entry(a + 1, 2, new Uint8Array())])]);
        await until(() => props(sent).length === 2, "proposed again");
        const retry = props(sent)[1]!;
        assert.equal(retry.to, 3);
        const retryEnv = unwrapPayload(retry.entries[0]!.data);
        assert.deepEqual(
          retryEnv?.id,
          unwrapPayload(old)?.id,
          "same request id",
        );
        assert.equal(retryEnv?.term, 2);
        assert.equal(write.state, "pending");
        assert.equal(metrics.proposalsRetried.value, 1);

        // Node 2's late refusal of the old copy does not fail the retry.
        node.receive([message({
          type: "propResp",
          from: 2,
          to: 1,
          term: 0,
          reject: true,
          entries: first.entries,
          context: encodeRefusal(new ProposalDroppedError("not the leader")),
        })]);
        await turn();
        assert.equal(write.state, "pending");

        // The old copy, delayed in the network, reaches node 3, which
        // appends it in term 2 as well as the retry.
        const copies = staleFirst
          ? [old, retry.entries[0]!.data]
          : [retry.entries[0]!.data, old];
        const before = node.applied();
        node.receive([app(3, 2, before, 2, [
          entry(before + 1, 2, copies[0]!),
          entry(before + 2, 2, copies[1]!),
        ])]);
        await until(() => node.applied() === before + 2, "both applied");
        assert.equal(write.state, "resolved");
        assert.equal(write.value?.index, before + (staleFirst ? 2 : 1));
        assert.deepEqual(sm.applied, ["x"], "applied once");
        assert.equal(metrics.staleEntriesSkipped.value, 1);
        assert.equal(metrics.proposalsCommitted.value, 1);
      } finally {
        await close();
      }
    },
  );
}

Deno.test("a write left dead by a leader change that finds no leader answers leader_changed when its caller gives up", async () => {
  const sm = new Recorder();
  const { node, sent, close } = await loneFollower({ stateMachine: sm });
  try {
    const a = node.applied();
    const giveUp = new AbortController();
    const write = track(node.propose(encoder.encode("x"), giveUp.signal));
    await until(() => props(sent).length === 1, "forwarded");
    // Node 3's term-2 entry commits, and before this node handles it, its
    // election timer runs out: when it learns the write is dead it knows
    // no leader to propose it to.
    node.receive([app(3, 2, a, 1, [entry(a + 1, 2, new Uint8Array())])]);
    for (let i = 0; i < 40; i++) node.tick();
    await until(() => node.applied() === a + 1, "applied");
    assert.equal(node.leader(), 0);
    assert.equal(props(sent).length, 1, "not proposed again: no leader");
    assert.equal(write.state, "pending");
    giveUp.abort(new Error("deadline"));
    await turn();
    assert.equal(write.state, "rejected");
    assert.ok(write.error instanceof LeaderChangedError, String(write.error));
    assert.deepEqual(sm.applied, []);
  } finally {
    await close();
  }
});

Deno.test("a write that found no leader is proposed again once one is known, and applied", async () => {
  const sm = new Recorder();
  const { node, sent, close } = await loneFollower({ stateMachine: sm });
  try {
    const a = node.applied();
    const write = track(node.propose(encoder.encode("x")));
    await until(() => props(sent).length === 1, "forwarded");
    node.receive([app(3, 2, a, 1, [entry(a + 1, 2, new Uint8Array())])]);
    for (let i = 0; i < 40; i++) node.tick();
    await until(() => node.applied() === a + 1, "applied");
    assert.equal(node.leader(), 0);
    const term = node.status().term;
    // Node 2 wins the next term.
    node.receive([message({ type: "heartbeat", from: 2, to: 1, term })]);
    await until(() => props(sent).length === 2, "proposed again");
    const retry = props(sent)[1]!;
    assert.equal(retry.to, 2);
    assert.equal(unwrapPayload(retry.entries[0]!.data)?.term, term);
    node.receive([
      app(2, term, a + 1, 2, [entry(a + 2, term, retry.entries[0]!.data)]),
    ]);
    await until(() => write.state !== "pending", "the write settles");
    assert.equal(write.state, "resolved");
    assert.deepEqual(sm.applied, ["x"]);
  } finally {
    await close();
  }
});

Deno.test("a caller that gives up while a copy may still commit gets its own reason (outcome unknown)", async () => {
  const { node, sent, close } = await loneFollower({
    stateMachine: new Recorder(),
  });
  try {
    const giveUp = new AbortController();
    const write = track(node.propose(encoder.encode("x"), giveUp.signal));
    await until(() => props(sent).length === 1, "forwarded");
    const reason = new Error("deadline");
    giveUp.abort(reason);
    await turn();
    assert.deepEqual([write.state, write.error], ["rejected", reason]);
  } finally {
    await close();
  }
});
