/**
 * A tiny, dependency-free metrics library: counters, gauges and histograms,
 * optionally split by labels, kept in a {@linkcode Registry} that renders
 * them in the Prometheus text exposition format (version 0.0.4).
 *
 * Recording is meant for hot paths: resolve a labelled child once with
 * {@linkcode Family.labels} and keep it; after that `inc`, `set` and
 * `observe` only add to numbers (a histogram also searches its bucket
 * bounds, a dozen or so comparisons) and never allocate.
 *
 * @module
 */

/** What a metric counts or measures; decides its `# TYPE` line. */
export type MetricType = "counter" | "gauge" | "histogram";

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A value that only goes up (until the process restarts). */
export class Counter {
  /** The current count. */
  value = 0;

  /** Adds `n` (default 1); negative amounts are ignored, counters never fall. */
  inc(n = 1): void {
    if (n > 0) this.value += n;
  }
}

/** A value that goes up and down, or is set from elsewhere at scrape time. */
export class Gauge {
  /** The current value. */
  value = 0;

  /** Replaces the value. */
  set(v: number): void {
    this.value = v;
  }

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n;
  }

  /** Subtracts `n` (default 1). */
  dec(n = 1): void {
    this.value -= n;
  }
}

/**
 * Counts observations into buckets by upper bound (inclusive, like
 * Prometheus' `le`), plus their sum and count. Buckets are kept
 * non-cumulative and summed up only when rendered.
 */
export class Histogram {
  /** Upper bounds, ascending; `+Inf` is implied after the last. */
  readonly bounds: readonly number[];
  /** Observations per bucket; the last slot is the `+Inf` overflow. */
  readonly counts: Float64Array;
  /** The sum of all observed values. */
  sum = 0;
  /** How many values were observed. */
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value (for durations: seconds). */
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

/** `count` bucket bounds `start, start*factor, ...` (Prometheus' ExponentialBuckets). */
export function exponentialBuckets(
  start: number,
  factor: number,
  count: number,
): number[] {
  if (!(start > 0) || !(factor > 1) || !(count >= 1)) {
    throw new RangeError("exponential buckets need start > 0, factor > 1");
  }
  const out: number[] = [];
  let v = start;
  for (let i = 0; i < count; i++) {
    out.push(Number(v.toPrecision(12)));
    v *= factor;
  }
  return out;
}

/** Default buckets of a duration in seconds: 1 ms to ~8 s, like etcd's WAL fsync. */
export const DURATION_BUCKETS: readonly number[] = exponentialBuckets(
  0.001,
  2,
  14,
);

type Child = Counter | Gauge | Histogram;

/**
 * One metric name with its label names, and one child per combination of
 * label values. A metric without labels has exactly one child.
 */
export class Family<T extends Child> {
  readonly #children = new Map<string, { values: string[]; child: T }>();
  readonly #make: () => T;

  constructor(
    /** The metric name, e.g. `raftkv_http_requests_total`. */
    readonly name: string,
    /** The `# HELP` text. */
    readonly help: string,
    /** The `# TYPE`. */
    readonly type: MetricType,
    /** Label names, in the order {@linkcode labels} takes values. */
    readonly labelNames: readonly string[],
    make: () => T,
  ) {
    this.#make = make;
  }

