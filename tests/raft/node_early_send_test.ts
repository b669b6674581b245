/**
 * A leader's heartbeats and appends do not wait for its own WAL write: while
 * `save` of one Ready is pending (here: until the test lets it finish), the
 * messages that ticks, proposals and reads make meanwhile and that need
 * nothing durable (`RawNode.takeEarlyMessages`) go out at once, and no
 * late-heartbeat warning is counted, however long the write takes. The
 * node is a real RaftNode over DiskStorage on MemFs; its two peers are
 * played by the test; time is a fake clock the test moves.
 */

import assert from "node:assert/strict";
import { KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  type Message,
  message,
  type NodeStorage,
  RaftMetrics,
  RaftNode,
  seededRng,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { until } from "./lone_follower.ts";
import { track } from "./tracked.ts";

const TICK_MS = 100;

/** Node 1 of three over storage whose writes the test can hold back. */
async function gatedLeader() {
  const disk = await DiskStorage.open(new MemFs(), "/n1", {
    metadata: { clusterId: "", nodeId: 1 },
  });
  /** Set: every save waits for it before it reports durable. */
  let gate: PromiseWithResolvers<void> | undefined;
  let saving = 0;
  const storage: NodeStorage = {
    initialState: () => disk.initialState(),
    entries: (lo, hi, maxBytes) => disk.entries(lo, hi, maxBytes),
    term: (i) => disk.term(i),
    firstIndex: () => disk.firstIndex(),
    lastIndex: () => disk.lastIndex(),
    snapshot: () => disk.snapshot(),
    isEmpty: () => disk.isEmpty(),
    save: async (rd) => {
      saving++;
      try {
        if (gate) await gate.promise;
        await disk.save(rd);
      } finally {
        saving--;
      }
    },
    createSnapshot: (snap) => disk.createSnapshot(snap),
  };
  let nowMs = 1_000;
  const metrics = new RaftMetrics();
  const node = new RaftNode({
    id: 1,
    peers: new Map([1, 2, 3].map((i) => [i, `http://node${i}`])),
    join: false,
    storage,
    stateMachine: new KvStore(),
    rng: seededRng(1),
    epoch: 1,
    electionTicks: 10,
    heartbeatTicks: 1,
    tickMs: TICK_MS,
    now: () => nowMs,
    metrics,
  });
  const sent: Message[] = [];
  node.setTransport({ send: (msgs) => sent.push(...msgs) });
  node.start();

  /** Answers, as nodes 2 and 3, everything sent so far; returns it. */
  const answer = (): Message[] => {
    const out = sent.splice(0);
    for (const m of out) {
      const reply = (fields: Partial<Message> & Pick<Message, "type">) =>
        node.receive([
          message({ from: m.to, to: 1, term: m.term, ...fields }),
        ]);
      if (m.type === "preVote") reply({ type: "preVoteResp" });
      if (m.type === "vote") reply({ type: "voteResp" });
      if (m.type === "heartbeat") {
        reply({ type: "heartbeatResp", context: m.context });
      }
      if (m.type === "app") {
        reply({ type: "appResp", index: m.index + m.entries.length });
      }
    }
    return out;
  };
  /** One tick, `TICK_MS` later on the fake clock. */
  const tick = () => {
    nowMs += TICK_MS;
    node.tick();
  };
  return {
    node,
    metrics,
    sent,
    answer,
    tick,
    /** Saves in progress (waiting for the gate or the disk). */
    saving: () => saving,
    /** From now on, saves wait until `release()`. */
    hold: () => {
      gate = Promise.withResolvers<void>();
    },
    release: () => {
      gate?.resolve();
      gate = undefined;
    },
    close: async () => {
      node.stop();
      await disk.close();
    },
  };
}

/** Makes node 1 leader with its first entry committed. */
async function elect(l: Awaited<ReturnType<typeof gatedLeader>>) {
  for (let i = 0; i < 100 && !l.node.health().ok; i++) {
    l.tick();
    await until(() => l.saving() === 0, "saved");
    l.answer();
    await until(() => l.saving() === 0, "saved");
  }
  assert.equal(l.node.leader(), 1);
  assert.ok(l.node.health().ok);
}

Deno.test("a leader's heartbeats go out while its WAL write is pending, and none counts as late", async () => {
  const l = await gatedLeader();
  try {
    await elect(l);
    l.answer();
    l.hold();
    const write = track(l.node.propose(new TextEncoder().encode("put")));
    await until(() => l.saving() === 1, "the proposal's write is pending");
    // The proposal's appends went out with its Ready, before the write.
    const apps = l.answer().filter((m) => m.type === "app");
    assert.deepEqual([...new Set(apps.map((m) => m.to))].sort(), [2, 3]);
    // 20 ticks (2 s of fake time) with the write still pending: a
    // heartbeat to each peer every tick, none late.
    for (let i = 0; i < 20; i++) {
      l.tick();
      const out = l.answer();
      assert.deepEqual(
        out.filter((m) => m.type === "heartbeat").map((m) => m.to).sort(),
        [2, 3],
        `tick ${i}`,
      );
      assert.equal(l.saving(), 1, "still pending");
    }
    assert.equal(l.metrics.heartbeatsLate.value, 0);
    assert.equal(l.node.leader(), 1, "check-quorum kept it leader");
    // Followers acked the entry, but the leader's own copy is not durable:
    // committed on a majority (2 and 3) nonetheless, applied after the write.
    assert.equal(write.state, "pending");
    l.release();
    await until(() => write.state === "resolved", "the write applied");
    assert.equal(l.metrics.heartbeatsLate.value, 0);
  } finally {
    await l.close();
  }
});

Deno.test("during a pending WAL write, a read's confirmation round and a new proposal's appends go out; the read completes after it", async () => {
  const l = await gatedLeader();
  try {
    await elect(l);
    l.answer();
    l.hold();
    const first = track(l.node.propose(new TextEncoder().encode("a")));
    await until(() => l.saving() === 1, "the first write is pending");
    l.sent.splice(0); // its appends: lost (the next ones cover them)
    // A proposal during the write: its entry goes out at once.
    const second = track(l.node.propose(new TextEncoder().encode("b")));
    const apps = l.sent.filter((m) => m.type === "app");
    assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3]);
    assert.equal(apps[0]!.entries.length, 1, "the second entry alone");
    // A linearizable read: its round of heartbeats (with a context) goes
    // out during the write, and the peers' answers confirm it.
    const read = track(l.node.readBarrier());
    const round = l.sent.filter((m) => m.type === "heartbeat");
    assert.deepEqual(round.map((m) => m.to).sort(), [2, 3]);
    assert.ok(round.every((m) => m.context !== ""));
    l.answer(); // the appends and the read round: both acknowledged
    assert.equal(read.state, "pending", "served once the loop takes it");
    assert.equal(l.node.status().commit, apps[0]!.index + 1, "committed");
    assert.equal(l.saving(), 1);
    l.release();
    await until(
      () => [first, second, read].every((t) => t.state === "resolved"),
      "the writes and the read complete",
    );
    // Nothing promised the leader's disk: it sent no append or vote answer.
    assert.equal(l.metrics.heartbeatsLate.value, 0);
  } finally {
    await l.close();
  }
});
