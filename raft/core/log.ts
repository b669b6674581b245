/**
 * The replicated log as one node sees it: stable storage plus the unstable
 * tail, with the commit and apply cursors.
 *
 * Invariant: snapshot index <= applied <= applying <= committed <= lastIndex.
 *
 * @module
 */

import type { Entry, Snapshot } from "./types.ts";
import type { Storage } from "./storage.ts";
import { limitBytes } from "./storage.ts";
import { Unstable } from "./log_unstable.ts";
import { AssertionError, CompactedError, UnavailableError } from "./errors.ts";

/** The log of one node. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** The highest index known to be committed (§5.3). */
  committed: number;
  /** The highest index handed to the application in a Ready. */
  applying: number;
  /** The highest index the application has applied (acknowledged). */
  applied: number;

  constructor(storage: Storage, applied: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = Math.max(
      first - 1,
      storage.initialState().hardState.commit,
    );
    const floor = first - 1;
    this.applied = Math.min(Math.max(applied, floor), this.committed);
    this.applying = this.applied;
  }

  /** The first index still held in the log. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** The index of the last entry. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /**
   * The term of entry `i`, or undefined when `i` is compacted away or not
   * in the log yet. Index `firstIndex() - 1` answers from the snapshot.
   */
  term(i: number): number | undefined {
    const u = this.unstable.maybeTerm(i);
    if (u !== undefined) return u;
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) {
        return undefined;
      }
      throw e;
    }
  }

  /** Whether the entry at `i` has term `t` (the Log Matching check, §5.3). */
  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /**
   * Whether a candidate whose log ends at (`lastIndex`, `lastTerm`) is at
   * least as up to date as this log (§5.4.1).
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm ||
      (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The index of the first entry of `ents` that is missing or has another
   * term here, or 0 when all are present.
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Walks back from `index` to the last entry whose term is at most `term`;
   * used to skip a whole conflicting term in one round trip. Returns the
   * index found and its term (0 when unknown).
   */
  findConflictByTerm(
    index: number,
    term: number,
  ): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries to the unstable tail; returns the new last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    // The checks on this path build their message only when they fail:
    // they run for every append and send.
    if (ents[0]!.index - 1 < this.committed) {
      throw new AssertionError(
        `append at ${
          ents[0]!.index
        } would overwrite committed ${this.committed}`,
      );
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Entries in `[lo, hi)` of at most `maxBytes` (at least one). Throws
   * {@linkcode CompactedError} when `lo` is compacted away.
   */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) {
      throw new AssertionError(
        `slice [${lo},${hi}) beyond last ${this.lastIndex()}`,
      );
    }
    const uOffset = this.unstable.offset;
    let ents: Entry[] | undefined;
    if (lo < uOffset) {
      ents = this.storage.entries(lo, Math.min(hi, uOffset), maxBytes);
      if (ents.length < Math.min(hi, uOffset) - lo) return ents;
    }
    if (hi > uOffset) {
      const tail = this.unstable.slice(Math.max(lo, uOffset), hi);
      ents = ents !== undefined && ents.length > 0 ? ents.concat(tail) : tail;
    }
    return limitBytes(ents ?? [], maxBytes);
  }

  /** Moves commit forward to `i` (never back). */
  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) {
      throw new AssertionError(
        `commit ${i} beyond last index ${this.lastIndex()}`,
      );
    }
    this.committed = i;
  }

  /** Whether committed entries wait to be handed to the application. */
  hasNextCommittedEnts(): boolean {
    return this.committed > this.applying &&
      this.unstable.snapshot === undefined;
  }

  /** The committed entries not yet handed out, at most `maxBytes`. */
  nextCommittedEnts(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** The application received entries up to `i` to apply. */
  applyingTo(i: number): void {
    this.applying = Math.max(this.applying, i);
  }

  /** The application applied everything up to `i`. */
  appliedTo(i: number): void {
    if (i > this.committed) {
      throw new AssertionError(
        `applied ${i} beyond committed ${this.committed}`,
      );
    }
    this.applied = Math.max(this.applied, i);
    this.applying = Math.max(this.applying, this.applied);
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(snap: Snapshot): void {
    this.committed = snap.meta.index;
    this.unstable.restore(snap);
  }

  /** The newest snapshot: a pending one, or the one in storage. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
