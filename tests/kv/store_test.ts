import assert from "node:assert/strict";
import {
  ApplyOrderError,
  type Command,
  encodeCommand,
  KvStore,
} from "../../kv/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);

/** Applies `cmd` at `index` through its bytes, as the node does. */
function apply(store: KvStore, index: number, cmd: Command) {
  return store.apply(index, encodeCommand(cmd));
}

function put(
  key: string,
  value: string,
  extra: Partial<Command> = {},
): Command {
  return { op: "put", key, value: text(value), ...extra } as Command;
}

Deno.test("put stores the value with the index of its write", () => {
  const store = new KvStore();
  assert.deepEqual(apply(store, 1, put("a", "1")), { status: "ok", index: 1 });
  assert.equal(str(store.get("a")?.value), "1");
  assert.equal(store.get("a")?.index, 1);
  assert.deepEqual(apply(store, 2, put("a", "2")), { status: "ok", index: 2 });
  assert.equal(str(store.get("a")?.value), "2");
  assert.equal(store.get("a")?.index, 2);
  assert.equal(store.appliedIndex, 2);
  assert.equal(store.size, 1);
  assert.equal(store.get("b"), undefined);
});

Deno.test("delete removes the key and succeeds also when the key is absent", () => {
  const store = new KvStore();
  apply(store, 1, put("a", "1"));
  assert.deepEqual(apply(store, 2, { op: "delete", key: "a" }), {
    status: "ok",
    index: 2,
  });
  assert.equal(store.get("a"), undefined);
  assert.deepEqual(apply(store, 3, { op: "delete", key: "a" }), {
    status: "ok",
    index: 3,
  });
  assert.equal(store.size, 0);
  assert.deepEqual(store.list("", 10), { items: [], more: false });
});

Deno.test("ifMatch applies only when the key was last written at that index", () => {
  const store = new KvStore();
  apply(store, 1, put("a", "1"));
  assert.deepEqual(apply(store, 2, put("a", "x", { ifMatch: 5 })), {
    status: "precondition_failed",
    currentIndex: 1,
  });
  assert.equal(str(store.get("a")?.value), "1");
  assert.deepEqual(apply(store, 3, put("a", "2", { ifMatch: 1 })), {
    status: "ok",
    index: 3,
  });
  assert.equal(str(store.get("a")?.value), "2");
  // The same condition again fails: the key moved on to index 3.
  assert.equal(
    apply(store, 4, put("a", "3", { ifMatch: 1 })).status,
    "precondition_failed",
  );
  assert.deepEqual(apply(store, 5, put("absent", "v", { ifMatch: 1 })), {
    status: "precondition_failed",
    currentIndex: 0,
  });
  assert.equal(store.get("absent"), undefined);
  assert.deepEqual(apply(store, 6, { op: "delete", key: "a", ifMatch: 1 }), {
    status: "precondition_failed",
    currentIndex: 3,
  });
  assert.deepEqual(apply(store, 7, { op: "delete", key: "a", ifMatch: 3 }), {
    status: "ok",
    index: 7,
  });
  assert.equal(store.get("a"), undefined);
  assert.equal(store.appliedIndex, 7);
});

Deno.test("ifNoneMatch creates only when the key is absent", () => {
  const store = new KvStore();
  assert.deepEqual(apply(store, 1, put("a", "1", { ifNoneMatch: true })), {
    status: "ok",
    index: 1,
  });
  assert.deepEqual(apply(store, 2, put("a", "2", { ifNoneMatch: true })), {
    status: "precondition_failed",
    currentIndex: 1,
  });
  assert.equal(str(store.get("a")?.value), "1");
});

Deno.test("empty entries are no-ops and invalid bytes change nothing but both advance the index", () => {
  const store = new KvStore();
  assert.deepEqual(store.apply(1, new Uint8Array(0)), {
    status: "ok",
    index: 1,
  });
  const result = store.apply(2, new Uint8Array([0xc1, 0x02]));
  assert.equal(result.status, "invalid");
  assert.equal(store.appliedIndex, 2);
  assert.equal(store.size, 0);
});

