/**
 * The vocabulary of the Raft core: ids, entries, hard state, snapshots,
 * membership and messages. Plain data only, so every value can be encoded
 * by the runtime and compared by the simulator.
 *
 * @module
 */

/** A node's id: a positive safe integer, never reused in a cluster. */
export type NodeId = number;

/** What an entry carries: an application command or a membership change. */
export type EntryType = "normal" | "conf";

/**
 * One log entry. `data` is opaque to the core for `normal` entries; for
 * `conf` entries it is a {@linkcode ConfChange} encoded by
 * `encodeConfChange`. An entry with empty `data` of type `normal` is the
 * no-op a new leader appends (§5.4.2).
 */
export interface Entry {
  /** The term of the leader that created this entry. */
  term: number;
  /** Position in the log, starting at 1. */
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/**
 * The state that must be on stable storage before a node answers any
 * message that depends on it (Figure 2, "Persistent state on all servers").
 * `commit` is persisted too so that a restart need not re-derive it.
 */
export interface HardState {
  term: number;
  /** The node voted for in `term`, or 0 for none. */
  vote: NodeId;
  commit: number;
}

/** Membership: who votes and who only receives the log. */
export interface ConfState {
  /** Sorted ids of the voting members. */
  voters: NodeId[];
  /** Sorted ids of the non-voting members (learners). */
  learners: NodeId[];
}

/** The position and membership a snapshot stands for. */
export interface SnapshotMeta {
  /** The index of the last entry the snapshot includes. */
  index: number;
  /** The term of that entry. */
  term: number;
  /** The membership in force at `index`. */
  conf: ConfState;
}

/** A state-machine image taken at `meta.index`; `data` is opaque to the core. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/**
 * One membership change. Changes are single-server (§4.1 of Ongaro's
 * dissertation): add a learner, add or promote a voter, or remove a member.
 * `context` is carried for the application (raftkv puts the node's URL there).
 */
export interface ConfChange {
  type: "addVoter" | "addLearner" | "remove";
  node: NodeId;
  context: string;
}

/** The role a node plays in its current term. */
export type Role = "follower" | "candidate" | "preCandidate" | "leader";

/**
 * Message types that travel between nodes.
 *
 * - `app`/`appResp`: AppendEntries and its answer (§5.3).
 * - `vote`/`voteResp`, `preVote`/`preVoteResp`: RequestVote (§5.2) and the
 *   PreVote round (§9.6 of the dissertation).
 * - `heartbeat`/`heartbeatResp`: empty appends that carry the commit index
 *   and the ReadIndex context.
 * - `snap`: InstallSnapshot (§7).
 * - `timeoutNow`: the leadership-transfer signal (§3.10 of the dissertation).
 * - `prop`: proposals a follower forwards to its leader.
 * - `readIndex`/`readIndexResp`: a follower asking the leader for a read
 *   index (§6.4 of the dissertation).
 * - `transferLeader`: a transfer request forwarded to the leader.
 * - `propResp`: the leader's refusal of a forwarded `prop` (always with
 *   `reject`): `entries` are the refused entries and `context` the reason
 *   (errors.ts `encodeRefusal`), so the follower fails its caller at once.
 */
export type MessageType =
  | "app"
  | "appResp"
  | "vote"
  | "voteResp"
  | "preVote"
  | "preVoteResp"
  | "heartbeat"
  | "heartbeatResp"
  | "snap"
  | "timeoutNow"
  | "prop"
  | "readIndex"
  | "readIndexResp"
  | "transferLeader"
  | "propResp";

/**
 * Every message type. The position of each is its code on the wire
 * (raft/codec.ts): append new types, never reorder.
 */
export const MESSAGE_TYPES: readonly MessageType[] = [
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeat",
  "heartbeatResp",
  "snap",
  "timeoutNow",
  "prop",
  "readIndex",
  "readIndexResp",
  "transferLeader",
  "propResp",
];

/**
 * A message between two nodes. One flat shape for every type, as in etcd's
 * raftpb, so the codec and the simulator handle all of them alike; fields a
 * type does not use hold their zero value.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /** The sender's term; for `preVote` the term it would campaign in. */
  term: number;
  /**
   * `app`: term of the entry at `index`. `vote`/`preVote`: term of the
   * candidate's last entry.
   */
  logTerm: number;
  /**
   * `app`: index of the entry before `entries`. `appResp`: the highest index
   * the follower now matches (or the rejected index). `vote`: last log index.
   * `readIndexResp`: the read index. `transferLeader`: the target.
   */
  index: number;
  entries: Entry[];
  /** The sender's commit index (leader to follower). */
  commit: number;
  reject: boolean;
  /** `appResp` with `reject`: the follower's hint for the next probe. */
  rejectHint: number;
  /** `appResp` with `reject`: the term at `rejectHint` on the follower. */
  rejectTerm: number;
  /** `snap` only. */
  snapshot?: Snapshot;
  /** ReadIndex request id carried by `heartbeat`, `readIndex` and answers. */
  context: string;
}

