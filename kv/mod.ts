/**
 * The key-value state machine of raftkv: commands and their log bytes, the
 * deterministic store with snapshots, key rules and typed errors.
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
  type PutCommand,
} from "./command.ts";
export {
  type ApplyResult,
  type KvEntry,
  type KvItem,
  type KvList,
  type KvReader,
  KvStore,
  type ListOptions,
} from "./store.ts";
export {
  compareKeys,
  keyProblem,
  MAX_KEY_BYTES,
  utf8ByteLength,
  validateKey,
} from "./key.ts";
export {
  ApplyOrderError,
  InvalidCommandError,
  InvalidKeyError,
  InvalidSnapshotError,
  KeyNotFoundError,
  KvError,
  PreconditionFailedError,
} from "./errors.ts";