Deno.test("apply refuses an index that is not above the applied index", () => {
  const store = new KvStore();
  apply(store, 5, put("a", "1"));
  assert.throws(() => apply(store, 5, put("a", "2")), ApplyOrderError);
  assert.throws(() => apply(store, 4, put("a", "2")), ApplyOrderError);
  assert.throws(() => store.apply(1.5, new Uint8Array(0)), ApplyOrderError);
  assert.equal(str(store.get("a")?.value), "1");
  apply(store, 9, put("a", "3")); // gaps are fine
  assert.equal(store.appliedIndex, 9);
});

Deno.test("list returns keys with the prefix in byte order, up to limit, with more", () => {
  const store = new KvStore();
  const keys = ["b", "a/2", "a/10", "a/1", "a", "ab", "a/😀", "a/\uffff", "c"];
  keys.forEach((key, i) => apply(store, i + 1, put(key, key)));
  const all = store.list("", 100);
  assert.deepEqual(
    all.items.map((i) => i.key),
    ["a", "a/1", "a/10", "a/2", "a/\uffff", "a/😀", "ab", "b", "c"],
  );
  assert.equal(all.more, false);
  const page = store.list("a/", 2);
  assert.deepEqual(page.items.map((i) => i.key), ["a/1", "a/10"]);
  assert.equal(page.more, true);
  const next = store.list("a/", 2, { after: "a/10" });
  assert.deepEqual(next.items.map((i) => i.key), ["a/2", "a/\uffff"]);
  assert.equal(next.more, true);
  const last = store.list("a/", 2, { after: "a/\uffff" });
  assert.deepEqual(last.items.map((i) => i.key), ["a/😀"]);
  assert.equal(last.more, false);
  // Exactly `limit` matches: no more.
  assert.equal(store.list("a/", 5).more, false);
  assert.equal(store.list("a/", 4).more, true);
  assert.deepEqual(store.list("zz", 10), { items: [], more: false });
  const item = store.list("b", 1).items[0]!;
  assert.equal(str(item.value), "b");
  assert.equal(item.index, 1);
  assert.deepEqual(store.list("a", 0), { items: [], more: true });
});

Deno.test("list on 100k keys walks only the requested range", () => {
  const store = new KvStore();
  for (let i = 0; i < 100_000; i++) {
    apply(store, i + 1, put(`key/${String(i).padStart(6, "0")}`, "v"));
  }
  const page = store.list("key/05", 3);
  assert.deepEqual(page.items.map((i) => i.key), [
    "key/050000",
    "key/050001",
    "key/050002",
  ]);
  assert.equal(page.more, true);
  assert.equal(store.list("key/099999", 10).items.length, 1);
});

Deno.test("a value that is a small view into a large buffer is copied", () => {
  const store = new KvStore();
  const big = new Uint8Array(1 << 20);
  const bytes = encodeCommand(put("a", "small"));
  big.set(bytes, 100);
  store.apply(1, big.subarray(100, 100 + bytes.length));
  const value = store.get("a")!.value;
  assert.equal(str(value), "small");
  assert.ok(
    value.buffer.byteLength < 1 << 20,
    "the value pins the large buffer",
  );
});

Deno.test("revisions: a put creates at version 1, each write adds one, a delete and a put create anew", () => {
  const store = new KvStore();
  const rev = (key: string) => store.revision(key);
  assert.deepEqual(rev("a"), {
    createIndex: 0,
    modIndex: 0,
    version: 0,
    lease: 0,
  });
  apply(store, 3, put("a", "1"));
  assert.deepEqual(rev("a"), {
    createIndex: 3,
    modIndex: 3,
    version: 1,
    lease: 0,
  });
  apply(store, 4, put("b", "x"));
  apply(store, 6, put("a", "2"));
  apply(store, 7, put("a", "3"));
  assert.deepEqual(rev("a"), {
    createIndex: 3,
    modIndex: 7,
    version: 3,
    lease: 0,
  });
  // A failed condition changes no revision.
  apply(store, 8, put("a", "no", { ifMatch: 3 }));
  apply(store, 9, put("a", "no", { ifNoneMatch: true }));
  assert.deepEqual(rev("a").modIndex, 7);
  assert.deepEqual(rev("a").version, 3);
  apply(store, 10, { op: "delete", key: "a" });
  assert.deepEqual(rev("a"), {
    createIndex: 0,
    modIndex: 0,
    version: 0,
    lease: 0,
  });
  // A delete of an absent key changes nothing (and records no change).
  const historyBefore = store.history.size;
  apply(store, 11, { op: "delete", key: "a" });
  assert.equal(store.history.size, historyBefore);
  apply(store, 12, put("a", "again"));
  assert.deepEqual(rev("a"), {
    createIndex: 12,
    modIndex: 12,
    version: 1,
    lease: 0,
  });
  // get and list carry the same numbers; index stays the write index.
  const got = store.get("a")!;
  assert.equal(got.createIndex, 12);
  assert.equal(got.modIndex, 12);
  assert.equal(got.index, 12);
  assert.equal(got.version, 1);
  const listed = store.list("", 10).items.map((i) => [
    i.key,
    i.createIndex,
    i.modIndex,
    i.version,
    i.index,
  ]);
  assert.deepEqual(listed, [["a", 12, 12, 1, 12], ["b", 4, 4, 1, 4]]);
  // Slots are reused after a delete: the new key starts from scratch.
  apply(store, 13, { op: "delete", key: "b" });
  apply(store, 14, put("c", "fresh"));
  assert.deepEqual(rev("c"), {
    createIndex: 14,
    modIndex: 14,
    version: 1,
    lease: 0,
  });
});

