/**
 * The real disk storage under the simulator: one {@linkcode DiskStorage}
 * (raft/disk_storage.ts over wal/) per node, on its own {@linkcode MemFs},
 * with small segments and no preallocation so that segment cuts, retention
 * and snapshot files happen all the time.
 *
 * A crash crashes the file system (writes not yet synced land, vanish or
 * tear, as {@linkcode MemFs.crash} draws from the node's seeded rng) and
 * reopens the directory through `DiskStorage.open`: the newest snapshot,
 * then the WAL after it. The recovered state is checked against what was
 * durable before the crash (`durable recovery`): the same snapshot, hard
 * state and log, entry by entry. A write cut short by the crash
 * ({@linkcode DiskDurableStore.persistTorn}) stops the file system after a
 * random number of changing operations, so the power fails anywhere inside
 * the WAL append, a segment cut, a snapshot file or retention; recovery may
 * then show the state before that write or after it, nothing else.
 *
 * @module
 */

import {
  type Entry,
  type HardState,
  MemoryStorage,
  type NodeId,
  type Snapshot,
  type Storage,
} from "../../raft/core/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import { MemFs } from "../../wal/mod.ts";
import { CountingFs, type DiskCounts } from "./sim_counting_fs.ts";
import type { DurableStore, PersistBatch } from "./sim_storage.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";

/** How one node's disk storage is set up. */
export interface DiskStoreOptions {
  id: NodeId;
  /** Draws halting points and crash outcomes; forked from the run's seed. */
  rng: SimRng;
  segmentBytes: number;
  keepSnapshots: number;
  /** Entries kept behind an application snapshot. */
  catchUpEntries: number;
  /** Receives the storage's warnings (for the run's trace). */
  note?: (text: string) => void;
  /** A broken disk whose syncs do nothing (tests that the checks catch it). */
  ignoreFsync?: boolean;
}

/** What recovery must give back: a snapshot, a hard state and the log after the snapshot. */
interface Image {
  snap: Snapshot;
  hs: HardState;
  entries: Entry[];
}

const DIR = "/node";

