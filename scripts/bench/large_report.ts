/**
 * Reports the large-state run of scripts/bench.sh (`--large`, issue 15):
 * per phase the write throughput, latency percentiles, snapshots taken,
 * bytes each node wrote to storage (`/proc/PID/io` write_bytes) against the
 * bytes users wrote, peak RSS, resident memory sampled during the phase
 * (median and largest, against the newest snapshot's size) and
 * late-heartbeat warnings; the recovery of
 * a killed node; and the issue's goals as ratios.
 *
 * Run: `deno run --allow-read scripts/bench/large_report.ts LARGE.jsonl`
 *
 * @module
 */

/** One phase: what large.lua printed plus what bench.sh adds. */
export interface LargePhase {
  system: string;
  phase: string;
  keys: number;
  conns: number;
  valueBytes: number;
  requests: number;
  durationUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  errConnect: number;
  errRead: number;
  errWrite: number;
  errStatus: number;
  errTimeout: number;
  writeBytes: number[];
  snapshots: number[];
  hwmKb: number[];
  lateHeartbeats: number;
  cpuS: number;
  /** Per node: the median of VmRSS sampled every 0.5 s (the steady state). */
  rssMedianKb?: number[];
  /** Per node: the largest VmRSS sampled. */
  rssMaxKb?: number[];
  /** Per node: the largest newest-snapshot file seen (raftkv). */
  snapMaxBytes?: number[];
  /**
   * Per node, per snapshot it finished: the RSS rise from 5 s before it
   * finished to the largest sample up to 1 s after (KiB; an upper bound: the
   * window holds the state's own growth too), and the snapshot's bytes.
   */
  snapRise?: [number, number][][];
}

/** The recovery of the killed node. */
export interface LargeRecovery {
  recovery: true;
  node: number;
  wallToHealthyS: number;
  dataDirBytes: number;
  recovered: {
    seconds: number;
    keys: number;
    entriesReplayed: number;
  } | null;
}

const KEY_BYTES = 7; // "k000000"

const rate = (p: LargePhase) => p.requests / (p.durationUs / 1e6);
const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 0);
const errors = (p: LargePhase) =>
  p.errConnect + p.errRead + p.errWrite + p.errStatus + p.errTimeout;
const userBytes = (p: LargePhase) => p.requests * (KEY_BYTES + p.valueBytes);
/** Mean over the nodes of bytes written to storage per byte users wrote. */
const writeRatio = (p: LargePhase) =>
  p.writeBytes.reduce((a, b) => a + b, 0) / p.writeBytes.length /
  userBytes(p);

