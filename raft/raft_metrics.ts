/**
 * The metrics the Raft runtime records (node loop, disk storage, peer
 * transport), registered once on a shared {@linkcode Registry}. Gauges that
 * are a plain read of the node's status (term, role, indexes, WAL size) are
 * not here: `/metrics` sets them from the status at scrape time
 * (http/api/metrics_routes.ts). docs/METRICS.md lists every metric.
 *
 * @module
 */

import {
  type Counter,
  DURATION_BUCKETS,
  exponentialBuckets,
  type Family,
  type Histogram,
  Registry,
} from "./metrics.ts";

/** Buckets of applying one entry to the state machine: 10 µs to ~1.3 s. */
export const APPLY_BUCKETS: readonly number[] = exponentialBuckets(
  0.00001,
  2,
  18,
);

/** The runtime's metrics; every member is ready to record into. */
export class RaftMetrics {
  /** The registry they are rendered from. */
  readonly registry: Registry;
  /** Times this node saw a new leader (not counting "no leader"). */
  readonly leaderChanges: Counter;
  /** Proposals made on this node that were committed and applied here. */
  readonly proposalsCommitted: Counter;
  /**
   * Proposals known not applied: refused (no leader, transfer, limits) or
   * left dead by a leader change until their caller gave up.
   */
  readonly proposalsDropped: Counter;
  /** Proposals whose caller stopped waiting (deadline) before they applied. */
  readonly proposalsTimedOut: Counter;
  /** Proposals proposed again after a leader change left them dead. */
  readonly proposalsRetried: Counter;
  /** Entries applied as no-ops: a copy that reached the log in another term. */
  readonly staleEntriesSkipped: Counter;
  /** Seconds to apply one committed command to the state machine. */
  readonly applyDuration: Histogram;
  /** Snapshots this node took of its own state. */
  readonly snapshotsTaken: Counter;
  /** Snapshots received from a leader and applied. */
  readonly snapshotsApplied: Counter;
  /** Seconds to encode and durably save a snapshot this node took. */
  readonly snapshotDuration: Histogram;
  /** Seconds of one synced WAL append (write + fdatasync). */
  readonly walFsyncDuration: Histogram;
  /** Synced WAL appends slower than the warning threshold. */
  readonly walSlowFsyncs: Counter;
  /** Heartbeats this leader sent later than twice the heartbeat interval. */
  readonly heartbeatsLate: Counter;
  /** Sends to a peer that failed (unreachable, timed out, refused, lost stream). */
  readonly peerSendFailures: Family<Counter>;
  /** Messages handed to the network for a peer. */
  readonly peerMessagesSent: Family<Counter>;
  /** Messages for a peer dropped (queue full, peer down, unknown URL). */
  readonly peerMessagesDropped: Family<Counter>;

  /** Registers every metric on `registry` (a private one by default). */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const r = registry;
    this.leaderChanges = r.counter(
      "raftkv_leader_changes_total",
      "Times this node saw a new leader.",
    );
    this.proposalsCommitted = r.counter(
      "raftkv_proposals_committed_total",
      "Proposals made on this node that were committed and applied.",
    );
    this.proposalsDropped = r.counter(
      "raftkv_proposals_dropped_total",
      "Proposals refused before replication (no leader, transfer, limits).",
    );
    this.proposalsTimedOut = r.counter(
      "raftkv_proposals_timed_out_total",
      "Proposals whose caller stopped waiting before they applied (outcome unknown).",
    );
    this.proposalsRetried = r.counter(
      "raftkv_proposals_retried_total",
      "Proposals proposed again (same request id) after a leader change made every earlier copy unable to commit.",
    );
    this.staleEntriesSkipped = r.counter(
      "raftkv_stale_entries_skipped_total",
      "Entries applied as no-ops: a proposal's copy that reached the log in another term than its proposer's.",
    );
    this.applyDuration = r.histogram(
      "raftkv_apply_duration_seconds",
      "Time to apply one committed command to the state machine.",
      APPLY_BUCKETS,
    );
    this.snapshotsTaken = r.counter(
      "raftkv_snapshots_taken_total",
      "Snapshots this node took of its own state.",
    );
    this.snapshotsApplied = r.counter(
      "raftkv_snapshots_applied_total",
      "Snapshots received from a leader and applied.",
    );
    this.snapshotDuration = r.histogram(
      "raftkv_snapshot_duration_seconds",
      "Time to encode and durably save a snapshot this node took.",
      DURATION_BUCKETS,
    );
    this.walFsyncDuration = r.histogram(
      "raftkv_wal_fsync_duration_seconds",
      "Time of one synced WAL append (write and fdatasync).",
      DURATION_BUCKETS,
    );
    this.walSlowFsyncs = r.counter(
      "raftkv_wal_slow_fsyncs_total",
      "Synced WAL appends slower than the warning threshold (100 ms).",
    );
    this.heartbeatsLate = r.counter(
      "raftkv_leader_heartbeats_late_total",
      "Heartbeats this leader sent later than twice the heartbeat interval.",
    );
    this.peerSendFailures = r.counterFamily(
      "raftkv_peer_send_failures_total",
      "Sends to a peer that failed (unreachable, timed out, refused, stream lost).",
      ["peer"],
    );
    this.peerMessagesSent = r.counterFamily(
      "raftkv_peer_messages_sent_total",
      "Raft messages handed to the network for a peer.",
      ["peer"],
    );
    this.peerMessagesDropped = r.counterFamily(
      "raftkv_peer_messages_dropped_total",
      "Raft messages for a peer dropped (queue full, peer down, no URL).",
      ["peer"],
    );
  }

  /**
   * Copies the transport's per-peer totals (it keeps them itself, so its
   * hot path pays nothing for metrics). Call it from a collector.
   */
  setPeerTotals(
    totals: ReadonlyMap<
      number,
      { sent: number; failed: number; dropped: number }
    >,
  ): void {
    for (const [peer, t] of totals) {
      const label = String(peer);
      this.peerSendFailures.labels(label).value = t.failed;
      this.peerMessagesSent.labels(label).value = t.sent;
      this.peerMessagesDropped.labels(label).value = t.dropped;
    }
  }
}
