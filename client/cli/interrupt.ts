/**
 * Ctrl-C and `SIGTERM` for the subcommands that run until stopped (`watch`,
 * `lease keepalive`, `lock`): instead of ending the process at once, the
 * signal aborts an `AbortSignal`, so the subcommand stops cleanly (closes
 * its stream, releases its lock) and exits with its own status.
 *
 * @module
 */

/** An interrupt signal and the listeners behind it. */
export interface Interrupt {
  /** Aborted on the first `SIGINT` or `SIGTERM`; its reason names the signal. */
  readonly signal: AbortSignal;
  /** Removes the listeners: a later Ctrl-C ends the process as usual. */
  dispose(): void;
}

/** Listens for `SIGINT` and `SIGTERM` until `dispose()`. */
export function listenForInterrupt(): Interrupt {
  const controller = new AbortController();
  const names: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = names.map((name) => {
    const handler = () => controller.abort(name);
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose() {
      for (const [name, handler] of handlers) {
        Deno.removeSignalListener(name, handler);
      }
    },
  };
}

/** Resolves when `signal` aborts (at once when it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
