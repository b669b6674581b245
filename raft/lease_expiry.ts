/**
 * The leader's lease countdowns (COORDINATION.md "Leases"): which lease
 * expires when, by this node's own monotonic clock, while it leads. Only
 * the leader counts; a follower holds no deadline and never decides
 * anything. The table of leases (ids and TTLs) is Raft state the node is
 * told about as it applies entries ({@linkcode LeaseExpiry.granted},
 * `revoked`, `restored`); the deadlines are not state: they live in this
 * process only.
 *
 * - Taking office in term T restarts every countdown in full (deadline =
 *   now + ttl), and so does a lease granted (applied) while it leads.
 * - A keepalive the leader processes restarts that lease's countdown
 *   ({@linkcode LeaseExpiry.renew}); the caller confirms leadership after
 *   it (a ReadIndex round) before it answers, so no leader elected later
 *   started its countdowns before the renewal.
 * - A passed deadline is proposed as a revoke decided in T
 *   (`propose(id, T)`). The state machine applies it only in an entry of
 *   term T, so a decision that reaches the log after the node lost office
 *   (a paused or partitioned ex-leader, a proposal forwarded or retried in a
 *   later term) changes nothing.
 * - A revoke stays in flight ({@linkcode LeaseExpiry.pendingRevoke}) until
 *   its outcome is known: applied (`revoked`), definitely not applied, or
 *   this node no longer leads in T. A proposal that timed out (outcome
 *   `"unknown"`) while the node still leads in T is still in its log and
 *   may commit at any moment, so it stays in flight: a keepalive waits for
 *   it rather than answer `200` just before the revoke lands. Leaving term
 *   T ends it: every later term's ReadIndex first commits an entry of its
 *   own term, after which a revoke of term T has either applied or can
 *   never commit.
 *
 * The clock and leadership are injected: tests drive {@linkcode tick} with
 * a fake clock; the runtime calls it from a timer ({@linkcode start}).
 *
 * @module
 */

/** A lease as the countdowns need it. */
export interface CountedLease {
  readonly id: number;
  /** Seconds. */
  readonly ttl: number;
}

/** Whether this node leads, and in which term. */
export interface Leadership {
  leader: boolean;
  term: number;
}

/**
 * How a revoke proposal ended: `"settled"` when its outcome is known
 * (applied, or definitely not applied), `"unknown"` when it may still
 * commit (the wait for it timed out).
 */
export type RevokeOutcome = "settled" | "unknown";

/** A revoke this node decided whose outcome is not known yet. */
interface InFlight {
  /** The term it was decided (and proposed) in. */
  readonly term: number;
  /** Settles when the outcome is known (see {@linkcode LeaseExpiry.pendingRevoke}). */
  readonly done: Promise<void>;
  readonly end: () => void;
}

/** Options of {@linkcode LeaseExpiry}. */
export interface LeaseExpiryOptions {
  /** A monotonic clock in milliseconds. */
  now: () => number;
  /** This node's role and term now. */
  leadership: () => Leadership;
  /**
   * Proposes the revoke of lease `id` decided in `term`; settles when the
   * wait for it ends, saying whether the outcome is known. A rejection
   * counts as `"unknown"`.
   */
  propose: (id: number, term: number) => Promise<RevokeOutcome>;
}

/** The leader's countdowns: see the module doc. */
export class LeaseExpiry {
  /**
   * The clock the countdowns read (from the options); a simulator replaces
   * it with its simulated time before the first use.
   */
  now: () => number;
  readonly #leadership: () => Leadership;
  readonly #propose: (id: number, term: number) => Promise<RevokeOutcome>;
  /** Every lease in the applied state: id → ttl in ms. */
  readonly #ttls = new Map<number, number>();
  /** While leading: id → deadline (ms of `now`). */
  readonly #deadlines = new Map<number, number>();
  /** Revokes decided whose outcome is not known yet, by lease id. */
  readonly #pending = new Map<number, InFlight>();
  /** The term the countdowns run in; 0 while not leading. */
  #term = 0;
  /** No deadline passes before this time (a lower bound). */
  #nextCheck = Infinity;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Revokes this node decided (proposed), since it started. */
  decided = 0;

  constructor(options: LeaseExpiryOptions) {
    this.now = options.now;
    this.#leadership = options.leadership;
    this.#propose = options.propose;
  }

  /** The term the countdowns run in, 0 when this node does not lead. */
  get term(): number {
    return this.#term;
  }

