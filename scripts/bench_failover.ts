// deno-lint-ignore-file no-console
// A benchmark script: it reports on the terminal.
/**
 * What writes answer across a leader failover (docs/PERFORMANCE.md, "Leader
 * failover"): three real nodes on 127.0.0.1, a steady write load of
 * `--connections` loops through one follower, `kill -9` of the leader once
 * `--before` writes were acknowledged, and the load goes on until
 * `--after` more writes were acknowledged under the new leader (or 60 s
 * passed). Counts the answers (2xx / 503 / 504 / none), overall and for
 * the writes in flight at the kill, then checks on a live node that every
 * 2xx write is there and no 503 write is (each key is written once, with
 * a unique value).
 *
 * Run: `deno run -A scripts/bench_failover.ts [--main path/to/main.ts]
 * [--connections 64] [--before 3000] [--after 3000]`. `--main` lets the same
 * script measure another tree (the "before" figures).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freePort } from "../tests/e2e/cluster.ts";

const { values: args } = parseArgs({
  options: {
    main: {
      type: "string",
      default: new URL("../main.ts", import.meta.url).pathname,
    },
    connections: { type: "string", default: "64" },
    before: { type: "string", default: "3000" },
    after: { type: "string", default: "3000" },
  },
});
const CONNECTIONS = Number(args.connections);
const BEFORE = Number(args.before);
const AFTER = Number(args.after);
/** The most writes sent in all, and the longest the load runs. */
const MAX_WRITES = 200_000;
const MAX_MS = 120_000;

const dir = await Deno.makeTempDir({ prefix: "raftkv-failover-" });
const urls = [1, 2, 3].map(() => `http://127.0.0.1:${freePort()}`);
const procs = new Map<number, Deno.ChildProcess>();

function spawn(id: number): void {
  procs.set(
    id,
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        args.main!,
        "--id",
        String(id),
        "--cluster",
        urls.join(","),
        "--data-dir",
        `${dir}/node${id}`,
        "--log-level",
        "warn",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn(),
  );
}

async function json(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
  if (!r.ok) {
    await r.body?.cancel();
    throw new Error(`${url}: ${r.status}`);
  }
  return await r.json();
}

/** Polls until the live nodes agree on a leader that is not `not`. */
async function leader(not = 0): Promise<number> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    try {
      const seen = new Set<number>();
      for (const id of procs.keys()) {
        seen.add(Number((await json(`${urls[id - 1]}/v1/status`)).leader));
      }
      const [l] = seen;
      if (seen.size === 1 && l && l !== not) return l;
    } catch {
      // Not up yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no leader");
}

interface Write {
  key: string;
  value: string;
  start: number;
  end?: number;
  status?: number;
}

for (const id of [1, 2, 3]) spawn(id);
let killedAt = 0;
let ackedAfterKill = 0;
try {
  const old = await leader();
  const follower = [1, 2, 3].find((id) => id !== old)!;
  const target = urls[follower - 1]!;
  console.log(`leader ${old}; writing through node ${follower}`);
  const writes: Write[] = [];
  let acked = 0;
  let stop = false;
  const began = performance.now();

  const loop = async (c: number) => {
    for (let n = 0; !stop && writes.length < MAX_WRITES; n++) {
      const w: Write = {
        key: `f-${c}-${n}`,
        value: crypto.randomUUID(),
        start: performance.now(),
      };
      writes.push(w);
      try {
        const r = await fetch(`${target}/v1/kv/${w.key}`, {
          method: "PUT",
          body: w.value,
          signal: AbortSignal.timeout(15_000),
        });
        await r.body?.cancel();
        w.status = r.status;
      } catch {
        w.status = 0;
      }
      w.end = performance.now();
      if (w.status >= 200 && w.status < 300) {
        acked++;
        if (killedAt > 0 && w.start > killedAt) ackedAfterKill++;
      }
      if (performance.now() - began > MAX_MS) stop = true;
    }
  };
  const loops = Array.from({ length: CONNECTIONS }, (_, c) => loop(c));

  while (acked < BEFORE && !stop) await new Promise((r) => setTimeout(r, 10));
  killedAt = performance.now();
  procs.get(old)!.kill("SIGKILL");
  await procs.get(old)!.status;
  procs.delete(old);
  const next = await leader(old);
  const electedMs = performance.now() - killedAt;
  while (ackedAfterKill < AFTER && !stop) {
    await new Promise((r) => setTimeout(r, 10));
  }
  stop = true;
  await Promise.all(loops);

  const count = (ws: Write[]) => {
    const by = new Map<string, number>();
    for (const w of ws) {
      const k = w.status === 0 ? "none" : String(w.status);
      by.set(k, (by.get(k) ?? 0) + 1);
    }
    return Object.fromEntries([...by].sort());
  };
  const inFlight = writes.filter((w) =>
    w.start <= killedAt && (w.end ?? Infinity) > killedAt
  );
  const slowest = Math.max(...inFlight.map((w) => w.end! - w.start));

  // What the cluster holds: a linearizable listing on the new leader.
  const held = new Map<string, string>();
  let after: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ prefix: "f-", limit: "10000" });
    if (after) q.set("after", after);
    const page = await json(`${urls[next - 1]}/v1/kv?${q}`) as {
      items: { key: string; value: string }[];
      more: boolean;
    };
    for (const it of page.items) held.set(it.key, it.value);
    if (!page.more || page.items.length === 0) break;
    after = page.items.at(-1)!.key;
  }
  const lost = writes.filter((w) =>
    w.status! >= 200 && w.status! < 300 && held.get(w.key) !== w.value
  ).length;
  const applied503 = writes.filter((w) =>
    w.status === 503 && held.has(w.key)
  ).length;
  const applied504 = writes.filter((w) =>
    w.status === 504 && held.has(w.key)
  ).length;
  console.log(JSON.stringify(
    {
      connections: CONNECTIONS,
      writes: writes.length,
      answers: count(writes),
      inFlightAtKill: count(inFlight),
      slowestInFlightMs: Math.round(slowest),
      newLeaderSeenAfterMs: Math.round(electedMs),
      lostAcked: lost,
      applied503,
      applied504,
    },
    null,
    1,
  ));
} finally {
  for (const p of procs.values()) {
    try {
      p.kill("SIGKILL");
    } catch {
      // Gone.
    }
    await p.status;
  }
  await Deno.remove(dir, { recursive: true });
}