/** A read that is linearizable once the node has applied `index`. */
export interface ReadState {
  /** The caller's request id, as given to `readIndex()`. */
  context: string;
  /** The commit index when the read was confirmed by a quorum. */
  index: number;
}

/** Forwarded proposals the leader refused, with its reason. */
export interface RefusedProposal {
  /** The refused entries, as this node forwarded them. */
  entries: Entry[];
  /** The leader's reason, for errors.ts `decodeRefusal`. */
  reason: string;
}

/** Volatile facts that change rarely; reported when they change. */
export interface SoftState {
  role: Role;
  /** The leader this node knows of in its term, 0 for none. */
  leader: NodeId;
}

/**
 * A batch of work for the application, returned by `RawNode.ready()` and
 * acknowledged by `RawNode.advance()`. Handle it in this order:
 *
 * 1. Persist `snapshot` (if any), then `entries`, then `hardState`; fsync
 *    when `mustSync`. An entry at index i replaces every persisted entry at
 *    index >= i.
 * 2. Send `messages` (only now: they may promise the state just persisted).
 *    A leader's appends and heartbeats need nothing durable: they are handed
 *    out apart by `RawNode.takeEarlyMessages` (appends before the write,
 *    heartbeats also during it); its own write counts toward commit only
 *    after `advance()`.
 * 3. Apply `snapshot` and then `committedEntries` to the state machine and
 *    serve `readStates` once applied reaches their index.
 * 4. Call `advance()`.
 */
export interface Ready {
  /** Set when role or leader changed since the last Ready. */
  softState?: SoftState;
  /** Set when term, vote or commit changed since the last Ready. */
  hardState?: HardState;
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** A snapshot received from the leader, to persist and apply. */
  snapshot?: Snapshot;
  /** Entries committed and not yet handed out for applying, in order. */
  committedEntries: Entry[];
  /** Messages to send after the persistence step. */
  messages: Message[];
  /** ReadIndex requests confirmed by a quorum. */
  readStates: ReadState[];
  /**
   * Proposals this node forwarded and the leader refused: they will never
   * commit. Fail their callers (set only when there are some).
   */
  refused?: RefusedProposal[];
  /** Whether step 1 needs an fsync (term, vote or entries changed). */
  mustSync: boolean;
}

/** Replication state of one follower, as the leader tracks it. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** What the leader knows about one peer's log. */
export interface PeerStatus {
  id: NodeId;
  match: number;
  next: number;
  state: ProgressState;
  /** Whether this peer is a learner. */
  learner: boolean;
  /** Whether the peer answered since the last check-quorum round. */
  recentActive: boolean;
  /** Append messages sent to this peer and not yet acknowledged. */
  inflight: number;
}

/** A node's view of itself, for `/v1/status` and tests. */
export interface Status {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  /** Index of the newest snapshot the log is compacted to. */
  snapshotIndex: number;
  conf: ConfState;
  /** Each peer's progress; only on the leader, sorted by id. */
  peers: PeerStatus[];
}

/** Builds a message with every field at its zero value except the given ones. */
export function message(
  fields: Pick<Message, "type" | "from" | "to" | "term"> & Partial<Message>,
): Message {
  // Field by field rather than spreading `fields` over defaults: this runs
  // for every message, and a spread copies through a generic slow path and
  // allocates a default `entries` array that is then thrown away.
  const m: Message = {
    type: fields.type,
    from: fields.from,
    to: fields.to,
    term: fields.term,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    rejectTerm: fields.rejectTerm ?? 0,
    context: fields.context ?? "",
  };
  if (fields.snapshot !== undefined) m.snapshot = fields.snapshot;
  return m;
}
