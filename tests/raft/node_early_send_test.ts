/**
 * A leader's heartbeats do not wait for its own WAL write: while `save` of
 * one Ready is pending (here: until the test lets it finish), the
 * heartbeats that ticks and reads make meanwhile go out at once
 * (`RawNode.takeEarlyMessages("heartbeat")`), and no late-heartbeat warning
 * is counted, however long the write takes; appends made meanwhile leave
 * with the next Ready. The node is a real RaftNode over DiskStorage on
 * MemFs; its two peers are played by the test; time is a fake clock the
 * test moves.
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
import { turn } from "./node_turns.ts";
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
    /** Answers and lets turns pass until nothing is sent or saved. */
    quiet: async () => {
      for (let i = 0; i < 100; i++) {
        await turn();
        if (sent.length === 0 && saving === 0) return;
        answer();
      }
      throw new Error("never quiet");
    },
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
    await l.quiet();
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

Deno.test("during a pending WAL write, a read's confirmation round goes out; a new proposal's appends wait for the next Ready; both complete after it", async () => {
  const l = await gatedLeader();
  try {
    await elect(l);
    await l.quiet();
    l.hold();
    const first = track(l.node.propose(new TextEncoder().encode("a")));
    await until(() => l.saving() === 1, "the first write is pending");
    l.answer(); // its appends, acknowledged
    // A proposal during the write: its appends wait for the next Ready, to
    // leave with any others made meanwhile.
    const second = track(l.node.propose(new TextEncoder().encode("b")));
    assert.deepEqual(l.sent.filter((m) => m.type === "app"), []);
    // A linearizable read: its round of heartbeats (with a context) goes
    // out during the write, and the peers' answers confirm it.
    const read = track(l.node.readBarrier());
    const round = l.sent.filter((m) => m.type === "heartbeat");
    assert.deepEqual(round.map((m) => m.to).sort(), [2, 3]);
    assert.ok(round.every((m) => m.context !== ""));
    l.answer();
    assert.equal(read.state, "pending", "served once the loop takes it");
    assert.equal(l.saving(), 1);
    l.release();
    // The next Ready sends the second write's appends (before its own save).
    await until(
      () => l.sent.some((m) => m.type === "app" && m.entries.length > 0),
      "the second write's appends go out",
    );
    l.answer();
    await until(
      () => [first, second, read].every((t) => t.state === "resolved"),
      "the writes and the read complete",
    );
    assert.equal(l.metrics.heartbeatsLate.value, 0);
  } finally {
    await l.close();
  }
});
