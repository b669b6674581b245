/**
 * The metrics primitives (raft/metrics.ts): what they record and the exact
 * text they render.
 */

import assert from "node:assert/strict";
import {
  Counter,
  exponentialBuckets,
  Histogram,
  Registry,
} from "../../raft/metrics.ts";
import { RaftMetrics } from "../../raft/raft_metrics.ts";

Deno.test("a counter only goes up; a gauge goes both ways", () => {
  const c = new Counter();
  c.inc();
  c.inc(2.5);
  c.inc(-4);
  assert.equal(c.value, 3.5);
  const r = new Registry();
  const g = r.gauge("g", "A gauge.");
  g.set(10);
  g.dec(3);
  g.inc();
  assert.equal(g.value, 8);
});

Deno.test("a histogram counts a value into the first bucket whose bound it does not pass", () => {
  const h = new Histogram([1, 2, 4]);
  for (const v of [0, 1, 1.5, 2, 4, 4.01, 100]) h.observe(v);
  // Non-cumulative: le=1 gets 0 and 1 (bounds are inclusive), le=2 gets
  // 1.5 and 2, le=4 gets 4, +Inf gets the rest.
  assert.deepEqual([...h.counts], [2, 2, 1, 2]);
  assert.equal(h.count, 7);
  assert.equal(h.sum, 0 + 1 + 1.5 + 2 + 4 + 4.01 + 100);
});

Deno.test("exponential buckets are like Prometheus' and etcd's fsync buckets", () => {
  assert.deepEqual(exponentialBuckets(1, 2, 4), [1, 2, 4, 8]);
  const fsync = exponentialBuckets(0.001, 2, 14);
  assert.equal(fsync[0], 0.001);
  assert.equal(fsync.at(-1), 8.192);
  assert.throws(() => exponentialBuckets(0, 2, 3), RangeError);
  assert.throws(() => exponentialBuckets(1, 1, 3), RangeError);
});

Deno.test("the registry renders HELP, TYPE and samples in the text format", () => {
  const r = new Registry();
  r.counter("req_total", "Requests.\nAll of them.").inc(3);
  const fam = r.counterFamily("by_total", "By label.", ["route", "code"]);
  fam.labels('/a"b\\c', "200").inc();
  fam.labels("/x", "500").inc(2);
  const h = r.histogram("lat_seconds", "Latency.", [0.1, 1]);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  assert.equal(
    r.render(),
    [
      "# HELP req_total Requests.\\nAll of them.",
      "# TYPE req_total counter",
      "req_total 3",
      "# HELP by_total By label.",
      "# TYPE by_total counter",
      'by_total{route="/a\\"b\\\\c",code="200"} 1',
      'by_total{route="/x",code="500"} 2',
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{le="0.1"} 1',
      'lat_seconds_bucket{le="1"} 2',
      'lat_seconds_bucket{le="+Inf"} 3',
      "lat_seconds_sum 5.55",
      "lat_seconds_count 3",
      "",
    ].join("\n"),
  );
});

Deno.test("labelled histograms put le after the other labels", () => {
  const r = new Registry();
  r.histogramFamily("d_seconds", "D.", ["route"], [1]).labels("/k").observe(2);
  const text = r.render();
  assert.match(text, /^d_seconds_bucket\{route="\/k",le="1"\} 0$/m);
  assert.match(text, /^d_seconds_bucket\{route="\/k",le="\+Inf"\} 1$/m);
  assert.match(text, /^d_seconds_count\{route="\/k"\} 1$/m);
});

Deno.test("registering a name again returns the same metric; a different kind throws", () => {
  const r = new Registry();
  const a = r.counter("x_total", "X.");
  a.inc();
  assert.equal(r.counter("x_total", "X."), a);
  assert.throws(() => r.gauge("x_total", "X."), /already registered/);
  assert.throws(
    () => r.counterFamily("x_total", "X.", ["peer"]),
    /already registered/,
  );
  assert.throws(() => r.counter("bad-name", "B."), /bad metric name/);
  assert.throws(() => r.counterFamily("ok_total", "O.", ["le"]), /bad label/);
  assert.throws(() => r.histogram("h", "H.", [2, 1]), /not ascending/);
  const f = r.gaugeFamily("peers", "P.", ["peer"]);
  assert.throws(() => f.labels(), RangeError);
});

Deno.test("collectors run before every render", () => {
  const r = new Registry();
  const g = r.gauge("size", "Size.");
  let size = 1;
  r.onCollect(() => g.set(size));
  assert.match(r.render(), /^size 1$/m);
  size = 7;
  assert.match(r.render(), /^size 7$/m);
});

Deno.test("special values render as Prometheus spells them", () => {
  const r = new Registry();
  r.gauge("a", "A.").set(Infinity);
  r.gauge("b", "B.").set(-Infinity);
  r.gauge("c", "C.").set(NaN);
  const text = r.render();
  assert.match(text, /^a \+Inf$/m);
  assert.match(text, /^b -Inf$/m);
  assert.match(text, /^c NaN$/m);
});

Deno.test("a family forgets its children on clear", () => {
  const r = new Registry();
  const f = r.gaugeFamily("m", "M.", ["peer"]);
  f.labels("2").set(5);
  f.clear();
  f.labels("3").set(1);
  const text = r.render();
  assert.doesNotMatch(text, /peer="2"/);
  assert.match(text, /^m\{peer="3"\} 1$/m);
});

Deno.test("RaftMetrics copies the transport's per-peer totals", () => {
  const m = new RaftMetrics();
  m.setPeerTotals(new Map([[2, { sent: 10, failed: 1, dropped: 3 }]]));
  m.setPeerTotals(new Map([[2, { sent: 12, failed: 2, dropped: 3 }]]));
  const text = m.registry.render();
  assert.match(text, /^raftkv_peer_send_failures_total\{peer="2"\} 2$/m);
  assert.match(text, /^raftkv_peer_messages_sent_total\{peer="2"\} 12$/m);
  assert.match(text, /^raftkv_peer_messages_dropped_total\{peer="2"\} 3$/m);
});
