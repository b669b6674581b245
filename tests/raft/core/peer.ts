/**
 * One Raft node driven message by message, for the paper-style unit tests
 * (etcd's raft_paper_test.go): the test plays every other node by stepping
 * hand-made messages in and reading what comes out.
 *
 * Every peer starts from a base snapshot at index 1 (term 1) that carries
 * the membership, so logs of any shape can be laid out after it: `log`
 * gives the terms of entries 2, 3, ...
 *
 * @module
 */

import {
  type ConfState,
  type Entry,
  MemoryStorage,
  type Message,
  message,
  type NodeId,
  type RaftConfig,
  RawNode,
  type ReadState,
  type Ready,
  seededRng,
  type Status,
} from "../../../raft/core/mod.ts";
import type { Raft } from "../../../raft/core/raft.ts";

/** Index of the base snapshot every {@linkcode Peer} starts from. */
export const BASE = 1;

/** The paper's algorithm without the dissertation's PreVote and CheckQuorum. */
export const CLASSIC: Partial<RaftConfig> = {
  preVote: false,
  checkQuorum: false,
};

/** How to build a {@linkcode Peer}. */
export interface PeerOptions {
  /** Voting members; default [1, 2, 3]. */
  voters?: NodeId[];
  learners?: NodeId[];
  /** Terms of the log entries at index BASE+1, BASE+2, ... */
  log?: number[];
  /** Persisted hard state; defaults: term 1 (or the last log term), no vote, commit BASE. */
  term?: number;
  vote?: NodeId;
  commit?: number;
  config?: Partial<RaftConfig>;
  seed?: number;
}

/** Builds a storage holding the base snapshot, `log` and the hard state. */
export function storageWith(opts: PeerOptions): MemoryStorage {
  const storage = new MemoryStorage();
  const conf: ConfState = {
    voters: [...(opts.voters ?? [1, 2, 3])].sort((a, b) => a - b),
    learners: [...(opts.learners ?? [])].sort((a, b) => a - b),
  };
  storage.applySnapshot({
    meta: { index: BASE, term: 1, conf },
    data: new Uint8Array(),
  });
  const terms = opts.log ?? [];
  storage.append(terms.map((term, i) => entry(BASE + 1 + i, term)));
  const lastTerm = terms.length > 0 ? terms[terms.length - 1]! : 1;
  storage.setHardState({
    term: opts.term ?? lastTerm,
    vote: opts.vote ?? 0,
    commit: opts.commit ?? BASE,
  });
  return storage;
}

/** A normal entry with optional text data. */
export function entry(index: number, term: number, text = ""): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

/** One node under test, with a scripted persist-send-apply loop. */
export class Peer {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  /** Entries applied, in order. */
  applied: Entry[] = [];
  readStates: ReadState[] = [];
  /** Every Ready handled, in order. */
  readies: Ready[] = [];

  constructor(id: NodeId, opts: PeerOptions = {}) {
    this.id = id;
    this.storage = storageWith(opts);
    this.node = new RawNode({
      id,
      storage: this.storage,
      rng: seededRng(opts.seed ?? id),
      applied: BASE,
      ...opts.config,
    });
  }

  /** The protocol state inside the node. */
  get raft(): Raft {
    return this.node.raft;
  }

  /** The node's status(). */
  status(): Status {
    return this.node.status();
  }

  /** Steps a message to this node (`to` filled in). */
  step(
    fields: Pick<Message, "type" | "from" | "term"> & Partial<Message>,
  ): void {
    this.node.step(message({ to: this.id, ...fields }));
  }

  /** Ticks `n` times without handling Readies. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) this.node.tick();
  }

  /**
   * Handles every pending Ready in order (persist, apply, advance) and
   * returns the messages they carried.
   */
  flush(): Message[] {
    const out: Message[] = [];
    while (this.node.hasReady()) {
      const rd = this.node.ready();
      this.readies.push(rd);
      if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
      this.storage.append(rd.entries);
      if (rd.hardState) this.storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      this.applied.push(...rd.committedEntries);
      this.readStates.push(...rd.readStates);
      this.node.advance();
    }
    return out;
  }

  /** Ticks `n` times, handling Readies after each tick; returns all messages. */
  tickFlush(n: number): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < n; i++) {
      this.node.tick();
      out.push(...this.flush());
    }
    return out;
  }
}

/** The messages of `type` in `msgs`. */
export function ofType(msgs: Message[], type: Message["type"]): Message[] {
  return msgs.filter((m) => m.type === type);
}

/**
 * Makes `p` leader: it campaigns and every other voter grants its (pre-)vote.
 * Returns the messages it sent once leader (the appends of its empty entry).
 */
export function makeLeader(p: Peer): Message[] {
  p.node.campaign();
  for (let round = 0; round < 4 && p.raft.role !== "leader"; round++) {
    for (const m of p.flush()) {
      if (m.type !== "vote" && m.type !== "preVote") continue;
      p.step({
        type: m.type === "vote" ? "voteResp" : "preVoteResp",
        from: m.to,
        term: m.term,
      });
    }
  }
  if (p.raft.role !== "leader") {
    throw new Error(`node ${p.id} did not become leader`);
  }
  return p.flush().filter((m) => m.type === "app");
}

/** Acknowledges every append in `msgs` as fully accepted by its receiver. */
export function ackAppends(p: Peer, msgs: Message[]): void {
  for (const m of msgs) {
    if (m.type !== "app") continue;
    p.step({
      type: "appResp",
      from: m.to,
      term: m.term,
      index: m.index + m.entries.length,
    });
  }
}

/** Makes `p` leader and commits its empty entry with every follower's ack. */
export function makeCommittedLeader(p: Peer): void {
  ackAppends(p, makeLeader(p));
  p.flush();
  const last = p.raft.log.lastIndex();
  if (p.raft.log.committed !== last) {
    throw new Error(`leader commit ${p.raft.log.committed} != ${last}`);
  }
}

/** The terms of `p`'s log entries after BASE. */
export function logTerms(p: Peer): number[] {
  const log = p.raft.log;
  const out: number[] = [];
  for (let i = BASE + 1; i <= log.lastIndex(); i++) out.push(log.term(i) ?? -1);
  return out;
}

/** Encodes text as entry data. */
export function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
