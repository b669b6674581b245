/**
 * The simulated network: a priority queue of `(deliverAt, seq, message)`
 * with seeded per-message loss, duplication and delay (a minimum plus an
 * exponential tail and rare latency spikes; reordering falls out of the
 * random delays), and partitions as a set of blocked directed links that
 * seeded per-tick odds open and heal: one node isolated (both ways, or only
 * its inbound or outbound side), the cluster split in two (symmetric or one
 * way), or a single one-way link cut.
 *
 * A message crossing a blocked link is dropped when it is due, so a
 * partition cuts messages already in flight too.
 *
 * @module
 */

import type { Message, NodeId } from "../../raft/core/mod.ts";
import type { SimRng } from "./sim_rng.ts";
import { type Timed, TimedQueue } from "./sim_heap.ts";

/** The fault rates of one run's network. */
export interface NetworkConfig {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (independent delays). */
  dupRate: number;
  /** The least delay of a message, in ms. */
  minDelayMs: number;
  /** The mean of the exponential delay added to the minimum, in ms. */
  delayMeanMs: number;
  /** Probability that a message suffers a latency spike. */
  spikeRate: number;
  /** The largest extra delay of a spike, in ms. */
  maxSpikeMs: number;
  /** Per-tick probability that a new partition starts. */
  partitionRate: number;
  /** Per-tick probability that every partition heals. */
  healRate: number;
}

/** A calm network: no loss, no duplication, no partition, short delays. */
export const CALM: NetworkConfig = {
  lossRate: 0,
  dupRate: 0,
  minDelayMs: 1,
  delayMeanMs: 2,
  spikeRate: 0,
  maxSpikeMs: 0,
  partitionRate: 0,
  healRate: 1,
};

/** A message in flight. */
export interface Delivery extends Timed {
  msg: Message;
}

/** A copy the receiver may keep without aliasing the sender's objects. */
function copyMessage(m: Message): Message {
  return { ...m, entries: m.entries.map((e) => ({ ...e })) };
}

function linkKey(from: NodeId, to: NodeId): number {
  return from * 1_000_000 + to;
}

/** A seeded, lossy, reordering, partitionable network. */
export class SimNetwork {
  config: NetworkConfig;
  readonly #rng: SimRng;
  readonly #queue = new TimedQueue<Delivery>();
  readonly #blocked = new Set<number>();
  #seq = 0;
  /** Human-readable partitions in force, for failure reports. */
  readonly partitions: string[] = [];
  /** Messages sent, lost, duplicated and cut by a partition. */
  readonly counts = { sent: 0, lost: 0, duplicated: 0, cut: 0 };

  constructor(rng: SimRng, config: NetworkConfig) {
    this.#rng = rng;
    this.config = config;
  }

  /**
   * Sends `m` at time `now`. Returns false when the message is lost at once
   * (the caller reports a lost snapshot to its sender).
   */
  send(now: number, m: Message): boolean {
    this.counts.sent++;
    const c = this.config;
    if (this.#rng.chance(c.lossRate)) {
      this.counts.lost++;
      return false;
    }
    this.#enqueue(now, m);
    // Not a forwarded proposal: Raft never sends one again and the transport
    // never repeats a message, so a copy would be a second client request.
    if (this.#rng.chance(c.dupRate) && m.type !== "prop") {
      this.counts.duplicated++;
      this.#enqueue(now, m);
    }
    return true;
  }

  #enqueue(now: number, m: Message): void {
    const c = this.config;
    let delay = c.minDelayMs + this.#rng.exp(c.delayMeanMs);
    if (this.#rng.chance(c.spikeRate)) {
      delay += this.#rng.range(1, c.maxSpikeMs);
    }
    this.#queue.push({
      at: now + delay,
      seq: this.#seq++,
      msg: copyMessage(m),
    });
  }

  /** When the next message is due, or undefined when none is in flight. */
  nextAt(): number | undefined {
    return this.#queue.peek()?.at;
  }

  /**
   * Takes the next message due. `cut` is true when a partition blocks its
   * link now: the caller drops it.
   */
  popNext(): { delivery: Delivery; cut: boolean } | undefined {
    const d = this.#queue.pop();
    if (!d) return undefined;
    const cut = this.isBlocked(d.msg.from, d.msg.to);
    if (cut) this.counts.cut++;
    return { delivery: d, cut };
  }

  /** The number of messages in flight. */
  get inFlight(): number {
    return this.#queue.size;
  }

  /** Whether the directed link `from -> to` is cut. */
  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.#blocked.size > 0 && this.#blocked.has(linkKey(from, to));
  }

  /** Cuts the directed link `from -> to`. */
  block(from: NodeId, to: NodeId): void {
    if (from !== to) this.#blocked.add(linkKey(from, to));
  }

  /** Restores every link. */
  heal(): void {
    this.#blocked.clear();
    this.partitions.length = 0;
  }

  /**
   * One tick of the partition schedule over the nodes `ids` (sorted): maybe
   * heal everything, maybe start a new partition (`leader`, if known, is
   * isolated more often than the others).
   */
  partitionTick(ids: readonly NodeId[], leader?: NodeId): void {
    const rng = this.#rng;
    if (this.#blocked.size > 0 && rng.chance(this.config.healRate)) this.heal();
    if (ids.length < 2 || !rng.chance(this.config.partitionRate)) return;
    const kind = rng.intn(3);
    if (kind === 0) {
      // Half the isolations pick the leader: the interesting one to cut off.
      const id = leader !== undefined && rng.chance(0.5)
        ? leader
        : rng.pick(ids);
      const mode = rng.pick(["both", "in", "out"] as const);
      for (const other of ids) {
        if (mode !== "in") this.block(id, other);
        if (mode !== "out") this.block(other, id);
      }
      this.partitions.push(`isolate ${id} (${mode})`);
    } else if (kind === 1) {
      const shuffled = [...ids];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.intn(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const cut = rng.range(1, Math.floor(ids.length / 2));
      const a = shuffled.slice(0, cut).sort((x, y) => x - y);
      const b = shuffled.slice(cut).sort((x, y) => x - y);
      const oneWay = rng.chance(0.3);
      for (const x of a) {
        for (const y of b) {
          this.block(x, y);
          if (!oneWay) this.block(y, x);
        }
      }
      this.partitions.push(`split [${a}] ${oneWay ? "-/->" : "<-/->"} [${b}]`);
    } else {
      const from = rng.pick(ids);
      const to = rng.pick(ids);
      if (from === to) return;
      this.block(from, to);
      this.partitions.push(`cut ${from} -/-> ${to}`);
    }
  }
}
