/**
 * The {@linkcode PeerDirectory} of a real node: membership, leader and
 * cluster id as the RaftNode knows them, for the peer checks of
 * http/peer/peer_guard.ts.
 *
 * @module
 */

import type { RaftNode } from "../../raft/mod.ts";
import type { PeerDirectory, PeerStanding } from "./peer_guard.ts";

/** Options of {@linkcode RaftPeerDirectory}. */
export interface RaftPeerDirectoryOptions {
  /** This node's id. */
  id: number;
  /** The node; undefined until storage is open (peers then get 503). */
  node: () => RaftNode | undefined;
  /** The cluster id the node started with ("" when it must learn it). */
  clusterId: () => string;
  /** Persists a learned cluster id and starts sending it to peers. */
  learnClusterId: (id: string) => Promise<void>;
}

/** A {@linkcode PeerDirectory} over a RaftNode; see the module doc. */
export class RaftPeerDirectory implements PeerDirectory {
  readonly #o: RaftPeerDirectoryOptions;

  constructor(o: RaftPeerDirectoryOptions) {
    this.#o = o;
  }

  ready(): boolean {
    return this.#o.node() !== undefined;
  }

  recovering(): boolean {
    return this.#o.node()?.recovering() ?? true;
  }

  selfId(): number {
    return this.#o.id;
  }

  clusterId(): string {
    return this.#o.clusterId();
  }

  learnClusterId(id: string): Promise<void> {
    return this.#o.learnClusterId(id);
  }

  standing(id: number): PeerStanding {
    const n = this.#o.node();
    if (!n) return "unknown";
    if (n.members.isRemoved(id)) return "removed";
    if (n.members.get(id)) return "member";
    // Named in --cluster (and not removed): an initial member, or one added
    // since that this node has not applied yet (it was down, or is joining
    // and has no configuration at all). Its messages are what let this
    // node catch up, so they must not be refused.
    return n.urlOf(id) !== undefined ? "member" : "unknown";
  }

  leader(): number {
    return this.#o.node()?.leader() ?? 0;
  }
}
