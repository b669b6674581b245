/**
 * Coalesced wake-ups of the watch streams (http/api/watch_stream.ts). A
 * stream with something new to send asks to be woken; the wake-ups run in
 * one later task (never inside the apply that queued the messages), and at
 * most once per window: what is applied meanwhile waits, at most that
 * long, and goes out with the rest as one chunk per stream. A wake-up asked
 * for after a quiet spell (no run within the window) runs at once, in the
 * next task, and the window is back at its base.
 *
 * The window adapts while the node stays busy: a wake-up asked for sooner
 * than the base interval after the last run (the node applies faster than
 * the base) doubles the window that begins with the next run, up to the
 * maximum; one asked for later halves the current window at once, down to
 * the base. So a node under a steady stream of writes wakes its streams
 * once per maximum window, a load that slows brings the window down within
 * a few runs, and a change after a quiet spell is not delayed at all.
 *
 * Why: each chunk a stream enqueues costs the node a socket write and
 * Deno's per-chunk response-body work, nearly whatever its size
 * (docs/PERFORMANCE.md "Watch"); under load the applies come faster than
 * the window, and the window then bounds the chunks per stream per second.
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

/** Wake-ups run together, at most once per window: see the module doc. */
export class WakeCoalescer {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #clock: WakeClock;
  #windowMs: number;
  #pending: (() => void)[] = [];
  #lastRunAt = -Infinity;

  /**
   * Runs at most once per window, between `intervalMs` (0: in the next
   * task, always) and `maxIntervalMs` (default `intervalMs`: a fixed
   * window; less than `intervalMs` counts as `intervalMs`).
   */
  constructor(
    intervalMs: number,
    clock: WakeClock = REAL_WAKE_CLOCK,
    maxIntervalMs: number = intervalMs,
  ) {
    this.#baseMs = intervalMs;
    this.#maxMs = Math.max(intervalMs, maxIntervalMs);
    this.#windowMs = intervalMs;
    this.#clock = clock;
  }

  /**
   * Calls `wake` in a later task: at the end of the window that began
   * with the last run (at once when it has ended already), together with
   * every wake scheduled until then, in the order they were scheduled.
   * Schedule a wake once until it has run; `wake` must not throw.
   */
  schedule(wake: () => void): void {
    if (this.#pending.length === 0) {
      const sinceRun = this.#clock.now() - this.#lastRunAt;
      if (sinceRun >= this.#baseMs) {
        // Not faster than the base: the window shrinks at once, and after a
        // quiet spell (no run within the window) it is back at the base.
        this.#windowMs = sinceRun >= this.#windowMs
          ? this.#baseMs
          : Math.max(this.#baseMs, this.#windowMs / 2);
      }
      const wait = Math.max(0, this.#windowMs - sinceRun);
      if (sinceRun < this.#baseMs) {
        // Faster than the base: the window after this run is larger.
        this.#windowMs = Math.min(this.#maxMs, this.#windowMs * 2);
      }
      this.#clock.setTimer(() => this.#run(), wait);
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
