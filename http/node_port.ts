/**
 * What the HTTP layer needs from a raftkv node. The app is written against
 * this port only; the node runtime (raft/node.ts, wired in main.ts)
 * implements it, and tests use a fake that applies commands at once.
 *
 * Failure contract for every async member: reject with a typed error whose
 * `code` is in `STATUS_BY_CODE` (http/errors.ts):
 * - `no_leader`, `proposal_dropped`, `leader_changed`,
 *   `recovering`, `stopped`, `overloaded` → 503: not applied, safe to retry
 *   (NoLeaderError, ProposalDroppedError from raft/core; LeaderChangedError,
 *   RecoveringError, StoppedError from raft/errors.ts).
 * - `timeout` → 504: the outcome is unknown. When `signal` aborts, its
 *   `reason` is a `RequestTimeoutError` (code `timeout`); rejecting with it,
 *   or with a more precise 503 error when the request was never proposed, is
 *   right. The app stops waiting shortly after the abort in any case.
 * - `conf_change_refused`, `transfer_refused`, `member_exists`,
 *   `member_removed`, `member_url_exists` → 409; `member_unknown` → 404.
 * Any other error becomes a logged 500.
 *
 * @module
 */

import type {
  ApplyResult,
  Command,
  KvReader,
  Lease,
  WatchHub,
} from "../kv/mod.ts";
import type { BackupStateSource, Message } from "../raft/mod.ts";
import type { TransferSink } from "./peer/snapshot_receiver.ts";

/** A member's role: voters count toward quorums, learners only replicate. */
export type MemberRole = "voter" | "learner";

/** One member of the cluster. */
export interface Member {
  /** Positive node id, never reused. */
  id: number;
  /** The member's advertised URL (origin only, e.g. `http://127.0.0.1:12379`). */
  url: string;
  role: MemberRole;
}

/** The body of `GET /v1/members`. */
export interface MembersView {
  /** The leader this node knows of, 0 for none. */
  leader: number;
  /** Every member, sorted by id. */
  members: Member[];
}

/** A peer's replication progress as the leader tracks it. */
export interface PeerProgress {
  id: number;
  /** The highest log index known to be replicated on the peer. */
  match: number;
  /** Further fields (next, state, learner, ...) are passed through. */
  [field: string]: unknown;
}

/** A leader a node saw take office (`GET /v1/status`, the status page). */
export interface LeaderChange {
  /** Wall-clock time (ms since the Unix epoch) the node learned of it. */
  at: number;
  term: number;
  leader: number;
}

/**
 * The body of `GET /v1/status` (API.md). The node may add fields; these
 * are the ones users and `/metrics` rely on.
 */
export interface NodeStatus {
  id: number;
  /** `follower`, `candidate`, `preCandidate` or `leader`. */
  role: string;
  term: number;
  /** The leader this node knows of, 0 for none. */
  leader: number;
  commit: number;
  applied: number;
  snapshotIndex: number;
  walSegments: number;
  walBytes: number;
  /** True until the node has loaded its snapshot and replayed its WAL. */
  recovering: boolean;
  /** Each peer's progress, sorted by id; empty unless this node leads. */
  peers: PeerProgress[];
  /** The index of the last entry in this node's log. */
  lastIndex?: number;
  /** The newest leader changes this node saw, oldest first (at most 20). */
  leaderChanges?: LeaderChange[];
  [field: string]: unknown;
}

/** The answer of `GET /health`. */
export interface Health {
  /** True when this node knows a leader and has applied up to its commit. */
  ok: boolean;
  /** Why not, when `ok` is false (shown to the user). */
  reason?: string;
}

/** A point-in-time image of the store, for `GET /v1/snapshot`. */
export interface StoreImage {
  /** The Raft applied index the image corresponds to exactly. */
  index: number;
  /** The node's term when the image was taken. */
  term: number;
  /**
   * The store's snapshot bytes (kv/snapshot_codec.ts) as a point-in-time
   * view taken in O(1): its length is known at once, its bytes are made in
   * bounded slices while writes keep applying. Release it when done (until
   * then each key first changed costs a copy of its old record).
   */
  state: StoreImageState;
}

/** The state of a {@linkcode StoreImage}: bytes made in slices, then released. */
export interface StoreImageState extends BackupStateSource {
  /** The image is no longer needed; its slices may not be asked for again. */
  release(): void;
}

