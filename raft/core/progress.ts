/**
 * What the leader knows and expects of one follower's log, and the flow
 * control that bounds how much it sends ahead of acknowledgements.
 *
 * A follower is in one of three states:
 * - `probe`: the leader does not know where the logs match; it sends one
 *   append at a time and waits (or for the next heartbeat) before the next.
 * - `replicate`: the logs match up to `match`; the leader streams appends
 *   optimistically, up to `maxInflight` messages without an answer.
 * - `snapshot`: the entries the follower needs are compacted away; a
 *   snapshot is on its way and nothing else is sent until it is reported.
 *
 * @module
 */

import type { ProgressState } from "./types.ts";

/** Per-follower replication progress. */
export class Progress {
  /** Invariant: match < next. The highest index known to be replicated. */
  match = 0;
  /** The next index to send. */
  next: number;
  state: ProgressState = "probe";
  /** In `snapshot` state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Whether a message was received from the peer since the last check. */
  recentActive = false;
  /** The leader tick at which the peer was last heard from. */
  lastHeardTick = 0;
  /** In `probe` state: an append was sent and is not answered yet. */
  probeSent = false;
  /**
   * Last indexes of appends in flight, oldest first (replicate state), from
   * `#inflightHead` on: acknowledgements advance the head instead of copying
   * the array, and the freed front is reclaimed in place now and then.
   */
  #inflights: number[] = [];
  #inflightHead = 0;
  readonly maxInflight: number;
  isLearner: boolean;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.maxInflight = maxInflight;
    this.isLearner = isLearner;
  }

  /** Last indexes of appends in flight, oldest first (a copy). */
  get inflights(): number[] {
    return this.#inflights.slice(this.#inflightHead);
  }

  /** How many appends are in flight. */
  get inflightCount(): number {
    return this.#inflights.length - this.#inflightHead;
  }

  /** Whether the leader should hold back appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflightCount >= this.maxInflight;
      case "snapshot":
        return true;
    }
  }

  /** Back to probing, after a rejection or a lost connection. */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset("probe");
  }

  /** Stream appends: the logs are known to match up to `match`. */
  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset("replicate");
  }

  /** Wait for the snapshot at `index` to reach the follower. */
  becomeSnapshot(index: number): void {
    this.reset("snapshot");
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.#inflights = [];
    this.#inflightHead = 0;
  }

  /**
   * Records that the follower matches up to `n`. Returns whether this was
   * news (a stale or duplicate answer returns false).
   */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * Handles a rejected append of index `rejected`; `hint` is the highest
   * index at which the logs may match. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Notes that an append ending at `last` was sent. */
  sentEntries(last: number, count: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        this.next = last + 1;
        this.#inflights.push(last);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** Frees the in-flight slots of appends up to and including `index`. */
  freeInflightsTo(index: number): void {
    const ins = this.#inflights;
    let head = this.#inflightHead;
    while (head < ins.length && ins[head]! <= index) head++;
    if (head === ins.length) {
      ins.length = 0;
      head = 0;
    } else if (head * 2 >= ins.length) {
      // Half the array is freed slots: move the live ones to the front.
      ins.copyWithin(0, head);
      ins.length -= head;
      head = 0;
    }
    this.#inflightHead = head;
  }
}
