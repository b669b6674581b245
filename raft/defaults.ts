/**
 * The one table of raftkv's tunables: each one's default and the range a
 * flag may set it to. The flag parser and `--help` (http/serving/config.ts),
 * {@linkcode RaftNode} and the HTTP app all read their defaults here, so a
 * default is changed in this file only (the tick counts are the pure
 * core's own defaults, which may not import this file). docs/API.md lists
 * them for users.
 *
 * @module
 */

/** One tunable: the value used when nothing sets it, and its bounds. */
export interface Tunable {
  /** The default. */
  readonly value: number;
  /** The smallest value a flag may set. */
  readonly min: number;
  /** The largest value a flag may set. */
  readonly max: number;
}

/** The names of the tunables; each is also the field of the node's config. */
export type TunableName =
  | "snapshotEntries"
  | "snapshotLogPercent"
  | "snapshotSpreadPercent"
  | "snapshotMaxLogBytes"
  | "snapshotChunkBytes"
  | "maxSnapshotBytes"
  | "tickMs"
  | "electionTicks"
  | "heartbeatTicks"
  | "maxValueBytes"
  | "requestTimeoutMs"
  | "maxPendingProposals"
  | "maxUncommittedBytes"
  | "bodyTimeoutMs"
  | "headerTimeoutMs"
  | "idleTimeoutMs"
  | "watchHistory"
  | "watchBufferBytes"
  | "watchProgressMs"
  | "watchCoalesceMs"
  | "watchCoalesceMaxMs";

import { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS } from "./core/mod.ts";

const MiB = 1024 * 1024;
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const HOUR_MS = 3_600_000;

/**
 * Every tunable's default and bounds. The unit is the name's suffix: `Ms`
 * milliseconds, `Bytes` bytes, `Ticks` Raft ticks, `Entries` log entries,
 * `Percent` per cent.
 * A timeout whose minimum is 0 is off at 0.
 */
export const DEFAULTS: { readonly [name in TunableName]: Tunable } = {
  /** The fewest applied entries between two snapshots. */
  snapshotEntries: { value: 10_000, min: 1, max: UNBOUNDED },
  /**
   * A snapshot is due once the log written since the last one reaches this
   * % of that snapshot's size (docs/WAL.md "Snapshot schedule").
   */
  snapshotLogPercent: { value: 100, min: 1, max: 1_000_000 },
  /**
   * Each node stretches both snapshot thresholds by a factor drawn afresh
   * after every snapshot from [1, 1 + this/100), from a generator seeded
   * by its id, so the nodes of a cluster do not all snapshot at the same
   * index (docs/WAL.md "Snapshot schedule"); 0 snapshots every node at the
   * same point.
   */
  snapshotSpreadPercent: { value: 50, min: 0, max: 100 },
  /**
   * A snapshot is due once this many log bytes were written since the
   * last one, whatever its size: bounds the log a restart replays.
   */
  snapshotMaxLogBytes: { value: 256 * MiB, min: 1024, max: UNBOUNDED },
  /** Snapshots go to peers in chunks of at most this many bytes. */
  snapshotChunkBytes: { value: MiB, min: 1024, max: 256 * MiB },
  /**
   * The most bytes of snapshot transfers a node receives at once, and so
   * the largest snapshot it accepts (413 beyond). The whole store lives in
   * memory on every node and a transfer briefly holds its bytes twice
   * (chunks, then the joined body), so a larger snapshot would not fit a
   * node comfortably anyway; the bound is what a flood of chunks can cost
   * at most.
   */
  maxSnapshotBytes: { value: 2048 * MiB, min: MiB, max: UNBOUNDED },
  /** Milliseconds per Raft tick. */
  tickMs: { value: 100, min: 1, max: 60_000 },
  /** Election timeout in ticks (randomized in [n, 2n) by the core). */
  electionTicks: { value: DEFAULT_ELECTION_TICKS, min: 2, max: UNBOUNDED },
  /** Heartbeat interval in ticks. */
  heartbeatTicks: { value: DEFAULT_HEARTBEAT_TICKS, min: 1, max: UNBOUNDED },
  /** The largest value of a PUT (413 beyond). */
  maxValueBytes: { value: MiB, min: 1, max: 32 * MiB },
  /** How long a request waits for the cluster before 504. */
  requestTimeoutMs: { value: 5000, min: 1, max: 600_000 },
  /** Proposals waiting on a node before writes get 503. */
  maxPendingProposals: { value: 10_000, min: 1, max: UNBOUNDED },
  /** Uncommitted log bytes on the leader before writes get 503. */
  maxUncommittedBytes: { value: 64 * MiB, min: 1, max: UNBOUNDED },
  /** How long a client may take to send a request body (408 beyond). */
  bodyTimeoutMs: { value: 30_000, min: 1, max: HOUR_MS },
  /** Time to send a request header before 408 and close; 0: no limit. */
  headerTimeoutMs: { value: 0, min: 0, max: HOUR_MS },
  /** Time a keep-alive connection may sit idle before it closes; 0: none. */
  idleTimeoutMs: { value: 0, min: 0, max: HOUR_MS },
  /** Keep the watch history of at least this many last log entries (the
   * contract names the flag `--watch-history`, so no unit suffix). */
  watchHistory: { value: 100_000, min: 0, max: UNBOUNDED },
  /** A watch stream's buffer; a watcher that overflows it is cancelled. */
  watchBufferBytes: { value: MiB, min: 1024, max: 1024 * MiB },
  /** A watch stream sends a progress event after this many idle ms. */
  watchProgressMs: { value: 10_000, min: 10, max: HOUR_MS },
  /** Watch streams are woken at most once per this many ms: changes applied
   * meanwhile go out together (the most a change waits on a busy node). */
  watchCoalesceMs: { value: 10, min: 0, max: 1000 },
  /** While a node applies faster than `watchCoalesceMs`, its wake window
   * doubles up to this many ms (http/api/wake_coalescer.ts); a value at or
   * below `watchCoalesceMs` keeps the window fixed. */
  watchCoalesceMaxMs: { value: 80, min: 0, max: 1000 },
};
