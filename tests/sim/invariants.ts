/**
 * The safety properties the simulator checks after every step, each named
 * after the rule it checks (Raft paper §5, Figure 3, and the client's view):
 *
 * - `election safety` (§5.2): at most one leader per term.
 * - `vote safety` (§5.2): a node grants its vote to one candidate per term,
 *   across crashes (the vote is persistent state).
 * - `log matching` (§5.3): two logs with an entry of the same index and term
 *   hold the same entry there and agree on everything before it. Checked
 *   inductively: every (index, term) ever seen maps to one payload and one
 *   previous term.
 * - `committed immutable` (§5.4): an index, once committed anywhere, holds
 *   the same entry in every log that reaches it; the committed set never
 *   shrinks.
 * - `leader completeness` (§5.4): a leader holds every entry committed in a
 *   term before its own.
 * - `electable completeness` (§5.4.1 with §5.4.2): a running voter that
 *   lacks a committed entry could not win an election: fewer than a
 *   majority of its voters would find its log up to date, whether they vote
 *   with the log they hold in memory or with the durable one a crash leaves
 *   them. Terms and votes are ignored, so this looks at every election that
 *   could still happen, not only those that do; it is what the commit rule
 *   of Figure 8 protects, and it fails as soon as an unsafe commit happens
 *   instead of when a later leader overwrites the entry.
 * - `state machine safety` (§5.4.3): no two nodes apply different entries at
 *   one index; every state-machine image (live or restored from a snapshot)
 *   agrees with every other at the same index (hash chain).
 * - `durable before sent` (Figure 2, the Ready contract): a message leaves
 *   only once the term it carries, and the vote it grants, are durable.
 * - `monotonic`: within one incarnation term, commit and applied never move
 *   back and the vote never changes within a term; across crashes the same
 *   holds for the durable hard state.
 * - `state ordering`: snapshot <= applied <= commit <= last index, and the
 *   state machine is at the core's applied index.
 * - `linearizable read` (dissertation §6.4): a read served through
 *   `RaftNode.readBarrier` sees a state that covers every entry committed
 *   anywhere before the read was issued.
 * - `stale read`: such a read of a key returns the value of the newest
 *   write to it acknowledged before the read was issued, or a later one.
 * - `acknowledged before applied`: when `RaftNode.propose` acknowledges a
 *   write, the node that serves it has applied it (the API's promise: a
 *   2xx write is applied).
 * - `membership applied twice`: a node the clients added once (ids are
 *   never reused) is added by one committed entry only; a retry must not
 *   propose a change again once it applied.
 * - `refused yet applied`: an addition `RaftNode` refused
 *   (`ConfChangeRefusedError`, a 409: certainly not applied) never
 *   commits.
 * - `acknowledged write lost` (sim_liveness.ts, at the end): every write
 *   `RaftNode.propose` acknowledged is in the log at its index, and every
 *   live member's store holds it or a later write of its key.
 *
 * @module
 */

import {
  decodeConfChange,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from "../../raft/core/mod.ts";
import { majority } from "../../raft/core/quorum.ts";
import { type KvEntry, KvStore } from "../../kv/mod.ts";
import { decodeSnapshotData } from "../../raft/snapshot_data.ts";
import type { SimNode } from "./sim_node.ts";
import {
  type AppliedCommand,
  entryText,
  hashBytes,
} from "./sim_state_machine.ts";

/** A read as issued: what it must at least see. */
export interface IssuedRead {
  context: string;
  key: string;
  /** The highest index committed anywhere when the read was issued. */
  committed: number;
  /** The index of the newest acknowledged write of the key then (0: none). */
  ackedIndex: number;
}

/** A write RaftNode acknowledged. */
export interface AckedWrite {
  key: string;
  value: string;
  index: number;
}

/** A broken invariant, named after the rule. */
export class InvariantViolation extends Error {
  /** The rule that broke, e.g. `election safety`. */
  readonly invariant: string;
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.invariant = invariant;
    this.name = "InvariantViolation";
  }
}

function fail(invariant: string, detail: string): never {
  throw new InvariantViolation(invariant, detail);
}

interface SeenEntry {
  type: Entry["type"];
  text: string;
  prevTerm: number;
}

interface CommittedEntry {
  term: number;
  /** The term of the first node seen treating it as committed (an upper bound of the commit term). */
  commitTerm: number;
}

interface Mark {
  incarnation: number;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
}

