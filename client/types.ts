/**
 * The shapes the API answers with, as the client returns them (docs/API.md).
 *
 * @module
 */

/**
 * A key's value and its revisions (docs/API.md "Revisions"): the raft index
 * is the revision.
 */
export interface KvEntry {
  /** The key. */
  key: string;
  /** The value's bytes. */
  value: Uint8Array;
  /** The Raft index of the write that set the value (= `modIndex`). */
  index: number;
  /** The index of the entry that created the key (a put after a delete creates anew). */
  createIndex: number;
  /** The index of the entry that last wrote the key. */
  modIndex: number;
  /** Writes since creation: 1 after the creating put. */
  version: number;
  /** The lease the key is attached to, when it is. */
  lease?: number;
}

/** One page of `GET /v1/kv`. */
export interface KvPage {
  /** Entries sorted by key. */
  items: KvEntry[];
  /** True when more keys with the prefix follow the last item. */
  more: boolean;
}

/** The outcome of a write: the index it was applied at. */
export interface WriteResult {
  /** The Raft index of the write (`X-Raft-Index`). */
  index: number;
}

/** A member's role: voters count toward quorums, learners only replicate. */
export type MemberRole = "voter" | "learner";

/** One member of the cluster. */
export interface Member {
  /** The node id, positive, never reused. */
  id: number;
  /** The member's advertised (peer) URL. */
  url: string;
  /** Voter or learner. */
  role: MemberRole;
}

/** The body of `GET /v1/members`. */
export interface MembersView {
  /** The leader the answering node knows of, 0 for none. */
  leader: number;
  /** Every member, sorted by id. */
  members: Member[];
}

/** The body of `GET /v1/status` (the node may add fields). */
export interface NodeStatus {
  /** The answering node's id. */
  id: number;
  /** `follower`, `candidate`, `preCandidate` or `leader`. */
  role: string;
  /** The node's current term. */
  term: number;
  /** The leader this node knows of, 0 for none. */
  leader: number;
  /** The highest log index known to be committed. */
  commit: number;
  /** The highest log index applied to the store. */
  applied: number;
  /** The index of the newest snapshot. */
  snapshotIndex: number;
  /** How many WAL segment files the node keeps. */
  walSegments: number;
  /** The WAL's size on disk. */
  walBytes: number;
  /** True until the node has loaded its snapshot and replayed its WAL. */
  recovering: boolean;
  /** Each peer's replication progress; empty unless this node leads. */
  peers: { id: number; match: number; [field: string]: unknown }[];
  /** Further fields the node reports. */
  [field: string]: unknown;
}

/** One member in `GET /v1/cluster/status`. */
export interface MemberStatus {
  /** The member's id. */
  id: number;
  /** The member's peer URL. */
  url: string;
  /** Voter or learner. */
  role: MemberRole;
  /** True when the member answered its `/v1/status` in time. */
  up: boolean;
  /** The member's own status, when it is up. */
  status?: NodeStatus;
  /** Why the member counts as down, when it does. */
  error?: string;
}

/** The body of `GET /v1/cluster/status`: every member's status, gathered by one node. */
export interface ClusterStatus {
  /** The id of the node that answered. */
  node: number;
  /** When the answer was assembled (ms since the Unix epoch). */
  at: number;
  /** The leader the answering node knows of, 0 for none. */
  leader: number;
  /** Every member, sorted by id. */
  members: MemberStatus[];
  /** Leader changes seen by any member, one per term, newest first. */
  leaderChanges: { at: number; term: number; leader: number }[];
}

/** A backup of the whole store (`GET /v1/snapshot`). */
export interface Snapshot {
  /** The applied index the backup holds exactly. */
  index: number;
  /** The term of that index. */
  term: number;
  /** The backup file's bytes, streamed; restore with `raftkv restore`. */
  body: ReadableStream<Uint8Array>;
}

/** One change of a watch message: a put (with the new value) or a delete. */
export type WatchEvent =
  | {
    type: "put";
    key: string;
    /** The new value's bytes. */
    value: Uint8Array;
    createIndex: number;
    modIndex: number;
    version: number;
    /** The lease the key is attached to, when it is. */
    lease?: number;
  }
  | {
    type: "delete";
    key: string;
    modIndex: number;
    /** `"lease"` when a lease's expiry or revocation deleted the key. */
    reason?: "lease";
  };

/**
 * One message of a watch: every change one log entry made to the watched
 * keys (a transaction or a lease revocation is one message). With
 * `progress: true` in the watch options, progress notices come too:
 * `progress` set and `events` empty, meaning every change up to `index`
 * has been delivered.
 */
export interface WatchMessage {
  /** The log index of the entry (or, for a progress notice, the index reached). */
  index: number;
  /** The changes, in the order the entry made them. */
  events: WatchEvent[];
  /** True for a progress notice. */
  progress?: true;
}

/** A granted lease (`POST /v1/leases`) or one renewed by a keepalive. */
export interface LeaseGrant {
  /** The lease id: the index of the entry that granted it. */
  id: number;
  /** The TTL in seconds (raised to the server's minimum when asked below it). */
  ttl: number;
  /** The TTL asked for, present when the server raised it. */
  requestedTtl?: number;
}

/** A lease as `GET /v1/leases/{id}` shows it. */
export interface LeaseInfo {
  /** The lease id. */
  id: number;
  /** The TTL in seconds. */
  ttl: number;
  /** Seconds left on the leader's countdown. */
  remaining: number;
  /** The keys attached to it. */
  keys: string[];
}

/** A held lock (`POST /v1/locks/{name}`). */
export interface LockGrant {
  /** The lock's name. */
  name: string;
  /** The holder's key, `_locks/{name}/{lease}`. */
  key: string;
  /**
   * The fence: the holder key's createIndex. A later holder's fence is
   * greater, so a resource can refuse a stale holder.
   */
  fence: number;
}

/** A value as a transaction takes it: text (sent as UTF-8) or bytes. */
export type TxnValue = string | Uint8Array;

/** A compare of a transaction (docs/API.md "Transactions"). */
export type TxnCompare =
  | {
    key: string;
    target: "value";
    op: "==" | "!=" | "<" | ">";
    /** Compared as bytes; false on an absent key, whatever the operator. */
    value: TxnValue;
  }
  | {
    key: string;
    target: "version" | "createIndex" | "modIndex" | "lease";
    op: "==" | "!=" | "<" | ">";
    /** 0 for an absent key. */
    value: number;
  };

/** An operation of a transaction's branch. */
export type TxnOp =
  | { op: "put"; key: string; value: TxnValue; lease?: number }
  | { op: "delete"; key: string }
  | { op: "delete"; prefix: string }
  | { op: "get"; key: string }
  | { op: "get"; prefix: string; limit?: number };

/** A transaction: if every compare holds, `success` applies, else `failure`. */
export interface TxnRequest {
  /** All must hold for `success` to apply (none: `success` applies). */
  compare?: TxnCompare[];
  /** The operations applied when every compare holds. */
  success?: TxnOp[];
  /** The operations applied when a compare does not hold. */
  failure?: TxnOp[];
}

/** The result of one operation of the branch taken. */
export type TxnOpResult =
  | { op: "get"; items: KvEntry[]; more: boolean }
  | { op: "delete"; deleted: number }
  | { op: "put" };

/** The answer of `POST /v1/txn`. */
export interface TxnResponse {
  /** Whether every compare held (so `success` applied). */
  succeeded: boolean;
  /** The transaction's own log entry (read-only ones go through the log too). */
  index: number;
  /** One result per operation of the branch taken. */
  results: TxnOpResult[];
}
