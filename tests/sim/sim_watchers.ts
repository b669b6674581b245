/**
 * Simulated watch clients (issue 14): each opens a watcher of one key, one
 * prefix or every key through a node's {@linkcode WatchHub} (the hub the
 * HTTP route uses), drains it at random times (so some fall behind and are
 * cancelled as slow), and, when its node crashed or its watcher was
 * cancelled, resumes on a random live node with `from` = its last id + 1,
 * as a client sending `Last-Event-ID` does. A `410` ({@linkcode
 * CompactedError}) is a legal answer: the client restarts from the
 * `compactIndex`, and the changes before it are an allowed gap.
 *
 * The reference is every node's store change listener: the changes of the
 * entry at each index, the same on every node (`watch reference`). Each
 * client checks what it takes (`watch stream`): indexes strictly rising,
 * every message exactly the reference's changes in its range at that
 * index, and no index skipped between two messages (or up to a progress
 * id) that holds a change in its range, unless the gap was allowed; a
 * cancellation's resume index is the last id + 1 (`watch resume`).
 *
 * @module
 */

import {
  type ChangeBatch,
  CompactedError,
  type KeyRange,
  type KvStore,
  rangeContains,
  type Watcher,
  type WatchEvent,
  WatchHub,
} from "../../kv/mod.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";

/** What the watch clients need of the cluster. */
export interface WatchHost {
  /** The nodes up now (any node serves a watch). */
  up(): { id: number; incarnation: number }[];
  /** The keys the workload writes. */
  readonly keys: number;
}

/** Counts for the summary. */
export interface WatchCounts {
  watchers: number;
  messages: number;
  events: number;
  progress: number;
  cancelledSlow: number;
  cancelledCompacted: number;
  resumedAfterCrash: number;
  compacted410: number;
}

/** Zero counts. */
export function zeroWatchCounts(): WatchCounts {
  return {
    watchers: 0,
    messages: 0,
    events: 0,
    progress: 0,
    cancelledSlow: 0,
    cancelledCompacted: 0,
    resumedAfterCrash: 0,
    compacted410: 0,
  };
}

interface Client {
  name: string;
  range: KeyRange;
  /** The last id received (message or progress); the resume is it + 1. */
  lastId: number;
  /** Indexes up to this one may be missing (a 410 skipped them). */
  gapTo: number;
  node: number;
  incarnation: number;
  watcher: Watcher | undefined;
}

function fail(invariant: string, detail: string): never {
  throw new InvariantViolation(invariant, detail);
}

function eventText(e: WatchEvent): string {
  return e.type === "put"
    ? `put ${e.key}=${
      new TextDecoder().decode(e.value)
    } c${e.createIndex} m${e.modIndex} v${e.version} l${e.lease}`
    : `del ${e.key} m${e.modIndex}${e.reason ? " " + e.reason : ""}`;
}

/** The watch clients of one run and their reference: see the module doc. */
export class SimWatchers {
  readonly counts = zeroWatchCounts();
  readonly #host: WatchHost;
  readonly #rng: SimRng;
  /** The per-stream buffer bound, small so slow watchers are cancelled. */
  readonly bufferBytes: number;
  /** The history retention each store keeps, small so 410s happen. */
  readonly historyEntries: number;
  readonly #drainRate: number;
  readonly #clients: Client[] = [];
  readonly #hubs = new Map<number, { incarnation: number; hub: WatchHub }>();
  /** The changes at each index, as text per event (the reference). */
  readonly #ref: (string[] | undefined)[] = [];
  #refFailure: string | undefined;

