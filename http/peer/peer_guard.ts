/**
 * Who may send this node Raft messages: the checks every `POST /raft` and
 * `GET /raft/stream` handshake passes before anything reaches the node
 * (after the peer token, http/auth.ts). Each request declares its sender in
 * {@linkcode PEER_HEADERS}: the sender's cluster id (raft/cluster_id.ts)
 * and node id. Refused, with a 403 (http/errors.ts' PeerRefusedError):
 *
 * - another cluster id, or none: `cluster_mismatch`;
 * - a sender that is neither a current member (voter or learner) of this
 *   node's configuration nor named in its `--cluster` list:
 *   `peer_unknown` (a removed member still gets its 410 `peer_removed` from
 *   the node, which makes it stop);
 * - a message whose `from` is not the declared sender, or whose `to` is not
 *   this node: `peer_mismatch`;
 * - a snapshot chunk from a node this node does not know as its leader:
 *   `peer_not_leader`; one naming another sender: `peer_mismatch`.
 *
 * The `--cluster` list counts because a node's configuration can lag: a
 * node that was down while members were added (or that is joining, with no
 * configuration at all) must take the messages of a new leader it does not
 * know yet, or it could never catch up. A joining node learns its cluster
 * id from the first member that writes to it.
 *
 * Each refusal is counted in `raftkv_peer_refused_total{reason}` and logged
 * at warn once per sender and reason (the set of senders logged is bounded).
 *
 * @module
 */

import type {
  Counter,
  Family,
  Logger,
  Message,
  Registry,
} from "../../raft/mod.ts";
import type { ChunkInfo } from "./snapshot_chunks.ts";
import { NodeRecoveringError, PeerRefusedError } from "../errors.ts";

/** The request headers that declare who sends a peer request. */
export const PEER_HEADERS = {
  /** The sender's cluster id. */
  cluster: "x-raftkv-cluster",
  /** The sender's node id. */
  from: "x-raftkv-from",
} as const;

/** How this node knows a peer. */
export type PeerStanding = "member" | "removed" | "unknown";

/** What the guard needs to know of the node; http/serving/server.ts wires a RaftNode. */
export interface PeerDirectory {
  /** False until the node is created (storage open): peers get 503. */
  ready(): boolean;
  /**
   * True while the node replays its log after a start: its membership may
   * still lack members added since its snapshot, so an unknown sender gets
   * 503 (retry) instead of 403.
   */
  recovering(): boolean;
  /** This node's id. */
  selfId(): number;
  /** This node's cluster id; "" while a joining node has not learned it. */
  clusterId(): string;
  /** Makes `id` this node's cluster id for good (persisted first). */
  learnClusterId(id: string): Promise<void>;
  /**
   * `removed` for a removed member; `member` for a voter or learner of this
   * node's configuration, or a node its `--cluster` list names.
   */
  standing(id: number): PeerStanding;
  /** The leader this node knows, 0 for none. */
  leader(): number;
}

/** Options of {@linkcode PeerGuard}. */
export interface PeerGuardOptions {
  directory: PeerDirectory;
  logger: Logger;
  /** Where `raftkv_peer_refused_total` is counted. */
  registry: Registry;
}

/** Senders remembered as already logged; past it the memory starts over. */
const MAX_LOGGED = 1024;

/** The checks of the module doc. */
export class PeerGuard {
  readonly #dir: PeerDirectory;
  readonly #logger: Logger;
  readonly #refused: Family<Counter>;
  readonly #logged = new Set<string>();

