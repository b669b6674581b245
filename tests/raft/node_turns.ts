/**
 * Driving real RaftNodes in tests without wall-clock waits: a turn of the
 * event loop lets queued I/O and messages settle, and `runUntil` ticks the
 * nodes turn by turn until a condition holds.
 */

import type { RaftNode } from "../../raft/mod.ts";

/** One turn of the event loop (timers queued before it run first). */
export function turn(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

/**
 * Ticks every node of `nodes` (read afresh each round, so nodes added
 * meanwhile count) and lets three turns pass, until `cond` holds; throws
 * naming `what` after 3,000 rounds (a bound on work, not on time).
 */
export async function runUntil(
  nodes: ReadonlyMap<number, RaftNode>,
  cond: () => boolean,
  what: string,
): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (cond()) return;
    for (const n of nodes.values()) n.tick();
    for (let k = 0; k < 3; k++) await turn();
  }
  throw new Error(`never reached: ${what}`);
}
