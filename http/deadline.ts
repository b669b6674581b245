/**
 * Request deadlines. Each request that waits on the node gets an
 * `AbortSignal` that aborts with a {@linkcode RequestTimeoutError} when the
 * deadline passes; the wait then ends with 504 even if the node never
 * answers, and the timer is cleared as soon as the node does.
 *
 * @module
 */

import { RequestTimeoutError } from "./errors.ts";

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
    const timer = setTimeout(() => {
      const reason = new RequestTimeoutError(deadlineMs);
      controller.abort(reason);
      // Let a rejection the abort caused settle first: it knows more.
      fallback = setTimeout(() => reject(reason), 0);
    }, deadlineMs);
    let waiting: Promise<T>;
    try {
      waiting = wait(controller.signal);
    } catch (err) {
      clearTimeout(timer);
      reject(err);
      return;
    }
    waiting.then(
      (value) => {
        clearTimeout(timer);
        clearTimeout(fallback);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        clearTimeout(fallback);
        reject(err);
      },
    );
  });
}
