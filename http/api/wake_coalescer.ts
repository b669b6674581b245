/**
 * Coalesced wake-ups of the watch streams (http/api/watch_stream.ts). A
 * stream with something new to send asks to be woken; the wake-ups run in
 * one later task (never inside the apply that queued the messages), and at
 * most once per interval: what is applied meanwhile waits, at most that
 * long, and goes out with the rest as one chunk per stream. A wake-up asked
 * for after a quiet spell (no run in the last interval) runs at once, in
 * the next task.
 *
 * Why: each chunk a stream enqueues costs the node a socket write and
 * Deno's per-chunk response-body work, nearly whatever its size
 * (docs/PERFORMANCE.md "Watch"); under load the applies come faster than
 * the interval, and the interval then bounds the chunks per stream per
 * second.
 *
 * @module
 */

/** The clock and timer a {@linkcode WakeCoalescer} runs on. */
export interface WakeClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` once, in a later task, after `ms` milliseconds. */
  setTimer(fn: () => void, ms: number): void;
}

/** `performance.now()` and `setTimeout`. */
export const REAL_WAKE_CLOCK: WakeClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    setTimeout(fn, ms);
  },
};

/** Wake-ups run together, at most once per interval: see the module doc. */
export class WakeCoalescer {
  readonly #intervalMs: number;
  readonly #clock: WakeClock;
  #pending: (() => void)[] = [];
  #lastRunAt = -Infinity;

  /** Runs at most once every `intervalMs` (0: in the next task, always). */
  constructor(intervalMs: number, clock: WakeClock = REAL_WAKE_CLOCK) {
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /**
   * Calls `wake` in a later task: once `intervalMs` has passed since the
   * last run (at once when it has already), together with every wake
   * scheduled until then, in the order they were scheduled. Schedule a
   * wake once until it has run; `wake` must not throw.
   */
  schedule(wake: () => void): void {
    if (this.#pending.length === 0) {
      const wait = this.#lastRunAt + this.#intervalMs - this.#clock.now();
      this.#clock.setTimer(() => this.#run(), Math.max(0, wait));
    }
    this.#pending.push(wake);
  }

  #run(): void {
    this.#lastRunAt = this.#clock.now();
    const wakes = this.#pending;
    this.#pending = [];
    for (const wake of wakes) wake();
  }
}
