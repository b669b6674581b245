import assert from "node:assert/strict";
import { compareKeys } from "../../kv/mod.ts";
import { type FrozenKeys, SortedKeys } from "../../kv/sorted_keys.ts";
import { randomKey, seededRng, testSeeds, withSeed } from "./seed.ts";

/** Keys >= start in `set`, collected through scan. */
function scanAll(set: SortedKeys, start: string): string[] {
  const out: string[] = [];
  set.scan(start, (key) => {
    out.push(key);
    return true;
  });
  return out;
}

Deno.test("SortedKeys agrees with a sorted reference under random inserts and deletes", () => {
  for (const seed of testSeeds(4)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const set = new SortedKeys();
      const reference = new Set<string>();
      // Enough operations to split chunks (512 keys) several times.
      for (let i = 0; i < 6000; i++) {
        const key = randomKey(rng, 4);
        if (rng.intn(3) === 0) {
          assert.equal(set.delete(key), reference.delete(key));
        } else {
          assert.equal(set.insert(key), !reference.has(key));
          reference.add(key);
        }
      }
      const sorted = [...reference].sort(compareKeys);
      assert.equal(set.size, sorted.length);
      assert.deepEqual(set.toArray(), sorted);
      for (let i = 0; i < 50; i++) {
        const start = randomKey(rng, 3);
        assert.deepEqual(
          scanAll(set, start),
          sorted.filter((k) => compareKeys(k, start) >= 0),
          `scan from ${JSON.stringify(start)}`,
        );
      }
    });
  }
});

Deno.test("SortedKeys keeps order when keys arrive in increasing and decreasing order", () => {
  const keys = Array.from(
    { length: 3000 },
    (_, i) => `k${String(i).padStart(5, "0")}`,
  );
  const up = new SortedKeys();
  for (const key of keys) up.insert(key);
  const down = new SortedKeys();
  for (const key of [...keys].reverse()) down.insert(key);
  assert.deepEqual(up.toArray(), keys);
  assert.deepEqual(down.toArray(), keys);
  for (const key of keys) assert.ok(down.delete(key));
  assert.equal(down.size, 0);
  assert.deepEqual(down.toArray(), []);
  assert.equal(down.delete("k00001"), false);
  assert.deepEqual(scanAll(down, ""), []);
});

Deno.test("SortedKeys.scan stops when the visitor returns false", () => {
  const set = SortedKeys.fromSorted(["a", "b", "c", "d"]);
  const seen: string[] = [];
  set.scan("b", (key) => {
    seen.push(key);
    return seen.length < 2;
  });
  assert.deepEqual(seen, ["b", "c"]);
  assert.deepEqual(scanAll(set, "bb"), ["c", "d"]);
  assert.deepEqual(scanAll(set, "e"), []);
});

Deno.test("a frozen set never changes while the live one inserts, deletes, splits and empties chunks", () => {
  const rng = seededRng(11);
  const live = new SortedKeys();
  const model = new Set<string>();
  const frozen: { keys: FrozenKeys; want: string[] }[] = [];
  for (let step = 0; step < 6000; step++) {
    const key = `k${rng.intn(3000).toString().padStart(4, "0")}`;
    if (rng.intn(3) === 0) {
      live.delete(key);
      model.delete(key);
    } else {
      live.insert(key);
      model.add(key);
    }
    if (step % 1000 === 0) {
      frozen.push({ keys: live.freeze(), want: [...model].sort() });
    }
  }
  assert.deepEqual(live.toArray(), [...model].sort());
  for (const { keys, want } of frozen) {
    assert.deepEqual([...keys], want);
    assert.equal(keys.size, want.length);
    for (const k of want.slice(0, 50)) assert.ok(keys.has(k), k);
    assert.ok(!keys.has("k9999"));
  }
});
