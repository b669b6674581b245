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

/** Every key, value and revision of `store`, for comparisons. */
function dump(store: KvStore) {
  return store.list("", 1_000_000).items.map((i) => [
    i.key,
    [...i.value],
    i.createIndex,
    i.modIndex,
    i.version,
    i.lease,
  ]);
}

Deno.test("the same state gives the same snapshot bytes, whatever the history", () => {
  const a = new KvStore();
  apply(a, 1, { op: "put", key: "x", value: text("gone") });
  apply(a, 2, { op: "delete", key: "x" });
  apply(a, 3, { op: "put", key: "b", value: text("2") });
  apply(a, 4, { op: "put", key: "a", value: text("1") });
  const b = new KvStore();
  apply(b, 1, { op: "put", key: "y", value: text("other") });
  apply(b, 2, { op: "delete", key: "y" });
  apply(b, 3, { op: "put", key: "b", value: text("2") });
  apply(b, 4, { op: "put", key: "a", value: text("1") });
  assert.deepEqual(a.snapshot(), b.snapshot());
  assert.deepEqual(a.snapshot(), a.snapshot());
  // A different applied index is a different state.
  b.apply(5, new Uint8Array(0));
  assert.notDeepEqual(a.snapshot(), b.snapshot());
  // The same values with other revisions are a different state: here "a"
  // was created at 2 and is at version 2.
  const c = new KvStore();
  c.apply(1, new Uint8Array(0));
  apply(c, 2, { op: "put", key: "a", value: text("old") });
  apply(c, 3, { op: "put", key: "b", value: text("2") });
  apply(c, 4, { op: "put", key: "a", value: text("1") });
  assert.notDeepEqual(a.snapshot(), c.snapshot());
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

Deno.test("a version-1 snapshot (before revisions) still loads: each key as if its last write created it", () => {
  // Made by the version-1 encoder (kv/snapshot_codec.ts before revisions)
  // from: 3 put a=1, 5 put b/x=ff00fe, 6 put a=2, 7 put gone=x,
  // 8 put é😀="", 9 delete gone, 12 an empty entry.
  const bytes = Deno.readFileSync(
    new URL("./fixtures/snapshot_v1.bin", import.meta.url),
  );
  assert.equal(bytes[4], 1, "the fixture is a version-1 snapshot");
  const store = new KvStore();
  store.restore(bytes);
  assert.equal(store.appliedIndex, 12);
  assert.deepEqual(dump(store), [
    ["a", [0x32], 6, 6, 1, 0],
    ["b/x", [0xff, 0x00, 0xfe], 5, 5, 1, 0],
    ["é😀", [], 8, 8, 1, 0],
  ]);
  assert.equal(store.get("a")?.index, 6, "ETags (the write index) carry over");
  // Writes continue the revisions; the next snapshot is version 2.
  apply(store, 13, { op: "put", key: "a", value: text("3") });
  assert.deepEqual(store.revision("a"), {
    createIndex: 6,
    modIndex: 13,
    version: 2,
    lease: 0,
  });
  const next = store.snapshot();
  assert.equal(next[4], 2);
  const again = new KvStore();
  again.restore(next);
  assert.deepEqual(dump(again), dump(store));
});

Deno.test("revisions survive a snapshot round trip", () => {
  const source = new KvStore();
  apply(source, 1, { op: "put", key: "a", value: text("1") });
  apply(source, 2, { op: "put", key: "a", value: text("2") });
  apply(source, 3, { op: "put", key: "b", value: text("1") });
  apply(source, 4, { op: "delete", key: "a" });
  apply(source, 5, { op: "put", key: "a", value: text("3") });
  apply(source, 6, { op: "put", key: "b", value: text("2") });
  apply(source, 7, { op: "put", key: "b", value: text("3") });
  const copy = new KvStore();
  copy.restore(source.snapshot());
  assert.deepEqual(dump(copy), [
    ["a", [0x33], 5, 5, 1, 0],
    ["b", [0x33], 3, 7, 3, 0],
  ]);
  apply(copy, 8, { op: "put", key: "b", value: text("4") });
  assert.deepEqual(copy.revision("b"), {
    createIndex: 3,
    modIndex: 8,
    version: 4,
    lease: 0,
  });
});

/** Offsets in a version-2 snapshot of one key of one byte. */
const V2_ONE_KEY = {
  create: 17 + 3,
  mod: 17 + 11,
  version: 17 + 19,
  lease: 17 + 27,
  sections: 17 + 3 + 36 + 1,
};

Deno.test("restore refuses version-2 revisions that cannot be", () => {
  const source = new KvStore();
  apply(source, 4, { op: "put", key: "k", value: text("v") });
  const good = source.snapshot();
  assert.equal(good.length, V2_ONE_KEY.sections + 4);
  new KvStore().restore(good);
  const variants: [string, (b: Uint8Array) => void][] = [
    ["createIndex 0", (b) => (b[V2_ONE_KEY.create] = 0)],
    ["createIndex above modIndex", (b) => (b[V2_ONE_KEY.create] = 5)],
    ["modIndex above the applied index", (b) => (b[V2_ONE_KEY.mod] = 9)],
    ["version 0", (b) => (b[V2_ONE_KEY.version] = 0)],
    ["a lease above 2^53", (b) => (b[V2_ONE_KEY.lease + 7] = 0xff)],
    ["an unknown section", (b) => (b[V2_ONE_KEY.sections] = 1)],
  ];
  for (const [what, spoil] of variants) {
    const bad = good.slice();
    spoil(bad);
    assert.throws(() => new KvStore().restore(bad), InvalidSnapshotError, what);
  }
  // A key attached to a lease the snapshot's lease table does not hold
  // (tests/kv/lease_test.ts covers snapshots with leases).
  const leased = good.slice();
  leased[V2_ONE_KEY.lease] = 7;
  assert.throws(() => new KvStore().restore(leased), InvalidSnapshotError);
});
