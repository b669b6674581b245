import assert from "node:assert/strict";
import {
  batchBytes,
  type ChangeBatch,
  type Command,
  CompactedError,
  encodeCommand,
  type KeyRange,
  KvStore,
  rangeContains,
  type Watcher,
  type WatchEvent,
  WatchHub,
} from "../../kv/mod.ts";
import { randomKey, seededRng, testSeeds, withSeed } from "./seed.ts";

const text = (s: string) => new TextEncoder().encode(s);

function put(store: KvStore, index: number, key: string, value = "v") {
  const cmd: Command = { op: "put", key, value: text(value) };
  store.apply(index, encodeCommand(cmd));
}

function del(store: KvStore, index: number, key: string) {
  store.apply(index, encodeCommand({ op: "delete", key }));
}

/** [index, [type key]...] per message, for comparisons. */
function shape(batches: readonly ChangeBatch[]) {
  return batches.map((
    b,
  ) => [b.index, b.events.map((e) => `${e.type} ${e.key}`)]);
}

/** Takes until the watcher has nothing more now. */
function drain(w: Watcher, maxBytes?: number): ChangeBatch[] {
  const out: ChangeBatch[] = [];
  for (;;) {
    const got = w.take(maxBytes);
    if (got.length === 0) return out;
    out.push(...got);
  }
}

Deno.test("a live watcher gets one message per entry that changed a key in its range, nothing else", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  put(store, 1, "a/0");
  const w = hub.open([{ prefix: "a/" }], 2);
  let ready = 0;
  w.onReady = () => ready++;
  assert.deepEqual(w.take(), [], "nothing yet: the catch-up ends");
  assert.equal(w.live, true);
  put(store, 2, "a/1");
  put(store, 3, "b/1");
  store.apply(4, new Uint8Array(0));
  del(store, 5, "a/missing");
  put(store, 6, "a/1", "again");
  del(store, 7, "a/1");
  assert.equal(ready, 1, "woken once, when the buffer stopped being empty");
  const got = w.take();
  assert.deepEqual(shape(got), [
    [2, ["put a/1"]],
    [6, ["put a/1"]],
    [7, ["delete a/1"]],
  ]);
  const second = got[1]!.events[0]!;
  assert.deepEqual(second, {
    type: "put",
    key: "a/1",
    value: text("again"),
    createIndex: 2,
    modIndex: 6,
    version: 2,
    lease: 0,
  });
  assert.equal(w.lastSent, 7);
  assert.equal(w.bufferedBytes, 0);
  assert.deepEqual(hub.stats, {
    watchers: 1,
    messagesSent: 3,
    cancelledSlow: 0,
    cancelledCompacted: 0,
  });
  hub.close(w);
  put(store, 8, "a/2");
  assert.deepEqual(w.take(), [], "a closed watcher gets nothing");
  assert.equal(hub.stats.watchers, 0);
});

Deno.test("an entry that changes several keys is one message per watcher, cut to its range", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  const a = hub.open([{ prefix: "a/" }], 1);
  const all = hub.open([{ prefix: "" }, { prefix: "a/" }], 1);
  const none = hub.open([{ key: "zz" }], 1);
  for (const w of [a, all, none]) drain(w);
  // Transactions and lease revocations will make such entries; the hub is
  // told of one directly here.
  const events: WatchEvent[] = [
    { type: "delete", key: "a/1", modIndex: 1, reason: "lease" },
    { type: "delete", key: "b/1", modIndex: 1, reason: "lease" },
    { type: "delete", key: "a/2", modIndex: 1, reason: "lease" },
  ];
  hub.changed({ index: 1, events });
  assert.deepEqual(shape(a.take()), [[1, ["delete a/1", "delete a/2"]]]);
  assert.deepEqual(shape(all.take()), [[1, [
    "delete a/1",
    "delete b/1",
    "delete a/2",
  ]]]);
  assert.deepEqual(none.take(), []);
});

