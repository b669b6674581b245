/**
 * One watch stream's response body: a {@linkcode Watcher}'s messages as
 * Server-Sent Events (http/api/sse.ts), pulled as fast as the connection
 * takes them. The body holds at most {@linkcode STREAM_QUEUE_BYTES} of
 * encoded events; what the client does not take meanwhile waits in the
 * watcher's bounded buffer, which cancels the watcher when it overflows:
 * the `event: cancelled` is then queued (past the bound, once) and the
 * stream ends. A progress event goes out once the watcher has caught up,
 * and again every `progressMs` in which nothing else was sent.
 *
 * The stream ends, and the watcher leaves the hub, when the client goes
 * away (the body is cancelled), when the watcher is cancelled, or when
 * `stop` aborts (the node shuts down).
 *
 * @module
 */

import type { Watcher, WatchHub } from "../../kv/mod.ts";
import { encodeCancelled, encodeChangesBytes, encodeProgress } from "./sse.ts";
import type { WakeCoalescer } from "./wake_coalescer.ts";

/** Encoded bytes a stream body queues before it waits for the client. */
export const STREAM_QUEUE_BYTES = 64 * 1024;

/** Options of {@linkcode watchStream}. */
export interface WatchStreamOptions {
  /** Send a progress event after this many ms without any other event. */
  progressMs: number;
  /** When set, the first event: `event: progress` with this id. */
  firstProgress?: number;
  /** Aborts when the node stops: the stream ends. */
  stop?: AbortSignal;
  /**
   * Wakes the stream, in a later task, when its watcher has something new
   * (shared by the node's streams; `--watch-coalesce-ms`).
   */
  wakes: WakeCoalescer;
}

const utf8 = new TextEncoder();

/** Returns the body of `watcher`'s stream; see the module doc. */
export function watchStream(
  hub: WatchHub,
  watcher: Watcher,
  options: WatchStreamOptions,
): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let ended = false;
  // The first progress (at the read index) is the caught-up one.
  let caughtUp = options.firstProgress !== undefined;
  /** Something was sent since the progress timer last looked. */
  let busy = false;
  let progressDue = false;
  /** A wake is scheduled and has not run yet. */
  let wakeQueued = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    options.stop?.removeEventListener("abort", onStop);
    watcher.onReady = undefined;
    hub.close(watcher);
  };
  const onStop = () => {
    if (ended) return;
    end();
    controller.close();
  };
  const send = (text: string) => sendBytes(utf8.encode(text));
  const sendBytes = (bytes: Uint8Array) => {
    busy = true;
    controller.enqueue(bytes);
  };
  const sendCancelled = () => {
    if (ended) return;
    end(); // first: the enqueue below may call pull at once
    send(encodeCancelled(watcher.cancelled!));
    controller.close();
  };
  let flushing = false;
  /**
   * Enqueues what the watcher has while the body has room: everything a
   * wake-up finds goes out as one chunk. Called by a wake-up, by the
   * progress timer and by the body when the client took bytes (pull); it
   * never waits, so a wake-up costs no promise.
   */
  const flush = () => {
    // An enqueue may call pull, and so flush, at once: the outer one goes on.
    if (flushing) return;
    flushing = true;
    try {
      fill();
    } finally {
      flushing = false;
    }
  };
  const fill = () => {
    while (!ended && (controller.desiredSize ?? 0) > 0) {
      if (watcher.cancelled !== undefined) return sendCancelled();
      const batches = watcher.take(STREAM_QUEUE_BYTES);
      if (batches.length > 0) {
        sendBytes(encodeChangesBytes(batches));
        continue;
      }
      if (watcher.cancelled !== undefined) return sendCancelled();
      if (watcher.live && (!caughtUp || progressDue)) {
        const id = watcher.progress();
        if (id !== undefined) {
          caughtUp = true;
          progressDue = false;
          send(encodeProgress(id));
          continue;
        }
      }
      progressDue = false;
      if (!watcher.live) continue; // the catch-up just ended
      return;
    }
  };
  const wake = () => {
    wakeQueued = false;
    flush();
  };
  const timer = setInterval(() => {
    if (!busy) {
      progressDue = true;
      flush();
    }
    busy = false;
  }, options.progressMs);
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (options.stop?.aborted) return onStop();
      options.stop?.addEventListener("abort", onStop, { once: true });
      // Inside the apply: settled state, must not throw. A cancellation
      // goes out at once, even while the client is not reading.
      watcher.onReady = () => {
        if (watcher.cancelled !== undefined) sendCancelled();
        else if (!wakeQueued) {
          wakeQueued = true;
          options.wakes.schedule(wake);
        }
      };
      if (options.firstProgress !== undefined) {
        send(encodeProgress(options.firstProgress));
      }
    },
    pull() {
      flush();
    },
    cancel() {
      end();
    },
  }, { highWaterMark: STREAM_QUEUE_BYTES, size: (chunk) => chunk.byteLength });
}
