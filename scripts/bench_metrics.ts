// deno-lint-ignore-file no-console
// A benchmark script: it reports on the terminal.
/**
 * Cost of recording metrics (raft/metrics.ts) and of the HTTP metrics
 * middleware (http/api/metrics_routes.ts), in nanoseconds per operation.
 * Run: `deno run -A scripts/bench_metrics.ts [iterations]`.
 *
 * @module
 */

import { cpuUsage } from "node:process";
import { Hono, type MiddlewareHandler } from "hono";
import { DURATION_BUCKETS, Registry } from "../raft/mod.ts";
import { HttpMetrics, httpMetricsMiddleware } from "../http/mod.ts";

const n = Number(Deno.args[0] ?? 2_000_000);

/** CPU time of this process (user + system) in microseconds. */
function cpuMicros(): number {
  const u = cpuUsage();
  return u.user + u.system;
}

function time(label: string, iterations: number, fn: (i: number) => void) {
  for (let i = 0; i < Math.min(iterations, 100_000); i++) fn(i); // warm up
  const t0 = cpuMicros();
  for (let i = 0; i < iterations; i++) fn(i);
  const ns = (cpuMicros() - t0) * 1e3 / iterations;
  console.log(`${label.padEnd(44)} ${ns.toFixed(1).padStart(8)} ns/op`);
  return ns;
}

const r = new Registry();
const c = r.counter("c_total", "C.");
const h = r.histogram("h_seconds", "H.", DURATION_BUCKETS);
const fam = r.counterFamily("f_total", "F.", ["route", "method", "status"]);
const values = [0.0004, 0.003, 0.02, 0.2, 3];
time("counter.inc()", n, () => c.inc());
time("histogram.observe() (14 buckets)", n, (i) => h.observe(values[i % 5]!));
time(
  "family.labels(3 values).inc()",
  n,
  () => fam.labels("/v1/kv/:key", "PUT", "204").inc(),
);
time("performance.now()", n, () => performance.now());

async function timeApp(_label: string, app: Hono, iterations: number) {
  const req = () => app.request("/v1/kv/some-key", { method: "PUT" });
  for (let i = 0; i < 2_000; i++) await req();
  const t0 = cpuMicros();
  for (let i = 0; i < iterations; i++) await req();
  return (cpuMicros() - t0) / iterations;
}

// Both apps have the two middlewares a real app has before the routes
// (auth, body deadline), so the difference is the metrics layer alone.
const reqs = Math.max(10_000, Math.floor(n / 100));
const passOn: MiddlewareHandler = async (_c, next) => {
  await next();
};
function appWith(metrics: boolean): Hono {
  const app = new Hono();
  if (metrics) {
    app.use(httpMetricsMiddleware(new HttpMetrics(new Registry())));
  }
  app.use(passOn);
  app.use(passOn);
  app.put("/v1/kv/:key", (c) => c.body(null, 204));
  return app;
}
const plain = appWith(false);
const metered = appWith(true);
const without: number[] = [];
const withMw: number[] = [];
for (let round = 0; round < 10; round++) {
  without.push(await timeApp("without", plain, reqs));
  withMw.push(await timeApp("with", metered, reqs));
}
const a = Math.min(...without), b = Math.min(...withMw);
console.log(
  `app.request() CPU, best of 10 rounds: ${a.toFixed(2)} µs without, ` +
    `${b.toFixed(2)} µs with the metrics middleware: ` +
    `+${((b - a) * 1000).toFixed(0)} ns/request (+${
      ((b / a - 1) * 100).toFixed(1)
    }%)`,
);
console.log(`render of ${r.render().split("\n").length} lines:`);
time("registry.render()", 20_000, () => r.render());
