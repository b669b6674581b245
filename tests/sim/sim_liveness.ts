/**
 * The end of a run. `liveness`: once every fault is healed, a leader must be
 * elected and a fresh write applied by every live member (with every write
 * acknowledged before it) within a bounded number of ticks. `acknowledged
 * write lost` (the client oracle): every write a client saw acknowledged is
 * then in the state machine of every live member.
 *
 * @module
 */

import type { SimNode } from "./sim_node.ts";
import { type Invariants, InvariantViolation } from "./invariants.ts";

/** Ticks between two attempts at the fresh write. */
const RETRY_TICKS = 30;

/** What the probe needs from the cluster. */
export interface LivenessHost {
  /** The running leader with the highest term, if any. */
  leader(): SimNode | undefined;
  /** The running members of that leader's membership. */
  liveMembers(): SimNode[];
  /** Proposes `value` through `n` (refusals are the client's problem). */
  propose(n: SimNode, value: string): void;
  /** The acknowledged writes. */
  readonly acked: Pick<Invariants, "maxAckedIndex">;
}

/** Drives and checks the liveness phase. */
export class LivenessProbe {
  readonly #host: LivenessHost;
  readonly #limitTicks: number;
  #value = "";
  #index = 0;
  #proposedAt = -Infinity;
  #attempt = 0;
  /** Ticks since healing, as of the last {@linkcode tick}. */
  ticks = 0;

  constructor(host: LivenessHost, limitTicks: number) {
    this.#host = host;
    this.#limitTicks = limitTicks;
  }

  /** Notes that some node applied `value` at `index`. */
  onApplied(value: string, index: number): void {
    if (value === this.#value && this.#index === 0) this.#index = index;
  }

  /**
   * One tick of the phase, `ticks` after healing. Returns true once done;
   * throws a `liveness` violation past the bound.
   */
  tick(ticks: number): boolean {
    this.ticks = ticks;
    if (ticks > this.#limitTicks) {
      const last = this.#value
        ? ` (last attempt ${this.#value}, index ${this.#index || "none"})`
        : "";
      throw new InvariantViolation(
        "liveness",
        `no fresh write applied by every live member ${this.#limitTicks} ticks after healing${last}`,
      );
    }
    const h = this.#host;
    const leader = h.leader();
    if (!leader) return false;
    if (this.#index > 0) {
      // A late forwarded write may sit after the fresh one: wait for it too.
      const need = Math.max(this.#index, h.acked.maxAckedIndex);
      return h.liveMembers().every((n) => n.applied >= need);
    }
    if (ticks - this.#proposedAt >= RETRY_TICKS) {
      this.#value = `vlive${++this.#attempt}`;
      this.#proposedAt = ticks;
      h.propose(leader, this.#value);
    }
    return false;
  }
}

/**
 * The client oracle: every write RaftNode acknowledged is in the log at its
 * index, and every member of `members` applied it and holds it, or a later
 * write of its key, in its key-value store.
 */
export function checkAcknowledgedWrites(
  members: readonly SimNode[],
  inv: Invariants,
): void {
  for (const w of inv.acked.values()) {
    const at = inv.appliedAt(w.index);
    if (at !== `put ${w.key}=${w.value}`) {
      throw new InvariantViolation(
        "acknowledged write lost",
        `write ${w.key}=${w.value}, acknowledged at index ${w.index}, is not what was applied there (${
          at ?? "nothing"
        })`,
      );
    }
  }
  for (const n of members) {
    if (n.applied < inv.maxAckedIndex) {
      throw new InvariantViolation(
        "acknowledged write lost",
        `node ${n.id} applied ${n.applied}, below the acknowledged write at ${inv.maxAckedIndex}`,
      );
    }
    for (const [key, index] of inv.ackedIndexes()) {
      const got = n.sm!.store.get(key);
      if ((got?.index ?? 0) < index) {
        throw new InvariantViolation(
          "acknowledged write lost",
          `node ${n.id} holds ${key} from the write at ${
            got?.index ?? "none"
          }; the write at ${index} was acknowledged`,
        );
      }
    }
  }
}
