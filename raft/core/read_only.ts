/**
 * Linearizable reads without writing to the log (ReadIndex, dissertation
 * §6.4). A read is served at the commit index of a moment when the leader
 * has proved, by a round of heartbeats answered by a quorum, that it was
 * still the leader *after* the read arrived.
 *
 * Reads share rounds: at most one round is in flight; reads that arrive
 * meanwhile wait for the next one, which then confirms them all at once. A
 * round started before a read arrived never confirms it, since the leader
 * might have been deposed in between.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** A read waiting for confirmation, from this node or forwarded by a follower. */
export interface ReadRequest {
  /** The node that asked (the leader itself for local reads). */
  from: NodeId;
  /** The caller's request id. */
  context: string;
}

/** One heartbeat round confirming leadership for a batch of reads. */
export interface ReadRound {
  /** Sent as the heartbeats' context; answers echo it. */
  id: string;
  /** The commit index when the round started: the reads' read index. */
  index: number;
  requests: ReadRequest[];
  /** Voters that answered this round's heartbeat. */
  acks: Set<NodeId>;
}

/** The leader's queue of reads and its round in flight. */
export class ReadOnly {
  #waiting: ReadRequest[] = [];
  #round: ReadRound | undefined;
  #seq = 0;

  /** Queues a read for the next round. */
  add(req: ReadRequest): void {
    this.#waiting.push(req);
  }

  /** The round in flight, if any. */
  round(): ReadRound | undefined {
    return this.#round;
  }

  /**
   * Starts a round for the waiting reads when none is in flight; returns it,
   * or undefined when nothing started.
   */
  maybeStartRound(term: number, commit: number): ReadRound | undefined {
    if (this.#round !== undefined || this.#waiting.length === 0) {
      return undefined;
    }
    this.#round = {
      id: `${term}.${++this.#seq}`,
      index: commit,
      requests: this.#waiting,
      acks: new Set(),
    };
    this.#waiting = [];
    return this.#round;
  }

  /** Ends the round in flight (its quorum was reached) and returns it. */
  finishRound(): ReadRound | undefined {
    const r = this.#round;
    this.#round = undefined;
    return r;
  }

  /** Drops every read: the node is no longer leader. */
  reset(): void {
    this.#waiting = [];
    this.#round = undefined;
  }
}
