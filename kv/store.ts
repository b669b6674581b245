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
import { compareHolds, type TxnCommand, type TxnOperation } from "./txn.ts";
import { type Lease, LeaseTable } from "./lease_table.ts";
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

/** What one operation of a transaction's branch gave. */
export type TxnOpResult =
  /** A get: the items (values copied), and whether a prefix had more. */
  | { op: "get"; items: KvItem[]; more: boolean }
  /** A delete: how many keys it removed. */
  | { op: "delete"; deleted: number }
  /** A put. */
  | { op: "put" };

/** What a transaction did: which branch ran, and one result per operation. */
export interface TxnOutcome {
  succeeded: boolean;
  results: TxnOpResult[];
}

/**
 * What a command's application did. Every outcome is deterministic, and
 * every outcome advances the applied index.
 *
 * - `ok`: applied; `index` is the write's index; `txn` what a transaction
 *   did (transactions only); `lease` the lease a grant made.
 * - `lease_not_found`: a write named a lease that does not exist (or a
 *   revoke one that is gone); nothing changed (HTTP 404).
 * - `precondition_failed`: a condition did not hold and nothing changed;
 *   `currentIndex` is the key's write index, 0 when absent (HTTP 412).
 * - `invalid`: the bytes were not a valid command and nothing changed. The
 *   HTTP layer never proposes such bytes, so this means a foreign writer.
 */
export type ApplyResult =
  | { status: "ok"; index: number; txn?: TxnOutcome; lease?: Lease }
  | { status: "lease_not_found"; lease: number }
  | { status: "precondition_failed"; currentIndex: number }
  | { status: "invalid"; message: string };

/** The read side of the store: what the HTTP layer reads after a barrier. */
export interface KvReader {
  /** The index of the last entry applied (0 before any). */
  readonly appliedIndex: number;
  /** The number of keys. */
  readonly size: number;
  /** The lease table (read it, never change it). */
  readonly leases: LeaseTable;
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

/**
 * A step of {@linkcode KvStore.restoreSteps} that needs more of the
 * snapshot: give it at least `need` next bytes with `feed` before going on.
 */
export interface RestoreFeed {
  readonly need: number;
  feed(more: Uint8Array): void;
}

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
  readonly #leases = new LeaseTable();

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

