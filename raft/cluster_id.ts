/**
 * The cluster id: which cluster a node and its data directory belong to.
 * It is fixed when a cluster is bootstrapped (or restored), from the initial
 * member list exactly as `--cluster` gives it (URLs in id order) and the
 * optional `--cluster-token`, like etcd's `--initial-cluster-token`; it is
 * written at the head of every WAL segment (raft/codec.ts' StorageMetadata)
 * and travels with every peer message (http/peer/peer_guard.ts), so a node never
 * takes messages of another cluster.
 *
 * A node started with `--join` on an empty directory has no id yet: it
 * learns the id from the first message of a member and persists it.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { RaftKvError } from "./core/mod.ts";

/** The length of a cluster id: the first 16 hex digits of a SHA-256. */
export const CLUSTER_ID_LENGTH = 16;

/** Whether `s` has the shape of a cluster id (16 lowercase hex digits). */
export function isClusterId(s: string): boolean {
  return /^[0-9a-f]{16}$/.test(s);
}

/**
 * The id of the cluster bootstrapped with these member URLs (in id order)
 * and token: the first 16 hex digits of SHA-256 over both, so the same
 * flags give the same id on every member.
 */
export function clusterIdOf(urls: readonly string[], token = ""): string {
  return createHash("sha256")
    .update(JSON.stringify({ cluster: urls, token }), "utf8")
    .digest("hex")
    .slice(0, CLUSTER_ID_LENGTH);
}

/** A data directory of another cluster than the flags describe. */
export class ClusterMismatchError extends RaftKvError {
  constructor(dataDir: string, found: string) {
    super(
      "cluster_mismatch",
      `data directory ${dataDir} belongs to cluster ${found}, not to the ` +
        "cluster --cluster and --cluster-token describe: start it with the " +
        "--cluster list and --cluster-token it was bootstrapped with, or " +
        "give this node an empty --data-dir",
    );
  }
}

/** What {@linkcode resolveClusterId} decides from. */
export interface ClusterIdInputs {
  /** The id the data directory holds, "" for none (new, or older raftkv). */
  stored: string;
  /** `--join`: the id comes from the cluster, not from the flags. */
  join: boolean;
  /** `--cluster`, in id order. */
  cluster: readonly string[];
  /** `--cluster-token` ("" when not given). */
  token: string;
  /** For the error message. */
  dataDir: string;
}

/**
 * The cluster id a node starts with, "" when it must learn it (a joining
 * node whose directory holds none yet).
 *
 * - A stored id wins for a joining node (it learned it from the cluster).
 * - Otherwise a stored id must be the id of `cluster` or of one of its
 *   prefixes with `token`: members added later are appended to `--cluster`
 *   (node N's URL is its N-th entry), so the list a member is restarted
 *   with may be longer than the one it was bootstrapped with. Any other
 *   stored id throws {@linkcode ClusterMismatchError}.
 * - No stored id: a new or older directory bootstrapped with these flags
 *   takes the id of the whole list.
 */
export function resolveClusterId(i: ClusterIdInputs): string {
  if (i.stored !== "") {
    if (i.join) return i.stored;
    for (let n = i.cluster.length; n >= 1; n--) {
      if (clusterIdOf(i.cluster.slice(0, n), i.token) === i.stored) {
        return i.stored;
      }
    }
    throw new ClusterMismatchError(i.dataDir, i.stored);
  }
  if (i.join) return "";
  return clusterIdOf(i.cluster, i.token);
}