Deno.test("every change becomes one batch in the history and at the listeners, in index order", () => {
  const store = new KvStore();
  const seen: unknown[] = [];
  const stop = store.listen({
    changed: (b) =>
      seen.push(["changed", b.index, b.events.map((e) => e.type)]),
    restored: (index) => seen.push(["restored", index]),
  });
  apply(store, 1, put("a", "1"));
  apply(store, 2, put("a", "2"));
  apply(store, 3, { op: "delete", key: "missing" });
  apply(store, 4, put("a", "x", { ifMatch: 1 }));
  store.apply(5, new Uint8Array(0));
  apply(store, 6, { op: "delete", key: "a" });
  assert.deepEqual(seen, [
    ["changed", 1, ["put"]],
    ["changed", 2, ["put"]],
    ["changed", 6, ["delete"]],
  ]);
  const page = store.history.read(1, [{ prefix: "" }]);
  assert.deepEqual(page.batches.map((b) => b.events), [
    [{
      type: "put",
      key: "a",
      value: text("1"),
      createIndex: 1,
      modIndex: 1,
      version: 1,
      lease: 0,
    }],
    [{
      type: "put",
      key: "a",
      value: text("2"),
      createIndex: 1,
      modIndex: 2,
      version: 2,
      lease: 0,
    }],
    [{ type: "delete", key: "a", modIndex: 6 }],
  ]);
  // A restore empties the history at the snapshot's index and tells the listeners.
  const other = new KvStore();
  apply(other, 9, put("z", "1"));
  store.restore(other.snapshot());
  assert.deepEqual(seen.at(-1), ["restored", 9]);
  assert.equal(store.history.size, 0);
  assert.equal(store.history.compactIndex, 10);
  stop();
  apply(store, 10, put("a", "1"));
  assert.equal(seen.length, 4, "no call after unsubscribing");
  assert.equal(store.history.read(10, [{ key: "a" }]).batches.length, 1);
});

Deno.test("a history event owns its value: later writes and the caller's buffer do not change it", () => {
  const store = new KvStore();
  const bytes = encodeCommand(put("a", "one"));
  store.apply(1, bytes);
  bytes.fill(0);
  apply(store, 2, put("a", "two"));
  const [first] = store.history.read(1, [{ key: "a" }]).batches;
  const event = first!.events[0]!;
  assert.equal(event.type, "put");
  assert.equal(event.type === "put" && str(event.value), "one");
});

Deno.test("after a restore to an older state the history starts over after it, and applying goes on", () => {
  const old = new KvStore();
  apply(old, 3, put("a", "old"));
  const store = new KvStore({ history: { entries: 2 } });
  for (let i = 1; i <= 10; i++) apply(store, i, put("a", `${i}`));
  assert.equal(store.history.compactIndex, 9);
  store.restore(old.snapshot());
  assert.equal(store.history.compactIndex, 4);
  apply(store, 4, put("a", "new"));
  assert.deepEqual(
    store.history.read(4, [{ key: "a" }]).batches.map((b) => b.index),
    [4],
  );
  assert.equal(store.revision("a").version, 2);
});
