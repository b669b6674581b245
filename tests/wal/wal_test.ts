import assert from "node:assert/strict";
import {
  decodeFrames,
  type Fs,
  type FsFile,
  FsIoError,
  joinPath,
  MemFs,
  segmentName,
  Wal,
  WalClosedError,
  WalCorruptError,
  WalFailedError,
  type WalOptions,
  type WalRecord,
} from "../../wal/mod.ts";
import {
  captureLogger,
  dirBytes,
  memFsWith,
  seeds,
  testRng,
  withSeed,
} from "./helpers.ts";

const DIR = "/data/wal";
const HEADER_KIND = 1;
const DATA_KIND = 2;

/** A record carrying `n` (4 bytes) plus `pad` filler bytes. */
function rec(n: number, pad = 0): WalRecord {
  const data = new Uint8Array(4 + pad).fill(0xab);
  new DataView(data.buffer).setUint32(0, n, true);
  return { kind: DATA_KIND, data };
}

/** The counters of the data records, in order. */
function values(records: readonly WalRecord[]): number[] {
  return records.filter((r) => r.kind === DATA_KIND).map((r) =>
    new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true)
  );
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

let label = 1;
function open(fs: Fs, opts: Partial<WalOptions> = {}) {
  return Wal.open(fs, DIR, {
    segmentBytes: 1024,
    preallocate: false,
    segmentStart: () => ({
      firstIndex: label,
      header: [{ kind: HEADER_KIND, data: new Uint8Array([label & 255]) }],
    }),
    ...opts,
  });
}

/** A WAL holding records 0..n-1, appended in batches of `batch`, then closed. */
async function filled(
  n: number,
  batch: number,
  opts: Partial<WalOptions> = {},
) {
  const fs = new MemFs();
  const { wal } = await open(fs, opts);
  for (let i = 0; i < n; i += batch) {
    await wal.append(
      range(i, Math.min(n, i + batch)).map((v) => rec(v, v % 7)),
    );
  }
  await wal.close();
  return fs;
}

/** Counts the file writes and syncs made through it. */
class CountingFs implements Fs {
  writes = 0;
  syncs = 0;
  constructor(readonly inner: Fs) {}
  async open(
    path: string,
    options?: Parameters<Fs["open"]>[1],
  ): Promise<FsFile> {
    const f = await this.inner.open(path, options);
    return {
      read: (b, p) => f.read(b, p),
      write: (d, p) => (this.writes++, f.write(d, p)),
      truncate: (n) => f.truncate(n),
      syncData: () => (this.syncs++, f.syncData()),
      sync: () => (this.syncs++, f.sync()),
      size: () => f.size(),
      close: () => f.close(),
    };
  }
  readFile = (p: string) => this.inner.readFile(p);
  rename = (a: string, b: string) => this.inner.rename(a, b);
  remove = (p: string) => this.inner.remove(p);
  readDir = (p: string) => this.inner.readDir(p);
  mkdir = (p: string) => this.inner.mkdir(p);
  syncDir = (p: string) => this.inner.syncDir(p);
  stat = (p: string) => this.inner.stat(p);
}

Deno.test("wal: reopening replays every record in order, each segment led by its header", async () => {
  for (const preallocate of [false, true]) {
    const fs = await filled(300, 7, { preallocate });
    const { wal, records } = await open(fs, { preallocate });
    assert.deepEqual(values(records), range(0, 300));
    assert.ok(wal.segmentCount > 3, `segments: ${wal.segmentCount}`);
    const files = [...new Set(records.map((r) => r.file))];
    assert.equal(files.length, wal.segmentCount);
    for (const f of files) {
      assert.equal(records.find((r) => r.file === f)!.kind, HEADER_KIND);
    }
    await wal.close();
  }
});

