/**
 * The simulation in CI: a fixed range of seeds (every node the production
 * RaftNode over the real disk storage on a crashing in-memory file system,
 * applying to the real key-value store; about 30 s of CPU) must hold
 * every invariant, a run must be exactly reproducible from its seed, and
 * the checkers must still have teeth (a storage that forgets the vote, and
 * a disk that ignores fsync, are caught and reported with the trace and the
 * replay command). `SIM_CI_SEEDS=A..B` overrides the range; longer runs:
 * `deno task test:sim --seeds A..B`.
 */

import assert from "node:assert/strict";
import type { PersistBatch } from "./sim_storage.ts";
import { DiskDurableStore } from "./sim_disk_store.ts";
import { replayCommand, SimFailure, Simulation } from "./sim_cluster.ts";
import { parseSeedRange, runSeeds } from "./sim_runner.ts";

/** The seeds CI runs. */
const CI_SEEDS = "1..400";

Deno.test(`simulation: seeds ${Deno.env.get("SIM_CI_SEEDS") ?? CI_SEEDS} hold every invariant and recover after healing`, async () => {
  const range = parseSeedRange(Deno.env.get("SIM_CI_SEEDS") ?? CI_SEEDS);
  const reports: string[] = [];
  const summary = await runSeeds(range, {
    onFailure: (f, nth) => {
      if (nth <= 3) reports.push(f.report);
      else {reports.push(
          `FAIL seed ${f.seed}: ${f.invariant}; replay: ${
            replayCommand(f.seed)
          }`,
        );}
    },
  });
  const failed = summary.failures.map((f) => f.seed);
  assert.deepEqual(
    failed,
    [],
    `${summary.describe(0)}\n\n${reports.join("\n\n")}`,
  );
  // The runs did exercise what they claim to.
  assert.ok(
    summary.crashes > 0 && summary.tornWrites > 0 && summary.writesCut > 0,
    "no crashes, or none inside a write",
  );
  const d = summary.disk;
  assert.ok(
    d.segmentCuts > 0 && d.segmentsReleased > 0 && d.tailsCut > 0,
    `the WAL cut no segment, released none or repaired no torn tail: ${
      JSON.stringify(d)
    }`,
  );
  assert.ok(
    d.snapshotFiles > 0 && d.snapshotsRemoved > 0,
    "no snapshot file written or pruned",
  );
  assert.ok(
    summary.removed > 0 && summary.promoted > 0 && summary.added > 0,
    "no membership changes committed",
  );
  assert.ok(
    summary.snapshotsSent > 0 && summary.transfers > 0,
    "no snapshot sent or transfer made",
  );
  assert.ok(
    summary.snapshotsTaken > 0 && summary.snapshotReads > 0,
    "no background snapshot taken, or none read back to be sent",
  );
  assert.ok(
    summary.leaderWriteCrashes > 0 && summary.retryCrashes > 0,
    "no crash of a leader inside a write it had sent, or inside a membership retry",
  );
  assert.ok(
    summary.backgroundSnapshotCrashes > 0 &&
      summary.receivedSnapshotCrashes > 0 && summary.snapshotReadCrashes > 0 &&
      summary.receiveCrashes > 0,
    "no crash inside a background snapshot, a received one, a read-back or a transfer",
  );
  const sd = summary.sends;
  assert.ok(
    sd.completed > 0 && sd.failed > 0 && sd.senderCrashes > 0 &&
      sd.receiverCrashes > 0 && sd.replacedDuring > 0 && sd.prunedDuring > 0,
    `the streamed snapshot sends missed a case: ${JSON.stringify(sd)}`,
  );
  const w = summary.watch;
  assert.ok(
    w.events > 0 && w.progress > 0 && w.cancelledSlow > 0 &&
      w.cancelledCompacted > 0 && w.resumedAfterCrash > 0 &&
      w.compacted410 > 0,
    `the watchers missed a case: ${JSON.stringify(w)}`,
  );
  const l = summary.leases, t = summary.txns;
  assert.ok(
    l.granted > 0 && l.keepalivesOk > 0 && l.forwarded > 0 &&
      l.revoked > 0 && l.abandoned > 0,
    `the lease clients missed a case: ${JSON.stringify(l)}`,
  );
  assert.ok(
    t.succeeded > 0 && t.failed > 0,
    `no transaction succeeded, or none failed its compare: ${
      JSON.stringify(t)
    }`,
  );
  assert.ok(
    summary.readsServed > 0 && summary.acked > 0,
    "no read served or write acknowledged",
  );
  const answered = (status: string) =>
    [...summary.writeAnswers].some(([kind, n]) =>
      kind.startsWith(status) && n > 0
    );
  assert.ok(
    summary.proposalsRetried > 0 && answered("503 ") && answered("504 "),
    "no write proposed again after a leader change, or none answered 503 or 504",
  );
});

