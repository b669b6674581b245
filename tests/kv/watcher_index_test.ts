import assert from "node:assert/strict";
import {
  type KeyRange,
  rangeContains,
  WatcherIndex,
  type WatchEvent,
} from "../../kv/mod.ts";
import { randomKey, seededRng, testSeeds, withSeed } from "./seed.ts";

function matches(index: WatcherIndex<string>, key: string): string[] {
  const seen: string[] = [];
  index.forEachMatch(key, (w) => seen.push(w));
  return seen.sort();
}

function put(key: string): WatchEvent {
  return {
    type: "put",
    key,
    value: new Uint8Array(0),
    createIndex: 1,
    modIndex: 1,
    version: 1,
    lease: 0,
  };
}

Deno.test("fan-out: an exact key matches only itself, a prefix every key it starts, the empty prefix everything", () => {
  const index = new WatcherIndex<string>();
  index.add("key a/b", [{ key: "a/b" }]);
  index.add("key a", [{ key: "a" }]);
  index.add("prefix a/", [{ prefix: "a/" }]);
  index.add("prefix b", [{ prefix: "b" }]);
  index.add("everything", [{ prefix: "" }]);
  assert.equal(index.size, 5);
  assert.deepEqual(matches(index, "a/b"), [
    "everything",
    "key a/b",
    "prefix a/",
  ]);
  assert.deepEqual(matches(index, "a"), ["everything", "key a"]);
  assert.deepEqual(matches(index, "a/"), ["everything", "prefix a/"]);
  assert.deepEqual(matches(index, "a/bc"), ["everything", "prefix a/"]);
  assert.deepEqual(matches(index, "ab"), ["everything"]);
  assert.deepEqual(matches(index, "b"), ["everything", "prefix b"]);
  assert.deepEqual(matches(index, "bz/😀"), ["everything", "prefix b"]);
  index.remove("everything");
  assert.deepEqual(matches(index, "ab"), []);
  assert.deepEqual(matches(index, "a/b"), ["key a/b", "prefix a/"]);
  assert.equal(index.remove("everything"), false);
  assert.throws(() => index.add("key a", [{ key: "zz" }]), RangeError);
});

Deno.test("fan-out groups one entry's events per watcher, each event once even when several ranges of the watcher hold it", () => {
  const index = new WatcherIndex<string>();
  index.add("many", [{ prefix: "a" }, { prefix: "a/" }, { key: "a/b" }, {
    prefix: "",
  }]);
  index.add("only c", [{ key: "c" }]);
  index.add("nothing", [{ prefix: "zz" }]);
  const events = [put("a/b"), put("c"), put("a/c"), put("q")];
  const groups = index.group(events);
  assert.deepEqual([...groups.keys()].sort(), ["many", "only c"]);
  assert.deepEqual(groups.get("many")!.map((e) => e.key), [
    "a/b",
    "c",
    "a/c",
    "q",
  ]);
  assert.deepEqual(groups.get("only c")!.map((e) => e.key), ["c"]);
  assert.equal(index.group([put("x")]).get("nothing"), undefined);
});

Deno.test("fan-out never reads the ranges of the watchers after registering them", () => {
  // A range whose fields count their reads: matching a change must not
  // look at watchers one by one.
  let reads = 0;
  const counting = (prefix: string): KeyRange => ({
    get prefix() {
      reads++;
      return prefix;
    },
  });
  const index = new WatcherIndex<number>();
  for (let i = 0; i < 1_000; i++) index.add(i, [counting(`idle/${i}/`)]);
  index.add(-1, [counting("busy/")]);
  const afterAdd = reads;
  const groups = index.group([put("busy/x"), put("other")]);
  assert.deepEqual([...groups.keys()], [-1]);
  assert.equal(reads, afterAdd, "no range was read to fan a change out");
});

Deno.test("fan-out agrees with checking every watcher, through adds and removes", () => {
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const index = new WatcherIndex<number>();
      const registered = new Map<number, KeyRange[]>();
      let next = 0;
      for (let step = 0; step < 2_000; step++) {
        const roll = rng.intn(10);
        if (roll < 3) {
          const ranges: KeyRange[] = [];
          const n = 1 + rng.intn(3);
          for (let i = 0; i < n; i++) {
            const text = rng.intn(5) === 0 ? "" : randomKey(rng, 3);
            ranges.push(
              rng.intn(2) === 0 && text !== ""
                ? { key: text }
                : { prefix: text },
            );
          }
          index.add(next, ranges);
          registered.set(next++, ranges);
        } else if (roll < 5 && registered.size > 0) {
          const ids = [...registered.keys()];
          const id = ids[rng.intn(ids.length)]!;
          assert.equal(index.remove(id), true);
          registered.delete(id);
        } else {
          const events = [put(randomKey(rng, 4)), put(randomKey(rng, 4))];
          const want = new Map<number, string[]>();
          for (const e of events) {
            for (const [id, ranges] of registered) {
              if (!ranges.some((r) => rangeContains(r, e.key))) continue;
              const list = want.get(id) ?? [];
              list.push(e.key);
              want.set(id, list);
            }
          }
          const got = new Map(
            [...index.group(events)].map(([id, es]) => [
              id,
              es.map((e) => e.key),
            ]),
          );
          assert.deepEqual(
            new Map([...got].sort((a, b) => a[0] - b[0])),
            new Map([...want].sort((a, b) => a[0] - b[0])),
            `step ${step}`,
          );
        }
        assert.equal(index.size, registered.size);
      }
    });
  }
});