/** The node as the HTTP layer sees it. See the module doc for errors. */
export interface NodePort {
  /**
   * True from start until the node has loaded its newest snapshot and
   * replayed its WAL; meanwhile requests that need state get 503.
   */
  recovering(): boolean;

  /**
   * Proposes `cmd` through Raft (from any node: a follower forwards it) and
   * resolves with the store's result once the entry is committed on a
   * majority (fsynced) and applied on this node. Must reject promptly when
   * `signal` aborts.
   */
  write(cmd: Command, signal: AbortSignal): Promise<ApplyResult>;

  /**
   * A linearizable read fence (ReadIndex through the leader): resolves once
   * this node has applied up to the commit index the leader confirmed with
   * a quorum after the call began. Reads of `store` after it are
   * linearizable. Must reject promptly when `signal` aborts.
   */
  readBarrier(signal: AbortSignal): Promise<void>;

  /**
   * This node's applied state, read after `readBarrier` or directly for
   * `consistency=stale`.
   */
  readonly store: KvReader;

  /**
   * The watchers of `store`: watch streams and long polls open theirs here.
   * Fed by the same applies as `store`, so from applied entries only.
   */
  readonly watches: WatchHub;

  /**
   * Adds a member and resolves once the configuration change is committed.
   * Role `voter` means the node enters as a learner and the leader promotes
   * it on its own once it has caught up; `learner` keeps it a learner.
   */
  addMember(member: Member, signal: AbortSignal): Promise<void>;

  /**
   * Removes member `id` (leadership is transferred first when it is the
   * leader) and resolves once the change is committed.
   */
  removeMember(id: number, signal: AbortSignal): Promise<void>;

  /** Transfers leadership to voter `id`; resolves when `id` leads. */
  transferLeader(id: number, signal: AbortSignal): Promise<void>;

  /**
   * Restarts lease `id`'s countdown, on the leader only, without a log
   * entry: resolves with the lease once leadership has been confirmed by a
   * quorum after the restart (a ReadIndex round), so the countdown of any
   * later leader starts after it. Rejects with `not_leader` (NotLeaderError
   * from raft/core) on a node that does not lead: the HTTP layer forwards
   * the keepalive to the leader; with `lease_not_found` when the lease is
   * gone; with `leader_changed` when leadership moved meanwhile.
   */
  keepalive(id: number, signal: AbortSignal): Promise<Lease>;

  /**
   * Milliseconds until lease `id` expires by this node's countdown, or
   * undefined when this node does not lead (only the leader counts).
   */
  leaseRemainingMs(id: number): number | undefined;

  /** The membership this node knows, for `GET /v1/members`. */
  members(): MembersView;

  /** This node's status, for `GET /v1/status` and `/metrics`. */
  status(): NodeStatus;

  /** Whether this node can serve linearizable requests right now. */
  health(): Health;

  /**
   * The store's whole state at this node's applied index, taken
   * synchronously between two applies, so it matches exactly one index.
   * After `readBarrier` it holds every write acknowledged before the
   * barrier began. Throws `recovering` while the node recovers.
   */
  storeImage(): StoreImage;

  /**
   * Takes one `POST /raft` body (a peer's message batch, opaque here).
   * Throws or rejects with an error of code `invalid_message` or
   * `invalid_encoding` (raft/codec.ts's CodecError) when the bytes do not
   * decode: answered 400, and the node keeps running. A sender that was
   * removed from the cluster gets `peer_removed` (410). Resolves
   * once the batch is accepted (queued for the node's loop). `check`, when
   * given, sees the decoded messages before the node does; what it throws
   * refuses the whole batch (http/peer/peer_guard.ts).
   */
  receiveRaft(
    body: Uint8Array,
    check?: (msgs: readonly Message[]) => void,
  ): void | Promise<void>;

  /**
   * Optional: a sink that receives a chunked snapshot transfer of `total`
   * bytes into a file (raft/snapshot_receive.ts), so it is never held whole
   * in memory; undefined when the node cannot (the transfer is then put
   * back together in memory and goes to {@linkcode receiveRaft}). Throws
   * `recovering` while the node recovers.
   */
  openSnapshotReceive?(total: number): TransferSink | undefined;
}