Deno.test("wal: one synced append is exactly one write and one fdatasync", async () => {
  const fs = new CountingFs(new MemFs());
  const { wal } = await open(fs, { segmentBytes: 1 << 20 });
  await wal.append([rec(0)]); // creates the first segment
  const [w, s] = [fs.writes, fs.syncs];
  for (let i = 1; i <= 10; i++) {
    await wal.append(range(0, i).map((v) => rec(v)));
  }
  assert.equal(fs.writes - w, 10);
  assert.equal(fs.syncs - s, 10);
  await wal.close();
});

Deno.test("wal: unsynced appends ride in the next synced frame", async () => {
  const mem = new MemFs();
  const fs = new CountingFs(mem);
  const { wal } = await open(fs, { segmentBytes: 1 << 20 });
  await wal.append([rec(0)]);
  const w = fs.writes;
  await wal.append([rec(1)], { sync: false });
  await wal.append([rec(2), rec(3)], { sync: false });
  assert.equal(fs.writes, w, "nothing written yet");
  await wal.append([rec(4)]);
  assert.equal(fs.writes, w + 1);
  await wal.append([rec(5)], { sync: false });
  await wal.close(); // flushes
  const { records } = await open(mem);
  assert.deepEqual(values(records), range(0, 6));
  const file = records.at(-1)!.file;
  const frames = decodeFrames(await mem.readFile(file)).frames;
  assert.deepEqual(frames.map((f) => values(f.records)), [
    [],
    [0],
    [1, 2, 3, 4],
    [5],
  ]);
});

Deno.test("wal: segments are cut at the size limit and named by sequence and label", async () => {
  const fs = new MemFs();
  const { wal } = await open(fs, { segmentBytes: 200 });
  for (let i = 0; i < 20; i++) {
    label = 100 + i * 10;
    await wal.append([rec(i, 50)]);
  }
  label = 1;
  const names = (await fs.readDir(DIR)).sort();
  assert.equal(names.length, wal.segmentCount);
  assert.equal(names[0], segmentName(0, 100));
  for (const [i, s] of wal.segments.entries()) {
    assert.equal(s.seq, i);
    assert.equal(s.name, names[i]);
  }
  let total = 0;
  for (const n of names) total += (await fs.readFile(joinPath(DIR, n))).length;
  assert.equal(wal.bytes, total);
  await wal.close();
});

