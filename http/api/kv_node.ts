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
  type Lease,
  LeaseNotFoundError,
  type WatchHub,
} from "../../kv/mod.ts";
import {
  type Applied,
  LeaderChangedError,
  LeaseExpiry,
  type Message,
  NotLeaderError,
  OutcomeUnknownError,
  type RaftNode,
  RecoveringError,
  type RevokeOutcome,
} from "../../raft/mod.ts";
import type {
  Health,
  Member,
  MembersView,
  NodePort,
  NodeStatus,
  StoreImage,
} from "../node_port.ts";
import type { TransferSink } from "../peer/snapshot_receiver.ts";

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
  /** The leader's lease countdowns (idle on a follower). */
  readonly expiry: LeaseExpiry;
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
    /** How long an expiry's revoke proposal may take (the request timeout). */
    revokeTimeoutMs?: number;
    /** The lease countdowns' monotonic clock in ms (default `performance.now`). */
    now?: () => number;
  }) {
    this.store = o.store;
    this.#kv = o.store;
    this.watches = o.watches;
    this.#node = o.node;
    this.#wal = o.wal;
    this.#decode = o.decodeMessages;
    const revokeTimeoutMs = o.revokeTimeoutMs ?? 5000;
    this.expiry = new LeaseExpiry({
      now: o.now ?? (() => performance.now()),
      leadership: () => {
        const s = this.#node()?.status();
        return { leader: s?.role === "leader", term: s?.term ?? 0 };
      },
      propose: (id, term) => {
        const signal = AbortSignal.timeout(revokeTimeoutMs);
        return this.write({ op: "lease_revoke", id, term }, signal).then(
          (): RevokeOutcome => "settled",
          (err): RevokeOutcome =>
            // Gave up while a copy may still commit (raft/proposals.ts);
            // every other failure means not applied.
            (signal.aborted && err === signal.reason) ||
              err instanceof OutcomeUnknownError
              ? "unknown"
              : "settled",
        );
      },
    });
    o.store.leases.listen(this.expiry);
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

  async keepalive(id: number, signal: AbortSignal): Promise<Lease> {
    const n = this.#ready();
    // A revoke this leader already decided goes first: its outcome decides
    // whether there is still a lease to keep alive.
    await this.#revokesSettled(id, signal);
    let term = this.expiry.renew(id);
    if (term === undefined && this.expiry.term === 0) {
      throw new NotLeaderError(n.status().leader);
    }
    // Confirms leadership after the renewal (and brings the applied state
    // up to date, so a lease granted just now is known).
    await n.readBarrier(signal);
    if (term === undefined) {
      if (!this.#kv.leases.has(id)) throw new LeaseNotFoundError(id);
      term = this.expiry.renew(id);
      if (term === undefined) throw new LeaderChangedError();
      await n.readBarrier(signal);
    }
    await this.#revokesSettled(id, signal);
    // No await from here: no revoke of `id` is in flight in this term
    // (one that timed out stays in flight until it applies or the term
    // ends), so none can commit after this answer.
    const lease = this.#kv.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    if (this.expiry.renew(id) !== term) throw new LeaderChangedError();
    return lease;
  }

  /** Waits until no revoke of lease `id` is in flight (or `signal` aborts). */
  async #revokesSettled(id: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      const pending = this.expiry.pendingRevoke(id);
      if (pending === undefined) return;
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const abort = () => reject(signal.reason);
        signal.addEventListener("abort", abort, { once: true });
        pending.then(() => {
          signal.removeEventListener("abort", abort);
          resolve();
        });
      });
    }
  }

  leaseRemainingMs(id: number): number | undefined {
    return this.expiry.remainingMs(id);
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
      state: this.#kv.view(),
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

  openSnapshotReceive(total: number): TransferSink | undefined {
    const n = this.#node();
    if (!n) throw new RecoveringError();
    const receive = n.openSnapshotReceive(total);
    if (!receive) return undefined;
    return {
      write: (chunk) => receive.write(chunk),
      finish: async () => {
        const m = await receive.finish();
        return {
          deliver(check) {
            check?.([m]);
            n.receive([m]);
          },
        };
      },
      abort() {
        receive.abort().catch(() => {});
      },
    };
  }
}
