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
  /** The reason without the common prefix. */
  readonly reason: string;
  constructor(reason: string) {
    super("proposal_dropped", `proposal dropped: ${reason}`);
    this.reason = reason;
  }
}

/**
 * Too much is waiting already (the leader's uncommitted log bytes, or a
 * node's pending proposals): the request was not applied, retry later.
 */
export class OverloadedError extends RaftKvError {
  constructor(reason: string) {
    super("overloaded", `overloaded: ${reason}: the request was not applied`);
  }
}

/**
 * Why a membership change was refused: `pending` (another change is not
 * committed yet) and `uncommittedTerm` (a new leader has not committed an
 * entry of its term) pass on their own, so a caller may wait and retry;
 * `invalid` will not pass by waiting.
 */
export type ConfRefusal = "pending" | "uncommittedTerm" | "invalid";

/** A membership change the core refuses (pending change, no quorum, ...). */
export class ConfChangeRefusedError extends RaftKvError {
  /** The reason without the common prefix. */
  readonly reason: string;
  /** Whether waiting can help; see {@linkcode ConfRefusal}. */
  readonly refusal: ConfRefusal;
  /** For `pending`: the log index of the change that is not committed yet. */
  readonly pendingIndex: number;
  constructor(
    reason: string,
    refusal: ConfRefusal = "invalid",
    pendingIndex = 0,
  ) {
    super("conf_change_refused", `membership change refused: ${reason}`);
    this.reason = reason;
    this.refusal = refusal;
    this.pendingIndex = pendingIndex;
  }
}

/** Codes a leader's refusal of a forwarded proposal may carry. */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  "conf_change_refused",
  "proposal_dropped",
  "overloaded",
]);

/**
 * Encodes why the leader refused a forwarded proposal, for the `context`
 * of its `propResp` answer; {@linkcode decodeRefusal} rebuilds the error on
 * the follower that forwarded it.
 */
export function encodeRefusal(e: RaftKvError): string {
  const conf = e instanceof ConfChangeRefusedError ? e : undefined;
  return JSON.stringify({
    code: REFUSAL_CODES.has(e.code) ? e.code : "proposal_dropped",
    message: e.message,
    reason: conf?.reason ??
      (e instanceof ProposalDroppedError ? e.reason : e.message),
    refusal: conf?.refusal ?? "invalid",
    pendingIndex: conf?.pendingIndex ?? 0,
  });
}

/**
 * Rebuilds the typed error of a `propResp` context (see
 * {@linkcode encodeRefusal}); anything malformed becomes a
 * {@linkcode ProposalDroppedError}: the proposal will not commit either way.
 */
export function decodeRefusal(s: string): RaftKvError {
  let o: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === "object" && v !== null) o = v as Record<string, unknown>;
  } catch {
    // Malformed: falls through to the generic refusal.
  }
  const str = (k: string) => typeof o[k] === "string" ? o[k] as string : "";
  const reason = str("reason") || "refused by the leader";
  switch (str("code")) {
    case "conf_change_refused": {
      const r = str("refusal");
      const refusal: ConfRefusal = r === "pending" || r === "uncommittedTerm"
        ? r
        : "invalid";
      const idx = o.pendingIndex;
      return new ConfChangeRefusedError(
        reason,
        refusal,
        typeof idx === "number" && Number.isSafeInteger(idx) && idx > 0
          ? idx
          : 0,
      );
    }
    case "overloaded":
      return new RaftKvError("overloaded", str("message") || reason);
    default:
      return new ProposalDroppedError(reason);
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