  /**
   * The child for these label values (one per label name), created on
   * first use. Keep the result on hot paths: the lookup joins strings.
   * Never pass user data of unbounded variety (keys, raw paths).
   */
  labels(...values: string[]): T {
    if (values.length !== this.labelNames.length) {
      throw new RangeError(
        `${this.name} takes ${this.labelNames.length} label values, got ${values.length}`,
      );
    }
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (!entry) {
      entry = { values, child: this.#make() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Forgets every child (for gauges rebuilt at each scrape, e.g. per peer). */
  clear(): void {
    this.#children.clear();
  }

  /** Every child with its label values, in creation order. */
  children(): { values: readonly string[]; child: T }[] {
    return [...this.#children.values()];
  }

  /** Appends this family's lines in the text exposition format to `out`. */
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`);
    out.push(`# TYPE ${this.name} ${this.type}`);
    for (const { values, child } of this.#children.values()) {
      const labels = this.labelNames.map((n, i) =>
        `${n}="${escapeLabel(values[i]!)}"`
      );
      if (child instanceof Histogram) {
        renderHistogram(out, this.name, labels, child);
      } else {
        out.push(`${this.name}${braces(labels)} ${formatValue(child.value)}`);
      }
    }
  }
}

function renderHistogram(
  out: string[],
  name: string,
  labels: string[],
  h: Histogram,
): void {
  let cumulative = 0;
  for (let i = 0; i <= h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    const le = i < h.bounds.length ? formatValue(h.bounds[i]!) : "+Inf";
    out.push(
      `${name}_bucket${braces([...labels, `le="${le}"`])} ${
        formatValue(cumulative)
      }`,
    );
  }
  out.push(`${name}_sum${braces(labels)} ${formatValue(h.sum)}`);
  out.push(`${name}_count${braces(labels)} ${formatValue(h.count)}`);
}

function braces(labels: string[]): string {
  return labels.length === 0 ? "" : `{${labels.join(",")}}`;
}

/** A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`, decimals). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeHelp(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeLabel(s: string): string {
  return s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}

/** The content type of {@linkcode Registry.render}'s text. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Holds metric families by name and renders them all. Registering a name
 * again with the same type and labels returns the existing family, so
 * independent parts (the app, the node) can share one registry.
 */
export class Registry {
  readonly #families = new Map<string, Family<Child>>();
  readonly #collectors: (() => void)[] = [];

  /**
   * Runs `collect` before every {@linkcode render}: for values that are
   * cheaper to read when scraped than to track (a status, a size).
   */
  onCollect(collect: () => void): void {
    this.#collectors.push(collect);
  }

  #family<T extends Child>(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    make: () => T,
  ): Family<T> {
    const old = this.#families.get(name);
    if (old) {
      if (
        old.type !== type || old.labelNames.join() !== labelNames.join()
      ) {
        throw new Error(`metric ${name} is already registered differently`);
      }
      return old as Family<T>;
    }
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__") || l === "le") {
        throw new Error(`bad label name ${l} of ${name}`);
      }
    }
    const f = new Family<T>(name, help, type, labelNames, make);
    this.#families.set(name, f as Family<Child>);
    return f;
  }

  /** A counter family with these labels. */
  counterFamily(
    name: string,
    help: string,
    labelNames: readonly string[],
  ): Family<Counter> {
    return this.#family(name, help, "counter", labelNames, () => new Counter());
  }

  /** A gauge family with these labels. */
  gaugeFamily(
    name: string,
    help: string,
    labelNames: readonly string[],
  ): Family<Gauge> {
    return this.#family(name, help, "gauge", labelNames, () => new Gauge());
  }

  /** A histogram family with these labels and bucket bounds (ascending). */
  histogramFamily(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[] = DURATION_BUCKETS,
  ): Family<Histogram> {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) {
        throw new Error(`buckets of ${name} are not ascending`);
      }
    }
    return this.#family(
      name,
      help,
      "histogram",
      labelNames,
      () => new Histogram(bounds),
    );
  }

  /** A counter without labels. Name it `..._total`. */
  counter(name: string, help: string): Counter {
    return this.counterFamily(name, help, []).labels();
  }

  /** A gauge without labels. */
  gauge(name: string, help: string): Gauge {
    return this.gaugeFamily(name, help, []).labels();
  }

  /** A histogram without labels. */
  histogram(
    name: string,
    help: string,
    bounds: readonly number[] = DURATION_BUCKETS,
  ): Histogram {
    return this.histogramFamily(name, help, [], bounds).labels();
  }

  /** Every family in the text exposition format, in registration order. */
  render(): string {
    for (const collect of this.#collectors) collect();
    const out: string[] = [];
    for (const f of this.#families.values()) f.render(out);
    return out.join("\n") + "\n";
  }
}
