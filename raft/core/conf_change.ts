/**
 * Single-server membership changes: their encoding inside `conf` entries and
 * the rule that turns one membership into the next.
 *
 * raftkv changes one server at a time (dissertation §4.1): any majority of
 * the old membership then overlaps any majority of the new one, so no joint
 * phase is needed. A membership takes effect on a node as soon as its entry
 * is in that node's log (not when committed), and is rolled back if the
 * entry is truncated. Two rules keep this safe, both enforced by the leader
 * (see `Raft.proposeConfChange`):
 * - at most one change is uncommitted at a time, and
 * - a leader proposes a change only after it has committed an entry of its
 *   own term (the fix Ongaro posted to raft-dev in 2015: without it, a
 *   change from a deposed leader's term and one from the new leader's term
 *   can both be in flight and their majorities need not overlap).
 *
 * @module
 */

import type { ConfChange, ConfState, NodeId } from "./types.ts";
import { ConfChangeRefusedError } from "./errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a change as the data of a `conf` entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

/** Decodes the data of a `conf` entry; throws on anything malformed. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (typeof v !== "object" || v === null) {
    throw new Error("conf change: not an object");
  }
  const o = v as Record<string, unknown>;
  if (o.type !== "addVoter" && o.type !== "addLearner" && o.type !== "remove") {
    throw new Error(`conf change: bad type ${String(o.type)}`);
  }
  if (
    typeof o.node !== "number" || !Number.isSafeInteger(o.node) || o.node <= 0
  ) {
    throw new Error(`conf change: bad node ${String(o.node)}`);
  }
  return {
    type: o.type,
    node: o.node,
    context: typeof o.context === "string" ? o.context : "",
  };
}

function sorted(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}

/** Whether `id` is a voter or a learner of `conf`. */
export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/**
 * Returns the membership after `cc`. Throws {@linkcode ConfChangeRefusedError}
 * for a change that makes no sense against `conf` (adding a voter twice,
 * removing a stranger, demoting a voter, removing the last voter).
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  switch (cc.type) {
    case "addVoter":
      if (voters.has(cc.node)) {
        throw new ConfChangeRefusedError(`node ${cc.node} is already a voter`);
      }
      learners.delete(cc.node);
      voters.add(cc.node);
      break;
    case "addLearner":
      if (voters.has(cc.node)) {
        throw new ConfChangeRefusedError(
          `node ${cc.node} is a voter; demotion is not supported`,
        );
      }
      if (learners.has(cc.node)) {
        throw new ConfChangeRefusedError(
          `node ${cc.node} is already a learner`,
        );
      }
      learners.add(cc.node);
      break;
    case "remove":
      if (!voters.has(cc.node) && !learners.has(cc.node)) {
        throw new ConfChangeRefusedError(`node ${cc.node} is not a member`);
      }
      voters.delete(cc.node);
      learners.delete(cc.node);
      if (voters.size === 0) {
        throw new ConfChangeRefusedError("it would remove the last voter");
      }
      break;
  }
  return { voters: sorted(voters), learners: sorted(learners) };
}
