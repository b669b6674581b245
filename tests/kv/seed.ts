/**
 * Seeds for the kv property tests: `KV_SEED=n` replays one seed; otherwise
 * a fixed list runs. The seed is in every failure message.
 *
 * @module
 */

import { seededRng } from "../../raft/core/rng.ts";

/** The seeds a property test runs with. */
export function testSeeds(count: number): number[] {
  const fixed = Deno.env.get("KV_SEED");
  if (fixed !== undefined) return [Number(fixed)];
  return Array.from({ length: count }, (_, i) => 1000 + i);
}

/** Runs `body` for one seed and prefixes any failure with the replay command. */
export function withSeed(seed: number, body: () => void): void {
  try {
    body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(
      `seed ${seed} failed (replay: KV_SEED=${seed}): ${message}`,
      {
        cause: err,
      },
    );
  }
}

/** Random strings over an alphabet that covers ASCII, BMP above U+E000 and astral characters. */
export function randomKey(
  rng: ReturnType<typeof seededRng>,
  maxLength = 6,
): string {
  const alphabet = [
    "a",
    "b",
    "c",
    "/",
    "é",
    "\u{e000}",
    "\u{ffff}",
    "😀",
    "\u{10000}",
    "z",
  ];
  const length = 1 + rng.intn(maxLength);
  let s = "";
  for (let i = 0; i < length; i++) s += alphabet[rng.intn(alphabet.length)]!;
  return s;
}

export { seededRng };
