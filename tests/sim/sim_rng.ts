/**
 * Seeded randomness for the simulator. Every decision of a run draws from a
 * {@linkcode SimRng} derived from the run's seed (never `Math.random`), so
 * the same seed replays the same run.
 *
 * @module
 */

import { seededRng } from "../../raft/core/mod.ts";

/** A seeded generator with the helpers a simulation needs. */
export class SimRng {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = seededRng(seed).next;
  }

  /** A float in `[0, 1)`. */
  float(): number {
    return this.#next();
  }

  /** An integer in `[0, n)`. */
  intn(n: number): number {
    return Math.floor(this.#next() * n);
  }

  /** An integer in `[lo, hi]`. */
  range(lo: number, hi: number): number {
    return lo + this.intn(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.#next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty list");
    return xs[this.intn(xs.length)]!;
  }

  /** An exponentially distributed integer with the given mean (>= 0). */
  exp(mean: number): number {
    if (mean <= 0) return 0;
    return Math.floor(-Math.log(1 - this.#next()) * mean);
  }

  /** A new independent generator seeded from this one. */
  fork(): SimRng {
    return new SimRng(this.intn(0x1_0000_0000));
  }
}
