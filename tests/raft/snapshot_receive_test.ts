/**
 * A snapshot received from the leader into a file (raft/snapshot_receive.ts
 * with DiskStorage): chunks of any size give the same message, its data a
 * handle that `save` resolves by installing the file; non-snapshot bodies
 * are refused; and a crash at any point of a receive and its save leaves
 * the old state or the new durable snapshot, never a partial one, and no
 * temporary file after the next open.
 */

import assert from "node:assert/strict";
import { DiskStorage } from "../../raft/disk_storage.ts";
import { encodeMessages } from "../../raft/codec.ts";
import { message, type Snapshot } from "../../raft/core/mod.ts";
import { receivedSnapshotNumber } from "../../raft/snapshot_receive.ts";
import { joinPath, MemFs, WalFailedError } from "../../wal/mod.ts";
import { seeds, withSeed } from "../wal/helpers.ts";
import { ents } from "./storage_suite.ts";

const DIR = "/data";
const SNAP_DIR = joinPath(DIR, "snap");

function snapshot(bytes: number): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 131 + 7) & 0xff;
  return {
    meta: { index: 30, term: 2, conf: { voters: [1, 2, 3], learners: [4] } },
    data,
  };
}

function snapBody(snap: Snapshot, context = "ctx"): Uint8Array {
  return encodeMessages([
    message({
      type: "snap",
      from: 1,
      to: 2,
      term: 3,
      commit: 30,
      snapshot: snap,
      context,
    }),
  ]);
}

/** Feeds `body` in chunks of `chunkBytes` and finishes. */
async function receive(s: DiskStorage, body: Uint8Array, chunkBytes: number) {
  const rx = s.receiveSnapshot(body.length);
  try {
    for (let at = 0; at < body.length; at += chunkBytes) {
      await rx.write(body.slice(at, at + chunkBytes));
    }
    return await rx.finish();
  } catch (e) {
    await rx.abort();
    throw e;
  }
}

Deno.test("snapshot_receive: chunks of any size give the message, and save installs the file", async () => {
  const snap = snapshot(5000);
  const body = snapBody(snap);
  for (const chunkBytes of [1, 7, 100, 4096, body.length]) {
    for (const inMemory of [false, true]) {
      const fs = new MemFs();
      const opts = { snapshotDataInMemory: inMemory };
      const s = await DiskStorage.open(fs, DIR, opts);
      const m = await receive(s, body, chunkBytes);
      assert.equal(m.type, "snap");
      assert.equal(m.context, "ctx");
      assert.equal(m.commit, 30);
      assert.deepEqual(m.snapshot.meta, snap.meta);
      assert.notEqual(receivedSnapshotNumber(m.snapshot.data), undefined);
      const names = await fs.readDir(SNAP_DIR);
      assert.equal(names.length, 1);
      assert.ok(names[0]!.endsWith(".tmp"), names[0]);
      await s.save({
        snapshot: m.snapshot,
        entries: [],
        hardState: { term: 3, vote: 0, commit: 30 },
        mustSync: true,
      });
      assert.deepEqual(await s.loadSnapshot(), snap);
      assert.equal(s.snapshot().data.length, inMemory ? snap.data.length : 0);
      await s.close();
      const r = await DiskStorage.open(fs, DIR, opts);
      assert.deepEqual(r.snapshot().meta, snap.meta);
      assert.deepEqual(await r.loadSnapshot(), snap);
      assert.deepEqual(await fs.readDir(SNAP_DIR), [
        "0000000000000002-000000000000001e.snap",
      ]);
      await r.close();
    }
  }
});

Deno.test("snapshot_receive: a body that is not one snapshot message is refused and leaves no file", async () => {
  const fs = new MemFs();
  const s = await DiskStorage.open(fs, DIR);
  const app = encodeMessages([
    message({ type: "app", from: 1, to: 2, term: 3, entries: ents(1, 3, 3) }),
  ]);
  await assert.rejects(() => receive(s, app, 10), /snapshot/);
  const two = encodeMessages([
    message({ type: "snap", from: 1, to: 2, term: 3, snapshot: snapshot(10) }),
    message({ type: "snap", from: 1, to: 2, term: 3, snapshot: snapshot(10) }),
  ]);
  await assert.rejects(() => receive(s, two, 10), /snapshot/);
  // Cut short: the snapshot's bytes are not all there.
  const body = snapBody(snapshot(100));
  const rx = s.receiveSnapshot(body.length);
  await rx.write(body.subarray(0, 50));
  await assert.rejects(() => rx.finish(), /incomplete/);
  await rx.abort();
  assert.deepEqual(await fs.readDir(SNAP_DIR), []);
  await s.close();
});

