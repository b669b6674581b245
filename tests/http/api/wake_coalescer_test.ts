import assert from "node:assert/strict";
import {
  type WakeClock,
  WakeCoalescer,
} from "../../../http/api/wake_coalescer.ts";

/** A clock moved by hand; timers run when `advance` passes their time. */
class ManualClock implements WakeClock {
  time = 0;
  timers: { at: number; fn: () => void }[] = [];
  /** The delays asked for, in order. */
  delays: number[] = [];
  now(): number {
    return this.time;
  }
  setTimer(fn: () => void, ms: number): void {
    this.delays.push(ms);
    this.timers.push({ at: this.time + ms, fn });
  }
  advance(ms: number): void {
    this.time += ms;
    const due = this.timers.filter((t) => t.at <= this.time);
    this.timers = this.timers.filter((t) => t.at > this.time);
    for (const t of due) t.fn();
  }
}

Deno.test("wake coalescer: a wake after a quiet spell runs in the next task, not inside the call", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(10, clock);
  const ran: string[] = [];
  w.schedule(() => ran.push("a"));
  assert.deepEqual(ran, [], "not inside schedule");
  assert.deepEqual(clock.delays, [0]);
  clock.advance(0);
  assert.deepEqual(ran, ["a"]);
});

Deno.test("wake coalescer: wakes within the interval wait for its end and run together, in order, with one timer", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(10, clock);
  const ran: string[] = [];
  w.schedule(() => ran.push("a"));
  clock.advance(0); // runs a at t=0
  clock.advance(3);
  w.schedule(() => ran.push("b"));
  clock.advance(2);
  w.schedule(() => ran.push("c"));
  assert.deepEqual(clock.delays, [0, 7], "one timer, to t=10");
  clock.advance(4); // t=9
  assert.deepEqual(ran, ["a"]);
  clock.advance(1); // t=10
  assert.deepEqual(ran, ["a", "b", "c"]);
  // The next run may not come before t=20; after it, a quiet spell.
  w.schedule(() => ran.push("d"));
  assert.deepEqual(clock.delays, [0, 7, 10]);
  clock.advance(10);
  assert.deepEqual(ran, ["a", "b", "c", "d"]);
  clock.advance(25);
  w.schedule(() => ran.push("e"));
  assert.equal(clock.delays.at(-1), 0, "quiet for longer than the interval");
  clock.advance(0);
  assert.deepEqual(ran, ["a", "b", "c", "d", "e"]);
});

Deno.test("wake coalescer: interval 0 runs every batch in the next task", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(0, clock);
  const ran: number[] = [];
  for (let i = 0; i < 3; i++) {
    w.schedule(() => ran.push(i));
    w.schedule(() => ran.push(i + 10));
    clock.advance(0);
  }
  assert.deepEqual(clock.delays, [0, 0, 0]);
  assert.deepEqual(ran, [0, 10, 1, 11, 2, 12]);
});

Deno.test("wake coalescer: a wake scheduled while the batch runs goes to the next run", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(10, clock);
  const ran: string[] = [];
  w.schedule(() => {
    ran.push("a");
    w.schedule(() => ran.push("b"));
  });
  clock.advance(0);
  assert.deepEqual(ran, ["a"]);
  assert.deepEqual(clock.delays, [0, 10]);
  clock.advance(10);
  assert.deepEqual(ran, ["a", "b"]);
});

/** Schedules a wake `gap` ms after the last run and runs it; returns the wait. */
function wakeAfter(clock: ManualClock, w: WakeCoalescer, gap: number): number {
  clock.advance(gap);
  const before = clock.delays.length;
  let ran = false;
  w.schedule(() => ran = true);
  assert.equal(clock.delays.length, before + 1, "one timer per run");
  const wait = clock.delays.at(-1)!;
  clock.advance(wait);
  assert.ok(ran);
  return wait;
}

Deno.test("wake coalescer: while wakes come faster than the base, the window doubles up to the maximum", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(10, clock, 40);
  assert.equal(wakeAfter(clock, w, 0), 0, "the first wake: a quiet spell");
  // Each wake 2 ms after the last run: the window that begins with the
  // next run doubles: 10, 20, 40, then stays at 40.
  assert.deepEqual(
    [2, 2, 2, 2, 2].map((gap) => wakeAfter(clock, w, gap)),
    [8, 18, 38, 38, 38],
  );
});

Deno.test("wake coalescer: wakes slower than the base halve the window at once; a quiet spell resets it", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(10, clock, 40);
  wakeAfter(clock, w, 0);
  for (let i = 0; i < 3; i++) wakeAfter(clock, w, 1); // the window is 40
  // 15 ms after the run: 40 halves to 20 for this wake already.
  assert.equal(wakeAfter(clock, w, 15), 5);
  // 15 ms again: 20 halves to the base, 10, which has passed: at once.
  assert.equal(wakeAfter(clock, w, 15), 0);
  // Busy again, then a quiet spell longer than the window (40): at once,
  // and the window starts again from the base.
  for (let i = 0; i < 3; i++) wakeAfter(clock, w, 1);
  assert.equal(wakeAfter(clock, w, 45), 0, "a quiet spell: at once");
  assert.equal(wakeAfter(clock, w, 1), 9, "back at the base");
});

Deno.test("wake coalescer: a maximum at or below the base keeps the window fixed", () => {
  for (const max of [10, 5, undefined]) {
    const clock = new ManualClock();
    const w = new WakeCoalescer(10, clock, max);
    wakeAfter(clock, w, 0);
    assert.deepEqual(
      [2, 2, 2, 12, 2].map((gap) => wakeAfter(clock, w, gap)),
      [8, 8, 8, 0, 8],
      `max ${max}`,
    );
  }
});

Deno.test("wake coalescer: base 0 runs in the next task whatever the maximum", () => {
  const clock = new ManualClock();
  const w = new WakeCoalescer(0, clock, 40);
  assert.deepEqual([0, 0, 1, 0].map((gap) => wakeAfter(clock, w, gap)), [
    0,
    0,
    0,
    0,
  ]);
});
