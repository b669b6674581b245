/**
 * What one seed decides about its run: cluster size, Raft timing, fault
 * rates and workload mix. Every run draws these from its seed, so the seed
 * range covers calm runs and hostile ones alike.
 *
 * @module
 */

import type { NetworkConfig } from "./sim_network.ts";
import type { NodeSettings } from "./sim_node.ts";
import type { SimRng } from "./sim_rng.ts";

/** Simulated milliseconds per global tick (the fault and client clock). */
export const TICK_MS = 10;

/** The shape of one simulation run. */
export interface SimConfig {
  /** Founding voters (3 or 5). */
  nodes: number;
  settings: NodeSettings;
  network: NetworkConfig;
  /** Ticks of workload and faults before everything heals. */
  faultTicks: number;
  /** Ticks the cluster gets after healing to elect a leader and commit a fresh write everywhere. */
  livenessTicks: number;
  /** Per-tick probability that a running node crashes. */
  crashRate: number;
  /**
   * Probability that a newly elected leader is crashed or cut off soon
   * after (within `maxFlapMs`): short-lived leaders leave the divergent
   * logs that the commit rules (§5.4.2, Figure 8) must survive.
   */
  leaderFlapRate: number;
  maxFlapMs: number;
  /** Probability that a node crashes right after granting a vote (and restarts within 40 ms). */
  voterCrashRate: number;
  /** How long a crashed node stays down, in ms. */
  minDownMs: number;
  maxDownMs: number;
  /** Probability that a crash hits a node's write in flight (torn write). */
  tornRate: number;
  /** Disk latency of one Ready: mean ms, and the odds and size of a slow write. */
  diskMeanMs: number;
  diskSlowRate: number;
  maxDiskSlowMs: number;
  /** Per-tick client probabilities (up to three proposals and reads a tick). */
  proposeRate: number;
  readRate: number;
  confChangeRate: number;
  transferRate: number;
  /** Bounds on the voter count that membership changes keep to. */
  minVoters: number;
  maxVoters: number;
  /** The disk storage: WAL segment size (small, so cuts and retention happen often) and snapshot files kept. */
  disk: { segmentBytes: number; keepSnapshots: number };
  /**
   * Probability that a snapshot write (received from the leader, or taken
   * in the background) or a snapshot read back to send is cut by a crash.
   */
  snapshotCrashRate: number;
  /** Probability that a leader's write of new entries (its appends already sent) is cut by a crash. */
  leaderWriteCrashRate: number;
  /** Probability that a node crashes when its membership change waits to be proposed again. */
  retryCrashRate: number;
  /** Probability that a client asks for a membership change right as the leader promotes a learner. */
  confOnPromotionRate: number;
}

/** Draws a run's configuration from `rng`. */
export function drawConfig(rng: SimRng): SimConfig {
  const nodes = rng.chance(0.5) ? 3 : 5;
  const electionTicks = rng.range(6, 15);
  const heartbeatTicks = rng.range(1, Math.min(3, electionTicks - 1));
  const hostile = rng.chance(0.5);
  return {
    nodes,
    settings: {
      electionTicks,
      heartbeatTicks,
      preVote: rng.chance(0.8),
      checkQuorum: rng.chance(0.8),
      snapshotEvery: rng.range(5, 20),
      snapshotLogPercent: rng.pick([1, 10, 100]),
      keepAfterSnapshot: rng.range(0, 5),
      maxMsgBytes: rng.chance(0.5) ? rng.range(1, 60) : 1024 * 1024,
      maxInflightMsgs: rng.chance(0.5) ? rng.range(1, 4) : 256,
    },
    network: {
      lossRate: rng.chance(0.2) ? 0 : rng.float() * (hostile ? 0.2 : 0.05),
      dupRate: rng.chance(0.3) ? 0 : rng.float() * 0.08,
      minDelayMs: rng.range(1, 5),
      delayMeanMs: rng.range(1, hostile ? 25 : 8),
      spikeRate: rng.float() * 0.02,
      maxSpikeMs: rng.range(20, 200),
      partitionRate: rng.float() * (hostile ? 0.04 : 0.01),
      healRate: 0.02 + rng.float() * 0.1,
    },
    faultTicks: rng.range(200, 400),
    livenessTicks: 30 * electionTicks + 200,
    crashRate: rng.chance(0.15) ? 0 : rng.float() * (hostile ? 0.03 : 0.01),
    leaderFlapRate: rng.chance(0.4) ? 0 : rng.float() * 0.5,
    maxFlapMs: rng.range(2, 80),
    voterCrashRate: rng.chance(0.5) ? 0 : rng.float() * 0.3,
    minDownMs: 10,
    maxDownMs: rng.range(50, 1500),
    tornRate: rng.float(),
    diskMeanMs: rng.range(0, 4),
    diskSlowRate: rng.float() * 0.05,
    maxDiskSlowMs: rng.range(5, 60),
    proposeRate: 0.1 + rng.float() * 0.8,
    readRate: rng.float() * 0.5,
    confChangeRate: rng.chance(0.25) ? 0 : rng.float() * 0.03,
    transferRate: rng.chance(0.3) ? 0 : rng.float() * 0.02,
    minVoters: rng.chance(0.2) ? 2 : 3,
    maxVoters: 5,
    disk: {
      segmentBytes: rng.range(512, 6144),
      keepSnapshots: rng.range(1, 3),
    },
    snapshotCrashRate: rng.chance(0.5) ? 0 : rng.float() * 0.3,
    leaderWriteCrashRate: rng.chance(0.5) ? 0 : rng.float() * 0.01,
    retryCrashRate: rng.chance(0.3) ? 0 : 0.3 + rng.float() * 0.7,
    confOnPromotionRate: rng.chance(0.2) ? 0 : 0.5 + rng.float() * 0.5,
  };
}
