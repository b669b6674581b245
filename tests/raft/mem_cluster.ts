/**
 * A cluster of real RaftNodes (each over its own DiskStorage on in-memory
 * files and the real KV state machine) joined by an in-memory network: a
 * message is delivered on a later turn of the event loop, and time passes
 * only by manual ticks (`until`).
 */

import { KvStore } from "../../kv/mod.ts";
import {
  DiskStorage,
  type DiskStorageOptions,
} from "../../raft/disk_storage.ts";
import {
  type Message,
  RaftNode,
  type RaftNodeOptions,
  seededRng,
  type SnapshotStream,
  StoppedError,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { runUntil, turn } from "./node_turns.ts";

/** How every node of a {@linkcode MemCluster} is built. */
export interface MemClusterOptions<F extends MemFs> {
  /** The files of node `id` (a fresh MemFs by default). */
  fs?: (id: number) => F;
  /** Storage options besides the metadata. */
  storage?: Partial<DiskStorageOptions>;
  /** Node options besides id, peers, join, storage, state machine, rng, epoch. */
  node?: Partial<RaftNodeOptions>;
  /** The URL of member `id` (`http://node<id>` by default). */
  urlOf?: (id: number) => string;
  /** Sees every message once the network delivered it to its target. */
  delivered?: (m: Message, sender: RaftNode) => void;
  /**
   * When given, the network also streams snapshots from their files
   * (`Transport.sendSnapshot`): this gets each one, reads `stream` as it
   * likes, and calls `deliver` with the snapshot read (or reports failure
   * to `sender`). It must close `stream`.
   */
  sendSnapshot?: (
    m: Message,
    stream: SnapshotStream,
    sender: RaftNode,
    deliver: (m: Message) => void,
  ) => void;
}

/** Nodes 1-3 as voters, more added as joiners; every part kept by id. */
export class MemCluster<F extends MemFs = MemFs> {
  readonly nodes = new Map<number, RaftNode>();
  readonly stores = new Map<number, KvStore>();
  readonly storages = new Map<number, DiskStorage>();
  readonly fs = new Map<number, F>();
  readonly #options: MemClusterOptions<F>;

  private constructor(options: MemClusterOptions<F>) {
    this.#options = options;
  }

  /** Starts voters 1, 2 and 3. */
  static async start<F extends MemFs = MemFs>(
    options: MemClusterOptions<F> = {},
  ): Promise<MemCluster<F>> {
    const cluster = new MemCluster(options);
    for (const id of [1, 2, 3]) await cluster.add(id, false);
    return cluster;
  }

  /** The URL of member `id`. */
  urlOf(id: number): string {
    return this.#options.urlOf?.(id) ?? `http://node${id}`;
  }

  /** Opens node `id`'s storage, then creates and starts the node. */
  async add(id: number, join: boolean): Promise<RaftNode> {
    const f = this.#options.fs?.(id) ?? new MemFs() as F;
    this.fs.set(id, f);
    const storage = await DiskStorage.open(f, `/n${id}`, {
      metadata: { clusterId: "", nodeId: id },
      ...this.#options.storage,
    });
    this.storages.set(id, storage);
    const store = new KvStore();
    this.stores.set(id, store);
    const node = new RaftNode({
      id,
      peers: new Map([1, 2, 3].map((i) => [i, this.urlOf(i)])),
      join,
      storage,
      stateMachine: store,
      rng: seededRng(id),
      epoch: id,
      ...this.#options.node,
    });
    const send = (msgs: Message[]) =>
      setTimeout(() => {
        for (const m of msgs) {
          try {
            this.nodes.get(m.to)?.receive([m]);
          } catch (e) {
            // A stopped node takes nothing more.
            if (!(e instanceof StoppedError)) throw e;
          }
          this.#options.delivered?.(m, node);
        }
      }, 0);
    const sendSnapshot = this.#options.sendSnapshot;
    node.setTransport({
      send,
      ...(sendSnapshot
        ? {
          sendSnapshot: (m: Message, stream: SnapshotStream) =>
            sendSnapshot(m, stream, node, (full) => send([full])),
        }
        : {}),
    });
    this.nodes.set(id, node);
    node.start();
    return node;
  }

  /** Ticks every node turn by turn until `cond` holds (see `runUntil`). */
  readonly until = (cond: () => boolean, what: string): Promise<void> =>
    runUntil(this.nodes, cond, what);

  /** Ticks until some node is leader, and returns it. */
  async leader(): Promise<RaftNode> {
    const find = () =>
      [...this.nodes.values()].find((n) => n.status().role === "leader");
    await this.until(() => find() !== undefined, "a leader");
    return find()!;
  }

  /** Stops every node, then closes every storage (errors ignored). */
  async close(): Promise<void> {
    for (const n of this.nodes.values()) n.stop();
    await turn();
    for (const s of this.storages.values()) await s.close().catch(() => {});
  }
}
