/**
 * The watch benchmark (issue 14; numbers in docs/PERFORMANCE.md "Watch"):
 * write throughput of a three-node raftkv cluster and a three-node etcd 3.4
 * cluster at 64 connections (wrk, scripts/bench/watch_load.lua) with
 *
 * - no watcher,
 * - 100 and 1,000 watchers of a prefix nobody writes (idle),
 * - 100 watchers of the written prefix (busy: every change goes to each),
 *
 * and, in the busy run, the change-to-watcher latency: a probe writes a
 * timestamp every 20 ms and a watcher of that key measures the time from
 * sending the write to receiving its event (p50/p99). The watchers are
 * HTTP streams read by this process, spread over the three nodes: raftkv's
 * `GET /v1/watch` (SSE), etcd's v3 JSON gateway `POST /v3/watch`; the same
 * client code reads both (it counts bytes; the probe watcher parses).
 * Writes go to the leader on both systems. One system runs at a time, each
 * on fresh data directories.
 *
 *   deno task bench:watch [--duration S] [--systems raftkv,etcd]
 *                         [--scenarios none,idle100,idle1000,busy100]
 *                         [--raftkv-flags="--watch-coalesce-ms 0"]
 *                         [--client deno|native]
 *
 * A scenario may be repeated (`none,busy100,none,busy100`) to interleave
 * runs on a noisy machine; the repeats are reported as `none#2`, ...
 * `--raftkv-flags` are added to every raftkv node's command line (use the
 * `=` form: the value starts with `--`). `--client native` reads the
 * watchers' streams with scripts/bench/watch_reader.c (built with `cc`)
 * instead of `Deno.Conn` reads in this process: every byte is still read,
 * at less of the CPU the servers share; the probe stays in Deno.
 *
 * CPU, per run, from /proc: each server's user and system seconds (the
 * leader's apart), this process's (the watchers' client and the probe:
 * it shares the machine with the servers), wrk's (a waited-for child of
 * this process) and the machine's busy cores (other work included).
 * `readsPerWatcherWrite` (socket reads per watcher per write, about the
 * chunks the servers wrote) and `bytesPerWatcherWrite` say how the
 * messages travelled.
 *
 * Env: BENCH_TMPDIR (data directories; a real disk), DENO, BENCH_LOG_DIR
 * (raftkv nodes' logs are appended there),
 * BENCH_RAFTKV_DENO_FLAGS (deno flags of the raftkv nodes, e.g.
 * `--cpu-prof --cpu-prof-dir=prof`; the nodes are stopped with SIGTERM).
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";

const ROOT = new URL("..", import.meta.url).pathname;
const LUA = `${ROOT}scripts/bench/watch_load.lua`;
const KEYS = 1000;
const VALUE_BYTES = 100;
const CONNECTIONS = 64;

const { values: flags } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    systems: { type: "string", default: "raftkv,etcd" },
    scenarios: { type: "string", default: "none,idle100,idle1000,busy100" },
    "raftkv-flags": { type: "string", default: "" },
    client: { type: "string", default: "deno" },
  },
});
const durationS = Number(flags.duration);
const tmp = Deno.env.get("BENCH_TMPDIR") ?? Deno.env.get("TMPDIR") ?? "/tmp";
const deno = Deno.env.get("DENO") ?? Deno.execPath();
const logDir = Deno.env.get("BENCH_LOG_DIR");

function log(text: string): void {
  // deno-lint-ignore no-console -- a script's progress on stderr.
  console.error(`bench_watch: ${text}`);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const b64 = (s: string) => btoa(s);

/** A cluster of three server processes and how to talk to it. */
interface Cluster {
  system: "raftkv" | "etcd";
  urls: string[];
  procs: Deno.ChildProcess[];
  dir: string;
  /** The URL of the node that leads now. */
  leader(): Promise<string>;
  /** The HTTP/1.1 request that opens a watch of `prefix`. */
  watchRequest(prefix: string): string;
  /** One write, for the probe. */
  put(url: string, key: string, value: string): Promise<void>;
}

