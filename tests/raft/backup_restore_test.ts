/**
 * `restoreBackup` into real temporary directories: what DiskStorage then
 * recovers (snapshot, membership, hard state), that a node started on it
 * holds the backup's store, and every refusal leaves the directory alone.
 */

import { clusterIdOf } from "../../raft/cluster_id.ts";
import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "../../kv/mod.ts";
import { encodeBackupFile } from "../../raft/backup_file.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import { StorageMismatchError } from "../../raft/disk_recovery.ts";
import { RaftNode, seededRng } from "../../raft/mod.ts";
import { restoreBackup, RestoreError } from "../../raft/restore.ts";
import { decodeSnapshotData } from "../../raft/snapshot_data.ts";
import { DenoFs } from "../../wal/mod.ts";

const CLUSTER = [
  "http://127.0.0.1:41001",
  "http://127.0.0.1:41002",
  "http://127.0.0.1:41003",
];
const BACKUP_INDEX = 57;
const BACKUP_TERM = 4;
const utf8 = new TextEncoder();

/** A store with puts, an overwrite and a delete, last applied at 50. */
function sampleStore(): KvStore {
  const store = new KvStore();
  const put = (i: number, key: string, value: string) =>
    store.apply(
      i,
      encodeCommand({ op: "put", key, value: utf8.encode(value) }),
    );
  put(10, "a", "1");
  put(20, "b", "2");
  put(30, "a", "one");
  put(40, "c", "3");
  store.apply(50, encodeCommand({ op: "delete", key: "b" }));
  return store;
}

