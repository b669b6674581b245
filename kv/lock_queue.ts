/**
 * Locks as ordinary keys (COORDINATION.md "Locks"): each lease that wants
 * lock `name` has one key, `_locks/{name}/{lease}`, attached to that lease;
 * the waiters queue in the order their keys were created (`createIndex`),
 * and the lock belongs to the key created first among those that exist.
 * Its `createIndex` is the fence: every later holder's key was created
 * later, so fences strictly increase. Nothing here is state of its own:
 * the queue is read from the keys.
 *
 * @module
 */

import { keyProblem } from "./key.ts";
import type { KvReader } from "./store.ts";

/** The prefix of every lock key. */
export const LOCK_KEY_PREFIX = "_locks/";

/** The prefix of lock `name`'s keys. */
export function lockPrefix(name: string): string {
  return `${LOCK_KEY_PREFIX}${name}/`;
}

/** The key of `lease`'s place in lock `name`'s queue. */
export function lockKey(name: string, lease: number): string {
  return `${lockPrefix(name)}${lease}`;
}

/**
 * Why `name` cannot name a lock, or undefined when it can: not empty, no
 * `/`, and its lock keys must be valid keys.
 */
export function lockNameProblem(name: string): string | undefined {
  if (name.length === 0) return "the lock name is empty";
  if (name.includes("/")) return "a lock name has no '/'";
  return keyProblem(lockKey(name, Number.MAX_SAFE_INTEGER));
}

/** A place in a lock's queue. */
export interface LockPlace {
  key: string;
  /** The key's createIndex: its place in the queue, and the holder's fence. */
  createIndex: number;
}

/**
 * The queue of lock `name` in `store`, first (the holder) first: every key
 * under its prefix by `createIndex`. Reads every key of the lock.
 */
export function lockQueue(store: KvReader, name: string): LockPlace[] {
  const prefix = lockPrefix(name);
  const places: LockPlace[] = [];
  let after: string | undefined;
  for (;;) {
    const page = store.list(prefix, 1000, after === undefined ? {} : { after });
    for (const item of page.items) {
      places.push({ key: item.key, createIndex: item.createIndex });
    }
    if (!page.more || page.items.length === 0) break;
    after = page.items.at(-1)!.key;
  }
  return places.sort((a, b) => a.createIndex - b.createIndex);
}
