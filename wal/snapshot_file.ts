/**
 * Snapshot files: one file per snapshot, named `<term:016x>-<index:016x>.snap`
 * and laid out as
 *
 * ```
 * "RKVS"  length:u32le(low)  length:u32le(high)  crc32:u32le  data(length)
 * ```
 *
 * A file appears under its name only whole and durable (written to a
 * temporary name, fsynced, renamed, directory fsynced). A file that fails
 * validation is renamed to `<name>.broken` and the next older one is used.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { SnapshotCorruptError } from "./errors.ts";
import { dirName, type Fs, type FsFile, joinPath } from "./fs.ts";
import type { WalLogger } from "./wal.ts";

/** A snapshot file's identity, from its name. */
export interface SnapshotFileInfo {
  term: number;
  index: number;
  /** The file name (without directory). */
  name: string;
}

/** A snapshot file read back and verified. */
export interface LoadedSnapshotFile extends SnapshotFileInfo {
  data: Uint8Array;
}

/** The suffix given to files that failed validation. */
export const BROKEN_SUFFIX = ".broken";
const TEMP_SUFFIX = ".tmp";
const MAGIC = [0x52, 0x4b, 0x56, 0x53]; // "RKVS"
const HEADER_BYTES = 16;
/** The most bytes {@linkcode SnapshotFiles.save} checksums and writes in one step. */
const WRITE_PIECE_BYTES = 1024 * 1024;
/**
 * A snapshot file being written is synced every this many bytes, so it
 * never holds more dirty data than that: with ext4's ordered journal a WAL
 * fdatasync meanwhile may have to wait for the other files' dirty data,
 * and a whole state's worth would stall every write behind it.
 */
const SYNC_EVERY_BYTES = 4 * 1024 * 1024;
const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

/** Formats the file name of the snapshot at (`term`, `index`). */
export function snapshotFileName(term: number, index: number): string {
  const hex = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`bad snapshot number ${n}`);
    }
    return n.toString(16).padStart(16, "0");
  };
  return `${hex(term)}-${hex(index)}.snap`;
}

/** Parses a snapshot file name; `undefined` for any other name. */
export function parseSnapshotFileName(
  name: string,
): SnapshotFileInfo | undefined {
  const m = PATTERN.exec(name);
  if (!m) return undefined;
  const term = parseInt(m[1]!, 16);
  const index = parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) {
    return undefined;
  }
  return { term, index, name };
}

/**
 * The 16-byte header of a file whose data is `parts` joined in order:
 * length and CRC32 are computed over the parts one after the other, so a
 * large snapshot is never copied into one buffer just to be framed.
 */
export function snapshotFileHeader(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  let crc = 0;
  for (const p of parts) {
    length += p.length;
    crc = crc32(p, crc);
  }
  return headerOf(length, crc);
}

/** The header of a file of `length` data bytes whose CRC-32 is `crc`. */
function headerOf(length: number, crc: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  header.set(MAGIC, 0);
  view.setUint32(4, length % 0x1_0000_0000, true);
  view.setUint32(8, Math.floor(length / 0x1_0000_0000), true);
  view.setUint32(12, crc >>> 0, true);
  return header;
}

/** Wraps `data` in the checksummed file layout (one buffer: the whole file's bytes). */
export function encodeSnapshotFile(data: Uint8Array): Uint8Array {
  const header = snapshotFileHeader([data]);
  const buf = new Uint8Array(HEADER_BYTES + data.length);
  buf.set(header, 0);
  buf.set(data, HEADER_BYTES);
  return buf;
}

