import assert from "node:assert/strict";
import {
  type ChangeBatch,
  compareHolds,
  type CompareOperator,
  type CompareTarget,
  decodeCommand,
  encodeCommand,
  InvalidCommandError,
  KvStore,
  type TxnCommand,
  type TxnCompare,
  type TxnOperation,
} from "../../kv/mod.ts";
import { ABSENT_REVISION } from "../../kv/revision.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => b && new TextDecoder().decode(b);

function txn(
  compare: TxnCompare[],
  success: TxnOperation[],
  failure: TxnOperation[] = [],
): TxnCommand {
  return { op: "txn", compare, success, failure };
}

function apply(store: KvStore, index: number, cmd: TxnCommand) {
  const r = store.apply(index, encodeCommand(cmd));
  assert.equal(r.status, "ok");
  assert.ok(r.status === "ok" && r.txn);
  return r.txn;
}

/** A store with a = "m" (created at 1, rewritten at 3: version 2) and b = "z" at 2. */
function seeded(): KvStore {
  const store = new KvStore();
  store.apply(1, encodeCommand({ op: "put", key: "a", value: text("x") }));
  store.apply(2, encodeCommand({ op: "put", key: "b", value: text("z") }));
  store.apply(3, encodeCommand({ op: "put", key: "a", value: text("m") }));
  return store;
}

Deno.test("compareHolds: every number target with every operator, present and absent keys", () => {
  const present = { createIndex: 5, modIndex: 7, version: 2, lease: 9 };
  const cases: [CompareTarget, number][] = [
    ["createIndex", 5],
    ["modIndex", 7],
    ["version", 2],
    ["lease", 9],
  ];
  for (const [target, have] of cases) {
    const c = (op: CompareOperator, value: number): TxnCompare => ({
      key: "k",
      target,
      op,
      value,
    });
    const v = text("v");
    assert.equal(compareHolds(c("==", have), present, v), true, target);
    assert.equal(compareHolds(c("==", have + 1), present, v), false, target);
    assert.equal(compareHolds(c("!=", have + 1), present, v), true, target);
    assert.equal(compareHolds(c("!=", have), present, v), false, target);
    assert.equal(compareHolds(c("<", have + 1), present, v), true, target);
    assert.equal(compareHolds(c("<", have), present, v), false, target);
    assert.equal(compareHolds(c(">", have - 1), present, v), true, target);
    assert.equal(compareHolds(c(">", have), present, v), false, target);
    // An absent key's numbers are 0.
    assert.equal(compareHolds(c("==", 0), ABSENT_REVISION, undefined), true);
    assert.equal(compareHolds(c("<", 1), ABSENT_REVISION, undefined), true);
    assert.equal(compareHolds(c(">", 0), ABSENT_REVISION, undefined), false);
    assert.equal(compareHolds(c("!=", 0), ABSENT_REVISION, undefined), false);
  }
});

Deno.test("compareHolds: value compares bytes in order; on an absent key every value compare is false", () => {
  const rev = { createIndex: 1, modIndex: 1, version: 1, lease: 0 };
  const c = (op: CompareOperator, value: string): TxnCompare => ({
    key: "k",
    target: "value",
    op,
    value: text(value),
  });
  const have = text("bb");
  assert.equal(compareHolds(c("==", "bb"), rev, have), true);
  assert.equal(compareHolds(c("==", "b"), rev, have), false);
  assert.equal(compareHolds(c("!=", "b"), rev, have), true);
  assert.equal(compareHolds(c("!=", "bb"), rev, have), false);
  assert.equal(compareHolds(c("<", "c"), rev, have), true);
  assert.equal(
    compareHolds(c("<", "bba"), rev, have),
    true,
    "a prefix is smaller",
  );
  assert.equal(compareHolds(c("<", "ba"), rev, have), false);
  assert.equal(compareHolds(c(">", "b"), rev, have), true);
  assert.equal(compareHolds(c(">", "bc"), rev, have), false);
  // Bytes, not UTF-16 code units: U+FF61 (EF BD A1) sorts before U+1F600 (F0 ...).
  assert.equal(compareHolds(c("<", "😀"), rev, text("｡")), true);
  for (const op of ["==", "!=", "<", ">"] as const) {
    assert.equal(compareHolds(c(op, "bb"), ABSENT_REVISION, undefined), false);
  }
});

Deno.test("txn: compares see the state before it; the success branch applies all its operations at one index", () => {
  const store = seeded();
  const out = apply(
    store,
    4,
    txn(
      [
        { key: "a", target: "value", op: "==", value: text("m") },
        { key: "a", target: "version", op: "==", value: 2 },
        { key: "a", target: "createIndex", op: "==", value: 1 },
        { key: "b", target: "modIndex", op: "<", value: 3 },
        { key: "nope", target: "version", op: "==", value: 0 },
      ],
      [
        { op: "put", key: "c", value: text("3") },
        { op: "delete", key: "b" },
        { op: "get", key: "c" },
        { op: "get", prefix: "", limit: 10 },
      ],
      [{ op: "put", key: "failed", value: text("!") }],
    ),
  );
  assert.equal(out.succeeded, true);
  assert.equal(out.results.length, 4);
  assert.deepEqual(out.results[0], { op: "put" });
  assert.deepEqual(out.results[1], { op: "delete", deleted: 1 });
  const got = out.results[2]!;
  assert.ok(got.op === "get");
  assert.equal(str(got.items[0]!.value), "3");
  assert.equal(got.items[0]!.createIndex, 4);
  const all = out.results[3]!;
  assert.ok(all.op === "get");
  assert.deepEqual(all.items.map((i) => i.key), ["a", "c"]);
  assert.equal(store.get("b"), undefined);
  assert.equal(store.get("c")?.modIndex, 4);
  assert.equal(store.get("failed"), undefined);
  assert.equal(store.appliedIndex, 4);
});