Deno.test("a one-change entry reaches a watcher once even when two of its ranges hold the key", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  const twice = hub.open([{ prefix: "a/" }, { key: "a/1" }, { prefix: "" }], 1);
  const once = hub.open([{ key: "a/1" }], 1);
  for (const w of [twice, once]) drain(w);
  put(store, 1, "a/1");
  put(store, 2, "b/1");
  const size = batchBytes([{
    type: "put",
    key: "a/1",
    value: text("v"),
    createIndex: 1,
    modIndex: 1,
    version: 1,
    lease: 0,
  }]);
  assert.equal(once.bufferedBytes, size);
  // b/1 is charged as much as a/1 (same lengths): each message once.
  assert.equal(twice.bufferedBytes, 2 * size);
  assert.deepEqual(shape(drain(twice)), [[1, ["put a/1"]], [2, ["put b/1"]]]);
  assert.deepEqual(shape(drain(once)), [[1, ["put a/1"]]]);
});

Deno.test("a watcher from an earlier index catches up from the history, then goes live with no gap and no repeat", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  for (let i = 1; i <= 30; i++) put(store, i, `k${i % 3}`);
  const w = hub.open([{ key: "k1" }], 10);
  const oneMessage = batchBytes([{ type: "delete", key: "k1", modIndex: 1 }]);
  const first = w.take(2 * oneMessage);
  assert.equal(w.live, false, "a small page leaves it catching up");
  assert.deepEqual(first.map((b) => b.index), [10, 13]);
  // Changes applied during the catch-up come from the history, once.
  put(store, 31, "k1");
  put(store, 32, "k2");
  const rest = drain(w);
  assert.equal(w.live, true);
  assert.deepEqual(rest.map((b) => b.index), [16, 19, 22, 25, 28, 31]);
  put(store, 34, "k1");
  assert.deepEqual(w.take().map((b) => b.index), [34]);
  assert.equal(w.lastSent, 34);
});

Deno.test("from below the history's compactIndex is refused with it; from at it succeeds", () => {
  const store = new KvStore({ history: { entries: 5 } });
  const hub = new WatchHub(store);
  for (let i = 1; i <= 20; i++) put(store, i, "k");
  const compactIndex = store.history.compactIndex;
  assert.equal(compactIndex, 16);
  assert.throws(
    () => hub.open([{ key: "k" }], 15),
    (e: unknown) =>
      e instanceof CompactedError && e.code === "compacted" &&
      e.compactIndex === 16,
  );
  const w = hub.open([{ key: "k" }], 16);
  assert.deepEqual(drain(w).map((b) => b.index), [16, 17, 18, 19, 20]);
  assert.throws(() => hub.open([{ key: "k" }], 0), RangeError);
  assert.throws(() => hub.open([], 16), RangeError);
});

Deno.test("a watcher whose buffer overflows is cancelled as slow with its resume index; others go on", () => {
  const store = new KvStore();
  const size = batchBytes([{
    type: "put",
    key: "k",
    value: text("v"),
    createIndex: 1,
    modIndex: 1,
    version: 1,
    lease: 0,
  }]);
  const hub = new WatchHub(store, { bufferBytes: 3 * size });
  const slow = hub.open([{ key: "k" }], 1);
  const fast = hub.open([{ prefix: "" }], 1);
  drain(slow);
  drain(fast);
  let woken = 0;
  slow.onReady = () => woken++;
  const fastGot: number[] = [];
  fast.onReady = () => fastGot.push(...drain(fast).map((b) => b.index));
  put(store, 1, "k");
  assert.deepEqual(slow.take().map((b) => b.index), [1], "it reads one");
  put(store, 2, "k");
  put(store, 3, "k");
  put(store, 4, "k");
  assert.equal(slow.cancelled, undefined, "three messages fit");
  assert.equal(slow.bufferedBytes, 3 * size);
  put(store, 5, "k");
  assert.deepEqual(slow.cancelled, { reason: "slow", resume: 2 });
  assert.equal(slow.bufferedBytes, 0, "its buffer is dropped");
  assert.equal(
    woken,
    3,
    "woken at index 1 and 2 (an empty buffer filled) and for the cancel",
  );
  assert.deepEqual(slow.take(), []);
  assert.deepEqual(hub.stats.cancelledSlow, 1);
  assert.deepEqual(hub.stats.watchers, 1);
  put(store, 6, "k");
  assert.deepEqual(
    fastGot,
    [1, 2, 3, 4, 5, 6],
    "a reader that keeps up is not touched",
  );
  // Resuming where it stopped misses nothing and repeats nothing.
  const again = hub.open([{ key: "k" }], 2); // the resume index above
  assert.deepEqual(drain(again).map((b) => b.index), [2, 3, 4, 5, 6]);
});

