import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  BROKEN_SUFFIX,
  type FsFile,
  FsIoError,
  MemFs,
  type OpenOptions,
  SnapshotCorruptError,
  SnapshotFiles,
} from "../../wal/mod.ts";
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  snapshotFileHeader,
  snapshotFileName,
} from "../../wal/snapshot_file.ts";
import { captureLogger, seeds, withSeed } from "./helpers.ts";

const DIR = "/data/snap";

function bytes(...b: number[]): Uint8Array {
  return new Uint8Array(b);
}

Deno.test("snapshot_file: saved files load back, newest first, named by term and index", async () => {
  const fs = new MemFs();
  const snaps = await SnapshotFiles.open(fs, DIR);
  await snaps.save(1, 10, bytes(1));
  await snaps.save(2, 30, bytes(3));
  await snaps.save(2, 20, bytes(2));
  assert.deepEqual((await snaps.list()).map((f) => f.name), [
    snapshotFileName(2, 30),
    snapshotFileName(2, 20),
    snapshotFileName(1, 10),
  ]);
  assert.equal(
    snapshotFileName(2, 30),
    "0000000000000002-000000000000001e.snap",
  );
  const newest = await snaps.loadNewest();
  assert.deepEqual({ ...newest, data: [...newest!.data] }, {
    term: 2,
    index: 30,
    name: snapshotFileName(2, 30),
    data: [3],
  });
  const filtered = await snaps.loadNewest((f) => f.index < 25);
  assert.equal(filtered?.index, 20);
  assert.equal(await snaps.loadNewest(() => false), undefined);
});

Deno.test("snapshot_file: a damaged newest file is set aside as .broken and the previous one is used", async () => {
  for (const damage of ["flip", "truncate", "empty"] as const) {
    const fs = new MemFs();
    const log = captureLogger();
    const snaps = await SnapshotFiles.open(fs, DIR, { logger: log });
    await snaps.save(1, 10, bytes(1, 1));
    const name = await snaps.save(1, 20, bytes(2, 2, 2));
    const path = snaps.path(name);
    const good = await fs.readFile(path);
    const bad = damage === "flip"
      ? good.slice()
      : good.slice(0, damage === "empty" ? 0 : good.length - 1);
    if (damage === "flip") bad[bad.length - 1]! ^= 4;
    const f = await fs.open(path, { write: true });
    await f.truncate(0);
    await f.write(bad, 0);
    await f.sync();
    f.close();
    const loaded = await snaps.loadNewest();
    assert.equal(loaded?.index, 10, damage);
    assert.deepEqual([...loaded!.data], [1, 1]);
    assert.equal(await fs.stat(path), undefined);
    assert.deepEqual([...await fs.readFile(path + BROKEN_SUFFIX)], [...bad]);
    assert.ok(
      log.lines.some((l) => l.level === "warn" && l.fields?.file === path),
    );
    assert.deepEqual(
      (await snaps.list()).map((s) => s.index),
      [10],
      "a .broken file is no snapshot",
    );
  }
});

Deno.test("snapshot_file: the file layout rejects any single damaged byte", async () => {
  const file = encodeSnapshotFile(bytes(5, 6, 7, 8, 9));
  assert.deepEqual([...decodeSnapshotFile("f", file)], [5, 6, 7, 8, 9]);
  for (const seed of seeds(1, 40)) {
    await withSeed(seed, (rng) => {
      const bad = file.slice();
      const at = rng.intn(bad.length);
      bad[at] = (bad[at]! + 1 + rng.intn(255)) & 255;
      assert.throws(
        () => decodeSnapshotFile("f", bad),
        SnapshotCorruptError,
        `byte ${at}`,
      );
    });
  }
});

Deno.test("snapshot_file: prune keeps the newest N", async () => {
  const fs = new MemFs();
  const snaps = await SnapshotFiles.open(fs, DIR);
  for (let i = 1; i <= 5; i++) await snaps.save(1, i * 10, bytes(i));
  assert.equal(await snaps.prune(2), 3);
  assert.deepEqual((await snaps.list()).map((s) => s.index), [50, 40]);
  assert.equal(await snaps.prune(2), 0);
});

