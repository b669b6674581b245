/**
 * The shapes the API answers with, as the client returns them (docs/API.md).
 *
 * @module
 */

/** A key's value and the index of the write that set it. */
export interface KvEntry {
  /** The key. */
  key: string;
  /** The value's bytes. */
  value: Uint8Array;
  /** The Raft index of the write that set the value. */
  index: number;
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