async function waitUntil(what: string, fn: () => Promise<boolean>) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startRaftkv(): Promise<Cluster> {
  const dir = await Deno.makeTempDir({
    dir: tmp,
    prefix: "bench-watch-raftkv-",
  });
  const urls = [0, 1, 2].map(() => `http://127.0.0.1:${freePort()}`);
  const procs = urls.map((_, i) =>
    new Deno.Command(deno, {
      args: [
        "run",
        "-A",
        ...(Deno.env.get("BENCH_RAFTKV_DENO_FLAGS") ?? "").split(" ").filter(
          (f) => f !== "",
        ),
        `${ROOT}main.ts`,
        "--id",
        String(i + 1),
        "--cluster",
        urls.join(","),
        "--data-dir",
        `${dir}/n${i + 1}`,
        "--log-level",
        "warn",
        ...flags["raftkv-flags"].split(" ").filter((f) => f !== ""),
      ],
      stdout: "null",
      stderr: logDir === undefined ? "null" : "piped",
    }).spawn()
  );
  if (logDir !== undefined) {
    procs.forEach((p, i) => {
      const f = Deno.openSync(`${logDir}/raftkv-${i + 1}.log`, {
        create: true,
        append: true,
      });
      void p.stderr.pipeTo(f.writable).catch(() => {});
    });
  }
  const c: Cluster = {
    system: "raftkv",
    urls,
    procs,
    dir,
    async leader() {
      const s = await (await fetch(`${urls[0]}/v1/status`)).json();
      return urls[s.leader - 1]!;
    },
    watchRequest: (prefix) =>
      `GET /v1/watch?prefix=${
        encodeURIComponent(prefix)
      } HTTP/1.1\r\nHost: raftkv\r\n\r\n`,
    async put(url, key, value) {
      const r = await fetch(`${url}/v1/kv/${encodeURIComponent(key)}`, {
        method: "PUT",
        body: value,
      });
      await r.body?.cancel();
    },
  };
  await waitUntil("raftkv healthy", async () => {
    for (const u of urls) {
      const r = await fetch(`${u}/health`);
      await r.body?.cancel();
      if (r.status !== 200) return false;
    }
    return true;
  });
  return c;
}

