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
 * @module
 */

import type { ChangeBatch, KvStore } from "../../kv/mod.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";

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
}

/** Counts for the summary. */
export interface TxnCounts {
  sent: number;
  succeeded: number;
  failed: number;
}

/** Zero counts. */
export function zeroTxnCounts(): TxnCounts {
  return { sent: 0, succeeded: 0, failed: 0 };
}

/** The transaction clients of one run and their checks: see the module doc. */
export class SimTxns {
  readonly counts = zeroTxnCounts();
  readonly #host: TxnHost;
  readonly #rng: SimRng;
  readonly #rate: number;
  #values = 0;

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
        try {
          last = this.#check(node, store, b, last);
        } catch (e) {
          this.#host.fail(e);
        }
      },
      restored: (index) => last = index,
    });
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
}

function fail(detail: string): never {
  throw new InvariantViolation("txn atomic", detail);
}
