import assert from "node:assert/strict";
import {
  type ChangeBatch,
  type Command,
  decodeCommand,
  encodeCommand,
  InvalidSnapshotError,
  KvStore,
  type Lease,
} from "../../kv/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Applies `cmd` at `index` (of `term`) through its bytes, as the node does. */
function apply(store: KvStore, index: number, cmd: Command, term = 1) {
  return store.apply(index, encodeCommand(cmd), term);
}

function put(key: string, lease?: number): Command {
  const cmd: Command = { op: "put", key, value: text("v") };
  if (lease !== undefined) cmd.lease = lease;
  return cmd;
}

Deno.test("lease commands round-trip through their bytes; a put without a lease keeps its 5-field form", () => {
  const cmds: Command[] = [
    { op: "lease_grant", ttl: 10 },
    { op: "lease_revoke", id: 7, term: 0 },
    { op: "lease_revoke", id: 7, term: 3 },
    { op: "put", key: "k", value: text("v"), lease: 7 },
  ];
  for (const cmd of cmds) {
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  }
  assert.equal(encodeCommand(put("k"))[0], 0x95);
  assert.throws(() => encodeCommand({ op: "lease_grant", ttl: 0 }));
  assert.throws(() => encodeCommand({ op: "lease_revoke", id: 0, term: 0 }));
});

Deno.test("grant: the id is the entry's index; attach, detach on a put without lease, move, delete", () => {
  const store = new KvStore();
  const granted = apply(store, 1, { op: "lease_grant", ttl: 10 });
  assert.deepEqual(granted, {
    status: "ok",
    index: 1,
    lease: { id: 1, ttl: 10 },
  });
  apply(store, 2, { op: "lease_grant", ttl: 20 });
  apply(store, 3, put("a", 1));
  apply(store, 4, put("b", 1));
  apply(store, 5, put("c", 2));
  assert.deepEqual(store.leases.keys(1), ["a", "b"]);
  assert.equal(store.get("a")?.lease, 1);
  apply(store, 6, put("a")); // detach
  assert.equal(store.get("a")?.lease, 0);
  apply(store, 7, put("b", 2)); // move
  assert.deepEqual(store.leases.keys(1), []);
  assert.deepEqual(store.leases.keys(2), ["b", "c"]);
  apply(store, 8, { op: "delete", key: "c" });
  assert.deepEqual(store.leases.keys(2), ["b"]);
  assert.deepEqual(store.leases.list(), [{ id: 1, ttl: 10 }, {
    id: 2,
    ttl: 20,
  }]);
});

Deno.test("a put naming a lease that does not exist writes nothing; so does a txn whose branch does", () => {
  const store = new KvStore();
  assert.deepEqual(apply(store, 1, put("a", 9)), {
    status: "lease_not_found",
    lease: 9,
  });
  assert.equal(store.get("a"), undefined);
  const txn = apply(store, 2, {
    op: "txn",
    compare: [],
    success: [
      { op: "put", key: "x", value: text("1") },
      { op: "put", key: "y", value: text("1"), lease: 9 },
    ],
    failure: [],
  });
  assert.deepEqual(txn, { status: "lease_not_found", lease: 9 });
  assert.equal(store.size, 0);
  assert.equal(store.appliedIndex, 2);
});

Deno.test("revoke deletes the lease's keys in one batch with reason lease; a second revoke finds nothing", () => {
  const store = new KvStore();
  apply(store, 1, { op: "lease_grant", ttl: 10 });
  apply(store, 2, put("a", 1));
  apply(store, 3, put("b", 1));
  apply(store, 4, put("other"));
  const batches: ChangeBatch[] = [];
  store.listen({ changed: (b) => batches.push(b), restored: () => {} });
  assert.deepEqual(apply(store, 5, { op: "lease_revoke", id: 1, term: 0 }), {
    status: "ok",
    index: 5,
  });
  assert.deepEqual(batches, [{
    index: 5,
    events: [
      { type: "delete", key: "a", modIndex: 5, reason: "lease" },
      { type: "delete", key: "b", modIndex: 5, reason: "lease" },
    ],
  }]);
  assert.equal(store.size, 1);
  assert.equal(store.leases.size, 0);
  assert.deepEqual(apply(store, 6, { op: "lease_revoke", id: 1, term: 0 }), {
    status: "lease_not_found",
    lease: 1,
  });
  assert.deepEqual(store.leases.counts, { granted: 1, expired: 0, revoked: 1 });
});

