/**
 * The waiter registries of the node (raft/wait.ts): every caller is
 * settled exactly once, by its key's trigger or failure, by its own abort
 * signal, or (for index waits) once the index reaches its value.
 */

import assert from "node:assert/strict";
import { IndexWait, Wait } from "../../raft/wait.ts";
import { track } from "./tracked.ts";

/** Lets every promise reaction queued so far run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await Promise.resolve();
}

Deno.test("Wait: trigger resolves the caller under the key with the value, once", async () => {
  const w = new Wait<string, number>();
  const a = track(w.register("a"));
  const b = track(w.register("b"));
  assert.equal(w.size, 2);
  assert.equal(w.trigger("a", 7), true);
  assert.equal(w.trigger("a", 8), false, "a key is settled once");
  assert.equal(w.trigger("zz", 1), false, "nobody waits under zz");
  await settle();
  assert.deepEqual([a.state, a.value], ["resolved", 7]);
  assert.equal(b.state, "pending");
  assert.equal(w.size, 1);
});

Deno.test("Wait: fail rejects the caller under the key; failAll rejects everyone", async () => {
  const w = new Wait<number, string>();
  const a = track(w.register(1));
  const b = track(w.register(2));
  const c = track(w.register(3));
  const err = new Error("refused");
  assert.equal(w.fail(1, err), true);
  assert.equal(w.fail(1, err), false);
  await settle();
  assert.deepEqual([a.state, a.error], ["rejected", err]);
  assert.deepEqual([b.state, c.state], ["pending", "pending"]);
  const stop = new Error("stopped");
  w.failAll(stop);
  await settle();
  assert.deepEqual([b.error, c.error], [stop, stop]);
  assert.equal(w.size, 0);
  assert.equal(w.trigger(2, "late"), false);
});

Deno.test("Wait: several callers under one key are all settled by its trigger", async () => {
  const w = new Wait<number, void>();
  const a = track(w.register(5));
  const b = track(w.register(5));
  const other = track(w.register(6));
  assert.equal(w.size, 2, "size counts keys");
  w.trigger(5);
  await settle();
  assert.deepEqual([a.state, b.state, other.state], [
    "resolved",
    "resolved",
    "pending",
  ]);
});

Deno.test("Wait: an abort fails only that caller, with the signal's reason, and reports its key", async () => {
  const aborted: string[] = [];
  const w = new Wait<string, number>({ onAbort: (k) => aborted.push(k) });
  const ac = new AbortController();
  const first = track(w.register("k"));
  const mine = track(w.register("k", ac.signal));
  const last = track(w.register("k"));
  const reason = new Error("gave up");
  ac.abort(reason);
  await settle();
  assert.deepEqual([mine.state, mine.error], ["rejected", reason]);
  assert.deepEqual(aborted, ["k"]);
  assert.equal(w.trigger("k", 1), true);
  await settle();
  assert.deepEqual([first.state, last.state], ["resolved", "resolved"]);
});

Deno.test("Wait: an abort after the outcome changes nothing and is not reported", async () => {
  const aborted: number[] = [];
  const w = new Wait<number, number>({ onAbort: (k) => aborted.push(k) });
  const ac = new AbortController();
  const p = track(w.register(1, ac.signal));
  w.trigger(1, 42);
  ac.abort(new Error("late"));
  await settle();
  assert.deepEqual([p.state, p.value], ["resolved", 42]);
  assert.deepEqual(aborted, []);
});

Deno.test("Wait: a signal aborted before registering rejects at once and leaves nothing waiting", async () => {
  const aborted: number[] = [];
  const w = new Wait<number, number>({ onAbort: (k) => aborted.push(k) });
  const reason = new Error("too late");
  const p = track(w.register(3, AbortSignal.abort(reason)));
  assert.equal(w.size, 0);
  assert.deepEqual(aborted, [3]);
  await settle();
  assert.deepEqual([p.state, p.error], ["rejected", reason]);
});

Deno.test("IndexWait: an index already reached resolves at once; others once a trigger reaches them", async () => {
  const w = new IndexWait(10);
  const now = track(w.wait(10));
  const at12 = track(w.wait(12));
  const at11 = track(w.wait(11));
  await settle();
  assert.equal(now.state, "resolved");
  w.trigger(11);
  await settle();
  assert.deepEqual([at11.state, at12.state], ["resolved", "pending"]);
  w.trigger(15);
  await settle();
  assert.equal(at12.state, "resolved");
});

Deno.test("IndexWait: callers resolve in index order, equal indexes in arrival order", async () => {
  const w = new IndexWait(0);
  const order: string[] = [];
  for (const [name, i] of [["c", 3], ["a", 1], ["b1", 2], ["b2", 2]] as const) {
    w.wait(i).then(() => order.push(name));
  }
  w.trigger(3);
  await settle();
  assert.deepEqual(order, ["a", "b1", "b2", "c"]);
});

Deno.test("IndexWait: a lower trigger does not move the reached index back", async () => {
  const w = new IndexWait(5);
  w.trigger(3);
  const p = track(w.wait(5));
  await settle();
  assert.equal(p.state, "resolved");
});

Deno.test("IndexWait: an abort rejects that caller with the signal's reason; the others still wait", async () => {
  const w = new IndexWait(0);
  const ac = new AbortController();
  const mine = track(w.wait(4, ac.signal));
  const other = track(w.wait(4));
  const reason = new Error("timeout");
  ac.abort(reason);
  await settle();
  assert.deepEqual([mine.state, mine.error], ["rejected", reason]);
  assert.equal(other.state, "pending");
  w.trigger(4);
  await settle();
  assert.equal(other.state, "resolved");
  const late = track(w.wait(9, AbortSignal.abort(reason)));
  await settle();
  assert.deepEqual([late.state, late.error], ["rejected", reason]);
});

Deno.test("IndexWait: close rejects those waiting and every later wait above the reached index", async () => {
  const w = new IndexWait(2);
  const waiting = track(w.wait(3));
  const stop = new Error("stopped");
  w.close(stop);
  const later = track(w.wait(4));
  const reached = track(w.wait(2));
  await settle();
  assert.deepEqual([waiting.state, waiting.error], ["rejected", stop]);
  assert.deepEqual([later.state, later.error], ["rejected", stop]);
  assert.equal(reached.state, "resolved", "an index reached still resolves");
});
