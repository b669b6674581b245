/**
 * The write-ahead log: a directory of segment files holding frames of
 * `(kind, bytes)` records. It knows bytes and files, not Raft.
 *
 * Promises:
 * - `append(records, {sync: true})` resolves only after one write and one
 *   fdatasync of one frame holding all the records (and any records buffered
 *   by earlier unsynced appends); a crash keeps a prefix of whole frames.
 * - `open` replays every segment in order. A torn tail of the last segment
 *   is cut off with a warning, after its bytes (less trailing zeros) were
 *   saved to a side file `<segment>.tail-<offset>.broken`; damage anywhere
 *   else throws {@linkcode WalCorruptError} naming file and offset, before
 *   anything on disk is modified.
 * - The first write or fsync error poisons the WAL: that call and every later
 *   one throw {@linkcode WalFailedError}; nothing is retried.
 *
 * @module
 */

import { WalClosedError, WalCorruptError, WalFailedError } from "./errors.ts";
import { dirName, type Fs, type FsFile, joinPath } from "./fs.ts";
import {
  decodeFrames,
  encodeFrame,
  frameBytes,
  type WalRecord,
} from "./record.ts";
import {
  SEGMENT_SUFFIX,
  type SegmentName,
  segmentName,
  sortSegments,
  TEMP_SUFFIX,
  tornTailName,
} from "./segment.ts";

/** The logging the WAL needs (structurally a subset of raft/core's Logger). */
export interface WalLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** What a new segment starts with: its label and its header records. */
export interface SegmentStart {
  /**
   * The segment's label. Contract with {@linkcode Wal.releaseBefore}: every
   * entry the owner still needs at index >= `firstIndex` must be written in
   * this segment or later ones (the Raft adapter uses last index + 1).
   */
  firstIndex: number;
  /** At least one record, written and synced before the segment is named. */
  header: WalRecord[];
}

/** Options of {@linkcode Wal.open}. */
export interface WalOptions {
  /** Start a new segment once the current one reaches this size; default 64 MiB. */
  segmentBytes?: number;
  /** Extend each new segment to `segmentBytes` up front (see docs/WAL.md); default true. */
  preallocate?: boolean;
  logger?: WalLogger;
  /** Called whenever a segment is started (also the very first one). */
  segmentStart: () => SegmentStart;
}

/** A record read back at open, with where it was found. */
export interface ReplayedRecord extends WalRecord {
  /** The segment file's path. */
  file: string;
  /** Byte offset of the frame holding the record. */
  offset: number;
}

/** Options of {@linkcode Wal.append}. */
export interface AppendOptions {
  /**
   * Write and fdatasync before resolving (default true). With `false` the
   * records are only buffered: they go out in the frame of the next synced
   * append (or at close), so at most one write is ever unsynced.
   */
  sync?: boolean;
}

interface Segment extends SegmentName {
  /** Bytes of frames in the file (the file may be longer when preallocated). */
  bytes: number;
}

const nopWalLogger: WalLogger = { info() {}, warn() {} };
/**
 * The WAL's own record kind, first in every segment after the first: the
 * previous segment's sequence number and length, so a segment that lost
 * whole frames at its end is caught even though it decodes cleanly.
 */
const LINK_KIND = 255;

function encodeLink(seq: number, bytes: number): Uint8Array {
  const data = new Uint8Array(16);
  const view = new DataView(data.buffer);
  view.setUint32(0, seq % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(seq / 0x1_0000_0000), true);
  view.setUint32(8, bytes % 0x1_0000_0000, true);
  view.setUint32(12, Math.floor(bytes / 0x1_0000_0000), true);
  return data;
}

function decodeLink(
  data: Uint8Array,
): { seq: number; bytes: number } | undefined {
  if (data.length !== 16) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, 16);
  return {
    seq: view.getUint32(0, true) + view.getUint32(4, true) * 0x1_0000_0000,
    bytes: view.getUint32(8, true) + view.getUint32(12, true) * 0x1_0000_0000,
  };
}

/** A last segment whose tail a crash tore, to be cut back to `validEnd`. */
interface TornTail {
  path: string;
  validEnd: number;
  size: number;
  reason: string;
  /** The bytes from `validEnd` to the end of the file. */
  bytes: Uint8Array;
}

/** The length of `bytes` without its trailing zeros. */
function withoutTrailingZeros(bytes: Uint8Array): number {
  let n = bytes.length;
  while (n > 0 && bytes[n - 1] === 0) n--;
  return n;
}

/**
 * Reads and checks every segment (see the module doc); throws
 * {@linkcode WalCorruptError} on anything but a torn tail of the last one.
 */