/** Whether a log ending at (`index`, `term`) is at least as up to date as one ending at (`vIndex`, `vTerm`) (§5.4.1). */
function upToDate(
  index: number,
  term: number,
  vIndex: number,
  vTerm: number,
): boolean {
  return term > vTerm || (term === vTerm && index >= vIndex);
}

/** Entries are keyed by index and term in one number: index * 2^21 + term. */
const TERM_SPAN = 2 ** 21;

/** The cluster-wide registries and the checks over them. */
export class Invariants {
  readonly #leaders = new Map<number, NodeId>();
  readonly #seen = new Map<number, SeenEntry>();
  readonly #committed: (CommittedEntry | undefined)[] = [];
  readonly #appliedKey: (string | undefined)[] = [];
  readonly #hashAt: (number | undefined)[] = [];
  readonly #votes = new Map<string, NodeId>();
  readonly #marks = new Map<NodeId, Mark>();
  readonly #durable = new Map<NodeId, HardState>();
  /** The index of the committed entry that added each node as a learner. */
  readonly #addedAt = new Map<NodeId, number>();
  /** Nodes whose addition RaftNode refused to the client. */
  readonly #addRefused = new Set<NodeId>();
  /** The highest index seen committed on any node. */
  maxCommitted = 0;
  /** Acknowledged writes by value. */
  readonly acked = new Map<string, AckedWrite>();
  /** The index of the newest acknowledged write of each key. */
  readonly #ackedIndexOf = new Map<string, number>();
  /** The highest index of an acknowledged write. */
  maxAckedIndex = 0;
  /** The index each client write (`put key=value`, values unique) was applied at by any node. */
  readonly #writeAppliedAt = new Map<string, number>();
  /** Client writes answered 503 (not applied), with the error code. */
  readonly #answered503 = new Map<string, string>();
  /** How the clients' writes were answered: `2xx`, `503 <code>`, `504 <code>`, `other <code>`. */
  readonly writeAnswers = new Map<string, number>();

