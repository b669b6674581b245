/**
 * scripts/cluster.sh as a user runs it: `start`, raftexample's curl
 * commands on the fixed ports 12380 and 32380, `status`, `stop`, `clean`.
 * One of the two e2e tests on fixed ports (12379/22379/32379 and
 * 12380/22380/32380, tests/e2e/fixed_ports.ts; the other is the README
 * tour's): it is skipped when any of them is taken, and the two take turns.
 */

import assert from "node:assert/strict";
import { waitFor } from "./cluster.ts";
import { curl, HAS_CURL } from "./curl.ts";
import { busyPorts, withFixedPorts } from "./fixed_ports.ts";

const SCRIPT = new URL("../../scripts/cluster.sh", import.meta.url).pathname;
const busy = busyPorts();
const skip = !HAS_CURL
  ? " (skipped: no curl on PATH)"
  : busy.length > 0
  ? ` (skipped: ports ${busy.join(", ")} are in use)`
  : "";

/** Runs `bash scripts/cluster.sh <action>` on the cluster folder `dir`. */
async function clusterSh(
  action: string,
  dir: string,
): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, action],
    env: { RAFTKV_CLUSTER_DIR: dir, DENO_BIN: Deno.execPath(), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

/** Whether process `pid` still exists. */
async function alive(pid: number): Promise<boolean> {
  const out = await new Deno.Command("kill", {
    args: ["-0", String(pid)],
    stderr: "null",
  }).output();
  return out.success;
}

/** The pids scripts/cluster.sh recorded in `dir`. */
async function pids(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const id of [1, 2, 3]) {
    try {
      found.push(Number(await Deno.readTextFile(`${dir}/node${id}.pid`)));
    } catch {
      // Not started (or already stopped).
    }
  }
  return found;
}

Deno.test({
  name: `scripts/cluster.sh start, curl, status, stop, clean${skip}`,
  ignore: skip !== "",
  fn: () => withFixedPorts(run),
});

/** The test: start, curl, status, stop, clean. */
async function run(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-cluster-sh-" });
  let started: number[] = [];
  try {
    const start = await clusterSh("start", dir);
    started = await pids(dir);
    assert.equal(start.code, 0, start.out);
    assert.equal(started.length, 3, start.out);

    const put = await curl([
      "-L",
      "http://127.0.0.1:12380/my-key",
      "-XPUT",
      "-d",
      "bar",
    ]);
    assert.equal(put.status, 204, put.body);
    const get = await curl(["-L", "http://127.0.0.1:32380/my-key"]);
    assert.deepEqual([get.status, get.body], [200, "bar"]);

    const status = await clusterSh("status", dir);
    assert.equal(status.code, 0, status.out);
    assert.equal(status.out.match(/running/g)?.length, 3, status.out);

    const stop = await clusterSh("stop", dir);
    assert.equal(stop.code, 0, stop.out);
    for (const pid of started) {
      await waitFor(`pid ${pid} to end`, async () => !(await alive(pid)));
    }
    assert.ok(
      (await Deno.stat(`${dir}/node1.log`)).size > 0,
      "logs are kept after stop",
    );

    const clean = await clusterSh("clean", dir);
    assert.equal(clean.code, 0, clean.out);
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
  } finally {
    // Whatever happened, end the nodes this test started, by pid.
    for (const pid of started) {
      if (await alive(pid)) Deno.kill(pid, "SIGKILL");
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
