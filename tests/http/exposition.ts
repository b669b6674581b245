/**
 * A small parser of the Prometheus text exposition format (0.0.4) for the
 * metrics tests: it checks the grammar of every line, that every family has
 * one HELP and one TYPE before its samples, and that a family's samples
 * stay together; and helpers to read values and check histograms.
 *
 * @module
 */

import assert from "node:assert/strict";

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: its HELP, TYPE and samples. */
export interface Family {
  help?: string;
  type?: string;
  samples: Sample[];
}

const METRIC_NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*";
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABEL = `${LABEL_NAME}=${LABEL_VALUE}`;
const VALUE = "(?:[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?" +
  "|[+-]?Inf|NaN)";
const SAMPLE_LINE = new RegExp(
  `^(${METRIC_NAME})(?:\\{((?:${LABEL}(?:,${LABEL})*,?)?)\\})? (${VALUE})(?: -?[0-9]+)?$`,
);
const HELP_LINE = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`);
const TYPE_LINE = new RegExp(
  `^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`,
);
const ONE_LABEL = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, "g");

export function parseValue(text: string): number {
  if (text.endsWith("Inf")) return text.startsWith("-") ? -Infinity : Infinity;
  return Number(text);
}

function unescapeLabel(quoted: string): string {
  return quoted.slice(1, -1).replace(
    /\\([\\"n])/g,
    (_, c) => c === "n" ? "\n" : c,
  );
}

/** The family a sample belongs to (a histogram's `_bucket`/`_sum`/`_count`). */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (
      name.endsWith(suffix) && families.get(base)?.type === "histogram"
    ) {
      return base;
    }
  }
  return name;
}

/**
 * Parses exposition text; throws naming the line when one breaks the
 * grammar, when a family's HELP or TYPE is missing, repeated or comes after
 * its samples, or when a family's samples are not together.
 */
export function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the text ends with a line feed");
  const families = new Map<string, Family>();
  const get = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, f = { samples: [] });
    return f;
  };
  let current = "";
  const done = new Set<string>();
  const enter = (name: string, line: string) => {
    if (name === current) return;
    assert.ok(!done.has(name), `family ${name} is split: ${line}`);
    if (current) done.add(current);
    current = name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = HELP_LINE.exec(line))) {
      enter(m[1]!, line);
      const f = get(m[1]!);
      assert.equal(f.help, undefined, `second HELP: ${line}`);
      assert.equal(f.samples.length, 0, `HELP after samples: ${line}`);
      f.help = m[2]!;
    } else if ((m = TYPE_LINE.exec(line))) {
      enter(m[1]!, line);
      const f = get(m[1]!);
      assert.equal(f.type, undefined, `second TYPE: ${line}`);
      assert.equal(f.samples.length, 0, `TYPE after samples: ${line}`);
      f.type = m[2]!;
    } else if ((m = SAMPLE_LINE.exec(line))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(ONE_LABEL)) {
        assert.ok(!(l[1]! in labels), `label ${l[1]} twice: ${line}`);
        labels[l[1]!] = unescapeLabel(l[2]!);
      }
      const family = familyOf(m[1]!, families);
      enter(family, line);
      get(family).samples.push({
        name: m[1]!,
        labels,
        value: parseValue(m[3]!),
      });
    } else {
      assert.fail(`not a line of the text format: ${JSON.stringify(line)}`);
    }
  }
  for (const [name, f] of families) {
    assert.ok(f.help !== undefined, `${name} has no HELP`);
    assert.ok(f.type !== undefined, `${name} has no TYPE`);
  }
  return families;
}

/** The value of the sample `name` whose labels include `labels`; 0 if none. */
export function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const f = families.get(familyOf(name, families));
  const s = f?.samples.find((s) =>
    s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  return s?.value ?? 0;
}

/** Checks every histogram series: cumulative buckets, +Inf = count. */
export function checkHistograms(families: Map<string, Family>): number {
  let series = 0;
  for (const [name, f] of families) {
    if (f.type !== "histogram") continue;
    const byKey = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { le: _, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      byKey.set(key, [...byKey.get(key) ?? [], s]);
    }
    for (const [key, samples] of byKey) {
      series++;
      const buckets = samples.filter((s) => s.name === `${name}_bucket`);
      assert.ok(buckets.length >= 2, `${name}${key} has buckets`);
      const les = buckets.map((b) => parseValue(b.labels.le!));
      assert.deepEqual(les, [...les].sort((a, b) => a - b), `${name} le order`);
      assert.equal(les.at(-1), Infinity, `${name}${key} ends with +Inf`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(
          buckets[i]!.value >= buckets[i - 1]!.value,
          `${name}${key} buckets are cumulative`,
        );
      }
      const count = samples.find((s) => s.name === `${name}_count`);
      const sum = samples.find((s) => s.name === `${name}_sum`);
      assert.ok(count && sum, `${name}${key} has _sum and _count`);
      assert.equal(buckets.at(-1)!.value, count.value, `${name}${key} +Inf`);
    }
  }
  return series;
}