Deno.test("snapshot_file: a crash at any step of a save leaves the file whole or absent", async () => {
  for (const seed of seeds(1, 40)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      const snaps = await SnapshotFiles.open(fs, DIR);
      await snaps.save(1, 10, bytes(1));
      const data = new Uint8Array(3000).fill(7);
      fs.haltAt(fs.mutations + rng.intn(9));
      const saved = await snaps.save(2, 20, data).then(() => true, (e) => {
        assert.ok(e instanceof FsIoError);
        return false;
      });
      fs.crash(rng);
      const again = await SnapshotFiles.open(fs, DIR);
      const newest = await again.loadNewest();
      if (saved) assert.equal(newest?.index, 20, "a completed save is durable");
      assert.ok(newest?.index === 20 || newest?.index === 10);
      if (newest?.index === 20) assert.deepEqual(newest.data, data);
      assert.ok(
        (await fs.readDir(DIR)).every((n) => n.endsWith(".snap")),
        "no temporaries left",
      );
    });
  }
});

Deno.test("snapshot_file: a save in parts writes the same bytes as the one-buffer layout", async () => {
  const fs = new MemFs();
  const snaps = await SnapshotFiles.open(fs, DIR);
  const head = bytes(0x92, 1, 2, 3);
  const big = Uint8Array.from({ length: 70000 }, (_, i) => (i * 13) & 255);
  const joined = new Uint8Array(head.length + big.length);
  joined.set(head, 0);
  joined.set(big, head.length);
  const cases: [string, Uint8Array | Uint8Array[]][] = [
    ["one buffer", joined],
    ["two parts", [head, big]],
    ["with empty parts", [new Uint8Array(0), head, new Uint8Array(0), big]],
  ];
  const want = encodeSnapshotFile(joined);
  // The layout itself, fixed: "RKVS", length (low, high), CRC32, data.
  const view = new DataView(want.buffer, want.byteOffset);
  assert.deepEqual([...want.subarray(0, 4)], [0x52, 0x4b, 0x56, 0x53]);
  assert.equal(view.getUint32(4, true), joined.length);
  assert.equal(view.getUint32(8, true), 0);
  assert.equal(view.getUint32(12, true), crc32(joined) >>> 0);
  assert.deepEqual(want.subarray(16), joined);
  for (const [i, [label, data]] of cases.entries()) {
    const name = await snaps.save(1, 10 + i, data);
    assert.deepEqual(await fs.readFile(snaps.path(name)), want, label);
    assert.deepEqual(
      snapshotFileHeader(data instanceof Uint8Array ? [data] : data),
      want.subarray(0, 16),
      label,
    );
  }
  const loaded = await snaps.loadNewest();
  assert.deepEqual(loaded?.data, joined);
});

Deno.test("snapshot_file: a large file is synced on the way, never holding more than a few MiB unsynced", async () => {
  /** A MemFs that records the most bytes written to a file between syncs. */
  class SyncWatchFs extends MemFs {
    maxUnsynced = 0;
    syncs = 0;
    override async open(path: string, options?: OpenOptions): Promise<FsFile> {
      const f = await super.open(path, options);
      let unsynced = 0;
      const write = f.write.bind(f);
      const syncData = f.syncData.bind(f);
      const sync = f.sync.bind(f);
      f.write = (data, position) => {
        unsynced += data.length;
        this.maxUnsynced = Math.max(this.maxUnsynced, unsynced);
        return write(data, position);
      };
      const synced = (inner: () => Promise<void>) => async () => {
        await inner();
        this.syncs++;
        unsynced = 0;
      };
      f.syncData = synced(syncData);
      f.sync = synced(sync);
      return f;
    }
  }
  const fs = new SyncWatchFs();
  const snaps = await SnapshotFiles.open(fs, "/snap");
  const MiB = 1024 * 1024;
  // 20 MiB in parts of 3 MiB, one of them larger than the sync interval.
  const parts = [3, 3, 9, 3, 2].map((n, i) => new Uint8Array(n * MiB).fill(i));
  await snaps.save(1, 7, parts);
  assert.ok(fs.syncs >= 5, `${fs.syncs} syncs`);
  assert.ok(fs.maxUnsynced <= 5 * MiB, `${fs.maxUnsynced} bytes unsynced`);
  const loaded = await snaps.loadNewest();
  assert.equal(loaded?.data.length, 20 * MiB);
  assert.equal(loaded?.data[14 * MiB], 2);
});
