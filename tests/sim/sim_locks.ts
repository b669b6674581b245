/**
 * Simulated lock contenders (issue 16): a lease client with a live lease
 * now and then asks for lock `L` through a random node, with the code the
 * HTTP route runs ({@linkcode acquireLock} of http/api/lock_service.ts,
 * over the node's {@linkcode KvNode} and a {@linkcode LockWaits} of that
 * node), with a `wait` of 0 (try once) up to 3 s that runs out on
 * simulated time, or releases it ({@linkcode releaseLock}), one request
 * of a lease at a time; its lease's revoke deletes its key too.
 *
 * Checked on every node after each change batch that touches the lock
 * (`lock order`), with the queue as kv/lock_queue.ts reads it (keys by
 * `createIndex`, the first holds): when the holder changes, the former
 * holder's key is gone (two holders never overlap in the log's order) and
 * the new holder's fence (its `createIndex`) is greater than every fence
 * held before on that node. Checked at every granted request (`lock
 * fence`): its fence is greater than every fence granted before the
 * request was sent, no two leases are granted the same fence, and no key
 * of the lock created before the holder's exists in the newest committed
 * state (the reference model of sim_model.ts), so two leases never hold at
 * once. At the
 * end of the run (`lock leftover`), in the newest committed state (the model)
 * and on every live member that has applied it: every key of the lock
 * belongs to a lease that still exists (a lease that died leaves no
 * key), and a lease whose last answer was a give-up (`409 lock_held`) or a
 * release, with no request of it in flight or of unknown outcome, has no
 * key.
 *
 * @module
 */

import {
  type KvStore,
  LeaseNotFoundError,
  lockKey,
  lockPrefix,
  lockQueue,
  LockWaits,
} from "../../kv/mod.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import {
  acquireLock,
  LockHeldError,
  releaseLock,
} from "../../http/api/lock_service.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";
import type { StoreModel } from "./sim_model.ts";

const NAME = "L";

/** What the lock contenders need of the cluster. */
export interface LockHost {
  /** The adapter of a node up now, picked at random, if any. */
  randomPort(): { port: KvNode; store: KvStore } | undefined;
  /** The leases clients keep alive now. */
  liveLeases(): number[];
  /** Aborts after `ms` of simulated time (the client deadline by default). */
  deadline(what: string, ms?: number): AbortSignal;
  request<T>(
    what: string,
    op: () => Promise<T>,
    ok?: (v: T) => void,
    refused?: (e: unknown) => void,
  ): void;
  /** Fails the run with `e` (found inside a store's apply). */
  fail(e: unknown): void;
  /** The keys under `prefix` in the newest committed state (sim_model.ts). */
  committed(prefix: string): { key: string; createIndex: number }[];
}

/** What a lease's lock requests came to. */
interface LeaseLocks {
  /** Requests of it not answered yet. */
  inFlight: number;
  /** The last answer: whether the lease should have a key now. */
  last: "held" | "left" | "none";
  /** A request of it failed without saying whether its key exists. */
  unknown: boolean;
}

/** Counts for the summary. */
export interface LockCounts {
  /** Holders seen (first node to see each fence). */
  holders: number;
  /** Requests granted (200), given up when `wait` ran out (409). */
  granted: number;
  gaveUp: number;
  /** Releases answered. */
  released: number;
}

/** Zero counts. */
export function zeroLockCounts(): LockCounts {
  return { holders: 0, granted: 0, gaveUp: 0, released: 0 };
}

/** The lock contenders of one run and their checks: see the module doc. */
export class SimLocks {
  readonly counts = zeroLockCounts();
  readonly #host: LockHost;
  readonly #rng: SimRng;
  readonly #seen = new Set<number>();
  /** Each node incarnation's adapter's lock waiters, as the route keeps them. */
  readonly #waits = new WeakMap<KvNode, LockWaits>();
  readonly #leases = new Map<number, LeaseLocks>();
  /** The greatest fence granted so far, and which lease each fence went to. */
  #maxGranted = 0;
  readonly #fences = new Map<number, number>();

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
          this.counts.holders++;
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

