/**
 * The key-value state machine. Deterministic: the same entries applied in
 * the same order give the same state and the same snapshot bytes on every
 * node. It knows nothing of Raft; the node calls `apply` for each committed
 * entry in index order.
 *
 * Every key carries its revision ({@linkcode KeyRevision}); every applied
 * entry that changed keys becomes a {@linkcode ChangeBatch}, kept in the
 * store's {@linkcode WatchHistory} and handed to its change listeners (the
 * watch fan-out) before `apply` returns.
 *
 * @module
 */

import { type Command, decodeCommand } from "./command.ts";
import { ApplyOrderError, InvalidCommandError } from "./errors.ts";
import { SortedKeys } from "./sorted_keys.ts";
import { compareKeys, utf8ByteLength } from "./key.ts";
import { SnapshotReader, snapshotRecordBytes } from "./snapshot_codec.ts";
import { snapshotByteLength, StoreView } from "./store_view.ts";
import { ValueArena } from "./value_arena.ts";
import {
  ABSENT_REVISION,
  type KeyRevision,
  RevisionTable,
} from "./revision.ts";
import type { ChangeBatch, WatchEvent } from "./watch_event.ts";
import { WatchHistory, type WatchHistoryOptions } from "./watch_history.ts";

/** A stored value and its revision. */
export interface KvEntry extends KeyRevision {
  /** The value's bytes; shared with the store, so never change them. */
  readonly value: Uint8Array;
  /**
   * The log index of the write that set this value (>= 1): the same as
   * `modIndex`, under the name the ETag and `X-Raft-Index` code uses.
   */
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
  /** Returns the value of `key` and its revision, or undefined. */
  get(key: string): KvEntry | undefined;
  /** Returns the revision of `key`; all zeros when absent. */
  revision(key: string): KeyRevision;
  /**
   * Lists up to `limit` keys starting with `prefix` in UTF-8 byte order;
   * costs O(log n + limit).
   */
  list(prefix: string, limit: number, options?: ListOptions): KvList;
}

/** Told of every change, synchronously, in index order. Must not throw. */
export interface ChangeListener {
  /** The entry at `batch.index` changed the keys of `batch.events`. */
  changed(batch: ChangeBatch): void;
  /**
   * A snapshot replaced the whole state at `appliedIndex`: the changes up
   * to it were not seen one by one.
   */
  restored(appliedIndex: number): void;
}

/** Records {@linkcode KvStore.restoreSteps} loads per step by default. */
const RESTORE_RECORDS_PER_STEP = 2048;

/** Options of {@linkcode KvStore}. */
export interface KvStoreOptions {
  /** Retention of the watch history (`--watch-history`). */
  history?: WatchHistoryOptions;
}

/**
 * The key-value state machine: see the module doc.
 *
 * Memory: each key has a slot number (the Map's value, a small integer
 * kept unboxed); the slot's revision sits in a {@linkcode RevisionTable}
 * and its value bytes in a {@linkcode ValueArena}, so a key costs its
 * string, its Map and sorted-list entries and 44 bytes besides its value's
 * bytes, with no object per key.
 */
export class KvStore implements KvReader {
  #slots = new Map<string, number>();
  #freeSlots: number[] = [];
  #slotCount = 0;
  #revisions = new RevisionTable();
  #values = new ValueArena();
  #keys = new SortedKeys();
  #appliedIndex = 0;
  /** The bytes of every key's snapshot record, kept up to date per write. */
  #recordBytes = 0;
  /** Views held: each saves a key's record before its first change. */
  #views = new Set<StoreView>();
  readonly #history: WatchHistory;
  readonly #listeners = new Set<ChangeListener>();

  constructor(options: KvStoreOptions = {}) {
    this.#history = new WatchHistory(options.history);
  }

  /**
   * The changes of recent entries, for watchers that resume. Read it, never
   * append to it: the store does.
   */
  get history(): WatchHistory {
    return this.#history;
  }

