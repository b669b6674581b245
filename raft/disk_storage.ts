/**
 * The core's {@linkcode Storage} on disk: a {@linkcode MemoryStorage} mirror
 * answers the core's synchronous reads; every change is made durable in the
 * WAL and snapshot files (wal/) before the mirror shows it.
 *
 * Data directory: `<dir>/wal/*.wal` and `<dir>/snap/*.snap`.
 *
 * Start-up order is fixed by construction: `rebuild` (disk_recovery.ts) is
 * the only way to make the mirror and it takes the base snapshot as an
 * argument, applies it first, and then only the WAL entries after it.
 *
 * @module
 */

import { assert, RaftKvError } from "./core/mod.ts";
import { type Logger, nopLogger } from "./core/mod.ts";
import type { InitialState, MemoryStorage, Storage } from "./core/mod.ts";
import type { Entry, HardState, Snapshot, SnapshotMeta } from "./core/mod.ts";
import type { SnapshotBody } from "./snapshot_data.ts";
import type { SnapshotStream } from "./snapshot_stream.ts";
import { receivedSnapshotNumber, SnapshotReceive } from "./snapshot_receive.ts";
import {
  concatBytes,
  type Fs,
  type IncomingSnapshotFile,
  joinPath,
  RecordKind,
  type SegmentStart,
  snapshotFileName,
  SnapshotFiles,
  Wal,
  WalClosedError,
  WalFailedError,
  type WalRecord,
} from "../wal/mod.ts";
import {
  decodeSnapshot,
  encodeEntries,
  encodeHardState,
  encodeSnapshotHead,
  encodeSnapshotMarker,
  encodeSnapshotParts,
  encodeStorageMetadata,
  type SnapshotMarker,
  type StorageMetadata,
} from "./codec.ts";
import {
  checkMetadata,
  loadBase,
  rebuild,
  StorageMismatchError,
} from "./disk_recovery.ts";
import type { Histogram } from "./metrics.ts";

export { rebuild, StorageMismatchError } from "./disk_recovery.ts";
export type { Rebuilt } from "./disk_recovery.ts";

/** Options of {@linkcode DiskStorage.open}. */
export interface DiskStorageOptions {
  /** WAL segment size; default 64 MiB. */
  segmentBytes?: number;
  /** Snapshot files to keep; default 2. */
  keepSnapshots?: number;
  /** Entries kept before a new snapshot for slow followers; default 5000. */
  catchUpEntries?: number;
  logger?: Logger;
  /**
   * Who owns the directory. Written at the head of every segment; when the
   * directory already holds a different identity, open fails with
   * {@linkcode StorageMismatchError}.
   */
  metadata?: StorageMetadata;
  /** Preallocate WAL segments (see docs/WAL.md); default true. */
  preallocate?: boolean;
  /** Records the seconds of every synced WAL append (write + fdatasync). */
  fsyncDuration?: Histogram;
  /** Called for every synced append slower than `slowFsyncMs` (a counter). */
  onSlowFsync?: () => void;
  /** A synced append slower than this logs a warning; default 100 ms. */
  slowFsyncMs?: number;
  /** A monotonic clock in ms (default `performance.now`); tests fake it. */
  now?: () => number;
  /**
   * Keep the newest snapshot's data in memory (default true). With false,
   * only its metadata stays: `snapshot()` then answers with empty `data` for
   * any snapshot written after open (the one recovered at open keeps its
   * data until {@linkcode DiskStorage.releaseSnapshotData} or the next
   * snapshot), and
   * {@linkcode DiskStorage.loadSnapshot} reads the data back from its file
   * when a follower needs it. Saves one snapshot's worth of memory.
   */
  snapshotDataInMemory?: boolean;
}

/** The default threshold of the slow-fsync warning, like etcd's. */
export const DEFAULT_SLOW_FSYNC_MS = 100;

/**
 * The file of the snapshot to send is no longer there (a newer snapshot
 * replaced it): the send fails and the core offers the newer one.
 */
export class SnapshotGoneError extends RaftKvError {
  constructor(index: number, term: number) {
    super("snapshot_gone", `snapshot file ${index} (term ${term}) is gone`);
  }
}

/** The durable part of a Ready, as {@linkcode DiskStorage.save} takes it. */
export interface SaveRequest {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  mustSync: boolean;
}

