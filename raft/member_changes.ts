/**
 * Membership orchestration: a user's add or remove request carried to an
 * applied change (a leader hands leadership away before it is removed;
 * refusals that pass on their own are waited out and proposed again), the
 * learners the leader promotes once they caught up, and the applying of
 * committed changes to the membership with URLs.
 *
 * @module
 */

import {
  type ConfChange,
  ConfChangeRefusedError,
  decodeConfChange,
  type Entry,
  type Logger,
  type NodeId,
  NotLeaderError,
  type RawNode,
} from "./core/mod.ts";
import { type RequestId, requestKey } from "./envelope.ts";
import { decodeConfContext, encodeConfContext, Members } from "./members.ts";
import { MemberError, type StoppedError } from "./errors.ts";
import { type IndexWait, Wait } from "./wait.ts";

/** What {@linkcode MemberChanges} needs of the node it works for. */
export interface MemberChangesHost {
  readonly id: NodeId;
  readonly members: Members;
  /** The core: membership proposals and the leader's view of its peers. */
  readonly raw: Pick<RawNode, "proposeConfChange" | "status">;
  readonly logger: Logger;
  /** Waits for the node's applied index. */
  readonly applied: IndexWait;
  /** The known leader, 0 for none. */
  leader(): NodeId;
  /** Whether this node is the leader. */
  isLeader(): boolean;
  /** Throws unless the node takes requests (stopped, recovering). */
  checkServing(): void;
  /** A request id of this process never handed out before. */
  nextId(): RequestId;
  /** Lets the node's Ready loop run soon. */
  schedule(): void;
  /** Why the node stopped; undefined while it runs. */
  stopped(): StoppedError | undefined;
  /** Whether this node knows it was removed from the cluster. */
  removed(): boolean;
  /** The node's ReadIndex fence (RaftNode.readBarrier). */
  readBarrier(signal?: AbortSignal): Promise<void>;
  /** Moves leadership (RaftNode.transferLeader). */
  transferLeader(target: NodeId, signal?: AbortSignal): Promise<void>;
}

/**
 * Carries membership changes through the log for one node: the callers
 * waiting for their change, the retries, learner promotion, and the
 * applying of committed changes.
 */
export class MemberChanges {
  readonly #host: MemberChangesHost;
  /** Callers of a change by its request key (the context's `req`). */
  readonly #confs = new Wait<string, number>();
  /** The newest applied membership change, and whether a user asked for it. */
  #lastConf = { index: 0, byUser: false };

  constructor(host: MemberChangesHost) {
    this.#host = host;
  }

