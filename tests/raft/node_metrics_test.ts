/**
 * What the runtime records and warns about: WAL fsync timing and the
 * slow-fsync warning (raft/disk_storage.ts), and, on a three-node cluster in
 * one process, the node's counters and the late-heartbeat warning
 * (raft/node.ts). Time is a fake clock the test moves: no sleeps, no
 * timing thresholds; warnings are checked by their structured fields.
 */

import assert from "node:assert/strict";
import {
  type FileStat,
  type Fs,
  type FsFile,
  MemFs,
  type OpenOptions,
} from "../../wal/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  type LogFields,
  type Logger,
  type Message,
  RaftMetrics,
  RaftNode,
  seededRng,
  type StateMachine,
} from "../../raft/mod.ts";

/** A clock in ms that moves only when told. */
class FakeClock {
  nowMs = 1_000;
  /** How long every fdatasync "takes". */
  syncMs = 1;
  readonly now = () => this.nowMs;
}

/** MemFs whose fdatasync advances the fake clock by `clock.syncMs`. */
class SlowSyncFs implements Fs {
  readonly inner = new MemFs();
  constructor(readonly clock: FakeClock) {}

  async open(path: string, options?: OpenOptions): Promise<FsFile> {
    const f = await this.inner.open(path, options);
    const clock = this.clock;
    return {
      read: (buf, pos) => f.read(buf, pos),
      write: (data, pos) => f.write(data, pos),
      truncate: (size) => f.truncate(size),
      syncData: () => {
        clock.nowMs += clock.syncMs;
        return f.syncData();
      },
      sync: () => f.sync(),
      size: () => f.size(),
      close: () => f.close(),
    };
  }
  readFile(path: string): Promise<Uint8Array> {
    return this.inner.readFile(path);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  remove(path: string): Promise<void> {
    return this.inner.remove(path);
  }
  readDir(path: string): Promise<string[]> {
    return this.inner.readDir(path);
  }
  mkdir(path: string): Promise<void> {
    return this.inner.mkdir(path);
  }
  syncDir(path: string): Promise<void> {
    return this.inner.syncDir(path);
  }
  stat(path: string): Promise<FileStat | undefined> {
    return this.inner.stat(path);
  }
}

/** A logger that keeps warnings (and errors) for assertions. */
class CapturingLogger implements Logger {
  readonly lines: { level: string; msg: string; fields: LogFields }[] = [];
  debug(): void {}
  info(): void {}
  warn(msg: string, fields: LogFields = {}): void {
    this.lines.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields: LogFields = {}): void {
    this.lines.push({ level: "error", msg, fields });
  }
  /** Warnings whose message contains `text`. */
  warnings(text: string): LogFields[] {
    return this.lines.filter((l) => l.level === "warn" && l.msg.includes(text))
      .map((l) => l.fields);
  }
}

const entry = (index: number, bytes: number) => ({
  index,
  term: 1,
  type: "normal" as const,
  data: new Uint8Array(bytes),
});

Deno.test("a synced WAL append is timed; one over 100 ms warns with its duration and size", async () => {
  const clock = new FakeClock();
  const logger = new CapturingLogger();
  const metrics = new RaftMetrics();
  const storage = await DiskStorage.open(new SlowSyncFs(clock), "/d", {
    logger,
    now: clock.now,
    fsyncDuration: metrics.walFsyncDuration,
    onSlowFsync: () => metrics.walSlowFsyncs.inc(),
    preallocate: false,
  });
  try {
    clock.syncMs = 4;
    await storage.save({ entries: [entry(1, 10)], mustSync: true });
    assert.equal(metrics.walFsyncDuration.count, 1);
    assert.deepEqual(logger.warnings("fsync"), []);
    // An unsynced hard-state-only save is not an fsync.
    await storage.save({
      hardState: { term: 1, vote: 0, commit: 1 },
      entries: [],
      mustSync: false,
    });
    assert.equal(metrics.walFsyncDuration.count, 1);

    clock.syncMs = 150;
    await storage.save({ entries: [entry(2, 300)], mustSync: true });
    assert.equal(metrics.walFsyncDuration.count, 2);
    assert.equal(metrics.walSlowFsyncs.value, 1);
    const [slow, ...more] = logger.warnings("fsync");
    assert.equal(more.length, 0);
    assert.equal(slow!.durationMs, 150);
    assert.equal(slow!.thresholdMs, 100);
    assert.ok(
      (slow!.bytes as number) >= 300,
      `bytes ${slow!.bytes} include the entry`,
    );
    // 4 ms landed in le=0.004, 150 ms in le=0.256 (cumulative from there).
    const h = metrics.walFsyncDuration;
    assert.equal(h.counts[h.bounds.indexOf(0.004)], 1);
    assert.equal(h.counts[h.bounds.indexOf(0.256)], 1);
    assert.ok(Math.abs(h.sum - 0.154) < 1e-9);
  } finally {
    await storage.close();
  }
});

Deno.test("the slow-fsync threshold is configurable", async () => {
  const clock = new FakeClock();
  const logger = new CapturingLogger();
  const storage = await DiskStorage.open(new SlowSyncFs(clock), "/d", {
    logger,
    now: clock.now,
    slowFsyncMs: 10,
    preallocate: false,
  });
  try {
    clock.syncMs = 20;
    await storage.save({ entries: [entry(1, 1)], mustSync: true });
    assert.equal(logger.warnings("fsync")[0]?.thresholdMs, 10);
  } finally {
    await storage.close();
  }
});

// ---- a three-node cluster in one process -------------------------------------

/** Counts what it applies. */
class CountingMachine implements StateMachine {
  applied = 0;
  apply(): unknown {
    return ++this.applied;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(): void {}
}

interface TestNode {
  node: RaftNode;
  metrics: RaftMetrics;
  logger: CapturingLogger;
  storage: DiskStorage;
}

const TICK_MS = 100;

/** Lets every node's Ready loop and the in-memory network run dry. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

async function startCluster(clock: FakeClock): Promise<TestNode[]> {
  // Syncs take no time here: only the test moves the clock.
  clock.syncMs = 0;
  const peers = new Map([1, 2, 3].map((id) => [id, `http://node${id}`]));
  const nodes: TestNode[] = [];
  for (const id of [1, 2, 3]) {
    const logger = new CapturingLogger();
    const metrics = new RaftMetrics();
    const storage = await DiskStorage.open(new SlowSyncFs(clock), "/d", {
      logger,
      now: clock.now,
      fsyncDuration: metrics.walFsyncDuration,
      preallocate: false,
    });
    const node = new RaftNode({
      id,
      peers,
      join: false,
      storage,
      stateMachine: new CountingMachine(),
      rng: seededRng(id * 7919),
      epoch: id,
      logger,
      electionTicks: 10,
      heartbeatTicks: 1,
      metrics,
      tickMs: TICK_MS,
      now: clock.now,
    });
    nodes.push({ node, metrics, logger, storage });
  }
  const byId = new Map(nodes.map((n) => [n.node.id, n.node]));
  for (const { node } of nodes) {
    node.setTransport({
      send(msgs: Message[]) {
        for (const m of msgs) {
          queueMicrotask(() => {
            try {
              byId.get(m.to)?.receive([m]);
            } catch {
              // A stopped peer: the message is lost, as on a network.
            }
          });
        }
      },
    });
    node.start();
  }
  return nodes;
}

/** One tick of every node, `TICK_MS` apart on the fake clock. */
async function tickAll(nodes: TestNode[], clock: FakeClock): Promise<void> {
  clock.nowMs += TICK_MS;
  for (const { node } of nodes) node.tick();
  await settle();
}

async function electLeader(
  nodes: TestNode[],
  clock: FakeClock,
): Promise<TestNode> {
  for (let t = 0; t < 200; t++) {
    await tickAll(nodes, clock);
    const leaders = new Set(nodes.map((n) => n.node.leader()));
    const [only] = leaders;
    if (leaders.size === 1 && only !== 0) {
      return nodes.find((n) => n.node.id === only)!;
    }
  }
  throw new Error("no leader within 200 ticks");
}

Deno.test("a node counts leader changes, committed proposals, applies and fsyncs", async () => {
  const clock = new FakeClock();
  const nodes = await startCluster(clock);
  try {
    const leader = await electLeader(nodes, clock);
    for (const n of nodes) assert.equal(n.metrics.leaderChanges.value, 1);
    const follower = nodes.find((n) => n !== leader)!;
    const before = follower.metrics.applyDuration.count;
    // A proposal through a follower is counted on the follower.
    const p = follower.node.propose(new Uint8Array([1]));
    await tickAll(nodes, clock);
    await p;
    assert.equal(follower.metrics.proposalsCommitted.value, 1);
    assert.equal(leader.metrics.proposalsCommitted.value, 0);
    assert.ok(follower.metrics.applyDuration.count > before);
    for (const n of nodes) {
      assert.ok(n.metrics.walFsyncDuration.count > 0, `node ${n.node.id}`);
    }
    // A caller that gives up is counted as timed out.
    const abort = new AbortController();
    const q = leader.node.propose(new Uint8Array([2]), abort.signal);
    abort.abort(new Error("deadline"));
    await assert.rejects(q, /deadline/);
    assert.equal(leader.metrics.proposalsTimedOut.value, 1);
    // Nothing was slow: no warnings anywhere.
    for (const n of nodes) assert.deepEqual(n.logger.lines, []);
  } finally {
    for (const n of nodes) n.node.stop();
    await settle();
    for (const n of nodes) await n.storage.close();
  }
});

Deno.test("a leader whose heartbeats go out late warns with the gap per peer", async () => {
  const clock = new FakeClock();
  const nodes = await startCluster(clock);
  try {
    const leader = await electLeader(nodes, clock);
    // Steady ticks: heartbeats every 100 ms, no warning.
    for (let i = 0; i < 5; i++) await tickAll(nodes, clock);
    assert.deepEqual(leader.logger.warnings("heartbeat"), []);
    // The leader's loop stalls: its next tick comes 700 ms after the last.
    clock.nowMs += 700;
    leader.node.tick();
    await settle();
    const late = leader.logger.warnings("heartbeat");
    assert.deepEqual(
      late.map((f) => f.peer).sort(),
      nodes.filter((n) => n !== leader).map((n) => n.node.id).sort(),
    );
    for (const f of late) {
      assert.equal(f.heartbeatIntervalMs, TICK_MS);
      assert.equal(f.expectedMs, 2 * TICK_MS);
      assert.equal(f.gapMs, 700);
      assert.equal(f.exceededMs, 500);
    }
    assert.equal(leader.metrics.heartbeatsLate.value, 2);
    for (const n of nodes.filter((n) => n !== leader)) {
      assert.equal(n.metrics.heartbeatsLate.value, 0);
    }
  } finally {
    for (const n of nodes) n.node.stop();
    await settle();
    for (const n of nodes) await n.storage.close();
  }
});