Deno.test("a message larger than the whole buffer still goes through an empty buffer", () => {
  const store = new KvStore();
  const hub = new WatchHub(store, { bufferBytes: 10 });
  const w = hub.open([{ key: "big" }], 1);
  drain(w);
  put(store, 1, "big", "x".repeat(1000));
  assert.equal(w.cancelled, undefined);
  assert.deepEqual(w.take().map((b) => b.index), [1]);
  put(store, 2, "big", "x".repeat(1000));
  put(store, 3, "big", "x".repeat(1000));
  assert.deepEqual(w.cancelled, { reason: "slow", resume: 2 });
});

Deno.test("a catching-up watcher that the history leaves behind is cancelled as slow", () => {
  const store = new KvStore({ history: { entries: 4 } });
  const hub = new WatchHub(store);
  for (let i = 1; i <= 4; i++) put(store, i, "k");
  const w = hub.open([{ key: "k" }], 1);
  const size = batchBytes(
    store.history.read(1, [{ key: "k" }]).batches[0]!.events,
  );
  assert.deepEqual(w.take(size).map((b) => b.index), [1]);
  for (let i = 5; i <= 10; i++) put(store, i, "k");
  assert.deepEqual(w.take(), []);
  assert.deepEqual(w.cancelled, { reason: "slow", resume: 2 });
  assert.equal(hub.stats.watchers, 0);
});

Deno.test("progress: only when live, caught up and the node has applied up to from - 1", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  put(store, 1, "a");
  put(store, 2, "b");
  const w = hub.open([{ key: "a" }], 1);
  assert.equal(w.progress(), undefined, "still catching up");
  assert.deepEqual(drain(w).map((b) => b.index), [1]);
  assert.equal(w.progress(), 2);
  assert.equal(w.lastSent, 2);
  put(store, 3, "a");
  assert.equal(w.progress(), undefined, "a change is waiting");
  drain(w);
  store.apply(4, new Uint8Array(0));
  assert.equal(w.progress(), 4);
  // A watcher from beyond the applied index waits for the node.
  const ahead = hub.open([{ key: "a" }], 7);
  assert.deepEqual(drain(ahead), []);
  assert.equal(ahead.progress(), undefined);
  assert.equal(ahead.lastSent, 6);
  put(store, 5, "a");
  assert.deepEqual(ahead.take(), [], "index 5 is before its from");
  put(store, 6, "b");
  assert.equal(ahead.progress(), 6);
  put(store, 7, "a");
  assert.deepEqual(ahead.take().map((b) => b.index), [7]);
});

Deno.test("a snapshot that replaces the state cancels the watchers it jumped over as compacted", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  put(store, 1, "a");
  const behind = hub.open([{ prefix: "" }], 1);
  drain(behind);
  const ahead = hub.open([{ prefix: "" }], 50);
  drain(ahead);
  const leader = new KvStore();
  for (let i = 1; i <= 20; i++) put(leader, i, `k${i}`);
  store.restore(leader.snapshot());
  assert.deepEqual(behind.cancelled, { reason: "compacted", resume: 2 });
  assert.equal(ahead.cancelled, undefined);
  assert.equal(hub.stats.cancelledCompacted, 1);
  assert.throws(() => hub.open([{ prefix: "" }], 2), CompactedError);
  for (let i = 21; i <= 50; i++) put(store, i, "x");
  assert.deepEqual(ahead.take().map((b) => b.index), [50]);
});

