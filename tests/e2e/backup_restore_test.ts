/**
 * Backup and restore end to end: a three-node cluster takes writes (puts,
 * overwrites, deletes), `GET /v1/snapshot` downloads a backup, the cluster
 * goes away, `main.ts restore` seeds three fresh directories from the file,
 * and a new three-node cluster on new ports serves every key with its value
 * and write index, keeps deleted keys deleted, and takes new writes. Also
 * the command's answers to bad input, as real processes.
 */

import assert from "node:assert/strict";
import { KvStore } from "../../kv/mod.ts";
import { decodeBackupFile, encodeBackupFile } from "../../raft/mod.ts";
import { E2eCluster, type MainRun, runMain, show, waitFor } from "./cluster.ts";

/** Keys written; every third is overwritten and every seventh deleted. */
const KEYS = 300;
const WRITERS = 6;

/** What a key should hold after the writes: value and write index, or deleted. */
type Model = Map<string, { value: string; index: number } | null>;

/** Runs `main.ts restore` with `args`; returns its exit code and output. */
function restoreCmd(args: string[]): Promise<MainRun> {
  return runMain(["restore", ...args], {
    permissions: ["--allow-read", "--allow-write", "--allow-env"],
    env: { NO_COLOR: "1" },
  });
}

/** Writes the workload through all nodes, `WRITERS` at a time. */
async function writeAll(c: E2eCluster, model: Model): Promise<number> {
  const ops: { key: string; value: string | null }[] = [];
  for (let k = 0; k < KEYS; k++) ops.push({ key: keyName(k), value: `v${k}` });
  for (let k = 0; k < KEYS; k += 3) {
    ops.push({ key: keyName(k), value: `over${k}` });
  }
  for (let k = 0; k < KEYS; k += 7) ops.push({ key: keyName(k), value: null });
  // Ops on one key must stay in order: each writer takes whole keys.
  const byWriter = Array.from({ length: WRITERS }, () => [] as typeof ops);
  for (const op of ops) {
    byWriter[Number(op.key.slice(1)) % WRITERS]!.push(op);
  }
  let last = 0;
  const ids = c.running();
  await Promise.all(byWriter.map(async (list, w) => {
    for (let n = 0; n < list.length; n++) {
      const { key, value } = list[n]!;
      const index = await c.mustWrite(ids[(w + n) % ids.length]!, key, value);
      last = Math.max(last, index);
      model.set(key, value === null ? null : { value, index });
    }
  }));
  return last;
}

function keyName(k: number): string {
  return `k${String(k).padStart(3, "0")}`;
}

/** Reads `key` linearizably through node `id`: value and index, or null. */
async function readKey(
  c: E2eCluster,
  id: number,
  key: string,
): Promise<{ value: string; index: number } | null> {
  const reply = await waitFor(`a read of ${key} on node ${id}`, async () => {
    const r = await c.read(id, key);
    return r !== undefined && r.status !== 503 && r;
  });
  if (reply.status === 404) return null;
  assert.equal(reply.status, 200, `${key} on node ${id}: ${show(reply)}`);
  return {
    value: reply.body,
    index: Number(reply.headers.get("x-raft-index")),
  };
}

