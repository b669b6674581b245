import assert from "node:assert/strict";
import { FsIoError, MemFs } from "../../wal/mod.ts";
import { seeds, testRng, withSeed } from "./helpers.ts";

async function fileWith(
  fs: MemFs,
  path: string,
  bytes: number[],
  sync: boolean,
) {
  const f = await fs.open(path, { write: true, create: true });
  await f.write(new Uint8Array(bytes), 0);
  if (sync) await f.sync();
  return f;
}

Deno.test("mem_fs: synced data and synced directory entries survive any crash", async () => {
  for (const seed of seeds(1, 50)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      await fs.mkdir("/d");
      (await fileWith(fs, "/d/a", [1, 2, 3], true)).close();
      await fs.syncDir("/d");
      fs.crash(rng);
      assert.deepEqual([...await fs.readFile("/d/a")], [1, 2, 3]);
    });
  }
});

Deno.test("mem_fs: an unsynced append lands whole, not at all, torn at a sector, or zero-filled", async () => {
  const data = Array.from({ length: 1500 }, (_, i) => (i % 250) + 1);
  const outcomes = new Set<string>();
  for (const seed of seeds(1, 200)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      await fs.mkdir("/d");
      const f = await fileWith(fs, "/d/a", [9, 9, 9, 9], true);
      await fs.syncDir("/d");
      await f.write(new Uint8Array(data), 4);
      fs.crash(rng);
      const got = await fs.readFile("/d/a");
      assert.deepEqual(
        [...got.subarray(0, 4)],
        [9, 9, 9, 9],
        "synced prefix kept",
      );
      const tail = got.subarray(4);
      // Written bytes form a prefix of the write ending on a sector boundary
      // of the file (or the whole write); anything after them is zeros.
      let n = 0;
      while (n < tail.length && tail[n] === data[n]) n++;
      assert.ok(
        n === 0 || n === data.length || (n + 4) % 512 === 0,
        `torn at ${n + 4}`,
      );
      assert.ok(tail.subarray(n).every((b) => b === 0), "rest is zeros");
      assert.ok(
        tail.length === n || tail.length === data.length,
        `size ${tail.length}`,
      );
      outcomes.add(
        n === data.length
          ? "whole"
          : n === 0
          ? (tail.length ? "zeros" : "lost")
          : "torn",
      );
    });
  }
  assert.deepEqual([...outcomes].sort(), ["lost", "torn", "whole", "zeros"]);
});

Deno.test("mem_fs: a new name is durable only after syncDir; a rename is atomic", async () => {
  const seen = new Set<string>();
  for (const seed of seeds(1, 60)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      await fs.mkdir("/d");
      (await fileWith(fs, "/d/old", [1], true)).close();
      await fs.syncDir("/d");
      (await fileWith(fs, "/d/tmp", [2], true)).close();
      await fs.rename("/d/tmp", "/d/new");
      await fs.remove("/d/old");
      fs.crash(rng);
      const names = (await fs.readDir("/d")).sort().join(",");
      // The changes land as a prefix, each one whole.
      assert.ok(["old", "old,tmp", "new,old", "new"].includes(names), names);
      seen.add(names);
    });
  }
  assert.equal(seen.size, 4);
  const fs = new MemFs();
  await fs.mkdir("/d");
  (await fileWith(fs, "/d/f", [1], true)).close();
  await fs.syncDir("/d");
  fs.crash(testRng(1));
  assert.deepEqual(await fs.readDir("/d"), ["f"]);
});

Deno.test("mem_fs: the same seed gives the same crash", async () => {
  const run = async () => {
    const fs = new MemFs();
    await fs.mkdir("/d");
    const f = await fileWith(fs, "/d/a", [], true);
    await fs.syncDir("/d");
    for (let i = 0; i < 20; i++) {
      await f.write(new Uint8Array(700).fill(i + 1), i * 700);
    }
    fs.crash(testRng(42));
    return await fs.readFile("/d/a");
  };
  assert.deepEqual(await run(), await run());
});

