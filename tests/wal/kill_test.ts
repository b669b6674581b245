/**
 * A real process appending and syncing on the real disk is killed with
 * SIGKILL at random moments; after each kill every record it reported synced
 * must be there, in order, with nothing invented. `WAL_KILL_ITERATIONS`
 * (default 10) sets how many kills; `SEED` replays one sequence.
 */

import assert from "node:assert/strict";
import { DenoFs, Wal } from "../../wal/mod.ts";
import { envCount, seeds, withSeed } from "./helpers.ts";

const CHILD = new URL("./wal_kill_child.ts", import.meta.url).pathname;

/** Counters of the WAL's data records. */
async function recovered(dir: string): Promise<number[]> {
  const { wal, records } = await Wal.open(new DenoFs(), dir, {
    segmentBytes: 16 * 1024,
    segmentStart: () => ({
      firstIndex: 0,
      header: [{ kind: 1, data: new Uint8Array([1]) }],
    }),
  });
  await wal.close();
  return records.filter((r) => r.kind === 2).map((r) =>
    new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true)
  );
}

/** Runs the child until it has reported `reports` synced batches, then kills it. */
async function runAndKill(dir: string, reports: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", CHILD, dir],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let lastSynced = -1;
  let seen = 0;
  let buffered = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (seen < reports) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        lastSynced = Number(line.slice("synced ".length));
        seen++;
      }
    }
  } finally {
    child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    const status = await child.status;
    const stderr = new TextDecoder().decode(
      await new Response(child.stderr).arrayBuffer(),
    );
    assert.ok(
      seen >= reports,
      `child stopped early (code ${status.code}): ${stderr}`,
    );
  }
  return lastSynced;
}

Deno.test("wal: a process killed with SIGKILL while appending loses no synced record", async () => {
  const iterations = envCount("WAL_KILL_ITERATIONS", 10);
  const [seed] = seeds(1, 1);
  const dir = await Deno.makeTempDir({ prefix: "raftkv-kill-" });
  try {
    await withSeed(seed!, async (rng) => {
      let acked = -1;
      for (let i = 0; i < iterations; i++) {
        const synced = await runAndKill(dir, 1 + rng.intn(200));
        acked = Math.max(acked, synced);
        const got = await recovered(dir);
        assert.ok(
          got.length > acked,
          `kill ${i}: reported ${acked} synced, recovered ${got.length}`,
        );
        got.forEach((v, k) =>
          assert.equal(v, k, `kill ${i}: record ${k} is ${v}`)
        );
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
