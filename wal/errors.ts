/**
 * Typed errors of the storage layer. Each carries a stable `code` so the
 * runtime can map it without parsing messages. None of them is retryable:
 * corruption and I/O failures stop the node (fail-stop), they are never
 * skipped or papered over.
 *
 * @module
 */

/** The root of the WAL's typed errors; `code` is stable and machine-readable. */
export class WalError extends Error {
  /** A stable snake_case identifier of the error kind. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Stored bytes are damaged somewhere a crash cannot explain (a checksum
 * mismatch before the torn tail, a gap, a bad record). Start-up stops and
 * nothing on disk was modified. Names the file and byte offset.
 */
export class WalCorruptError extends WalError {
  /** The file holding the damage, as passed to the filesystem. */
  readonly file: string;
  /** The byte offset in `file` where the damage starts. */
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super("wal_corrupt", `${file} at offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
  }
}

/**
 * A write, fsync or file operation failed. The WAL is poisoned: this call
 * and every later one throw, nothing more is acknowledged, and fsync is never
 * retried (after a failed fsync the kernel may have dropped the dirty pages,
 * so a later "successful" fsync proves nothing).
 */
export class WalFailedError extends WalError {
  constructor(operation: string, cause: unknown) {
    super(
      "wal_failed",
      `storage failed during ${operation}: ${
        describe(cause)
      }; refusing further writes`,
      { cause },
    );
  }
}

/** The WAL or storage was closed; no further calls are accepted. */
export class WalClosedError extends WalError {
  constructor() {
    super("wal_closed", "the write-ahead log is closed");
  }
}

/** A snapshot file failed validation (bad magic, length or checksum). */
export class SnapshotCorruptError extends WalError {
  /** The damaged file. */
  readonly file: string;
  constructor(file: string, reason: string) {
    super("snapshot_corrupt", `${file}: ${reason}`);
    this.file = file;
  }
}

/**
 * An I/O error raised by a filesystem implementation (the in-memory one
 * raises these on injected faults). `errno` is the POSIX name.
 */
export class FsIoError extends WalError {
  /** The POSIX error name, e.g. `EIO` or `ENOSPC`. */
  readonly errno: string;
  constructor(errno: string, operation: string, path: string) {
    super("fs_io", `${errno}: ${operation} ${path}`);
    this.errno = errno;
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