  /** A lease was granted (applied): while leading, its countdown starts now. */
  granted(lease: CountedLease): void {
    const ttl = lease.ttl * 1000;
    this.#ttls.set(lease.id, ttl);
    if (this.#term !== 0) this.#restart(lease.id, ttl, this.now());
  }

  /** A lease was revoked (applied): its countdown ends, and any revoke of it in flight. */
  revoked(id: number): void {
    this.#ttls.delete(id);
    this.#deadlines.delete(id);
    this.#settle(id);
  }

  /** A snapshot replaced the table: while leading, every countdown starts now. */
  restored(leases: readonly CountedLease[]): void {
    this.#ttls.clear();
    this.#deadlines.clear();
    for (const l of leases) this.granted(l);
    for (const id of [...this.#pending.keys()]) {
      if (!this.#ttls.has(id)) this.#settle(id);
    }
  }

  /**
   * Restarts the countdown of lease `id` (a keepalive). Returns the term it
   * runs in, or undefined when this node does not lead or does not know
   * the lease (yet).
   */
  renew(id: number): number | undefined {
    this.#sync();
    const ttl = this.#ttls.get(id);
    if (this.#term === 0 || ttl === undefined) return undefined;
    this.#restart(id, ttl, this.now());
    return this.#term;
  }

  /**
   * The revoke of `id` this node decided whose outcome is not known yet,
   * if any: it settles once the revoke applied, is known not to have
   * applied, or this node left the term it was decided in (noticed by
   * {@linkcode tick}, {@linkcode renew} or {@linkcode remainingMs}). While
   * it is pending, a keepalive of `id` must not be answered.
   */
  pendingRevoke(id: number): Promise<void> | undefined {
    return this.#pending.get(id)?.done;
  }

  /** Milliseconds until lease `id` expires, when this node leads and knows it. */
  remainingMs(id: number): number | undefined {
    this.#sync();
    const deadline = this.#deadlines.get(id);
    if (deadline === undefined) return undefined;
    return Math.max(0, deadline - this.now());
  }

  /**
   * Follows leadership (a new term restarts every countdown; losing it
   * drops them all) and proposes the revoke of every lease whose deadline
   * has passed.
   */
  tick(): void {
    this.#sync();
    if (this.#term === 0) return;
    const now = this.now();
    if (now < this.#nextCheck) return;
    let next = Infinity;
    for (const [id, deadline] of this.#deadlines) {
      if (deadline > now) next = Math.min(next, deadline);
      else if (!this.#pending.has(id)) this.#expire(id, this.#term);
    }
    this.#nextCheck = next;
  }

  /** Calls {@linkcode tick} every `intervalMs` until {@linkcode stop}. */
  start(intervalMs: number): void {
    this.stop();
    const timer = setInterval(() => this.tick(), intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops the timer of {@linkcode start}. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Follows this node's leadership: see {@linkcode tick}. */
  #sync(): void {
    const { leader, term } = this.#leadership();
    this.#settleOutside(leader ? term : 0);
    if (!leader) {
      this.#term = 0;
      this.#deadlines.clear();
      this.#nextCheck = Infinity;
      return;
    }
    if (term === this.#term) return;
    this.#term = term;
    this.#deadlines.clear();
    this.#nextCheck = Infinity;
    const now = this.now();
    for (const [id, ttl] of this.#ttls) this.#restart(id, ttl, now);
  }

  #restart(id: number, ttl: number, now: number): void {
    const deadline = now + ttl;
    this.#deadlines.set(id, deadline);
    if (deadline < this.#nextCheck) this.#nextCheck = deadline;
  }

  #expire(id: number, term: number): void {
    this.decided++;
    let end!: () => void;
    const done = new Promise<void>((resolve) => end = resolve);
    const flight: InFlight = { term, done, end };
    this.#pending.set(id, flight);
    this.#propose(id, term).then(
      (outcome) => outcome,
      (): RevokeOutcome => "unknown",
    ).then((outcome) => {
      // Unknown: it may still commit in `term`; it stays in flight until
      // it applies or this node leaves `term` (#settleOutside).
      if (outcome === "settled" && this.#pending.get(id) === flight) {
        this.#settle(id);
      }
    });
  }

  /** The revoke of `id` in flight has a known outcome (or no longer matters). */
  #settle(id: number): void {
    const flight = this.#pending.get(id);
    if (flight === undefined) return;
    this.#pending.delete(id);
    flight.end();
    // A revoke that did not apply (lost office, refused) is decided again
    // at the next tick if the lease is still due.
    this.#nextCheck = 0;
  }

  /** Ends every revoke in flight decided in a term other than `term`. */
  #settleOutside(term: number): void {
    if (this.#pending.size === 0) return;
    for (const [id, flight] of this.#pending) {
      if (flight.term !== term) this.#settle(id);
    }
  }
}
