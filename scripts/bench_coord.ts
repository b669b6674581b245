// deno-lint-ignore-file no-console
// A benchmark script: it reports on the terminal.
/**
 * Coordination benchmarks, raftkv against etcd 3.4 in the same run
 * (docs/PERFORMANCE.md, "Transactions and leases"). Not in CI. Each system
 * gets a fresh three-node cluster on 127.0.0.1; the two never run at the
 * same time.
 *
 * - txn: `wrk` (scripts/bench/txn.lua) at `--connections` connections to the
 *   leader for `--duration` seconds; each transaction has 2 compares and 2
 *   puts (raftkv `POST /v1/txn`, etcd `POST /v3/kv/txn`).
 * - leases: `--leases` leases of `--ttl` seconds, one key each, then every
 *   lease kept alive every ttl/3 (spread evenly) for two rounds, sent to the
 *   leader; the leader's CPU seconds per second over those rounds
 *   (utime+stime from /proc). Afterwards every key must still be there.
 * - locks: 16 contenders, each with its own lease, acquire and release one
 *   lock on the leader for `--duration` seconds (raftkv `/v1/locks`, etcd
 *   `/v3/lock/lock` and `/v3/lock/unlock`); cycles per second.
 * - ttl bound (raftkv only): `--bound-leases` leases of the minimum TTL, one
 *   keepalive each, then how long after its `200` a linearizable GET of the
 *   key first answers 404, minus the TTL.
 *
 * Run: `deno run -A scripts/bench_coord.ts [--systems raftkv,etcd]
 * [--duration 10] [--connections 64] [--leases 10000] [--ttl 30]
 * [--parts txn,leases,locks,ttl]` (`--parts` picks the measurements).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePort } from "../tests/e2e/cluster.ts";

const { values: args } = parseArgs({
  options: {
    systems: { type: "string", default: "raftkv,etcd" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "64" },
    leases: { type: "string", default: "10000" },
    ttl: { type: "string", default: "30" },
    "bound-leases": { type: "string", default: "20" },
    parts: { type: "string", default: "txn,leases,locks,ttl" },
  },
});
const DURATION = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const LEASES = Number(args.leases);
const TTL = Number(args.ttl);
const BOUND_LEASES = Number(args["bound-leases"]);
const PARTS = new Set(args.parts!.split(","));
const root = new URL("..", import.meta.url).pathname;

interface Cluster {
  system: "raftkv" | "etcd";
  urls: string[];
  procs: Deno.ChildProcess[];
  dir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(system: "raftkv" | "etcd", dir: string): Cluster {
  const peers = [1, 2, 3].map(() => freePort());
  const clients = [1, 2, 3].map(() => freePort());
  const procs: Deno.ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const cmd = system === "raftkv"
      ? new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${root}main.ts`,
          "--id",
          String(i + 1),
          "--cluster",
          peers.map((p) => `http://127.0.0.1:${p}`).join(","),
          "--port",
          String(clients[i]),
          "--data-dir",
          `${dir}/raftkv-${i + 1}`,
          "--log-level",
          "warn",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      })
      : new Deno.Command("etcd", {
        args: [
          "--name",
          `e${i + 1}`,
          "--data-dir",
          `${dir}/etcd-${i + 1}`,
          "--listen-peer-urls",
          `http://127.0.0.1:${peers[i]}`,
          "--initial-advertise-peer-urls",
          `http://127.0.0.1:${peers[i]}`,
          "--listen-client-urls",
          `http://127.0.0.1:${clients[i]}`,
          "--advertise-client-urls",
          `http://127.0.0.1:${clients[i]}`,
          "--initial-cluster",
          peers.map((p, j) => `e${j + 1}=http://127.0.0.1:${p}`).join(","),
          "--initial-cluster-state",
          "new",
          "--log-level",
          "warn",
          "--logger",
          "zap",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      });
    procs.push(cmd.spawn());
  }
  return {
    system,
    urls: clients.map((p) => `http://127.0.0.1:${p}`),
    procs,
    dir,
  };
}

async function post(url: string, body: unknown): Promise<Response> {
  return await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    signal: AbortSignal.timeout(10_000),
  });
}

/** The index (0..2) of the leader, once every node agrees. */
async function leaderOf(c: Cluster): Promise<number> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    try {
      if (c.system === "raftkv") {
        const ids = new Set<number>();
        for (const u of c.urls) {
          const r = await fetch(`${u}/v1/status`);
          ids.add((await r.json()).leader);
        }
        const [id] = ids;
        if (ids.size === 1 && id) return id - 1;
      } else {
        const seen: { leader: string; me: string }[] = [];
        for (const u of c.urls) {
          const s = await (await post(`${u}/v3/maintenance/status`, {})).json();
          seen.push({ leader: s.leader, me: s.header.member_id });
        }
        const i = seen.findIndex((s) => s.leader === s.me);
        if (i >= 0 && seen.every((s) => s.leader === seen[i]!.leader)) return i;
      }
    } catch {
      // Not up yet.
    }
    await sleep(100);
  }
  throw new Error(`${c.system}: no leader`);
}