  /** Calls `listener` on every change from now on; returns the unsubscribe. */
  listen(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

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
    const currentIndex = slot === undefined
      ? 0
      : this.#revisions.modIndex(slot);
    if (cmd.ifMatch !== undefined && cmd.ifMatch !== currentIndex) {
      return { status: "precondition_failed", currentIndex };
    }
    if (cmd.op === "put") {
      if (cmd.ifNoneMatch && slot !== undefined) {
        return { status: "precondition_failed", currentIndex };
      }
      let target = slot;
      if (target === undefined) {
        target = this.#newSlot();
        this.#slots.set(cmd.key, target);
        this.#keys.insert(cmd.key);
        this.#recordBytes += snapshotRecordBytes(utf8ByteLength(cmd.key), 0);
      } else {
        this.#beforeChange(cmd.key, target);
        this.#recordBytes -= this.#values.length(target);
      }
      this.#recordBytes += cmd.value.length;
      this.#values.set(target, cmd.value);
      this.#revisions.write(target, index, slot === undefined, 0);
      const r = this.#revisions;
      this.#changed(index, [{
        type: "put",
        key: cmd.key,
        value: cmd.value.slice(),
        createIndex: r.createIndex(target),
        modIndex: index,
        version: r.version(target),
        lease: r.lease(target),
      }]);
    } else if (slot !== undefined) {
      this.#beforeChange(cmd.key, slot);
      this.#recordBytes -= snapshotRecordBytes(
        utf8ByteLength(cmd.key),
        this.#values.length(slot),
      );
      this.#slots.delete(cmd.key);
      this.#keys.delete(cmd.key);
      this.#values.clear(slot);
      this.#revisions.clear(slot);
      this.#freeSlots.push(slot);
      this.#changed(index, [{ type: "delete", key: cmd.key, modIndex: index }]);
    }
    return { status: "ok", index };
  }

  /** The key in `slot` is about to change: every view held keeps its record. */
  #beforeChange(key: string, slot: number): void {
    if (this.#views.size === 0) return;
    for (const view of this.#views) view.save(key, slot);
  }

  /** Records the changes of the entry at `index` and tells the listeners. */
  #changed(index: number, events: WatchEvent[]): void {
    const batch: ChangeBatch = { index, events };
    this.#history.append(batch);
    for (const listener of this.#listeners) listener.changed(batch);
  }

  /** Returns a free slot, growing the per-slot arrays when needed. */
  #newSlot(): number {
    if (this.#freeSlots.length > 0) return this.#freeSlots.pop()!;
    const slot = this.#slotCount++;
    const capacity = this.#revisions.capacity;
    if (slot >= capacity) {
      const grown = Math.max(1024, Math.ceil(capacity * 1.5));
      this.#revisions.reserve(grown);
      this.#values.reserve(grown);
    }
    return slot;
  }

  /**
   * Returns the value of `key` and its revision, or undefined. The value is
   * a view into the store's memory: never change it.
   */
  get(key: string): KvEntry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    return this.#entry(slot, key);
  }

  /** The key in `slot` as a listing item (a get's answer too). */
  #entry(slot: number, key: string): KvItem {
    const r = this.#revisions;
    const modIndex = r.modIndex(slot);
    return {
      key,
      value: this.#values.get(slot),
      index: modIndex,
      createIndex: r.createIndex(slot),
      modIndex,
      version: r.version(slot),
      lease: r.lease(slot),
    };
  }

  /** Returns the revision of `key`; all zeros when absent. */
  revision(key: string): KeyRevision {
    const slot = this.#slots.get(key);
    return slot === undefined ? ABSENT_REVISION : this.#revisions.get(slot);
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
      items.push(this.#entry(this.#slots.get(key)!, key));
      return true;
    });
    return { items, more };
  }

  /**
   * The state as it is now, in O(1), for a snapshot taken while writes go
   * on: nothing applied later shows through it (see `store_view.ts`).
   * Release it when done; until then every first change to a key costs a
   * copy of the key's old record.
   */
  view(): StoreView {
    const view = new StoreView({
      appliedIndex: this.#appliedIndex,
      keys: this.#keys.freeze(),
      slots: this.#slots,
      revisions: this.#revisions,
      values: this.#values,
      byteLength: snapshotByteLength(this.#recordBytes),
    }, (v) => this.#released(v));
    this.#views.add(view);
    return view;
  }

  /** A view was released (maybe after a restore replaced the tables). */
  #released(view: StoreView): void {
    if (this.#views.delete(view) && this.#views.size === 0) this.#keys.thaw();
  }

  /**
   * Returns the whole state as bytes. Deterministic: the same state (keys,
   * values, revisions and applied index) always gives the same bytes. The
   * watch history is not part of it. O(state) at once: the node snapshots
   * through {@linkcode view} instead.
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
    const view = this.view();
    try {
      const whole = new Uint8Array(headroom + view.byteLength);
      let at = headroom;
      for (const slice of view.slices()) {
        whole.set(slice, at);
        at += slice.length;
      }
      return whole;
    } finally {
      view.release();
    }
  }

  /**
   * Replaces the whole state with a snapshot's (any format version, see
   * `snapshot_codec.ts`). Validates everything before changing anything, so
   * a bad snapshot leaves the store as it was. The watch history restarts
   * empty at the snapshot's index, and the listeners are told. O(state) at
   * once: a node applying a snapshot while serving uses
   * {@linkcode restoreSteps}.
   *
   * @throws {InvalidSnapshotError} when `bytes` is not a valid snapshot.
   */
  restore(bytes: Uint8Array): void {
    for (const _ of this.restoreSteps(bytes)) {
      // Each step loads a bounded number of records.
    }
  }

  /**
   * {@linkcode restore} in bounded steps: each step of the iterator checks
   * and loads at most `recordsPerStep` records into new tables, and the
   * last one puts them in place of the store's at once. Until then the
   * store is as it was (reads see the old state, and it must not apply
   * anything meanwhile); a bad snapshot throws from a step and changes
   * nothing. A caller that yields to the event loop between steps never
   * holds it longer than one step takes.
   *
   * @throws {InvalidSnapshotError} when `bytes` is not a valid snapshot.
   */
  *restoreSteps(
    bytes: Uint8Array,
    recordsPerStep = RESTORE_RECORDS_PER_STEP,
  ): Generator<void, void> {
    const reader = new SnapshotReader(bytes);
    const n = reader.count;
    let recordBytes = 0;
    const slots = new Map<string, number>();
    const keys: string[] = new Array(n);
    const capacity = Math.max(1024, n);
    const revisions = new RevisionTable();
    revisions.reserve(capacity);
    const values = new ValueArena();
    values.reserve(capacity);
    let i = 0;
    for (let entry = reader.next(); entry; entry = reader.next()) {
      slots.set(entry.key, i);
      keys[i] = entry.key;
      revisions.set(i, entry);
      values.set(i, entry.value);
      recordBytes += snapshotRecordBytes(
        utf8ByteLength(entry.key),
        entry.value.length,
      );
      if (++i % recordsPerStep === 0) yield;
    }
    // Views held keep reading the old tables, which nothing changes now.
    this.#views.clear();
    this.#recordBytes = recordBytes;
    this.#slots = slots;
    this.#freeSlots = [];
    this.#slotCount = n;
    this.#revisions = revisions;
    this.#values = values;
    this.#keys = SortedKeys.fromSorted(keys);
    this.#appliedIndex = reader.appliedIndex;
    this.#history.reset(reader.appliedIndex);
    for (const listener of this.#listeners) {
      listener.restored(reader.appliedIndex);
    }
  }
}
