/**
 * The node's writes from proposal to outcome. Each write is proposed under
 * a request id and the term this node is in (raft/envelope.ts), and its
 * caller waits until the entry is applied here. A leader change does not
 * leave it to its deadline when the outcome can be known:
 *
 * The term rule. A copy of a write proposed in term T takes effect only
 * when it sits in the log at term T (any other copy is applied as a no-op,
 * see `isStaleCopy`). Terms never decrease along the log, so once this
 * node applies an entry of a term above T, every entry of term T that will
 * ever commit is applied already: a write of term T that has not applied
 * by then never will. It is proposed again, same id, in the current term,
 * while its caller still waits; when that cannot be done (no leader, the
 * leadership moving) it waits for a leader, and a caller that gives up
 * meanwhile gets {@linkcode LeaderChangedError} (503: not applied). A
 * caller that gives up while a copy may still commit gets its signal's
 * reason (504: unknown). The term check runs once per new term, not per
 * entry.
 *
 * A snapshot from the leader hides which entries it covers: a write whose
 * copies may lie under it is never proposed again (it can only end
 * applied, seen here, or at its deadline as unknown).
 *
 * @module
 */

import {
  NoLeaderError,
  OverloadedError,
  ProposalDroppedError,
  type RawNode,
} from "./core/mod.ts";
import { type RequestId, unwrapPayload, wrapPayload } from "./envelope.ts";
import { LeaderChangedError, OutcomeUnknownError } from "./errors.ts";
import type { RaftMetrics } from "./raft_metrics.ts";
import { Wait } from "./wait.ts";

/** The result of an applied proposal. */
export interface Applied {
  index: number;
  result: unknown;
}

/**
 * Where a write stands: a copy of term `term` may still commit (`sent`),
 * every copy is known dead and it waits to be proposed again (`retry`:
 * now; `parked`: once a leader is known), or a snapshot may hold it
 * (`unknown`).
 */
type State = "sent" | "retry" | "parked" | "unknown";

interface Pending {
  readonly id: RequestId;
  /** The newest copy's entry data (the payload in its envelope). */
  data: Uint8Array;
  /** The term of the newest copy proposed. */
  term: number;
  state: State;
}

/** What {@linkcode Proposals} needs of the node it works for. */
export interface ProposalsHost {
  /** The core, to propose through. */
  readonly raw: Pick<RawNode, "propose">;
  readonly metrics: RaftMetrics;
  /** The term the core is in now. */
  term(): number;
  /** The known leader, 0 for none. */
  leader(): number;
  /** The most writes waiting at once; more are refused. */
  readonly maxPending: number;
}

/** The writes proposed on one node that wait for their outcome. */
export class Proposals {
  readonly #host: ProposalsHost;
  readonly #waits = new Wait<number, Applied>();
  readonly #pending = new Map<number, Pending>();
  /** Writes to propose again after the current Ready (`retry`, `parked`). */
  readonly #again = new Set<Pending>();
  /** The newest term of an entry (or snapshot) applied here. */
  #appliedTerm = 0;

  constructor(host: ProposalsHost) {
    this.#host = host;
  }

