/**
 * Who is in the cluster and where to reach them, as the application sees
 * it: built from applied membership entries (and restored from snapshots),
 * with each member's URL from the change's context. Removed ids are
 * remembered so they are never reused and their messages are refused.
 *
 * @module
 */

import type { ConfChange, NodeId } from "./core/mod.ts";

/** A member of the cluster. */
export interface Member {
  id: NodeId;
  url: string;
  role: "voter" | "learner";
  /** A learner the leader promotes to voter once it has caught up. */
  autoPromote: boolean;
}

/** What raftkv puts in a membership change's `context`. */
export interface ConfContext {
  url: string;
  /** The request id of the caller waiting for the change, if any. */
  req?: string;
  /** For `addLearner`: promote to voter once caught up. */
  promote?: boolean;
}

/** Encodes a change's context. */
export function encodeConfContext(ctx: ConfContext): string {
  return JSON.stringify(ctx);
}

/** Decodes a change's context; tolerates anything (old or foreign entries). */
export function decodeConfContext(s: string): ConfContext {
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === "object" && v !== null) {
      const o = v as Record<string, unknown>;
      const ctx: ConfContext = { url: typeof o.url === "string" ? o.url : "" };
      if (typeof o.req === "string") ctx.req = o.req;
      if (o.promote === true) ctx.promote = true;
      return ctx;
    }
  } catch {
    // Not JSON: treat the whole context as the URL.
  }
  return { url: s };
}

/** The membership image stored inside snapshots. */
export interface MembersImage {
  members: Member[];
  removed: NodeId[];
}

/** The applied membership, with URLs. */
export class Members {
  #members = new Map<NodeId, Member>();
  #removed = new Set<NodeId>();

  /** Applies a committed membership change. */
  apply(cc: ConfChange): void {
    const ctx = decodeConfContext(cc.context);
    const old = this.#members.get(cc.node);
    switch (cc.type) {
      case "addVoter":
        this.#members.set(cc.node, {
          id: cc.node,
          url: ctx.url || old?.url || "",
          role: "voter",
          autoPromote: false,
        });
        break;
      case "addLearner":
        this.#members.set(cc.node, {
          id: cc.node,
          url: ctx.url || old?.url || "",
          role: "learner",
          autoPromote: ctx.promote === true,
        });
        break;
      case "remove":
        this.#members.delete(cc.node);
        this.#removed.add(cc.node);
        break;
    }
  }

  /** Members sorted by id. */
  list(): Member[] {
    return [...this.#members.values()].sort((a, b) => a.id - b.id);
  }

  /** The member `id`, if present. */
  get(id: NodeId): Member | undefined {
    return this.#members.get(id);
  }

  /** Whether `id` was a member once and has been removed. */
  isRemoved(id: NodeId): boolean {
    return this.#removed.has(id);
  }

  /** The image stored in snapshots. */
  image(): MembersImage {
    return {
      members: this.list(),
      removed: [...this.#removed].sort((a, b) => a - b),
    };
  }

  /** Replaces everything with a snapshot's image. */
  restore(img: MembersImage): void {
    this.#members = new Map(img.members.map((m) => [m.id, { ...m }]));
    this.#removed = new Set(img.removed);
  }
}
