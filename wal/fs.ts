/**
 * The filesystem port of the storage layer: only what the WAL and snapshot
 * files need. Two implementations exist: `DenoFs` (the real disk) and
 * `MemFs` (in memory, able to crash and to inject I/O errors), so simulated
 * crashes exercise the same WAL code as production.
 *
 * Paths are plain strings joined with `/` ({@linkcode joinPath}).
 *
 * @module
 */

/** What {@linkcode Fs.stat} reports. */
export interface FileStat {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
}

/** How {@linkcode Fs.open} opens a file. */
export interface OpenOptions {
  /** Allow writes, truncation and syncs. */
  write?: boolean;
  /** Create the file when missing. */
  create?: boolean;
  /** Fail when the file exists (implies `create`). */
  createNew?: boolean;
}

/**
 * An open file. Reads and writes are positional, so no hidden cursor leaks
 * between callers. Writes are not durable until {@linkcode syncData} or
 * {@linkcode sync} resolved.
 */
export interface FsFile {
  /** Reads up to `buf.length` bytes at `position`; resolves to the count (0 at end). */
  read(buf: Uint8Array, position: number): Promise<number>;
  /** Writes all of `data` at `position`, growing the file if needed. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Sets the file's size, cutting it or extending it with zeros. */
  truncate(size: number): Promise<void>;
  /** Makes the data (and the size) durable: fdatasync. */
  syncData(): Promise<void>;
  /** Makes data and all metadata durable: fsync. */
  sync(): Promise<void>;
  /** The current size in bytes. */
  size(): Promise<number>;
  /** Releases the handle; further calls fail. */
  close(): void;
}

/**
 * A directory tree of files. Creating, renaming and removing an entry is
 * durable only after {@linkcode syncDir} on its directory resolved.
 */
export interface Fs {
  /** Opens (and with `create` makes) a file. */
  open(path: string, options?: OpenOptions): Promise<FsFile>;
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Renames atomically, replacing `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. */
  remove(path: string): Promise<void>;
  /** The names of a directory's entries, in no particular order. */
  readDir(path: string): Promise<string[]>;
  /** Creates a directory and its parents; succeeds if it exists. */
  mkdir(path: string): Promise<void>;
  /** Makes the entries of a directory (creates, renames, removes) durable. */
  syncDir(path: string): Promise<void>;
  /** Facts about a path, or `undefined` when nothing is there. */
  stat(path: string): Promise<FileStat | undefined>;
}

/** Joins path segments with `/`, dropping empty ones between. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p, i) => p !== "" || i === 0).join("/").replace(
    /\/{2,}/g,
    "/",
  );
}

/** The directory part of a path (`"."` when there is none). */
export function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}
