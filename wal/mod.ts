/**
 * Durable storage: a segmented, checksummed write-ahead log of
 * `(kind, bytes)` records, checksummed snapshot files, and the filesystem
 * port both run on (the real disk, or an in-memory one that can crash).
 * Knows bytes, records and files; no Raft rules. See docs/WAL.md.
 *
 * @example
 * ```ts
 * import { MemFs, RecordKind, Wal } from "./mod.ts";
 * const fs = new MemFs();
 * const header = [{ kind: RecordKind.metadata, data: new Uint8Array([1]) }];
 * const { wal } = await Wal.open(fs, "/data/wal", {
 *   segmentStart: () => ({ firstIndex: 1, header }),
 * });
 * await wal.append([{ kind: RecordKind.entries, data: new Uint8Array([2]) }]);
 * await wal.close();
 * ```
 *
 * @module
 */

export type { FileStat, Fs, FsFile, OpenOptions } from "./fs.ts";
export { dirName, joinPath } from "./fs.ts";
export { concatBytes } from "./bytes.ts";
export { DenoFs } from "./deno_fs.ts";
export { HALTED, MemFs, SECTOR_BYTES } from "./mem_fs.ts";
export type { CrashOptions, CrashRng, Fault, FaultOp } from "./mem_fs.ts";
export {
  FsIoError,
  SnapshotCorruptError,
  WalClosedError,
  WalCorruptError,
  WalError,
  WalFailedError,
} from "./errors.ts";
export { decodeFrames, encodeFrame, RecordKind } from "./record.ts";
export type { DecodeResult, TailState, WalRecord } from "./record.ts";
export { parseSegmentName, segmentName } from "./segment.ts";
export type { SegmentName } from "./segment.ts";
export { DEFAULT_SEGMENT_BYTES, Wal } from "./wal.ts";
export type {
  AppendOptions,
  ReplayedRecord,
  SegmentStart,
  WalLogger,
  WalOptions,
} from "./wal.ts";
export {
  BROKEN_SUFFIX,
  IncomingSnapshotFile,
  snapshotFileName,
  SnapshotFiles,
} from "./snapshot_file.ts";
export type {
  LoadedSnapshotFile,
  SnapshotFileInfo,
  SnapshotFileReader,
} from "./snapshot_file.ts";
