/**
 * An {@linkcode Fs} wrapper that counts what the storage did to the disk
 * (segments cut and released, snapshot files written and pruned, torn tails
 * set aside), so a run can report that it exercised the WAL and not just
 * claim it. It only counts: every call goes to the wrapped file system.
 *
 * @module
 */

import type { FileStat, Fs, FsFile, OpenOptions } from "../../wal/mod.ts";

/** What the storage did to one node's disk, summed over its incarnations. */
export interface DiskCounts {
  /** WAL segments created (the first one too). */
  segmentCuts: number;
  /** WAL segments deleted by retention. */
  segmentsReleased: number;
  /** Snapshot files written (application snapshots and received ones). */
  snapshotFiles: number;
  /** Snapshot files deleted by retention or because no marker referenced them. */
  snapshotsRemoved: number;
  /** Torn WAL tails recovery cut off (zero-filled ones included). */
  tailsCut: number;
  /** Side files holding a torn WAL tail that recovery cut off. */
  tailsSetAside: number;
  /** Bytes written to WAL files (`wal/`), as the file system took them. */
  walBytes: number;
  /** Bytes written to snapshot files (`snap/`), received ones too. */
  snapBytes: number;
}

/** All counters at zero. */
export function zeroDiskCounts(): DiskCounts {
  return {
    segmentCuts: 0,
    segmentsReleased: 0,
    snapshotFiles: 0,
    snapshotsRemoved: 0,
    tailsCut: 0,
    tailsSetAside: 0,
    walBytes: 0,
    snapBytes: 0,
  };
}

/** Adds `b` into `a`. */
export function addDiskCounts(a: DiskCounts, b: DiskCounts): void {
  a.segmentCuts += b.segmentCuts;
  a.segmentsReleased += b.segmentsReleased;
  a.snapshotFiles += b.snapshotFiles;
  a.snapshotsRemoved += b.snapshotsRemoved;
  a.tailsCut += b.tailsCut;
  a.tailsSetAside += b.tailsSetAside;
  a.walBytes += b.walBytes;
  a.snapBytes += b.snapBytes;
}

/**
 * Counts successful operations on the wrapped file system; see the module
 * doc. {@linkcode beforeSync}, when set, runs before every file or
 * directory sync (the simulator uses it to fail the power right there).
 */
export class CountingFs implements Fs {
  readonly counts: DiskCounts = zeroDiskCounts();
  beforeSync: (() => void) | undefined;
  /** A lying disk (for tests of the checks): syncs succeed without syncing. */
  ignoreSyncs = false;
  readonly #fs: Fs;

  constructor(fs: Fs) {
    this.#fs = fs;
  }

  async open(path: string, options?: OpenOptions): Promise<FsFile> {
    const file = await this.#fs.open(path, options);
    if (path.endsWith(".broken") && (options?.create || options?.createNew)) {
      this.counts.tailsSetAside++;
    }
    const counts = this.counts;
    const segment = path.endsWith(".wal");
    return {
      read: (buf, position) => file.read(buf, position),
      async write(data, position) {
        await file.write(data, position);
        if (path.includes("wal/")) counts.walBytes += data.length;
        else if (path.includes("snap/")) counts.snapBytes += data.length;
      },
      async truncate(size) {
        await file.truncate(size);
        // Segments are not preallocated in the simulator: a truncate is a repair.
        if (segment) counts.tailsCut++;
      },
      syncData: () => {
        this.beforeSync?.();
        return this.ignoreSyncs ? Promise.resolve() : file.syncData();
      },
      sync: () => {
        this.beforeSync?.();
        return this.ignoreSyncs ? Promise.resolve() : file.sync();
      },
      size: () => file.size(),
      close: () => file.close(),
    };
  }

  readFile(path: string): Promise<Uint8Array> {
    return this.#fs.readFile(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#fs.rename(from, to);
    if (to.endsWith(".wal")) this.counts.segmentCuts++;
    if (to.endsWith(".snap")) this.counts.snapshotFiles++;
  }

  async remove(path: string): Promise<void> {
    await this.#fs.remove(path);
    if (path.endsWith(".wal")) this.counts.segmentsReleased++;
    if (path.endsWith(".snap")) this.counts.snapshotsRemoved++;
  }

  readDir(path: string): Promise<string[]> {
    return this.#fs.readDir(path);
  }

  mkdir(path: string): Promise<void> {
    return this.#fs.mkdir(path);
  }

  syncDir(path: string): Promise<void> {
    this.beforeSync?.();
    return this.ignoreSyncs ? Promise.resolve() : this.#fs.syncDir(path);
  }

  stat(path: string): Promise<FileStat | undefined> {
    return this.#fs.stat(path);
  }
}
