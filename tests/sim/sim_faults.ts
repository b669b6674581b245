/**
 * The fault schedule of a run, on top of the network's own loss,
 * duplication, delay and partitions: random crashes (leaders more often),
 * crashes that cut a write short (torn writes: a Ready, including a
 * leader's whose appends already went out, a snapshot from the leader, a
 * background snapshot, a snapshot read back to send), crashes inside a
 * membership retry, new leaders cut off or
 * crashed soon after their election (short reigns leave the divergent logs
 * of Figure 8), and voters crashed right after granting a vote and
 * restarted while the election is still on.
 *
 * @module
 */

import type { NodeId } from "../../raft/core/mod.ts";
import type { SimConfig } from "./sim_config.ts";
import type { SimNetwork } from "./sim_network.ts";
import type { DiskOp, SimNode } from "./sim_node.ts";
import { describeBatch } from "./sim_events.ts";
import type { Invariants } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";
import type { FlapEvent, LifeEvent } from "./sim_events.ts";

/** What the fault schedule needs from the cluster. */
export interface FaultHost {
  readonly now: number;
  readonly phase: "faults" | "liveness";
  readonly config: SimConfig;
  readonly network: SimNetwork;
  readonly ids: readonly NodeId[];
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  readonly invariants: Invariants;
  readonly stats: {
    crashes: number;
    tornWrites: number;
    leaderWriteCrashes: number;
    retryCrashes: number;
    /** Crashes inside a background snapshot's write / a received snapshot's / a snapshot read back to send. */
    backgroundSnapshotCrashes: number;
    receivedSnapshotCrashes: number;
    snapshotReadCrashes: number;
  };
  leader(): SimNode | undefined;
  upNodes(): SimNode[];
  schedule(ev: FlapEvent | LifeEvent, at: number): void;
  note(text: string): void;
}

/** Injects crashes and targeted faults. */
export class Faults {
  readonly #host: FaultHost;
  readonly #rng: SimRng;

  constructor(host: FaultHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
  }

  /** One tick of the fault phase: partitions change, maybe a node crashes. */
  async tick(): Promise<void> {
    const h = this.#host, rng = this.#rng;
    const live = h.ids.filter((id) => h.nodes.get(id)!.state !== "stopped");
    const leader = h.leader();
    h.network.partitionTick(live, leader?.id);
    if (!rng.chance(h.config.crashRate)) return;
    const up = h.upNodes();
    if (up.length === 0) return;
    // Leaders crash more often than others: leader changes are where logs diverge.
    const n = leader && rng.chance(0.4) ? leader : rng.pick(up);
    await this.crash(n, rng.chance(h.config.tornRate));
  }

  /**
   * Crashes `n` and schedules its restart after `downMs` (default: drawn).
   * With `torn`, the power fails inside a write: the oldest one in its disk
   * queue (a Ready, a snapshot it took, a snapshot read back to send); when
   * the queue is empty, inside the next write it starts (the crash happens
   * then). A write cut short may still complete first.
   */
  async crash(n: SimNode, torn: boolean, downMs?: number): Promise<void> {
    const h = this.#host, rng = this.#rng;
    const down = downMs ?? rng.range(h.config.minDownMs, h.config.maxDownMs);
    if (torn && n.disk.length === 0) {
      n.crashInNextWrite = true;
      this.#armedDownMs.set(n.id, down);
      h.note(`node ${n.id} will lose power inside its next write`);
      return;
    }
    await this.#crashNow(n, torn);
    h.schedule({ kind: "restart", node: n.id }, h.now + down);
  }

  readonly #armedDownMs = new Map<NodeId, number>();

