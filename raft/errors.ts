/**
 * Errors of the node runtime (the core's own are in core/errors.ts). All
 * carry a stable `code`; http/errors.ts maps them to status codes.
 *
 * @module
 */

import { RaftKvError } from "./core/mod.ts";

/** The node is replaying its snapshot and WAL: retry shortly. */
export class RecoveringError extends RaftKvError {
  constructor() {
    super(
      "recovering",
      "the node is still recovering its state: retry shortly",
    );
  }
}

/** The node is shutting down (or was removed): retry on another node. */
export class StoppedError extends RaftKvError {
  constructor(reason = "the node is shutting down") {
    super("stopped", reason);
  }
}

/** Leadership moved while the request waited: it was not applied; retry. */
export class LeaderChangedError extends RaftKvError {
  constructor(
    message = "leadership changed while the request waited: retry",
  ) {
    super("leader_changed", message);
  }
}

/**
 * The node stopped while a write it proposed could still commit elsewhere:
 * the outcome is unknown (504), unlike {@linkcode StoppedError} (503, not
 * applied).
 */
export class OutcomeUnknownError extends RaftKvError {
  constructor(reason: string) {
    super(
      "outcome_unknown",
      `${reason}: the request was proposed and may still be applied`,
    );
  }
}

/**
 * A membership request names a node it cannot apply to: an id already a
 * member (`member_exists`), not a member (`member_unknown`), removed before
 * (`member_removed`), or a URL another member has (`member_url_exists`).
 */
export class MemberError extends RaftKvError {
  constructor(
    code:
      | "member_exists"
      | "member_unknown"
      | "member_removed"
      | "member_url_exists",
    message: string,
  ) {
    super(code, message);
  }
}

/** A message came from a node that was removed from the cluster. */
export class PeerRemovedError extends RaftKvError {
  constructor(id: number) {
    super("peer_removed", `node ${id} was removed from the cluster`);
  }
}