async function startEtcd(): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ dir: tmp, prefix: "bench-watch-etcd-" });
  const peers = [0, 1, 2].map(() => `http://127.0.0.1:${freePort()}`);
  const urls = [0, 1, 2].map(() => `http://127.0.0.1:${freePort()}`);
  const initial = peers.map((p, i) => `e${i + 1}=${p}`).join(",");
  const procs = urls.map((url, i) =>
    new Deno.Command("etcd", {
      args: [
        "--name",
        `e${i + 1}`,
        "--data-dir",
        `${dir}/e${i + 1}`,
        "--listen-peer-urls",
        peers[i]!,
        "--initial-advertise-peer-urls",
        peers[i]!,
        "--listen-client-urls",
        url,
        "--advertise-client-urls",
        url,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        `bench-watch-${Deno.pid}`,
        "--logger",
        "zap",
        "--log-level",
        "warn",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const status = async (u: string) =>
    await (await fetch(`${u}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
    })).json();
  const c: Cluster = {
    system: "etcd",
    urls,
    procs,
    dir,
    async leader() {
      for (const u of urls) {
        const s = await status(u);
        if (s.leader === s.header.member_id) return u;
      }
      throw new Error("etcd has no leader");
    },
    watchRequest(prefix) {
      // range_end: the prefix with its last byte + 1.
      const end = prefix.slice(0, -1) +
        String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
      const body = JSON.stringify({
        create_request: { key: b64(prefix), range_end: b64(end) },
      });
      return `POST /v3/watch HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    },
    async put(url, key, value) {
      const r = await fetch(`${url}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: b64(key), value: b64(value) }),
      });
      await r.body?.cancel();
    },
  };
  await waitUntil("etcd healthy", async () => {
    for (const u of urls) {
      const r = await fetch(`${u}/health`);
      const h = await r.json();
      if (h.health !== "true") return false;
    }
    return true;
  });
  return c;
}

async function stop(c: Cluster): Promise<void> {
  for (const p of c.procs) {
    try {
      p.kill("SIGTERM");
    } catch {
      // Gone already.
    }
    const timer = setTimeout(() => {
      try {
        p.kill("SIGKILL");
      } catch {
        // Gone already.
      }
    }, 15_000);
    await p.status;
    clearTimeout(timer);
  }
  await Deno.remove(c.dir, { recursive: true }).catch(() => {});
}

/**
 * One watch stream over a plain TCP connection (HTTP/1.1 written by hand,
 * the same for both systems; fetch's pools stall with many streams): calls
 * `onBytes` with every chunk read, until `signal` aborts. `established`
 * resolves with the first bytes (the response head).
 */
function rawWatch(
  url: string,
  requestText: string,
  signal: AbortSignal,
  onBytes: (chunk: Uint8Array) => void,
): { established: Promise<void>; done: Promise<void> } {
  const established = Promise.withResolvers<void>();
  const done = (async () => {
    const u = new URL(url);
    const conn = await Deno.connect({
      hostname: u.hostname,
      port: Number(u.port),
    });
    const close = () => {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    };
    signal.addEventListener("abort", close, { once: true });
    try {
      await conn.write(new TextEncoder().encode(requestText));
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        established.resolve();
        onBytes(buf.subarray(0, n));
      }
    } catch (err) {
      if (!signal.aborted) established.reject(err);
    } finally {
      signal.removeEventListener("abort", close);
      close();
      established.resolve();
    }
  })();
  return { established: established.promise, done };
}

/** What watchers have read so far. */
interface WatchStats {
  /** Reads that returned data, all watchers together. */
  reads: number;
  /** Bytes read, by watcher. */
  bytes: number[];
}

/** Watchers reading their streams to the end, counting bytes. */
interface Watchers {
  stats(): Promise<WatchStats>;
  /** The process reading them, when not this one (its CPU is the client's). */
  pid?: number;
  close(): Promise<void>;
}

/** The `--client` watchers of `count` streams of `prefix`. */
function openWatchers(
  c: Cluster,
  count: number,
  prefix: string,
): Promise<Watchers> {
  return flags.client === "native" && count > 0
    ? openNativeWatchers(c, count, prefix)
    : openDenoWatchers(c, count, prefix);
}

/** Watchers in this process: `Deno.Conn` reads (`--client deno`). */
async function openDenoWatchers(
  c: Cluster,
  count: number,
  prefix: string,
): Promise<Watchers> {
  const abort = new AbortController();
  const bytes = new Array<number>(count).fill(0);
  let reads = 0;
  const reading: Promise<void>[] = [];
  const opened: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const w = rawWatch(
      c.urls[i % 3]!,
      c.watchRequest(prefix),
      abort.signal,
      (chunk) => {
        bytes[i]! += chunk.length;
        reads++;
      },
    );
    opened.push(w.established);
    reading.push(w.done);
  }
  await Promise.all(opened);
  return {
    stats: () => Promise.resolve({ reads, bytes: bytes.slice() }),
    async close() {
      abort.abort();
      await Promise.all(reading);
    },
  };
}

let nativeReader: string | undefined;

/**
 * Watchers in scripts/bench/watch_reader.c (`--client native`), compiled
 * with `cc` on first use: one epoll loop reading every byte of every
 * stream, as the Deno client does, at less CPU.
 */
async function openNativeWatchers(
  c: Cluster,
  count: number,
  prefix: string,
): Promise<Watchers> {
  if (nativeReader === undefined) {
    const exe = `${await Deno.makeTempDir({ dir: tmp })}/watch_reader`;
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-o", exe, `${ROOT}scripts/bench/watch_reader.c`],
    }).output();
    if (!cc.success) {
      throw new Error(`cc: ${new TextDecoder().decode(cc.stderr)}`);
    }
    nativeReader = exe;
  }
  const urls = c.urls.map((u) => new URL(u));
  const proc = new Deno.Command(nativeReader, {
    args: [
      urls[0]!.hostname,
      urls.map((u) => u.port).join(","),
      String(count),
      c.watchRequest(prefix),
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = proc.stdin.getWriter();
  const lines = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const nl = pending.indexOf("\n");
      if (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("watch_reader ended");
      pending += value;
    }
  };
  if (await nextLine() !== "open") throw new Error("watch_reader: no open");
  return {
    pid: proc.pid,
    async stats() {
      await writer.write(new TextEncoder().encode("stats\n"));
      const [reads, ...bytes] = (await nextLine()).split(" ").map(Number);
      return { reads: reads!, bytes };
    },
    async close() {
      await writer.close();
      await proc.status;
      await lines.cancel();
    },
  };
}

/** Runs wrk against `url`; requests per second and its latencies. */
async function writeLoad(c: Cluster, url: string) {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${durationS}s`,
      "--timeout",
      "10s",
      "-s",
      LUA,
      url,
      "--",
      c.system,
      String(KEYS),
      String(VALUE_BYTES),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) {
    throw new Error(`wrk: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const r = JSON.parse(line.slice("BENCH_JSON ".length));
  const errors = r.errConnect + r.errRead + r.errWrite + r.errStatus +
    r.errTimeout;
  return {
    rps: r.requests / (r.durationUs / 1e6),
    p50Ms: r.p50Us / 1000,
    p99Ms: r.p99Us / 1000,
    errors,
  };
}

/**
 * A probe writing `probe` = its send time every 20 ms, and a watcher of it
 * on a follower measuring send → receive, until `signal` aborts.
 */
async function probeLatency(
  c: Cluster,
  leader: string,
  signal: AbortSignal,
): Promise<number[]> {
  const watchUrl = c.urls.find((u) => u !== leader)!;
  const samples: number[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  const w = rawWatch(watchUrl, c.watchRequest("probe"), signal, (chunk) => {
    const now = performance.now();
    buf += decoder.decode(chunk, { stream: true });
    // Every value is "t=<ms>;": raftkv sends it as text, etcd in base64.
    for (;;) {
      const m = /t=([0-9.]+);|"value":"([A-Za-z0-9+/=]+)"/.exec(buf);
      if (m === null) break;
      buf = buf.slice(m.index + m[0].length);
      const text = m[1] !== undefined ? `t=${m[1]};` : atob(m[2]!);
      const t = /^t=([0-9.]+);$/.exec(text);
      if (t) samples.push(now - Number(t[1]));
    }
  });
  await w.established;
  while (!signal.aborted) {
    await c.put(leader, "probe", `t=${performance.now()};`).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
  }
  await w.done;
  return samples;
}

/** User and system CPU seconds. */
interface Cpu {
  user: number;
  sys: number;
}

const USER_HZ = 100;

/** utime, stime, cutime, cstime of a process, in seconds, from /proc. */
function procCpu(
  pid: number | "self",
): Cpu & { childUser: number; childSys: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    user: Number(f[11]) / USER_HZ,
    sys: Number(f[12]) / USER_HZ,
    // Children waited for: wrk, once its run has ended.
    childUser: Number(f[13]) / USER_HZ,
    childSys: Number(f[14]) / USER_HZ,
  };
}

/** The whole machine's busy and total CPU seconds, from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const t = line.trim().split(/\s+/).slice(1).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  const idle = t[3]! + (t[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / USER_HZ, total: total / USER_HZ };
}

/**
 * A CPU snapshot of everything in a run: each server (user/system), the
 * client (this process: the probe, and the watchers or their reader
 * process), wrk (through this process's
 * waited-for children) and the machine.
 */
function cpuSnapshot(c: Cluster, watchers: Watchers) {
  const self = procCpu("self");
  const u = cpuUsage();
  const reader = watchers.pid === undefined
    ? { user: 0, sys: 0 }
    : procCpu(watchers.pid);
  return {
    servers: c.procs.map((p) => procCpu(p.pid)),
    client: {
      user: u.user / 1e6 + reader.user,
      sys: u.system / 1e6 + reader.sys,
    },
    wrk: { user: self.childUser, sys: self.childSys },
    machine: machineCpu(),
  };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** CPU used between two {@linkcode cpuSnapshot}s, in seconds. */
function cpuDelta(
  a: ReturnType<typeof cpuSnapshot>,
  b: ReturnType<typeof cpuSnapshot>,
  leaderIndex: number,
) {
  const d = (x: Cpu, y: Cpu): Cpu => ({
    user: r3(y.user - x.user),
    sys: r3(y.sys - x.sys),
  });
  const servers = b.servers.map((s, i) => d(a.servers[i]!, s));
  const serverUser = servers.reduce((n, s) => n + s.user, 0);
  const serverSys = servers.reduce((n, s) => n + s.sys, 0);
  return {
    serverCpuS: r3(serverUser + serverSys),
    serverUserS: r3(serverUser),
    serverSysS: r3(serverSys),
    leaderCpu: servers[leaderIndex]!,
    followersCpu: servers.filter((_, i) => i !== leaderIndex),
    clientCpu: d(a.client, b.client),
    wrkCpu: d(a.wrk, b.wrk),
    // Busy cores of the whole machine (others' work included).
    machineBusyCores: r3(
      (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total) *
        (navigator.hardwareConcurrency ?? 1),
    ),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const results: Record<string, Record<string, unknown>> = {};
for (const system of flags.systems.split(",")) {
  log(`${system}: starting`);
  const c = system === "raftkv" ? await startRaftkv() : await startEtcd();
  try {
    const leader = await c.leader();
    for (const scenario of flags.scenarios.split(",")) {
      const m = /^(none|idle|busy)([0-9]*)$/.exec(scenario);
      if (!m) throw new Error(`unknown scenario ${scenario}`);
      const count = m[1] === "none" ? 0 : Number(m[2]);
      const prefix = m[1] === "busy" ? "w/" : "idle/";
      const watchers = await openWatchers(c, count, prefix);
      const probe = new AbortController();
      const latency = m[1] === "busy"
        ? probeLatency(c, leader, probe.signal)
        : Promise.resolve([]);
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      const cpuBefore = cpuSnapshot(c, watchers);
      const before = await watchers.stats();
      const load = await writeLoad(c, leader);
      const after = await watchers.stats();
      const cpu = cpuDelta(
        cpuBefore,
        cpuSnapshot(c, watchers),
        c.urls.indexOf(leader),
      );
      const reads = after.reads - before.reads;
      const bytesRead = sum(after.bytes) - sum(before.bytes);
      probe.abort();
      const samples = (await latency).sort((a, b) => a - b);
      await watchers.close();
      const received = after.bytes.filter((b) => b > 0).length;
      const row = {
        ...load,
        ...cpu,
        serverCpuPerWriteMs: r3(cpu.serverCpuS / (load.rps * durationS) * 1e3),
        watchers: count,
        watchersReceiving: received,
        // Socket reads per watcher per write: 1 when every message comes
        // alone, less when the server sends several in one chunk.
        ...(count > 0
          ? {
            readsPerWatcherWrite: reads / count / (load.rps * durationS),
            bytesPerWatcherWrite: bytesRead / count / (load.rps * durationS),
          }
          : {}),
        ...(samples.length > 0
          ? {
            latencyP50Ms: percentile(samples, 0.5),
            latencyP99Ms: percentile(samples, 0.99),
            latencySamples: samples.length,
          }
          : {}),
      };
      // A scenario may be listed again (interleaved repeats): #2, #3...
      const bySystem = results[system] ??= {};
      let name = scenario;
      for (let n = 2; name in bySystem; n++) name = `${scenario}#${n}`;
      bySystem[name] = row;
      log(`${system} ${name}: ${JSON.stringify(row)}`);
    }
  } finally {
    await stop(c);
  }
}
// deno-lint-ignore no-console -- the result, on stdout.
console.log(JSON.stringify(results, null, 2));