  /** Runs every per-node check on `n` (a running node) after a step. */
  checkNode(n: SimNode): void {
    const raw = n.core;
    if (!raw) return;
    const r = raw.raft;
    const log = r.log;
    const id = n.id;
    const term = r.term,
      vote = r.vote,
      commit = log.committed,
      applied = log.applied;
    const last = log.lastIndex(), first = log.firstIndex();

    const mark = this.#marks.get(id);
    if (mark && mark.incarnation === n.incarnation) {
      if (term < mark.term) {
        fail("monotonic", `node ${id} term ${mark.term} -> ${term}`);
      }
      if (term === mark.term && mark.vote !== 0 && vote !== mark.vote) {
        fail(
          "monotonic",
          `node ${id} vote in term ${term} changed ${mark.vote} -> ${vote}`,
        );
      }
      if (commit < mark.commit) {
        fail("monotonic", `node ${id} commit ${mark.commit} -> ${commit}`);
      }
      if (applied < mark.applied) {
        fail("monotonic", `node ${id} applied ${mark.applied} -> ${applied}`);
      }
    }
    this.#marks.set(id, {
      incarnation: n.incarnation,
      term,
      vote,
      commit,
      applied,
    });

    const snapIndex = n.durable.snapshot().meta.index;
    if (!(snapIndex <= applied && applied <= commit && commit <= last)) {
      fail(
        "state ordering",
        `node ${id}: snapshot ${snapIndex}, applied ${applied}, commit ${commit}, last ${last}`,
      );
    }
    if (n.applied !== applied) {
      fail(
        "state ordering",
        `node ${id}: node applied ${n.applied}, core applied ${applied}`,
      );
    }
    if (n.checkedApplied !== applied) {
      n.checkedApplied = applied;
      this.#checkImage(n);
    }

    if (r.role === "leader") {
      const other = this.#leaders.get(term);
      if (other === undefined) this.#leaders.set(term, id);
      else if (other !== id) {
        fail(
          "election safety",
          `nodes ${other} and ${id} both lead term ${term}`,
        );
      }
    }

    // Log Matching over the node's whole log, from the snapshot on.
    const base = log.snapshot().meta;
    if (base.index > 0) this.#noteCommitted(id, base.index, base.term, term);
    const ents = last >= first ? log.slice(first, last + 1, Infinity) : [];
    let prevTerm = log.term(first - 1) ?? 0;
    for (const e of ents) {
      const k = e.index * TERM_SPAN + e.term;
      const seen = this.#seen.get(k);
      if (seen === undefined) {
        this.#seen.set(k, { type: e.type, text: entryText(e), prevTerm });
      } else if (
        seen.type !== e.type || seen.text !== entryText(e) ||
        seen.prevTerm !== prevTerm
      ) {
        fail(
          "log matching",
          `node ${id} entry ${e.index}@${e.term} is ${e.type}/${
            entryText(e)
          } after term ${prevTerm}; ` +
            `seen before as ${seen.type}/${seen.text} after term ${seen.prevTerm}`,
        );
      }
      if (e.index <= commit) {
        this.#noteCommitted(id, e.index, e.term, term, e);
      }
      prevTerm = e.term;
    }
    if (commit > this.maxCommitted) this.maxCommitted = commit;

    if (r.role === "leader") {
      // Leader Completeness: every entry committed before this term is here.
      for (let i = Math.max(first, 1); i <= this.maxCommitted; i++) {
        const c = this.#committed[i];
        if (!c || c.commitTerm >= term) continue;
        const t = i <= last ? log.term(i) : undefined;
        if (t !== c.term) {
          fail(
            "leader completeness",
            `leader ${id} of term ${term} has ${
              t === undefined ? "no entry" : `term ${t}`
            } at ${i}, ` +
              `committed with term ${c.term} by term ${c.commitTerm}`,
          );
        }
      }
    }
  }

  /**
   * The `electable completeness` check over every running node; `byId`
   * finds any node (running, down or stopped) by id.
   */
  checkElectable(
    up: readonly SimNode[],
    byId: (id: NodeId) => SimNode | undefined,
  ): void {
    const maxCommitted = this.maxCommitted;
    if (maxCommitted === 0) return;
    for (const n of up) {
      const r = n.core?.raft;
      if (!r) continue;
      const voters = r.conf().voters;
      if (!voters.includes(n.id)) continue;
      const log = r.log;
      const lastIndex = log.lastIndex(), lastTerm = log.lastTerm();
      // Holding the newest committed entry means holding all of them (Log
      // Matching, checked on its own); a snapshot past it holds them too.
      const newest = this.#committed[maxCommitted];
      if (maxCommitted < log.firstIndex()) continue;
      if (
        newest && lastIndex >= maxCommitted &&
        log.term(maxCommitted) === newest.term
      ) continue;
      let missing = 0;
      for (let i = Math.max(log.firstIndex(), 1); i <= maxCommitted; i++) {
        const c = this.#committed[i];
        if (c && (i > lastIndex || log.term(i) !== c.term)) {
          missing = i;
          break;
        }
      }
      if (missing === 0) continue;
      const grants: NodeId[] = [];
      for (const v of voters) {
        const m = v === n.id ? n : byId(v);
        if (!m || m.state === "stopped") continue;
        const d = m.durable;
        const dLast = d.lastIndex();
        const grantsDurable = upToDate(
          lastIndex,
          lastTerm,
          dLast,
          d.term(dLast) ?? 0,
        );
        const mem = m.core?.raft.log;
        if (
          v === n.id || grantsDurable ||
          (mem &&
            upToDate(lastIndex, lastTerm, mem.lastIndex(), mem.lastTerm()))
        ) {
          grants.push(v);
        }
      }
      if (grants.length >= majority(voters.length)) {
        const c = this.#committed[missing]!;
        fail(
          "electable completeness",
          `node ${n.id} (log ends ${lastIndex}@${lastTerm}) lacks committed ${missing}@${c.term} ` +
            `(committed by term ${c.commitTerm}) yet voters [${grants}] of [${voters}] would find its log up to date`,
        );
      }
    }
  }

  #noteCommitted(
    id: NodeId,
    index: number,
    term: number,
    nodeTerm: number,
    e?: Entry,
  ): void {
    const c = this.#committed[index];
    if (c === undefined) {
      this.#committed[index] = { term, commitTerm: nodeTerm };
      if (e?.type === "conf") this.#noteConf(index, e);
    } else if (c.term !== term) {
      fail(
        "committed immutable",
        `node ${id} treats ${index}@${term} as committed; ${index}@${c.term} was committed before`,
      );
    }
  }

  /**
   * Checks a message as it leaves its sender `from`: the term it carries
   * and, for a vote, the vote itself must already be durable (the Ready
   * contract: persist, then send), and a node grants one vote per term.
   */
  onSend(from: SimNode, m: Message): void {
    if (m.term !== 0 && m.type !== "preVote" && m.type !== "preVoteResp") {
      const hs = from.durable.hardState();
      if (hs.term < m.term) {
        fail(
          "durable before sent",
          `node ${from.id} sent ${m.type} of term ${m.term} with durable term ${hs.term}`,
        );
      }
      if (
        m.type === "voteResp" && !m.reject && hs.term === m.term &&
        hs.vote !== m.to
      ) {
        fail(
          "durable before sent",
          `node ${from.id} granted its term-${m.term} vote to ${m.to} with durable vote ${hs.vote}`,
        );
      }
    }
    if (m.type !== "voteResp" || m.reject) return;
    const key = `${m.from}/${m.term}`;
    const before = this.#votes.get(key);
    if (before === undefined) this.#votes.set(key, m.to);
    else if (before !== m.to) {
      fail(
        "vote safety",
        `node ${m.from} granted its term-${m.term} vote to ${before} and to ${m.to}`,
      );
    }
  }

  /** Checks the durable hard state of `n` after a write. */
  onPersisted(n: SimNode): void {
    const hs = n.durable.hardState();
    const prev = this.#durable.get(n.id);
    if (prev) {
      if (hs.term < prev.term) {
        fail(
          "monotonic",
          `node ${n.id} durable term ${prev.term} -> ${hs.term}`,
        );
      }
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        fail(
          "monotonic",
          `node ${n.id} durable vote in term ${hs.term} changed ${prev.vote} -> ${hs.vote}`,
        );
      }
      if (hs.commit < prev.commit) {
        fail(
          "monotonic",
          `node ${n.id} durable commit ${prev.commit} -> ${hs.commit}`,
        );
      }
    }
    this.#durable.set(n.id, hs);
  }

  /** Checks a command `n` just applied (to its key-value store). */
  onApplied(n: SimNode, c: AppliedCommand): void {
    const before = this.#appliedKey[c.index];
    if (before === undefined) this.#appliedKey[c.index] = c.text;
    else if (before !== c.text) {
      fail(
        "state machine safety",
        `node ${n.id} applied ${c.text} at ${c.index}; another node applied ${before}`,
      );
    }
    // Every client write carries a value of its own: the state machine
    // (not the log: a stale copy is skipped before it) applies it at one
    // index only, however often the node proposed it again.
    const at = this.#writeAppliedAt.get(c.text);
    if (at === undefined) this.#writeAppliedAt.set(c.text, c.index);
    else if (at !== c.index) {
      fail(
        "write applied twice",
        `node ${n.id} applied ${c.text} at ${c.index}; it was applied at ${at} already`,
      );
    }
    const code = this.#answered503.get(c.text);
    if (code !== undefined) {
      fail(
        "503 yet applied",
        `node ${n.id} applied ${c.text} at ${c.index}; its client was answered 503 ${code}`,
      );
    }
  }

  /**
   * Records how a client's write `text` (`put key=value`) was answered,
   * as HTTP would (`status` from the error's code, 200 for an
   * acknowledgement); a 503 promises it was not applied, and never will be.
   */
  onWriteAnswered(text: string, status: number, code: string): void {
    const kind = status < 300
      ? "2xx"
      : status === 503 || status === 504
      ? `${status} ${code}`
      : `other ${status} ${code}`;
    this.writeAnswers.set(kind, (this.writeAnswers.get(kind) ?? 0) + 1);
    if (status !== 503) return;
    this.#answered503.set(text, code);
    const at = this.#writeAppliedAt.get(text);
    if (at !== undefined) {
      fail(
        "503 yet applied",
        `${text} was answered 503 ${code}; it was applied at ${at}`,
      );
    }
  }

  /**
   * The answer checks over the whole run (at its end, once every node
   * caught up): no write answered 503 was applied anywhere. (Each apply
   * and each answer is checked as it happens too.)
   */
  checkAnswers(): void {
    for (const [text, code] of this.#answered503) {
      const at = this.#writeAppliedAt.get(text);
      if (at !== undefined) {
        fail(
          "503 yet applied",
          `${text} was answered 503 ${code}; it was applied at ${at}`,
        );
      }
    }
  }

  /** Checks a committed membership change: each node is added once. */
  #noteConf(index: number, e: Entry): void {
    const cc = decodeConfChange(e.data);
    if (cc.type !== "addLearner") return;
    if (this.#addRefused.has(cc.node)) {
      fail(
        "refused yet applied",
        `the addition of node ${cc.node} was refused to its client, yet committed at ${index}`,
      );
    }
    const before = this.#addedAt.get(cc.node);
    if (before === undefined) this.#addedAt.set(cc.node, index);
    else if (before !== index) {
      fail(
        "membership applied twice",
        `node ${cc.node} was added at ${before} and again at ${index}`,
      );
    }
  }

  /** Notes that RaftNode refused the addition of `node` to its client. */
  onAddRefused(node: NodeId): void {
    this.#addRefused.add(node);
    const at = this.#addedAt.get(node);
    if (at !== undefined) {
      fail(
        "refused yet applied",
        `the addition of node ${node}, committed at ${at}, was refused to its client`,
      );
    }
  }

  /** Checks a write RaftNode acknowledged through `n`: applied there, with its key at least that new. */
  checkAckApplied(
    n: SimNode,
    applied: number,
    got: KvEntry | undefined,
    index: number,
  ): void {
    if (applied < index || (got?.index ?? 0) < index) {
      fail(
        "acknowledged before applied",
        `node ${n.id} acknowledged the write at ${index} with applied ${applied} and its key from ${
          got?.index ?? "none"
        }`,
      );
    }
  }

  /** What another node applied at `index` (a command's text), if any. */
  appliedAt(index: number): string | undefined {
    return this.#appliedKey[index];
  }

  /**
   * Checks a snapshot `n` took (in the background, from its store's
   * point-in-time view, while entries kept applying) against every state
   * machine image at its index: its state, loaded into a fresh store,
   * must be the state at that index (`snapshot image`).
   */
  checkSnapshotImage(n: SimNode, snap: Snapshot): void {
    const content = decodeSnapshotData(snap.data);
    if (!content) return;
    const store = new KvStore();
    store.restore(content.state);
    const index = snap.meta.index;
    const hash = hashBytes(store.snapshot());
    const before = this.#hashAt[index];
    if (before === undefined) this.#hashAt[index] = hash;
    else if (before !== hash) {
      fail(
        "snapshot image",
        `node ${n.id}: its snapshot at ${index} differs from the state at ${index}`,
      );
    }
  }

  /** Checks the state machine of `n`, at its applied index, against every other's there. */
  #checkImage(n: SimNode): void {
    const applied = n.applied;
    if (applied <= 0 || !n.sm) return;
    const hash = hashBytes(n.sm.store.snapshot());
    const before = this.#hashAt[applied];
    if (before === undefined) this.#hashAt[applied] = hash;
    else if (before !== hash) {
      fail(
        "state machine safety",
        `node ${n.id} state at ${applied} differs from another node's`,
      );
    }
  }

  /** Notes a read as a client issues it: what it must see. */
  readIssued(key: string, context: string): IssuedRead {
    return {
      context,
      key,
      committed: this.maxCommitted,
      ackedIndex: this.#ackedIndexOf.get(key) ?? 0,
    };
  }

  /** Checks a read `n` served after its barrier: `applied` is the node's index, `got` the key's entry. */
  onReadServed(
    n: SimNode,
    applied: number,
    got: KvEntry | undefined,
    read: IssuedRead,
  ): void {
    if (applied < read.committed) {
      fail(
        "linearizable read",
        `node ${n.id} served read ${read.context} at applied ${applied}; ` +
          `index ${read.committed} was committed before it was issued`,
      );
    }
    if ((got?.index ?? 0) < read.ackedIndex) {
      fail(
        "stale read",
        `node ${n.id} served read ${read.context} of ${read.key} from the write at ${
          got?.index ?? "none"
        }; the write at ${read.ackedIndex} was acknowledged before the read was issued`,
      );
    }
  }

  /** Records a write RaftNode acknowledged. */
  onAcked(key: string, value: string, index: number): void {
    if (this.acked.has(value)) return;
    this.acked.set(value, { key, value, index });
    if (index > (this.#ackedIndexOf.get(key) ?? 0)) {
      this.#ackedIndexOf.set(key, index);
    }
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  /** The newest acknowledged write of each key: key -> index. */
  ackedIndexes(): ReadonlyMap<string, number> {
    return this.#ackedIndexOf;
  }
}
