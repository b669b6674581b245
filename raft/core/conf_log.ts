/**
 * The history of memberships in a node's log. Because a membership takes
 * effect when its entry is appended, truncating the log must also roll the
 * membership back; this keeps one membership per `conf` entry still in the
 * log, plus the one the snapshot carries.
 *
 * @module
 */

import type { ConfState } from "./types.ts";
import { assert } from "./errors.ts";

interface ConfAt {
  index: number;
  conf: ConfState;
}

/** Memberships by log index, newest last. */
export class ConfLog {
  /** Invariant: non-empty, indexes strictly increasing. */
  #history: ConfAt[];

  constructor(base: ConfState, baseIndex: number) {
    this.#history = [{ index: baseIndex, conf: base }];
  }

  /** The membership in force after the whole log. */
  latest(): ConfState {
    return this.#history[this.#history.length - 1]!.conf;
  }

  /** The index of the entry that set the latest membership. */
  latestIndex(): number {
    return this.#history[this.#history.length - 1]!.index;
  }

  /** The membership in force at `index` (the newest set at or before it). */
  at(index: number): ConfState {
    for (let i = this.#history.length - 1; i >= 0; i--) {
      if (this.#history[i]!.index <= index) return this.#history[i]!.conf;
    }
    return this.#history[0]!.conf;
  }

  /** Records that the entry at `index` set `conf`. */
  push(index: number, conf: ConfState): void {
    assert(
      index > this.latestIndex(),
      `conf at ${index} after ${this.latestIndex()}`,
    );
    this.#history.push({ index, conf });
  }

  /** Forgets memberships set by entries at `index` or later (log truncated). */
  truncateFrom(index: number): void {
    while (
      this.#history.length > 1 &&
      this.#history[this.#history.length - 1]!.index >= index
    ) {
      this.#history.pop();
    }
  }

  /** Starts over from a snapshot's membership. */
  reset(conf: ConfState, index: number): void {
    this.#history = [{ index, conf }];
  }
}