Deno.test("simulation: the same seed replays exactly the same run", async () => {
  const trace = async (seed: number) => {
    const lines: string[] = [];
    const result = await new Simulation({ seed, trace: (l) => lines.push(l) })
      .run();
    return { lines, result };
  };
  const a = await trace(7);
  const b = await trace(7);
  assert.ok(a.lines.length > 1000);
  assert.deepEqual(b.result, a.result);
  assert.deepEqual(b.lines, a.lines);
  const c = await trace(8);
  assert.notDeepEqual(c.lines, a.lines);
});

/** A broken disk: it never writes the vote down (a restarted node may vote twice in a term). */
class ForgetfulStore extends DiskDurableStore {
  override persist(batch: PersistBatch): Promise<void> {
    const hs = batch.hardState;
    return super.persist(
      hs ? { ...batch, hardState: { ...hs, vote: 0 } } : batch,
    );
  }
}

Deno.test("simulation: a storage that forgets the vote is caught, with the seed, the nodes and a replay command", async () => {
  let failure: SimFailure | undefined;
  try {
    await new Simulation({ seed: 3, durable: (o) => new ForgetfulStore(o) })
      .run();
  } catch (e) {
    if (!(e instanceof SimFailure)) throw e;
    failure = e;
  }
  assert.ok(failure, "the broken storage went unnoticed");
  assert.equal(failure.invariant, "durable before sent");
  assert.equal(failure.seed, 3);
  assert.match(
    failure.report,
    /SIMULATION FAILURE seed 3: durable before sent/,
  );
  assert.match(failure.report, /node 1 (up|down)/);
  // The trace: messages in the manner of DescribeMessage, and Ready batches.
  assert.match(
    failure.report,
    /[a-zA-Z]+ \d+->\d+ term=\d+ logTerm=\d+ index=\d+/,
  );
  assert.match(failure.report, /ready: hs\{term \d+ vote \d+ commit \d+\}/);
  assert.ok(failure.report.includes(`replay: ${replayCommand(3)}`));
});

Deno.test("simulation: a disk that ignores fsync is caught by the recovery check", async () => {
  let failure: SimFailure | undefined;
  try {
    await new Simulation({
      seed: 1,
      durable: (o) => new DiskDurableStore({ ...o, ignoreFsync: true }),
    }).run();
  } catch (e) {
    if (!(e instanceof SimFailure)) throw e;
    failure = e;
  }
  assert.ok(failure, "the lying disk went unnoticed");
  assert.equal(failure.invariant, "durable recovery");
  assert.match(failure.report, /recovered snapshot .* expected snapshot/);
});

Deno.test("simulation: seed ranges parse as N or A..B", () => {
  assert.deepEqual(parseSeedRange("42"), { first: 42, last: 42 });
  assert.deepEqual(parseSeedRange("1..10000"), { first: 1, last: 10000 });
  assert.throws(() => parseSeedRange("5..1"), /empty/);
  assert.throws(() => parseSeedRange("x"), /bad seed range/);
});
