/**
 * The README's tour, run as written, so that it cannot drift: the shell
 * blocks of its "A tour" section, in order, with bash, in a fresh copy of
 * the repository (as a new user's clone) whose cluster scripts/cluster.sh
 * started, on the fixed ports (tests/e2e/fixed_ports.ts: skipped when they
 * are taken).
 *
 * What is checked:
 * - every block exits 0 (run with `set -e -o pipefail`);
 * - every `curl` answers the status its line's comment starts with (`# 204
 *   ...`), or a 2xx when the comment names none: a shell function `curl`
 *   adds only `--max-time` and a `-w` that reports the line and status on
 *   stderr, and leaves the command's own output alone;
 * - after each block, what the tour says the cluster now holds (values,
 *   the leader, node 4's membership, cluster.sh knowing that node 4 left).
 */

import assert from "node:assert/strict";
import { GiveUp, request, waitFor } from "./cluster.ts";
import { HAS_CURL } from "./curl.ts";
import { busyPorts, withFixedPorts } from "./fixed_ports.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/**
 * What a clone does not hold: Git's own files, and what .gitignore keeps
 * out (CI's Deno, builds, local clusters, benchmark and test output; and
 * data directories, `raftkv-*`).
 */
const NOT_CLONED = new Set([
  ".git",
  ".ci",
  "node_modules",
  "dist",
  ".cluster",
  "bench-out",
  "coverage",
  "test-artifacts",
]);

/** One `sh` block of the tour and the README line it starts after. */
interface Block {
  heading: string;
  /** The README line of the block's first command (1-based). */
  line: number;
  lines: string[];
}

/** The `sh` blocks of the README's "## A tour" section, in order. */
function tourBlocks(readme: string): Block[] {
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => l.trim() === "## A tour");
  if (start < 0) throw new Error('README.md has no "## A tour" section');
  const blocks: Block[] = [];
  let heading = "A tour";
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.startsWith("## ")) break;
    if (l.startsWith("### ")) heading = l.slice(4);
    if (l.trim() !== "```sh") continue;
    const body: string[] = [];
    const first = i + 2;
    for (i++; i < lines.length && lines[i]!.trim() !== "```"; i++) {
      body.push(lines[i]!);
    }
    blocks.push({ heading, line: first, lines: body });
  }
  return blocks;
}

