import assert from "node:assert/strict";
import { batchBytes, type WatchEvent } from "../../kv/watch_event.ts";
import { HISTORY_CHUNK_BYTES, WatchHistory } from "../../kv/watch_history.ts";

const text = (s: string) => new TextEncoder().encode(s);

function putEvent(key: string, index: number, value = "v"): WatchEvent {
  return {
    type: "put",
    key,
    value: text(value),
    createIndex: index,
    modIndex: index,
    version: 1,
    lease: 0,
  };
}

/** [index, keys] of each batch of a page, for comparisons. */
function shape(
  h: WatchHistory,
  from: number,
  ranges: Parameters<WatchHistory["read"]>[1],
) {
  return h.read(from, ranges).batches.map((b) => [
    b.index,
    b.events.map((e) => e.key),
  ]);
}

Deno.test("history keeps every batch of the last N entries and moves compactIndex past what it drops", () => {
  const h = new WatchHistory({ entries: 3 });
  assert.equal(h.compactIndex, 1);
  h.append({ index: 1, events: [putEvent("a", 1)] });
  h.append({ index: 2, events: [putEvent("b", 2)] });
  h.append({ index: 3, events: [putEvent("c", 3)] });
  assert.equal(h.size, 3);
  assert.equal(h.compactIndex, 1);
  // Index 5 keeps 3..5: batches 1 and 2 go.
  h.append({ index: 5, events: [putEvent("d", 5)] });
  assert.equal(h.size, 2);
  assert.equal(h.compactIndex, 3);
  assert.deepEqual(shape(h, 3, [{ prefix: "" }]), [[3, ["c"]], [5, ["d"]]]);
  assert.throws(() => h.read(2, [{ prefix: "" }]), RangeError);
  // A jump drops everything older, and compactIndex stops after the last dropped batch.
  h.append({ index: 100, events: [putEvent("e", 100)] });
  assert.equal(h.size, 1);
  assert.equal(h.compactIndex, 6);
  assert.deepEqual(shape(h, 6, [{ prefix: "" }]), [[100, ["e"]]]);
  assert.equal(h.lastIndex, 100);
});

Deno.test("history drops the oldest batches when it passes its byte bound", () => {
  const one = batchBytes([putEvent("k", 1, "x".repeat(100))]);
  const h = new WatchHistory({ entries: 1_000, bytes: 3 * one });
  for (let i = 1; i <= 5; i++) {
    h.append({ index: i, events: [putEvent("k", i, "x".repeat(100))] });
  }
  assert.equal(h.size, 3);
  assert.equal(h.bytes, 3 * one);
  assert.equal(h.compactIndex, 3);
  assert.deepEqual(shape(h, 3, [{ key: "k" }]).map(([i]) => i), [3, 4, 5]);
});

Deno.test("history reads by key, by prefix and by empty prefix, cutting batches down to the range", () => {
  const h = new WatchHistory();
  h.append({ index: 1, events: [putEvent("a/1", 1), putEvent("b/1", 1)] });
  h.append({ index: 2, events: [putEvent("a", 2)] });
  h.append({
    index: 4,
    events: [{ type: "delete", key: "a/1", modIndex: 4 }, putEvent("ab", 4)],
  });
  h.append({ index: 7, events: [putEvent("b/2", 7)] });
  assert.deepEqual(shape(h, 1, [{ prefix: "" }]), [
    [1, ["a/1", "b/1"]],
    [2, ["a"]],
    [4, ["a/1", "ab"]],
    [7, ["b/2"]],
  ]);
  assert.deepEqual(shape(h, 1, [{ prefix: "a/" }]), [[1, ["a/1"]], [
    4,
    ["a/1"],
  ]]);
  assert.deepEqual(shape(h, 1, [{ key: "a" }]), [[2, ["a"]]]);
  assert.deepEqual(shape(h, 1, [{ prefix: "a" }]), [
    [1, ["a/1"]],
    [2, ["a"]],
    [4, ["a/1", "ab"]],
  ]);
  // from counts by index, also between batches.
  assert.deepEqual(shape(h, 3, [{ prefix: "a" }]), [[4, ["a/1", "ab"]]]);
  assert.deepEqual(shape(h, 5, [{ prefix: "a" }]), []);
  assert.deepEqual(shape(h, 1, [{ key: "zz" }]), []);
  // Several ranges: each event once, even when two ranges hold it.
  assert.deepEqual(shape(h, 1, [{ prefix: "a" }, { key: "a/1" }]), [
    [1, ["a/1"]],
    [2, ["a"]],
    [4, ["a/1", "ab"]],
  ]);
  // A batch wholly in range is handed out as it is.
  const whole = h.read(4, [{ prefix: "a" }]).batches[0]!;
  assert.equal(whole.events.length, 2);
});