  constructor(host: WatchHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
    this.bufferBytes = rng.range(100, 2000);
    this.historyEntries = rng.range(2, 40);
    this.#drainRate = rng.pick([0.05, 0.3, 0.9]);
    const n = rng.range(2, 6);
    for (let i = 0; i < n; i++) {
      const k = rng.intn(3);
      const range: KeyRange = k === 0
        ? { key: `k${rng.intn(host.keys)}` }
        : k === 1
        ? { prefix: `k${rng.intn(host.keys)}` }
        : { prefix: "" };
      this.#clients.push({
        name: `watcher ${i} (${
          "key" in range ? "key " + range.key : `prefix "${range.prefix}"`
        })`,
        range,
        lastId: 0,
        gapTo: 0,
        node: 0,
        incarnation: 0,
        watcher: undefined,
      });
    }
  }

  /** A node's new store: its hub, and the reference listener before it. */
  attach(node: number, incarnation: number, store: KvStore): void {
    store.listen({
      changed: (b) => this.#record(node, b),
      restored: () => {},
    });
    this.#hubs.set(node, {
      incarnation,
      hub: new WatchHub(store, { bufferBytes: this.bufferBytes }),
    });
  }

  #record(node: number, b: ChangeBatch): void {
    const texts = b.events.map(eventText);
    const before = this.#ref[b.index];
    if (before === undefined) this.#ref[b.index] = texts;
    else if (before.join("\n") !== texts.join("\n")) {
      this.#refFailure ??=
        `node ${node} changed at ${b.index} [${texts}], another node [${before}]`;
    }
  }

  /** One clock tick of the fault phase: open, drain and resume at random. */
  tick(): void {
    if (this.#refFailure) fail("watch reference", this.#refFailure);
    for (const c of this.#clients) {
      if (!this.#live(c)) {
        if (c.watcher) this.counts.resumedAfterCrash++;
        c.watcher = undefined;
        this.#open(c);
      } else if (this.#rng.chance(this.#drainRate)) this.#drain(c);
    }
  }

  /** Drains every watcher on a live node (the end of the run). */
  drainAll(): void {
    if (this.#refFailure) fail("watch reference", this.#refFailure);
    for (const c of this.#clients) {
      for (let i = 0; i < 100 && this.#live(c); i++) {
        if (!this.#drain(c)) break;
      }
    }
  }

  #live(c: Client): boolean {
    if (!c.watcher) return false;
    const up = this.#host.up().find((n) => n.id === c.node);
    return up !== undefined && up.incarnation === c.incarnation;
  }

  #open(c: Client): void {
    const up = this.#host.up().filter((n) => {
      const h = this.#hubs.get(n.id);
      return h !== undefined && h.incarnation === n.incarnation;
    });
    if (up.length === 0) return;
    const n = this.#rng.pick(up);
    const hub = this.#hubs.get(n.id)!.hub;
    let from = c.lastId + 1;
    let watcher: Watcher;
    try {
      watcher = hub.open([c.range], from);
    } catch (e) {
      if (!(e instanceof CompactedError)) throw e;
      this.counts.compacted410++;
      from = e.compactIndex;
      c.gapTo = Math.max(c.gapTo, from - 1);
      c.lastId = Math.max(c.lastId, from - 1);
      watcher = hub.open([c.range], from);
    }
    if (watcher.lastSent !== from - 1) {
      fail("watch resume", `${c.name} opened from ${from} on node ${n.id}`);
    }
    this.counts.watchers++;
    c.watcher = watcher;
    c.node = n.id;
    c.incarnation = n.incarnation;
  }

  /** Takes what the watcher has (as a sender would); false when nothing. */
  #drain(c: Client): boolean {
    const w = c.watcher!;
    const batches = w.take(this.#rng.range(1, 400));
    for (const b of batches) this.#onMessage(c, b);
    if (batches.length > 0) return true;
    if (w.cancelled) {
      const { reason, resume } = w.cancelled;
      if (resume !== c.lastId + 1) {
        fail(
          "watch resume",
          `${c.name} on node ${c.node} cancelled (${reason}) with resume ${resume}, last id ${c.lastId}`,
        );
      }
      if (reason === "slow") this.counts.cancelledSlow++;
      else this.counts.cancelledCompacted++;
      c.watcher = undefined;
      this.#open(c);
      return c.watcher !== undefined;
    }
    const p = w.progress();
    if (p !== undefined && p > c.lastId) {
      this.counts.progress++;
      this.#noGap(c, p + 1, `progress ${p}`);
      c.lastId = p;
    }
    return false;
  }

  #inRange(c: Client, index: number): string[] {
    const texts = this.#ref[index] ?? [];
    return texts.filter((t) => rangeContains(c.range, t.split(/[ =]/)[1]!));
  }

  /** No index in (lastId, upTo) holds a change in range, unless allowed. */
  #noGap(c: Client, upTo: number, what: string): void {
    for (let j = Math.max(c.lastId, c.gapTo) + 1; j < upTo; j++) {
      if (this.#inRange(c, j).length > 0) {
        fail(
          "watch stream",
          `${c.name} on node ${c.node} skipped ${j} [${
            this.#inRange(c, j)
          }]: last id ${c.lastId}, then ${what}`,
        );
      }
    }
  }

  #onMessage(c: Client, b: ChangeBatch): void {
    if (b.index <= c.lastId) {
      fail(
        "watch stream",
        `${c.name} on node ${c.node} got ${b.index} after ${c.lastId} (duplicate or out of order)`,
      );
    }
    this.#noGap(c, b.index, `message ${b.index}`);
    const got = b.events.map(eventText).join("; ");
    const want = this.#inRange(c, b.index).join("; ");
    if (got !== want) {
      fail(
        "watch stream",
        `${c.name} on node ${c.node} got at ${b.index} [${got}], committed [${want}]`,
      );
    }
    this.counts.messages++;
    this.counts.events += b.events.length;
    c.lastId = b.index;
  }
}
