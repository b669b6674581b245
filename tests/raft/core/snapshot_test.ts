/**
 * Log compaction and InstallSnapshot (§7): the application snapshots its
 * state at an applied index and compacts the log before it; a follower whose
 * next entry was compacted away receives the snapshot instead, and
 * installing it brings the membership it carries.
 */

import assert from "node:assert/strict";
import type { Message, Snapshot } from "../../../raft/core/mod.ts";
import { Cluster, data } from "./harness.ts";
import { BASE, CLASSIC, makeCommittedLeader, ofType, Peer } from "./peer.ts";

function snapshotAt(
  index: number,
  term: number,
  voters = [1, 2, 3],
  learners: number[] = [],
): Snapshot {
  return {
    meta: { index, term, conf: { voters, learners } },
    data: new TextEncoder().encode("[]"),
  };
}

Deno.test("§7 compaction: the log before the snapshot is dropped and the node keeps working", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  for (const s of ["a", "b", "c"]) c.get(1).node.propose(data(s));
  c.stabilize();
  const index = c.compact(1);
  const st = c.get(1).node.status();
  assert.equal(st.snapshotIndex, index);
  assert.equal(c.get(1).storage.firstIndex(), index + 1);
  assert.equal(
    c.get(1).node.raft.log.term(index - 1),
    undefined,
    "compacted away",
  );
  c.get(1).node.propose(data("d"));
  c.stabilize();
  for (const id of [1, 2, 3]) {
    assert.deepEqual(c.appliedData(id), ["a", "b", "c", "d"]);
  }
});

Deno.test("§7 a follower whose next index is compacted away gets a snapshot and then appends", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  for (const s of ["a", "b", "c"]) c.get(1).node.propose(data(s));
  c.stabilize();
  const index = c.compact(1);
  c.heal();
  const sent: Message[] = [];
  c.hook = (m) => {
    if (m.to === 3 && (m.type === "snap" || m.type === "app")) sent.push(m);
    return true;
  };
  c.tickAll(2);
  const snaps = ofType(sent, "snap");
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.snapshot?.meta.index, index);
  assert.deepEqual(c.get(3).snapshotData, ["a", "b", "c"]);
  assert.equal(c.get(3).storage.snapshot().meta.index, index);
  c.get(1).node.propose(data("d"));
  c.stabilize();
  assert.deepEqual(c.appliedData(3), ["a", "b", "c", "d"]);
  const pr3 = c.get(1).node.status().peers.find((p) => p.id === 3)!;
  assert.deepEqual([pr3.state, pr3.match], [
    "replicate",
    c.get(1).node.status().lastIndex,
  ]);
});

Deno.test("§7 installing a snapshot carries the membership in force at its index", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  c.addNode(4);
  c.get(1).node.proposeConfChange({
    type: "addLearner",
    node: 4,
    context: "url-4",
  });
  c.stabilize();
  c.get(1).node.proposeConfChange({
    type: "addVoter",
    node: 4,
    context: "url-4",
  });
  c.stabilize();
  c.get(1).node.propose(data("x"));
  c.stabilize();
  c.compact(1);
  c.heal();
  c.tickAll(2);
  assert.equal(c.get(3).snapshots?.length, 1);
  assert.deepEqual(c.get(3).snapshots?.[0]?.meta.conf, {
    voters: [1, 2, 3, 4],
    learners: [],
  });
  assert.deepEqual(c.get(3).node.status().conf, {
    voters: [1, 2, 3, 4],
    learners: [],
  });
  assert.deepEqual(c.appliedData(3), ["x"]);
  // The membership is also what a restart from that storage sees.
  assert.deepEqual(c.restart(3).node.status().conf, {
    voters: [1, 2, 3, 4],
    learners: [],
  });
});

Deno.test("§7 a brand-new learner joining after compaction starts from the snapshot", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.get(1).node.propose(data("a"));
  c.stabilize();
  c.compact(1);
  c.addNode(4);
  c.get(1).node.proposeConfChange({ type: "addLearner", node: 4, context: "" });
  c.stabilize();
  c.tickAll(2);
  assert.equal(c.get(4).snapshots?.length, 1);
  assert.deepEqual(c.appliedData(4), ["a"]);
  assert.deepEqual(c.get(4).node.status().conf, {
    voters: [1, 2, 3],
    learners: [4],
  });
});

