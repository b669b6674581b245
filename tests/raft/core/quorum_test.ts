/**
 * Property test of the majority arithmetic (quorum.ts) against a naive
 * reference, over seeded random inputs (etcd's quorum quick tests).
 *
 * Replay: `QUORUM_SEED=<seed> deno test -A tests/raft/core/quorum_test.ts`
 * runs only the failing case printed on failure. `QUORUM_CASES=<n>` runs
 * more cases than the default.
 */

import assert from "node:assert/strict";
import { seededRng } from "../../../raft/core/mod.ts";
import {
  committedIndex,
  hasQuorum,
  majority,
  voteResult,
} from "../../../raft/core/quorum.ts";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: use the defaults
  }
}

const REPLAY = env("QUORUM_SEED");
const CASES = Number(env("QUORUM_CASES") ?? 3000);
const seeds = REPLAY !== undefined
  ? [Number(REPLAY)]
  : Array.from({ length: CASES }, (_, i) => i + 1);

/** Runs `check` for every seed; a failure names the seed and how to replay it. */
function forEachSeed(
  name: string,
  check: (rng: ReturnType<typeof seededRng>) => void,
): void {
  for (const seed of seeds) {
    try {
      check(seededRng(seed));
    } catch (e) {
      throw new Error(
        `${name} failed for seed ${seed}; replay: QUORUM_SEED=${seed} deno test -A tests/raft/core/quorum_test.ts\n${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }
}

/** 0..9 distinct voter ids out of 1..20. */
function randomVoters(rng: ReturnType<typeof seededRng>): number[] {
  const n = rng.intn(10);
  const ids = new Set<number>();
  while (ids.size < n) ids.add(1 + rng.intn(20));
  return [...ids];
}

// ---- naive references: say what a majority is, nothing clever ------------

/** The largest k such that more than half of the voters have match >= k. */
function naiveCommitted(voters: number[], match: Map<number, number>): number {
  let best = 0;
  for (const candidate of new Set([0, ...match.values()])) {
    const holding = voters.filter((id) =>
      (match.get(id) ?? 0) >= candidate
    ).length;
    if (
      voters.length > 0 && 2 * holding > voters.length && candidate > best
    ) best = candidate;
  }
  return best;
}

function naiveVote(voters: number[], votes: Map<number, boolean>): string {
  const granted = voters.filter((id) => votes.get(id) === true).length;
  const undecided = voters.filter((id) => !votes.has(id)).length;
  if (2 * granted > voters.length) return "won";
  if (2 * (granted + undecided) <= voters.length) return "lost";
  return "pending";
}

Deno.test("quorum: majority(n) is the smallest count that is more than half of n", () => {
  for (let n = 0; n <= 50; n++) {
    const m = majority(n);
    assert.ok(2 * m > n && 2 * (m - 1) <= n, `n=${n} majority=${m}`);
  }
});

Deno.test("quorum: committedIndex matches the naive reference (the highest index a majority holds)", () => {
  forEachSeed("committedIndex", (rng) => {
    const voters = randomVoters(rng);
    const match = new Map<number, number>();
    // Matches for voters and for some non-voters (learners), which must not count.
    for (let id = 1; id <= 20; id++) {
      if (rng.intn(3) > 0) match.set(id, rng.intn(12));
    }
    const got = committedIndex(voters, (id) => match.get(id) ?? 0);
    const want = naiveCommitted(voters, match);
    assert.equal(
      got,
      want,
      `voters ${JSON.stringify(voters)} match ${JSON.stringify([...match])}`,
    );
  });
});

Deno.test("quorum: voteResult matches the naive reference (won, lost or still pending)", () => {
  forEachSeed("voteResult", (rng) => {
    const voters = randomVoters(rng);
    const votes = new Map<number, boolean>();
    for (let id = 1; id <= 20; id++) {
      const r = rng.intn(3);
      if (r === 1) votes.set(id, true);
      if (r === 2) votes.set(id, false);
    }
    const got = voteResult(voters, votes);
    const want = naiveVote(voters, votes);
    assert.equal(
      got,
      want,
      `voters ${JSON.stringify(voters)} votes ${JSON.stringify([...votes])}`,
    );
  });
});

Deno.test("quorum: hasQuorum matches the naive reference; an empty voter set never has one", () => {
  forEachSeed("hasQuorum", (rng) => {
    const voters = randomVoters(rng);
    const ok = new Set<number>();
    for (let id = 1; id <= 20; id++) if (rng.intn(2) === 1) ok.add(id);
    const got = hasQuorum(voters, (id) => ok.has(id));
    const want = voters.length > 0 &&
      2 * voters.filter((id) => ok.has(id)).length > voters.length;
    assert.equal(
      got,
      want,
      `voters ${JSON.stringify(voters)} ok ${JSON.stringify([...ok])}`,
    );
  });
});

Deno.test("quorum: committed index is monotone in every voter's match (raising a match never lowers it)", () => {
  forEachSeed("monotone", (rng) => {
    const voters = randomVoters(rng);
    const match = new Map(voters.map((id) => [id, rng.intn(12)]));
    const before = committedIndex(voters, (id) => match.get(id) ?? 0);
    if (voters.length === 0) return;
    const raised = voters[rng.intn(voters.length)]!;
    match.set(raised, match.get(raised)! + 1 + rng.intn(5));
    const after = committedIndex(voters, (id) => match.get(id) ?? 0);
    assert.ok(after >= before, `${before} -> ${after}`);
  });
});
