/**
 * The only source of randomness the core may use: injected, seeded, and so
 * reproducible. Election timeouts draw from it.
 *
 * @module
 */

/** A source of uniformly distributed integers. */
export interface Rng {
  /** Returns an integer in `[0, n)`; `n` must be a positive integer. */
  intn(n: number): number;
}

/**
 * Creates a deterministic generator (mulberry32) from a 32-bit seed: the same
 * seed yields the same sequence on every machine.
 *
 * @example
 * ```ts
 * import { seededRng } from "./rng.ts";
 * const a = seededRng(7), b = seededRng(7);
 * console.assert(a.intn(100) === b.intn(100));
 * ```
 */
export function seededRng(seed: number): Rng & { next(): number } {
  let state = seed >>> 0;
  function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return {
    next,
    intn(n: number): number {
      return Math.floor(next() * n);
    },
  };
}
