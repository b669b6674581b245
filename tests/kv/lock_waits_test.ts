import assert from "node:assert/strict";
import { encodeCommand, KvStore, lockKey, LockWaits } from "../../kv/mod.ts";

/** Whether `p` has settled, after the microtasks already queued ran. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  p.then(() => done = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

Deno.test("lock waits: a delete in the lock wakes its waiters, and only theirs; puts wake nobody; no timer involved", async () => {
  const store = new KvStore();
  const waits = new LockWaits();
  store.listen(waits);
  const put = (index: number, key: string) =>
    store.apply(
      index,
      encodeCommand({ op: "put", key, value: new Uint8Array(0) }),
    );
  put(1, lockKey("db", 1));
  put(2, lockKey("db", 2));
  const never = new AbortController().signal;
  const db = waits.next("db", never);
  const other = waits.next("dbx", never);
  assert.equal(waits.size, 2);
  put(3, lockKey("db", 3)); // queues behind: moves nobody up
  put(4, "db/1"); // not a lock key
  assert.equal(await settled(db), false);
  store.apply(5, encodeCommand({ op: "delete", key: lockKey("db", 1) }));
  assert.equal(await settled(db), true, "woken by the holder's delete");
  assert.equal(await settled(other), false, "another lock's waiter sleeps");
  assert.equal(waits.size, 1);
  // A delete of an absent key changes nothing and wakes nothing.
  const again = waits.next("db", never);
  store.apply(6, encodeCommand({ op: "delete", key: lockKey("db", 1) }));
  assert.equal(await settled(again), false);
});

Deno.test("lock waits: a snapshot restore wakes everyone; an aborted wait leaves", async () => {
  const store = new KvStore();
  const waits = new LockWaits();
  store.listen(waits);
  const never = new AbortController().signal;
  const a = waits.next("a", never);
  const b = waits.next("b", never);
  waits.restored(10);
  assert.equal(await settled(a), true);
  assert.equal(await settled(b), true);
  const giveUp = new AbortController();
  const c = waits.next("c", giveUp.signal);
  giveUp.abort();
  assert.equal(await settled(c), true);
  assert.equal(waits.size, 0, "nothing left parked");
  assert.equal(await settled(waits.next("c", giveUp.signal)), true);
});