/** utime + stime of `pid`, in seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function txnBench(c: Cluster, leader: number): Promise<string> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${DURATION}s`,
      "--timeout",
      "10s",
      "-s",
      `${root}scripts/bench/txn.lua`,
      c.urls[leader]!,
    ],
    env: { TXN_API: c.system },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("RESULT")) ?? text;
  const m = Object.fromEntries(
    [...line.matchAll(/(\w+)=([\d.]+)/g)].map((x) => [x[1], Number(x[2])]),
  );
  return `txn ${c.system}: ${
    (m.requests! / m.duration_s!).toFixed(0)
  } txn/s, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms, non-2xx ${m.non2xx}, errors ${m.errors}`;
}

const b64 = (s: string) => btoa(s);

/** Runs `n` jobs with at most `width` at a time. */
async function pool(
  n: number,
  width: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

async function leaseBench(c: Cluster, leader: number): Promise<string> {
  const url = c.urls[leader]!;
  const ids: string[] = new Array(LEASES);
  const grantStart = performance.now();
  await pool(LEASES, 64, async (i) => {
    const key = `lk${String(i).padStart(6, "0")}`;
    if (c.system === "raftkv") {
      const g = await post(`${url}/v1/leases`, { ttl: TTL });
      const id = String((await g.json()).id);
      ids[i] = id;
      const p = await fetch(`${url}/v1/kv/${key}?lease=${id}`, {
        method: "PUT",
        body: "v",
      });
      await p.body?.cancel();
    } else {
      const g = await post(`${url}/v3/lease/grant`, { TTL: String(TTL) });
      const id = String((await g.json()).ID);
      ids[i] = id;
      const p = await post(`${url}/v3/kv/put`, {
        key: b64(key),
        value: b64("v"),
        lease: id,
      });
      await p.body?.cancel();
    }
  });
  const grantSeconds = (performance.now() - grantStart) / 1000;
  // Keepalives: each lease every ttl/3, spread evenly, for two rounds.
  const period = (TTL * 1000) / 3;
  const total = LEASES * 2;
  let failed = 0;
  const failures = new Map<number, number>();
  let inflight = 0;
  const pid = c.procs[leader]!.pid;
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const due = t0 + (k * period) / LEASES;
    const wait = due - performance.now();
    if (wait > 5) await sleep(wait);
    while (inflight >= 256) await sleep(1);
    inflight++;
    const id = ids[k % LEASES]!;
    const p = (c.system === "raftkv"
      ? post(`${url}/v1/leases/${id}/keepalive`, {})
      : post(`${url}/v3/lease/keepalive`, { ID: id }))
      .then(async (r) => {
        if (!r.ok) {
          failed++;
          failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
        }
        await r.body?.cancel();
      }, () => {
        failed++;
      }).finally(() =>
        inflight--
      );
    pending.push(p);
  }
  await Promise.all(pending);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpu0;
  // Every key is still there.
  let present = 0;
  if (c.system === "raftkv") {
    const r = await fetch(`${url}/v1/kv?prefix=lk&limit=10000`);
    present = (await r.json()).items.length;
  } else {
    const r = await post(`${url}/v3/kv/range`, {
      key: b64("lk"),
      range_end: b64("ll"),
      count_only: true,
    });
    present = Number((await r.json()).count ?? 0);
  }
  return `leases ${c.system}: ${LEASES} leases granted with a key each in ${
    grantSeconds.toFixed(1)
  } s; ${total} keepalives in ${seconds.toFixed(1)} s (${
    (total / seconds).toFixed(0)
  }/s, ${failed} failed ${
    JSON.stringify(Object.fromEntries(failures))
  }): leader CPU ${
    (cpu / seconds).toFixed(3)
  } s/s; keys present after: ${present}`;
}

