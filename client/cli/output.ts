/**
 * Printing results: JSON for scripts, aligned columns for people, values
 * as text when they are UTF-8 and as base64 (marked) when not.
 *
 * @module
 */

import { encodeJsonValue, type KvEntry } from "../mod.ts";
import { type Io, println } from "./io.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** `bytes` as text when it is UTF-8, else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** `bytes` in base64. */
export function base64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * An entry as JSON, shaped like an item of `GET /v1/kv`: the value as
 * `value` (UTF-8 text) or `value64` (base64), the revisions, and `lease`
 * when the key is attached to one.
 */
export function entryJson(entry: KvEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    key: entry.key,
    ...encodeJsonValue(entry.value),
    index: entry.index,
    createIndex: entry.createIndex,
    modIndex: entry.modIndex,
    version: entry.version,
  };
  if (entry.lease !== undefined) out.lease = entry.lease;
  return out;
}

/** A value for a person: the text, or `base64:...` when it is not UTF-8. */
export function showValue(bytes: Uint8Array): string {
  return asText(bytes) ?? `base64:${base64(bytes)}`;
}

/** Prints `value` as one line of JSON. */
export function printJson(io: Io, value: unknown): Promise<void> {
  return println(io, JSON.stringify(value));
}

/** Prints rows as columns padded to their widest cell; the first row is the header. */
export async function printTable(
  io: Io,
  rows: readonly (readonly string[])[],
): Promise<void> {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  const lines = rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!))
      .join("  ")
  );
  await println(io, lines.join("\n"));
}
