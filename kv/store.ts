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
import { ValueArena } from "./value_arena.ts";

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
 * The key-value state machine: see the module doc.
 *
 * Memory: each key has a slot number (the Map's value, a small integer
 * kept unboxed); the slot's write index sits in a Float64Array and its value
 * bytes in a {@linkcode ValueArena}, so a key costs its string, its Map and
 * sorted-list entries and 20 bytes besides its value's bytes, with no object
 * per key.
 */
export class KvStore implements KvReader {
  #slots = new Map<string, number>();
  #freeSlots: number[] = [];
  #slotCount = 0;
  #indexOf = new Float64Array(0);
  #values = new ValueArena();
  #keys = new SortedKeys();
  #appliedIndex = 0;

  /** The index of the last entry applied or restored (0 before any). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The number of keys. */
  get size(): number {
    return this.#slots.size;
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
    const slot = this.#slots.get(cmd.key);
    const currentIndex = slot === undefined ? 0 : this.#indexOf[slot]!;
    if (cmd.ifMatch !== undefined && cmd.ifMatch !== currentIndex) {
      return { status: "precondition_failed", currentIndex };
    }
    if (cmd.op === "put") {
      if (cmd.ifNoneMatch && slot !== undefined) {
        return { status: "precondition_failed", currentIndex };
      }
      if (slot === undefined) {
        const fresh = this.#newSlot();
        this.#slots.set(cmd.key, fresh);
        this.#keys.insert(cmd.key);
        this.#write(fresh, cmd.value, index);
      } else {
        this.#write(slot, cmd.value, index);
      }
    } else if (slot !== undefined) {
      this.#slots.delete(cmd.key);
      this.#keys.delete(cmd.key);
      this.#values.clear(slot);
      this.#indexOf[slot] = 0;
      this.#freeSlots.push(slot);
    }
    return { status: "ok", index };
  }

  /** Returns a free slot, growing the per-slot arrays when needed. */
  #newSlot(): number {
    if (this.#freeSlots.length > 0) return this.#freeSlots.pop()!;
    const slot = this.#slotCount++;
    if (slot >= this.#indexOf.length) {
      const grown = new Float64Array(
        Math.max(1024, Math.ceil(this.#indexOf.length * 1.5)),
      );
      grown.set(this.#indexOf);
      this.#indexOf = grown;
      this.#values.reserve(grown.length);
    }
    return slot;
  }

  /** Copies `value` into `slot` (the caller's bytes are not kept). */
  #write(slot: number, value: Uint8Array, index: number): void {
    this.#values.set(slot, value);
    this.#indexOf[slot] = index;
  }

  /**
   * Returns the value of `key` and the index that wrote it, or undefined.
   * The value is a view into the store's memory: never change it.
   */
  get(key: string): KvEntry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    return { value: this.#values.get(slot), index: this.#indexOf[slot]! };
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
      const slot = this.#slots.get(key)!;
      items.push({
        key,
        value: this.#values.get(slot),
        index: this.#indexOf[slot]!,
      });
      return true;
    });
    return { items, more };
  }

  /**
   * Returns the whole state as bytes. Deterministic: the same state (keys,
   * values, write indexes and applied index) always gives the same bytes.
   */
  snapshot(): Uint8Array {
    return this.snapshotAfter(0);
  }

  /**
   * Returns {@linkcode snapshot}'s bytes after `headroom` zero bytes, in one
   * buffer: a caller that frames the snapshot writes its header there
   * instead of copying the whole state.
   */
  snapshotAfter(headroom: number): Uint8Array {
    const slots = this.#slots;
    const values = this.#values;
    const indexOf = this.#indexOf;
    const keys = this.#keys.toArray();
    const slotOf = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) slotOf[i] = slots.get(keys[i]!)!;
    return encodeSnapshot(this.#appliedIndex, keys, {
      valueLength: (i) => values.length(slotOf[i]!),
      index: (i) => indexOf[slotOf[i]!]!,
      copyValue: (i, out, pos) => values.copyTo(slotOf[i]!, out, pos),
    }, headroom);
  }

  /**
   * Replaces the whole state with a snapshot's. Validates everything before
   * changing anything, so a bad snapshot leaves the store as it was.
   *
   * @throws {InvalidSnapshotError} when `bytes` is not a valid snapshot.
   */
  restore(bytes: Uint8Array): void {
    const content = decodeSnapshot(bytes);
    const n = content.entries.length;
    const slots = new Map<string, number>();
    const keys: string[] = new Array(n);
    const indexOf = new Float64Array(Math.max(1024, n));
    const values = new ValueArena();
    values.reserve(indexOf.length);
    for (let i = 0; i < n; i++) {
      const { key, value, index } = content.entries[i]!;
      slots.set(key, i);
      keys[i] = key;
      indexOf[i] = index;
      values.set(i, value);
    }
    this.#slots = slots;
    this.#freeSlots = [];
    this.#slotCount = n;
    this.#indexOf = indexOf;
    this.#values = values;
    this.#keys = SortedKeys.fromSorted(keys);
    this.#appliedIndex = content.appliedIndex;
  }
}
