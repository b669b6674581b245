/**
 * The fault schedule of a run, on top of the network's own loss,
 * duplication, delay and partitions: random crashes (leaders more often),
 * crashes that cut a write short (torn writes), new leaders cut off or
 * crashed soon after their election (short reigns leave the divergent logs
 * of Figure 8), and voters crashed right after granting a vote and
 * restarted while the election is still on.
 *
 * @module
 */

import type { NodeId } from "../../raft/core/mod.ts";
import type { SimConfig } from "./sim_config.ts";
import type { SimNetwork } from "./sim_network.ts";
import { SimNode } from "./sim_node.ts";
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
  readonly stats: { crashes: number; tornWrites: number };
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
    h.schedule(
      { kind: "restart", node: n.id },
      h.now + rng.range(h.config.minDownMs, h.config.maxDownMs),
    );
  }

  /**
   * Crashes `n`. With `torn`, the power fails inside a write: the write in
   * flight if there is one, else an application snapshot if the state
   * machine has moved past the durable one. The write may still complete
   * first (a crash after persisting, before the messages leave).
   */
  async crash(n: SimNode, torn: boolean): Promise<void> {
    const h = this.#host;
    h.stats.crashes++;
    // A Ready the node has but did not take yet is as good as in flight.
    const rd = n.inflight ?? (torn ? n.takeReady() : undefined);
    if (torn && rd) {
      h.stats.tornWrites++;
      const batch = SimNode.batchOf(rd);
      const done = await n.durable.persistTorn(batch);
      h.note(
        `node ${n.id} loses power ${
          done ? "after" : "inside"
        } the write of ${rd.entries.length} entries` +
          (rd.snapshot ? ` and snapshot ${rd.snapshot.meta.index}` : ""),
      );
      h.invariants.onPersisted(n);
    } else if (torn && n.raw) {
      const snap = n.appSnapshot();
      if (snap) {
        h.stats.tornWrites++;
        const done = await n.durable.snapshotTorn(snap);
        h.note(
          `node ${n.id} loses power ${
            done ? "after" : "inside"
          } saving snapshot ${snap.meta.index}`,
        );
        h.invariants.onPersisted(n);
      }
    }
    await n.crash();
    h.invariants.onPersisted(n);
    h.note(`node ${n.id} crashed`);
  }

  /**
   * Now and then, when `n` is about to write a snapshot received from the
   * leader, crashes it inside that write (file, marker and log reset are
   * where installing a snapshot can go wrong). Returns true when it did.
   */
  async crashInsideSnapshotWrite(n: SimNode): Promise<boolean> {
    const h = this.#host, rng = this.#rng;
    if (
      h.phase !== "faults" || !n.inflight?.snapshot ||
      !rng.chance(h.config.snapshotCrashRate)
    ) return false;
    await this.crash(n, true);
    h.schedule(
      { kind: "restart", node: n.id },
      h.now + rng.range(h.config.minDownMs, h.config.maxDownMs),
    );
    return true;
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
    await this.crash(n, rng.chance(h.config.tornRate));
    const down = ev.downMs ?? rng.range(h.config.minDownMs, h.config.maxDownMs);
    h.schedule({ kind: "restart", node: n.id }, h.now + down);
  }
}
