/**
 * The key-value state machine of raftkv: commands and their log bytes, the
 * deterministic store with revisions and snapshots, the watch history and
 * fan-out, values in JSON, key rules and typed errors.
 *
 * @example Apply a put and read it back
 * ```ts
 * import { encodeCommand, KvStore } from "./mod.ts";
 *
 * const store = new KvStore();
 * const value = new TextEncoder().encode("bar");
 * store.apply(1, encodeCommand({ op: "put", key: "foo", value }));
 * console.log(store.get("foo")?.index); // 1
 * ```
 *
 * @module
 */

export {
  type Command,
  decodeCommand,
  type DeleteCommand,
  encodeCommand,
  type LeaseGrantCommand,
  type LeaseRevokeCommand,
  type PutCommand,
} from "./command.ts";
export {
  checkTxn,
  compareHolds,
  type CompareOperator,
  type CompareTarget,
  MAX_TXN_GET_LIMIT,
  MAX_TXN_PARTS,
  type TxnCommand,
  type TxnCompare,
  type TxnDelete,
  type TxnGet,
  type TxnOperation,
  type TxnPut,
} from "./txn.ts";
export {
  type ApplyResult,
  type ChangeListener,
  type KvEntry,
  type KvItem,
  type KvList,
  type KvReader,
  KvStore,
  type KvStoreOptions,
  type ListOptions,
  type RestoreFeed,
  type TxnOpResult,
  type TxnOutcome,
} from "./store.ts";
export {
  type Lease,
  type LeaseCounts,
  type LeaseListener,
  LeaseTable,
  MAX_LEASE_TTL_SECONDS,
  MIN_LEASE_TTL_SECONDS,
} from "./lease_table.ts";
export {
  LOCK_KEY_PREFIX,
  lockKey,
  lockNameProblem,
  type LockPlace,
  lockPrefix,
  lockQueue,
} from "./lock_queue.ts";
export { LockWaits } from "./lock_waits.ts";
export { ABSENT_REVISION, type KeyRevision } from "./revision.ts";
export {
  batchBytes,
  type ChangeBatch,
  type DeleteEvent,
  type KeyRange,
  type PutEvent,
  rangeContains,
  type WatchEvent,
} from "./watch_event.ts";
export {
  type HistoryPage,
  WATCH_HISTORY_BYTES_DEFAULT,
  WATCH_HISTORY_ENTRIES_DEFAULT,
  WatchHistory,
  type WatchHistoryOptions,
} from "./watch_history.ts";
export { WatcherIndex } from "./watcher_index.ts";
export { type Cancellation, type CancelReason, Watcher } from "./watcher.ts";
export {
  WATCH_BUFFER_BYTES_DEFAULT,
  WatchHub,
  type WatchHubOptions,
  type WatchStats,
} from "./watch_hub.ts";
export { type JsonValue, valueFromJson, valueToJson } from "./json_value.ts";
export {
  compareKeys,
  keyProblem,
  MAX_KEY_BYTES,
  utf8ByteLength,
  validateKey,
} from "./key.ts";
export {
  ApplyOrderError,
  CompactedError,
  InvalidCommandError,
  InvalidKeyError,
  InvalidSnapshotError,
  InvalidValueError,
  KeyNotFoundError,
  KvError,
  LeaseNotFoundError,
  PreconditionFailedError,
} from "./errors.ts";
