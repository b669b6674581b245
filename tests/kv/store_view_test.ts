/**
 * The store's point-in-time view (kv/store_view.ts): whatever is applied
 * after a view was taken (new keys, overwrites, deletes, recreations, a
 * restore) never shows through it, in its reads or in its snapshot bytes,
 * and its sliced bytes are the snapshot the store gave at that moment.
 */

import assert from "node:assert/strict";
import { type Command, encodeCommand, KvStore } from "../../kv/mod.ts";
import type { StoreView } from "../../kv/store_view.ts";
import { seededRng } from "../../raft/core/rng.ts";
import { randomKey, testSeeds, withSeed } from "./seed.ts";

const text = (s: string) => new TextEncoder().encode(s);

function apply(store: KvStore, index: number, cmd: Command): void {
  store.apply(index, encodeCommand(cmd));
}

/** The view's slices joined. */
function bytesOf(view: StoreView, sliceBytes?: number): Uint8Array {
  const slices = [...view.slices(sliceBytes)];
  const out = new Uint8Array(view.byteLength);
  let at = 0;
  for (const s of slices) {
    out.set(s, at);
    at += s.length;
  }
  assert.equal(at, view.byteLength, "the slices fill byteLength exactly");
  return out;
}

Deno.test("a view keeps the state of its moment: overwrites, deletes, recreations and new keys do not show", () => {
  const store = new KvStore();
  apply(store, 1, { op: "put", key: "a", value: text("a1") });
  apply(store, 2, { op: "put", key: "b", value: text("b1") });
  apply(store, 3, { op: "put", key: "c", value: text("c1") });
  apply(store, 4, { op: "put", key: "a", value: text("a2") });
  const expected = store.snapshot();
  const view = store.view();
  assert.equal(view.appliedIndex, 4);
  assert.equal(view.size, 3);

  apply(store, 5, { op: "put", key: "a", value: text("a3") }); // overwrite
  apply(store, 6, { op: "delete", key: "b" }); // delete
  apply(store, 7, { op: "delete", key: "c" }); // delete, then recreate
  apply(store, 8, { op: "put", key: "c", value: text("c2") });
  apply(store, 9, { op: "put", key: "d", value: text("d1") }); // new key
  apply(store, 10, { op: "put", key: "b0", value: text("x") }); // reuses b's slot

  assert.deepEqual(view.get("a"), {
    value: text("a2"),
    index: 4,
    createIndex: 1,
    modIndex: 4,
    version: 2,
    lease: 0,
  });
  assert.deepEqual(view.get("b")?.value, text("b1"));
  assert.deepEqual(view.get("c"), {
    value: text("c1"),
    index: 3,
    createIndex: 3,
    modIndex: 3,
    version: 1,
    lease: 0,
  });
  assert.equal(view.get("d"), undefined);
  assert.equal(view.get("b0"), undefined);
  assert.deepEqual(bytesOf(view), expected);
  assert.deepEqual(bytesOf(view, 1), expected, "one record per slice");
  view.release();

  // The store itself moved on.
  assert.deepEqual(store.get("c")?.createIndex, 8);
  assert.equal(store.get("b"), undefined);
});

Deno.test("views taken at many moments of a random history each give the snapshot of their moment", () => {
  for (const seed of testSeeds(8)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const store = new KvStore();
      const open: { view: StoreView; expected: Uint8Array; at: number }[] = [];
      const check = (v: (typeof open)[number]) => {
        assert.deepEqual(
          bytesOf(v.view, 1 + rng.intn(300)),
          v.expected,
          `view taken at ${v.at}`,
        );
        const copy = new KvStore();
        copy.restore(v.expected);
        for (const item of copy.list("", 1_000_000).items) {
          const { key, ...entry } = item;
          assert.deepEqual(v.view.get(key), entry, `key ${key}`);
        }
      };
      for (let index = 1; index <= 600; index++) {
        const key = randomKey(rng, 2);
        if (rng.intn(4) === 0) {
          apply(store, index, { op: "delete", key });
        } else {
          const value = new Uint8Array(rng.intn(40)).fill(index & 0xff);
          apply(store, index, { op: "put", key, value });
        }
        if (rng.intn(50) === 0) {
          open.push({
            view: store.view(),
            expected: store.snapshot(),
            at: index,
          });
        }
        if (open.length > 0 && rng.intn(80) === 0) {
          const v = open.splice(rng.intn(open.length), 1)[0]!;
          check(v);
          v.view.release();
        }
      }
      for (const v of open) {
        check(v);
        v.view.release();
      }
    });
  }
});

Deno.test("a restore while a view is held does not change the view", () => {
  const store = new KvStore();
  apply(store, 1, { op: "put", key: "k", value: text("old") });
  const expected = store.snapshot();
  const view = store.view();
  const other = new KvStore();
  apply(other, 5, { op: "put", key: "k", value: text("new") });
  apply(other, 6, { op: "put", key: "m", value: text("m") });
  store.restore(other.snapshot());
  apply(store, 7, { op: "delete", key: "k" });
  assert.deepEqual(view.get("k")?.value, text("old"));
  assert.equal(view.get("m"), undefined);
  assert.deepEqual(bytesOf(view), expected);
  view.release();
  assert.deepEqual(store.get("m")?.value, text("m"));
});

Deno.test("a released view stops saving records and refuses to encode", () => {
  const store = new KvStore();
  apply(store, 1, { op: "put", key: "k", value: text("v") });
  const view = store.view();
  apply(store, 2, { op: "put", key: "k", value: text("w") });
  assert.equal(view.savedCount, 1);
  view.release();
  assert.equal(view.savedCount, 0);
  apply(store, 3, { op: "put", key: "k", value: text("x") });
  assert.equal(view.savedCount, 0);
  assert.throws(() => [...view.slices()]);
  view.release(); // idempotent
});

