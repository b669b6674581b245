/**
 * What a failed run reports: the violated rule, where, the state of every
 * node, and the command that replays the seed.
 *
 * @module
 */

import type { SimNode } from "./sim_node.ts";

/** A failed run: everything needed to understand and replay it. */
export class SimFailure extends Error {
  readonly seed: number;
  readonly invariant: string;
  readonly detail: string;
  readonly step: number;
  readonly tick: number;
  readonly report: string;
  constructor(
    f: {
      seed: number;
      invariant: string;
      detail: string;
      step: number;
      tick: number;
      report: string;
    },
  ) {
    super(
      `seed ${f.seed}: ${f.invariant}: ${f.detail} (step ${f.step}, tick ${f.tick})`,
    );
    this.name = "SimFailure";
    this.seed = f.seed;
    this.invariant = f.invariant;
    this.detail = f.detail;
    this.step = f.step;
    this.tick = f.tick;
    this.report = f.report;
  }
}

/** The command that replays `seed` exactly. */
export function replayCommand(seed: number): string {
  return `deno task test:sim --seed ${seed}`;
}

/** One line per node: role, term, vote, indexes, durable state and membership. */
export function describeNodes(nodes: readonly SimNode[]): string[] {
  return nodes.map((n) => {
    const id = n.id;
    const hs = n.durable.hardState();
    const durable =
      `durable{term ${hs.term} vote ${hs.vote} commit ${hs.commit} ` +
      `snap ${n.durable.snapshot().meta.index}}`;
    const core = n.core;
    if (!core) {
      return `node ${id} ${n.state} (incarnation ${n.incarnation}) ${durable}`;
    }
    const s = core.status();
    const conf = `voters [${s.conf.voters}] learners [${s.conf.learners}]`;
    const peers = s.peers.filter((p) => p.id !== id)
      .map((p) =>
        `${p.id}:${p.state} match ${p.match} next ${p.next}${
          p.recentActive ? "" : " inactive"
        }`
      );
    return `node ${id} up#${n.incarnation} ${s.role} term ${s.term} vote ${s.vote} leader ${s.leader} ` +
      `commit ${s.commit} applied ${s.applied} log [${core.raft.log.firstIndex()}..${s.lastIndex}] ` +
      `${durable} ${conf}${
        n.disk.length > 0
          ? ` (disk queue: ${n.disk.map((op) => op.kind).join(",")})`
          : ""
      }` +
      (peers.length > 0 ? `\n      progress: ${peers.join("; ")}` : "");
  });
}
