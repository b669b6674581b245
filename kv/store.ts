/**
 * The key-value state machine. Deterministic: the same entries applied in
 * the same order give the same state and the same snapshot bytes on every
 * node. It knows nothing of Raft; the node calls `apply` for each committed
 * entry in index order.
 *
 * @module
 */

import { type Command, decodeCommand } from "./command.ts";
import { ApplyOrderError, InvalidCommandError } from "./errors.ts";
import { SortedKeys } from "./sorted_keys.ts";
import { compareKeys } from "./key.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot_codec.ts";

/** A stored value and the index of the write that set it. */
export interface KvEntry {
  /** The value's bytes; shared with the store, so never change them. */
  readonly value: Uint8Array;
  /** The log index of the write that set this value (>= 1). */
  readonly index: number;
}

/** One item of a listing. */
export interface KvItem extends KvEntry {
  readonly key: string;
}

/** A page of a listing. */
export interface KvList {
  /** Items in UTF-8 byte order of their keys. */
  items: KvItem[];
  /** Whether more keys with the prefix follow the last item. */
  more: boolean;
}

/** Options of {@linkcode KvReader.list}. */
export interface ListOptions {
  /** Start after this key (exclusive), to page through a long listing. */
  after?: string;
}

/**
 * What a command's application did. Every outcome is deterministic, and
 * every outcome advances the applied index.
 *
 * - `ok`: applied; `index` is the write's index.
 * - `precondition_failed`: a condition did not hold and nothing changed;
 *   `currentIndex` is the key's write index, 0 when absent (HTTP 412).
 * - `invalid`: the bytes were not a valid command and nothing changed. The
 *   HTTP layer never proposes such bytes, so this means a foreign writer.
 */
export type ApplyResult =
  | { status: "ok"; index: number }
  | { status: "precondition_failed"; currentIndex: number }
  | { status: "invalid"; message: string };

/** The read side of the store: what the HTTP layer reads after a barrier. */
export interface KvReader {
  /** The index of the last entry applied (0 before any). */
  readonly appliedIndex: number;
  /** The number of keys. */
  readonly size: number;
  /** Returns the value of `key` and the index that wrote it, or undefined. */
  get(key: string): KvEntry | undefined;
  /**
   * Lists up to `limit` keys starting with `prefix` in UTF-8 byte order;
   * costs O(log n + limit).
   */
  list(prefix: string, limit: number, options?: ListOptions): KvList;
}

/**
 * Copy views into a buffer more than this much larger than the value. A
 * leader's value sits in its own entry (a small envelope around it: kept);
 * a follower's in a whole batch frame from the network, which a stored view
 * would pin for as long as the key keeps that value (copied).
 */
const SLACK_BYTES_MAX = 256;

/** The key-value state machine: see the module doc. */
export class KvStore implements KvReader {
  #entries = new Map<string, KvEntry>();
  #keys = new SortedKeys();
  #appliedIndex = 0;

  /** The index of the last entry applied or restored (0 before any). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The number of keys. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Applies the log entry at `index` whose bytes are `data`. Empty `data`
   * is a no-op (a leader's empty entry, or a membership entry the node
   * applies elsewhere) that only advances the applied index.
   *
   * @throws {ApplyOrderError} when `index` is not above the applied index:
   * the caller must apply each index once, in increasing order (gaps are
   * allowed).
   */
  apply(index: number, data: Uint8Array): ApplyResult {
    if (!Number.isSafeInteger(index) || index <= this.#appliedIndex) {
      throw new ApplyOrderError(index, this.#appliedIndex);
    }
    this.#appliedIndex = index;
    if (data.length === 0) return { status: "ok", index };
    let cmd: Command;
    try {
      cmd = decodeCommand(data);
    } catch (err) {
      if (err instanceof InvalidCommandError) {
        return { status: "invalid", message: err.message };
      }
      throw err;
    }
    return this.#applyCommand(index, cmd);
  }

  #applyCommand(index: number, cmd: Command): ApplyResult {
    const current = this.#entries.get(cmd.key);
    const currentIndex = current === undefined ? 0 : current.index;
    if (cmd.ifMatch !== undefined && cmd.ifMatch !== currentIndex) {
      return { status: "precondition_failed", currentIndex };
    }
    if (cmd.op === "put") {
      if (cmd.ifNoneMatch && current !== undefined) {
        return { status: "precondition_failed", currentIndex };
      }
      let value = cmd.value;
      // A decoded value is a view into the entry (or a whole batch): copy it
      // when the buffer behind it is much larger, so we do not pin the batch.
      if (value.buffer.byteLength > value.length + SLACK_BYTES_MAX) {
        value = value.slice();
      }
      this.#entries.set(cmd.key, { value, index });
      if (current === undefined) this.#keys.insert(cmd.key);
    } else if (current !== undefined) {
      this.#entries.delete(cmd.key);
      this.#keys.delete(cmd.key);
    }
    return { status: "ok", index };
  }

  /** Returns the value of `key` and the index that wrote it, or undefined. */
  get(key: string): KvEntry | undefined {
    return this.#entries.get(key);
  }

  /**
   * Lists up to `limit` (>= 0) keys starting with `prefix`, in UTF-8 byte
   * order, after `options.after` when given. O(log n + limit).
   */
  list(prefix: string, limit: number, options: ListOptions = {}): KvList {
    const items: KvItem[] = [];
    let more = false;
    const after = options.after;
    const start = after !== undefined && compareKeys(after, prefix) > 0
      ? after
      : prefix;
    this.#keys.scan(start, (key) => {
      if (key === after) return true;
      if (!key.startsWith(prefix)) return false;
      if (items.length === limit) {
        more = true;
        return false;
      }
      const entry = this.#entries.get(key)!;
      items.push({ key, value: entry.value, index: entry.index });
      return true;
    });
    return { items, more };
  }

  /**
   * Returns the whole state as bytes. Deterministic: the same state (keys,
   * values, write indexes and applied index) always gives the same bytes.
   */
  snapshot(): Uint8Array {
    const entries = this.#entries;
    return encodeSnapshot(
      this.#appliedIndex,
      this.#keys.toArray(),
      (key) => entries.get(key)!,
    );
  }

  /**
   * Replaces the whole state with a snapshot's. Validates everything before
   * changing anything, so a bad snapshot leaves the store as it was.
   *
   * @throws {InvalidSnapshotError} when `bytes` is not a valid snapshot.
   */
  restore(bytes: Uint8Array): void {
    const content = decodeSnapshot(bytes);
    const map = new Map<string, KvEntry>();
    const keys: string[] = new Array(content.entries.length);
    for (let i = 0; i < content.entries.length; i++) {
      const { key, value, index } = content.entries[i]!;
      map.set(key, { value, index });
      keys[i] = key;
    }
    this.#entries = map;
    this.#keys = SortedKeys.fromSorted(keys);
    this.#appliedIndex = content.appliedIndex;
  }
}
