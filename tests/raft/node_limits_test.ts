/**
 * The node's pending-proposal limit: a node holds at most so many writes
 * waiting for their outcome, and refuses more with a typed, retryable error
 * instead of queueing without bound.
 */

import assert from "node:assert/strict";
import { OverloadedError } from "../../raft/mod.ts";
import { loneFollower } from "./lone_follower.ts";

Deno.test("a node refuses proposals beyond its pending limit until some settle", async () => {
  // Messages go nowhere: forwarded proposals never commit.
  const { node, close } = await loneFollower({ maxPendingProposals: 2 });
  try {
    const aborts = [new AbortController(), new AbortController()];
    const pending = aborts.map((a) =>
      node.propose(new Uint8Array([1]), a.signal).catch((e) => e)
    );
    assert.throws(
      () => node.propose(new Uint8Array([2])),
      (e) => e instanceof OverloadedError && e.code === "overloaded",
    );
    // A caller that gives up frees its slot.
    aborts[0]!.abort(new Error("gave up"));
    assert.equal((await pending[0]!).message, "gave up");
    const third = node.propose(new Uint8Array([3])).catch((e) => e);
    assert.throws(() => node.propose(new Uint8Array([4])), OverloadedError);
    node.stop();
    await Promise.all([pending[1], third]);
  } finally {
    await close();
  }
});