  /**
   * Adds node `id` at `url` as a learner; with `role` "voter" the leader
   * promotes it once it has caught up, so adding a node never costs
   * availability. Resolves when the addition is committed and applied here.
   */
  add(
    id: NodeId,
    url: string,
    role: "voter" | "learner",
    signal?: AbortSignal,
  ): Promise<void> {
    const members = this.#host.members;
    if (members.isRemoved(id)) {
      throw new MemberError(
        "member_removed",
        `node id ${id} was removed before and cannot be reused`,
      );
    }
    if (members.get(id)) {
      throw new MemberError("member_exists", `node ${id} is already a member`);
    }
    const holder = members.list().find((m) => m.url === url);
    if (holder) {
      throw new MemberError(
        "member_url_exists",
        `member ${holder.id} already has the URL ${url}`,
      );
    }
    return this.#changeMembership(
      {
        type: "addLearner",
        node: id,
        context: "",
      },
      { url, promote: role === "voter" },
      signal,
    );
  }

  /**
   * Removes node `id`. When it is this node and this node leads, leadership
   * moves to the most caught-up voter first.
   */
  async remove(id: NodeId, signal?: AbortSignal): Promise<void> {
    const host = this.#host;
    const member = host.members.get(id);
    if (!member) {
      throw new MemberError("member_unknown", `node ${id} is not a member`);
    }
    // The leader refuses to remove itself, also when a follower forwards
    // the change: whoever takes the request moves leadership away first.
    if (id === host.leader()) {
      const target = host.isLeader()
        ? this.#bestTransferTarget()
        : this.#otherVoter(id);
      if (target === 0) {
        throw new ConfChangeRefusedError(
          `node ${id} is the only voter: there is no other voter to hand leadership to`,
        );
      }
      await host.transferLeader(target, signal);
      // The new leader refuses changes until an entry of its term commits;
      // a read fence waits for exactly that.
      await host.readBarrier(signal);
    }
    try {
      await this.#changeMembership({ type: "remove", node: id, context: "" }, {
        url: member.url,
      }, signal);
    } catch (e) {
      // A removed node may hear of its removal from a peer (and stop)
      // before it applies the entry itself: the change did commit.
      if (id === host.id && host.removed()) return;
      throw e;
    }
  }

  /**
   * Applies the committed membership change `e` to the members and
   * resolves its caller; returns true when it removes this node (which
   * must then stop).
   */
  apply(e: Entry): boolean {
    const cc = decodeConfChange(e.data);
    this.#host.members.apply(cc);
    this.#host.logger.info("membership changed", {
      change: cc.type,
      node: cc.node,
      index: e.index,
    });
    const req = decodeConfContext(cc.context).req;
    this.#lastConf = { index: e.index, byUser: req !== undefined };
    if (req) this.#confs.trigger(req, e.index);
    return cc.type === "remove" && cc.node === this.#host.id;
  }

  /** Fails the caller of the membership change `e`, which the leader refused. */
  refused(e: Entry, err: unknown): void {
    let req: string | undefined;
    try {
      req = decodeConfContext(decodeConfChange(e.data).context).req;
    } catch {
      return;
    }
    if (req) this.#confs.fail(req, err);
  }

  /** Fails every caller still waiting for a change (the node stops). */
  failAll(err: unknown): void {
    this.#confs.failAll(err);
  }

  /** Leader: proposes promotion of auto-promote learners that caught up. */
  promoteCaughtUpLearners(): void {
    const raw = this.#host.raw;
    const s = raw.status();
    for (const p of s.peers) {
      if (!p.learner || p.match < s.commit) continue;
      const m = this.#host.members.get(p.id);
      if (!m?.autoPromote) continue;
      try {
        raw.proposeConfChange({
          type: "addVoter",
          node: p.id,
          context: encodeConfContext({ url: m.url }),
        });
        this.#host.logger.info("promoting caught-up learner", { node: p.id });
      } catch (e) {
        if (e instanceof NotLeaderError) return;
        // Another change is pending, or no reachable quorum yet: next tick.
      }
      return;
    }
  }

  /** A voter other than `id`: this node when it votes, else the lowest id. */
  #otherVoter(id: NodeId): NodeId {
    const self = this.#host.id;
    const voters = this.#host.members.list().filter((m) =>
      m.role === "voter" && m.id !== id
    );
    return voters.find((m) => m.id === self)?.id ?? voters[0]?.id ?? 0;
  }

  /** Leader: the voter (other than itself) whose log matches the furthest. */
  #bestTransferTarget(): NodeId {
    let best: NodeId = 0, bestMatch = -1;
    for (const p of this.#host.raw.status().peers) {
      if (p.id === this.#host.id || p.learner) continue;
      if (p.match > bestMatch) {
        best = p.id;
        bestMatch = p.match;
      }
    }
    return best;
  }

  /**
   * Proposes a user's membership change and waits until it is applied. A
   * refusal that passes on its own does not reach the caller: while the
   * leader's own change (a learner's automatic promotion) is pending, or a
   * new leader has not committed an entry of its term, this waits for that
   * and proposes again, until `signal` aborts. The caller then gets the
   * refusal (409: the change was certainly not applied). Another user's
   * pending change is a real conflict: the refusal is passed on once that
   * change is applied, so a retry sees the membership it made.
   */
  async #changeMembership(
    cc: ConfChange,
    ctx: { url: string; promote?: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    for (;;) {
      try {
        return await this.#proposeConf(cc, ctx, signal);
      } catch (e) {
        if (!(e instanceof ConfChangeRefusedError)) throw e;
        if (e.refusal === "uncommittedTerm") {
          try {
            await this.#host.readBarrier(signal);
          } catch (err) {
            if (signal?.aborted) throw e;
            throw err;
          }
        } else if (e.refusal === "pending" && e.pendingIndex > 0) {
          const host = this.#host;
          const byUser = await this.#waitConfApplied(e.pendingIndex, signal);
          const stopped = host.stopped();
          if (stopped) throw stopped;
          if (byUser !== false) throw e;
          host.logger.info("membership change waited for a pending one", {
            node: cc.node,
            pending: e.pendingIndex,
          });
        } else {
          throw e;
        }
      }
    }
  }

  /**
   * Resolves once the membership change at `index` (or anything past it)
   * is applied here: `true` when a user asked for it, `false` when it was
   * automatic (or cannot be told apart any more), `undefined` when `signal`
   * aborted or the node stopped first.
   */
  #waitConfApplied(
    index: number,
    signal?: AbortSignal,
  ): Promise<boolean | undefined> {
    return this.#host.applied.wait(index, signal).then(
      () => index === this.#lastConf.index && this.#lastConf.byUser,
      () => undefined,
    );
  }

  #proposeConf(
    cc: ConfChange,
    ctx: { url: string; promote?: boolean },
    signal?: AbortSignal,
  ): Promise<void> {
    const host = this.#host;
    host.checkServing();
    const key = `conf:${requestKey(host.nextId())}`;
    host.raw.proposeConfChange({
      ...cc,
      context: encodeConfContext({ ...ctx, req: key }),
    });
    const p = this.#confs.register(key, signal);
    host.schedule();
    return p.then(() => {});
  }
}
