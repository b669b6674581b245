/**
 * The tail of the log that is not on stable storage yet: entries appended
 * since the last `Ready` was persisted, and a snapshot received from the
 * leader. Reads see it so that a node acts on what it has accepted even
 * before the write completes.
 *
 * @module
 */

import type { Entry, Snapshot } from "./types.ts";
import { AssertionError } from "./errors.ts";

/** Entries and a snapshot waiting to be persisted. */
export class Unstable {
  /** A received snapshot, not yet persisted. */
  snapshot: Snapshot | undefined;
  /** Entries not yet persisted; `entries[i]` has index `offset + i`. */
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** The first index, known only when a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }

  /** The last index, when this holds entries or a snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  /** The term of entry `i`, when this holds it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot?.meta.index === i
        ? this.snapshot.meta.term
        : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Entries up to index `i` of term `t` are durable now. */
  stableTo(i: number, t: number): void {
    if (this.maybeTerm(i) !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  /** The snapshot at index `i` is durable now. */
  stableSnapTo(i: number): void {
    if (this.snapshot?.meta.index === i) this.snapshot = undefined;
  }

  /** Replaces everything with a snapshot from the leader. */
  restore(snap: Snapshot): void {
    this.offset = snap.meta.index + 1;
    this.entries = [];
    this.snapshot = snap;
  }

  /**
   * Appends `ents`, first dropping any entries at or after `ents[0].index`
   * (a conflicting tail). Appends in place: callers that hand `entries`
   * out must copy them.
   */
  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  /** Entries in `[lo, hi)`, which must lie within this tail. */
  slice(lo: number, hi: number): Entry[] {
    // The message is built only on failure: this runs for every send.
    if (
      !(lo >= this.offset && hi <= this.offset + this.entries.length &&
        lo <= hi)
    ) {
      throw new AssertionError(
        `unstable slice [${lo},${hi}) out of [${this.offset},${
          this.offset + this.entries.length
        })`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
