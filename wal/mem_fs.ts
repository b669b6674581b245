// deno-lint-ignore-file require-await -- async only so that errors reject instead of throwing
/**
 * An in-memory {@linkcode Fs} that can crash. Every file keeps its durable
 * bytes apart from the writes not yet synced; every directory keeps its
 * durable entries apart from creates, renames and removes not yet synced.
 * {@linkcode MemFs.crash} throws the volatile state away the way a power
 * loss may: each pending write lands fully, not at all, torn at a 512-byte
 * boundary (the rest missing or zero-filled), or as zeros; each directory
 * keeps a random prefix of its pending changes (or, on request, any subset:
 * a disk that reorders them). I/O errors (EIO, ENOSPC) can be injected on
 * demand.
 *
 * Deterministic: all choices come from the injected rng, iteration follows
 * creation order, and every call resolves without timers, so the Raft
 * simulator can replay a seed exactly.
 *
 * Simplifications: directories themselves are durable once made; reads never
 * fail.
 *
 * @module
 */

import { FsIoError } from "./errors.ts";
import {
  dirName,
  type FileStat,
  type Fs,
  type FsFile,
  type OpenOptions,
} from "./fs.ts";

/** The rng shape {@linkcode MemFs.crash} draws from (structural, e.g. raft/core's). */
export interface CrashRng {
  /** Returns an integer in `[0, n)`. */
  intn(n: number): number;
}

/** Operations a fault can target; `mutation` matches every changing operation. */
export type FaultOp =
  | "create"
  | "write"
  | "truncate"
  | "sync"
  | "rename"
  | "remove"
  | "syncDir"
  | "mutation";

/** An I/O error to raise on a matching operation. */
export interface Fault {
  op: FaultOp;
  /** The POSIX error to raise; default `EIO`. */
  errno?: "EIO" | "ENOSPC";
  /** Only paths containing this string match. */
  pathIncludes?: string;
  /** Let this many matching operations pass first; default 0. */
  after?: number;
  /** How many times to fail before the fault is spent; default 1. */
  times?: number;
}

/** Options of {@linkcode MemFs.crash}. */
export interface CrashOptions {
  /**
   * Which of a directory's unsynced changes (creates, renames, removes)
   * survive: `prefix` (default), those up to a random point, in order;
   * `any`, each one kept or lost on its own, as on a file system that
   * writes them back out of order (POSIX promises no order before the
   * directory's fsync).
   */
  directoryChanges?: "prefix" | "any";
}

/** The size of a disk sector: torn writes break at multiples of it. */
export const SECTOR_BYTES = 512;
/** The errno of operations refused after {@linkcode MemFs.haltAt}. */
export const HALTED = "EHALT";

type FileOp =
  | { kind: "write"; offset: number; bytes: Uint8Array }
  | { kind: "truncate"; size: number };

/**
 * A file's bytes. Growth by truncate is sparse: `size` may pass the end of
 * `data`, and the bytes beyond read as zeros, so preallocating a large
 * segment costs nothing until it is written.
 */
class Bytes {
  data = new Uint8Array(0);
  size = 0;

  #ensure(n: number): void {
    if (n <= this.data.length) return;
    const next = new Uint8Array(Math.max(n, this.data.length * 2, 256));
    next.set(this.data);
    this.data = next;
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#ensure(offset + bytes.length);
    this.data.set(bytes, offset);
    this.size = Math.max(this.size, offset + bytes.length);
  }

  truncate(size: number): void {
    if (size < this.size) {
      this.data.fill(0, size, Math.min(this.size, this.data.length));
    }
    this.size = size;
  }

  apply(op: FileOp): void {
    if (op.kind === "write") this.write(op.offset, op.bytes);
    else this.truncate(op.size);
  }

  /** Copies bytes from `position` into `buf`; resolves to the count. */
  read(buf: Uint8Array, position: number): number {
    const n = Math.max(0, Math.min(buf.length, this.size - position));
    const stored = Math.max(0, Math.min(n, this.data.length - position));
    buf.set(this.data.subarray(position, position + stored));
    buf.fill(0, stored, n);
    return n;
  }

  /** A copy of the whole content. */
  copy(): Uint8Array {
    const out = new Uint8Array(this.size);
    this.read(out, 0);
    return out;
  }

  clone(): Bytes {
    const b = new Bytes();
    b.data = this.data.slice(0, Math.min(this.size, this.data.length));
    b.size = this.size;
    return b;
  }
}

class Inode {
  current = new Bytes();
  durable = new Bytes();
  /** Changes since the last sync that may still reach the disk. */
  pending: FileOp[] = [];
  constructor(readonly id: number) {}
}

/** One atomic change of a directory: names set to an inode or removed. */
type DirChange = Array<[name: string, inode: Inode | undefined]>;

class Dir {
  entries = new Map<string, Inode>();
  durable = new Map<string, Inode>();
  pending: DirChange[] = [];

