/**
 * Wake-ups for lock waiters (COORDINATION.md "Locks"): a waiter parks on
 * its lock's name and is woken by the next applied entry that deletes a
 * key of that lock (`_locks/{name}/…`: a release, a revoke, an expiry, a
 * waiter giving up), or by a snapshot replacing the state. Only a delete
 * can move a waiter up its queue (a new key queues behind every existing
 * one), so puts wake nobody. A change costs one look per changed key and
 * touches only the waiters of the locks it changed, never every waiter.
 * A woken waiter looks at the queue again itself; being woken promises
 * nothing about its turn.
 *
 * @module
 */

import { LOCK_KEY_PREFIX } from "./lock_queue.ts";
import type { ChangeListener } from "./store.ts";
import type { ChangeBatch } from "./watch_event.ts";

/** Parked lock waiters by lock name: see the module doc. */
export class LockWaits implements ChangeListener {
  /** Lock name → the wake-ups of the waiters parked on it. */
  readonly #parked = new Map<string, Set<() => void>>();

  /** How many waiters are parked now. */
  get size(): number {
    let n = 0;
    for (const wakes of this.#parked.values()) n += wakes.size;
    return n;
  }

  /**
   * Resolves at the next applied delete of a key of lock `name` (or a
   * snapshot restore), or when `signal` aborts, whichever comes first.
   * Parks synchronously: a change applied after this call returns wakes it.
   */
  next(name: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let wakes = this.#parked.get(name);
      if (wakes === undefined) {
        wakes = new Set();
        this.#parked.set(name, wakes);
      }
      const parked = wakes;
      const wake = () => {
        signal.removeEventListener("abort", wake);
        parked.delete(wake);
        if (parked.size === 0 && this.#parked.get(name) === parked) {
          this.#parked.delete(name);
        }
        resolve();
      };
      parked.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  /** {@linkcode ChangeListener}: wakes the waiters of every lock a delete touched. */
  changed(batch: ChangeBatch): void {
    if (this.#parked.size === 0) return;
    for (const e of batch.events) {
      if (e.type !== "delete" || !e.key.startsWith(LOCK_KEY_PREFIX)) continue;
      const end = e.key.indexOf("/", LOCK_KEY_PREFIX.length);
      if (end < 0) continue;
      this.#wake(e.key.slice(LOCK_KEY_PREFIX.length, end));
    }
  }

  /** {@linkcode ChangeListener}: a snapshot replaced the state: wakes everyone. */
  restored(_appliedIndex: number): void {
    for (const name of [...this.#parked.keys()]) this.#wake(name);
  }

  #wake(name: string): void {
    const wakes = this.#parked.get(name);
    if (wakes === undefined) return;
    this.#parked.delete(name);
    for (const wake of [...wakes]) wake();
  }
}
