/**
 * When the node snapshots its state, and the writing of it off the Ready
 * loop.
 *
 * When (amortized, the Raft dissertation's §5.1 rule; docs/WAL.md
 * "Snapshot schedule"): a snapshot is due once the log written since the
 * last one reaches `logPercent` % of the last snapshot's size, and at
 * least `entries` entries were applied since it; or, whatever the ratio,
 * once `maxLogBytes` were logged since it, so the log a restart replays
 * stays bounded. So the bytes spent on snapshots stay within a constant
 * factor of the bytes logged, whatever the size of the state. Both
 * thresholds (`entries`, `logPercent`) are stretched by a factor drawn
 * after every snapshot from [1, 1 + spreadPercent/100), so that nodes
 * which apply the same entries do not all snapshot at the same index and
 * contend for the machine at once; the stretch only lengthens intervals,
 * so the bound holds as stated.
 *
 * How: the state machine hands out a point-in-time view in O(1) at the
 * applied index (with the metadata of that index, in the same turn); the
 * view is encoded slice by slice while the file is written, with the event
 * loop free between slices, and the fsync and the WAL marker follow, one
 * snapshot at a time. A state machine without views is encoded at once.
 *
 * @module
 */

import {
  type Logger,
  RaftKvError,
  type RawNode,
  type Rng,
} from "./core/mod.ts";
import type { Members } from "./members.ts";
import type { NodeStorage, StateMachine } from "./node.ts";
import type { RaftMetrics } from "./raft_metrics.ts";
import type { BackgroundWork } from "./background_work.ts";
import { encodeSnapshotDataFrom, snapshotDataBody } from "./snapshot_data.ts";

/** What {@linkcode SnapshotScheduler} needs of the node it works for. */
export interface SnapshotSchedulerOptions {
  /** The core: the metadata of a snapshot at the applied index. */
  raw: Pick<RawNode, "snapshotMeta">;
  storage: NodeStorage;
  stateMachine: StateMachine;
  members: Members;
  logger: Logger;
  metrics: RaftMetrics;
  /** Where the node counts its work off the Ready loop. */
  background: BackgroundWork;
  /** The node's monotonic clock in ms. */
  now: () => number;
  /** The fewest applied entries between two snapshots. */
  entries: number;
  /** Log bytes since the last snapshot, in % of its size, that make one due. */
  logPercent: number;
  /** The most, in %, by which both thresholds are stretched (0: none). */
  spreadPercent: number;
  /** Draws each snapshot's stretch: seeded per node, so nodes differ. */
  spreadRng: Rng;
  /** Log bytes since the last snapshot that make one due whatever its size. */
  maxLogBytes: number;
  /** The size of the snapshot the node started from (0: none). */
  lastSnapshotBytes: number;
  /** The node's applied index. */
  applied(): number;
  /** Whether the node stopped (a failure then is the shutdown's doing). */
  stopped(): boolean;
  /** Stops the node on a failed snapshot. */
  fail(e: unknown): void;
}

/**
 * Counts applied entries and their bytes, and takes a snapshot once one is
 * due (see the module doc), without holding up the Ready loop.
 */
export class SnapshotScheduler {
  readonly #o: SnapshotSchedulerOptions;
  #appliedSinceSnapshot = 0;
  #logBytesSinceSnapshot = 0;
  #lastSnapshotBytes: number;
  /** The stretch of both thresholds until the next snapshot, in ‰ over 1. */
  #stretchPermille = 0;
  /** Set while a snapshot is being written (one at a time). */
  #snapshotting = false;

  constructor(o: SnapshotSchedulerOptions) {
    this.#o = o;
    this.#lastSnapshotBytes = o.lastSnapshotBytes;
    this.#drawStretch();
  }

  /** Draws the stretch of the next interval: 0 to spreadPercent %. */
  #drawStretch(): void {
    this.#stretchPermille = this.#o.spreadRng.intn(
      this.#o.spreadPercent * 10 + 1,
    );
  }

  /**
   * Counts one applied entry of `payloadBytes` bytes. The log bytes the
   * rule counts are the entries' payloads: the WAL holds them plus its
   * framing, so the WAL bytes are never fewer.
   */
  entryApplied(payloadBytes: number): void {
    this.#appliedSinceSnapshot++;
    this.#logBytesSinceSnapshot += payloadBytes;
  }

  /** The state was replaced by a snapshot of `bytes` bytes: counts start afresh. */
  restored(bytes: number): void {
    this.#appliedSinceSnapshot = 0;
    this.#logBytesSinceSnapshot = 0;
    this.#lastSnapshotBytes = bytes;
    this.#drawStretch();
  }

  /** Whether a snapshot is due by the rule of the module doc. */
  due(): boolean {
    const o = this.#o;
    const logged = this.#logBytesSinceSnapshot;
    if (this.#appliedSinceSnapshot === 0) return false;
    if (logged >= o.maxLogBytes) return true;
    const stretch = 1000 + this.#stretchPermille;
    return this.#appliedSinceSnapshot * 1000 >= o.entries * stretch &&
      logged * 100_000 >= this.#lastSnapshotBytes * o.logPercent * stretch;
  }

  /**
   * Starts a snapshot when one is due and none is being written; returns
   * at once. A failure to write it stops the node (through `fail`), unless
   * the node stopped already.
   */
  maybeStart(): void {
    if (!this.#snapshotting && this.due()) this.#startSnapshot();
  }

  #startSnapshot(): void {
    this.#snapshotting = true;
    this.#o.background.run(
      this.#takeSnapshot()
        .catch((e) => {
          if (this.#o.stopped()) return; // Storage closed under it at shutdown.
          this.#o.fail(e);
        })
        .finally(() => this.#snapshotting = false),
    );
  }

  async #takeSnapshot(): Promise<void> {
    const o = this.#o;
    let meta;
    try {
      meta = o.raw.snapshotMeta(o.applied());
    } catch (e) {
      // A leader's snapshot replaced the log meanwhile: nothing to take.
      if (e instanceof RaftKvError && e.code === "compacted") return;
      throw e;
    }
    const started = o.now();
    // The view and the metadata belong to the same applied index: both are
    // taken in this turn, before anything else is applied.
    const view = o.stateMachine.view?.();
    const createFrom = o.storage.createSnapshotFrom?.bind(o.storage);
    const members = o.members.image();
    this.#appliedSinceSnapshot = 0;
    this.#logBytesSinceSnapshot = 0;
    this.#drawStretch();
    let bytes: number;
    if (view && createFrom) {
      try {
        const body = snapshotDataBody(members, view);
        bytes = body.byteLength;
        await o.background.io(createFrom(meta, body));
      } finally {
        view.release();
      }
    } else {
      view?.release();
      const data = encodeSnapshotDataFrom(members, o.stateMachine);
      bytes = data.byteLength;
      await o.background.io(o.storage.createSnapshot({ meta, data }));
    }
    this.#lastSnapshotBytes = bytes;
    o.metrics.snapshotsTaken.inc();
    o.metrics.snapshotDuration.observe((o.now() - started) / 1000);
    o.logger.info("snapshot taken", { index: meta.index, bytes });
  }
}