  change(change: DirChange): void {
    applyChange(this.entries, change);
    this.pending.push(change);
  }
}

function applyChange(entries: Map<string, Inode>, change: DirChange): void {
  for (const [name, inode] of change) {
    if (inode) entries.set(name, inode);
    else entries.delete(name);
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

class MemFile implements FsFile {
  #closed = false;
  constructor(
    readonly fs: MemFs,
    readonly path: string,
    readonly inode: Inode,
    readonly writable: boolean,
    readonly generation: number,
  ) {}

  #live(write: boolean): void {
    if (this.#closed) {
      throw new FsIoError("EBADF", "use of closed file", this.path);
    }
    if (this.generation !== this.fs.generation) {
      throw new FsIoError(
        "EBADF",
        "use of a file opened before a crash",
        this.path,
      );
    }
    if (write && !this.writable) {
      throw new FsIoError("EBADF", "write to a read-only file", this.path);
    }
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    this.#live(false);
    return this.inode.current.read(buf, position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#live(true);
    this.fs.check("write", this.path);
    const op: FileOp = { kind: "write", offset: position, bytes: data.slice() };
    this.inode.current.apply(op);
    this.inode.pending.push(op);
  }

  async truncate(size: number): Promise<void> {
    this.#live(true);
    this.fs.check("truncate", this.path);
    const op: FileOp = { kind: "truncate", size };
    this.inode.current.apply(op);
    this.inode.pending.push(op);
  }

  syncData(): Promise<void> {
    return this.sync();
  }

  async sync(): Promise<void> {
    this.#live(false);
    try {
      this.fs.check("sync", this.path);
    } catch (err) {
      // Like Linux after a failed writeback: the pages are marked clean, the
      // data stays readable but will never reach the disk.
      if (err instanceof FsIoError && err.errno !== HALTED) {
        this.inode.pending = [];
      }
      throw err;
    }
    for (const op of this.inode.pending) this.inode.durable.apply(op);
    this.inode.pending = [];
  }

  async size(): Promise<number> {
    this.#live(false);
    return this.inode.current.size;
  }

  close(): void {
    this.#closed = true;
  }
}

/**
 * In-memory filesystem with crash and fault injection; see the module doc.
 * All methods resolve immediately.
 */
export class MemFs implements Fs {
  readonly #dirs = new Map<string, Dir>([["/", new Dir()], [".", new Dir()]]);
  readonly #faults: Required<Fault>[] = [];
  #nextInode = 1;
  #mutations = 0;
  #haltAt = Infinity;
  /** Bumped by every crash; handles from an older generation are dead. */
  generation = 0;

  /** How many changing operations ran (or were attempted) so far. */
  get mutations(): number {
    return this.#mutations;
  }

  /** Arms a fault: a matching operation throws {@linkcode FsIoError}. */
  injectFault(fault: Fault): void {
    this.#faults.push({
      errno: "EIO",
      pathIncludes: "",
      after: 0,
      times: 1,
      ...fault,
    });
  }

  /** Disarms every fault. */
  clearFaults(): void {
    this.#faults.length = 0;
  }

  /**
   * Simulates the process dying just before changing operation number
   * `mutation` (counted like {@linkcode mutations}): that operation and every
   * later one throw `FsIoError("EHALT")` without effect, and pending writes
   * stay pending, until {@linkcode crash}.
   */
  haltAt(mutation: number): void {
    this.#haltAt = mutation;
  }

  /** True once the point set by {@linkcode haltAt} is reached: changing operations fail until the crash. */
  get halted(): boolean {
    return this.#mutations >= this.#haltAt;
  }

  /** @internal Counts a changing operation and raises a matching armed fault. */
  check(op: Exclude<FaultOp, "mutation">, path: string): void {
    if (this.#mutations >= this.#haltAt) throw new FsIoError(HALTED, op, path);
    this.#mutations++;
    for (let i = 0; i < this.#faults.length; i++) {
      const f = this.#faults[i]!;
      if (f.op !== op && f.op !== "mutation") continue;
      if (!path.includes(f.pathIncludes)) continue;
      if (f.after > 0) {
        f.after--;
        continue;
      }
      if (--f.times <= 0) this.#faults.splice(i, 1);
      throw new FsIoError(f.errno, op, path);
    }
  }

  #dir(path: string): Dir {
    const d = this.#dirs.get(path);
    if (!d) throw new FsIoError("ENOENT", "no such directory", path);
    return d;
  }

  #lookup(path: string): Inode {
    const inode = this.#dir(dirName(path)).entries.get(baseName(path));
    if (!inode) throw new FsIoError("ENOENT", "no such file", path);
    return inode;
  }

  async open(path: string, options: OpenOptions = {}): Promise<FsFile> {
    const dir = this.#dir(dirName(path));
    const name = baseName(path);
    let inode = dir.entries.get(name);
    if (inode && options.createNew) throw new FsIoError("EEXIST", "open", path);
    if (!inode) {
      if (!options.create && !options.createNew) {
        throw new FsIoError("ENOENT", "no such file", path);
      }
      this.check("create", path);
      inode = new Inode(this.#nextInode++);
      dir.change([[name, inode]]);
    }
    const writable = (options.write ?? false) || (options.createNew ?? false);
    return new MemFile(this, path, inode, writable, this.generation);
  }

  async readFile(path: string): Promise<Uint8Array> {
    return this.#lookup(path).current.copy();
  }

  async rename(from: string, to: string): Promise<void> {
    const inode = this.#lookup(from);
    const toDir = this.#dir(dirName(to));
    this.check("rename", from);
    const fromDir = this.#dir(dirName(from));
    if (fromDir === toDir) {
      fromDir.change([[baseName(from), undefined], [baseName(to), inode]]);
    } else {
      toDir.change([[baseName(to), inode]]);
      fromDir.change([[baseName(from), undefined]]);
    }
  }

  async remove(path: string): Promise<void> {
    this.#lookup(path);
    this.check("remove", path);
    this.#dir(dirName(path)).change([[baseName(path), undefined]]);
  }

  async readDir(path: string): Promise<string[]> {
    const names = [...this.#dir(path).entries.keys()];
    const prefix = path.endsWith("/") ? path : path + "/";
    for (const d of this.#dirs.keys()) {
      if (
        d.startsWith(prefix) && !d.slice(prefix.length).includes("/") &&
        d !== prefix
      ) {
        names.push(d.slice(prefix.length));
      }
    }
    return names;
  }

  async mkdir(path: string): Promise<void> {
    const trimmed = path.length > 1 && path.endsWith("/")
      ? path.slice(0, -1)
      : path;
    for (let p = trimmed; !this.#dirs.has(p); p = dirName(p)) {
      this.#dirs.set(p, new Dir());
    }
  }

  async syncDir(path: string): Promise<void> {
    const dir = this.#dir(path);
    this.check("syncDir", path);
    dir.durable = new Map(dir.entries);
    dir.pending = [];
  }

  async stat(path: string): Promise<FileStat | undefined> {
    if (this.#dirs.has(path)) {
      return { size: 0, isFile: false, isDirectory: true };
    }
    const inode = this.#dirs.get(dirName(path))?.entries.get(baseName(path));
    if (!inode) return undefined;
    return { size: inode.current.size, isFile: true, isDirectory: false };
  }

  /**
   * Simulates a power loss: keeps what was synced, lets each pending write
   * land fully, not at all, torn or zero-filled, and each directory keep a
   * random prefix of its pending changes (any subset of them with
   * `directoryChanges: "any"`), as chosen by `rng`. Every open handle dies;
   * armed faults and halts are cleared. The same state and rng sequence
   * give the same result.
   */
  crash(rng: CrashRng, options: CrashOptions = {}): void {
    this.generation++;
    this.#faults.length = 0;
    this.#haltAt = Infinity;
    const inodes = new Map<number, Inode>();
    for (const dir of this.#dirs.values()) {
      for (const i of dir.entries.values()) inodes.set(i.id, i);
      for (const i of dir.durable.values()) inodes.set(i.id, i);
    }
    for (const id of [...inodes.keys()].sort((a, b) => a - b)) {
      crashFile(inodes.get(id)!, rng);
    }
    for (const dir of this.#dirs.values()) {
      if (options.directoryChanges === "any") {
        for (const c of dir.pending) {
          if (rng.intn(2) === 0) applyChange(dir.durable, c);
        }
      } else {
        const keep = rng.intn(dir.pending.length + 1);
        for (let k = 0; k < keep; k++) {
          applyChange(dir.durable, dir.pending[k]!);
        }
      }
      dir.pending = [];
      dir.entries = new Map(dir.durable);
    }
  }
}

function crashFile(inode: Inode, rng: CrashRng): void {
  const disk = inode.durable;
  for (const op of inode.pending) {
    if (op.kind === "truncate") {
      if (rng.intn(2) === 0) disk.apply(op);
      continue;
    }
    const end = op.offset + op.bytes.length;
    const firstCut = (Math.floor(op.offset / SECTOR_BYTES) + 1) * SECTOR_BYTES;
    const cuts = firstCut < end
      ? Math.ceil((end - firstCut) / SECTOR_BYTES)
      : 0;
    const mode = rng.intn(cuts > 0 ? 5 : 3);
    if (mode === 0) disk.apply(op); // landed fully
    else if (mode >= 3) {
      const cut = firstCut + SECTOR_BYTES * rng.intn(cuts);
      disk.write(op.offset, op.bytes.subarray(0, cut - op.offset));
    }
    // Mode 2 and 4: the new size reached the disk, the data (or its rest) did
    // not, so blocks past the old end read as zeros. Mode 1: lost entirely.
    if ((mode === 2 || mode === 4) && end > disk.size) disk.truncate(end);
  }
  inode.pending = [];
  inode.current = disk.clone();
}
