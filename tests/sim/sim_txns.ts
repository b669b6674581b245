/**
 * Simulated transaction clients (issue 16): now and then a client sends,
 * through a random node, a transaction that compares key `t0`'s
 * `modIndex` with what that node's store shows (stale or not, so it
 * succeeds or fails) and, when it holds, puts one fresh value at both `t0`
 * and `t1` (else reads `t0`). Nothing else writes `t*`.
 *
 * Checked on every node as its store reports each change batch (`txn
 * atomic`): one batch per entry, at rising indexes; a batch that changes
 * `t0` or `t1` changes both, to the same value; and after it both keys hold
 * the same value, written at the same index (all or nothing, at one index).
 *
 * Other clients send random transactions (`m/*` keys, one of which is
 * never written; compares on every target with every operator, against
 * what the node shows or near it; put, with or without a lease, one that
 * may be gone, delete and get of keys and prefixes), and everything the
 * nodes apply is checked against a reference model of the store
 * (sim_model.ts) replayed from the committed log (`txn reference`): every
 * node's answer at every index and the changes it reported for that entry
 * (one batch, all of them, at that index, or none) equal the model's; and
 * every acknowledged transaction's answer (succeeded, the get results, the
 * index) is the model's for the entry at its index, which is that
 * transaction.
 *
 * @module
 */

import type {
  ApplyResult,
  ChangeBatch,
  CompareOperator,
  CompareTarget,
  KvStore,
  TxnCommand,
  TxnCompare,
  TxnOperation,
} from "../../kv/mod.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";
import type { AppliedCommand } from "./sim_state_machine.ts";
import {
  changeTexts,
  commandText,
  normalizeAnswer,
  StoreModel,
} from "./sim_model.ts";

/** Keys of the random transactions; the last is never written. */
const KEYS = ["m/a", "m/b", "m/c", "m/d", "m/never"];
const VALUES = ["a", "b", "c"];
const PREFIXES = ["m/", "m/a", "m/c", "n/"];
const TARGETS: CompareTarget[] = [
  "value",
  "version",
  "createIndex",
  "modIndex",
  "lease",
];
const OPERATORS: CompareOperator[] = ["==", "!=", "<", ">"];
/** A lease id no grant reaches in a run. */
const GONE_LEASE = 1_000_000_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the transaction clients need of the cluster. */
export interface TxnHost {
  /** The adapter of a node up now, picked at random, if any. */
  randomPort(): { port: KvNode; store: KvStore } | undefined;
  deadline(what: string): AbortSignal;
  request<T>(what: string, op: () => Promise<T>, ok?: (v: T) => void): void;
  /** Fails the run with `e` (found inside a store's apply). */
  fail(e: unknown): void;
  /** The leases clients keep alive now. */
  liveLeases(): number[];
}

/** Counts for the summary. */
export interface TxnCounts {
  sent: number;
  succeeded: number;
  failed: number;
  /** Random transactions acknowledged and checked against the model. */
  checked: number;
  /** Entries replayed by the model. */
  replayed: number;
}

/** Zero counts. */
export function zeroTxnCounts(): TxnCounts {
  return { sent: 0, succeeded: 0, failed: 0, checked: 0, replayed: 0 };
}

/** The transaction clients of one run and their checks: see the module doc. */
export class SimTxns {
  readonly counts = zeroTxnCounts();
  readonly #host: TxnHost;
  readonly #rng: SimRng;
  readonly #rate: number;
  #values = 0;
  /** The reference model (the lock checks read the newest state from it). */
  readonly model = new StoreModel();
  /** Per node: the change batch its store reported in the apply under way. */
  readonly #batches = new Map<number, ChangeBatch>();

  constructor(host: TxnHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
    this.#rate = rng.pick([0.02, 0.1, 0.3]);
  }

  /** A node's new store: the checks of its change batches. */
  attach(node: number, store: KvStore): void {
    let last = 0;
    store.listen({
      changed: (b) => {
        this.#batches.set(node, b);
        try {
          last = this.#check(node, store, b, last);
        } catch (e) {
          this.#host.fail(e);
        }
      },
      restored: (index) => last = index,
    });
  }

  /**
   * Node `node` applied `c` (its store's change batch, if any, was reported
   * just before): the model replays it if no node did before, and the
   * node's answer and changes must be the model's (`txn reference`).
   */
  onApplied(node: number, c: AppliedCommand): void {
    const batch = this.#batches.get(node);
    this.#batches.delete(node);
    if (c.index > this.model.applied) {
      this.model.apply(c.index, c.cmd, c.term);
      this.counts.replayed++;
    }
    const want = this.model.answerAt(c.index);
    const at = `node ${node} at ${c.index} (${c.cmd.op})`;
    if (want === undefined) {
      return reference(`${at}: applied below the model's first entry`);
    }
    if (want.command !== commandText(c.cmd)) {
      reference(
        `${at}: applied ${commandText(c.cmd)}, the model ${want.command}`,
      );
    }
    const got = normalizeAnswer(c.result);
    if (got !== want.answer) {
      reference(`${at}: answered ${got}, the model ${want.answer}`);
    }
    if (batch !== undefined && batch.index !== c.index) {
      reference(`${at}: a change batch at ${batch.index}`);
    }
    const changes = batch === undefined ? [] : changeTexts(batch.events);
    const model = want.changes;
    const sorted = c.cmd.op === "lease_revoke";
    const a = sorted ? [...changes].sort() : changes;
    const b = sorted ? [...model].sort() : model;
    if (a.join("; ") !== b.join("; ")) {
      reference(
        `${at}: changed [${a.join("; ")}], the model [${b.join("; ")}]`,
      );
    }
  }