async function scanSegments(fs: Fs, dir: string, names: string[]) {
  const found = sortSegments(names);
  const records: ReplayedRecord[] = [];
  const segments: Segment[] = [];
  let torn: TornTail | undefined;
  for (const [i, seg] of found.entries()) {
    const path = joinPath(dir, seg.name);
    const prev = segments.at(-1);
    if (prev && seg.seq !== prev.seq + 1) {
      throw new WalCorruptError(
        path,
        0,
        `segment sequence gap after ${prev.name}`,
      );
    }
    const buf = await fs.readFile(path);
    const res = decodeFrames(buf);
    if (
      res.tail === "corrupt" || (res.tail === "torn" && i < found.length - 1)
    ) {
      throw new WalCorruptError(path, res.validEnd, res.reason);
    }
    if (res.frames.length === 0) {
      throw new WalCorruptError(
        path,
        0,
        `segment has no complete header frame (${res.reason})`,
      );
    }
    if (res.tail === "torn") {
      torn = {
        path,
        validEnd: res.validEnd,
        size: buf.length,
        reason: res.reason,
        bytes: buf.subarray(res.validEnd),
      };
    }
    const link = res.frames[0]!.records.find((r) => r.kind === LINK_KIND);
    if (prev && link) checkLink(dir, prev, seg.name, link.data);
    for (const f of res.frames) {
      for (const r of f.records) {
        if (r.kind === LINK_KIND) continue;
        records.push({
          kind: r.kind,
          data: r.data,
          file: path,
          offset: f.offset,
        });
      }
    }
    segments.push({ ...seg, bytes: res.validEnd });
  }
  return { records, segments, torn };
}

/** Throws unless the link record of `next` matches the segment before it. */
function checkLink(
  dir: string,
  prev: Segment,
  next: string,
  data: Uint8Array,
): void {
  const link = decodeLink(data);
  if (!link || link.seq !== prev.seq || link.bytes !== prev.bytes) {
    throw new WalCorruptError(
      joinPath(dir, prev.name),
      prev.bytes,
      `segment ends here, but ${next} says it was ${
        link?.bytes ?? "?"
      } bytes long`,
    );
  }
}

/**
 * Writes the torn tail to a new side file next to the segment (see
 * {@linkcode tornTailName}), synced, its directory entry synced; resolves
 * to its path. On failure (a full disk, say) it removes what it wrote and
 * throws {@linkcode WalFailedError}: the tail is not cut without a copy.
 */
async function keepTornTail(
  fs: Fs,
  torn: TornTail,
  bytes: Uint8Array,
): Promise<string> {
  const dir = dirName(torn.path);
  let path = "";
  for (let attempt = 1; !path || await fs.stat(path); attempt++) {
    path = joinPath(
      dir,
      tornTailName(baseName(torn.path), torn.validEnd, attempt),
    );
  }
  try {
    const f = await fs.open(path, { write: true, createNew: true });
    try {
      await f.write(bytes, 0);
      await f.sync();
    } finally {
      f.close();
    }
    await fs.syncDir(dir);
    return path;
  } catch (err) {
    await fs.remove(path).catch(() => {});
    throw new WalFailedError(
      `saving the torn tail of ${torn.path} (${bytes.length} bytes from offset ${torn.validEnd}) to ${path}; ` +
        "the segment was not cut",
      err,
    );
  }
}

/**
 * Cuts the torn tail off the last segment. Its bytes are first saved to a
 * side file, so a repair never throws data away; trailing zeros are not
 * copied (preallocated space, or blocks a crash zero-filled: nothing to
 * keep, and up to a whole segment long), and a tail of only zeros gets no
 * side file.
 */
