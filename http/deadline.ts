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

/** One pending deadline: cancel it with {@linkcode cancelDeadline}. */
export interface DeadlineSlot {
  /** When it fires, in `Date.now()` milliseconds. */
  readonly at: number;
  /** What runs when it fires; undefined once fired or cancelled. */
  fire: (() => void) | undefined;
  /** The queue it waits in. */
  readonly queue: DeadlineQueue;
}

type Slot = DeadlineSlot;

/**
 * Deadlines that all have the same length, hence expire in insertion
 * order: one timer armed for the oldest one. Cancelled slots stay queued
 * until the timer passes them. When none is live the timer stays armed but
 * unreferenced (it keeps no process or test alive, and ends without
 * re-arming), so a request that comes and goes within a turn, the common
 * case, neither creates nor clears a timer.
 */
class DeadlineQueue {
  #slots: Slot[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #live = 0;

  constructor(readonly ms: number) {}

  /** Calls `fire` after `ms` unless the returned slot is cancelled first. */
  add(fire: () => void): Slot {
    const slot: Slot = { at: Date.now() + this.ms, fire, queue: this };
    this.#slots.push(slot);
    if (this.#timer === undefined) this.#arm(slot.at);
    else if (this.#live === 0) this.#timer.ref();
    this.#live++;
    return slot;
  }

  /** Drops `slot`'s deadline (no effect once it fired). */
  cancel(slot: Slot): void {
    if (slot.fire === undefined) return;
    slot.fire = undefined;
    if (--this.#live > 0) return;
    // Every slot is dead: forget them; the timer, armed for one of them,
    // fires no later than any new slot's deadline and re-arms for it.
    this.#timer?.unref();
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
    // Re-read `this.#slots` each time: a `fire` may add or cancel.
    while (this.#head < this.#slots.length) {
      const slot = this.#slots[this.#head]!;
      if (slot.fire !== undefined && slot.at > now) break;
      this.#head++;
      const fire = slot.fire;
      if (fire === undefined) continue;
      slot.fire = undefined;
      this.#live--;
      fire();
    }
    const slots = this.#slots;
    if (this.#head >= slots.length || this.#live === 0) {
      this.#slots = [];
      this.#head = 0;
      return;
    }
    if (this.#head > 1024 && this.#head * 2 > slots.length) {
      this.#slots = slots.slice(this.#head);
      this.#head = 0;
    }
    if (this.#timer === undefined) this.#arm(this.#slots[this.#head]!.at);
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
 * Calls `fire` after `ms` unless {@linkcode cancelDeadline} drops the
 * returned slot first. Costs a queue slot, not a timer: every deadline of
 * the same length shares one timer.
 */
export function addDeadline(ms: number, fire: () => void): DeadlineSlot {
  return queueFor(ms).add(fire);
}

/** Drops a deadline of {@linkcode addDeadline} (no effect once it fired). */
export function cancelDeadline(slot: DeadlineSlot): void {
  slot.queue.cancel(slot);
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