  /**
   * The lease table. Read it (and listen to it), never change it: the
   * store does, when it applies entries.
   */
  get leases(): LeaseTable {
    return this.#leases;
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
   * Applies the log entry at `index` of `term` whose bytes are `data`.
   * Empty `data` is a no-op (a leader's empty entry, or a membership entry
   * the node applies elsewhere) that only advances the applied index. The
   * term matters to an expiry revoke only, which is a no-op unless `term`
   * is the term it was decided in.
   *
   * @throws {ApplyOrderError} when `index` is not above the applied index:
   * the caller must apply each index once, in increasing order (gaps are
   * allowed).
   */
  apply(index: number, data: Uint8Array, term = 0): ApplyResult {
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
    return this.#applyCommand(index, cmd, term);
  }

  #applyCommand(index: number, cmd: Command, term: number): ApplyResult {
    switch (cmd.op) {
      case "txn":
        return this.#applyTxn(index, cmd);
      case "lease_grant":
        this.#leases.grant(index, cmd.ttl);
        return { status: "ok", index, lease: { id: index, ttl: cmd.ttl } };
      case "lease_revoke":
        return this.#revoke(index, cmd.id, cmd.term, term);
    }
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
      const lease = cmd.lease ?? 0;
      if (lease !== 0 && !this.#leases.has(lease)) {
        return { status: "lease_not_found", lease };
      }
      this.#changed(index, [this.#put(index, cmd.key, cmd.value, lease)]);
    } else {
      const event = this.#delete(index, cmd.key);
      if (event !== undefined) this.#changed(index, [event]);
    }
    return { status: "ok", index };
  }

  /** Writes `value` at `key` in the entry at `index`; returns its event. */
  #put(
    index: number,
    key: string,
    value: Uint8Array,
    lease: number,
  ): WatchEvent {
    const slot = this.#slots.get(key);
    let target = slot;
    if (target === undefined) {
      target = this.#newSlot();
      this.#slots.set(key, target);
      this.#keys.insert(key);
      this.#recordBytes += snapshotRecordBytes(utf8ByteLength(key), 0);
    } else {
      this.#beforeChange(key, target);
      this.#recordBytes -= this.#values.length(target);
    }
    this.#recordBytes += value.length;
    const r = this.#revisions;
    const previous = slot === undefined ? 0 : r.lease(slot);
    if (previous !== lease) {
      if (previous !== 0) this.#leases.detach(previous, key);
      if (lease !== 0) this.#leases.attach(lease, key);
    }
    this.#values.set(target, value);
    r.write(target, index, slot === undefined, lease);
    return {
      type: "put",
      key,
      value: value.slice(),
      createIndex: r.createIndex(target),
      modIndex: index,
      version: r.version(target),
      lease: r.lease(target),
    };
  }

  /** Removes `key` in the entry at `index`; its event, or undefined when absent. */
  #delete(
    index: number,
    key: string,
    byLease = false,
  ): WatchEvent | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    const lease = this.#revisions.lease(slot);
    if (lease !== 0 && !byLease) this.#leases.detach(lease, key);
    this.#beforeChange(key, slot);
    this.#recordBytes -= snapshotRecordBytes(
      utf8ByteLength(key),
      this.#values.length(slot),
    );
    this.#slots.delete(key);
    this.#keys.delete(key);
    this.#values.clear(slot);
    this.#revisions.clear(slot);
    this.#freeSlots.push(slot);
    return byLease
      ? { type: "delete", key, modIndex: index, reason: "lease" }
      : { type: "delete", key, modIndex: index };
  }

  /**
   * Revokes lease `id` and deletes its keys, as one batch. `decidedIn` > 0
   * marks an expiry the leader of that term decided: in an entry of any
   * other `term` it is stale (a former leader's decision that reached the
   * log after it lost office) and changes nothing.
   */
  #revoke(
    index: number,
    id: number,
    decidedIn: number,
    term: number,
  ): ApplyResult {
    if (!this.#leases.has(id)) return { status: "lease_not_found", lease: id };
    if (decidedIn !== 0 && decidedIn !== term) return { status: "ok", index };
    const events: WatchEvent[] = [];
    for (const key of this.#leases.revoke(id, decidedIn !== 0)) {
      const event = this.#delete(index, key, true);
      if (event !== undefined) events.push(event);
    }
    if (events.length > 0) this.#changed(index, events);
    return { status: "ok", index };
  }

  /**
   * Applies a transaction: every compare against the state before it, then
   * the operations of the branch taken, in order (a get sees the puts
   * before it). All its changes are one batch at `index`.
   */
  #applyTxn(index: number, cmd: TxnCommand): ApplyResult {
    const succeeded = cmd.compare.every((c) =>
      compareHolds(c, this.revision(c.key), this.get(c.key)?.value)
    );
    const branch = succeeded ? cmd.success : cmd.failure;
    for (const op of branch) {
      if (op.op === "put" && op.lease && !this.#leases.has(op.lease)) {
        return { status: "lease_not_found", lease: op.lease };
      }
    }
    const events: WatchEvent[] = [];
    const results = branch.map((op) => this.#txnOperation(index, op, events));
    if (events.length > 0) this.#changed(index, events);
    return { status: "ok", index, txn: { succeeded, results } };
  }

  /** Applies one operation of a transaction; its events go to `events`. */
  #txnOperation(
    index: number,
    op: TxnOperation,
    events: WatchEvent[],
  ): TxnOpResult {
    switch (op.op) {
      case "put":
        events.push(this.#put(index, op.key, op.value, op.lease ?? 0));
        return { op: "put" };
      case "delete": {
        const keys = "prefix" in op ? this.#keysWith(op.prefix) : [op.key];
        let deleted = 0;
        for (const key of keys) {
          const event = this.#delete(index, key);
          if (event === undefined) continue;
          events.push(event);
          deleted++;
        }
        return { op: "delete", deleted };
      }
      case "get": {
        // Copies: a later put of the same entry may reuse the value's memory.
        const copy = (item: KvItem): KvItem => ({
          ...item,
          value: item.value.slice(),
        });
        if ("prefix" in op) {
          const page = this.list(op.prefix, op.limit);
          return { op: "get", items: page.items.map(copy), more: page.more };
        }
        const slot = this.#slots.get(op.key);
        return {
          op: "get",
          items: slot === undefined ? [] : [copy(this.#entry(slot, op.key))],
          more: false,
        };
      }
    }
  }

  /** Every key starting with `prefix`, in order. */
  #keysWith(prefix: string): string[] {
    const keys: string[] = [];
    this.#keys.scan(prefix, (key) => {
      if (!key.startsWith(prefix)) return false;
      keys.push(key);
      return true;
    });
    return keys;
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
    // One page at most: the tables grow by pages, never by copying.
    this.#revisions.reserve(slot + 1);
    this.#values.reserve(slot + 1);
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
      byteLength: snapshotByteLength(this.#recordBytes, this.#leases.size),
      leases: this.#leases.list(),
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
   * values, revisions, leases and applied index) always gives the same bytes. The
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
   * With `total` larger than `bytes.length`, `bytes` are the snapshot's
   * first bytes only (at least its 17-byte header): a step may then ask for
   * more instead ({@linkcode RestoreFeed}), which the caller gives before
   * going on, so a snapshot read from a file is never held whole.
   *
   * @throws {InvalidSnapshotError} when `bytes` is not a valid snapshot.
   */
  *restoreSteps(
    bytes: Uint8Array,
    recordsPerStep = RESTORE_RECORDS_PER_STEP,
    total = bytes.length,
  ): Generator<RestoreFeed | undefined, void> {
    const reader = new SnapshotReader(bytes, total);
    const feed = (need: number): RestoreFeed => ({
      need,
      feed: (more) => reader.feed(more),
    });
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
    const attached: [string, number][] = [];
    for (;;) {
      for (let need = reader.wanted(); need > 0; need = reader.wanted()) {
        yield feed(need);
      }
      const entry = reader.next();
      if (!entry) break;
      if (entry.lease !== 0) attached.push([entry.key, entry.lease]);
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
    this.#leases.reset(reader.leases, attached);
    this.#history.reset(reader.appliedIndex);
    for (const listener of this.#listeners) {
      listener.restored(reader.appliedIndex);
    }
  }
}
