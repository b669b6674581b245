/**
 * Shared helpers of the storage tests: seeded randomness that names its seed
 * on failure, a capturing logger, and byte-level snapshots of a MemFs tree.
 *
 * @module
 */

import { seededRng } from "../../raft/core/rng.ts";
import { type Fs, joinPath, MemFs } from "../../wal/mod.ts";

/** A seeded generator with the helpers the tests use. */
export interface TestRng {
  seed: number;
  intn(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
}

/** A seeded rng; same seed, same sequence. */
export function testRng(seed: number): TestRng {
  const r = seededRng(seed);
  return { seed, intn: (n) => r.intn(n), chance: (p) => r.next() < p };
}

/**
 * The seeds a randomized test runs: `count` seeds from `first`, or just the
 * one in env `SEED` (to replay a failure).
 */
export function seeds(first: number, count: number): number[] {
  const one = Deno.env.get("SEED");
  if (one !== undefined) return [Number(one)];
  return Array.from({ length: count }, (_, i) => first + i);
}

/** A count from env `name` (for longer runs on demand), else `fallback`. */
export function envCount(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Math.max(1, Number(v));
}

/**
 * Runs `fn` with a generator seeded by `seed`; a failure is rethrown with
 * the seed and the replay command in its message.
 */
export async function withSeed(
  seed: number,
  fn: (rng: TestRng) => Promise<void> | void,
): Promise<void> {
  try {
    await fn(testRng(seed));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(
      `failed with seed ${seed} (replay with SEED=${seed}): ${msg}`,
      {
        cause: err,
      },
    );
  }
}

/** A logger that remembers its lines, for asserting that a warning was given. */
export function captureLogger(): {
  lines: { level: string; msg: string; fields?: Record<string, unknown> }[];
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
} {
  const lines: {
    level: string;
    msg: string;
    fields?: Record<string, unknown>;
  }[] = [];
  const at =
    (level: string) => (msg: string, fields?: Record<string, unknown>) => {
      lines.push({ level, msg, fields });
    };
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}

/** Every file under `dir` (one level) with its bytes, sorted by name. */
export async function dirBytes(
  fs: Fs,
  dir: string,
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of (await fs.readDir(dir)).sort()) {
    const st = await fs.stat(joinPath(dir, name));
    if (st?.isFile) out.set(name, await fs.readFile(joinPath(dir, name)));
  }
  return out;
}

/** Writes `files` into `dir` of a fresh MemFs, synced (a disk image). */
export async function memFsWith(
  dir: string,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<MemFs> {
  const fs = new MemFs();
  await fs.mkdir(dir);
  for (const [name, bytes] of files) {
    const f = await fs.open(joinPath(dir, name), { write: true, create: true });
    await f.write(bytes, 0);
    await f.sync();
    f.close();
  }
  await fs.syncDir(dir);
  return fs;
}