  /** One tick of the clock: maybe a lease asks for the lock or leaves it. */
  tick(): void {
    if (!this.#rng.chance(0.05)) return;
    const leases = this.#host.liveLeases();
    const to = this.#host.randomPort();
    if (leases.length === 0 || !to) return;
    const lease = this.#rng.pick(leases);
    let state = this.#leases.get(lease);
    if (state === undefined) {
      state = { inFlight: 0, last: "none", unknown: false };
      this.#leases.set(lease, state);
    }
    const s = state;
    // One request at a time per lease, as a client (the CLI) sends them:
    // each request starts from what the previous answer left.
    if (s.inFlight > 0) return;
    const key = lockKey(NAME, lease);
    s.inFlight++;
    const unknown = (e: unknown) => {
      s.inFlight--;
      // Gone is gone (its revoke deleted every key of it); anything else
      // says nothing of the key.
      if (!(e instanceof LeaseNotFoundError)) s.unknown = true;
    };
    if (this.#rng.chance(0.5)) {
      const waitMs = this.#rng.pick([0, 0, 200, 1000, 3000]);
      const timeUp = waitMs === 0
        ? AbortSignal.abort()
        : this.#host.deadline(`lock wait ${key}`, waitMs);
      const before = this.#maxGranted;
      this.#host.request(
        `lock ${key}`,
        () =>
          acquireLock(to.port, {
            name: NAME,
            lease,
            timeUp,
            waits: this.#waitsOf(to.port),
            deadline: (op) => op(this.#host.deadline(`lock ${key}`)),
          }).catch((e) => {
            if (e instanceof LockHeldError) return undefined;
            throw e;
          }),
        (grant) => {
          s.inFlight--;
          if (grant === undefined) {
            s.last = "left";
            this.counts.gaveUp++;
            return;
          }
          s.last = "held";
          this.counts.granted++;
          this.#granted(lease, grant.fence, before);
          // Held since its barrier: no key queued before it may exist in
          // the newest committed state (none can come back with an older
          // createIndex), or two leases hold at once.
          const older = this.#host.committed(lockPrefix(NAME)).find((k) =>
            k.createIndex < grant.fence
          );
          if (older !== undefined) {
            fenceFail(
              `lease ${lease} granted fence ${grant.fence} while ${older.key} (created at ${older.createIndex}) still exists`,
            );
          }
        },
        unknown,
      );
    } else {
      this.#host.request(
        `unlock ${key}`,
        () =>
          releaseLock(
            to.port,
            NAME,
            lease,
            this.#host.deadline(`unlock ${key}`),
          ),
        () => {
          s.inFlight--;
          s.last = "left";
          this.counts.released++;
        },
        unknown,
      );
    }
  }

  /** `lease` was granted `fence`; `before` was the greatest fence granted when it asked. */
  #granted(lease: number, fence: number, before: number): void {
    const owner = this.#fences.get(fence);
    if (owner !== undefined && owner !== lease) {
      fenceFail(
        `fence ${fence} granted to lease ${lease} and to lease ${owner}`,
      );
    }
    this.#fences.set(fence, lease);
    if (fence <= before && owner !== lease) {
      fenceFail(
        `lease ${lease} granted fence ${fence}, asked after fence ${before} was granted`,
      );
    }
    this.#maxGranted = Math.max(this.#maxGranted, fence);
  }

  #waitsOf(port: KvNode): LockWaits {
    let w = this.#waits.get(port);
    if (w === undefined) {
      w = new LockWaits();
      port.watches.listen(w);
      this.#waits.set(port, w);
    }
    return w;
  }

  /**
   * The end of the run (`lock leftover`): in the newest committed state (the
   * model) and on every live member that has applied it, every lock key's
   * lease exists, and a lease that left the lock (and has nothing in flight
   * or unknown) has no key. A member still behind (entries proposed during
   * the liveness phase) is not judged by an older state.
   */
  finish(
    members: { id: number; store: KvStore }[],
    model: StoreModel,
  ): void {
    const prefix = lockPrefix(NAME);
    const states: {
      name: string;
      keys: { key: string; createIndex: number }[];
      hasLease: (id: number) => boolean;
    }[] = [{
      name: "the committed state",
      keys: model.list(prefix),
      hasLease: (id) => model.hasLease(id),
    }];
    for (const { id, store } of members) {
      if (store.appliedIndex < model.applied) continue;
      states.push({
        name: `node ${id}`,
        keys: store.list(prefix, 100_000).items,
        hasLease: (l) => store.leases.has(l),
      });
    }
    for (const { name, keys, hasLease } of states) {
      for (const item of keys) {
        const lease = Number(item.key.slice(prefix.length));
        const at = `${name}: ${item.key} (created at ${item.createIndex})`;
        if (!hasLease(lease)) leftover(`${at} outlives its lease`);
        const s = this.#leases.get(lease);
        if (s && s.inFlight === 0 && !s.unknown && s.last === "left") {
          leftover(`${at} left behind after its lease left`);
        }
      }
    }
  }
}

function fenceFail(detail: string): never {
  throw new InvariantViolation("lock fence", detail);
}

function leftover(detail: string): never {
  throw new InvariantViolation("lock leftover", detail);
}

function fail(detail: string): never {
  throw new InvariantViolation("lock order", detail);
}
