/**
 * One process per data directory, with real processes: a second raftkv on a
 * directory that a running node holds exits with status 1 and a message
 * naming the directory, before it serves anything; once the first one shuts
 * down (SIGTERM), the directory is free again; a `kill -9`ed holder leaves
 * no stale lock behind.
 */

import assert from "node:assert/strict";
import { freePort, request, spawnNode, waitFor } from "./cluster.ts";

/**
 * Starts a single-node raftkv on `dir` at `url` (default: a fresh port; a
 * restart keeps the URL, since the cluster id comes from `--cluster`).
 */
function start(
  dir: string,
  url = `http://127.0.0.1:${freePort()}`,
): { proc: Deno.ChildProcess; url: string } {
  const proc = spawnNode([
    "--id",
    "1",
    "--cluster",
    url,
    "--data-dir",
    dir,
    "--tick-ms",
    "20",
  ]);
  return { proc, url };
}

/** Waits until the node at `url` answers `/health` with 200. */
async function healthy(url: string): Promise<void> {
  await waitFor(
    `${url} healthy`,
    async () => (await request(`${url}/health`))?.status === 200,
  );
}

/** Collects a process's stderr as text. */
async function stderrOf(proc: Deno.ChildProcess): Promise<string> {
  return await new Response(proc.stderr).text();
}

Deno.test("a second process on a held data directory exits with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-lock-" });
  const first = start(`${dir}/node`);
  const firstErr = stderrOf(first.proc);
  try {
    await healthy(first.url);
    await request(`${first.url}/v1/kv/k`, { method: "PUT", body: "v1" });

    const second = start(`${dir}/node`);
    const [status, text] = await Promise.all([
      second.proc.status,
      stderrOf(second.proc),
    ]);
    assert.equal(status.code, 1, text);
    assert.match(text, /in use by another raftkv process/);
    assert.ok(text.includes(`${dir}/node`), text);
    // It never served.
    assert.equal(await request(`${second.url}/health`, {}, 1000), undefined);
    // The first one is untouched.
    assert.equal((await request(`${first.url}/v1/kv/k`))?.body, "v1");

    // A graceful stop releases the lock: the directory can be used again.
    first.proc.kill("SIGTERM");
    assert.equal((await first.proc.status).code, 0);
    const third = start(`${dir}/node`, first.url);
    const thirdErr = stderrOf(third.proc);
    await healthy(third.url);
    assert.equal((await request(`${third.url}/v1/kv/k`))?.body, "v1");
    // kill -9 leaves no stale lock: the kernel drops it with the process.
    third.proc.kill("SIGKILL");
    await third.proc.status;
    await thirdErr;
    const fourth = start(`${dir}/node`, first.url);
    const fourthErr = stderrOf(fourth.proc);
    await healthy(fourth.url);
    fourth.proc.kill("SIGTERM");
    assert.equal((await fourth.proc.status).code, 0);
    await fourthErr;
  } finally {
    try {
      first.proc.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await first.proc.status;
    await firstErr;
    await Deno.remove(dir, { recursive: true });
  }
});
