import assert from "node:assert/strict";
import {
  type Command,
  encodeCommand,
  InvalidSnapshotError,
  KvStore,
} from "../../kv/mod.ts";
import { randomKey, seededRng, testSeeds, withSeed } from "./seed.ts";

const text = (s: string) => new TextEncoder().encode(s);

function apply(store: KvStore, index: number, cmd: Command): void {
  store.apply(index, encodeCommand(cmd));
}

/** Every key, value and index of `store`, for comparisons. */
function dump(store: KvStore) {
  return store.list("", 1_000_000).items.map((
    i,
  ) => [i.key, [...i.value], i.index]);
}

Deno.test("the same state gives the same snapshot bytes, whatever the history", () => {
  const a = new KvStore();
  apply(a, 1, { op: "put", key: "x", value: text("gone") });
  apply(a, 2, { op: "delete", key: "x" });
  apply(a, 3, { op: "put", key: "b", value: text("2") });
  apply(a, 4, { op: "put", key: "a", value: text("1") });
  const b = new KvStore();
  b.apply(1, new Uint8Array(0));
  apply(b, 2, { op: "put", key: "a", value: text("old") });
  apply(b, 3, { op: "put", key: "b", value: text("2") });
  apply(b, 4, { op: "put", key: "a", value: text("1") });
  assert.deepEqual(a.snapshot(), b.snapshot());
  assert.deepEqual(a.snapshot(), a.snapshot());
  // A different applied index is a different state.
  b.apply(5, new Uint8Array(0));
  assert.notDeepEqual(a.snapshot(), b.snapshot());
});

Deno.test("restore(snapshot()) reproduces the state exactly", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const source = new KvStore();
      for (let index = 1; index <= 2000; index++) {
        const key = randomKey(rng, 5);
        if (rng.intn(4) === 0) {
          apply(source, index, { op: "delete", key });
        } else {
          const value = new Uint8Array(rng.intn(40));
          for (let i = 0; i < value.length; i++) value[i] = rng.intn(256);
          apply(source, index, { op: "put", key, value });
        }
      }
      const bytes = source.snapshot();
      const copy = new KvStore();
      apply(copy, 1, { op: "put", key: "stale", value: text("replaced") });
      copy.restore(bytes);
      assert.equal(copy.appliedIndex, source.appliedIndex);
      assert.equal(copy.size, source.size);
      assert.deepEqual(dump(copy), dump(source));
      assert.equal(copy.get("stale"), undefined);
      assert.deepEqual(copy.snapshot(), bytes);
      // The restored store keeps working.
      apply(copy, 2001, { op: "put", key: "new", value: text("v") });
      assert.equal(copy.get("new")?.index, 2001);
    });
  }
});

Deno.test("an empty store snapshots and restores", () => {
  const bytes = new KvStore().snapshot();
  const store = new KvStore();
  store.restore(bytes);
  assert.equal(store.appliedIndex, 0);
  assert.equal(store.size, 0);
});

Deno.test("restore refuses malformed snapshots and leaves the store as it was", () => {
  const source = new KvStore();
  apply(source, 1, { op: "put", key: "a", value: text("1") });
  apply(source, 2, { op: "put", key: "b", value: text("22") });
  const good = source.snapshot();
  const target = new KvStore();
  apply(target, 7, { op: "put", key: "keep", value: text("me") });
  const before = target.snapshot();

  const bad: Uint8Array[] = [new Uint8Array(0), text("not a snapshot at all")];
  for (let cut = 0; cut < good.length; cut++) bad.push(good.subarray(0, cut));
  bad.push(new Uint8Array([...good, 0]));
  const wrongVersion = good.slice();
  wrongVersion[4] = 9;
  bad.push(wrongVersion);
  // Swap the key bytes "a" and "b": keys out of order.
  const swapped = good.slice();
  const ia = swapped.indexOf(0x61);
  const ib = swapped.indexOf(0x62);
  swapped[ia] = 0x62;
  swapped[ib] = 0x61;
  bad.push(swapped);
  // An entry index above the applied index.
  const tooNew = good.slice();
  tooNew[5] = 1; // applied index 1, but "b" was written at 2
  bad.push(tooNew);
  // A key that is not UTF-8.
  const notUtf8 = good.slice();
  notUtf8[ia] = 0xff;
  bad.push(notUtf8);

  for (const bytes of bad) {
    assert.throws(
      () => target.restore(bytes),
      InvalidSnapshotError,
      `${bytes}`,
    );
    assert.deepEqual(target.snapshot(), before);
  }
});
