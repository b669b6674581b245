/**
 * The term rule of raft/proposals.ts against a core played by the test:
 * which writes are proposed again, and what a caller that gives up gets.
 * (tests/raft/node_failover_test.ts runs the same through a real node.)
 */

import assert from "node:assert/strict";
import {
  LeaderChangedError,
  NoLeaderError,
  RaftMetrics,
} from "../../raft/mod.ts";
import { unwrapPayload } from "../../raft/envelope.ts";
import { Proposals } from "../../raft/proposals.ts";

/**
 * Proposals over a fake core whose term and leader the test sets; like the
 * real one it throws NoLeaderError without a leader.
 */
function setup() {
  const core = { term: 1, leader: 2, proposed: [] as Uint8Array[] };
  const metrics = new RaftMetrics();
  const proposals = new Proposals({
    raw: {
      propose(data) {
        if (core.leader === 0) throw new NoLeaderError();
        core.proposed.push(data);
      },
    },
    metrics,
    term: () => core.term,
    leader: () => core.leader,
    maxPending: 10,
  });
  return { core, metrics, proposals };
}

function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => assert.fail("resolved"), (e) => e);
}

Deno.test("writes of older terms are proposed again once, when the first entry of a newer term applies", () => {
  const { core, proposals } = setup();
  void proposals.propose({ epoch: 1, seq: 1 }, new Uint8Array([1]));
  core.term = 2;
  void proposals.propose({ epoch: 1, seq: 2 }, new Uint8Array([2]));
  proposals.entryApplying(1);
  proposals.proposeAgain();
  assert.equal(core.proposed.length, 2, "nothing dead yet");
  proposals.entryApplying(2);
  proposals.entryApplying(2);
  proposals.proposeAgain();
  assert.equal(core.proposed.length, 3, "only the term-1 write, once");
  const again = unwrapPayload(core.proposed[2]!);
  assert.deepEqual(again?.id, { epoch: 1, seq: 1 });
  assert.equal(again?.term, 2);
});

Deno.test("a write a snapshot may hold is never proposed again, and a caller that gives up gets its own reason", async () => {
  const { core, proposals } = setup();
  const giveUp = new AbortController();
  const write = proposals.propose(
    { epoch: 1, seq: 1 },
    new Uint8Array([1]),
    giveUp.signal,
  );
  core.term = 3;
  proposals.snapshotApplied(2);
  proposals.entryApplying(3);
  proposals.proposeAgain();
  assert.equal(core.proposed.length, 1, "not proposed again");
  const reason = new Error("deadline");
  giveUp.abort(reason);
  assert.equal(await rejection(write), reason);
});

Deno.test("a write of the snapshot's own term or newer is still proposed again after it", () => {
  const { core, proposals } = setup();
  core.term = 3;
  void proposals.propose({ epoch: 1, seq: 1 }, new Uint8Array([1]));
  proposals.snapshotApplied(2);
  core.term = 4;
  proposals.entryApplying(4);
  proposals.proposeAgain();
  assert.equal(core.proposed.length, 2);
});

Deno.test("a refusal of an older copy is ignored; of the newest, it fails the caller", async () => {
  const { core, proposals } = setup();
  const write = proposals.propose({ epoch: 1, seq: 1 }, new Uint8Array([1]));
  core.term = 2;
  proposals.entryApplying(2);
  proposals.proposeAgain();
  proposals.refused(1, 1, new Error("old copy refused"));
  const err = new Error("new copy refused");
  proposals.refused(1, 2, err);
  assert.equal(await rejection(write), err);
  assert.equal(proposals.size, 0);
});

Deno.test("a dead write waiting for a leader answers leader_changed when its caller gives up", async () => {
  const { core, metrics, proposals } = setup();
  const giveUp = new AbortController();
  const write = proposals.propose(
    { epoch: 1, seq: 1 },
    new Uint8Array([1]),
    giveUp.signal,
  );
  core.term = 2;
  core.leader = 0;
  proposals.entryApplying(2);
  proposals.proposeAgain();
  assert.equal(core.proposed.length, 1, "no leader to propose to");
  giveUp.abort(new Error("deadline"));
  assert.ok(await rejection(write) instanceof LeaderChangedError);
  assert.equal(metrics.proposalsTimedOut.value, 0);
  assert.equal(metrics.proposalsDropped.value, 1);
});
