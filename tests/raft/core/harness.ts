/**
 * A scripted in-memory cluster for core tests, after etcd's `network`
 * helper: nodes over MemoryStorage, messages delivered until quiet, with
 * links that can be cut and nodes that can be isolated.
 *
 * @module
 */

import {
  type Entry,
  MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  type ReadState,
  type Ready,
  seededRng,
  type Snapshot,
} from "../../../raft/core/mod.ts";
import type { RaftConfig } from "../../../raft/core/mod.ts";

/** One node of the test cluster and what it applied. */
export interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  /**
   * The application data of the last snapshot this node restored (the
   * harness's snapshots hold the applied data as a JSON string array);
   * `applied` then holds only the entries applied after it.
   */
  snapshotData?: string[];
  /** Every snapshot this node received in a Ready, in order. */
  snapshots?: Snapshot[];
}

/** Options for {@linkcode Cluster}. */
export interface ClusterOptions {
  seed?: number;
  config?: Partial<RaftConfig>;
}

/** An in-memory cluster with etcd-style delivery controls. */
export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages waiting to be delivered, in send order. */
  queue: Message[] = [];
  /** Links `from->to` that drop everything. */
  readonly cut = new Set<string>();
  /**
   * Sees every message about to be delivered over a live link; returning
   * false drops it (etcd's msgHook). Tests count or filter messages here.
   */
  hook: ((m: Message) => boolean) | undefined;
  /**
   * Called with each Ready once its snapshot, entries and hard state are
   * persisted and before its messages are queued (the point where the Ready
   * contract says they may be sent). Tests check that contract here.
   */
  onReady: ((t: TestNode, rd: Ready) => void) | undefined;
  readonly #opts: ClusterOptions;

  constructor(ids: NodeId[], opts: ClusterOptions = {}) {
    this.#opts = opts;
    for (const id of ids) {
      const t = this.addNode(id);
      t.node.bootstrap(ids.map((p) => ({ id: p, context: `url-${p}` })));
    }
    this.stabilize();
  }

  /** Creates a node with empty storage (call `bootstrap` or let it join). */
  addNode(id: NodeId, storage = new MemoryStorage()): TestNode {
    const node = new RawNode({
      id,
      storage,
      rng: seededRng((this.#opts.seed ?? 1) * 1000 + id),
      ...this.#opts.config,
    });
    const t: TestNode = { id, node, storage, applied: [], readStates: [] };
    this.nodes.set(id, t);
    return t;
  }

  /** The node `id`; throws when absent. */
  get(id: NodeId): TestNode {
    const t = this.nodes.get(id);
    if (!t) throw new Error(`no node ${id}`);
    return t;
  }

  /** Handles every node's Ready (persist, queue messages, apply, advance). */
  processReady(): boolean {
    let any = false;
    for (const t of this.nodes.values()) {
      while (t.node.hasReady()) {
        any = true;
        const rd = t.node.ready();
        if (rd.snapshot) {
          t.storage.applySnapshot(rd.snapshot);
          t.snapshotData = JSON.parse(
            new TextDecoder().decode(rd.snapshot.data),
          );
          t.applied = [];
          (t.snapshots ??= []).push(rd.snapshot);
        }
        t.storage.append(rd.entries);
        if (rd.hardState) t.storage.setHardState(rd.hardState);
        this.onReady?.(t, rd);
        for (const m of rd.messages) this.queue.push(m);
        t.applied.push(...rd.committedEntries);
        t.readStates.push(...rd.readStates);
        t.node.advance();
      }
    }
    return any;
  }

  /** Delivers queued messages (dropping cut links) until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const moved = this.processReady();
      if (this.queue.length === 0 && !moved) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.cut.has(`${m.from}->${m.to}`)) continue;
        if (this.hook && !this.hook(m)) continue;
        this.nodes.get(m.to)?.node.step(m);
      }
    }
    throw new Error("cluster did not stabilize");
  }

  /** Ticks every node `n` times, stabilizing after each tick. */
  tickAll(n: number): void {
    for (let i = 0; i < n; i++) {
      for (const t of this.nodes.values()) t.node.tick();
      this.stabilize();
    }
  }

  /** Cuts both directions between `a` and `b`. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
    this.cut.add(`${b}->${a}`);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other !== id) this.cutLink(id, other);
    }
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** The id of the node that believes it leads, 0 if none (or several). */
  leader(): NodeId {
    const leaders = [...this.nodes.values()].filter((t) =>
      t.node.status().role === "leader"
    );
    return leaders.length === 1 ? leaders[0]!.id : 0;
  }

  /** Elects `id` by making it campaign. */
  elect(id: NodeId): void {
    this.get(id).node.campaign();
    this.stabilize();
  }

  /**
   * The data of the normal, non-empty entries `id` applied, decoded as text
   * (including those it got through a snapshot).
   */
  appliedData(id: NodeId): string[] {
    const dec = new TextDecoder();
    const t = this.get(id);
    return [
      ...(t.snapshotData ?? []),
      ...t.applied
        .filter((e) => e.type === "normal" && e.data.length > 0)
        .map((e) => dec.decode(e.data)),
    ];
  }

  /**
   * Takes a snapshot of `id`'s applied state and compacts its log up to it,
   * as the application does when its log grows; returns the snapshot index.
   */
  compact(id: NodeId): number {
    const t = this.get(id);
    const index = t.node.status().applied;
    const snap: Snapshot = {
      meta: t.node.snapshotMeta(index),
      data: new TextEncoder().encode(JSON.stringify(this.appliedData(id))),
    };
    t.storage.createSnapshot(snap);
    t.storage.compact(index);
    return index;
  }

  /**
   * Restarts `id` from what it persisted (its storage), as after a crash
   * once every Ready was written; the state machine keeps what it applied.
   */
  restart(id: NodeId): TestNode {
    const t = this.get(id);
    t.node = new RawNode({
      id,
      storage: t.storage,
      rng: seededRng((this.#opts.seed ?? 1) * 1000 + id + 500),
      ...this.#opts.config,
      applied: t.node.status().applied,
    });
    return t;
  }
}

/** Encodes text as entry data. */
export function data(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