/** Verifies the file layout and returns the data; throws {@linkcode SnapshotCorruptError}. */
export function decodeSnapshotFile(file: string, buf: Uint8Array): Uint8Array {
  if (buf.length < HEADER_BYTES || MAGIC.some((b, i) => buf[i] !== b)) {
    throw new SnapshotCorruptError(file, "bad header");
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = view.getUint32(4, true) + view.getUint32(8, true) * 0x1_0000_0000;
  if (len !== buf.length - HEADER_BYTES) {
    throw new SnapshotCorruptError(
      file,
      `length ${len} does not match file size ${buf.length}`,
    );
  }
  const data = buf.subarray(HEADER_BYTES);
  if ((crc32(data) >>> 0) !== view.getUint32(12, true)) {
    throw new SnapshotCorruptError(file, "checksum mismatch");
  }
  return data;
}

/**
 * A snapshot file opened to read its data in order, a piece at a time (to
 * send it to a follower without holding it whole): the header is checked
 * at open, the CRC-32 as the data goes by, and a mismatch is reported when
 * the last byte is read, before it is handed out. The open file stays
 * readable even if its name is removed meanwhile.
 */
export class SnapshotFileReader {
  /** The length of the file's data (the header excluded). */
  readonly byteLength: number;
  /** The CRC-32 of the data, as the file's header records it. */
  readonly crc: number;
  readonly #file: FsFile;
  readonly #path: string;
  #at = 0;
  #crc = 0;
  #closed = false;

  private constructor(
    file: FsFile,
    path: string,
    byteLength: number,
    crc: number,
  ) {
    this.#file = file;
    this.#path = path;
    this.byteLength = byteLength;
    this.crc = crc;
  }

  /** Opens `path` and checks its header against its size. */
  static async open(fs: Fs, path: string): Promise<SnapshotFileReader> {
    const file = await fs.open(path);
    try {
      const header = new Uint8Array(HEADER_BYTES);
      const got = await readFully(file, header, 0);
      if (got < HEADER_BYTES || MAGIC.some((b, i) => header[i] !== b)) {
        throw new SnapshotCorruptError(path, "bad header");
      }
      const view = new DataView(header.buffer);
      const len = view.getUint32(4, true) +
        view.getUint32(8, true) * 0x1_0000_0000;
      const size = await file.size();
      if (len !== size - HEADER_BYTES) {
        throw new SnapshotCorruptError(
          path,
          `length ${len} does not match file size ${size}`,
        );
      }
      return new SnapshotFileReader(file, path, len, view.getUint32(12, true));
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** How many data bytes were read so far. */
  get position(): number {
    return this.#at;
  }

  /**
   * Fills `into` with the next `into.length` bytes of the data. Throws
   * {@linkcode SnapshotCorruptError} when the file ends early, or when this
   * read reaches the end and the data's checksum does not match.
   */
  async readNext(into: Uint8Array): Promise<void> {
    if (this.#closed) {
      throw new SnapshotCorruptError(this.#path, "read after close");
    }
    if (into.length > this.byteLength - this.#at) {
      throw new RangeError(
        `read of ${into.length} bytes past the data's end at ${this.#at}`,
      );
    }
    const got = await readFully(this.#file, into, HEADER_BYTES + this.#at);
    if (got < into.length) {
      throw new SnapshotCorruptError(this.#path, "the file ends early");
    }
    this.#crc = crc32(into, this.#crc);
    this.#at += into.length;
    if (this.#at === this.byteLength && (this.#crc >>> 0) !== this.crc) {
      throw new SnapshotCorruptError(this.#path, "checksum mismatch");
    }
  }

  /** Closes the file (again is a no-op). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}

/** Reads into `buf` at `position` until it is full or the file ends. */
async function readFully(
  file: FsFile,
  buf: Uint8Array,
  position: number,
): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got), position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * A snapshot file being received from the leader: its data is written at
 * the end of a temporary file (`incoming-<n>.snap.tmp`, removed by
 * {@linkcode SnapshotFiles.open} after a crash) as it arrives, checksummed
 * on the way and synced every 4 MiB; {@linkcode IncomingSnapshotFile.seal}
 * writes the header and fsyncs it, {@linkcode IncomingSnapshotFile.install}
 * then gives it its final name (rename, directory fsync). So a crash at
 * any point leaves a temporary file that is thrown away, or a whole durable
 * file under its name: never a partial file under a snapshot's name.
 */
export class IncomingSnapshotFile {
  readonly #fs: Fs;
  readonly #dir: string;
  readonly #temp: string;
  readonly #file: FsFile;
  #at = HEADER_BYTES;
  #crc = 0;
  #unsynced = 0;
  #state: "writing" | "sealed" | "closed" = "writing";

  /** @internal Made by {@linkcode SnapshotFiles.createIncoming}. */
  constructor(fs: Fs, dir: string, temp: string, file: FsFile) {
    this.#fs = fs;
    this.#dir = dir;
    this.#temp = temp;
    this.#file = file;
  }

  /** How many data bytes were written so far. */
  get byteLength(): number {
    return this.#at - HEADER_BYTES;
  }

  /** The CRC-32 of the data written so far. */
  get crc(): number {
    return this.#crc >>> 0;
  }

  /** Appends `data` (at most one piece of 1 MiB checksummed per step). */
  async write(data: Uint8Array): Promise<void> {
    if (this.#state !== "writing") {
      throw new SnapshotCorruptError(this.#temp, "write after seal");
    }
    for (let from = 0; from < data.length; from += WRITE_PIECE_BYTES) {
      const piece = data.subarray(from, from + WRITE_PIECE_BYTES);
      this.#crc = crc32(piece, this.#crc);
      await this.#file.write(piece, this.#at);
      this.#at += piece.length;
      this.#unsynced += piece.length;
      if (this.#unsynced >= SYNC_EVERY_BYTES) {
        await this.#file.syncData();
        this.#unsynced = 0;
      }
    }
  }

  /** Writes the header and fsyncs the file, which is then complete. */
  async seal(): Promise<void> {
    if (this.#state !== "writing") {
      throw new SnapshotCorruptError(this.#temp, "sealed twice");
    }
    await this.#file.write(headerOf(this.byteLength, this.#crc), 0);
    await this.#file.sync();
    this.#file.close();
    this.#state = "sealed";
  }

  /**
   * Renames the sealed file to the name of the snapshot (term, index) and
   * fsyncs the directory: resolves once it is durable under that name.
   * Returns the file name.
   */
  async install(term: number, index: number): Promise<string> {
    if (this.#state !== "sealed") {
      throw new SnapshotCorruptError(this.#temp, "installed before its seal");
    }
    const name = snapshotFileName(term, index);
    this.#state = "closed";
    await this.#fs.rename(this.#temp, joinPath(this.#dir, name));
    await this.#fs.syncDir(this.#dir);
    return name;
  }

  /** Closes and removes the temporary file (a no-op once installed). */
  async discard(): Promise<void> {
    if (this.#state === "closed") return;
    if (this.#state === "writing") this.#file.close();
    this.#state = "closed";
    await this.#fs.remove(this.#temp).catch(() => {});
  }
}

/** The snapshot files of one directory; see the module doc. */
export class SnapshotFiles {
  readonly #fs: Fs;
  readonly #dir: string;
  readonly #logger: WalLogger | undefined;
  /** Numbers the temporary files of snapshots being received. */
  #incoming = 0;

  private constructor(fs: Fs, dir: string, logger?: WalLogger) {
    this.#fs = fs;
    this.#dir = dir;
    this.#logger = logger;
  }

  /** Opens `dir` (creating it), deleting temporaries left by a crash. */
  static async open(
    fs: Fs,
    dir: string,
    opts: { logger?: WalLogger } = {},
  ): Promise<SnapshotFiles> {
    if (!(await fs.stat(dir))) {
      await fs.mkdir(dir);
      await fs.syncDir(dirName(dir));
    }
    const temps = (await fs.readDir(dir)).filter((n) =>
      n.endsWith(TEMP_SUFFIX)
    );
    for (const n of temps) await fs.remove(joinPath(dir, n));
    if (temps.length > 0) await fs.syncDir(dir);
    return new SnapshotFiles(fs, dir, opts.logger);
  }

  /** The path of a file in this directory. */
  path(name: string): string {
    return joinPath(this.#dir, name);
  }

  /**
   * Writes the snapshot (term, index) durably: resolves once the file is
   * complete under its final name and the directory entry is synced.
   * `data` may come in parts, which the file holds joined in order; each
   * part is written where it belongs as the iterable hands it out (it may
   * make them lazily: one part is in memory at a time, and the event loop
   * runs between parts), never copied into one buffer. The length and the
   * checksum are computed on the way, the file is synced every 4 MiB (so
   * it never holds much dirty data), and the header is written last, before
   * the final fsync. Returns the file name.
   */
  async save(
    term: number,
    index: number,
    data: Uint8Array | Iterable<Uint8Array>,
  ): Promise<string> {
    const name = snapshotFileName(term, index);
    const temp = this.path(name + TEMP_SUFFIX);
    const parts = data instanceof Uint8Array ? [data] : data;
    const file = await this.#fs.open(temp, { write: true, create: true });
    try {
      await file.truncate(0);
      let at = HEADER_BYTES;
      let crc = 0;
      let unsynced = 0;
      for (const part of parts) {
        // A large part (a received snapshot's whole data) goes in pieces,
        // so no one step checksums or writes more than a piece.
        for (let from = 0; from < part.length; from += WRITE_PIECE_BYTES) {
          const piece = part.subarray(from, from + WRITE_PIECE_BYTES);
          crc = crc32(piece, crc);
          await file.write(piece, at);
          at += piece.length;
          unsynced += piece.length;
          if (unsynced >= SYNC_EVERY_BYTES) {
            await file.syncData();
            unsynced = 0;
          }
        }
      }
      await file.write(headerOf(at - HEADER_BYTES, crc), 0);
      await file.sync();
    } finally {
      file.close();
    }
    await this.#fs.rename(temp, this.path(name));
    await this.#fs.syncDir(this.#dir);
    return name;
  }

  /**
   * Starts a snapshot file received in pieces ({@linkcode IncomingSnapshotFile})
   * under a new temporary name.
   */
  async createIncoming(): Promise<IncomingSnapshotFile> {
    const temp = this.path(`incoming-${++this.#incoming}.snap${TEMP_SUFFIX}`);
    const file = await this.#fs.open(temp, { write: true, create: true });
    try {
      await file.truncate(0);
    } catch (e) {
      file.close();
      throw e;
    }
    return new IncomingSnapshotFile(this.#fs, this.#dir, temp, file);
  }

  /** The snapshot files, newest (highest index, then term) first. */
  async list(): Promise<SnapshotFileInfo[]> {
    const infos: SnapshotFileInfo[] = [];
    for (const n of await this.#fs.readDir(this.#dir)) {
      const info = parseSnapshotFileName(n);
      if (info) infos.push(info);
    }
    return infos.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /**
   * Loads the newest valid snapshot among those `accept` allows. A file that
   * fails validation is renamed to `<name>.broken` (with a warning) and the
   * next older one is tried. `undefined` when none is left.
   */
  async loadNewest(
    accept: (info: SnapshotFileInfo) => boolean = () => true,
  ): Promise<LoadedSnapshotFile | undefined> {
    for (const info of await this.list()) {
      if (!accept(info)) continue;
      const path = this.path(info.name);
      try {
        return {
          ...info,
          data: decodeSnapshotFile(path, await this.#fs.readFile(path)),
        };
      } catch (err) {
        if (!(err instanceof SnapshotCorruptError)) throw err;
        this.#logger?.warn(
          "snapshot: file is damaged; setting it aside and trying an older one",
          {
            file: path,
            error: err.message,
          },
        );
        await this.#fs.rename(path, path + BROKEN_SUFFIX);
        await this.#fs.syncDir(this.#dir);
      }
    }
    return undefined;
  }

  /**
   * Opens the snapshot file `name` for reading in pieces
   * ({@linkcode SnapshotFileReader}); `undefined` when there is no such file.
   * Throws {@linkcode SnapshotCorruptError} when its header is damaged.
   */
  async openReader(name: string): Promise<SnapshotFileReader | undefined> {
    const path = this.path(name);
    if (!(await this.#fs.stat(path))) return undefined;
    return await SnapshotFileReader.open(this.#fs, path);
  }

  /** Deletes `name`. */
  async remove(name: string): Promise<void> {
    await this.#fs.remove(this.path(name));
    await this.#fs.syncDir(this.#dir);
  }

  /** Deletes all but the newest `keep` (default 2) snapshot files; resolves to how many went. */
  async prune(keep = 2): Promise<number> {
    const old = (await this.list()).slice(Math.max(keep, 0));
    for (const info of old) await this.#fs.remove(this.path(info.name));
    if (old.length > 0) await this.#fs.syncDir(this.#dir);
    return old.length;
  }
}
