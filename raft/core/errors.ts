/**
 * Typed errors the core throws at its caller. Protocol events (a stale term,
 * a rejected append) are never errors: they are answered or dropped. Errors
 * mean the caller asked for something the node cannot do now, or an
 * invariant broke (then the node must stop).
 *
 * @module
 */

/**
 * The root of raftkv's typed errors. `code` is stable and machine-readable;
 * the HTTP layer maps codes to status codes in one place.
 */
export class RaftKvError extends Error {
  /** A stable snake_case identifier of the error kind. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The request needs a leader and this node knows of none: retry later. */
export class NoLeaderError extends RaftKvError {
  constructor(message = "no leader is known: the request was not applied") {
    super("no_leader", message);
  }
}

/** The request must run on the leader and this node is not it. */
export class NotLeaderError extends RaftKvError {
  /** The leader this node knows of, 0 for none. */
  readonly leader: number;
  constructor(leader: number) {
    super("not_leader", `this node is not the leader (leader: ${leader})`);
    this.leader = leader;
  }
}

/** The proposal was not appended and will never commit: safe to retry. */
export class ProposalDroppedError extends RaftKvError {
  constructor(reason: string) {
    super("proposal_dropped", `proposal dropped: ${reason}`);
  }
}

/** A membership change the core refuses (pending change, no quorum, ...). */
export class ConfChangeRefusedError extends RaftKvError {
  constructor(reason: string) {
    super("conf_change_refused", `membership change refused: ${reason}`);
  }
}

/** A leadership transfer that cannot start. */
export class TransferRefusedError extends RaftKvError {
  constructor(reason: string) {
    super("transfer_refused", `leadership transfer refused: ${reason}`);
  }
}

/** The requested entries were compacted into a snapshot. */
export class CompactedError extends RaftKvError {
  constructor(index: number) {
    super("compacted", `index ${index} is compacted`);
  }
}

/** The requested entries are not in the log yet. */
export class UnavailableError extends RaftKvError {
  constructor(index: number) {
    super("unavailable", `index ${index} is not available`);
  }
}

/** A broken invariant: the node must stop rather than continue. */
export class AssertionError extends RaftKvError {
  constructor(message: string) {
    super("assertion", `raft invariant violated: ${message}`);
  }
}

/** Throws {@linkcode AssertionError} unless `cond` holds. */
export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionError(message);
}
