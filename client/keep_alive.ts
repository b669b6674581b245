/**
 * Keeping a lease alive: a keepalive every `ttl / 3` until stopped, so two
 * keepalives may fail in a row without the lease expiring. The lease is
 * reported lost when a keepalive finds it gone (`404 lease_not_found`), or
 * when no keepalive has succeeded for a whole TTL (it may have expired;
 * the caller must assume it did).
 *
 * @module
 */

import { LeaseLostError, LeaseNotFoundError } from "./errors.ts";
import type { LeaseGrant } from "./types.ts";

/** What the helper needs: one keepalive request. */
export type KeepAliveOnce = (
  id: number,
  signal: AbortSignal,
) => Promise<LeaseGrant>;

/** Options of `keepAlive`. */
export interface KeepAliveOptions {
  /**
   * The lease's TTL in seconds when known (e.g. from the grant), else the
   * first keepalive (sent at once) tells it.
   */
  ttl?: number;
  /** Called once when the lease is lost. */
  onLost?: (error: LeaseLostError) => void;
  /** Stops keeping the lease alive (as `stop()`). */
  signal?: AbortSignal;
}

/** A lease being kept alive. */
export interface KeepAlive {
  /** The lease id. */
  readonly id: number;
  /**
   * Aborted when the lease is lost (its reason is the
   * {@linkcode LeaseLostError}); pass it to work that must stop then.
   */
  readonly lost: AbortSignal;
  /**
   * Resolves when the helper stops: undefined after `stop()`, the
   * {@linkcode LeaseLostError} when the lease was lost.
   */
  readonly done: Promise<LeaseLostError | undefined>;
  /** Stops sending keepalives (the lease then expires after its TTL unless revoked). */
  stop(): Promise<void>;
}

/** Starts keeping lease `id` alive with `once`; see the module doc. */
export function startKeepAlive(
  id: number,
  once: KeepAliveOnce,
  options: KeepAliveOptions = {},
): KeepAlive {
  const stopper = new AbortController();
  const lost = new AbortController();
  const stopSignal = options.signal
    ? AbortSignal.any([options.signal, stopper.signal])
    : stopper.signal;
  let ttlMs = (options.ttl ?? 0) * 1000;
  /** When the last keepalive (or the start) was answered. */
  let lastOk = Date.now();
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopSignal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        stopSignal.removeEventListener("abort", done);
        resolve();
      }
      stopSignal.addEventListener("abort", done, { once: true });
    });

  const run = async (): Promise<LeaseLostError | undefined> => {
    // Without a known TTL, the first keepalive goes out at once.
    let delay = ttlMs > 0 ? ttlMs / 3 : 0;
    let lastError: unknown;
    for (;;) {
      await wait(delay);
      if (stopSignal.aborted) return undefined;
      const sentAt = Date.now();
      // A keepalive may take at most what is left of the TTL.
      const left = ttlMs > 0 ? Math.max(lastOk + ttlMs - sentAt, 1) : 10_000;
      try {
        const answer = await once(
          id,
          AbortSignal.any([stopSignal, AbortSignal.timeout(left)]),
        );
        ttlMs = answer.ttl * 1000;
        lastOk = sentAt;
        delay = ttlMs / 3;
        continue;
      } catch (err) {
        if (stopSignal.aborted) return undefined;
        if (err instanceof LeaseNotFoundError) {
          return new LeaseLostError(id, "the lease is gone", err);
        }
        lastError = err;
      }
      // Failed: try again soon, until a whole TTL passed since the last
      // success (then it may have expired).
      if (ttlMs > 0 && Date.now() - lastOk >= ttlMs) {
        return new LeaseLostError(
          id,
          `no keepalive succeeded for its TTL (${ttlMs / 1000} s)`,
          lastError,
        );
      }
      delay = ttlMs > 0 ? Math.min(ttlMs / 6, 1000) : 500;
    }
  };

  const done = run().then((error) => {
    if (error !== undefined) {
      lost.abort(error);
      options.onLost?.(error);
    }
    return error;
  });
  return {
    id,
    lost: lost.signal,
    done,
    async stop() {
      stopper.abort();
      await done;
    },
  };
}