Deno.test("mem_fs: injected write and sync errors; a failed sync loses the data for good", async () => {
  const fs = new MemFs();
  await fs.mkdir("/d");
  const f = await fileWith(fs, "/d/a", [1], true);
  await fs.syncDir("/d");
  fs.injectFault({ op: "write", errno: "ENOSPC" });
  await assert.rejects(
    () => f.write(new Uint8Array([2]), 1),
    (e) => e instanceof FsIoError && e.errno === "ENOSPC",
  );
  assert.deepEqual(
    [...await fs.readFile("/d/a")],
    [1],
    "a refused write changes nothing",
  );
  await f.write(new Uint8Array([3]), 1);
  fs.injectFault({ op: "sync", errno: "EIO" });
  await assert.rejects(
    () => f.syncData(),
    (e) => e instanceof FsIoError && e.errno === "EIO",
  );
  assert.deepEqual(
    [...await fs.readFile("/d/a")],
    [1, 3],
    "still readable from the cache",
  );
  await f.syncData(); // "succeeds", as Linux's would: the lost pages are not retried
  fs.crash(testRng(7));
  assert.deepEqual([...await fs.readFile("/d/a")], [1]);
});

Deno.test("mem_fs: faults can skip matches, repeat, and filter by path", async () => {
  const fs = new MemFs();
  await fs.mkdir("/d");
  const a = await fileWith(fs, "/d/a", [], true);
  const b = await fileWith(fs, "/d/b", [], true);
  fs.injectFault({ op: "mutation", pathIncludes: "/d/b", after: 1, times: 2 });
  await a.write(new Uint8Array([1]), 0);
  await b.write(new Uint8Array([1]), 0);
  await assert.rejects(() => b.write(new Uint8Array([1]), 1), FsIoError);
  await assert.rejects(() => b.sync(), FsIoError);
  await b.sync();
});

Deno.test("mem_fs: haltAt refuses every change from then on and keeps pending writes pending", async () => {
  const fs = new MemFs();
  await fs.mkdir("/d");
  const f = await fileWith(fs, "/d/a", [1], true);
  await fs.syncDir("/d");
  await f.write(new Uint8Array(600).fill(5), 1);
  fs.haltAt(fs.mutations);
  await assert.rejects(
    () => f.sync(),
    (e) => e instanceof FsIoError && e.errno === "EHALT",
  );
  await assert.rejects(() => fs.remove("/d/a"), FsIoError);
  const outcomes = new Set<number>();
  for (const seed of seeds(1, 40)) {
    const copy = new MemFs();
    await copy.mkdir("/d");
    const g = await fileWith(copy, "/d/a", [1], true);
    await copy.syncDir("/d");
    await g.write(new Uint8Array(600).fill(5), 1);
    copy.haltAt(copy.mutations);
    await assert.rejects(() => g.sync());
    copy.crash(testRng(seed));
    outcomes.add((await copy.readFile("/d/a")).length);
  }
  assert.ok(outcomes.size > 1, "the write stayed pending, so crashes differ");
});

Deno.test("mem_fs: handles opened before a crash are dead", async () => {
  const fs = new MemFs();
  await fs.mkdir("/d");
  const f = await fileWith(fs, "/d/a", [1], true);
  await fs.syncDir("/d");
  fs.crash(testRng(1));
  await assert.rejects(() => f.write(new Uint8Array([2]), 0), FsIoError);
  const g = await fs.open("/d/a", { write: true });
  await g.write(new Uint8Array([2]), 1);
  assert.deepEqual([...await fs.readFile("/d/a")], [1, 2]);
});

Deno.test("mem_fs: with directoryChanges any, a crash may keep a later unsynced directory change without an earlier one", async () => {
  const kept = new Set<string>();
  for (const seed of seeds(1, 50)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      await fs.mkdir("/d");
      for (const name of ["a", "b", "c"]) {
        (await fileWith(fs, `/d/${name}`, [1], true)).close();
      }
      await fs.syncDir("/d");
      for (const name of ["a", "b", "c"]) await fs.remove(`/d/${name}`);
      fs.crash(rng, { directoryChanges: "any" });
      kept.add((await fs.readDir("/d")).sort().join(""));
    });
  }
  // Every subset of the three removes, among them out-of-order ones ("a"
  // and "c" deleted, "b" not), and never a file that was not there.
  assert.deepEqual(
    [...kept].sort(),
    ["", "a", "ab", "abc", "ac", "b", "bc", "c"],
  );
});
