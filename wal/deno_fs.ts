/**
 * The real filesystem: {@linkcode Fs} over Deno's file API. Data syncs map to
 * fdatasync/fsync; a directory is synced by opening it and calling fsync on
 * the handle (Linux and macOS allow that).
 *
 * @module
 */

import type { FileStat, Fs, FsFile, OpenOptions } from "./fs.ts";

class DenoFsFile implements FsFile {
  readonly #file: Deno.FsFile;
  /** Where the OS cursor is, so sequential writes need no seek. */
  #pos = 0;

  constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  async #seek(position: number): Promise<void> {
    if (position !== this.#pos) {
      await this.#file.seek(position, Deno.SeekMode.Start);
      this.#pos = position;
    }
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    await this.#seek(position);
    const n = await this.#file.read(buf);
    if (n === null) return 0;
    this.#pos += n;
    return n;
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    await this.#seek(position);
    let off = 0;
    try {
      while (off < data.length) {
        off += await this.#file.write(off === 0 ? data : data.subarray(off));
      }
    } finally {
      // After a failed or partial write the OS cursor is unknown: seek next time.
      this.#pos = off === data.length ? position + off : -1;
    }
  }

  async truncate(size: number): Promise<void> {
    await this.#file.truncate(size);
  }

  async syncData(): Promise<void> {
    await this.#file.syncData();
  }

  async sync(): Promise<void> {
    await this.#file.sync();
  }

  async size(): Promise<number> {
    return (await this.#file.stat()).size;
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * {@linkcode Fs} backed by the real disk through Deno's API. Errors are
 * Deno's own (`Deno.errors.*`, with the OS message such as "No space left on
 * device").
 */
export class DenoFs implements Fs {
  async open(path: string, options: OpenOptions = {}): Promise<FsFile> {
    const file = await Deno.open(path, {
      read: true,
      write: options.write ?? false,
      create: options.create ?? false,
      createNew: options.createNew ?? false,
    });
    return new DenoFsFile(file);
  }

  readFile(path: string): Promise<Uint8Array> {
    return Deno.readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    return Deno.rename(from, to);
  }

  remove(path: string): Promise<void> {
    return Deno.remove(path);
  }

  async readDir(path: string): Promise<string[]> {
    const names: string[] = [];
    for await (const e of Deno.readDir(path)) names.push(e.name);
    return names;
  }

  mkdir(path: string): Promise<void> {
    return Deno.mkdir(path, { recursive: true });
  }

  async syncDir(path: string): Promise<void> {
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  }

  async stat(path: string): Promise<FileStat | undefined> {
    try {
      const s = await Deno.stat(path);
      return { size: s.size, isFile: s.isFile, isDirectory: s.isDirectory };
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  }
}