Deno.test("an expiry revoke applies only in an entry of the term it was decided in: a stale one is a no-op", () => {
  const store = new KvStore();
  apply(store, 1, { op: "lease_grant", ttl: 10 }, 2);
  apply(store, 2, put("a", 1), 2);
  // Decided by the leader of term 2, but appended by the leader of term 3
  // (a forwarded or re-proposed copy): nothing happens.
  assert.deepEqual(apply(store, 3, { op: "lease_revoke", id: 1, term: 2 }, 3), {
    status: "ok",
    index: 3,
  });
  assert.equal(store.get("a")?.lease, 1);
  assert.equal(store.leases.size, 1);
  // Decided and appended in term 3: applied.
  apply(store, 4, { op: "lease_revoke", id: 1, term: 3 }, 3);
  assert.equal(store.get("a"), undefined);
  assert.deepEqual(store.leases.counts, { granted: 1, expired: 1, revoked: 0 });
});

Deno.test("leases and their keys survive a snapshot round trip; listeners hear of grants, revokes and restores", () => {
  const store = new KvStore();
  apply(store, 1, { op: "lease_grant", ttl: 10 });
  apply(store, 2, { op: "lease_grant", ttl: 30 });
  apply(store, 3, put("a", 1));
  apply(store, 4, put("b", 2));
  apply(store, 5, put("c"));
  const bytes = store.snapshot();
  const copy = new KvStore();
  const heard: string[] = [];
  copy.leases.listen({
    granted: (l: Lease) => heard.push(`granted ${l.id}`),
    revoked: (id) => heard.push(`revoked ${id}`),
    restored: (ls) => heard.push(`restored ${ls.map((l) => l.id).join(",")}`),
  });
  copy.restore(bytes);
  assert.deepEqual(copy.leases.list(), store.leases.list());
  assert.deepEqual(copy.leases.keys(1), ["a"]);
  assert.deepEqual(copy.leases.keys(2), ["b"]);
  assert.deepEqual(copy.snapshot(), bytes);
  apply(copy, 6, { op: "lease_revoke", id: 2, term: 0 });
  apply(copy, 7, { op: "lease_grant", ttl: 5 });
  assert.equal(copy.get("b"), undefined);
  assert.deepEqual(heard, ["restored 1,2", "revoked 2", "granted 7"]);
  // Without leases the snapshot has no section (the format before leases).
  const plain = new KvStore();
  apply(plain, 1, put("x"));
  const p = plain.snapshot();
  assert.deepEqual(p.subarray(p.length - 4), new Uint8Array(4));
});

Deno.test("a snapshot whose key names a lease it does not hold, or with an unknown section, is refused", () => {
  const store = new KvStore();
  apply(store, 1, { op: "lease_grant", ttl: 10 });
  apply(store, 2, put("a", 1));
  const bytes = store.snapshot();
  // Drop the lease section: the section count becomes 0.
  const cut = bytes.slice(0, bytes.length - (4 + 6 + 4 + 12) + 4);
  cut.fill(0, cut.length - 4);
  assert.throws(() => new KvStore().restore(cut), InvalidSnapshotError);
  const unknown = bytes.slice();
  new DataView(unknown.buffer).setUint16(bytes.length - (6 + 4 + 12), 9, true);
  assert.throws(() => new KvStore().restore(unknown), InvalidSnapshotError);
});
