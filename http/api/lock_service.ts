/**
 * The lock operations (docs/API.md "Locks") over a node, below the HTTP
 * route so that the route and the simulator (tests/sim/sim_locks.ts) run
 * the same code:
 *
 * - {@linkcode acquireLock}: one transaction creates the lease's key
 *   `_locks/{name}/{lease}` if it is absent (attached to the lease;
 *   `lease_not_found` when the lease is gone). Then, until `timeUp` aborts
 *   (the request's `wait`): once this node's state shows the key first in
 *   the queue (a waiter sleeps until an applied entry deletes a key of the
 *   lock: {@linkcode LockWaits}; no polling), a ReadIndex barrier confirms
 *   it, and the answer is the key and its fence (its createIndex). When
 *   `timeUp` aborts first, a key this request created is deleted (only that
 *   version of it: `ifMatch`) and the answer is {@linkcode LockHeldError}.
 * - {@linkcode releaseLock}: deletes the key.
 *
 * @module
 */

import {
  type ApplyResult,
  type Command,
  InvalidCommandError,
  type KvItem,
  type KvReader,
  LeaseNotFoundError,
  lockKey,
  lockQueue,
  type LockWaits,
} from "../../kv/mod.ts";
import { BadRequestError, HttpError } from "../errors.ts";

/** The lock is held by another lease and was not free within `wait` (409). */
export class LockHeldError extends HttpError {
  constructor(name: string) {
    super("lock_held", `lock ${name} is held by another lease`);
  }
}

/** What the lock operations need of a node (a {@linkcode NodePort} has it). */
export interface LockNode {
  readonly store: KvReader;
  write(cmd: Command, signal: AbortSignal): Promise<ApplyResult>;
  readBarrier(signal: AbortSignal): Promise<void>;
}

/**
 * Runs one step that waits on the node under a fresh deadline (the route:
 * the request timeout; the simulator: a client deadline on simulated time).
 */
export type WithDeadline = <T>(
  op: (signal: AbortSignal) => Promise<T>,
) => Promise<T>;

/** The answer of a granted lock request. */
export interface LockGrant {
  name: string;
  key: string;
  /** The holder key's createIndex. */
  fence: number;
}

/** One lock request. */
export interface LockRequest {
  name: string;
  lease: number;
  /** Aborts when the request's `wait` runs out (already aborted: try once). */
  timeUp: AbortSignal;
  /** Wakes the waiter when an applied entry deletes a key of the lock. */
  waits: LockWaits;
  deadline: WithDeadline;
  /** Told when the request starts (+1) and stops (-1) waiting for its turn. */
  waiting?: (delta: 1 | -1) => void;
}

/**
 * Takes lock `name` for `lease` (see the module doc).
 *
 * @throws {LeaseNotFoundError} when the lease is gone (also when it is
 * revoked while it waits).
 * @throws {LockHeldError} when `timeUp` aborted first: a key this request
 * created was deleted.
 */
export async function acquireLock(
  node: LockNode,
  req: LockRequest,
): Promise<LockGrant> {
  const { name, lease, timeUp, waits, deadline } = req;
  const key = lockKey(name, lease);
  const created = await createPlace(node, deadline, key, lease);
  req.waiting?.(1);
  try {
    for (;;) {
      // Sleep until this node's state shows the key first (an applied
      // delete in the lock wakes the waiter) or the time runs out, then
      // confirm with a linearizable read. The check and the parking
      // happen with no await in between: no wake-up is missed. A key
      // deleted under it (its lease revoked) ends the wait at once.
      while (
        !isFirst(node.store, name, key) && !timeUp.aborted &&
        node.store.get(key) !== undefined
      ) {
        await waits.next(name, timeUp);
      }
      await deadline((s) => node.readBarrier(s));
      const mine = node.store.get(key);
      if (mine === undefined) {
        // Revoked (or released) while it waited.
        if (!node.store.leases.has(lease)) throw new LeaseNotFoundError(lease);
        throw new LockHeldError(name);
      }
      if (isFirst(node.store, name, key)) {
        return { name, key, fence: mine.createIndex };
      }
      if (timeUp.aborted) {
        if (created !== undefined) {
          await deadline((s) =>
            node.write({ op: "delete", key, ifMatch: created }, s)
          );
        }
        throw new LockHeldError(name);
      }
    }
  } finally {
    req.waiting?.(-1);
  }
}

/**
 * Releases lock `name` held by `lease` (or leaves its place in the queue):
 * deletes its key. Returns the index of the delete.
 */
export async function releaseLock(
  node: LockNode,
  name: string,
  lease: number,
  signal: AbortSignal,
): Promise<number> {
  const result = await node.write(
    { op: "delete", key: lockKey(name, lease) },
    signal,
  );
  if (result.status !== "ok") {
    throw new InvalidCommandError("the release was not applied");
  }
  return result.index;
}

/**
 * Creates `key` attached to `lease` unless it exists, in one transaction.
 * Returns the modIndex of the key it created, or undefined when the key
 * existed (this lease asked before: same place, same fence).
 */
async function createPlace(
  node: LockNode,
  deadline: WithDeadline,
  key: string,
  lease: number,
): Promise<number | undefined> {
  const result = await deadline((s) =>
    node.write({
      op: "txn",
      compare: [{ key, target: "createIndex", op: "==", value: 0 }],
      success: [{ op: "put", key, value: new Uint8Array(0), lease }],
      failure: [{ op: "get", key }],
    }, s)
  );
  if (result.status === "lease_not_found") {
    throw new LeaseNotFoundError(lease);
  }
  if (result.status !== "ok" || result.txn === undefined) {
    throw new InvalidCommandError("the lock request was not applied");
  }
  if (result.txn.succeeded) return result.index;
  const got = result.txn.results[0];
  const item: KvItem | undefined = got?.op === "get" ? got.items[0] : undefined;
  if (item !== undefined && item.lease !== lease) {
    throw new BadRequestError(
      "invalid_body",
      `${key} exists and is not attached to lease ${lease}`,
    );
  }
  return undefined;
}

/** Whether `key` is first in lock `name`'s queue in `store`. */
function isFirst(store: KvReader, name: string, key: string): boolean {
  return lockQueue(store, name)[0]?.key === key;
}