Deno.test("each watcher's messages are exactly the changes in its range from its from, whatever the timing", () => {
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const store = new KvStore({ history: { entries: 400 } });
      const hub = new WatchHub(store, { bufferBytes: 4_000 });
      const all: ChangeBatch[] = [];
      store.listen({ changed: (b) => all.push(b), restored: () => {} });
      const watchers: { w: Watcher; got: ChangeBatch[] }[] = [];
      for (let index = 1; index <= 3_000; index++) {
        const key = randomKey(rng, 3);
        if (rng.intn(4) === 0) del(store, index, key);
        else put(store, index, key, "v".repeat(rng.intn(50)));
        if (rng.intn(40) === 0) {
          const ranges: KeyRange[] = rng.intn(2) === 0
            ? [{ key: randomKey(rng, 2) }]
            : [{ prefix: rng.intn(4) === 0 ? "" : randomKey(rng, 1) }];
          const from = Math.max(
            store.history.compactIndex,
            index + 1 - rng.intn(300),
          );
          watchers.push({ w: hub.open(ranges, from), got: [] });
        }
        for (const entry of watchers) {
          if (entry.w.cancelled === undefined && rng.intn(8) === 0) {
            entry.got.push(...entry.w.take(rng.intn(2_000)));
          }
        }
      }
      let checked = 0;
      for (const { w, got } of watchers) {
        if (w.cancelled === undefined) got.push(...drain(w));
        const last = w.cancelled ? w.cancelled.resume - 1 : store.appliedIndex;
        const want = all
          .filter((b) => b.index >= w.from && b.index <= last)
          .map((b) => ({
            index: b.index,
            events: b.events.filter((e) =>
              w.ranges.some((r) => rangeContains(r, e.key))
            ),
          }))
          .filter((b) => b.events.length > 0);
        assert.deepEqual(shape(got), shape(want), `from ${w.from}`);
        if (w.cancelled === undefined) checked++;
      }
      assert.ok(checked > 0, "some watchers kept up");
    });
  }
});

Deno.test("a restarted node (snapshot at S, then its log replayed) serves every change from S + 1 on, the same as before", () => {
  // The log: what the node's WAL holds, as (index, bytes).
  const log: [number, Uint8Array][] = [];
  const rng = seededRng(7);
  for (let index = 1; index <= 200; index++) {
    const key = randomKey(rng, 2);
    const cmd: Command = rng.intn(3) === 0
      ? { op: "delete", key }
      : { op: "put", key, value: text(`v${index}`) };
    log.push([index, encodeCommand(cmd)]);
  }
  const before = new KvStore();
  let snapshot: Uint8Array = new Uint8Array(0);
  for (const [index, bytes] of log) {
    before.apply(index, bytes);
    if (index === 120) snapshot = before.snapshot();
  }
  // Restart: the snapshot at 120, then the entries after it.
  const after = new KvStore();
  const hub = new WatchHub(after);
  after.restore(snapshot);
  for (const [index, bytes] of log) if (index > 120) after.apply(index, bytes);
  assert.equal(after.history.compactIndex, 121);
  assert.throws(
    () => hub.open([{ prefix: "" }], 120),
    (e: unknown) => e instanceof CompactedError && e.compactIndex === 121,
  );
  for (const range of [{ prefix: "" }, { prefix: "a" }, { key: "b" }]) {
    const w = hub.open([range], 121);
    assert.deepEqual(
      drain(w),
      before.history.read(121, [range]).batches,
      JSON.stringify(range),
    );
  }
  assert.deepEqual(after.snapshot(), before.snapshot());
  // A node that never took a snapshot replays its whole log: everything from 1.
  const fresh = new KvStore();
  for (const [index, bytes] of log) fresh.apply(index, bytes);
  assert.equal(fresh.history.compactIndex, 1);
  assert.deepEqual(
    fresh.history.read(1, [{ prefix: "" }]).batches,
    before.history.read(1, [{ prefix: "" }]).batches,
  );
});

Deno.test("a disposed hub stops fanning changes out", () => {
  const store = new KvStore();
  const hub = new WatchHub(store);
  const w = hub.open([{ prefix: "" }], 1);
  drain(w);
  put(store, 1, "a");
  hub.dispose();
  put(store, 2, "a");
  assert.deepEqual(w.take().map((b) => b.index), [1]);
  assert.deepEqual(w.take(), []);
});