function imageOf(s: Storage & { snapshot(): Snapshot }, hs: HardState): Image {
  const snap = s.snapshot();
  const last = s.lastIndex();
  const entries = last > snap.meta.index
    ? s.entries(snap.meta.index + 1, last + 1, Infinity)
    : [];
  return { snap, hs: { ...hs }, entries };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameImage(a: Image, b: Image): boolean {
  const sa = a.snap.meta, sb = b.snap.meta;
  if (sa.index !== sb.index || sa.term !== sb.term) return false;
  if (
    a.hs.term !== b.hs.term || a.hs.vote !== b.hs.vote ||
    a.hs.commit !== b.hs.commit
  ) return false;
  if (a.entries.length !== b.entries.length) return false;
  return a.entries.every((e, k) => {
    const f = b.entries[k]!;
    return e.index === f.index && e.term === f.term && e.type === f.type &&
      sameBytes(e.data, f.data);
  });
}

function describeImage(i: Image): string {
  const last = i.entries.at(-1);
  return `snapshot ${i.snap.meta.index}@${i.snap.meta.term}, hard state ` +
    `{term ${i.hs.term} vote ${i.hs.vote} commit ${i.hs.commit}}, ` +
    `log ${i.entries.length} entries after it` +
    (last ? ` ending ${last.index}@${last.term}` : "");
}

/** A copy of `img` in a fresh {@linkcode MemoryStorage}, to play a write on. */
function storageOf(img: Image): MemoryStorage {
  const m = new MemoryStorage();
  m.applySnapshot(img.snap);
  m.append(img.entries);
  m.setHardState(img.hs);
  return m;
}

/** Disk-backed durable storage of one simulated node; see the module doc. */
export class DiskDurableStore implements DurableStore {
  readonly #mem = new MemFs();
  readonly #fs = new CountingFs(this.#mem);
  readonly #opts: DiskStoreOptions;
  #storage: DiskStorage | undefined;
  /** The hard state that is synced (a hard-state-only write may not be). */
  #hs: HardState = { term: 0, vote: 0, commit: 0 };
  /** What the next recovery may return, when a write was cut short; else the current state. */
  #expected: Image[] | undefined;
  #writesCut = 0;
  #recoveryCrashes = 0;

  constructor(opts: DiskStoreOptions) {
    this.#opts = opts;
    this.#fs.ignoreSyncs = opts.ignoreFsync ?? false;
  }

  get counts(): DiskCounts {
    return this.#fs.counts;
  }

  get writesCut(): number {
    return this.#writesCut;
  }

  get recoveryCrashes(): number {
    return this.#recoveryCrashes;
  }

  get #disk(): DiskStorage {
    if (!this.#storage) throw new Error(`node ${this.#opts.id}: no storage`);
    return this.#storage;
  }

  async #openDisk(): Promise<DiskStorage> {
    const note = this.#opts.note;
    // Only the storage's own findings: a warning about wall-clock time (a
    // slow fsync) would make the trace differ between runs of one seed.
    const warn = (msg: string, fields?: Record<string, unknown>) => {
      if (!/^(wal|snapshot|storage):/.test(msg)) return;
      note?.(`node ${this.#opts.id} disk: ${msg} ${JSON.stringify(fields)}`);
    };
    const s = await DiskStorage.open(this.#fs, DIR, {
      segmentBytes: this.#opts.segmentBytes,
      keepSnapshots: this.#opts.keepSnapshots,
      catchUpEntries: this.#opts.catchUpEntries,
      preallocate: false,
      // As in production: a snapshot's data is read back from its file to
      // be sent, not kept in memory.
      snapshotDataInMemory: false,
      metadata: { clusterId: "sim", nodeId: this.#opts.id },
      logger: { debug() {}, info() {}, warn, error: warn },
    });
    this.#hs = s.initialState().hardState;
    return s;
  }

  async open(): Promise<DiskStorage> {
    this.#storage ??= await this.#openDisk();
    return this.#storage;
  }

  async persist(batch: PersistBatch): Promise<void> {
    const disk = this.#disk;
    await disk.save(batch);
    if (batch.mustSync || batch.entries.length > 0 || batch.snapshot) {
      this.#hs = disk.initialState().hardState;
    }
  }

  async saveSnapshot(snap: Snapshot): Promise<void> {
    const disk = this.#disk;
    await disk.createSnapshot(snap);
    this.#hs = disk.initialState().hardState;
  }

  persistTorn(batch: PersistBatch): Promise<boolean> {
    return this.#cutShort(
      () => this.persist(batch),
      (m, mirrorHs) => {
        if (batch.snapshot) m.applySnapshot(batch.snapshot);
        m.append(batch.entries);
        m.setHardState(batch.hardState ?? mirrorHs);
      },
    );
  }

  snapshotTorn(snap: Snapshot): Promise<boolean> {
    return this.#cutShort(
      () => this.saveSnapshot(snap),
      (m) => m.createSnapshot(snap),
    );
  }

  /**
   * Runs `write` with the file system set to halt after a random number of
   * changing operations, and records what the next recovery may show: the
   * state after the write if it completed; else the state before it (with
   * the synced hard state, or the newest one, which a segment header may
   * have carried to disk), or the state `play` makes of it.
   */
  async #cutShort(
    write: () => Promise<void>,
    play: (m: MemoryStorage, mirrorHs: HardState) => void,
  ): Promise<boolean> {
    const disk = this.#disk;
    const rng = this.#opts.rng;
    const mirrorHs = disk.initialState().hardState;
    const before = imageOf(disk, this.#hs);
    const beforeNewest = imageOf(disk, mirrorHs);
    if (rng.chance(0.5)) {
      // Anywhere: before the n-th changing operation of the write.
      this.#mem.haltAt(this.#mem.mutations + rng.intn(24));
    } else {
      // Right before the n-th sync, so the writes it would make durable tear.
      let syncs = rng.intn(4);
      this.#fs.beforeSync = () => {
        if (syncs-- === 0) this.#mem.haltAt(this.#mem.mutations);
      };
    }
    let completed = true;
    try {
      await write();
    } catch (err) {
      if (!this.#mem.halted) throw err;
      completed = false;
    } finally {
      this.#fs.beforeSync = undefined;
    }
    if (completed) return true;
    this.#writesCut++;
    const now = imageOf(disk, disk.initialState().hardState);
    if (!sameImage(now, beforeNewest)) {
      // The WAL write finished (the mirror moved); only what follows it was cut.
      this.#expected = [now];
    } else {
      const after = storageOf(beforeNewest);
      play(after, mirrorHs);
      this.#expected = [
        before,
        beforeNewest,
        imageOf(after, after.hardState()),
      ];
    }
    return false;
  }

  async crash(): Promise<void> {
    const expected = this.#expected ??
      (this.#storage ? [imageOf(this.#storage, this.#hs)] : []);
    this.#expected = undefined;
    const rng = this.#opts.rng;
    this.#mem.crash(rng);
    if (rng.chance(0.2)) {
      // The power fails again during recovery (a torn tail being set aside
      // and cut, temporaries being removed); recovery must start over cleanly.
      this.#mem.haltAt(this.#mem.mutations + rng.intn(6));
      try {
        await this.#openDisk();
      } catch (err) {
        if (!this.#mem.halted) throw this.#cannotRecover(err);
      }
      this.#recoveryCrashes++;
      this.#mem.crash(rng);
    }
    // Until the reopen succeeds, the views show the state before the crash
    // (a failure report still describes the node).
    let disk: DiskStorage;
    try {
      disk = await this.#openDisk();
    } catch (err) {
      throw this.#cannotRecover(err);
    }
    this.#storage = disk;
    if (expected.length === 0) return;
    const got = imageOf(disk, this.#hs);
    if (expected.some((e) => sameImage(e, got))) return;
    throw new InvariantViolation(
      "durable recovery",
      `node ${this.#opts.id} recovered ${describeImage(got)}; expected ` +
        expected.map(describeImage).join(" or "),
    );
  }

  /** A recovery that refuses the directory breaks `durable recovery`. */
  #cannotRecover(err: unknown): InvariantViolation {
    return new InvariantViolation(
      "durable recovery",
      `node ${this.#opts.id} cannot recover after a crash: ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }

  hardState(): HardState {
    return { ...this.#hs };
  }

  snapshot(): Snapshot {
    return this.#disk.snapshot();
  }

  lastIndex(): number {
    return this.#disk.lastIndex();
  }

  term(i: number): number | undefined {
    const d = this.#disk;
    if (i < d.firstIndex() - 1 || i > d.lastIndex()) return undefined;
    return d.term(i);
  }
}
