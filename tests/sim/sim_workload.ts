/**
 * The simulated clients: every tick, with the run's seeded rates, they
 * write fresh values to a few keys and read them back through random
 * running nodes, change the membership (add a never-used node as a voter
 * or a learner, remove members, drop members that were shut down) and ask
 * for leadership transfers, all through the node's own API (`propose`,
 * `readBarrier`, `addMember`, `removeMember`, `transferLeader`) with a
 * client deadline. Requests go through random nodes, so many are
 * forwarded to the leader, and some are refused: that is part of the test.
 *
 * @module
 */

import type { NodeId } from "../../raft/core/mod.ts";
import type { SimRng } from "./sim_rng.ts";
import type { SimNode } from "./sim_node.ts";

/** Clients stop proposing while the leader has this many uncommitted entries. */
const MAX_BACKLOG = 40;

/** What the workload needs from the cluster. */
export interface WorkloadHost {
  readonly config: {
    proposeRate: number;
    readRate: number;
    confChangeRate: number;
    transferRate: number;
    minVoters: number;
    maxVoters: number;
  };
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  upNodes(): SimNode[];
  leader(): SimNode | undefined;
  spawn(): Promise<SimNode>;
  write(n: SimNode): void;
  read(n: SimNode): void;
  addMember(via: SimNode, fresh: SimNode, role: "voter" | "learner"): void;
  removeMember(via: SimNode, id: NodeId): void;
  transfer(n: SimNode, target: NodeId): void;
}

/** The client side of a run. */
export class Workload {
  readonly #host: WorkloadHost;
  readonly #rng: SimRng;

  constructor(host: WorkloadHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
  }

  /** One tick of client activity. */
  async tick(): Promise<void> {
    const h = this.#host, rng = this.#rng, c = h.config;
    const up = h.upNodes();
    if (up.length === 0) return;
    // Clients back off while the leader's uncommitted tail is long, as a
    // real client with bounded concurrency would: the point is faults, not
    // a backlog that the slowest configurations take minutes to drain.
    const leader = h.leader()?.core?.raft.log;
    const backlog = leader ? leader.lastIndex() - leader.committed : 0;
    for (
      let i = 0;
      i < 3 && backlog < MAX_BACKLOG && rng.chance(c.proposeRate);
      i++
    ) {
      h.write(rng.pick(up));
    }
    for (let i = 0; i < 3 && rng.chance(c.readRate); i++) {
      h.read(rng.pick(up));
    }
    if (rng.chance(c.confChangeRate)) {
      await this.changeMembership(rng.chance(0.5) ? undefined : rng.pick(up));
    }
    if (rng.chance(c.transferRate)) {
      const leader = h.leader();
      if (leader) {
        h.transfer(rng.pick(up), rng.pick(leader.core!.raft.conf().voters));
      }
    }
  }

  /**
   * Picks one membership change from the leader's view of the membership
   * and asks `via` (default: the leader) for it.
   */
  async changeMembership(through?: SimNode): Promise<void> {
    const h = this.#host, rng = this.#rng;
    const leader = h.leader();
    if (!leader) return;
    const conf = leader.core!.raft.conf();
    const via = through ?? leader;
    const members = [...conf.voters, ...conf.learners];
    const gone = members.find((id) => h.nodes.get(id)?.state === "stopped");
    if (gone !== undefined) {
      h.removeMember(via, gone);
      return;
    }
    const canAdd = conf.voters.length < h.config.maxVoters &&
      conf.learners.length === 0;
    const canRemove = conf.voters.length > h.config.minVoters ||
      conf.learners.length > 0;
    if (canAdd && (!canRemove || rng.chance(0.5))) {
      const fresh = await h.spawn();
      h.addMember(via, fresh, rng.chance(0.8) ? "voter" : "learner");
    } else if (canRemove) {
      const candidates = conf.voters.length > h.config.minVoters
        ? members
        : conf.learners;
      // Now and then remove the leader itself: it hands leadership over first.
      const target = rng.chance(0.1) ? leader.id : rng.pick(candidates);
      h.removeMember(via, target);
    }
  }
}