  async #crashNow(n: SimNode, torn: boolean): Promise<void> {
    const h = this.#host;
    h.stats.crashes++;
    const op = torn ? n.disk[0] : undefined;
    if (op && op.kind !== "load") {
      h.stats.tornWrites++;
      const done = op.kind === "save"
        ? await n.durable.persistTorn(op.batch)
        : await n.durable.snapshotTorn(op.snap);
      h.note(
        `node ${n.id} loses power ${done ? "after" : "inside"} ${
          op.kind === "save"
            ? `the write of ${describeBatch(op.batch)}`
            : `the write of snapshot ${op.snap.meta.index}`
        }`,
      );
      h.invariants.onPersisted(n);
    } else if (op) {
      h.note(`node ${n.id} loses power while reading its snapshot back`);
    }
    const queued = n.disk.length;
    await n.crash();
    h.invariants.onPersisted(n);
    h.note(`node ${n.id} crashed (${queued} writes queued)`);
  }

  /**
   * Called before the disk completes the node's oldest write `op`: crashes
   * the node inside it when a crash was armed for it, and now and then
   * when it installs a snapshot from the leader, writes or reads back a
   * snapshot of its own, or is a leader whose appends went out before its
   * own write was durable. Returns true when it crashed.
   */
  async crashInsideWrite(n: SimNode, op: DiskOp): Promise<boolean> {
    const h = this.#host, rng = this.#rng;
    if (h.phase !== "faults") {
      n.crashInNextWrite = false;
      return false;
    }
    let hit = n.crashInNextWrite;
    if (!hit && (op.kind !== "save" || op.batch.snapshot)) {
      hit = rng.chance(h.config.snapshotCrashRate);
    }
    if (
      op.kind === "save" && op.batch.entries.length > 0 &&
      n.core?.raft.role === "leader"
    ) {
      if (!hit) hit = rng.chance(h.config.leaderWriteCrashRate);
      if (hit) h.stats.leaderWriteCrashes++;
    }
    if (!hit) return false;
    if (op.kind === "snapshot") h.stats.backgroundSnapshotCrashes++;
    else if (op.kind === "load") h.stats.snapshotReadCrashes++;
    else if (op.batch.snapshot) h.stats.receivedSnapshotCrashes++;
    n.crashInNextWrite = false;
    const down = this.#armedDownMs.get(n.id) ??
      rng.range(h.config.minDownMs, h.config.maxDownMs);
    this.#armedDownMs.delete(n.id);
    await this.#crashNow(n, true);
    h.schedule({ kind: "restart", node: n.id }, h.now + down);
    return true;
  }

  /** Now and then crashes a node whose membership change is about to be proposed again. */
  onMembershipRetry(n: SimNode): void {
    const h = this.#host, rng = this.#rng;
    if (h.phase !== "faults" || !rng.chance(h.config.retryCrashRate)) return;
    h.stats.retryCrashes++;
    h.schedule({
      kind: "flap",
      node: n.id,
      inc: n.incarnation,
      isolate: false,
      downMs: rng.range(1, 200),
    }, h.now + rng.range(0, 3));
  }

  /** Now and then cuts a new leader's reign short, by a crash or an isolation. */
  onNewLeader(n: SimNode): void {
    const h = this.#host, rng = this.#rng;
    if (h.phase !== "faults" || !rng.chance(h.config.leaderFlapRate)) return;
    const at = h.now + rng.range(1, h.config.maxFlapMs);
    h.schedule({
      kind: "flap",
      node: n.id,
      inc: n.incarnation,
      isolate: rng.chance(0.4),
    }, at);
  }

  /**
   * Now and then crashes a node that just granted a vote, and restarts it
   * quickly, while the election is still on: the vote must survive.
   */
  onVoteGranted(n: SimNode): void {
    const h = this.#host, rng = this.#rng;
    if (h.phase !== "faults" || !rng.chance(h.config.voterCrashRate)) return;
    h.schedule({
      kind: "flap",
      node: n.id,
      inc: n.incarnation,
      isolate: false,
      downMs: rng.range(1, 40),
    }, h.now + rng.range(0, 5));
  }

  /** Carries out a scheduled flap: isolate or crash the node (if still the same incarnation). */
  async flap(ev: FlapEvent): Promise<void> {
    const h = this.#host, rng = this.#rng;
    const n = h.nodes.get(ev.node)!;
    if (h.phase !== "faults" || n.state !== "up" || n.incarnation !== ev.inc) {
      return;
    }
    if (ev.isolate) {
      for (const other of h.ids) {
        h.network.block(n.id, other);
        h.network.block(other, n.id);
      }
      h.network.partitions.push(`isolate ${n.id} (new leader)`);
      return;
    }
    await this.crash(n, rng.chance(h.config.tornRate), ev.downMs);
  }
}
