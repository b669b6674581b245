/**
 * One behaviour suite for both filesystems: what the WAL relies on must hold
 * on the real disk and in memory alike.
 */

import assert from "node:assert/strict";
import { DenoFs, type Fs, joinPath, MemFs } from "../../wal/mod.ts";

interface Target {
  fs: Fs;
  dir: string;
  cleanup(): Promise<void>;
}

const targets: [string, () => Promise<Target>][] = [
  [
    "MemFs",
    () =>
      Promise.resolve({
        fs: new MemFs(),
        dir: "/t",
        cleanup: () => Promise.resolve(),
      }),
  ],
  ["DenoFs", async () => {
    const dir = await Deno.makeTempDir({ prefix: "raftkv-fs-" });
    return {
      fs: new DenoFs(),
      dir,
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  }],
];

const cases: [string, (fs: Fs, dir: string) => Promise<void>][] = [
  ["positional writes and reads; a gap reads as zeros", async (fs, dir) => {
    const p = joinPath(dir, "a");
    const f = await fs.open(p, { write: true, create: true });
    await f.write(new Uint8Array([1, 2, 3]), 0);
    await f.write(new Uint8Array([9]), 5);
    await f.write(new Uint8Array([7]), 1);
    await f.syncData();
    assert.equal(await f.size(), 6);
    const buf = new Uint8Array(10);
    assert.equal(await f.read(buf, 0), 6);
    assert.deepEqual([...buf.subarray(0, 6)], [1, 7, 3, 0, 0, 9]);
    assert.equal(await f.read(buf, 6), 0);
    f.close();
    assert.deepEqual([...await fs.readFile(p)], [1, 7, 3, 0, 0, 9]);
  }],
  ["truncate cuts and extends with zeros", async (fs, dir) => {
    const p = joinPath(dir, "t");
    const f = await fs.open(p, { write: true, create: true });
    await f.write(new Uint8Array([5, 5, 5, 5]), 0);
    await f.truncate(2);
    await f.truncate(4);
    await f.sync();
    f.close();
    assert.deepEqual([...await fs.readFile(p)], [5, 5, 0, 0]);
  }],
  [
    "createNew fails on an existing file; open without create fails on a missing one",
    async (fs, dir) => {
      const p = joinPath(dir, "n");
      (await fs.open(p, { write: true, createNew: true })).close();
      await assert.rejects(() => fs.open(p, { write: true, createNew: true }));
      await assert.rejects(() => fs.open(joinPath(dir, "missing")));
    },
  ],
  [
    "rename replaces the target; remove deletes; readDir and stat see it",
    async (fs, dir) => {
      for (const [name, byte] of [["x", 1], ["y", 2]] as const) {
        const f = await fs.open(joinPath(dir, name), {
          write: true,
          create: true,
        });
        await f.write(new Uint8Array([byte]), 0);
        await f.sync();
        f.close();
      }
      await fs.rename(joinPath(dir, "x"), joinPath(dir, "y"));
      await fs.syncDir(dir);
      assert.deepEqual((await fs.readDir(dir)).sort(), ["y"]);
      assert.deepEqual([...await fs.readFile(joinPath(dir, "y"))], [1]);
      assert.deepEqual(await fs.stat(joinPath(dir, "y")), {
        size: 1,
        isFile: true,
        isDirectory: false,
      });
      await fs.remove(joinPath(dir, "y"));
      assert.equal(await fs.stat(joinPath(dir, "y")), undefined);
      assert.deepEqual(await fs.readDir(dir), []);
    },
  ],
  ["mkdir makes parents and accepts an existing directory", async (fs, dir) => {
    const sub = joinPath(dir, "a", "b");
    await fs.mkdir(sub);
    await fs.mkdir(sub);
    assert.equal((await fs.stat(sub))?.isDirectory, true);
    assert.ok((await fs.readDir(joinPath(dir, "a"))).includes("b"));
    await fs.syncDir(sub);
  }],
];

for (const [label, make] of targets) {
  for (const [name, run] of cases) {
    Deno.test(`fs conformance: ${name} [${label}]`, async () => {
      const t = await make();
      try {
        await t.fs.mkdir(t.dir);
        await run(t.fs, t.dir);
      } finally {
        await t.cleanup();
      }
    });
  }
}
