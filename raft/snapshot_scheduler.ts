/**
 * When the node snapshots its state, and the writing of it off the Ready
 * loop: after a number of applied entries the state is encoded at once (it
 * must match the applied index) and the file, its fsync and the WAL marker
 * follow in the background, one snapshot at a time.
 *
 * @module
 */

import { type Logger, RaftKvError, type RawNode } from "./core/mod.ts";
import type { Members } from "./members.ts";
import type { NodeStorage, StateMachine } from "./node.ts";
import type { RaftMetrics } from "./raft_metrics.ts";
import type { BackgroundWork } from "./background_work.ts";
import { encodeSnapshotDataFrom } from "./snapshot_data.ts";

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
  /** Take a snapshot after this many applied entries. */
  entries: number;
  /** The node's applied index. */
  applied(): number;
  /** Whether the node stopped (a failure then is the shutdown's doing). */
  stopped(): boolean;
  /** Stops the node on a failed snapshot. */
  fail(e: unknown): void;
}

/**
 * Counts applied entries and takes a snapshot once enough were applied
 * since the last one, without holding up the Ready loop.
 */
export class SnapshotScheduler {
  readonly #o: SnapshotSchedulerOptions;
  #appliedSinceSnapshot = 0;
  /** Set while a snapshot is being written (one at a time). */
  #snapshotting = false;

  constructor(o: SnapshotSchedulerOptions) {
    this.#o = o;
  }

  /** Counts one applied entry. */
  entryApplied(): void {
    this.#appliedSinceSnapshot++;
  }

  /** The state was replaced by a snapshot: the count starts afresh. */
  restored(): void {
    this.#appliedSinceSnapshot = 0;
  }

  /**
   * Starts a snapshot when enough entries were applied since the last one
   * and none is being written; returns at once. A failure to write it
   * stops the node (through `fail`), unless the node stopped already.
   */
  maybeStart(): void {
    if (
      this.#appliedSinceSnapshot >= this.#o.entries && !this.#snapshotting
    ) {
      this.#startSnapshot();
    }
  }

  /**
   * Takes a snapshot without holding up the Ready loop: the state is
   * encoded now (it must match the applied index), and the file write, its
   * fsync and the WAL marker run in the background, queued in the storage
   * with the next saves, so heartbeats keep going out meanwhile.
   */
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
    const data = encodeSnapshotDataFrom(o.members.image(), o.stateMachine);
    this.#appliedSinceSnapshot = 0;
    await o.background.io(o.storage.createSnapshot({ meta, data }));
    o.metrics.snapshotsTaken.inc();
    o.metrics.snapshotDuration.observe((o.now() - started) / 1000);
    o.logger.info("snapshot taken", {
      index: meta.index,
      bytes: data.byteLength,
    });
  }
}