/** A temp dir holding a backup file of `sampleStore()`; removed after `fn`. */
async function withBackup(
  fn: (dir: string, file: string, state: Uint8Array) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-restore-" });
  try {
    const state = sampleStore().snapshot();
    const file = `${dir}/b.backup`;
    await Deno.writeFile(
      file,
      encodeBackupFile(
        { index: BACKUP_INDEX, term: BACKUP_TERM, createdMs: 1 },
        state,
      ),
    );
    await fn(dir, file, state);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function checkState(state: Uint8Array): void {
  new KvStore().restore(state);
}

Deno.test("restore: DiskStorage recovers the snapshot, members and hard state", async () => {
  await withBackup(async (dir, from, state) => {
    const fs = new DenoFs();
    const dataDir = `${dir}/node2`;
    const result = await restoreBackup({
      fs,
      from,
      dataDir,
      id: 2,
      cluster: CLUSTER,
      checkState,
    });
    assert.equal(result.index, BACKUP_INDEX);
    assert.equal(result.term, BACKUP_TERM);
    assert.equal(result.stateBytes, state.length);

    const storage = await DiskStorage.open(fs, dataDir, {
      metadata: { clusterId: "", nodeId: 2 },
    });
    try {
      assert.equal(storage.isEmpty(), false, "the node must not bootstrap");
      // The id the restored cluster's nodes compute from their flags.
      assert.deepEqual(storage.metadata, {
        clusterId: clusterIdOf(CLUSTER),
        nodeId: 2,
      });
      const snap = storage.snapshot();
      assert.equal(snap.meta.index, BACKUP_INDEX);
      assert.equal(snap.meta.term, BACKUP_TERM);
      assert.deepEqual(snap.meta.conf, { voters: [1, 2, 3], learners: [] });
      assert.deepEqual(storage.initialState().hardState, {
        term: BACKUP_TERM,
        vote: 0,
        commit: BACKUP_INDEX,
      });
      assert.equal(storage.lastIndex(), BACKUP_INDEX);
      assert.equal(storage.term(BACKUP_INDEX), BACKUP_TERM);
      const content = decodeSnapshotData(snap.data);
      assert.ok(content);
      assert.deepEqual(content.state, state);
      assert.deepEqual(
        content.members.members.map((m) => [m.id, m.url, m.role]),
        CLUSTER.map((url, i) => [i + 1, url, "voter"]),
      );
      assert.deepEqual(content.members.removed, []);
    } finally {
      await storage.close();
    }
  });
});

Deno.test("restore: a node started on the directory holds the backup", async () => {
  await withBackup(async (dir, from) => {
    const fs = new DenoFs();
    const dataDir = `${dir}/node1`;
    await restoreBackup({ fs, from, dataDir, id: 1, cluster: CLUSTER });
    const storage = await DiskStorage.open(fs, dataDir, {
      metadata: { clusterId: "", nodeId: 1 },
    });
    try {
      const store = new KvStore();
      const node = new RaftNode({
        id: 1,
        peers: new Map(CLUSTER.map((url, i) => [i + 1, url] as const)),
        join: false,
        storage,
        stateMachine: store,
        rng: seededRng(1),
        epoch: 1,
      });
      assert.equal(node.applied(), BACKUP_INDEX);
      assert.equal(store.size, 2);
      assert.equal(new TextDecoder().decode(store.get("a")!.value), "one");
      assert.equal(store.get("a")!.index, 30);
      assert.equal(store.get("b"), undefined, "a deleted key stays deleted");
      assert.equal(store.get("c")!.index, 40);
      assert.deepEqual(
        node.memberList().members.map((m) => m.url),
        CLUSTER,
      );
      node.stop();
    } finally {
      await storage.close();
    }
  });
});

Deno.test("restore: the directory belongs to the restored id only", async () => {
  await withBackup(async (dir, from) => {
    const fs = new DenoFs();
    const dataDir = `${dir}/node3`;
    await restoreBackup({ fs, from, dataDir, id: 3, cluster: CLUSTER });
    await assert.rejects(
      DiskStorage.open(fs, dataDir, { metadata: { clusterId: "", nodeId: 1 } }),
      StorageMismatchError,
    );
  });
});

Deno.test("restore: an existing empty directory is accepted", async () => {
  await withBackup(async (dir, from) => {
    const dataDir = `${dir}/empty`;
    await Deno.mkdir(dataDir);
    const r = await restoreBackup({
      fs: new DenoFs(),
      from,
      dataDir,
      id: 1,
      cluster: CLUSTER.slice(0, 1),
    });
    assert.deepEqual(r.members.map((m) => m.id), [1]);
  });
});

/** The entries of `dir`, or undefined when it does not exist. */
async function entries(dir: string): Promise<string[] | undefined> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name)
      .sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

Deno.test("restore: refusals write nothing", async () => {
  await withBackup(async (dir, from, state) => {
    const fs = new DenoFs();
    const opts = { fs, from, id: 1, cluster: CLUSTER, checkState };

    const used = `${dir}/used`;
    await Deno.mkdir(used);
    await Deno.writeTextFile(`${used}/keep.txt`, "mine");
    await assert.rejects(
      restoreBackup({ ...opts, dataDir: used }),
      (e: unknown) => e instanceof RestoreError && /not empty/.test(e.message),
    );
    assert.deepEqual(await entries(used), ["keep.txt"]);

    const file = await Deno.readFile(from);
    file[60]! ^= 0x01;
    const corrupt = `${dir}/corrupt.backup`;
    await Deno.writeFile(corrupt, file);
    await assert.rejects(
      restoreBackup({ ...opts, from: corrupt, dataDir: `${dir}/n1` }),
      /checksum mismatch/,
    );
    await assert.rejects(
      restoreBackup({ ...opts, from: `${dir}/missing`, dataDir: `${dir}/n1` }),
      (e: unknown) =>
        e instanceof RestoreError && /cannot read the backup/.test(e.message),
    );
    await assert.rejects(
      restoreBackup({ ...opts, id: 4, dataDir: `${dir}/n1` }),
      /id 4 has no URL/,
    );

    // A well-checksummed file whose state the store refuses.
    const garbage = `${dir}/garbage.backup`;
    const bad = state.slice();
    bad[0] = 0;
    await Deno.writeFile(
      garbage,
      encodeBackupFile({ index: 9, term: 1, createdMs: 0 }, bad),
    );
    await assert.rejects(
      restoreBackup({ ...opts, from: garbage, dataDir: `${dir}/n1` }),
      /store image is invalid/,
    );
    assert.equal(await entries(`${dir}/n1`), undefined);
  });
});
