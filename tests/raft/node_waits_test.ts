/**
 * The callers a RaftNode keeps waiting (raft/wait.ts under the node), on a
 * real node that follows a leader played by the test:
 *
 * - a read waits for its read index, then for this node to apply it; a
 *   leader change fails only reads whose index is not known yet;
 * - a leadership transfer resolves when this node sees the target lead;
 * - stopping the node rejects every waiting caller, whatever it waits for
 *   (a write or membership change already forwarded as unknown: it may
 *   still commit).
 */

import assert from "node:assert/strict";
import {
  LeaderChangedError,
  type Message,
  message,
  OutcomeUnknownError,
  StoppedError,
} from "../../raft/mod.ts";
import { turn } from "./node_turns.ts";
import { loneFollower, until } from "./lone_follower.ts";

/** A promise's outcome as seen so far. */
interface Tracked {
  state: "pending" | "resolved" | "rejected";
  error?: unknown;
}

function track(p: Promise<unknown>): Tracked {
  const t: Tracked = { state: "pending" };
  p.then(() => t.state = "resolved", (e) => {
    t.state = "rejected";
    t.error = e;
  });
  return t;
}

/** The context of the newest "readIndex" message node 1 sent. */
function lastReadContext(sent: Message[]): string {
  const m = sent.findLast((m) => m.type === "readIndex");
  assert.ok(m, "the read went to the leader");
  return m.context;
}

Deno.test("a read waits for its read index and then for this node to apply it; a leader change meanwhile does not fail it", async () => {
  const { node, sent, close } = await loneFollower();
  try {
    const applied = node.applied();
    const read = track(node.readBarrier());
    await until(() => sent.some((m) => m.type === "readIndex"), "forwarded");
    node.receive([message({
      type: "readIndexResp",
      from: 2,
      to: 1,
      term: 1,
      index: applied + 1,
      context: lastReadContext(sent),
    })]);
    await turn();
    assert.equal(read.state, "pending", "index known, not applied yet");
    // Leader 3 takes over and sends the entry at the read index.
    node.receive([message({
      type: "app",
      from: 3,
      to: 1,
      term: 2,
      index: applied,
      logTerm: 1,
      entries: [{
        index: applied + 1,
        term: 2,
        type: "normal",
        data: new Uint8Array(),
      }],
      commit: applied + 1,
    })]);
    await until(() => read.state !== "pending", "the read settles");
    assert.equal(node.leader(), 3);
    assert.equal(read.state, "resolved");
    assert.equal(node.applied(), applied + 1);
  } finally {
    await close();
  }
});

Deno.test("a read whose index the old leader never gave fails as leader_changed", async () => {
  const { node, sent, close } = await loneFollower();
  try {
    const read = track(node.readBarrier());
    await until(() => sent.some((m) => m.type === "readIndex"), "forwarded");
    node.receive([message({ type: "heartbeat", from: 3, to: 1, term: 2 })]);
    await until(() => read.state !== "pending", "the read settles");
    assert.ok(read.error instanceof LeaderChangedError);
  } finally {
    await close();
  }
});

Deno.test("a transfer resolves when this node sees the target lead; one given up rejects with the reason", async () => {
  const { node, sent, close } = await loneFollower();
  try {
    const transfer = track(node.transferLeader(3));
    const gaveUp = new AbortController();
    const other = track(node.transferLeader(3, gaveUp.signal));
    await until(
      () => sent.some((m) => m.type === "transferLeader"),
      "forwarded",
    );
    const reason = new Error("gave up");
    gaveUp.abort(reason);
    await turn();
    assert.deepEqual([other.state, other.error], ["rejected", reason]);
    assert.equal(transfer.state, "pending");
    node.receive([message({ type: "heartbeat", from: 3, to: 1, term: 2 })]);
    await until(() => transfer.state !== "pending", "the transfer settles");
    assert.equal(transfer.state, "resolved");
  } finally {
    await close();
  }
});

Deno.test("stopping the node rejects every waiting caller with the stop reason; a write or membership change already proposed as unknown", async () => {
  const { node, sent, close } = await loneFollower();
  try {
    const applied = node.applied();
    const write = track(node.propose(new Uint8Array([1])));
    const unconfirmed = track(node.readBarrier());
    const confirmed = track(node.readBarrier());
    const transfer = track(node.transferLeader(3));
    const member = track(node.addMember(4, "http://127.0.0.1:41004", "voter"));
    await until(
      () => sent.filter((m) => m.type === "readIndex").length === 2,
      "both reads forwarded",
    );
    node.receive([message({
      type: "readIndexResp",
      from: 2,
      to: 1,
      term: 1,
      index: applied + 5,
      context: lastReadContext(sent),
    })]);
    await turn();
    const all = [write, unconfirmed, confirmed, transfer, member];
    assert.ok(all.every((t) => t.state === "pending"));
    node.stop("going away");
    await turn();
    for (const t of [unconfirmed, confirmed, transfer]) {
      assert.equal(t.state, "rejected");
      assert.ok(t.error instanceof StoppedError);
      assert.equal((t.error as StoppedError).message, "going away");
    }
    // Forwarded to the leader, they may still commit there.
    for (const t of [write, member]) {
      assert.equal(t.state, "rejected");
      assert.ok(t.error instanceof OutcomeUnknownError, String(t.error));
      assert.match((t.error as Error).message, /^going away: /);
    }
  } finally {
    await close();
  }
});
