/**
 * The Raft runtime around the pure core: the node loop, request envelopes,
 * membership with URLs, snapshot content, logging and runtime errors. Other
 * folders import Raft only through this module.
 *
 * @module
 */

export * from "./core/mod.ts";
export { RaftNode } from "./node.ts";
export type {
  Applied,
  NodeStorage,
  RaftNodeOptions,
  StateMachine,
  Transport,
} from "./node.ts";
export { Members } from "./members.ts";
export { LeaseExpiry } from "./lease_expiry.ts";
export type {
  CountedLease,
  Leadership,
  LeaseExpiryOptions,
  RevokeOutcome,
} from "./lease_expiry.ts";
export type { Member } from "./members.ts";
export { isLogLevel, jsonLogger } from "./logger.ts";
export {
  Counter,
  DURATION_BUCKETS,
  exponentialBuckets,
  Family,
  Gauge,
  Histogram,
  METRICS_CONTENT_TYPE,
  Registry,
} from "./metrics.ts";
export type { MetricType } from "./metrics.ts";
export { RaftMetrics } from "./raft_metrics.ts";
export type { LogLevel } from "./logger.ts";
export * from "./errors.ts";
export {
  BACKUP_MAGIC,
  BACKUP_VERSION,
  backupFileBytes,
  BackupFileError,
  decodeBackupFile,
  encodeBackupChunks,
  encodeBackupFile,
} from "./backup_file.ts";
export type { Backup, BackupMeta, BackupStateSource } from "./backup_file.ts";
export { DEFAULTS } from "./defaults.ts";
export type { Tunable, TunableName } from "./defaults.ts";
export { DiskStorage, StorageMismatchError } from "./disk_storage.ts";
export type { DiskStorageOptions } from "./disk_storage.ts";
export { DataDirLock } from "./data_dir_lock.ts";
export {
  decodeMessages,
  encodeEntries,
  encodeMessageParts,
  encodeMessages,
  encodeSnapshotMessageFrame,
} from "./codec.ts";
export type { SnapshotStream } from "./snapshot_stream.ts";
export type { SnapshotReceive } from "./snapshot_receive.ts";
export { restoreBackup } from "./restore.ts";
export { ClusterMismatchError, resolveClusterId } from "./cluster_id.ts";
export type { RestoreOptions, RestoreResult } from "./restore.ts";
/** The filesystem DiskStorage and restoreBackup run over (wal/'s). */
export type { Fs } from "../wal/mod.ts";
