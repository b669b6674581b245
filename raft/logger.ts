/**
 * The production logger: one JSON object per line on stderr, with a level
 * filter. Fields carry structure; messages stay short and greppable.
 *
 * @module
 */

import type { LogFields, Logger } from "./core/mod.ts";

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

/**
 * Creates a logger writing JSON lines `{ts, level, msg, ...base, ...fields}`
 * to stderr for `level` and above.
 */
export function jsonLogger(level: LogLevel, base: LogFields = {}): Logger {
  const min = RANK[level];
  function write(lvl: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[lvl] < min) return;
    const line = JSON.stringify({
      ts: new Date().toISOString(),
      level: lvl,
      msg,
      ...base,
      ...fields,
    });
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr closed: logging must never take the node down.
    }
  }
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
  };
}

/** Whether `s` names a log level. */
export function isLogLevel(s: string): s is LogLevel {
  return s in RANK;
}
