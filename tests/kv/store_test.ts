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
