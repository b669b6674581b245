/**
 * Majority arithmetic, kept apart from everything else so it can be checked
 * against a naive reference. Pure functions over plain numbers.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** The outcome of an election as far as the votes counted so far tell. */
export type VoteResult = "won" | "lost" | "pending";

/** The number of votes that make a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The highest index that a majority of `voters` have matched (§5.3, §5.4).
 * `match(id)` gives each voter's acknowledged index. An empty voter set
 * commits nothing.
 */
export function committedIndex(
  voters: readonly NodeId[],
  match: (id: NodeId) => number,
): number {
  if (voters.length === 0) return 0;
  const acked = voters.map(match).sort((a, b) => b - a);
  return acked[majority(voters.length) - 1]!;
}

/**
 * Counts `votes` (true = granted) of `voters`: won once a majority granted,
 * lost once a majority can no longer be reached.
 */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  let granted = 0, rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return "won";
  if (voters.length - rejected < need) return "lost";
  return "pending";
}

/** Whether the ids for which `ok` holds form a majority of `voters`. */
export function hasQuorum(
  voters: readonly NodeId[],
  ok: (id: NodeId) => boolean,
): boolean {
  let n = 0;
  for (const id of voters) if (ok(id)) n++;
  return voters.length > 0 && n >= majority(voters.length);
}
