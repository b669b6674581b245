/**
 * Runs a range of seeds and aggregates their figures; shared by the
 * command-line runner (run.ts) and the CI test (sim_test.ts).
 *
 * @module
 */

import { type WatchCounts, zeroWatchCounts } from "./sim_watchers.ts";
import { type LeaseCounts, zeroLeaseCounts } from "./sim_leases.ts";
import { type TxnCounts, zeroTxnCounts } from "./sim_txns.ts";
import { type LockCounts, zeroLockCounts } from "./sim_locks.ts";
import { type SendCounts, zeroSendCounts } from "./sim_snapshot_sends.ts";
import {
  type SimFailure,
  SimFailure as Failure,
  type SimOptions,
  type SimResult,
  Simulation,
} from "./sim_cluster.ts";
import {
  addDiskCounts,
  type DiskCounts,
  zeroDiskCounts,
} from "./sim_counting_fs.ts";

/** An inclusive range of seeds. */
export interface SeedRange {
  first: number;
  last: number;
}

/** Parses `N` or `A..B` (inclusive). */
export function parseSeedRange(spec: string): SeedRange {
  const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(spec);
  if (!m) throw new Error(`bad seed range "${spec}": expected N or A..B`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (last < first) throw new Error(`bad seed range "${spec}": empty`);
  return { first, last };
}

/** Totals over the seeds of a range. */
export class Summary {
  readonly failures: SimFailure[] = [];
  seeds = 0;
  steps = 0;
  ticks = 0;
  committed = 0;
  acked = 0;
  readsServed = 0;
  crashes = 0;
  tornWrites = 0;
  writesCut = 0;
  recoveryCrashes = 0;
  readonly disk: DiskCounts = zeroDiskCounts();
  added = 0;
  promoted = 0;
  removed = 0;
  transfers = 0;
  snapshotsSent = 0;
  snapshotReads = 0;
  snapshotsTaken = 0;
  leaderWriteCrashes = 0;
  retryCrashes = 0;
  backgroundSnapshotCrashes = 0;
  receivedSnapshotCrashes = 0;
  receiveCrashes = 0;
  snapshotReadCrashes = 0;
  snapBytes = 0;
  walBytes = 0;
  worstAmortization = 0;
  messages = 0;
  maxLivenessTicks = 0;
  maxTerm = 0;
  readonly writeAnswers = new Map<string, number>();
  proposalsRetried = 0;
  staleCopiesSkipped = 0;
  readonly watch: WatchCounts = zeroWatchCounts();
  readonly leases: LeaseCounts = zeroLeaseCounts();
  readonly txns: TxnCounts = zeroTxnCounts();
  readonly locks: LockCounts = zeroLockCounts();
  readonly sends: SendCounts = zeroSendCounts();

  /** Adds one passing run. */
  add(r: SimResult): void {
    this.seeds++;
    this.steps += r.steps;
    this.ticks += r.ticks;
    this.committed += r.committed;
    this.acked += r.acked;
    this.readsServed += r.readsServed;
    this.crashes += r.crashes;
    this.tornWrites += r.tornWrites;
    this.writesCut += r.writesCut;
    this.recoveryCrashes += r.recoveryCrashes;
    addDiskCounts(this.disk, r.disk);
    this.added += r.added;
    this.promoted += r.promoted;
    this.removed += r.removed;
    this.transfers += r.transfers;
    this.snapshotsSent += r.snapshotsSent;
    this.snapshotReads += r.snapshotReads;
    this.snapshotsTaken += r.snapshotsTaken;
    this.leaderWriteCrashes += r.leaderWriteCrashes;
    this.retryCrashes += r.retryCrashes;
    this.backgroundSnapshotCrashes += r.backgroundSnapshotCrashes;
    this.receivedSnapshotCrashes += r.receivedSnapshotCrashes;
    this.receiveCrashes += r.receiveCrashes;
    this.snapshotReadCrashes += r.snapshotReadCrashes;
    this.snapBytes += r.amortization.snapBytes;
    this.walBytes += r.amortization.walBytes;
    this.worstAmortization = Math.max(
      this.worstAmortization,
      r.amortization.worst,
    );
    this.messages += r.messages;
    this.maxLivenessTicks = Math.max(this.maxLivenessTicks, r.livenessTicks);
    this.maxTerm = Math.max(this.maxTerm, r.maxTerm);
    for (const [kind, n] of r.writeAnswers) {
      this.writeAnswers.set(kind, (this.writeAnswers.get(kind) ?? 0) + n);
    }
    this.proposalsRetried += r.proposalsRetried;
    this.staleCopiesSkipped += r.staleCopiesSkipped;
    for (const k of Object.keys(this.watch) as (keyof WatchCounts)[]) {
      this.watch[k] += r.watch[k];
    }
    for (const k of Object.keys(this.leases) as (keyof LeaseCounts)[]) {
      this.leases[k] += r.leases[k];
    }
    for (const k of Object.keys(this.locks) as (keyof LockCounts)[]) {
      this.locks[k] += r.locks[k];
    }
    for (const k of Object.keys(this.txns) as (keyof TxnCounts)[]) {
      this.txns[k] += r.txns[k];
    }
    for (const k of Object.keys(this.sends) as (keyof SendCounts)[]) {
      this.sends[k] += r.sends[k];
    }
  }

  /** A few lines for humans. */
  describe(seconds: number): string {
    const total = this.seeds + this.failures.length;
    const byRule = new Map<string, number[]>();
    for (const f of this.failures) {
      byRule.set(f.invariant, [...(byRule.get(f.invariant) ?? []), f.seed]);
    }
    const d = this.disk;
    const w = this.watch;
    const sd = this.sends;
    const lines = [
      `${total} seeds in ${
        seconds.toFixed(1)
      }s: ${this.seeds} passed, ${this.failures.length} failed`,
      `  passing runs: ${this.steps} steps, ${this.ticks} ticks, ${this.messages} messages, ` +
      `${this.committed} entries committed, ${this.acked} writes acknowledged, ${this.readsServed} reads served,`,
      `  ${this.crashes} crashes (${this.tornWrites} during a write, ${this.writesCut} of those writes cut short; ` +
      `${this.recoveryCrashes} more during recovery; ${this.leaderWriteCrashes} of a leader inside a write ` +
      `it had already sent, ${this.retryCrashes} inside a membership retry),`,
      `  ${this.snapshotsTaken} snapshots taken in the background, ${this.snapshotsSent} sent ` +
      `(${this.snapshotReads} read back from their file), ` +
      `${this.transfers} leadership transfers, highest term ${this.maxTerm},`,
      `  crashes inside a snapshot: ${this.backgroundSnapshotCrashes} in a background snapshot's write, ` +
      `${this.receivedSnapshotCrashes} in a received snapshot's, ${this.receiveCrashes} in the middle of a transfer, ` +
      `${this.snapshotReadCrashes} reading one back to send; ` +
      `streamed from their file: ${sd.streamed} transfers, ${sd.chunks} chunks, ${sd.completed} completed and checked, ` +
      `${sd.failed} failed, ${sd.senderCrashes} senders and ${sd.receiverCrashes} receivers lost power in the middle, ` +
      `${sd.replacedDuring} completed while the sender wrote a newer snapshot, ${sd.prunedDuring} while it pruned old files; ` +
      `snapshot amortization: ${this.snapBytes} bytes of the nodes' own snapshots for ${this.walBytes} WAL bytes, ` +
      `at most ${
        (100 * this.worstAmortization).toFixed(0)
      }% of a node's bound used`,
      `  membership: ${this.added} learners added, ${this.promoted} promoted, ${this.removed} members removed; ` +
      `slowest recovery after healing ${this.maxLivenessTicks} ticks`,
      `  disk: ${d.segmentCuts} segments cut, ${d.segmentsReleased} released, ` +
      `${d.snapshotFiles} snapshot files written, ${d.snapshotsRemoved} removed, ` +
      `${d.tailsCut} torn WAL tails cut (${d.tailsSetAside} kept in a side file)`,
      `  writes answered: ${
        [...this.writeAnswers].sort(([a], [b]) => a < b ? -1 : 1)
          .map(([kind, n]) => `${n} ${kind}`).join(", ")
      }; ${this.proposalsRetried} proposed again after a leader change, ` +
      `${this.staleCopiesSkipped} stale copies skipped`,
      `  watch: ${w.watchers} watchers opened, ${w.messages} messages (${w.events} events) and ` +
      `${w.progress} progress ids checked; ${w.cancelledSlow} cancelled as slow, ` +
      `${w.cancelledCompacted} as compacted, ${w.resumedAfterCrash} resumed after their node crashed, ` +
      `${w.compacted410} answered 410`,
      `  leases: ${this.leases.granted} granted, ${this.leases.keepalivesOk} keepalives answered OK ` +
      `(${this.leases.forwarded} forwarded to the leader), ${this.leases.revoked} revoked, ` +
      `${this.leases.abandoned} abandoned by their client`,
      `  transactions: ${this.txns.sent} sent, ${this.txns.succeeded} succeeded, ${this.txns.failed} failed their compare, ` +
      `${this.txns.checked} random ones acknowledged and checked against the model (${this.txns.replayed} entries replayed); ` +
      `locks: ${this.locks.holders} holders, ${this.locks.granted} requests granted, ${this.locks.gaveUp} gave up when their wait ran out, ` +
      `${this.locks.released} releases`,
    ];
    for (const [rule, seeds] of byRule) {
      lines.push(
        `  FAILED ${rule}: ${seeds.length} seeds, e.g. ${
          seeds.slice(0, 10).join(", ")
        }`,
      );
    }
    return lines.join("\n");
  }
}

/** Callbacks of {@linkcode runSeeds}. */
export interface RunHooks {
  trace?: ((line: string) => void) | undefined;
  /** Called with each failure and its rank (1 for the first). */
  onFailure?: (f: SimFailure, nth: number) => void;
  onProgress?: (done: number, failed: number) => void;
  /** Stops at the first failure. */
  stopOnFailure?: boolean;
  /** Extra options for every run (tests). */
  options?: Omit<SimOptions, "seed" | "trace">;
}

/** Runs every seed of `range` and returns the totals. */
export async function runSeeds(
  range: SeedRange,
  hooks: RunHooks = {},
): Promise<Summary> {
  const summary = new Summary();
  for (let seed = range.first; seed <= range.last; seed++) {
    try {
      const opts: SimOptions = { ...hooks.options, seed };
      if (hooks.trace) opts.trace = hooks.trace;
      summary.add(await new Simulation(opts).run());
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      summary.failures.push(e);
      hooks.onFailure?.(e, summary.failures.length);
      if (hooks.stopOnFailure) break;
    }
    hooks.onProgress?.(seed - range.first + 1, summary.failures.length);
  }
  return summary;
}
