/**
 * Simulated lock contenders (issue 16): a lease client with a live lease
 * now and then queues for lock `L` as the lock route does (a transaction
 * that creates `_locks/L/{lease}`, attached to the lease, if absent) and
 * later releases it (deletes its key); its lease's revoke deletes it too.
 *
 * Checked on every node after each change batch that touches the lock
 * (`lock order`), with the queue as kv/lock_queue.ts reads it (keys by
 * `createIndex`, the first holds): when the holder changes, the former
 * holder's key is gone (two holders never overlap in the log's order) and
 * the new holder's fence (its `createIndex`) is greater than every fence
 * held before on that node.
 *
 * @module
 */

import { type KvStore, lockKey, lockQueue } from "../../kv/mod.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";

const NAME = "L";

/** What the lock contenders need of the cluster. */
export interface LockHost {
  /** The adapter of a node up now, picked at random, if any. */
  randomPort(): { port: KvNode; store: KvStore } | undefined;
  /** The leases clients keep alive now. */
  liveLeases(): number[];
  deadline(what: string): AbortSignal;
  request<T>(what: string, op: () => Promise<T>): void;
  /** Fails the run with `e` (found inside a store's apply). */
  fail(e: unknown): void;
}

/** The lock contenders of one run and their checks: see the module doc. */
export class SimLocks {
  /** Holders seen (first node to see each fence). */
  holders = 0;
  readonly #host: LockHost;
  readonly #rng: SimRng;
  readonly #seen = new Set<number>();

  constructor(host: LockHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
  }

  /** A node's new store: the checks of its change batches. */
  attach(node: number, store: KvStore): void {
    let holder: { key: string; fence: number } | undefined;
    let maxFence = 0;
    const check = () => {
      const head = lockQueue(store, NAME)[0];
      if (head?.key === holder?.key && head?.createIndex === holder?.fence) {
        return;
      }
      if (holder !== undefined && store.get(holder.key) !== undefined) {
        fail(`node ${node}: ${head?.key} holds while ${holder.key} still does`);
      }
      if (head !== undefined) {
        if (head.createIndex <= maxFence) {
          fail(
            `node ${node}: fence ${head.createIndex} after fence ${maxFence}`,
          );
        }
        maxFence = head.createIndex;
        if (!this.#seen.has(maxFence)) {
          this.#seen.add(maxFence);
          this.holders++;
        }
      }
      holder = head && { key: head.key, fence: head.createIndex };
    };
    store.listen({
      changed: (b) => {
        if (!b.events.some((e) => e.key.startsWith(`_locks/${NAME}/`))) {
          return;
        }
        try {
          check();
        } catch (e) {
          this.#host.fail(e);
        }
      },
      // A restored image starts the node's view afresh (its fences are
      // checked against what it held before).
      restored: () => {
        const head = lockQueue(store, NAME)[0];
        holder = head && { key: head.key, fence: head.createIndex };
        if (head) maxFence = Math.max(maxFence, head.createIndex);
      },
    });
  }

  /** One tick of the clock: maybe a lease queues for the lock or leaves it. */
  tick(): void {
    if (!this.#rng.chance(0.05)) return;
    const leases = this.#host.liveLeases();
    const to = this.#host.randomPort();
    if (leases.length === 0 || !to) return;
    const lease = this.#rng.pick(leases);
    const key = lockKey(NAME, lease);
    const signal = this.#host.deadline(`lock ${key}`);
    if (this.#rng.chance(0.5)) {
      this.#host.request(`lock ${key}`, () =>
        to.port.write({
          op: "txn",
          compare: [{ key, target: "createIndex", op: "==", value: 0 }],
          success: [{ op: "put", key, value: new Uint8Array(0), lease }],
          failure: [{ op: "get", key }],
        }, signal));
    } else {
      this.#host.request(
        `unlock ${key}`,
        // A transaction rather than the route's plain delete: the
        // simulator names a plain delete by its key, and would see a
        // second release of the same key as a write applied twice.
        () =>
          to.port.write({
            op: "txn",
            compare: [],
            success: [{ op: "delete", key }],
            failure: [],
          }, signal),
      );
    }
  }
}

function fail(detail: string): never {
  throw new InvariantViolation("lock order", detail);
}
