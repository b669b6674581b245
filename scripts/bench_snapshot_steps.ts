/**
 * How long a snapshot holds the event loop, at a large state, in one
 * process (no disk, no Raft): a store of N keys (100-byte values) is
 * snapshotted the old way (the whole state encoded at once) and through
 * its point-in-time view (one slice per loop turn, with writes applied in
 * between), and restored at once and in steps. Prints the longest single
 * step and the total of each; the longest step is what a request or a
 * heartbeat waits behind.
 *
 * Run: `deno run -A scripts/bench_snapshot_steps.ts [keys]` (default 1,000,000).
 *
 * @module
 */

import { encodeCommand, KvStore } from "../kv/mod.ts";

const keys = Number(Deno.args[0] ?? 1_000_000);
const value = new Uint8Array(100).fill(120);
const key = (i: number) => `k${String(i).padStart(7, "0")}`;
const turn = () => new Promise((r) => setTimeout(r, 0));

const store = new KvStore();
let index = 0;
const put = (i: number) =>
  store.apply(++index, encodeCommand({ op: "put", key: key(i), value }));
for (let i = 0; i < keys; i++) put(i);

const write = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s));
const ms = (x: number) => x.toFixed(1).padStart(8);
/** "p99 / longest" of step durations in ms. */
const steps = (d: number[]) => {
  const sorted = d.slice().sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
  return `${p99.toFixed(1)} / ${(sorted.at(-1) ?? 0).toFixed(1)}`.padStart(16);
};
const sizing = store.view();
write(`keys ${keys}, snapshot bytes ${sizing.byteLength}\n`);
sizing.release();
write(
  "what                              steps  p99 / longest step ms   total ms   writes applied meanwhile\n",
);
const row = (what: string, d: number[], total: number, writes: string) =>
  write(
    `${what.padEnd(30)} ${String(d.length).padStart(7)}  ${steps(d)}   ${
      ms(total)
    }   ${writes}\n`,
  );

// The old way: the whole state at once.
let t = performance.now();
const whole = store.snapshot();
const once = performance.now() - t;
row("snapshot at once", [once], once, "0");

// Through a view: one slice per turn, a batch of writes between slices.
const view = store.view();
let durations: number[] = [];
let writes = 0;
t = performance.now();
let bytes = 0;
for (const slices = view.slices();;) {
  const s0 = performance.now();
  const next = slices.next();
  durations.push(performance.now() - s0);
  if (next.done) break;
  bytes += next.value.length;
  for (let k = 0; k < 20; k++) {
    put(Math.floor(Math.random() * keys));
    writes++;
  }
  await turn();
}
const total = performance.now() - t;
view.release();
if (bytes !== whole.length) {
  throw new Error("the view's bytes differ in length");
}
row("snapshot through a view, sliced", durations, total, String(writes));

// Restore: at once, then in steps.
const target = new KvStore();
t = performance.now();
target.restore(whole);
const restoreOnce = performance.now() - t;
row("restore at once", [restoreOnce], restoreOnce, "-");
const stepped = new KvStore();
durations = [];
t = performance.now();
for (const it = stepped.restoreSteps(whole);;) {
  const s0 = performance.now();
  const next = it.next();
  durations.push(performance.now() - s0);
  if (next.done) break;
  await turn();
}
row("restore in steps", durations, performance.now() - t, "-");
