import assert from "node:assert/strict";
import {
  encodeCommand,
  KvStore,
  lockKey,
  lockNameProblem,
  lockQueue,
} from "../../kv/mod.ts";

Deno.test("lock queue: the keys of one lock in createIndex order, whatever their names; other locks apart", () => {
  const store = new KvStore();
  const put = (index: number, key: string) =>
    store.apply(
      index,
      encodeCommand({ op: "put", key, value: new Uint8Array(0) }),
    );
  put(1, lockKey("db", 90));
  put(2, lockKey("db", 7));
  put(3, lockKey("dbx", 1));
  put(4, lockKey("db", 100));
  put(5, lockKey("db", 90)); // rewritten: its place (createIndex) stays
  assert.deepEqual(lockQueue(store, "db"), [
    { key: "_locks/db/90", createIndex: 1 },
    { key: "_locks/db/7", createIndex: 2 },
    { key: "_locks/db/100", createIndex: 4 },
  ]);
  store.apply(6, encodeCommand({ op: "delete", key: lockKey("db", 90) }));
  assert.equal(lockQueue(store, "db")[0]?.createIndex, 2, "the next in line");
  assert.deepEqual(lockQueue(store, "none"), []);
});

Deno.test("lock names: not empty, no slash, short enough for a key", () => {
  assert.equal(lockNameProblem("db"), undefined);
  assert.ok(lockNameProblem(""));
  assert.ok(lockNameProblem("a/b"));
  assert.ok(lockNameProblem("x".repeat(5000)));
});