  /** An acknowledged transaction `cmd`'s answer `r`, against the model. */
  #checkAnswer(cmd: TxnCommand, r: ApplyResult): void {
    if (r.status !== "ok") return;
    const want = this.model.answerAt(r.index);
    const at = `transaction acknowledged at ${r.index}`;
    if (want === undefined) reference(`${at}: the model has no entry there`);
    if (want.command !== commandText(cmd)) {
      reference(`${at}: the entry there is ${want.command}`);
    }
    const got = normalizeAnswer(r);
    if (got !== want.answer) {
      reference(`${at}: answered ${got}, the model ${want.answer}`);
    }
    this.counts.checked++;
  }

  #check(node: number, store: KvStore, b: ChangeBatch, last: number): number {
    const at = `node ${node} at ${b.index}`;
    if (b.index <= last) fail(`${at}: a change batch after one at ${last}`);
    const t = b.events.filter((e) => e.key === "t0" || e.key === "t1");
    if (t.length === 0) return b.index;
    const text = t.map((e) =>
      e.type === "put" ? `${e.key}=${decoder.decode(e.value)}` : e.key
    );
    if (
      t.length !== 2 || t[0]!.type !== "put" || t[1]!.type !== "put" ||
      text[0]!.slice(3) !== text[1]!.slice(3)
    ) fail(`${at}: one transaction changed ${text.join(", ")}`);
    const a = store.get("t0"), c = store.get("t1");
    if (
      a?.modIndex !== c?.modIndex ||
      decoder.decode(a?.value) !== decoder.decode(c?.value)
    ) {
      fail(`${at}: t0 and t1 differ after a transaction`);
    }
    return b.index;
  }

  /** One tick of the clock: maybe a transaction. */
  tick(): void {
    if (!this.#rng.chance(this.#rate)) return;
    const to = this.#host.randomPort();
    if (!to) return;
    if (this.#rng.chance(0.6)) return this.#random(to);
    const v = encoder.encode(`x${++this.#values}`);
    const seen = to.store.get("t0")?.modIndex ?? 0;
    this.counts.sent++;
    this.#host.request(
      "txn",
      () =>
        to.port.write({
          op: "txn",
          compare: [{ key: "t0", target: "modIndex", op: "==", value: seen }],
          success: [
            { op: "put", key: "t0", value: v },
            { op: "put", key: "t1", value: v },
          ],
          failure: [{ op: "get", key: "t0" }],
        }, this.#host.deadline("txn")),
      (r) => {
        if (r.status !== "ok" || !r.txn) return;
        if (r.txn.succeeded) this.counts.succeeded++;
        else this.counts.failed++;
      },
    );
  }

  /** A random transaction through `to`, checked against the model. */
  #random(to: { port: KvNode; store: KvStore }): void {
    const rng = this.#rng;
    const compare: TxnCompare[] = [];
    for (let i = rng.intn(4); i > 0; i--) compare.push(this.#compare(to.store));
    const ops = (n: number) => {
      const out: TxnOperation[] = [];
      for (let i = rng.intn(n); i > 0; i--) out.push(this.#operation());
      return out;
    };
    const cmd: TxnCommand = {
      op: "txn",
      compare,
      success: ops(5),
      failure: ops(4),
    };
    this.counts.sent++;
    this.#host.request(
      "random txn",
      () => to.port.write(cmd, this.#host.deadline("random txn")),
      (r) => {
        this.#checkAnswer(cmd, r);
        if (r.status !== "ok" || !r.txn) return;
        if (r.txn.succeeded) this.counts.succeeded++;
        else this.counts.failed++;
      },
    );
  }

  #compare(store: KvStore): TxnCompare {
    const rng = this.#rng;
    const key = rng.pick(KEYS);
    const target = rng.pick(TARGETS);
    const op = rng.pick(OPERATORS);
    if (target === "value") {
      return { key, target, op, value: encoder.encode(rng.pick(VALUES)) };
    }
    // What this node shows (stale or not), or near it, or a live lease.
    const shown = store.revision(key)[target];
    const value = target === "lease" && rng.chance(0.3)
      ? rng.pick([0, ...this.#host.liveLeases()])
      : Math.max(0, shown + rng.pick([-1, 0, 0, 1]));
    return { key, target, op, value };
  }

  #operation(): TxnOperation {
    const rng = this.#rng;
    const key = rng.pick(KEYS.slice(0, -1));
    switch (rng.intn(5)) {
      case 0:
      case 1: {
        const value = encoder.encode(rng.pick(VALUES));
        const draw = rng.intn(10);
        const leases = this.#host.liveLeases();
        if (draw < 3 && leases.length > 0) {
          return { op: "put", key, value, lease: rng.pick(leases) };
        }
        if (draw === 3) return { op: "put", key, value, lease: GONE_LEASE };
        return { op: "put", key, value };
      }
      case 2:
        return rng.chance(0.7)
          ? { op: "delete", key: rng.pick(KEYS) }
          : { op: "delete", prefix: rng.pick(PREFIXES) };
      default:
        return rng.chance(0.5) ? { op: "get", key: rng.pick(KEYS) } : {
          op: "get",
          prefix: rng.chance(0.2) ? "" : rng.pick(PREFIXES),
          limit: 1 + rng.intn(4),
        };
    }
  }
}

function reference(detail: string): never {
  throw new InvariantViolation("txn reference", detail);
}

function fail(detail: string): never {
  throw new InvariantViolation("txn atomic", detail);
}
