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
  // The largest acknowledged index that a majority holds: counting for each
  // voter's index how many voters reached it costs no array or sort (this
  // runs on every acknowledgement; voter sets are small).
  const quorum = majority(voters.length);
  let best = 0;
  for (const id of voters) {
    const index = match(id);
    if (index <= best) continue;
    let reached = 0;
    for (const other of voters) if (match(other) >= index) reached++;
    if (reached >= quorum) best = index;
  }
  return best;
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
