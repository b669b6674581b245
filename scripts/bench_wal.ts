// deno-lint-ignore-file no-console
/**
 * WAL benchmark: appends/s of 100-byte entries at 1, 16 and 256 entries per
 * fdatasync, beside the raw write+fdatasync rate of the same disk measured
 * in the same run. Prints a Markdown table (copied into docs/WAL.md).
 *
 * Run: `deno task bench:wal`. Env: `BENCH_WAL_MS` (time per case, default
 * 2000), `BENCH_WAL_DIR` (where to write, default the system temp dir).
 *
 * @module
 */

import { DenoFs, RecordKind, Wal } from "../wal/mod.ts";
import { DiskStorage, encodeEntries, type Entry } from "../raft/mod.ts";

const CASE_MS = Number(Deno.env.get("BENCH_WAL_MS") ?? "2000");
const ROUNDS = 4;
const ENTRY_BYTES = 100;

/** One benchmark case: `op` performs one fsync'd append of `batch` entries. */
interface Case {
  name: string;
  batch: number;
  op(): Promise<void>;
  close(): Promise<void>;
  syncs: number;
  ms: number;
}

function makeBatch(batch: number, first: number): Entry[] {
  const ents: Entry[] = [];
  for (let k = 0; k < batch; k++) {
    ents.push({
      term: 1,
      index: first + k,
      type: "normal",
      data: new Uint8Array(ENTRY_BYTES).fill(k),
    });
  }
  return ents;
}

async function raw(dir: string, preallocate: boolean): Promise<Case> {
  const path = `${dir}/raw-${preallocate ? "pre" : "grow"}`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (preallocate) {
    await file.truncate(64 * 1024 * 1024);
    await file.sync();
  }
  const record = new Uint8Array(ENTRY_BYTES).fill(7);
  return {
    name: preallocate
      ? "raw write+fdatasync, preallocated file"
      : "raw write+fdatasync, growing file",
    batch: 1,
    syncs: 0,
    ms: 0,
    async op() {
      let off = 0;
      while (off < record.length) off += await file.write(record.subarray(off));
      await file.syncData();
    },
    close: async () => {
      file.close();
      await Deno.remove(path);
    },
  };
}

async function wal(
  dir: string,
  batch: number,
  preallocate: boolean,
): Promise<Case> {
  const walDir = `${dir}/wal-${batch}-${preallocate}`;
  const header = [{ kind: RecordKind.metadata, data: new Uint8Array([1]) }];
  let next = 1;
  const { wal } = await Wal.open(new DenoFs(), walDir, {
    preallocate,
    segmentStart: () => ({ firstIndex: next, header }),
  });
  return {
    name: `Wal.append${preallocate ? "" : " (no preallocation)"}`,
    batch,
    syncs: 0,
    ms: 0,
    async op() {
      const ents = makeBatch(batch, next);
      await wal.append([{
        kind: RecordKind.entries,
        data: encodeEntries(ents),
      }]);
      next += batch;
    },
    close: async () => {
      await wal.close();
      await Deno.remove(walDir, { recursive: true });
    },
  };
}

async function storage(dir: string, batch: number): Promise<Case> {
  const dataDir = `${dir}/storage-${batch}`;
  const s = await DiskStorage.open(new DenoFs(), dataDir);
  let next = 1;
  return {
    name: "DiskStorage.save (+ hard state)",
    batch,
    syncs: 0,
    ms: 0,
    async op() {
      const entries = makeBatch(batch, next);
      next += batch;
      await s.save({
        entries,
        hardState: { term: 1, vote: 1, commit: next - 1 },
        mustSync: true,
      });
    },
    close: async () => {
      await s.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

const base = Deno.env.get("BENCH_WAL_DIR");
const dir = await Deno.makeTempDir({ dir: base, prefix: "raftkv-bench-wal-" });
try {
  const cases: Case[] = [
    await raw(dir, false),
    await raw(dir, true),
    await wal(dir, 1, true),
    await wal(dir, 16, true),
    await wal(dir, 256, true),
    await wal(dir, 1, false),
    await wal(dir, 256, false),
    await storage(dir, 1),
    await storage(dir, 256),
  ];
  for (const c of cases) for (let i = 0; i < 20; i++) await c.op(); // warm up
  // Rounds interleave the cases so that drift of a shared disk hits all alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const start = performance.now();
      const deadline = start + CASE_MS / ROUNDS;
      while (performance.now() < deadline) {
        await c.op();
        c.syncs++;
      }
      c.ms += performance.now() - start;
    }
  }
  for (const c of cases) await c.close();
  const rawLatency = cases[0]!.ms / cases[0]!.syncs;
  console.log(
    `# WAL benchmark: ${ENTRY_BYTES}-byte entries, ${CASE_MS} ms per case in ${ROUNDS} rounds, in ${dir}`,
  );
  console.log(
    `# deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}`,
  );
  console.log("");
  console.log(
    "| case | entries/fsync | fsyncs/s | entries/s | µs per fsync | vs raw latency |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const c of cases) {
    const perSync = c.ms / c.syncs;
    console.log(
      `| ${c.name} | ${c.batch} | ${
        Math.round(c.syncs / (c.ms / 1000)).toLocaleString("en-US")
      } | ` +
        `${
          Math.round((c.syncs * c.batch) / (c.ms / 1000)).toLocaleString(
            "en-US",
          )
        } | ` +
        `${(perSync * 1000).toFixed(0)} | ${
          (perSync / rawLatency).toFixed(2)
        }x |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
