/**
 * The wait of a long poll (`GET /v1/kv/{key}?index=N&wait=30s` and the
 * listing's): resolves once this node has applied a change to the watched
 * key or prefix with an index above `index`, or when the wait runs out, the
 * client goes away or the node stops. It rides on a watcher from `index + 1`
 * (kv/watch_hub.ts), so a change already in the history answers at once and
 * nothing scans the keys. A position older than the history answers at
 * once too: a change may have been missed, so the client reads now.
 *
 * @module
 */

import { CompactedError, type KeyRange, type WatchHub } from "../../kv/mod.ts";

/**
 * Waits as the module doc says. Never rejects: the caller answers with the
 * state it then reads, whatever ended the wait.
 */
export async function waitForChange(
  hub: WatchHub,
  range: KeyRange,
  index: number,
  waitMs: number,
  signals: readonly (AbortSignal | undefined)[],
): Promise<void> {
  let watcher;
  try {
    watcher = hub.open([range], index + 1);
  } catch (err) {
    if (err instanceof CompactedError) return;
    throw err;
  }
  const done = Promise.withResolvers<void>();
  const wake = () => done.resolve();
  const timer = setTimeout(wake, waitMs);
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  for (const s of live) s.addEventListener("abort", wake);
  watcher.onReady = wake;
  try {
    // Catching up may take several pages; any message ends the wait.
    while (watcher.cancelled === undefined && !live.some((s) => s.aborted)) {
      if (watcher.take().length > 0) return;
      if (watcher.live) break;
    }
    if (watcher.cancelled !== undefined) return;
    await done.promise;
  } finally {
    clearTimeout(timer);
    for (const s of live) s.removeEventListener("abort", wake);
    watcher.onReady = undefined;
    hub.close(watcher);
  }
}