  /** How many writes wait for their outcome. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Proposes `payload` as request `id` and returns the promise its caller
   * waits on. Throws the core's typed errors when it cannot be proposed
   * ({@linkcode OverloadedError} past `maxPending`).
   */
  propose(
    id: RequestId,
    payload: Uint8Array,
    signal?: AbortSignal,
  ): Promise<Applied> {
    const host = this.#host;
    if (this.#pending.size >= host.maxPending) {
      host.metrics.proposalsDropped.inc();
      throw new OverloadedError(
        `${this.#pending.size} proposals are waiting on this node (limit ${host.maxPending})`,
      );
    }
    const term = host.term();
    const data = wrapPayload(id, term, payload);
    try {
      host.raw.propose(data);
    } catch (e) {
      host.metrics.proposalsDropped.inc();
      throw e;
    }
    const p: Pending = { id, data, term, state: "sent" };
    const done = this.#waits.register(id.seq);
    this.#pending.set(id.seq, p);
    if (signal) {
      if (signal.aborted) this.#abort(p, signal.reason);
      else {
        signal.addEventListener("abort", () => this.#abort(p, signal.reason), {
          once: true,
        });
      }
    }
    return done;
  }

  /**
   * Notes that an entry of `term` is being applied; the first of a new
   * term marks every write of an older term that is still waiting for
   * another proposal ({@linkcode proposeAgain}).
   */
  entryApplying(term: number): void {
    if (term <= this.#appliedTerm) return;
    this.#appliedTerm = term;
    for (const p of this.#pending.values()) {
      if (p.state === "sent" && p.term < term) {
        p.state = "retry";
        this.#again.add(p);
      }
    }
  }

  /**
   * Notes a snapshot of last term `term` applied: writes whose copies may
   * lie under it are never proposed again.
   */
  snapshotApplied(term: number): void {
    if (term > this.#appliedTerm) this.#appliedTerm = term;
    for (const p of this.#pending.values()) {
      if (p.state === "sent" && p.term <= term) p.state = "unknown";
    }
  }

  /** Resolves the caller of this node's request `seq`, applied as `applied`. */
  applied(seq: number, applied: Applied): void {
    if (!this.#pending.delete(seq)) return;
    this.#waits.trigger(seq, applied);
    this.#host.metrics.proposalsCommitted.inc();
  }

  /**
   * Fails the caller of request `seq`, whose copy of term `term` the leader
   * refused (undefined: a version-1 copy), with `err`. A refusal of an
   * older copy than the newest is ignored: the newest may still commit.
   */
  refused(seq: number, term: number | undefined, err: unknown): void {
    const p = this.#pending.get(seq);
    if (!p || p.state !== "sent" || (term !== undefined && term !== p.term)) {
      return;
    }
    this.#settleFailed(p, err);
    this.#host.metrics.proposalsDropped.inc();
  }

  /**
   * Proposes again, in the current term, the writes whose every copy is
   * known not to commit; call it after a Ready is handled. Ones that find
   * no leader (or a leadership move) wait for the next call.
   */
  proposeAgain(): void {
    if (this.#again.size === 0) return;
    const host = this.#host;
    for (const p of this.#again) {
      if (p.state === "parked" && host.leader() === 0) continue;
      const term = host.term();
      const data = wrapPayload(p.id, term, unwrapPayload(p.data)!.payload);
      try {
        host.raw.propose(data);
      } catch (e) {
        if (e instanceof NoLeaderError || e instanceof ProposalDroppedError) {
          p.state = "parked";
          continue;
        }
        this.#again.delete(p);
        this.#settleFailed(p, e);
        host.metrics.proposalsDropped.inc();
        continue;
      }
      this.#again.delete(p);
      p.data = data;
      p.term = term;
      p.state = "sent";
      host.metrics.proposalsRetried.inc();
    }
  }

  /**
   * Fails every waiting caller as the node stops for `err`: with `err`
   * (503) when no copy of the write can commit any more, else with
   * {@linkcode OutcomeUnknownError} (504).
   */
  failAll(err: Error): void {
    const unknown = new OutcomeUnknownError(err.message);
    for (const p of [...this.#pending.values()]) {
      const dead = p.state === "retry" || p.state === "parked";
      this.#settleFailed(p, dead ? err : unknown);
    }
    this.#again.clear();
  }

  /** The caller gave up: not applied when every copy is dead, else unknown. */
  #abort(p: Pending, reason: unknown): void {
    if (this.#pending.get(p.id.seq) !== p) return;
    if (p.state === "retry" || p.state === "parked") {
      this.#again.delete(p);
      this.#settleFailed(
        p,
        new LeaderChangedError(
          "leadership changed and the write could not be proposed again before its deadline: it was not applied",
        ),
      );
      this.#host.metrics.proposalsDropped.inc();
      return;
    }
    this.#settleFailed(p, reason);
    this.#host.metrics.proposalsTimedOut.inc();
  }

  #settleFailed(p: Pending, err: unknown): void {
    this.#pending.delete(p.id.seq);
    this.#waits.fail(p.id.seq, err);
  }
}