Deno.test("history reads in pages of about maxBytes, each naming where the next starts", () => {
  const h = new WatchHistory();
  for (let i = 1; i <= 10; i++) {
    h.append({ index: i * 2, events: [putEvent("k", i * 2)] });
  }
  const one = batchBytes([putEvent("k", 2)]);
  const got: number[] = [];
  let from = 1;
  let pages = 0;
  for (;;) {
    const page = h.read(from, [{ key: "k" }], 3 * one);
    pages++;
    got.push(...page.batches.map((b) => b.index));
    assert.ok(page.next > from || page.done);
    from = page.next;
    if (page.done) break;
    assert.equal(page.batches.length, 3);
  }
  assert.deepEqual(got, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  assert.equal(pages, 4);
  assert.equal(from, 21, "done: the next page starts after the newest batch");
  // from beyond the newest batch is done at once, and keeps its place.
  assert.deepEqual(h.read(50, [{ key: "k" }]), {
    batches: [],
    next: 50,
    done: true,
  });
});

Deno.test("history refuses out-of-order batches; reset forgets all and starts after the snapshot", () => {
  const h = new WatchHistory();
  h.append({ index: 5, events: [putEvent("a", 5)] });
  assert.throws(
    () => h.append({ index: 5, events: [putEvent("a", 5)] }),
    RangeError,
  );
  assert.throws(
    () => h.append({ index: 3, events: [putEvent("a", 3)] }),
    RangeError,
  );
  h.reset(40);
  assert.equal(h.size, 0);
  assert.equal(h.bytes, 0);
  assert.equal(h.compactIndex, 41);
  assert.throws(() => h.read(40, [{ prefix: "" }]), RangeError);
  assert.deepEqual(h.read(41, [{ prefix: "" }]).batches, []);
  assert.throws(
    () => h.append({ index: 40, events: [putEvent("a", 40)] }),
    RangeError,
  );
  h.append({ index: 41, events: [putEvent("a", 41)] });
  assert.deepEqual(shape(h, 41, [{ prefix: "" }]), [[41, ["a"]]]);
});

Deno.test("history with many batches stays correct as dropped ones are cut off", () => {
  const h = new WatchHistory({ entries: 1_500 });
  for (let i = 1; i <= 10_000; i++) {
    h.append({ index: i, events: [putEvent(`k${i % 7}`, i)] });
  }
  assert.equal(h.size, 1_500);
  assert.equal(h.compactIndex, 8_501);
  const page = h.read(9_990, [{ key: "k0" }]);
  assert.deepEqual(page.batches.map((b) => b.index), [9_996]);
});

Deno.test("history hands back every field of every event as appended, values as copies", () => {
  const h = new WatchHistory();
  const events: WatchEvent[] = [
    {
      type: "put",
      key: "ключ/é/😀",
      value: text("välue"),
      createIndex: 3,
      modIndex: 9,
      version: 4,
      lease: 2 ** 52 + 7,
    },
    { type: "delete", key: "a", modIndex: 9 },
    { type: "delete", key: "b".repeat(4096), modIndex: 9, reason: "lease" },
    putEvent("empty", 9, ""),
  ];
  h.append({ index: 9, events });
  const [got] = h.read(1, [{ prefix: "" }]).batches;
  assert.deepEqual(got, { index: 9, events });
  // The caller's value and the one handed out are not the history's bytes.
  (events[0] as { value: Uint8Array }).value.fill(0);
  const first = h.read(1, [{ prefix: "" }]).batches[0]!.events[0]!;
  assert.deepEqual(first.type === "put" && first.value, text("välue"));
  if (first.type === "put") first.value.fill(0);
  const again = h.read(1, [{ prefix: "" }]).batches[0]!.events[0]!;
  assert.deepEqual(again.type === "put" && again.value, text("välue"));
});

Deno.test("history keeps batches larger than a chunk and frees the chunks and pages of dropped batches", () => {
  const h = new WatchHistory({ entries: 5_000 });
  const big = "x".repeat(HISTORY_CHUNK_BYTES + 10);
  h.append({ index: 1, events: [putEvent("big", 1, big)] });
  h.append({ index: 2, events: [putEvent("small", 2)] });
  const [first, second] = h.read(1, [{ prefix: "" }]).batches;
  assert.equal(
    first!.events[0]!.type === "put" && first!.events[0]!.value.length,
    big.length,
  );
  assert.deepEqual(second!.events.map((e) => e.key), ["small"]);
  // 100-byte values: many batches per chunk; after 50,000 only the last 5,000 are held.
  for (let i = 3; i <= 50_000; i++) {
    h.append({ index: i, events: [putEvent(`k${i}`, i, "v".repeat(100))] });
  }
  assert.equal(h.size, 5_000);
  assert.ok(h.chunkCount <= 2, `chunks held: ${h.chunkCount}`);
  assert.ok(h.pageCount <= 3, `pages held: ${h.pageCount}`);
  assert.deepEqual(
    h.read(49_999, [{ prefix: "" }]).batches.map((b) => b.events[0]!.key),
    ["k49999", "k50000"],
  );
});

Deno.test("history with no entries to keep reuses one chunk", () => {
  const h = new WatchHistory({ entries: 0 });
  for (let i = 1; i <= 100; i++) {
    h.append({ index: i, events: [putEvent("k", i)] });
  }
  assert.equal(h.size, 0);
  assert.equal(h.compactIndex, 101);
  assert.equal(h.chunkCount, 1);
  assert.deepEqual(h.read(101, [{ prefix: "" }]).batches, []);
});