Deno.test("txn: a failing compare runs the failure branch only", () => {
  const store = seeded();
  const out = apply(
    store,
    4,
    txn(
      [{ key: "a", target: "value", op: "==", value: text("x") }],
      [{ op: "delete", key: "a" }],
      [{ op: "get", key: "a" }, { op: "get", key: "absent" }],
    ),
  );
  assert.equal(out.succeeded, false);
  const [a, absent] = out.results;
  assert.ok(a?.op === "get" && absent?.op === "get");
  assert.equal(str(a.items[0]!.value), "m");
  assert.deepEqual(absent.items, []);
  assert.equal(str(store.get("a")?.value), "m");
});

Deno.test("txn: delete by prefix, get by prefix with a limit, and one watch batch per entry", () => {
  const store = new KvStore();
  for (let i = 1; i <= 5; i++) {
    store.apply(
      i,
      encodeCommand({ op: "put", key: `p/${i}`, value: text("v") }),
    );
  }
  const batches: ChangeBatch[] = [];
  store.listen({ changed: (b) => batches.push(b), restored: () => {} });
  const out = apply(
    store,
    6,
    txn([], [
      { op: "get", prefix: "p/", limit: 2 },
      { op: "delete", prefix: "p/" },
      { op: "put", key: "q", value: text("1") },
      { op: "put", key: "q", value: text("2") },
    ]),
  );
  const page = out.results[0]!;
  assert.ok(page.op === "get");
  assert.deepEqual(page.items.map((i) => i.key), ["p/1", "p/2"]);
  assert.equal(page.more, true);
  assert.deepEqual(out.results[1], { op: "delete", deleted: 5 });
  assert.equal(store.size, 1);
  assert.equal(store.get("q")?.version, 2);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.index, 6);
  assert.equal(batches[0]!.events.length, 7);
  assert.equal(store.history.size, 6);
  // A read-only transaction changes nothing: no batch.
  apply(store, 7, txn([], [{ op: "get", key: "q" }]));
  assert.equal(batches.length, 1);
  assert.equal(store.appliedIndex, 7);
});

Deno.test("txn: a get's value stays the value read, also when a later put of the same entry replaces it", () => {
  const store = seeded();
  const out = apply(
    store,
    4,
    txn([], [
      { op: "get", key: "a" },
      { op: "put", key: "a", value: text("n") },
    ]),
  );
  const got = out.results[0]!;
  assert.ok(got.op === "get");
  assert.equal(str(got.items[0]!.value), "m");
});

Deno.test("txn: bytes round-trip; a bad part anywhere is refused before the log", () => {
  const cmd = txn(
    [
      { key: "a", target: "value", op: "!=", value: text("x") },
      { key: "b", target: "lease", op: ">", value: 3 },
    ],
    [
      { op: "put", key: "a", value: text("y"), lease: 12 },
      { op: "delete", prefix: "d/" },
      { op: "get", prefix: "", limit: 5 },
    ],
    [{ op: "get", key: "a" }, { op: "delete", key: "z" }],
  );
  assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  const refused: TxnCommand[] = [
    txn([{ key: "", target: "version", op: "==", value: 1 }], []),
    txn([{ key: "a", target: "version", op: "==", value: -1 }], []),
    txn([{ key: "a", target: "version", op: "==", value: text("1") }], []),
    txn([{ key: "a", target: "value", op: "==", value: 1 }], []),
    txn(
      [{ key: "a", target: "size" as CompareTarget, op: "==", value: 1 }],
      [],
    ),
    txn([{
      key: "a",
      target: "version",
      op: ">=" as CompareOperator,
      value: 1,
    }], []),
    txn([], [], [{ op: "get", prefix: "p", limit: 0 }]),
    txn([], [], [{ op: "get", prefix: "p", limit: 10_001 }]),
    txn([], [{ op: "put", key: "a", value: text("1"), lease: 1.5 }]),
    txn([], [{ op: "copy" } as unknown as TxnOperation]),
    txn(
      [],
      Array.from({ length: 129 }, () => ({ op: "get", key: "a" }) as const),
    ),
  ];
  for (const bad of refused) {
    assert.throws(() => encodeCommand(bad), InvalidCommandError);
  }
  // 128 parts together are fine.
  encodeCommand(
    txn(
      [{ key: "a", target: "version", op: "==", value: 1 }],
      Array.from({ length: 127 }, () => ({ op: "get", key: "a" }) as const),
    ),
  );
});
