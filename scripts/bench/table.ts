/**
 * Turns the runs recorded by scripts/bench.sh (results.jsonl: one JSON object
 * per wrk run) into the Markdown table of docs/PERFORMANCE.md: per workload
 * and system, the median over rounds of throughput, p50, p99 and CPU seconds
 * per 1,000 requests, the errors summed over rounds, and raftkv/etcd ratios
 * of throughput and p99 (ratios of the medians).
 *
 * Run: `deno run --allow-read scripts/bench/table.ts RESULTS.jsonl`
 *
 * @module
 */

/** One wrk run as bench.sh records it. */
export interface Run {
  system: string;
  workload: string;
  round: number;
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errStatus: number;
  errTimeout: number;
  cpuS: number;
  leaderBefore: number;
  leaderAfter: number;
  target: number;
  load1: number;
  /** CPU seconds of the wrk process during the run. */
  wrkCpuS?: number;
  /** CPU seconds the whole machine was busy during the run (not steal). */
  machineBusyS?: number;
  /** CPU seconds the hypervisor gave to other guests during the run. */
  stealS?: number;
  /** raftkv: a fingerprint of its source; etcd: its version. */
  source?: string;
}

/** The medians of one workload on one system. */
export interface Cell {
  rounds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cpuPer1k: number;
  /** CPU seconds per second used by neither the servers nor wrk. */
  otherLoad: number;
}

/** The median of `xs` (mean of the middle two when even); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Non-2xx (as wrk counts them: status > 399) plus socket errors and timeouts. */
export function errorsOf(r: Run): number {
  return r.errStatus + r.errConnect + r.errRead + r.errWrite + r.errTimeout;
}

/**
 * CPU seconds per second of the run that went to other processes on the
 * machine (busy time less the three servers and wrk); NaN when not recorded.
 */
export function otherLoadOf(r: Run): number {
  if (r.machineBusyS === undefined || r.wrkCpuS === undefined) return NaN;
  return Math.max(0, r.machineBusyS - r.cpuS - r.wrkCpuS) /
    (r.durationUs / 1e6);
}

/** Collapses the rounds of one workload on one system into medians. */
export function cellOf(runs: readonly Run[]): Cell {
  return {
    rounds: runs.length,
    rps: median(runs.map((r) => r.requests / (r.durationUs / 1e6))),
    p50Ms: median(runs.map((r) => r.p50Us / 1000)),
    p99Ms: median(runs.map((r) => r.p99Us / 1000)),
    errors: runs.reduce((n, r) => n + errorsOf(r), 0),
    cpuPer1k: median(
      runs.map((r) => r.requests > 0 ? (r.cpuS / r.requests) * 1000 : NaN),
    ),
    otherLoad: median(runs.map(otherLoadOf)),
  };
}

function ms(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0
    ? `${(a / b).toFixed(2)}×`
    : "–";
}

/** The Markdown table (and its notes) for `runs`. */
export function renderTable(runs: readonly Run[]): string {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  const systems = ["raftkv", "etcd"].filter((s) =>
    runs.some((r) => r.system === s)
  );
  const lines = [
    "| workload | system | req/s | p50 ms | p99 ms | errors | req/s raftkv/etcd | p99 raftkv/etcd | CPU s per 1k req | other load |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const w of workloads) {
    const cells = new Map<string, Cell>();
    for (const s of systems) {
      const mine = runs.filter((r) => r.workload === w && r.system === s);
      if (mine.length > 0) cells.set(s, cellOf(mine));
    }
    const raft = cells.get("raftkv");
    const etcd = cells.get("etcd");
    for (const [s, c] of cells) {
      const both = s === "raftkv" && raft !== undefined && etcd !== undefined;
      lines.push(
        `| ${w} | ${s} | ${Math.round(c.rps)} | ${ms(c.p50Ms)} | ${
          ms(c.p99Ms)
        } | ${c.errors} | ${both ? ratio(raft.rps, etcd.rps) : ""} | ${
          both ? ratio(raft.p99Ms, etcd.p99Ms) : ""
        } | ${Number.isFinite(c.cpuPer1k) ? c.cpuPer1k.toFixed(3) : "–"} | ${
          Number.isFinite(c.otherLoad) ? c.otherLoad.toFixed(2) : "–"
        } |`,
      );
    }
  }
  const rounds = [...new Set(runs.map((r) => r.round))].length;
  const notes = [
    "",
    `Medians over ${rounds} round(s); errors are summed over all rounds. ` +
    "CPU s per 1k req: utime+stime of the three server processes during the run, per 1,000 completed requests. " +
    "Other load: CPU seconds per second taken by processes other than the servers and wrk (the machine has 2 CPUs).",
  ];
  const sources = [
    ...new Set(
      runs.filter((r) => r.system === "raftkv" && r.source).map((r) =>
        `${r.source}`
      ),
    ),
  ];
  if (sources.length > 1) {
    notes.push(
      `raftkv's source changed between runs (fingerprints ${
        sources.join(", ")
      }): rounds did not all measure the same code.`,
    );
  }
  const steal = runs.map((r) => r.stealS ?? 0).reduce((a, b) => a + b, 0);
  if (steal > 0) {
    notes.push(
      `CPU time stolen by the hypervisor during all runs: ${
        steal.toFixed(1)
      } s.`,
    );
  }
  const moved = runs.filter((r) => r.leaderBefore !== r.leaderAfter);
  for (const r of moved) {
    notes.push(
      `Leader changed during round ${r.round} ${r.system} ${r.workload} (node ${r.leaderBefore} → ${r.leaderAfter}).`,
    );
  }
  const loads = runs.map((r) => r.load1);
  if (loads.length > 0) {
    notes.push(
      `1-minute load average at the start of the runs: ${
        Math.min(...loads).toFixed(2)
      }–${Math.max(...loads).toFixed(2)}.`,
    );
  }
  return lines.concat(notes).join("\n") + "\n";
}

/** Parses results.jsonl; blank lines are skipped. */
export function parseRuns(text: string): Run[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l) as Run
  );
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (file === undefined) {
    Deno.stderr.writeSync(
      new TextEncoder().encode("usage: table.ts RESULTS.jsonl\n"),
    );
    Deno.exit(2);
  }
  const runs = parseRuns(await Deno.readTextFile(file));
  if (runs.length === 0) {
    Deno.stderr.writeSync(new TextEncoder().encode(`no runs in ${file}\n`));
    Deno.exit(1);
  }
  await Deno.stdout.write(new TextEncoder().encode(renderTable(runs)));
}
