/**
 * The work a node does off its Ready loop on its own initiative (a
 * snapshot being written, one read back to be sent), counted so that
 * {@linkcode RaftNode.idle} can tell when nothing is left to run: a task
 * that waits for its storage counts as settled until the storage answers,
 * since only the storage (the simulator's disk) can move it on.
 *
 * @module
 */

/** Counts background tasks, and those of them that wait for storage. */
export class BackgroundWork {
  #tasks = 0;
  #waiting = 0;
  readonly #changed: () => void;

  /** `changed` is called whenever the work may have become settled. */
  constructor(changed: () => void) {
    this.#changed = changed;
  }

  /** True when every task is done or waits for its storage. */
  get settled(): boolean {
    return this.#tasks === this.#waiting;
  }

  /** Counts `task` (already started) until it settles; returns it. */
  run<T>(task: Promise<T>): Promise<T> {
    this.#tasks++;
    const done = () => {
      this.#tasks--;
      this.#changed();
    };
    task.then(done, done);
    return task;
  }

  /** Marks a task as waiting for `io` (its storage) until `io` settles. */
  io<T>(io: Promise<T>): Promise<T> {
    this.#waiting++;
    this.#changed();
    return io.finally(() => this.#waiting--);
  }
}