/** Lock acquire/release cycles per second with `n` contenders on the leader. */
async function lockBench(
  c: Cluster,
  leader: number,
  n: number,
): Promise<string> {
  const url = c.urls[leader]!;
  let cycles = 0;
  let failed = 0;
  const until = performance.now() + DURATION * 1000;
  await Promise.all(
    Array.from({ length: n }, async () => {
      const lease = c.system === "raftkv"
        ? String(
          (await (await post(`${url}/v1/leases`, { ttl: 60 })).json()).id,
        )
        : String(
          (await (await post(`${url}/v3/lease/grant`, { TTL: "60" })).json())
            .ID,
        );
      while (performance.now() < until) {
        if (c.system === "raftkv") {
          const r = await post(`${url}/v1/locks/bench`, {
            lease: Number(lease),
            wait: "5s",
          });
          await r.body?.cancel();
          if (r.status !== 200) {
            failed++;
            continue;
          }
          const d = await fetch(`${url}/v1/locks/bench?lease=${lease}`, {
            method: "DELETE",
          });
          await d.body?.cancel();
        } else {
          const r = await post(`${url}/v3/lock/lock`, {
            name: b64("bench"),
            lease,
          });
          if (r.status !== 200) {
            await r.body?.cancel();
            failed++;
            continue;
          }
          const { key } = await r.json();
          const d = await post(`${url}/v3/lock/unlock`, { key });
          await d.body?.cancel();
        }
        cycles++;
      }
    }),
  );
  return `locks ${c.system}: ${n} contenders, ${
    (cycles / DURATION).toFixed(1)
  } acquire/release cycles/s (${failed} acquires not granted)`;
}

async function ttlBound(c: Cluster, leader: number): Promise<string> {
  const url = c.urls[leader]!;
  const over: number[] = [];
  await Promise.all(
    Array.from({ length: BOUND_LEASES }, async (_, i) => {
      const g = await post(`${url}/v1/leases`, { ttl: 2 });
      const { id, ttl } = await g.json();
      const key = `bound${i}`;
      await (await fetch(`${url}/v1/kv/${key}?lease=${id}`, {
        method: "PUT",
        body: "v",
      })).body?.cancel();
      const k = await post(`${url}/v1/leases/${id}/keepalive`, {});
      await k.body?.cancel();
      const answered = performance.now();
      for (;;) {
        const r = await fetch(`${url}/v1/kv/${key}`);
        await r.body?.cancel();
        if (r.status === 404) break;
        await sleep(20);
      }
      over.push((performance.now() - answered) / 1000 - ttl);
    }),
  );
  over.sort((a, b) => a - b);
  return `ttl bound raftkv: a key of a ${2} s lease answered 404 after ttl + ${
    over[0]!.toFixed(3)
  } .. ${over.at(-1)!.toFixed(3)} s (median ${
    over[Math.floor(over.length / 2)]!.toFixed(3)
  }) past its last keepalive's 200 (${over.length} leases)`;
}

const report: string[] = [];
for (const system of args.systems!.split(",") as ("raftkv" | "etcd")[]) {
  const dir = await Deno.makeTempDir({ prefix: `bench-coord-${system}-` });
  const c = start(system, dir);
  try {
    const leader = await leaderOf(c);
    if (PARTS.has("txn")) {
      report.push(await txnBench(c, leader));
      console.log(report.at(-1));
    }
    if (PARTS.has("leases")) {
      report.push(await leaseBench(c, leader));
      console.log(report.at(-1));
    }
    if (PARTS.has("locks")) {
      report.push(await lockBench(c, leader, 16));
      console.log(report.at(-1));
    }
    if (system === "raftkv" && PARTS.has("ttl")) {
      report.push(await ttlBound(c, leader));
      console.log(report.at(-1));
    }
  } finally {
    for (const p of c.procs) {
      try {
        p.kill("SIGKILL");
      } catch {
        // Gone.
      }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
}
console.log(`\n${report.join("\n")}`);