/** Raft storage on WAL + snapshot files; see the module doc. */
export class DiskStorage implements Storage {
  readonly #wal: Wal;
  readonly #snaps: SnapshotFiles;
  readonly #mirror: MemoryStorage;
  readonly #logger: Logger;
  readonly #keepSnapshots: number;
  readonly #catchUpEntries: number;
  #metadata: StorageMetadata;
  readonly #fsyncDuration: Histogram | undefined;
  readonly #onSlowFsync: () => void;
  readonly #slowFsyncMs: number;
  readonly #now: () => number;
  readonly #snapshotDataInMemory: boolean;
  /** Snapshot files being read by a send, by name: how many readers each. */
  readonly #pinned = new Map<string, number>();
  /**
   * Snapshots received into files (raft/snapshot_receive.ts), sealed and
   * waiting for the Ready that persists them, by handle number.
   */
  readonly #received = new Map<
    number,
    { file: IncomingSnapshotFile; meta: SnapshotMeta }
  >();
  #receivedCount = 0;
  #failed: WalFailedError | undefined;
  #closed = false;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(
    wal: Wal,
    snaps: SnapshotFiles,
    mirror: MemoryStorage,
    metadata: StorageMetadata,
    opts: DiskStorageOptions,
  ) {
    this.#wal = wal;
    this.#snaps = snaps;
    this.#mirror = mirror;
    this.#metadata = metadata;
    this.#logger = opts.logger ?? nopLogger;
    this.#keepSnapshots = Math.max(1, opts.keepSnapshots ?? 2);
    this.#catchUpEntries = Math.max(0, opts.catchUpEntries ?? 5000);
    this.#fsyncDuration = opts.fsyncDuration;
    this.#onSlowFsync = opts.onSlowFsync ?? (() => {});
    this.#slowFsyncMs = opts.slowFsyncMs ?? DEFAULT_SLOW_FSYNC_MS;
    this.#now = opts.now ?? (() => performance.now());
    this.#snapshotDataInMemory = opts.snapshotDataInMemory ?? true;
  }

  /**
   * Appends `records` to the WAL; a synced append is timed into the fsync
   * histogram and warned about when slower than the threshold.
   */
  async #append(records: WalRecord[], sync: boolean): Promise<void> {
    if (!sync) return this.#wal.append(records, { sync });
    const started = this.#now();
    await this.#wal.append(records, { sync });
    const ms = this.#now() - started;
    this.#fsyncDuration?.observe(ms / 1000);
    if (ms > this.#slowFsyncMs) {
      this.#onSlowFsync();
      let bytes = 0;
      for (const r of records) bytes += r.data.byteLength;
      this.#logger.warn("slow WAL fsync: the disk may be overloaded", {
        durationMs: Math.round(ms * 10) / 10,
        thresholdMs: this.#slowFsyncMs,
        bytes,
        records: records.length,
      });
    }
  }

  /**
   * Opens the data directory `dir` (creating it): replays the WAL, loads the
   * newest valid snapshot that a WAL marker references (setting damaged ones
   * aside as `.broken`), and rebuilds the log after it. Throws
   * {@linkcode WalCorruptError} on damage a crash cannot explain and
   * {@linkcode StorageMismatchError} on a foreign directory.
   */
  static async open(
    fs: Fs,
    dir: string,
    opts: DiskStorageOptions = {},
  ): Promise<DiskStorage> {
    const logger = opts.logger ?? nopLogger;
    let storage: DiskStorage | undefined;
    const { wal, records } = await Wal.open(fs, joinPath(dir, "wal"), {
      segmentBytes: opts.segmentBytes,
      preallocate: opts.preallocate,
      logger,
      segmentStart: () => storage!.#segmentStart(),
    });
    try {
      const snaps = await SnapshotFiles.open(fs, joinPath(dir, "snap"), {
        logger,
      });
      const metadata = checkMetadata(records, opts.metadata);
      const base = await loadBase(snaps, records, logger);
      const { mirror, replayed } = rebuild(base, records);
      storage = new DiskStorage(wal, snaps, mirror, metadata, opts);
      logger.info("storage: recovered", {
        dir,
        snapshotIndex: base.meta.index,
        replayedEntries: replayed,
        lastIndex: mirror.lastIndex(),
        segments: wal.segmentCount,
      });
      return storage;
    } catch (err) {
      await wal.close().catch(() => {});
      throw err;
    }
  }

  // ---- Storage: reads from the mirror ----

  initialState(): InitialState {
    return this.#mirror.initialState();
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.#mirror.entries(lo, hi, maxBytes);
  }

  term(i: number): number {
    return this.#mirror.term(i);
  }

  firstIndex(): number {
    return this.#mirror.firstIndex();
  }

  lastIndex(): number {
    return this.#mirror.lastIndex();
  }

  snapshot(): Snapshot {
    return this.#mirror.snapshot();
  }

  /**
   * The newest snapshot with its data: from memory when the mirror holds
   * it, else read back (and verified) from its file. Rejects when that file
   * is gone or damaged, e.g. because a newer snapshot replaced it meanwhile;
   * the caller then reports the send as failed and the core asks again.
   */
  async loadSnapshot(): Promise<Snapshot> {
    const snap = this.#mirror.snapshot();
    if (snap.meta.index === 0 || snap.data.length > 0) return snap;
    return await this.readSnapshot(snap.meta);
  }

  /**
   * The snapshot (index, term) read back (and verified) from its file;
   * rejects with {@linkcode SnapshotGoneError} when there is no such file.
   */
  async readSnapshot({ index, term }: SnapshotMeta): Promise<Snapshot> {
    const loaded = await this.#snaps.loadNewest((f) =>
      f.index === index && f.term === term
    );
    if (!loaded) {
      throw new SnapshotGoneError(index, term);
    }
    const full = decodeSnapshot(loaded.data);
    assert(
      full.meta.index === index && full.meta.term === term,
      `snapshot file ${loaded.name} holds snapshot ${full.meta.index}`,
    );
    return full;
  }

  /**
   * The newest snapshot opened to be read from its file in pieces
   * ({@linkcode SnapshotStream}), for a send that must not hold it whole.
   * While it is open its file is not removed by retention (a newer
   * snapshot's pruning skips it; the next one after the close removes it).
   * Rejects with {@linkcode SnapshotGoneError} when the file is gone.
   * With `want`, opens that snapshot's file instead of the newest.
   */
  async openSnapshotStream(want?: SnapshotMeta): Promise<SnapshotStream> {
    const meta = want ?? this.#mirror.snapshot().meta;
    if (meta.index === 0) throw new SnapshotGoneError(0, 0);
    const name = snapshotFileName(meta.term, meta.index);
    this.#pinned.set(name, (this.#pinned.get(name) ?? 0) + 1);
    let closed = false;
    const unpin = () => {
      if (closed) return;
      closed = true;
      const n = this.#pinned.get(name)! - 1;
      if (n > 0) this.#pinned.set(name, n);
      else this.#pinned.delete(name);
    };
    try {
      const reader = await this.#snaps.openReader(name);
      if (!reader) throw new SnapshotGoneError(meta.index, meta.term);
      return {
        meta,
        byteLength: reader.byteLength,
        crc: reader.crc,
        readNext: (into) => reader.readNext(into),
        close() {
          reader.close();
          unpin();
        },
      };
    } catch (e) {
      unpin();
      throw e;
    }
  }

  /**
   * Starts receiving a snapshot transfer of `total` bytes into a file
   * (raft/snapshot_receive.ts): once finished, the message it returns
   * carries a handle that {@linkcode save} resolves (it installs the file)
   * and {@linkcode loadSnapshot} reads back after. A finished transfer
   * that no save takes (the core refused its snapshot as stale) is given
   * back with {@linkcode discardReceivedSnapshot}; failing that, its
   * temporary file goes when a newer snapshot is saved or at the next open.
   */
  receiveSnapshot(total: number): SnapshotReceive {
    return new SnapshotReceive(
      total,
      () => this.#snaps.createIncoming(),
      (file, meta) => {
        const n = ++this.#receivedCount;
        this.#received.set(n, { file, meta });
        return n;
      },
    );
  }

  /**
   * The core did not take the received snapshot whose handle is `data`
   * (stale, or the node could not step it): removes its temporary file
   * now. Does nothing for data that is not a handle of a received file
   * still waiting, e.g. one a save already installed.
   */
  async discardReceivedSnapshot(data: Uint8Array): Promise<void> {
    const n = receivedSnapshotNumber(data);
    const r = n === undefined ? undefined : this.#received.get(n);
    if (!r) return;
    this.#received.delete(n!);
    await r.file.discard();
  }

  /** Discards received files of snapshots at or before `index`. */
  async #discardReceived(index: number): Promise<void> {
    for (const [n, r] of this.#received) {
      if (r.meta.index > index) continue;
      this.#received.delete(n);
      await r.file.discard();
    }
  }

  /**
   * The caller has restored its state from {@linkcode snapshot}: without
   * `snapshotDataInMemory`, the data recovered at open is dropped now (a
   * follower that needs it gets it read from its file), so a restarted node
   * does not hold its state twice until its next snapshot.
   */
  releaseSnapshotData(): void {
    if (!this.#snapshotDataInMemory) this.#mirror.dropSnapshotData();
  }

  /** What the mirror keeps of `snap`: all of it, or only its metadata. */
  #kept(snap: Snapshot): Snapshot {
    if (this.#snapshotDataInMemory) return snap;
    return { meta: snap.meta, data: new Uint8Array(0) };
  }

  /**
   * True while nothing durable was ever written here: no snapshot, no
   * entry, no hard state (a new node that must bootstrap or join). A crash
   * that cut the first write short leaves a WAL segment with nothing in it:
   * still empty, so a founding node bootstraps again instead of starting
   * with no membership and taking the first entries one by one.
   */
  isEmpty(): boolean {
    const hs = this.#mirror.hardState();
    return this.#mirror.snapshot().meta.index === 0 &&
      this.#mirror.lastIndex() === 0 && hs.term === 0 && hs.vote === 0 &&
      hs.commit === 0;
  }

  /** The identity written at the head of every segment. */
  get metadata(): StorageMetadata {
    return { ...this.#metadata };
  }

  /**
   * Sets the cluster id of a directory that had none (new, joining, or
   * written by an older raftkv) and makes it durable: new segments carry it
   * in their header, and a metadata record written now (synced) carries it
   * in the current one. A directory without segments gets no write (so it
   * stays {@linkcode isEmpty}): its first segment's header carries the id.
   * Throws {@linkcode StorageMismatchError} when the directory already
   * belongs to another cluster.
   */
  adoptClusterId(clusterId: string): Promise<void> {
    const want = { clusterId, nodeId: this.#metadata.nodeId };
    return this.#serial("adopt the cluster id", () => {
      const known = this.#metadata.clusterId;
      if (known !== "" && known !== clusterId) {
        throw new StorageMismatchError(this.#metadata, want);
      }
    }, async () => {
      if (this.#metadata.clusterId === clusterId) return;
      this.#metadata = want;
      if (this.#wal.segmentCount === 0) return;
      await this.#append([{
        kind: RecordKind.metadata,
        data: encodeStorageMetadata(want),
      }], true);
    });
  }

  /** How many WAL segment files exist (for `/v1/status`). */
  get walSegmentCount(): number {
    return this.#wal.segmentCount;
  }

  /** Bytes of WAL records on disk (for `/v1/status`). */
  get walBytes(): number {
    return this.#wal.bytes;
  }

  // ---- writes ----

  #segmentStart(): SegmentStart {
    const snap = this.#mirror.snapshot().meta;
    const header: WalRecord[] = [
      {
        kind: RecordKind.metadata,
        data: encodeStorageMetadata(this.#metadata),
      },
      {
        kind: RecordKind.hardState,
        data: encodeHardState(this.#mirror.hardState()),
      },
    ];
    if (snap.index > 0) {
      header.push({
        kind: RecordKind.snapshot,
        data: encodeSnapshotMarker({
          index: snap.index,
          term: snap.term,
          reset: false,
        }),
      });
    }
    return { firstIndex: this.#mirror.lastIndex() + 1, header };
  }

  /**
   * Runs after every earlier write. `check` refuses caller mistakes before
   * any I/O and leaves the storage usable; an error in `write` fails the
   * storage for good, since disk and mirror may now disagree.
   */
  #serial(
    operation: string,
    check: () => void,
    write: () => Promise<void>,
  ): Promise<void> {
    const p = this.#chain.then(async () => {
      if (this.#failed) throw this.#failed;
      if (this.#closed) throw new WalClosedError();
      check();
      try {
        await write();
      } catch (err) {
        this.#failed = err instanceof WalFailedError
          ? err
          : new WalFailedError(operation, err);
        throw this.#failed;
      }
    });
    this.#chain = p.catch(() => {});
    return p;
  }

  async #writeSnapshotFile(snap: Snapshot): Promise<void> {
    await this.#snaps.save(
      snap.meta.term,
      snap.meta.index,
      encodeSnapshotParts(snap),
    );
  }

  #checkSave(rd: SaveRequest): void {
    const n = rd.snapshot && receivedSnapshotNumber(rd.snapshot.data);
    if (n !== undefined) {
      const r = this.#received.get(n);
      assert(r !== undefined, `no received snapshot file ${n}`);
      assert(
        r.meta.index === rd.snapshot!.meta.index &&
          r.meta.term === rd.snapshot!.meta.term,
        `received snapshot file ${n} holds another snapshot`,
      );
    }
    const ents = rd.entries;
    if (ents.length === 0) return;
    const snapIndex = rd.snapshot?.meta.index ?? 0;
    const next = Math.max(this.#mirror.lastIndex(), snapIndex) + 1;
    assert(
      ents[0]!.index <= next,
      `entry ${ents[0]!.index} would leave a gap after ${next - 1}`,
    );
    for (let k = 1; k < ents.length; k++) {
      assert(
        ents[k]!.index === ents[0]!.index + k,
        "entries are not contiguous",
      );
    }
  }

  /** Deletes WAL segments and snapshot files the snapshot at `index` made useless. */
  async #release(snapshotIndex: number): Promise<void> {
    await this.#wal.releaseBefore(snapshotIndex - this.#catchUpEntries);
    const base = this.#mirror.snapshot().meta;
    const files = (await this.#snaps.list()).filter((f) =>
      f.index <= base.index
    );
    for (const f of files.slice(this.#keepSnapshots)) {
      // A send still reads it: the next release removes it.
      if (this.#pinned.has(f.name)) continue;
      await this.#snaps.remove(f.name);
    }
  }

  /**
   * Persists a Ready's durable part: a received snapshot first (its file
   * durable before its WAL marker), then the marker, entries and hard state
   * as one WAL frame with one fdatasync when `mustSync`; only then updates
   * the mirror. Entries that would leave a gap are refused with
   * `AssertionError` before any I/O. Any I/O error fails the storage for
   * good ({@linkcode WalFailedError}).
   */
  save(rd: SaveRequest): Promise<void> {
    return this.#serial("save", () => this.#checkSave(rd), async () => {
      const records: WalRecord[] = [];
      const n = rd.snapshot && receivedSnapshotNumber(rd.snapshot.data);
      const received = n === undefined ? undefined : this.#received.get(n);
      if (n !== undefined) this.#received.delete(n);
      const snap = rd.snapshot &&
          rd.snapshot.meta.index > this.#mirror.snapshot().meta.index
        ? rd.snapshot
        : undefined;
      if (received && !snap) await received.file.discard();
      if (snap) {
        // Durable under its name before the marker names it.
        if (received) {
          await received.file.install(snap.meta.term, snap.meta.index);
        } else await this.#writeSnapshotFile(snap);
        const marker: SnapshotMarker = {
          index: snap.meta.index,
          term: snap.meta.term,
          reset: true,
        };
        records.push({
          kind: RecordKind.snapshot,
          data: encodeSnapshotMarker(marker),
        });
      }
      if (rd.entries.length > 0) {
        records.push({
          kind: RecordKind.entries,
          data: encodeEntries(rd.entries),
        });
      }
      if (rd.hardState) {
        records.push({
          kind: RecordKind.hardState,
          data: encodeHardState(rd.hardState),
        });
      }
      // Entries and snapshots are always synced, so a segment header (which
      // carries the hard state) never gets to disk before what it refers to.
      const sync = rd.mustSync || records.length > (rd.hardState ? 1 : 0);
      await this.#append(records, sync);
      if (snap) {
        // A received file's handle is never kept: the mirror gets the
        // bytes read back from the file, or only the metadata.
        const kept = received && this.#snapshotDataInMemory
          ? await this.readSnapshot(snap.meta)
          : received
          ? { meta: snap.meta, data: new Uint8Array(0) }
          : this.#kept(snap);
        this.#mirror.applySnapshot(kept);
      }
      this.#mirror.append(rd.entries);
      if (rd.hardState) this.#mirror.setHardState(rd.hardState);
      if (snap) {
        await this.#release(snap.meta.index);
        await this.#discardReceived(snap.meta.index);
      }
    });
  }

  /**
   * Records a snapshot the application took at an applied index: writes the
   * snapshot file (durable), then its WAL marker (synced), then compacts the
   * mirror to `index - catchUpEntries`, deletes WAL segments wholly before
   * that and prunes old snapshot files. Older snapshots are ignored; one
   * beyond the log, or whose term differs from the log's, throws
   * `AssertionError` before anything is written.
   *
   * The file (the whole state, fsynced: the slow part) is written beside
   * the queue of WAL writes, not in it, so `save` calls keep completing
   * meanwhile; only the marker and what follows take their turn in the
   * queue. Call it once at a time.
   */
  createSnapshot(snap: Snapshot): Promise<void> {
    const data = snap.data;
    return this.createSnapshotFrom(
      snap.meta,
      { byteLength: data.length, parts: () => [data] },
      data,
    );
  }

  /**
   * {@linkcode createSnapshot} for data made on demand: the file is written
   * part by part as `body` hands them out, so the whole data is never in
   * memory at once (unless the storage keeps snapshot data in memory, when
   * the parts are joined for the mirror). The same order and guarantees.
   */
  async createSnapshotFrom(
    meta: SnapshotMeta,
    body: SnapshotBody,
    whole?: Uint8Array,
  ): Promise<void> {
    const { index, term } = meta;
    const check = () => {
      if (index <= this.#mirror.snapshot().meta.index) return;
      const last = this.#mirror.lastIndex();
      assert(index <= last, `snapshot ${index} beyond last index ${last}`);
      assert(
        this.#mirror.term(index) === term,
        `snapshot term ${term} differs from the log's at ${index}`,
      );
    };
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new WalClosedError();
    check();
    if (index <= this.#mirror.snapshot().meta.index) return;
    const kept: Uint8Array[] | undefined = this.#snapshotDataInMemory && !whole
      ? []
      : undefined;
    try {
      await this.#snaps.save(term, index, fileParts(meta, body, kept));
    } catch (err) {
      this.#failed ??= err instanceof WalFailedError
        ? err
        : new WalFailedError("snapshot", err);
      throw this.#failed;
    }
    const data = whole ??
      (kept ? concatBytes(kept, body.byteLength) : undefined);
    await this.#serial("snapshot", check, async () => {
      if (index <= this.#mirror.snapshot().meta.index) return;
      const marker: SnapshotMarker = { index, term, reset: false };
      await this.#append([{
        kind: RecordKind.snapshot,
        data: encodeSnapshotMarker(marker),
      }], true);
      this.#mirror.createSnapshot(
        this.#kept({ meta, data: data ?? new Uint8Array(0) }),
      );
      this.#mirror.compact(Math.max(index - this.#catchUpEntries, 0));
      await this.#release(index);
    });
  }

  /** Flushes unsynced records and closes the WAL; later writes throw {@linkcode WalClosedError}. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const p = this.#chain.then(async () => {
      this.#closed = true;
      if (this.#failed) {
        await this.#wal.close().catch(() => {});
        return;
      }
      await this.#wal.close();
    });
    this.#chain = p.catch(() => {});
    return p;
  }
}

/**
 * The parts of a snapshot file's data: the encoded metadata head, then
 * `body`'s parts as it makes them (each also pushed to `kept` when given).
 */
function* fileParts(
  meta: SnapshotMeta,
  body: SnapshotBody,
  kept: Uint8Array[] | undefined,
): Iterable<Uint8Array> {
  yield encodeSnapshotHead(meta, body.byteLength);
  let length = 0;
  for (const part of body.parts()) {
    length += part.length;
    // A part is valid until the next is asked for: a kept one is copied.
    kept?.push(part.slice());
    yield part;
  }
  assert(
    length === body.byteLength,
    `snapshot body of ${length} bytes, announced ${body.byteLength}`,
  );
}
