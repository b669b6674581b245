/**
 * Reports the memory and disk run of scripts/bench.sh (`--million`): the
 * write throughput and latency, each node's peak RSS (VmHWM) and data-dir
 * size, the WAL segment count and bytes from /v1/status, and a condensed
 * series of samples taken during the run, which shows whether compaction
 * keeps the WAL bounded.
 *
 * Run: `deno run --allow-read scripts/bench/memory_report.ts RUN.json SAMPLES.jsonl`
 *
 * @module
 */

/** The count-bounded wrk run (fill.lua) plus what bench.sh adds. */
export interface MillionRun {
  system: string;
  ok: number;
  non2xx: number;
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errTimeout: number;
  keys: number;
  conns: number;
  target: number;
  cpuS: number;
  leaderBefore?: number;
  leaderAfter?: number;
  /** A fingerprint of raftkv's source. */
  source?: string;
}

/** The fields of raftkv's /v1/status this report reads. */
export interface NodeStatus {
  applied?: number;
  snapshotIndex?: number;
  walSegments?: number;
  walBytes?: number;
  keys?: number;
}

/** One node at one moment; `final` marks the sample taken after the load. */
export interface Sample {
  t?: number;
  final?: boolean;
  node: number;
  rssKb: number | null;
  hwmKb: number | null;
  dirBytes: number | null;
  status: NodeStatus | null;
}

const MB = 1024 * 1024;

function mb(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined || !Number.isFinite(bytes)
    ? "–"
    : (bytes / MB).toFixed(1);
}

function maxOf(xs: readonly (number | null | undefined)[]): number | null {
  const ok = xs.filter((x): x is number =>
    typeof x === "number" && Number.isFinite(x)
  );
  return ok.length === 0 ? null : Math.max(...ok);
}

function num(x: number | null | undefined): string {
  return x === null || x === undefined ? "–" : String(x);
}

/** Picks at most `n` evenly spaced items, always keeping the first and last. */
export function spread<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  const out: T[] = [];
  for (let k = 0; k < n; k++) {
    out.push(xs[Math.round((k * (xs.length - 1)) / (n - 1))]!);
  }
  return out;
}

/** The Markdown report for one million-write run. */
export function renderReport(
  run: MillionRun,
  samples: readonly Sample[],
): string {
  const secs = run.durationUs / 1e6;
  const socket = run.errConnect + run.errRead + run.errWrite + run.errTimeout;
  const lines: string[] = [
    `${run.system}: ${run.ok} writes answered 2xx over ${run.keys} keys (random), ` +
    `${run.conns} connections to node ${run.target}, in ${
      secs.toFixed(1)
    } s: ` +
    `${Math.round(run.ok / secs)} writes/s, p50 ${
      (run.p50Us / 1000).toFixed(2)
    } ms, ` +
    `p99 ${
      (run.p99Us / 1000).toFixed(2)
    } ms; ${run.non2xx} non-2xx, ${socket} socket errors/timeouts; ` +
    `${
      ((run.cpuS / Math.max(run.requests, 1)) * 1000).toFixed(3)
    } CPU s per 1k writes (three servers).`,
    ...(run.leaderBefore !== undefined && run.leaderBefore !== run.leaderAfter
      ? [
        "",
        `The leader changed during the run (node ${run.leaderBefore} → ${run.leaderAfter}); ` +
        "requests kept going to the first leader, which then forwarded them.",
      ]
      : []),
    ...(run.source ? ["", `raftkv source fingerprint ${run.source}.`] : []),
    "",
    "| node | peak RSS (VmHWM) MB | RSS at end MB | data dir at end MB | data dir max MB | WAL segments at end (max) | WAL MB at end | WAL MB max | snapshot index | applied | keys |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const nodes = [...new Set(samples.map((s) => s.node))].sort((a, b) => a - b);
  for (const node of nodes) {
    const mine = samples.filter((s) => s.node === node);
    const last = mine.find((s) => s.final) ?? mine[mine.length - 1];
    const hwm = maxOf(mine.map((s) => s.hwmKb));
    lines.push(
      `| ${node} | ${mb(hwm === null ? null : hwm * 1024)} | ${
        mb(
          last?.rssKb === null || last?.rssKb === undefined
            ? null
            : last.rssKb * 1024,
        )
      } | ${mb(last?.dirBytes)} | ${mb(maxOf(mine.map((s) => s.dirBytes)))} | ${
        num(last?.status?.walSegments)
      } (${num(maxOf(mine.map((s) => s.status?.walSegments)))}) | ${
        mb(last?.status?.walBytes)
      } | ${mb(maxOf(mine.map((s) => s.status?.walBytes)))} | ${
        num(last?.status?.snapshotIndex)
      } | ${num(last?.status?.applied)} | ${num(last?.status?.keys)} |`,
    );
  }
  const times = [
    ...new Set(samples.filter((s) => !s.final).map((s) => s.t ?? 0)),
  ].sort((a, b) => a - b);
  if (times.length > 0) {
    lines.push(
      "",
      "Samples during the run (per node n1/n2/n3):",
      "",
      "| t s | applied (n1) | snapshot index (n1) | WAL segments | WAL MB | data dir MB | RSS MB |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const t of spread(times, 15)) {
      const at = nodes.map((n) =>
        samples.find((s) => !s.final && s.t === t && s.node === n)
      );
      const first = at[0];
      lines.push(
        `| ${t} | ${num(first?.status?.applied)} | ${
          num(first?.status?.snapshotIndex)
        } | ${at.map((s) => num(s?.status?.walSegments)).join("/")} | ${
          at.map((s) => mb(s?.status?.walBytes)).join("/")
        } | ${at.map((s) => mb(s?.dirBytes)).join("/")} | ${
          at.map((s) =>
            mb(
              s?.rssKb === null || s?.rssKb === undefined
                ? null
                : s.rssKb * 1024,
            )
          ).join("/")
        } |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const [runFile, samplesFile] = Deno.args;
  if (runFile === undefined || samplesFile === undefined) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        "usage: memory_report.ts RUN.json SAMPLES.jsonl\n",
      ),
    );
    Deno.exit(2);
  }
  const run = JSON.parse(await Deno.readTextFile(runFile)) as MillionRun;
  const samples = (await Deno.readTextFile(samplesFile)).split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Sample);
  await Deno.stdout.write(
    new TextEncoder().encode(renderReport(run, samples)),
  );
}