Deno.test("snapshot_receive: a received snapshot older than the storage's is discarded by save", async () => {
  const fs = new MemFs();
  const s = await DiskStorage.open(fs, DIR, { snapshotDataInMemory: false });
  const newer = snapshot(100);
  newer.meta = { ...newer.meta, index: 40 };
  const m1 = await receive(s, snapBody(snapshot(100)), 33);
  const m2 = await receive(s, snapBody(newer), 33);
  await s.save({ snapshot: m2.snapshot, entries: [], mustSync: true });
  // The older one, never saved, went with the newer one's save.
  assert.deepEqual(await fs.readDir(SNAP_DIR), [
    "0000000000000002-0000000000000028.snap",
  ]);
  await assert.rejects(
    () => s.save({ snapshot: m1.snapshot, entries: [], mustSync: true }),
    /no received snapshot file/,
  );
  await s.close();
});

Deno.test("snapshot_receive: a crash at any point of a receive and its save leaves the old state or the new snapshot", async () => {
  const snap = snapshot(3000);
  const body = snapBody(snap);
  const opts = { snapshotDataInMemory: false, segmentBytes: 200 };
  const old = ents(1, 10, 1);
  let completed = false;
  for (let k = 0; !completed; k++) {
    assert.ok(k < 200, "the receive never completed");
    for (const seed of seeds(k * 10, 4)) {
      await withSeed(seed, async (rng) => {
        const fs = new MemFs();
        const s = await DiskStorage.open(fs, DIR, opts);
        await s.save({
          entries: old,
          hardState: { term: 1, vote: 1, commit: 10 },
          mustSync: true,
        });
        fs.haltAt(fs.mutations + k);
        completed ||= await (async () => {
          const m = await receive(s, body, 512);
          await s.save({
            snapshot: m.snapshot,
            entries: [],
            hardState: { term: 3, vote: 0, commit: 30 },
            mustSync: true,
          });
          return true;
        })().catch((e) => {
          assert.ok(
            e instanceof WalFailedError || /halt/i.test(String(e)),
            String(e),
          );
          return false;
        });
        fs.crash(rng);
        const r = await DiskStorage.open(fs, DIR, opts);
        const index = r.snapshot().meta.index;
        if (index === 0) {
          assert.deepEqual(
            r.entries(1, r.lastIndex() + 1, Infinity),
            old,
          );
        } else {
          assert.equal(index, 30);
          assert.deepEqual(await r.loadSnapshot(), snap);
          assert.equal(r.lastIndex(), 30);
        }
        const temps = (await fs.readDir(SNAP_DIR)).filter((n) =>
          n.endsWith(".tmp")
        );
        assert.deepEqual(temps, []);
        await r.close();
      });
    }
  }
});

Deno.test("snapshot_receive: a received snapshot the core did not take is discarded at once, and only that one", async () => {
  const fs = new MemFs();
  const s = await DiskStorage.open(fs, DIR, { snapshotDataInMemory: false });
  const newer = snapshot(100);
  newer.meta = { ...newer.meta, index: 40 };
  const stale = await receive(s, snapBody(snapshot(100)), 33);
  const taken = await receive(s, snapBody(newer), 33);
  assert.equal((await fs.readDir(SNAP_DIR)).length, 2);
  await s.discardReceivedSnapshot(stale.snapshot.data);
  assert.equal((await fs.readDir(SNAP_DIR)).length, 1);
  // Not a handle, or one already gone: nothing happens.
  await s.discardReceivedSnapshot(stale.snapshot.data);
  await s.discardReceivedSnapshot(new Uint8Array([1, 2, 3]));
  await assert.rejects(
    () => s.save({ snapshot: stale.snapshot, entries: [], mustSync: true }),
    /no received snapshot file/,
  );
  await s.save({ snapshot: taken.snapshot, entries: [], mustSync: true });
  assert.deepEqual(await fs.readDir(SNAP_DIR), [
    "0000000000000002-0000000000000028.snap",
  ]);
  // Once installed, its handle names nothing to discard.
  await s.discardReceivedSnapshot(taken.snapshot.data);
  assert.deepEqual(await s.loadSnapshot(), newer);
  await s.close();
});
