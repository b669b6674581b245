/**
 * Peak memory of a follower catching up by snapshot at a large state: three
 * nodes on loopback, node 3 killed at once, `--keys` keys of
 * `--value-bytes` bytes written through the others (transactions of
 * `--batch` puts, default 16, so the log is long enough to be compacted;
 * 16 at a time), the leader left to take a snapshot and compact its
 * log past node 3, then node 3 restarted: it must catch up by snapshot.
 * Prints the snapshot size, node 3's catch-up time, and its peak RSS
 * (`VmHWM` of /proc/PID/status) against the leader's.
 *
 * Run: `deno run -A scripts/bench_snapshot_receive.ts [--keys 300000]
 * [--value-bytes 200] [--main main.ts]` (`--main` another checkout's
 * main.ts to measure it the same way). Numbers on a loaded box are noisy.
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    keys: { type: "string", default: "300000" },
    "value-bytes": { type: "string", default: "200" },
    main: {
      type: "string",
      default: new URL("../main.ts", import.meta.url).pathname,
    },
    batch: { type: "string", default: "16" },
    port: { type: "string", default: String(21000 + (Deno.pid % 300) * 30) },
  },
});
const print = (line: string) =>
  Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
const keys = Number(args.keys);
const batch = Number(args.batch);
const valueBytes = Number(args["value-bytes"]);
const base = Number(args.port);
const dir = await Deno.makeTempDir({ prefix: "raftkv-snaprecv-" });
const peerUrl = (id: number) => `http://127.0.0.1:${base + id * 10}`;
const clientUrl = (id: number) => `http://127.0.0.1:${base + id * 10 + 1}`;
const cluster = [1, 2, 3].map(peerUrl).join(",");
const procs = new Map<number, Deno.ChildProcess>();

function spawn(id: number): Deno.ChildProcess {
  const p = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      args.main,
      "--id",
      String(id),
      "--cluster",
      cluster,
      "--port",
      String(base + id * 10 + 1),
      "--data-dir",
      `${dir}/n${id}`,
      "--snapshot-entries",
      "1000",
      // Snapshots however large the state is next to the log, so the
      // leader compacts its log past node 3 soon.
      "--snapshot-log-percent",
      "1",
    ],
    cwd: new URL(".", `file://${args.main}`).pathname,
    // VERBOSE=1 shows the nodes' logs too.
    stdout: Deno.env.get("VERBOSE") ? "inherit" : "null",
    stderr: Deno.env.get("VERBOSE") ? "inherit" : "null",
  }).spawn();
  procs.set(id, p);
  return p;
}

async function json(url: string, init?: RequestInit): Promise<unknown> {
  try {
    const res = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(5000),
    });
    const body = await res.text();
    return res.ok ? JSON.parse(body || "null") : undefined;
  } catch {
    return undefined;
  }
}

type Status = {
  role: string;
  commit: number;
  applied: number;
  snapshotIndex: number;
};
const status = (id: number) =>
  json(`${clientUrl(id)}/v1/status`) as Promise<Status | undefined>;

async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
) {
  if (Deno.env.get("VERBOSE")) print(`waiting: ${what}`);
  const deadline = Date.now() + 300_000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function vm(pid: number, field: string): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : NaN;
}

const mb = (n: number) => `${(n / 1048576).toFixed(0)} MB`;

try {
  for (const id of [1, 2, 3]) spawn(id);
  await until("a leader", async () => ((await status(1))?.commit ?? 0) > 0);
  await until("node 3 up", async () => ((await status(3))?.applied ?? 0) > 0);
  procs.get(3)!.kill("SIGKILL");
  await procs.get(3)!.status;
  const started = performance.now();
  const value = "v".repeat(valueBytes);
  let next = 0;
  const writer = async () => {
    for (;;) {
      const from = next;
      if (from >= keys) return;
      next = Math.min(keys, from + batch);
      const success = [];
      for (let i = from; i < next; i++) {
        success.push({
          op: "put",
          key: `k${String(i).padStart(8, "0")}`,
          value,
        });
      }
      const body = JSON.stringify({ success });
      await until("a write", async () => {
        for (const id of [1, 2]) {
          const r = await json(`${clientUrl(id)}/v1/txn`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          });
          if (r) return true;
        }
        return false;
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, writer));
  const loaded = (performance.now() - started) / 1000;
  const leader = await until("a leader", async () => {
    for (const id of [1, 2]) {
      const s = await status(id);
      if (s?.role === "leader") return { id, s };
    }
    return undefined;
  });
  // The leader's snapshot must leave node 3 behind its log.
  await until("a snapshot past node 3", async () => {
    const s = await status(leader.id);
    return s && s.snapshotIndex > 6000;
  });
  const target = (await status(leader.id))!.commit;
  const snapFiles = [...Deno.readDirSync(`${dir}/n${leader.id}/snap`)]
    .filter((e) => e.name.endsWith(".snap"))
    .map((e) => Deno.statSync(`${dir}/n${leader.id}/snap/${e.name}`).size);
  const restart = performance.now();
  const p3 = spawn(3);
  await until("node 3 caught up", async () => {
    const s = await status(3);
    return s && s.applied >= target && s.snapshotIndex > 0;
  });
  const caughtUp = (performance.now() - restart) / 1000;
  const leaderPid = procs.get(leader.id)!.pid;
  print(`main: ${args.main}`);
  print(
    `${keys} keys of ${valueBytes} bytes written in ${loaded.toFixed(1)} s; ` +
      `leader's snapshot file ${mb(Math.max(...snapFiles))}`,
  );
  print(
    `node 3 caught up by snapshot in ${caughtUp.toFixed(1)} s; ` +
      `peak RSS (VmHWM) node 3 ${mb(vm(p3.pid, "VmHWM"))}, ` +
      `now ${mb(vm(p3.pid, "VmRSS"))}; leader ${
        mb(vm(leaderPid, "VmHWM"))
      } peak, ${mb(vm(leaderPid, "VmRSS"))} now`,
  );
} finally {
  for (const p of procs.values()) {
    try {
      p.kill("SIGKILL");
    } catch {
      // already gone
    }
    await p.status;
  }
  await Deno.remove(dir, { recursive: true });
}
