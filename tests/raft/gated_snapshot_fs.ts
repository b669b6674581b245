/**
 * In-memory files whose snapshot files (`.snap`) stall at a gate until the
 * test releases it: either every write after the file's first one (the
 * snapshot is held before any of the state is written), or every sync.
 */

import type { FsFile, OpenOptions } from "../../wal/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";

/** What of a snapshot file waits on the gate. */
export type GatedStep = "writes after the first" | "syncs";

/** A MemFs whose snapshot files stall at `step` until released. */
export class GatedSnapshotFs extends MemFs {
  /** Set once a snapshot file's write or sync waits on the gate. */
  waiting = false;
  readonly #gate = Promise.withResolvers<void>();
  readonly #step: GatedStep;

  constructor(step: GatedStep) {
    super();
    this.#step = step;
  }

  /** Lets the waiting (and every later) write or sync through. */
  release(): void {
    this.#gate.resolve();
  }

  /** Waits on the gate, marking the file system as waiting. */
  async #hold(): Promise<void> {
    this.waiting = true;
    await this.#gate.promise;
  }

  override async open(path: string, options?: OpenOptions): Promise<FsFile> {
    const f = await super.open(path, options);
    if (!path.includes(".snap")) return f;
    if (this.#step === "syncs") {
      const gated = (sync: () => Promise<void>) => async () => {
        await this.#hold();
        return sync();
      };
      f.sync = gated(f.sync.bind(f));
      f.syncData = gated(f.syncData.bind(f));
    } else {
      const write = f.write.bind(f);
      let writes = 0;
      f.write = async (data, position) => {
        if (++writes > 1) await this.#hold();
        return write(data, position);
      };
    }
    return f;
  }
}