  constructor(o: PeerGuardOptions) {
    this.#dir = o.directory;
    this.#logger = o.logger;
    this.#refused = o.registry.counterFamily(
      "raftkv_peer_refused_total",
      "Peer requests and messages refused before reaching the node, by reason.",
      ["reason"],
    );
  }

  /**
   * Checks the identity headers of a peer request and returns the declared
   * sender. A joining node learns (and persists) the cluster id here.
   * Throws {@linkcode PeerRefusedError} (403), or a 503 while the node is
   * not created yet.
   */
  async admit(headers: Headers): Promise<number> {
    if (!this.#dir.ready()) throw new NodeRecoveringError();
    const declared = headers.get(PEER_HEADERS.cluster) ?? "";
    const rawFrom = headers.get(PEER_HEADERS.from) ?? "";
    const from = /^[1-9][0-9]{0,15}$/.test(rawFrom) ? Number(rawFrom) : 0;
    if (!Number.isSafeInteger(from) || from === 0) {
      throw this.#refuse(
        "peer_unknown",
        0,
        declared,
        `peer requests must name their sender in ${PEER_HEADERS.from}`,
      );
    }
    const standing = this.#dir.standing(from);
    // A removed member is answered by the node (410), so that it stops.
    if (standing === "removed") return from;
    const own = this.#dir.clusterId();
    if (
      own === "" && standing === "member" && /^[0-9a-f]{16}$/.test(declared)
    ) {
      await this.#dir.learnClusterId(declared);
      this.#logger.info("learned the cluster id", {
        clusterId: declared,
        from,
      });
    } else if (declared !== own || own === "") {
      throw this.#refuse(
        "cluster_mismatch",
        from,
        declared,
        `this node belongs to cluster ${own || "(not known yet)"}, ` +
          `not ${declared.slice(0, 64) || "(none declared)"}`,
      );
    }
    if (standing !== "member" && this.#dir.recovering()) {
      throw new NodeRecoveringError();
    }
    if (standing !== "member") {
      throw this.#refuse(
        "peer_unknown",
        from,
        declared,
        `node ${from} is not a member of this node's cluster`,
      );
    }
    return from;
  }

  /** The leader this node knows, 0 for none. */
  leader(): number {
    return this.#dir.leader();
  }

  /**
   * Checks every message of a batch that `from` declared: its sender is
   * `from` and its receiver this node. Throws {@linkcode PeerRefusedError}.
   */
  checkBatch(msgs: readonly Message[], from: number): void {
    const self = this.#dir.selfId();
    for (const m of msgs) {
      if (m.from !== from || m.to !== self) {
        throw this.#refuse(
          "peer_mismatch",
          from,
          this.#dir.clusterId(),
          `a ${m.type} message from ${m.from} to ${m.to} in a batch node ` +
            `${from} sent to node ${self}`,
        );
      }
    }
  }

  /**
   * Checks a snapshot chunk of sender `from` (admitted): its chunk header
   * names `from`, and `from` is the leader this node knows. Throws
   * {@linkcode PeerRefusedError}.
   */
  checkChunk(chunk: ChunkInfo, from: number): void {
    if (chunk.from !== from) {
      throw this.#refuse(
        "peer_mismatch",
        from,
        this.#dir.clusterId(),
        `a snapshot chunk of node ${chunk.from} sent by node ${from}`,
      );
    }
    const leader = this.#dir.leader();
    if (leader !== from) {
      throw this.#refuse(
        "peer_not_leader",
        from,
        this.#dir.clusterId(),
        `snapshots are taken from the leader only (this node knows ${
          leader === 0 ? "none" : `node ${leader}`
        }, not node ${from})`,
      );
    }
  }

  /** Counts and logs (once per sender and reason) a refusal; returns it. */
  #refuse(
    reason: string,
    from: number,
    cluster: string,
    message: string,
  ): PeerRefusedError {
    this.#refused.labels(reason).inc();
    const key = `${reason} ${from} ${cluster}`;
    if (!this.#logged.has(key)) {
      if (this.#logged.size >= MAX_LOGGED) this.#logged.clear();
      this.#logged.add(key);
      this.#logger.warn("refused peer messages", {
        reason,
        from,
        cluster: cluster.slice(0, 64),
        error: message,
      });
    }
    return new PeerRefusedError(reason, message);
  }
}
