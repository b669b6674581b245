/**
 * Request deadlines. Each request that waits on the node gets an
 * `AbortSignal` that aborts with a {@linkcode RequestTimeoutError} when the
 * deadline passes; the wait then ends with 504 even if the node never
 * answers, and the deadline is dropped as soon as the node does.
 *
 * Deadlines of one length expire in the order they were set, so one timer
 * per length serves them all ({@linkcode DeadlineQueue}): a request costs a
 * queue slot, not a timer of its own to create and clear.
 *
 * @module
 */

import { RequestTimeoutError } from "./errors.ts";

interface Slot {
  at: number;
  fire: (() => void) | undefined;
}

/**
 * Deadlines that all have the same length, hence expire in insertion
 * order: one timer armed for the oldest one. Cancelled slots stay queued
 * until the timer passes them; when none is live, the timer is cleared (an
 * idle process, or a test, keeps no timer).
 */
class DeadlineQueue {
  #slots: Slot[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #live = 0;

  constructor(readonly ms: number) {}

  /** Calls `fire` after `ms` unless the returned slot is cancelled first. */
  add(fire: () => void): Slot {
    const slot: Slot = { at: Date.now() + this.ms, fire };
    this.#slots.push(slot);
    this.#live++;
    if (this.#timer === undefined) this.#arm(slot.at);
    return slot;
  }

  /** Drops `slot`'s deadline (no effect once it fired). */
  cancel(slot: Slot): void {
    if (slot.fire === undefined) return;
    slot.fire = undefined;
    if (--this.#live > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#slots = [];
    this.#head = 0;
  }

  #arm(at: number): void {
    this.#timer = setTimeout(
      () => this.#expire(),
      Math.max(0, at - Date.now()),
    );
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    const slots = this.#slots;
    while (this.#head < slots.length) {
      const slot = slots[this.#head]!;
      if (slot.fire !== undefined && slot.at > now) break;
      this.#head++;
      const fire = slot.fire;
      if (fire === undefined) continue;
      slot.fire = undefined;
      this.#live--;
      fire();
    }
    if (this.#head === slots.length) {
      this.#slots = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024 && this.#head * 2 > slots.length) {
      this.#slots = slots.slice(this.#head);
      this.#head = 0;
    }
    this.#arm(this.#slots[this.#head]!.at);
  }
}

const queues = new Map<number, DeadlineQueue>();

function queueFor(ms: number): DeadlineQueue {
  let q = queues.get(ms);
  if (q === undefined) {
    q = new DeadlineQueue(ms);
    queues.set(ms, q);
  }
  return q;
}

/**
 * Runs `wait(signal)` with a deadline of `deadlineMs`. On the deadline the
 * signal aborts; the node may then reject with its own, more precise error
 * within the same turn of the event loop, and otherwise the returned promise
 * rejects with the {@linkcode RequestTimeoutError}.
 */
export function withDeadline<T>(
  deadlineMs: number,
  wait: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const deadlines = queueFor(deadlineMs);
    const slot = deadlines.add(() => {
      const reason = new RequestTimeoutError(deadlineMs);
      controller.abort(reason);
      // Let a rejection the abort caused settle first: it knows more.
      fallback = setTimeout(() => reject(reason), 0);
    });
    let waiting: Promise<T>;
    try {
      waiting = wait(controller.signal);
    } catch (err) {
      deadlines.cancel(slot);
      reject(err);
      return;
    }
    waiting.then(
      (value) => {
        deadlines.cancel(slot);
        clearTimeout(fallback);
        resolve(value);
      },
      (err) => {
        deadlines.cancel(slot);
        clearTimeout(fallback);
        reject(err);
      },
    );
  });
}