async function cutTornTail(
  fs: Fs,
  torn: TornTail,
  logger: WalLogger,
): Promise<void> {
  const kept = torn.bytes.subarray(0, withoutTrailingZeros(torn.bytes));
  const sideFile = kept.length === 0
    ? undefined
    : await keepTornTail(fs, torn, kept);
  logger.warn("wal: cutting off the torn tail of the last segment", {
    file: torn.path,
    offset: torn.validEnd,
    droppedBytes: torn.size - torn.validEnd,
    keptIn: sideFile ?? "(nothing kept: only zero bytes)",
    keptBytes: kept.length,
    reason: torn.reason,
  });
  const f = await fs.open(torn.path, { write: true });
  try {
    await f.truncate(torn.validEnd);
    await f.sync();
  } finally {
    f.close();
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Default segment size, as etcd's. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Buffered unsynced records are written out once they pass this size. */
const BUFFER_FLUSH_BYTES = 64 * 1024;

/** A write-ahead log over a directory of segments; see the module doc. */
export class Wal {
  readonly #fs: Fs;
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #preallocate: boolean;
  readonly #segmentStart: () => SegmentStart;
  readonly #segments: Segment[];
  #tail: FsFile | undefined;
  #buffered: WalRecord[] = [];
  #bufferedBytes = 0;
  #failed: WalFailedError | undefined;
  #closed = false;
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(
    fs: Fs,
    dir: string,
    opts: WalOptions,
    segments: Segment[],
  ) {
    this.#fs = fs;
    this.#dir = dir;
    this.#segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#preallocate = opts.preallocate ?? true;
    this.#segmentStart = opts.segmentStart;
    this.#segments = segments;
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and replays it. Returns the
   * records of every segment in order. Throws {@linkcode WalCorruptError}
   * without modifying anything when the damage is not a torn tail of the
   * last segment. No segment is created until the first append.
   */
  static async open(
    fs: Fs,
    dir: string,
    opts: WalOptions,
  ): Promise<{ wal: Wal; records: ReplayedRecord[] }> {
    if (!(await fs.stat(dir))) {
      await fs.mkdir(dir);
      await fs.syncDir(dirName(dir));
    }
    const names = await fs.readDir(dir);
    const { records, segments, torn } = await scanSegments(fs, dir, names);
    // Everything checked: only now touch the disk.
    const temps = names.filter((n) => n.endsWith(SEGMENT_SUFFIX + TEMP_SUFFIX));
    for (const n of temps) await fs.remove(joinPath(dir, n));
    if (temps.length > 0) await fs.syncDir(dir);
    if (torn) await cutTornTail(fs, torn, opts.logger ?? nopWalLogger);
    const wal = new Wal(fs, dir, opts, segments);
    const tail = segments.at(-1);
    if (tail) {
      wal.#tail = await fs.open(joinPath(dir, tail.name), { write: true });
      await wal.#allocate(wal.#tail, tail.bytes);
    }
    return { wal, records };
  }

  /** How many segment files the WAL holds. */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Bytes of frames in all segments (excluding preallocated space). */
  get bytes(): number {
    let n = 0;
    for (const s of this.#segments) n += s.bytes;
    return n;
  }

  /** The segments' names and labels, oldest first. */
  get segments(): readonly SegmentName[] {
    return this.#segments.map(({ seq, firstIndex, name }) => ({
      seq,
      firstIndex,
      name,
    }));
  }

  /** The error that poisoned the WAL, if any. */
  get failure(): WalFailedError | undefined {
    return this.#failed;
  }

  #guard(): void {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new WalClosedError();
  }

  /** Runs `fn` after every earlier call finished, so writes never interleave. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(() => {
      this.#guard();
      return fn();
    });
    this.#chain = p.catch(() => {});
    return p;
  }

  /** Runs one filesystem step; any error poisons the WAL. */
  async #io<T>(operation: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      this.#failed ??= new WalFailedError(operation, err);
      throw this.#failed;
    }
  }

  /**
   * Appends `records` as one frame; see {@linkcode AppendOptions}. The WAL
   * keeps the `data` arrays until written: do not change them afterwards.
   * A synced append of no records flushes what earlier unsynced ones left.
   */
  append(
    records: readonly WalRecord[],
    opts: AppendOptions = {},
  ): Promise<void> {
    try {
      this.#guard();
      for (const r of records) {
        if (r.kind >= LINK_KIND) {
          throw new RangeError(`record kind ${r.kind} is reserved`);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    // Buffer at call time, so frames keep the order of the calls.
    if (records.length > 0) {
      for (const r of records) this.#buffered.push(r);
      this.#bufferedBytes += frameBytes(records);
    }
    if (opts.sync === false && this.#bufferedBytes < BUFFER_FLUSH_BYTES) {
      return Promise.resolve();
    }
    return this.#serial(() => this.#writeBuffered());
  }

  async #writeBuffered(): Promise<void> {
    if (this.#buffered.length === 0) return;
    const records = this.#buffered;
    this.#buffered = [];
    this.#bufferedBytes = 0;
    let seg = this.#segments.at(-1);
    if (!seg || seg.bytes >= this.#segmentBytes) seg = await this.#cut();
    const frame = encodeFrame(records);
    const tail = this.#tail!;
    const path = joinPath(this.#dir, seg.name);
    await this.#io(`write ${path}`, () => tail.write(frame, seg.bytes));
    await this.#io(`fdatasync ${path}`, () => tail.syncData());
    seg.bytes += frame.length;
  }

  /** Extends a fresh or reopened tail segment to its full size, if enabled. */
  async #allocate(file: FsFile, used: number): Promise<void> {
    if (!this.#preallocate || used >= this.#segmentBytes) return;
    await file.truncate(this.#segmentBytes);
    await file.sync();
  }

  /** Seals the tail (if any) and starts the next segment. */
  async #cut(): Promise<Segment> {
    const prev = this.#segments.at(-1);
    if (prev && this.#tail) {
      const path = joinPath(this.#dir, prev.name);
      const tail = this.#tail;
      if (this.#preallocate) {
        await this.#io(`truncate ${path}`, () => tail.truncate(prev.bytes));
        await this.#io(`fsync ${path}`, () => tail.sync());
      }
      tail.close();
      this.#tail = undefined;
    }
    const start = this.#segmentStart();
    if (start.header.length === 0) {
      throw new RangeError("a segment header needs a record");
    }
    const seq = prev ? prev.seq + 1 : 0;
    const name = segmentName(seq, start.firstIndex);
    const path = joinPath(this.#dir, name);
    const temp = path + TEMP_SUFFIX;
    const link = prev
      ? [{ kind: LINK_KIND, data: encodeLink(prev.seq, prev.bytes) }]
      : [];
    const frame = encodeFrame([...link, ...start.header]);
    const file = await this.#io(`create ${temp}`, async () => {
      if (await this.#fs.stat(temp)) await this.#fs.remove(temp);
      return this.#fs.open(temp, { write: true, createNew: true });
    });
    this.#tail = file;
    await this.#io(`write ${temp}`, async () => {
      await file.write(frame, 0);
      if (this.#preallocate && frame.length < this.#segmentBytes) {
        await file.truncate(this.#segmentBytes);
      }
      await file.sync();
    });
    await this.#io(`rename ${temp}`, () => this.#fs.rename(temp, path));
    await this.#io(
      `fsync directory ${this.#dir}`,
      () => this.#fs.syncDir(this.#dir),
    );
    const seg: Segment = {
      seq,
      firstIndex: start.firstIndex,
      name,
      bytes: frame.length,
    };
    this.#segments.push(seg);
    return seg;
  }

  /**
   * Deletes the oldest segments that hold only entries below `index`: every
   * segment before the newest one whose label is <= `index` (never the
   * current one). Resolves to how many were deleted.
   *
   * Oldest first, with a directory fsync after each delete: a crash leaves
   * the segments on disk a contiguous run whatever the file system kept of
   * unsynced deletes (POSIX promises no order among them, so with one fsync
   * at the end a disk could keep the delete of segment 1 and lose that of
   * segment 0, and `open` would refuse the "segment sequence gap"). The
   * alternative, an `open` that tolerates a gap before the first segment
   * still needed, would need to know which entries are needed (Raft's
   * snapshot index, not the WAL's business) and would let a real loss of
   * segments through; retention deletes few segments at a time, so one
   * fsync each costs little.
   */
  releaseBefore(index: number): Promise<number> {
    return this.#serial(async () => {
      let keepFrom = 0;
      for (let i = 1; i < this.#segments.length; i++) {
        if (this.#segments[i]!.firstIndex <= index) keepFrom = i;
      }
      for (let i = 0; i < keepFrom; i++) {
        const path = joinPath(this.#dir, this.#segments[0]!.name);
        await this.#io(`remove ${path}`, () => this.#fs.remove(path));
        this.#segments.shift();
        await this.#io(
          `fsync directory ${this.#dir}`,
          () => this.#fs.syncDir(this.#dir),
        );
      }
      return keepFrom;
    });
  }

  /**
   * Writes out buffered records (synced), trims preallocated space and
   * releases the files. Later calls throw {@linkcode WalClosedError}; on a
   * poisoned WAL it releases the files and throws the failure.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const p = this.#chain.then(async () => {
      try {
        if (this.#failed) throw this.#failed;
        await this.#writeBuffered();
        const seg = this.#segments.at(-1);
        const tail = this.#tail;
        if (seg && tail && this.#preallocate) {
          const path = joinPath(this.#dir, seg.name);
          await this.#io(`truncate ${path}`, () => tail.truncate(seg.bytes));
          await this.#io(`fsync ${path}`, () => tail.sync());
        }
      } finally {
        this.#closed = true;
        this.#tail?.close();
        this.#tail = undefined;
      }
    });
    this.#chain = p.catch(() => {});
    return p;
  }
}