Deno.test("§7 snapshot state: the leader sends nothing more until the snapshot is reported, then probes again", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  c.get(1).node.propose(data("a"));
  c.stabilize();
  c.compact(1);
  c.heal();
  let snaps = 0, apps = 0;
  c.hook = (m) => {
    if (m.to !== 3) return true;
    if (m.type === "snap") snaps++;
    if (m.type === "app") apps++;
    return m.type !== "snap"; // the snapshot is lost
  };
  c.tickAll(1);
  assert.equal(snaps, 1);
  apps = 0;
  const status = (): string =>
    c.get(1).node.status().peers.find((p) => p.id === 3)!.state;
  assert.equal(status(), "snapshot");
  c.get(1).node.propose(data("b"));
  c.tickAll(3);
  assert.deepEqual([snaps, apps], [1, 0], "paused while the snapshot is out");
  c.get(1).node.reportSnapshot(3, false);
  assert.equal(status(), "probe");
  c.hook = undefined;
  c.tickAll(2);
  assert.deepEqual(c.appliedData(3), ["a", "b"]);
  assert.equal(status(), "replicate");
});

Deno.test("§7 a follower ignores a snapshot at or below its commit index and answers with its commit", () => {
  const p = new Peer(2, { log: [1, 1, 1], term: 1, commit: 4 });
  p.step({ type: "snap", from: 1, term: 1, snapshot: snapshotAt(3, 1) });
  const [resp] = ofType(p.flush(), "appResp");
  assert.deepEqual([resp?.reject, resp?.index], [false, 4]);
  assert.equal(p.storage.snapshot().meta.index, BASE);
  assert.equal(p.raft.log.lastIndex(), 4);
});

Deno.test("§7 a follower that already holds the snapshot's last entry keeps the entries after it", () => {
  const p = new Peer(2, { log: [1, 1, 1, 1], term: 1 });
  p.step({ type: "snap", from: 1, term: 1, snapshot: snapshotAt(3, 1) });
  const [resp] = ofType(p.flush(), "appResp");
  assert.equal(p.raft.log.committed, 3);
  assert.equal(p.raft.log.lastIndex(), 5, "entries 4 and 5 are kept");
  assert.equal(resp?.index, 5);
  assert.equal(
    p.readies.some((r) => r.snapshot !== undefined),
    false,
    "nothing to install",
  );
});

Deno.test("§7 a follower installs a newer snapshot: its log is replaced and it is applied before later entries", () => {
  const p = new Peer(2, { log: [1, 2, 2], term: 3, config: CLASSIC });
  p.step({
    type: "snap",
    from: 1,
    term: 3,
    snapshot: snapshotAt(10, 3, [1, 2, 3], [5]),
  });
  const rd = p.node.ready();
  assert.equal(rd.snapshot?.meta.index, 10);
  assert.deepEqual(rd.committedEntries, []);
  assert.deepEqual(ofType(rd.messages, "appResp").map((m) => m.index), [10]);
  p.storage.applySnapshot(rd.snapshot!);
  if (rd.hardState) p.storage.setHardState(rd.hardState);
  p.node.advance();
  const st = p.status();
  assert.deepEqual([st.commit, st.applied, st.lastIndex, st.snapshotIndex], [
    10,
    10,
    10,
    10,
  ]);
  assert.deepEqual(st.conf.learners, [5]);
});

Deno.test("§7 snapshotMeta gives index, term and the membership at an applied index; beyond applied is refused", () => {
  const p = new Peer(1, { config: CLASSIC });
  makeCommittedLeader(p);
  const applied = p.status().applied;
  const meta = p.node.snapshotMeta(applied);
  assert.deepEqual(meta, {
    index: applied,
    term: 2,
    conf: { voters: [1, 2, 3], learners: [] },
  });
  p.node.propose(data("x"));
  p.flush();
  assert.throws(() => p.node.snapshotMeta(applied + 1));
});
