/**
 * Notices a leader whose heartbeats go out late, like etcd's "leader failed
 * to send out heartbeat on time": the gap between two heartbeats to the same
 * peer should be one heartbeat interval; more than twice that means the
 * event loop was held up (heartbeats do not wait for the leader's WAL fsync:
 * `RawNode.takeEarlyMessages`), and followers may soon start an election.
 *
 * @module
 */

/** A heartbeat that went out late. */
export interface LateHeartbeat {
  /** The peer it went to. */
  peer: number;
  /** The configured heartbeat interval, ms. */
  intervalMs: number;
  /** The gap since the previous heartbeat to that peer, ms. */
  gapMs: number;
  /** How far the gap exceeded twice the interval, ms. */
  exceededMs: number;
}

/** Tracks the last heartbeat time per peer; see the module doc. */
export class HeartbeatWatch {
  readonly #last = new Map<number, number>();

  /** `intervalMs`: heartbeat ticks × tick length. */
  constructor(readonly intervalMs: number) {}

  /** Forgets every peer (on becoming leader: the first gap is unknown). */
  reset(): void {
    this.#last.clear();
  }

  /**
   * Records a heartbeat to `peer` sent at `nowMs`; returns the lateness
   * when the gap since the previous one exceeds twice the interval.
   */
  sent(peer: number, nowMs: number): LateHeartbeat | undefined {
    const prev = this.#last.get(peer);
    this.#last.set(peer, nowMs);
    if (prev === undefined) return undefined;
    const gapMs = nowMs - prev;
    const limit = 2 * this.intervalMs;
    if (gapMs <= limit) return undefined;
    return {
      peer,
      intervalMs: this.intervalMs,
      gapMs: Math.round(gapMs),
      exceededMs: Math.round(gapMs - limit),
    };
  }
}
