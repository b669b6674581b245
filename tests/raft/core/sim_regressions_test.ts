/**
 * Regression tests for core bugs the deterministic simulator (tests/sim/)
 * found, each scripted on the harness so that it fails without its fix.
 */

import assert from "node:assert/strict";
import {
  CompactedError,
  message,
  RawNode,
  seededRng,
} from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";

Deno.test("replication recovers when every append in flight to a follower was lost (replicate state, full window)", () => {
  // Found by the simulator: the follower was down while the
  // leader streamed to it; every append was lost, the in-flight window
  // filled up and the leader never sent it anything again, although the
  // follower answered every heartbeat.
  const c = new Cluster([1, 2, 3], { config: { maxInflightMsgs: 2 } });
  c.elect(1);
  c.get(1).node.propose(data("a"));
  c.stabilize();
  assert.equal(
    c.get(1).node.status().peers.find((p) => p.id === 3)?.state,
    "replicate",
  );
  c.isolate(3);
  for (const x of ["b", "c", "d", "e"]) {
    c.get(1).node.propose(data(x));
    c.stabilize();
  }
  c.heal();
  c.tickAll(5);
  assert.deepEqual(c.appliedData(3), ["a", "b", "c", "d", "e"]);
});

Deno.test("a node restarts over a log that keeps membership entries behind its snapshot", () => {
  // Found by the simulator: the application compacts a few
  // entries behind its snapshot; on restart the core replayed the
  // membership changes of those entries on top of the snapshot's
  // membership, which already held them, and threw.
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.proposeConfChange({ type: "remove", node: 3, context: "" });
  c.stabilize();
  c.get(1).node.propose(data("a"));
  c.stabilize();
  const t = c.get(1);
  const applied = t.node.status().applied;
  const removal = t.storage.entries(
    t.storage.firstIndex(),
    applied + 1,
    Infinity,
  )
    .find((e) => e.type === "conf" && e.index > 3)!;
  t.storage.createSnapshot({
    meta: t.node.snapshotMeta(applied),
    data: new Uint8Array(),
  });
  t.storage.compact(removal.index - 1);
  const restarted = new RawNode({
    id: 1,
    storage: t.storage,
    rng: seededRng(1),
    applied,
  });
  assert.deepEqual(restarted.status().conf, { voters: [1, 2], learners: [] });
});

Deno.test("snapshotMeta reports a typed CompactedError when a leader's snapshot replaced the log during a write", () => {
  // Found by the simulator: a follower still applying a Ready
  // received a snapshot; the application then asked for snapshot metadata
  // at its applied index, which the log no longer held, and the core
  // failed an assertion (fatal to the node) instead of a typed error.
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  for (const x of ["a", "b", "c"]) c.get(1).node.propose(data(x));
  c.stabilize();
  const leader = c.get(1);
  const follower = c.get(3);
  const base = follower.node.status().commit;
  const next = leader.storage.entries(base + 1, base + 2, Infinity);
  const applied = leader.node.status().applied;
  leader.storage.createSnapshot({
    meta: leader.node.snapshotMeta(applied),
    data: new Uint8Array(),
  });
  leader.storage.compact(applied);
  const term = leader.node.status().term;

  follower.node.step(message({
    type: "app",
    from: 1,
    to: 3,
    term,
    index: base,
    logTerm: term,
    entries: next,
    commit: base + 1,
  }));
  const rd = follower.node.ready();
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [base + 1]);
  // While that Ready is being written, the leader's snapshot arrives.
  follower.node.step(
    message({
      type: "snap",
      from: 1,
      to: 3,
      term,
      snapshot: leader.storage.snapshot(),
    }),
  );
  follower.storage.append(rd.entries);
  if (rd.hardState) follower.storage.setHardState(rd.hardState);
  follower.node.advance();
  assert.throws(() => follower.node.snapshotMeta(base + 1), CompactedError);

  const next2 = follower.node.ready();
  assert.equal(next2.snapshot?.meta.index, applied);
  follower.storage.applySnapshot(next2.snapshot!);
  follower.node.advance();
  assert.equal(follower.node.snapshotMeta(applied).index, applied);
});
