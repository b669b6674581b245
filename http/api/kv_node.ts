/**
 * The {@linkcode NodePort} of a real node: the Raft runtime replicating a
 * {@linkcode KvStore}. Commands are encoded by kv/, proposed through the
 * node, and answered with the store's result once applied here.
 *
 * @module
 */

import {
  type ApplyResult,
  type Command,
  encodeCommand,
  type KvReader,
  KvStore,
  type WatchHub,
} from "../../kv/mod.ts";
import {
  type Applied,
  type Message,
  type RaftNode,
  RecoveringError,
} from "../../raft/mod.ts";
import type {
  Health,
  Member,
  MembersView,
  NodePort,
  NodeStatus,
  StoreImage,
} from "../node_port.ts";

/** What the adapter needs of storage for `/v1/status`. */
export interface WalStats {
  readonly walSegmentCount: number;
  readonly walBytes: number;
}

/** The key-value store's answer inside what the node applied. */
function applyResultOf(applied: Applied): ApplyResult {
  return applied.result as ApplyResult;
}

/** Adapts a RaftNode replicating a KvStore to the HTTP layer's port. */
export class KvNode implements NodePort {
  readonly #node: () => RaftNode | undefined;
  readonly #wal: () => WalStats | undefined;
  readonly #decode: (body: Uint8Array) => Message[];
  readonly #kv: KvStore;
  readonly store: KvReader;
  readonly watches: WatchHub;

  /**
   * `node` and `wal` are getters because the HTTP server starts before
   * storage is open: until then the port answers as recovering.
   */
  constructor(o: {
    store: KvStore;
    /** The watch hub of `store`. */
    watches: WatchHub;
    node: () => RaftNode | undefined;
    wal: () => WalStats | undefined;
    decodeMessages: (body: Uint8Array) => Message[];
  }) {
    this.store = o.store;
    this.#kv = o.store;
    this.watches = o.watches;
    this.#node = o.node;
    this.#wal = o.wal;
    this.#decode = o.decodeMessages;
  }

  #ready(): RaftNode {
    const n = this.#node();
    if (!n || n.recovering()) throw new RecoveringError();
    return n;
  }

  recovering(): boolean {
    return this.#node()?.recovering() ?? true;
  }

  write(cmd: Command, signal: AbortSignal): Promise<ApplyResult> {
    // Not async (every write passes here): errors thrown before proposing
    // still come back as a rejection, as from an async function.
    try {
      return this.#ready().propose(encodeCommand(cmd), signal).then(
        applyResultOf,
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  readBarrier(signal: AbortSignal): Promise<void> {
    return this.#ready().readBarrier(signal);
  }

  addMember(member: Member, signal: AbortSignal): Promise<void> {
    return this.#ready().addMember(member.id, member.url, member.role, signal);
  }

  removeMember(id: number, signal: AbortSignal): Promise<void> {
    return this.#ready().removeMember(id, signal);
  }

  transferLeader(id: number, signal: AbortSignal): Promise<void> {
    return this.#ready().transferLeader(id, signal);
  }

  members(): MembersView {
    const n = this.#node();
    if (!n) return { leader: 0, members: [] };
    const v = n.memberList();
    return {
      leader: v.leader,
      members: v.members.map(({ id, url, role }) => ({ id, url, role })),
    };
  }

  status(): NodeStatus {
    const n = this.#node();
    const wal = this.#wal();
    const s = n?.status();
    return {
      id: s?.id ?? 0,
      role: s?.role ?? "follower",
      term: s?.term ?? 0,
      leader: s?.leader ?? 0,
      commit: s?.commit ?? 0,
      applied: s?.applied ?? 0,
      lastIndex: s?.lastIndex ?? 0,
      snapshotIndex: s?.snapshotIndex ?? 0,
      walSegments: wal?.walSegmentCount ?? 0,
      walBytes: wal?.walBytes ?? 0,
      recovering: this.recovering(),
      voters: s?.conf.voters ?? [],
      learners: s?.conf.learners ?? [],
      keys: this.store.size,
      peers: (s?.peers ?? []).map((p) => ({ ...p })),
      leaderChanges: n?.leaderChanges() ?? [],
    };
  }

  health(): Health {
    return this.#node()?.health() ?? { ok: false, reason: "recovering" };
  }

  storeImage(): StoreImage {
    const n = this.#ready();
    // No await between these: no entry can be applied in between.
    return {
      index: n.applied(),
      term: n.status().term,
      state: this.#kv.snapshot(),
    };
  }

  receiveRaft(
    body: Uint8Array,
    check?: (msgs: readonly Message[]) => void,
  ): void {
    const n = this.#node();
    if (!n) throw new RecoveringError();
    const msgs = this.#decode(body);
    check?.(msgs);
    n.receive(msgs);
  }
}
