// deno-lint-ignore-file no-console -- a command-line tool: its output is the point.
/**
 * Runs simulation seeds from the command line:
 *
 * ```sh
 * deno task test:sim                      # seeds 1..200
 * deno task test:sim --seeds 1..10000     # a range (or SIM_SEEDS=1..10000)
 * deno task test:sim --seed 42 --trace    # replay one seed, printing every step (or SIM_SEED=42)
 * ```
 *
 * Prints progress and a summary; every failure prints its seed, tick,
 * invariant, each node's state, the last steps and the one-line command
 * that replays it. Exits 1 when any seed failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseSeedRange, runSeeds, type SeedRange } from "./sim_runner.ts";
import { replayCommand } from "./sim_cluster.ts";

/** Seeds run when none are given. */
const DEFAULT_SEEDS = "1..200";

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seeds: { type: "string" },
      seed: { type: "string" },
      trace: { type: "boolean", default: false },
      "max-reports": { type: "string", default: "3" },
    },
  });
  const single = values.seed ?? Deno.env.get("SIM_SEED");
  const spec = single !== undefined
    ? `${single}..${single}`
    : values.seeds ?? Deno.env.get("SIM_SEEDS") ?? DEFAULT_SEEDS;
  let range: SeedRange;
  try {
    range = parseSeedRange(spec);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const maxReports = Number(values["max-reports"]);
  const count = range.last - range.first + 1;
  console.log(`simulating seeds ${range.first}..${range.last} (${count})`);
  const started = performance.now();
  let lastPrint = started;
  const summary = await runSeeds(range, {
    trace: values.trace ? (line) => console.log(line) : undefined,
    onFailure: (f, nth) => {
      if (nth <= maxReports) console.log(`\n${f.report}\n`);
      else {console.log(
          `FAIL seed ${f.seed}: ${f.invariant} (tick ${f.tick}); replay: ${
            replayCommand(f.seed)
          }`,
        );}
    },
    onProgress: (done, failed) => {
      const now = performance.now();
      if (now - lastPrint < 5000 && done !== count) return;
      lastPrint = now;
      const secs = (now - started) / 1000;
      console.log(
        `  ${done}/${count} seeds, ${failed} failed, ${secs.toFixed(1)}s`,
      );
    },
  });
  const secs = (performance.now() - started) / 1000;
  console.log(summary.describe(secs));
  return summary.failures.length > 0 ? 1 : 0;
}

Deno.exit(await main());