Deno.test("wal: releaseBefore deletes whole segments below the index, never the tail", async () => {
  const fs = new MemFs();
  const { wal } = await open(fs, { segmentBytes: 100 });
  for (let i = 1; i <= 10; i++) {
    label = i * 10; // segment i holds records 10i..10i+9
    await wal.append(range(i * 10, i * 10 + 10).map((v) => rec(v, 8)));
  }
  label = 1;
  const before = wal.segments.map((s) => s.firstIndex);
  assert.deepEqual(before, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  assert.equal(await wal.releaseBefore(35), 2); // 10.. and 20.. hold only < 30 <= 35
  assert.deepEqual(wal.segments.map((s) => s.firstIndex), [
    30,
    40,
    50,
    60,
    70,
    80,
    90,
    100,
  ]);
  assert.equal(await wal.releaseBefore(10_000), 7);
  assert.deepEqual(wal.segments.map((s) => s.firstIndex), [100]);
  await wal.close();
  const { records, wal: again } = await open(fs);
  assert.deepEqual(values(records), range(100, 110));
  await again.close();
});

Deno.test("wal: a crash at any point of retention opens, whatever order the disk kept the deletes in", async () => {
  // With one directory fsync after all the deletes, a disk that kept the
  // delete of segment 20.. and lost that of 10.. left a "segment sequence
  // gap" that stopped open.
  let completed = false;
  for (let k = 0; !completed; k++) {
    assert.ok(k < 100, "retention never completed");
    for (const seed of seeds(k * 10, 10)) {
      await withSeed(seed, async (rng) => {
        const fs = new MemFs();
        const { wal } = await open(fs, { segmentBytes: 100 });
        for (let i = 1; i <= 10; i++) {
          label = i * 10; // segment i holds records 10i..10i+9
          await wal.append(range(i * 10, i * 10 + 10).map((v) => rec(v, 8)));
        }
        label = 1;
        fs.haltAt(fs.mutations + k);
        completed ||= await wal.releaseBefore(10_000).then(
          (n) => n === 9,
          (e) => {
            assert.ok(e instanceof WalFailedError, String(e));
            return false;
          },
        );
        fs.crash(rng, { directoryChanges: "any" });
        const { records, wal: again } = await open(fs);
        // Whole segments from some point on, the newest always there.
        const got = values(records);
        assert.ok(got.length >= 10 && got.length % 10 === 0, `${got.length}`);
        assert.deepEqual(got, range(110 - got.length, 110));
        await again.close();
      });
    }
  }
});

/** Files of a closed WAL and where the frames of its last segment start. */
async function image(n: number, batch: number) {
  const fs = await filled(n, batch, { segmentBytes: 600 });
  const files = await dirBytes(fs, DIR);
  const names = [...files.keys()];
  const lastName = names.at(-1)!;
  const last = files.get(lastName)!;
  const frames = decodeFrames(last).frames;
  return { files, names, lastName, last, frames };
}

/** The records a WAL opened on `files` returns, or the error it throws. */
async function reopen(files: Map<string, Uint8Array>) {
  const fs = await memFsWith(DIR, files);
  const log = captureLogger();
  try {
    const { wal, records } = await open(fs, { logger: log, segmentBytes: 600 });
    await wal.close();
    return { fs, log, values: values(records), error: undefined };
  } catch (err) {
    return { fs, log, values: [], error: err };
  }
}

Deno.test("wal: a cut or zero-filled tail at every byte of the last segment keeps exactly the whole frames", async () => {
  const { files, lastName, last, frames } = await image(60, 3);
  const before = [...files.values()].slice(0, -1).reduce(
    (n, b) =>
      n + values(decodeFrames(b).frames.flatMap((f) => f.records)).length,
    0,
  );
  const headerEnd = frames[0]!.end;
  for (let cut = headerEnd; cut <= last.length; cut++) {
    const whole = frames.filter((f) => f.end <= cut);
    const want = range(
      0,
      before + values(whole.flatMap((f) => f.records)).length,
    );
    for (const zeroFill of [false, true]) {
      const bytes = zeroFill ? last.slice() : last.slice(0, cut);
      if (zeroFill) bytes.fill(0, cut);
      const r = await reopen(new Map([...files, [lastName, bytes]]));
      assert.equal(
        r.error,
        undefined,
        `cut ${cut} zeros ${zeroFill}: ${r.error}`,
      );
      assert.deepEqual(r.values, want, `cut ${cut} zeros ${zeroFill}`);
      const end = whole.at(-1)!.end;
      const torn = bytes.length !== end;
      assert.equal(
        r.log.lines.some((l) => l.level === "warn"),
        torn,
        `warning at cut ${cut}`,
      );
      assert.equal(
        (await r.fs.readFile(joinPath(DIR, lastName))).length,
        end,
      );
      // The cut bytes (less trailing zeros) are kept beside the segment.
      let cutBytes = bytes.slice(end);
      while (cutBytes.at(-1) === 0) cutBytes = cutBytes.slice(0, -1);
      const side = [...(await dirBytes(r.fs, DIR)).entries()].filter(([n]) =>
        n.endsWith(".broken")
      );
      if (!torn || cutBytes.length === 0) {
        assert.deepEqual(side, [], `no side file at cut ${cut}`);
      } else {
        assert.deepEqual(
          side,
          [[`${lastName}.tail-${end}.broken`, cutBytes]],
          `side file at cut ${cut} zeros ${zeroFill}`,
        );
      }
    }
  }
});

Deno.test("wal: a torn tail is saved to a synced side file before the cut, and named in the warning", async () => {
  const { files, lastName, last, frames } = await image(60, 3);
  const keep = frames.at(-2)!.end;
  const cut = keep + Math.floor((frames.at(-1)!.end - keep) / 2);
  const r = await reopen(new Map([...files, [lastName, last.slice(0, cut)]]));
  assert.equal(r.error, undefined);
  const path = joinPath(DIR, lastName);
  const side = `${path}.tail-${keep}.broken`;
  assert.deepEqual(await r.fs.readFile(side), last.slice(keep, cut));
  const warn = r.log.lines.find((l) => l.level === "warn")!;
  assert.deepEqual(
    [warn.fields?.file, warn.fields?.offset, warn.fields?.droppedBytes],
    [path, keep, cut - keep],
  );
  assert.equal(warn.fields?.keptIn, side);
  // Synced, directory entry included: a crash right after the open keeps both.
  r.fs.crash(testRng(1));
  assert.deepEqual(await r.fs.readFile(side), last.slice(keep, cut));
  assert.equal((await r.fs.readFile(path)).length, keep);
  // A second open finds nothing torn and creates nothing.
  const before = await dirBytes(r.fs, DIR);
  const log = captureLogger();
  const { wal, records } = await open(r.fs, { logger: log, segmentBytes: 600 });
  await wal.close();
  assert.deepEqual(await dirBytes(r.fs, DIR), before);
  assert.deepEqual(log.lines.filter((l) => l.level === "warn"), []);
  assert.deepEqual(values(records), r.values);
  // Torn again at the same offset: the first side file is not overwritten.
  const again = new Map([...before, [lastName, last.slice(0, cut - 1)]]);
  const r2 = await reopen(again);
  assert.equal(r2.error, undefined);
  assert.deepEqual(await r2.fs.readFile(side), last.slice(keep, cut));
  assert.deepEqual(
    await r2.fs.readFile(`${path}.tail-${keep}-2.broken`),
    last.slice(keep, cut - 1),
  );
});

Deno.test("wal: a failure while saving the torn tail stops the open and modifies nothing", async () => {
  const { files, lastName, last, frames } = await image(60, 3);
  const keep = frames.at(-2)!.end;
  const torn = last.slice(0, keep + 5);
  const fs = await memFsWith(DIR, new Map([...files, [lastName, torn]]));
  fs.injectFault({ op: "write", pathIncludes: ".broken", errno: "ENOSPC" });
  await assert.rejects(open(fs, { segmentBytes: 600 }), (e) => {
    assert.ok(e instanceof WalFailedError);
    assert.ok(e.cause instanceof FsIoError && e.cause.errno === "ENOSPC");
    assert.match(e.message, new RegExp(`torn tail of ${DIR}/${lastName}`));
    return true;
  });
  assert.deepEqual(
    await dirBytes(fs, DIR),
    new Map([...files, [lastName, torn]]),
    "the segment keeps its tail and no partial side file is left",
  );
  // Once the write succeeds (space freed), the repair goes through.
  const { wal } = await open(fs, { segmentBytes: 600 });
  await wal.close();
  assert.equal((await fs.readFile(joinPath(DIR, lastName))).length, keep);
});

Deno.test("wal: random cuts keep a prefix in the last segment and are corruption anywhere else, touching nothing", async () => {
  const { files, names, lastName } = await image(80, 2);
  for (const seed of seeds(1, 60)) {
    await withSeed(seed, async (rng) => {
      const name = names[rng.intn(names.length)]!;
      const bytes = files.get(name)!;
      const cut = rng.intn(bytes.length);
      const damaged = new Map([...files, [name, bytes.slice(0, cut)]]);
      const r = await reopen(damaged);
      const headerEnd = decodeFrames(bytes).frames[0]!.end;
      if (name === lastName && cut >= headerEnd) {
        assert.equal(r.error, undefined);
        const all = range(0, 80);
        assert.deepEqual(r.values, all.slice(0, r.values.length), "a prefix");
      } else {
        assert.ok(
          r.error instanceof WalCorruptError,
          `expected corruption, got ${r.error}`,
        );
        assert.equal(r.error.file, joinPath(DIR, name));
        assert.ok(r.error.offset <= cut);
        assert.deepEqual(
          await dirBytes(r.fs, DIR),
          damaged,
          "nothing modified",
        );
      }
    });
  }
});

Deno.test("wal: a flipped bit anywhere is reported with file and offset, never skipped, and nothing is modified", async () => {
  const { files, names } = await image(80, 2);
  for (const seed of seeds(1, 150)) {
    await withSeed(seed, async (rng) => {
      const name = names[rng.intn(names.length)]!;
      const bytes = files.get(name)!.slice();
      const at = rng.intn(bytes.length);
      bytes[at]! ^= 1 << rng.intn(8);
      const damaged = new Map([...files, [name, bytes]]);
      const r = await reopen(damaged);
      assert.ok(
        r.error instanceof WalCorruptError,
        `bit at ${name}:${at} gave ${r.error ?? "no error"}`,
      );
      assert.equal(r.error.code, "wal_corrupt");
      assert.equal(r.error.file, joinPath(DIR, name));
      assert.ok(
        r.error.offset <= at,
        `offset ${r.error.offset} after the flip at ${at}`,
      );
      assert.match(
        r.error.message,
        new RegExp(`${name} at offset ${r.error.offset}`),
      );
      assert.deepEqual(await dirBytes(r.fs, DIR), damaged, "nothing modified");
    });
  }
});

Deno.test("wal: a crash at any moment keeps every acknowledged record and invents none", async () => {
  for (const seed of seeds(1, 250)) {
    await withSeed(seed, async (rng) => {
      const fs = new MemFs();
      const preallocate = rng.chance(0.5);
      const opts = { segmentBytes: 300 + rng.intn(600), preallocate };
      let next = 0;
      let acked = 0;
      for (let life = 0; life < 3; life++) {
        const { wal, records } = await open(fs, opts);
        const got = values(records);
        assert.deepEqual(
          got,
          range(0, got.length),
          "recovered a prefix of what was written",
        );
        assert.ok(
          got.length >= acked,
          `lost acknowledged records: have ${got.length}, acked ${acked}`,
        );
        next = got.length;
        acked = next;
        fs.haltAt(fs.mutations + rng.intn(40));
        try {
          for (let op = 0; op < 30; op++) {
            const batch = range(next, next + 1 + rng.intn(5)).map((v) =>
              rec(v, rng.intn(90))
            );
            next += batch.length;
            const sync = rng.chance(0.7);
            await wal.append(batch, { sync });
            if (sync) acked = next;
          }
          await wal.close();
          acked = next;
        } catch (err) {
          assert.ok(err instanceof WalFailedError, `unexpected ${err}`);
        }
        fs.crash(rng);
      }
    });
  }
});

Deno.test("wal: a write error (EIO or ENOSPC) poisons the WAL for good", async () => {
  for (const errno of ["EIO", "ENOSPC"] as const) {
    const mem = new MemFs();
    const fs = new CountingFs(mem);
    const { wal } = await open(fs);
    await wal.append([rec(0)]);
    mem.injectFault({ op: "write", errno });
    const err = await wal.append([rec(1)]).then(() => undefined, (e) => e);
    assert.ok(err instanceof WalFailedError);
    assert.equal(err.code, "wal_failed");
    assert.match(err.message, new RegExp(errno));
    assert.ok(err.cause instanceof FsIoError);
    mem.clearFaults();
    const syncs = fs.syncs;
    await assert.rejects(() => wal.append([rec(2)]), (e) => e === err);
    await assert.rejects(
      () => wal.append([rec(2)], { sync: false }).then(() => wal.append([])),
      WalFailedError,
    );
    await assert.rejects(() => wal.releaseBefore(5), WalFailedError);
    await assert.rejects(() => wal.close(), WalFailedError);
    assert.equal(fs.syncs, syncs, "no fsync after the failure");
    assert.equal(wal.failure, err);
    mem.crash(testRng(1));
    const { records } = await open(mem);
    assert.deepEqual(values(records), [0]);
  }
});

Deno.test("wal: a failed fdatasync is never retried and its records are never acknowledged", async () => {
  const mem = new MemFs();
  const fs = new CountingFs(mem);
  const { wal } = await open(fs);
  await wal.append([rec(0)]);
  mem.injectFault({ op: "sync", errno: "EIO" });
  await assert.rejects(() => wal.append([rec(1)]), WalFailedError);
  const syncs = fs.syncs;
  await assert.rejects(() => wal.append([rec(2)]), WalFailedError);
  assert.equal(fs.syncs, syncs);
  mem.crash(testRng(3));
  const { records } = await open(mem);
  assert.deepEqual(values(records), [0]);
});

Deno.test("wal: any failing step of cutting a segment poisons the WAL", async () => {
  for (
    const op of [
      "create",
      "write",
      "truncate",
      "sync",
      "rename",
      "syncDir",
    ] as const
  ) {
    const fs = new MemFs();
    const { wal } = await open(fs, { segmentBytes: 64, preallocate: true });
    await wal.append([rec(0, 80)]); // fills the first segment
    fs.injectFault({ op });
    await assert.rejects(() => wal.append([rec(1)]), WalFailedError, op);
    await assert.rejects(() => wal.append([rec(2)]), WalFailedError, op);
    fs.crash(testRng(5));
    const { records } = await open(fs);
    assert.deepEqual(values(records), [0], op);
  }
});

Deno.test("wal: leftover temporary segments are removed; a sequence gap is corruption", async () => {
  const fs = await filled(40, 2, { segmentBytes: 200 });
  const tmp = joinPath(DIR, segmentName(99, 1) + ".tmp");
  (await fs.open(tmp, { write: true, create: true })).close();
  const { wal, records } = await open(fs);
  assert.deepEqual(values(records), range(0, 40));
  assert.equal(await fs.stat(tmp), undefined);
  await wal.close();
  const names = (await fs.readDir(DIR)).sort();
  await fs.remove(joinPath(DIR, names[1]!));
  const files = await dirBytes(fs, DIR);
  const err = await open(fs).then(() => undefined, (e) => e);
  assert.ok(err instanceof WalCorruptError);
  assert.match(err.message, /sequence gap/);
  assert.deepEqual(await dirBytes(fs, DIR), files);
});

Deno.test("wal: a segment without a whole header frame is corruption", async () => {
  const fs = await filled(10, 1, { segmentBytes: 1 << 20 });
  const [name] = await fs.readDir(DIR);
  const f = await fs.open(joinPath(DIR, name!), { write: true });
  await f.truncate(5);
  await f.sync();
  await assert.rejects(() => open(fs), WalCorruptError);
});

Deno.test("wal: preallocated space is trimmed at close and cut off with a warning after a crash", async () => {
  const fs = new MemFs();
  const { wal } = await open(fs, { segmentBytes: 4096, preallocate: true });
  await wal.append([rec(0), rec(1)]);
  const [name] = await fs.readDir(DIR);
  const path = joinPath(DIR, name!);
  assert.equal((await fs.stat(path))!.size, 4096);
  await wal.close();
  assert.equal((await fs.stat(path))!.size, wal.bytes);
  const { wal: w2 } = await open(fs, { segmentBytes: 4096, preallocate: true });
  await w2.append([rec(2)]);
  fs.crash(testRng(9)); // no close: the zeros stay
  const log = captureLogger();
  const { wal: w3, records } = await open(fs, {
    segmentBytes: 4096,
    preallocate: true,
    logger: log,
  });
  assert.deepEqual(values(records), [0, 1, 2]);
  assert.ok(
    log.lines.some((l) => l.level === "warn" && l.fields?.file === path),
  );
  const names = await fs.readDir(DIR);
  assert.ok(!names.some((n) => n.endsWith(".broken")), "zeros are not kept");
  await w3.close();
});

Deno.test("wal: calls after close throw WalClosedError", async () => {
  const { wal } = await open(new MemFs());
  await wal.close();
  await assert.rejects(() => wal.append([rec(1)]), WalClosedError);
  await wal.close();
});
