/**
 * `DiskStorage.openSnapshotStream`: the newest snapshot read from its file in
 * pieces is exactly its encoding; while a stream is open its file survives
 * the retention of newer snapshots, and the first snapshot after the close
 * removes it; a gone file is reported.
 */

import assert from "node:assert/strict";
import { DiskStorage, SnapshotGoneError } from "../../raft/disk_storage.ts";
import { encodeSnapshot } from "../../raft/codec.ts";
import type { Snapshot } from "../../raft/core/types.ts";
import { MemFs } from "../../wal/mod.ts";
import { ents } from "./storage_suite.ts";

const DIR = "/data";

function snap(index: number, bytes: number): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i + index) & 0xff;
  return {
    meta: { index, term: 1, conf: { voters: [1, 2, 3], learners: [] } },
    data,
  };
}

async function snapFiles(fs: MemFs): Promise<string[]> {
  return (await fs.readDir(`${DIR}/snap`)).filter((n) => n.endsWith(".snap"))
    .sort();
}

Deno.test("disk_storage: a snapshot stream reads the file in pieces and holds it against retention", async () => {
  const fs = new MemFs();
  const s = await DiskStorage.open(fs, DIR, {
    catchUpEntries: 0,
    keepSnapshots: 1,
    snapshotDataInMemory: false,
  });
  await s.save({ entries: ents(1, 40, 1), mustSync: true });
  const first = snap(10, 10_000);
  await s.createSnapshot(first);

  const stream = await s.openSnapshotStream();
  assert.deepEqual(stream.meta, first.meta);
  const want = encodeSnapshot(first);
  assert.equal(stream.byteLength, want.length);
  const got = new Uint8Array(stream.byteLength);
  // Half now; newer snapshots meanwhile would remove the file (keep 1).
  await stream.readNext(got.subarray(0, 5000));
  await s.createSnapshot(snap(20, 100));
  await s.createSnapshot(snap(30, 100));
  assert.equal((await snapFiles(fs)).length, 2, "the streamed file stays");
  await stream.readNext(got.subarray(5000));
  assert.deepEqual(got, want);
  stream.close();
  stream.close(); // a second close is a no-op

  await s.createSnapshot(snap(40, 100));
  assert.equal((await snapFiles(fs)).length, 1, "removed after the close");
  await s.close();
});

Deno.test("disk_storage: a snapshot stream of a gone file is refused, and unpins", async () => {
  const fs = new MemFs();
  const s = await DiskStorage.open(fs, DIR, {
    catchUpEntries: 0,
    keepSnapshots: 1,
    snapshotDataInMemory: false,
  });
  await assert.rejects(() => s.openSnapshotStream(), SnapshotGoneError);
  await s.save({ entries: ents(1, 40, 1), mustSync: true });
  await s.createSnapshot(snap(10, 1000));
  const [name] = await snapFiles(fs);
  await fs.remove(`${DIR}/snap/${name}`);
  await assert.rejects(() => s.openSnapshotStream(), SnapshotGoneError);
  await s.createSnapshot(snap(20, 100));
  assert.equal((await snapFiles(fs)).length, 1);
  await s.close();
});
