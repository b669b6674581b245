/**
 * The amortization bound of the snapshot schedule over a long run, counted
 * in bytes written to each node's files: with `--snapshot-log-percent P`,
 * the bytes of snapshot files stay within 100/P times the bytes written to
 * the WAL, plus the last snapshot and a few dozen bytes of framing per file
 * (docs/WAL.md "Snapshot schedule"). The state is large next to what one
 * entry adds, so snapshotting by entry count alone would break the bound
 * many times over. Real RaftNodes and KvStores, in-memory files, an
 * in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand } from "../../kv/mod.ts";
import { seededRng } from "../../raft/mod.ts";
import type { FsFile, OpenOptions } from "../../wal/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { MemCluster } from "./mem_cluster.ts";

/** Bytes of framing a snapshot file has besides the state's bytes. */
const FILE_FRAMING_BYTES = 128;

/** A MemFs that counts the bytes written to WAL and to snapshot files. */
class ByteCountingFs extends MemFs {
  walBytes = 0;
  snapBytes = 0;
  snapFiles = 0;
  /** Bytes of the newest snapshot file. */
  lastSnapBytes = 0;

  override async open(path: string, options?: OpenOptions): Promise<FsFile> {
    const f = await super.open(path, options);
    const isSnap = path.includes("/snap/");
    const isWal = path.includes("/wal/");
    if (isSnap && options?.create) {
      this.snapFiles++;
      this.lastSnapBytes = 0;
    }
    const write = f.write.bind(f);
    f.write = (data, position) => {
      if (isSnap) {
        this.snapBytes += data.length;
        this.lastSnapBytes += data.length;
      } else if (isWal) this.walBytes += data.length;
      return write(data, position);
    };
    return f;
  }
}

Deno.test("snapshot bytes stay within the stated factor of the WAL bytes over a long run", async () => {
  const percent = 100;
  const c = await MemCluster.start({
    fs: () => new ByteCountingFs(),
    storage: { snapshotDataInMemory: false, preallocate: false },
    node: { snapshotEntries: 1, snapshotLogPercent: percent },
  });
  const { fs, until } = c;
  try {
    const leader = await c.leader();
    const value = new Uint8Array(64).fill(7);
    const rng = seededRng(5);
    for (let batch = 0; batch < 40; batch++) {
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 25; i++) {
        // 300 keys: first created, then overwritten at random.
        const n = batch < 12 ? batch * 25 + i : rng.intn(300);
        writes.push(
          leader.propose(encodeCommand({ op: "put", key: `key${n}`, value })),
        );
      }
      let done = false;
      Promise.all(writes).then(() => done = true);
      await until(() => done, `batch ${batch}`);
    }
    for (const [id, f] of fs) {
      assert.ok(f.snapFiles >= 3, `node ${id} took ${f.snapFiles} snapshots`);
      const bound = (100 / percent) * f.walBytes + f.lastSnapBytes +
        f.snapFiles * FILE_FRAMING_BYTES;
      assert.ok(
        f.snapBytes <= bound,
        `node ${id}: ${f.snapBytes} snapshot bytes > ${bound} (WAL ${f.walBytes}, ${f.snapFiles} files)`,
      );
    }
  } finally {
    await c.close();
  }
});