Deno.test("byteLength is kept in O(1) per write and always equals the snapshot's length", () => {
  const rng = seededRng(7);
  const store = new KvStore();
  for (let index = 1; index <= 300; index++) {
    const key = randomKey(rng, 3);
    if (rng.intn(3) === 0) apply(store, index, { op: "delete", key });
    else {
      apply(store, index, {
        op: "put",
        key,
        value: new Uint8Array(rng.intn(70)),
      });
    }
    const view = store.view();
    assert.equal(view.byteLength, store.snapshot().length, `at ${index}`);
    view.release();
  }
  const copy = new KvStore();
  copy.restore(store.snapshot());
  const view = copy.view();
  assert.equal(view.byteLength, store.snapshot().length, "after a restore");
  view.release();
});

Deno.test("restoreSteps loads in bounded steps, leaves the store as it was until the last one, and refuses a bad snapshot without a change", () => {
  const source = new KvStore();
  for (let i = 1; i <= 100; i++) {
    apply(source, i, { op: "put", key: `k${1000 + i}`, value: text(`${i}`) });
  }
  const bytes = source.snapshot();
  const store = new KvStore();
  apply(store, 1, { op: "put", key: "old", value: text("o") });
  const before = store.snapshot();
  const steps = store.restoreSteps(bytes, 10);
  let count = 0;
  for (const _ of steps) {
    count++;
    assert.deepEqual(store.snapshot(), before, `unchanged at step ${count}`);
  }
  assert.equal(count, 10, "100 records, 10 per step");
  assert.deepEqual(store.snapshot(), bytes);

  // Cut short: every step passes, then the end is found missing.
  const bad = bytes.subarray(0, bytes.length - 3);
  const target = new KvStore();
  apply(target, 1, { op: "put", key: "kept", value: text("k") });
  const kept = target.snapshot();
  let passed = 0;
  assert.throws(() => {
    for (const _ of target.restoreSteps(bad, 10)) {
      passed++;
    }
  });
  assert.equal(passed, 10, "every step passed before the error");
  assert.deepEqual(target.snapshot(), kept);
});

/** Restores `bytes` into `store` fed `piece` bytes at a time. */
function restoreInPieces(
  store: KvStore,
  bytes: Uint8Array,
  piece: number,
): number {
  let at = Math.max(17, piece);
  let feeds = 0;
  for (
    const step of store.restoreSteps(bytes.subarray(0, at), 7, bytes.length)
  ) {
    if (!step) continue;
    assert.ok(step.need > 0);
    const more = bytes.subarray(at, at + Math.max(step.need, piece));
    at += more.length;
    feeds++;
    step.feed(more.slice());
  }
  assert.equal(at, bytes.length, "every byte was asked for");
  return feeds;
}

Deno.test("restoreSteps fed in pieces of any size, records across them, gives the same state", () => {
  const source = new KvStore();
  for (let i = 1; i <= 60; i++) {
    const value = new Uint8Array((i * 37) % 300).fill(i);
    apply(source, i, { op: "put", key: `key-${1000 + i}`, value });
  }
  const bytes = source.snapshot();
  for (const piece of [1, 2, 17, 100, 999, bytes.length]) {
    const store = new KvStore();
    apply(store, 1, { op: "put", key: "old", value: text("o") });
    const feeds = restoreInPieces(store, bytes, piece);
    assert.deepEqual(store.snapshot(), bytes, `pieces of ${piece}`);
    if (piece < 100) assert.ok(feeds > 60, `${feeds} feeds of ${piece}`);
  }
  // Damaged at the end: every piece taken, the store left as it was.
  const bad = bytes.slice();
  bad[bad.length - 1]! ^= 0xff;
  bad.set([0xff, 0xff, 0xff, 0xff], bad.length - 4); // a section count
  const store = new KvStore();
  apply(store, 1, { op: "put", key: "kept", value: text("k") });
  const kept = store.snapshot();
  assert.throws(() => restoreInPieces(store, bad, 50));
  assert.deepEqual(store.snapshot(), kept);
});

Deno.test("reused slices give the same bytes as fresh ones, copied one by one, from two buffers in all", () => {
  const store = new KvStore();
  const rng = seededRng(7);
  for (let i = 1; i <= 2000; i++) {
    const value = new Uint8Array(1 + rng.intn(300)).fill(i & 0xff);
    apply(store, i, { op: "put", key: `k${i % 1500}`, value });
  }
  // One value longer than a slice gets a slice of its own size.
  apply(store, 2001, { op: "put", key: "big", value: new Uint8Array(5000) });
  const view = store.view();
  const sliceBytes = 1024;
  const expected = bytesOf(view, sliceBytes);
  const out = new Uint8Array(view.byteLength);
  const buffers = new Set<ArrayBufferLike>();
  let at = 0;
  let count = 0;
  for (const s of view.reusedSlices(sliceBytes)) {
    out.set(s, at); // the consumer is done with a slice before the next
    at += s.length;
    count++;
    buffers.add(s.buffer);
  }
  view.release();
  assert.equal(at, view.byteLength);
  assert.deepEqual(out, expected);
  assert.ok(count > 50, `${count} slices`);
  // Two slice buffers by turns, plus the one the oversized record needed.
  assert.ok(buffers.size <= 3, `${buffers.size} buffers for ${count} slices`);
});
