/**
 * `raftkv restore`: seeds a data directory from a backup file
 * (raft/backup_file.ts) so that a node started on it is a member of a NEW
 * cluster whose state is the backup, like `etcdctl snapshot restore`.
 *
 * Every member is restored from the same file with its own id and
 * directory. The directory then holds, through the real
 * {@linkcode DiskStorage}, one Raft snapshot at the backup's index and term
 * whose membership is `cluster` (all voters) and whose state is the
 * backup's, and a fresh hard state (that term, no vote, committed up to the
 * index). Normal recovery loads it; the node does not bootstrap since the
 * directory is not empty, and the members elect a leader in the next term.
 * Keeping the backup's index keeps the store's write indexes (and so
 * `If-Match` versions) increasing across the restore.
 *
 * @module
 */

import { clusterIdOf } from "./cluster_id.ts";
import type { Fs } from "../wal/mod.ts";
import { type Logger, nopLogger, RaftKvError } from "./core/mod.ts";
import type { Snapshot } from "./core/mod.ts";
import { type Backup, decodeBackupFile } from "./backup_file.ts";
import type { StorageMetadata } from "./codec.ts";
import { LOCK_FILE } from "./data_dir_lock.ts";
import { DiskStorage } from "./disk_storage.ts";
import { encodeConfContext, type Member, Members } from "./members.ts";
import { encodeSnapshotData } from "./snapshot_data.ts";

/** A restore that cannot be done: bad arguments, a used directory, bad state. */
export class RestoreError extends RaftKvError {
  constructor(message: string) {
    super("restore_refused", message);
  }
}

/** What {@linkcode restoreBackup} needs. */
export interface RestoreOptions {
  fs: Fs;
  /** The backup file to read. */
  from: string;
  /** The data directory to seed; must be missing or empty. */
  dataDir: string;
  /** This member's id, 1-based: its URL is `cluster[id - 1]`. */
  id: number;
  /** The new cluster's member URLs, in id order. */
  cluster: readonly string[];
  /** The new cluster's `--cluster-token`, if it is started with one. */
  clusterToken?: string;
  /**
   * The owner written into the WAL; must be what the node is later started
   * with. Default: node `id` of the cluster that `cluster` and
   * `clusterToken` make (raft/cluster_id.ts), as http/serving/server.ts
   * starts nodes.
   */
  metadata?: StorageMetadata;
  /**
   * Checks the backup's store image before anything is written (main.ts
   * passes the store's own decoder); throwing refuses the restore.
   */
  checkState?: (state: Uint8Array) => void;
  logger?: Logger;
}

/** What a restore wrote. */
export interface RestoreResult {
  /** The Raft index and term of the seeded snapshot. */
  index: number;
  term: number;
  /** The backup's own metadata. */
  backup: Omit<Backup, "state">;
  /** Bytes of the store image. */
  stateBytes: number;
  /** The new cluster's members. */
  members: Member[];
}

/** Reads and verifies the backup at `path`. */
export async function readBackup(fs: Fs, path: string): Promise<Backup> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    throw new RestoreError(
      `cannot read the backup ${path}: ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
  return decodeBackupFile(bytes);
}

/**
 * Throws unless `dir` is missing or an empty directory. A `LOCK` file alone
 * counts as empty: a node that stopped before writing anything leaves one.
 */
async function requireEmptyDir(fs: Fs, dir: string): Promise<void> {
  const stat = await fs.stat(dir);
  if (stat === undefined) return;
  if (!stat.isDirectory) {
    throw new RestoreError(`${dir} exists and is not a directory`);
  }
  const names = (await fs.readDir(dir)).filter((n) => n !== LOCK_FILE);
  if (names.length > 0) {
    throw new RestoreError(
      `the data directory ${dir} is not empty (${names.length} entries): ` +
        "restore only into a new or empty directory",
    );
  }
}

/** The membership image of a new cluster of voters `cluster`. */
function newMembers(cluster: readonly string[]): Members {
  const members = new Members();
  cluster.forEach((url, i) =>
    members.apply({
      type: "addVoter",
      node: i + 1,
      context: encodeConfContext({ url }),
    })
  );
  return members;
}

/**
 * Verifies the backup at `o.from` and seeds `o.dataDir` from it (see the
 * module doc). Nothing is written unless the backup, its state and the
 * arguments are all good and the directory is missing or empty.
 *
 * @throws {BackupFileError} when the file is not a valid backup.
 * @throws {RestoreError} for an unreadable file, bad arguments, a used
 * directory or a state `checkState` refuses.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const logger = o.logger ?? nopLogger;
  if (o.cluster.length === 0) {
    throw new RestoreError("the new cluster needs at least one member URL");
  }
  if (!Number.isSafeInteger(o.id) || o.id < 1 || o.id > o.cluster.length) {
    throw new RestoreError(
      `id ${o.id} has no URL in the cluster (${o.cluster.length} URLs)`,
    );
  }
  const backup = await readBackup(o.fs, o.from);
  if (o.checkState) {
    try {
      o.checkState(backup.state);
    } catch (err) {
      throw new RestoreError(
        `the backup's store image is invalid: ${
          err instanceof Error ? err.message : String(err)
        }`,
      );
    }
  }
  await requireEmptyDir(o.fs, o.dataDir);

  // A Raft snapshot needs a positive index and term; a backup of a fresh
  // node may carry zeros.
  const index = Math.max(backup.index, 1);
  const term = Math.max(backup.term, 1);
  const members = newMembers(o.cluster);
  const snapshot: Snapshot = {
    meta: {
      index,
      term,
      conf: { voters: o.cluster.map((_, i) => i + 1), learners: [] },
    },
    data: encodeSnapshotData({
      members: members.image(),
      state: backup.state,
    }),
  };
  const metadata = o.metadata ?? {
    clusterId: clusterIdOf(o.cluster, o.clusterToken ?? ""),
    nodeId: o.id,
  };
  const storage = await DiskStorage.open(o.fs, o.dataDir, {
    logger,
    metadata,
  });
  try {
    await storage.save({
      snapshot,
      hardState: { term, vote: 0, commit: index },
      entries: [],
      mustSync: true,
    });
  } finally {
    await storage.close();
  }
  logger.info("restore: data directory seeded", {
    dir: o.dataDir,
    id: o.id,
    index,
    term,
    members: o.cluster.length,
  });
  const { state, ...meta } = backup;
  return {
    index,
    term,
    backup: meta,
    stateBytes: state.length,
    members: members.list(),
  };
}
