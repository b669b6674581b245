/**
 * The simulation in CI: a fixed range of seeds (about two minutes on a
 * two-core machine) must hold every invariant, a run must be exactly
 * reproducible from its seed, and the checkers must still have teeth (a
 * storage that forgets the vote is caught and reported with its replay
 * command). `SIM_CI_SEEDS=A..B` overrides the range for a quicker local run.
 */

import assert from "node:assert/strict";
import { MemDurableStore, type PersistBatch } from "./sim_storage.ts";
import { replayCommand, SimFailure, Simulation } from "./sim_cluster.ts";
import { parseSeedRange, runSeeds } from "./sim_runner.ts";

/** The seeds CI runs. */
const CI_SEEDS = "1..5000";

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
    summary.crashes > 0 && summary.tornWrites > 0,
    "no crashes or torn writes happened",
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
    summary.readsServed > 0 && summary.acked > 0,
    "no read served or write acknowledged",
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
class ForgetfulStore extends MemDurableStore {
  override persist(batch: PersistBatch): void {
    const hs = batch.hardState;
    super.persist(hs ? { ...batch, hardState: { ...hs, vote: 0 } } : batch);
  }
}

Deno.test("simulation: a storage that forgets the vote is caught, with the seed, the nodes and a replay command", async () => {
  let failure: SimFailure | undefined;
  try {
    await new Simulation({ seed: 3, durable: () => new ForgetfulStore() })
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
  assert.ok(failure.report.includes(`replay: ${replayCommand(3)}`));
});

Deno.test("simulation: seed ranges parse as N or A..B", () => {
  assert.deepEqual(parseSeedRange("42"), { first: 42, last: 42 });
  assert.deepEqual(parseSeedRange("1..10000"), { first: 1, last: 10000 });
  assert.throws(() => parseSeedRange("5..1"), /empty/);
  assert.throws(() => parseSeedRange("x"), /bad seed range/);
});