async function main(): Promise<void> {
  const [file] = Deno.args;
  if (!file) throw new Error("usage: large_report.ts LARGE.jsonl");
  const lines = Deno.readTextFileSync(file).split("\n").filter((l) => l);
  const phases: LargePhase[] = [];
  let recovery: LargeRecovery | undefined;
  for (const l of lines) {
    const v = JSON.parse(l);
    if (v.recovery) recovery = v as LargeRecovery;
    else phases.push(v as LargePhase);
  }
  const out: string[] = [];
  out.push(
    "| system | phase | keys | writes/s | p50 ms | p90 ms | p99 ms | max ms | errors | snapshots per node | MB written per node | written / user bytes | peak RSS MB per node | late heartbeats |",
    "| ------ | ----- | ---: | -------: | -----: | -----: | -----: | -----: | -----: | ------------------ | ------------------- | -------------------: | -------------------- | --------------: |",
  );
  for (const p of phases) {
    out.push(
      `| ${p.system} | ${p.phase} | ${p.keys.toLocaleString("en")} | ${
        Math.round(rate(p))
      } | ${ms(p.p50Us)} | ${ms(p.p90Us)} | ${ms(p.p99Us)} | ${ms(p.maxUs)} | ${
        errors(p)
      } | ${p.snapshots.join(" / ")} | ${
        p.writeBytes.map((b) => (b / 1e6).toFixed(0)).join(" / ")
      } | ${writeRatio(p).toFixed(1)} | ${
        p.hwmKb.map((k) => Math.round(k / 1024)).join(" / ")
      } | ${p.system === "raftkv" ? p.lateHeartbeats : "–"} |`,
    );
  }
  const mb = (kb: number) => Math.round(kb / 1024);
  const sampled = phases.filter((p) => p.rssMedianKb && p.rssMaxKb);
  if (sampled.length > 0) {
    out.push(
      "",
      "| system | phase | RSS median MB per node | RSS largest MB per node | largest − median MB | newest snapshot MB |",
      "| ------ | ----- | ---------------------- | ----------------------- | ------------------- | ------------------ |",
    );
    for (const p of sampled) {
      const med = p.rssMedianKb!, max = p.rssMaxKb!;
      out.push(
        `| ${p.system} | ${p.phase} | ${med.map(mb).join(" / ")} | ${
          max.map(mb).join(" / ")
        } | ${max.map((m, i) => mb(m - (med[i] ?? 0))).join(" / ")} | ${
          p.system === "raftkv"
            ? (p.snapMaxBytes ?? []).map((b) => (b / 1e6).toFixed(0)).join(
              " / ",
            )
            : "–"
        } |`,
      );
    }
  }
  if (recovery) {
    const r = recovery.recovered;
    out.push(
      "",
      `Recovery after kill -9 of node ${recovery.node} (data directory ${
        (recovery.dataDirBytes / 1e6).toFixed(0)
      } MB): healthy ${
        recovery.wallToHealthyS.toFixed(1)
      } s after the restart; its own line: ${
        r
          ? `recovered in ${r.seconds} s, ${r.keys} keys, ${r.entriesReplayed} entries replayed`
          : "(no 'recovered in' line found)"
      }.`,
    );
  }
  const small = phases.find((p) =>
    p.system === "raftkv" && p.phase === "small"
  );
  const large = phases.find((p) =>
    p.system === "raftkv" && p.phase === "large"
  );
  const etcd = phases.find((p) => p.system === "etcd" && p.phase === "large");
  if (small && large) {
    const p99Limit = Math.max(3 * small.p99Us, 100_000);
    out.push(
      "",
      "Goals (issue 15):",
      `- large/small throughput ${
        (rate(large) / rate(small)).toFixed(2)
      }× (goal >= 0.7×)`,
      `- large p99 ${ms(large.p99Us)} ms against max(3 × small p99, 100 ms) = ${
        ms(p99Limit)
      } ms (${large.p99Us <= p99Limit ? "met" : "not met"})`,
      `- late-heartbeat warnings in the large phase: ${large.lateHeartbeats} (goal 0)`,
      ...(large.rssMaxKb && large.rssMedianKb && large.snapMaxBytes
        ? [
          `- resident memory over the steady state (largest − median sample) per node: ${
            large.rssMaxKb.map((m, i) => mb(m - (large.rssMedianKb![i] ?? 0)))
              .join(" / ")
          } MB, against the newest snapshot's ${
            large.snapMaxBytes.map((b) => (b / 1e6).toFixed(0)).join(" / ")
          } MB (the state grows through the phase: this is mostly its growth; the snapshots' own cost is the next line)`,
        ]
        : []),
      ...(large.snapRise
        ? [
          `- resident memory rise around each snapshot (5 s before it finished to 1 s after; MB, rise/snapshot) per node: ${
            large.snapRise.map((l) =>
              l.map(([r, b]) => `${mb(r)}/${(b / 1e6).toFixed(0)}`).join(" ")
            ).join(" | ")
          }; over the snapshot's size: ${
            large.snapRise.flat().filter(([r, b]) => r * 1024 > b).length
          } of ${large.snapRise.flat().length} (goal: none)`,
        ]
        : []),
      `- bytes written per user byte: large ${
        writeRatio(large).toFixed(1)
      }, small ${writeRatio(small).toFixed(1)}, ratio ${
        (writeRatio(large) / writeRatio(small)).toFixed(2)
      }× (goal <= 1.5×)`,
    );
    if (etcd) {
      out.push(
        `- against etcd v3 at ${etcd.keys.toLocaleString("en")} keys: ${
          (rate(large) / rate(etcd)).toFixed(2)
        }× its throughput (goal >= 1.5×), p99 ${ms(large.p99Us)} ms against ${
          ms(etcd.p99Us)
        } ms (goal: no worse)`,
      );
    }
  }
  await Deno.stdout.write(new TextEncoder().encode(out.join("\n") + "\n"));
}

if (import.meta.main) await main();
