/**
 * One process per data directory: two raftkv processes writing the same WAL
 * would interleave records and corrupt it. The first takes an exclusive
 * advisory lock on `LOCK` in the directory (flock; the kernel releases it
 * when the process dies, also on `kill -9`, so there is no stale lock to
 * clean up); a second one is refused at start-up.
 *
 * @module
 */

import { RaftKvError } from "./core/mod.ts";

/** The lock file's name inside the data directory. */
export const LOCK_FILE = "LOCK";

/** Another process holds the data directory. */
export class DataDirLockedError extends RaftKvError {
  constructor(dir: string) {
    super(
      "data_dir_locked",
      `data directory ${dir} is in use by another raftkv process ` +
        `(${LOCK_FILE} is locked): stop it first, or use another --data-dir`,
    );
  }
}

/** A held lock; {@linkcode DataDirLock.release} gives it up. */
export class DataDirLock {
  readonly #file: Deno.FsFile;
  #released = false;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Creates `dir` if needed and locks it. Throws
   * {@linkcode DataDirLockedError} when another process (or another open
   * lock in this one) holds it.
   */
  static async acquire(dir: string): Promise<DataDirLock> {
    await Deno.mkdir(dir, { recursive: true });
    const file = await Deno.open(`${dir}/${LOCK_FILE}`, {
      read: true,
      write: true,
      create: true,
    });
    let locked = false;
    try {
      locked = await file.tryLock(true);
    } finally {
      if (!locked) file.close();
    }
    if (!locked) throw new DataDirLockedError(dir);
    // The holder's pid, for whoever finds the directory busy.
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return new DataDirLock(file);
  }

  /** Releases the lock (idempotent). The file stays: it is harmless. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#file.unlockSync();
    } finally {
      this.#file.close();
    }
  }
}