Deno.test("backup of a three-node cluster restores into a new three-node cluster", async () => {
  const work = await Deno.makeTempDir({ prefix: "raftkv-backup-" });
  const clusters: E2eCluster[] = [];
  try {
    // Small snapshots, so the backup also covers compacted history.
    const src = await E2eCluster.start({ snapshotEntries: 100 });
    clusters.push(src);
    const model: Model = new Map();
    const lastWrite = await writeAll(src, model);

    // From a follower: the barrier goes through the leader.
    const leader = await src.waitLeader();
    const from = src.running().find((id) => id !== leader)!;
    const res = await fetch(`${src.node(from).url}/v1/snapshot`);
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const backup = decodeBackupFile(bytes);
    assert.ok(
      backup.index >= lastWrite,
      `backup index ${backup.index} misses acknowledged write ${lastWrite}`,
    );
    assert.equal(
      res.headers.get("x-raftkv-snapshot-index"),
      String(backup.index),
    );
    const file = `${work}/cluster.backup`;
    await Deno.writeFile(file, bytes);
    await src.close();
    clusters.pop();

    const dst = await E2eCluster.defined(3);
    clusters.push(dst);
    for (const id of [1, 2, 3]) {
      const r = await restoreCmd([
        "--from",
        file,
        "--id",
        String(id),
        "--cluster",
        dst.clusterArg(),
        "--data-dir",
        dst.node(id).dataDir,
      ]);
      assert.equal(r.code, 0, `restore of node ${id}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`at index ${backup.index}\\b`));
    }
    for (const id of [1, 2, 3]) dst.spawn(id);
    await dst.waitLeader();

    const members = await dst.members(1);
    assert.deepEqual(
      members?.members.map((m) => m.url),
      [1, 2, 3].map((id) => dst.node(id).url),
    );
    let n = 0;
    for (const [key, want] of model) {
      const id = 1 + (n++ % 3);
      assert.deepEqual(await readKey(dst, id, key), want, `${key} on ${id}`);
    }
    const all = await dst.list(1, "");
    assert.equal(
      all?.size,
      [...model.values()].filter((v) => v !== null).length,
      "no key beyond the backup's",
    );

    const index = await dst.mustWrite(2, "after-restore", "new");
    assert.ok(index > backup.index, `new write index ${index}`);
    assert.deepEqual(await readKey(dst, 3, "after-restore"), {
      value: "new",
      index,
    });
  } finally {
    for (const c of clusters) await c.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("raftkv restore refuses bad input with a clear message", async () => {
  const work = await Deno.makeTempDir({ prefix: "raftkv-backup-" });
  try {
    const good = `${work}/good.backup`;
    await Deno.writeFile(
      good,
      encodeBackupFile(
        { index: 5, term: 2, createdMs: 0 },
        new KvStore().snapshot(),
      ),
    );
    const cluster = "http://127.0.0.1:1,http://127.0.0.1:2";

    const badFlags: [string[], RegExp][] = [
      [[], /--from is required/],
      [["--from", good], /--id is required/],
      [["--from", good, "--id", "2"], /--cluster is required/],
      [
        ["--from", good, "--id", "3", "--cluster", cluster],
        /--id 3 has no URL/,
      ],
      [["--from", good, "--id", "x", "--cluster", cluster], /--id/],
      [["--from", good, "--id", "1", "--bogus"], /--bogus/],
    ];
    for (const [args, message] of badFlags) {
      const r = await restoreCmd(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }

    const help = await restoreCmd(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: raftkv restore --from FILE/);

    const corrupt = `${work}/corrupt.backup`;
    const bytes = await Deno.readFile(good);
    bytes[50]! ^= 0x04;
    await Deno.writeFile(corrupt, bytes);
    const truncated = `${work}/truncated.backup`;
    await Deno.writeFile(truncated, bytes.subarray(0, bytes.length - 1));
    const used = `${work}/used`;
    await Deno.mkdir(used);
    await Deno.writeTextFile(`${used}/x`, "");
    const refusals: [string, string, RegExp][] = [
      [corrupt, `${work}/n1`, /checksum mismatch/],
      [truncated, `${work}/n1`, /truncated/],
      [`${work}/missing.backup`, `${work}/n1`, /cannot read the backup/],
      [good, used, /not empty/],
    ];
    for (const [from, dir, message] of refusals) {
      const r = await restoreCmd([
        "--from",
        from,
        "--id",
        "1",
        "--cluster",
        cluster,
        "--data-dir",
        dir,
      ]);
      assert.equal(r.code, 1, `${from} into ${dir}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    await assert.rejects(Deno.stat(`${work}/n1`), Deno.errors.NotFound);
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(used))).map((e) => e.name),
      ["x"],
    );

    const ok = await restoreCmd([
      "--from",
      good,
      "--id",
      "2",
      "--cluster",
      cluster,
      "--data-dir",
      `${work}/n2`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