/** The status a line's comment promises (`# 204 ...`), if any. */
function promised(line: string): number | undefined {
  const m = /\s#\s*([1-5][0-9]{2})\b/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Prepended to each block: reports every curl's script line and status. */
const CURL_PROBE =
  `curl() { command curl --max-time 30 -w "%{stderr}<<curl \${BASH_LINENO[0]} %{http_code}>>\\n" "$@"; }`;

/** Runs one block with bash in `cwd`; returns its output and curls. */
async function runBlock(
  block: Block,
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string; curls: [number, number][] }> {
  // Line 1: options; line 2: the probe; the block from line 3.
  const script = ["set -e -o pipefail", CURL_PROBE, ...block.lines].join("\n");
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(180_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const curls: [number, number][] = [];
  for (const m of stderr.matchAll(/<<curl (\d+) (\d+)>>/g)) {
    curls.push([Number(m[1]) - 3, Number(m[2])]); // index into block.lines
  }
  return {
    code: out.code,
    out: `${stdout}\n--- stderr ---\n${stderr}`,
    curls,
  };
}

/** `bash scripts/cluster.sh start` in `cwd`; its exit code and output. */
async function clusterStart(
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: ["scripts/cluster.sh", "start"],
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Copies what a clone holds into `dir` (no .cluster, no dist). */
async function freshCopy(dir: string): Promise<void> {
  const entries: string[] = [];
  for await (const e of Deno.readDir(ROOT)) {
    if (NOT_CLONED.has(e.name) || e.name.startsWith("raftkv-")) continue;
    entries.push(`${ROOT}${e.name}`);
  }
  const out = await new Deno.Command("cp", {
    args: ["-R", ...entries, dir],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

const API = (id: number) => `http://127.0.0.1:${id}2380`;

/** `GET /v1/members` on node `id`'s API port. */
async function membersOf(
  id: number,
): Promise<{ leader: number; members: { id: number; role: string }[] }> {
  const r = await request(`${API(id)}/v1/members`, {}, 5000);
  if (r?.status !== 200) throw new Error(`members of ${id}: ${r?.status}`);
  return JSON.parse(r.body);
}

/** The pids cluster.sh recorded in `dir/.cluster`. */
async function pids(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const id of [1, 2, 3, 4]) {
    const text = await Deno.readTextFile(`${dir}/.cluster/node${id}.pid`)
      .catch(() => "");
    if (text.trim()) found.push(Number(text));
  }
  return found;
}

const busy = HAS_CURL ? busyPorts() : [];
const skip = !HAS_CURL
  ? " (skipped: no curl on PATH)"
  : busy.length > 0
  ? ` (skipped: ports ${busy.join(", ")} are in use)`
  : "";

Deno.test({
  name: `the README tour, pasted in order, works on a fresh copy${skip}`,
  ignore: skip !== "",
  fn: () => withFixedPorts(tour),
});

/** The test: see the module doc. */
async function tour(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-tour-" });
  const env = {
    // The deno running the tests, first on PATH (cluster.sh runs `deno`).
    PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${
      Deno.env.get("PATH") ?? ""
    }`,
    NO_COLOR: "1",
  };
  const every = new Set<number>();
  try {
    await freshCopy(dir);
    const blocks = tourBlocks(await Deno.readTextFile(`${dir}/README.md`));
    assert.deepEqual(blocks.map((b) => b.heading), [
      "raftexample's commands",
      "The v1 API",
      "Watch, and the command line beside curl",
      "Leases, locks and transactions",
      "Kill and restart a node",
      "Add and remove a node",
    ]);
    // `deno task cluster`, as the README's set-up says.
    const start = await clusterStart(dir, env);
    for (const pid of await pids(dir)) every.add(pid);
    assert.equal(start.code, 0, start.stderr);

    for (const block of blocks) {
      const r = await runBlock(block, dir, env);
      for (const pid of await pids(dir)) every.add(pid);
      const where =
        `README.md line ${block.line} (${block.heading}):\n${r.out}`;
      assert.equal(r.code, 0, where);
      assert.ok(r.curls.length > 0, where);
      for (const [index, status] of r.curls) {
        const line = block.lines[index] ?? "";
        const want = promised(line);
        const ok = want === undefined
          ? status >= 200 && status < 300
          : status === want;
        assert.ok(ok, `${line}\n  answered ${status}\n${where}`);
      }
      await check(block.heading, r.out, dir, env);
    }
  } finally {
    // cluster.sh stop, then any node left (node 4) by pid.
    await new Deno.Command("bash", {
      args: ["scripts/cluster.sh", "stop"],
      cwd: dir,
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(60_000),
    }).output().catch(() => {});
    for (const pid of every) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** What the cluster holds after the block of `heading` (see the module doc). */
async function check(
  heading: string,
  out: string,
  dir: string,
  env: Record<string, string>,
) {
  const read = async (id: number, key: string) =>
    (await request(`${API(id)}/v1/kv/${key}`))?.body;
  switch (heading) {
    case "raftexample's commands":
      assert.match(out, /^bar$/m);
      assert.equal(await read(2, "my-key"), "bar");
      break;
    case "The v1 API": {
      assert.match(out, /color written at index [1-9][0-9]*\n/);
      assert.match(out, /\r\n\r\nblue/, "the reads show blue");
      assert.equal((await request(`${API(1)}/v1/kv/color`))?.status, 404);
      assert.equal(await read(3, "new"), "x");
      assert.equal((await membersOf(1)).leader, 2);
      break;
    }
    case "Watch, and the command line beside curl": {
      // The three changes to color: put blue, put red, delete.
      assert.match(
        out,
        /^\d+\tput\tcolor\tblue\n\d+\tput\tcolor\tred\n\d+\tdelete\tcolor\n/m,
      );
      assert.match(out, /"key":"new","value":"x",.*"version":1/);
      break;
    }
    case "Leases, locks and transactions": {
      assert.match(out, /^holding db, fence [1-9][0-9]*$/m);
      assert.match(out, /succeeded index \d+\ndeleted 1$/m);
      assert.match(out, /^lease \d+ revoked, index \d+$/m);
      for (const key of ["svc%2Fa", "svc%2Fb", "a", "_locks%2Fdb"]) {
        assert.equal((await request(`${API(2)}/v1/kv/${key}`))?.status, 404);
      }
      const leases = await request(`${API(1)}/v1/leases`);
      assert.deepEqual(JSON.parse(leases?.body ?? "{}"), { leases: [] });
      break;
    }
    case "Kill and restart a node": {
      assert.match(out, /^v$/m);
      const leader = (await membersOf(1)).leader;
      assert.ok(leader === 1 || leader === 3, `leader ${leader}`);
      for (const id of [1, 2, 3]) assert.equal(await read(id, "k"), "v");
      break;
    }
    case "Add and remove a node": {
      assert.match(out, /"id":4/, "node 4 was listed as a member");
      assert.match(out, /node 4: removed from the cluster/);
      assert.deepEqual(
        (await membersOf(1)).members.map((m) => m.id),
        [1, 2, 3],
      );
      // Node 4's process stops by itself once it learns it was removed.
      const pid = Number(
        await Deno.readTextFile(`${dir}/.cluster/node4.pid`),
      );
      await waitFor("node 4 to stop", () => {
        try {
          Deno.kill(pid, "SIGCONT"); // Only probes: it is not paused.
          return false;
        } catch {
          return true;
        }
      });
      // cluster.sh knows node 4 left: `start` does not start it again.
      const again = await clusterStart(dir, env);
      const text = again.stdout;
      if (again.code !== 0) throw new GiveUp(text);
      assert.match(text, /node 4 was removed from the cluster: not started/);
      assert.doesNotMatch(text, /node 4 started/);
      break;
    }
  }
}
