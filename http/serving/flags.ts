/**
 * Reading command-line flags and their `RAFTKV_*` environment variables:
 * the checks every command shares (integers in range, booleans, member
 * URLs, tokens, `--id` with `--cluster`) and the one-line
 * {@linkcode ConfigError} they throw. The commands' own flags are in
 * config.ts (serve) and restore_command.ts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Tunable } from "../../raft/mod.ts";

/** The exit status of a bad flag or environment variable. */
export const EXIT_BAD_CONFIG = 2;

/** The cluster of one node that `--id 1` runs without `--cluster`. */
export const DEFAULT_CLUSTER = "http://127.0.0.1:12379";

/** Node `{id}`'s data directory when `--data-dir` is not given. */
export const DEFAULT_DATA_DIR = "raftkv-{id}";

/**
 * A bad flag or environment variable. The message is one line that names
 * the flag (and the variable, when the value came from one).
 */
export class ConfigError extends Error {
  /** A stable identifier of the error kind. */
  readonly code = "invalid_config";
  /** The flag at fault, e.g. `--data-dir`. */
  readonly flag: string;
  constructor(flag: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.flag = flag;
  }
}

/** Environment variables by name, as `Deno.env.toObject()` returns them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A raw setting and where it came from, for error messages. */
export interface RawValue {
  text: string;
  /** `--flag` or `RAFTKV_FLAG (--flag)`. */
  source: string;
}

/** Returns one setting's raw value by flag name, or undefined when unset. */
export type RawReader = (name: string) => RawValue | undefined;

/** Flag values as `parseArgs` returns them. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** Returns the environment variable of a flag: `data-dir` → `RAFTKV_DATA_DIR`. */
export function envName(flag: string): string {
  return `RAFTKV_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** Reads the environment when allowed, else none (flags still work). */
export function readEnv(): Record<string, string> {
  const allowed = Deno.permissions.querySync({ name: "env" }).state;
  return allowed === "granted" ? Deno.env.toObject() : {};
}

/**
 * Parses `argv` strictly against `options` (no positionals).
 *
 * @throws {ConfigError} naming the flag parseArgs refused.
 */
export function parseFlags(
  argv: readonly string[],
  options: Record<string, { type: "string" | "boolean" }>,
): FlagValues {
  try {
    return parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    }).values as FlagValues;
  } catch (err) {
    throw parseArgsError(err);
  }
}

/** Turns parseArgs' own errors into a ConfigError naming the flag. */
function parseArgsError(err: unknown): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  const firstLine = message.split("\n")[0]!;
  const flag = /'(-{1,2}[^' =]+)/.exec(message)?.[1];
  return flag === undefined
    ? new ConfigError("arguments", firstLine)
    : new ConfigError(flag, `${flag}: ${firstLine}`);
}

/**
 * Reads one setting: the flag's value when given, else its `RAFTKV_*`
 * variable when set and not empty, else undefined.
 */
export function flagReader(values: Readonly<FlagValues>, env: Env): RawReader {
  return (name) => {
    const flag = values[name];
    if (typeof flag === "string") return { text: flag, source: `--${name}` };
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === "") return undefined;
    return { text: fromEnv, source: `${envName(name)} (--${name})` };
  };
}

/**
 * Reads `--id` and `--cluster`: the id is required, and the cluster too
 * unless the id is 1 (the default cluster has one node); the id must have a
 * URL in the cluster. `prefix` starts each message (e.g. `restore: `).
 */
export function parseIdAndCluster(
  raw: RawReader,
  prefix: string,
): { id: number; cluster: string[] } {
  const idValue = raw("id");
  if (idValue === undefined) {
    throw new ConfigError(
      "--id",
      `${prefix}--id is required (this node's id, 1-based)`,
    );
  }
  const id = parseInteger("id", idValue, 1, Number.MAX_SAFE_INTEGER);
  const clusterValue = raw("cluster");
  if (clusterValue === undefined && id !== 1) {
    throw new ConfigError(
      "--cluster",
      `${prefix}--cluster is required with --id ${id} (the default cluster has one node)`,
    );
  }
  const cluster = parseCluster(
    "cluster",
    clusterValue ?? { text: DEFAULT_CLUSTER, source: "--cluster" },
  );
  if (id > cluster.length) {
    throw new ConfigError(
      "--id",
      `${prefix}--id ${id} has no URL in --cluster (${cluster.length} URLs)`,
    );
  }
  return { id, cluster };
}

/** Reads `--data-dir`, or node `id`'s {@linkcode DEFAULT_DATA_DIR}. */
export function parseDataDir(raw: RawReader, id: number): string {
  return raw("data-dir")?.text ?? DEFAULT_DATA_DIR.replace("{id}", String(id));
}

/** Parses a decimal integer in `min..max`. */
export function parseInteger(
  name: string,
  value: RawValue,
  min: number,
  max: number,
): number {
  const text = value.text.trim();
  const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER
      ? `an integer >= ${min}`
      : `an integer from ${min} to ${max}`;
    throw new ConfigError(
      `--${name}`,
      `${value.source}: "${value.text}" is not ${range}`,
    );
  }
  return n;
}

/**
 * Parses flag `name` as an integer within `tunable`'s bounds, or returns
 * its default when unset.
 */
export function parseTunable(
  name: string,
  raw: RawReader,
  tunable: Tunable,
): number {
  const value = raw(name);
  return value === undefined
    ? tunable.value
    : parseInteger(name, value, tunable.min, tunable.max);
}

/** A token: 1 to 4096 visible ASCII characters (it travels in a header). */
export function parseToken(name: string, value: RawValue): string {
  if (!/^[\x21-\x7e]{1,4096}$/.test(value.text)) {
    throw new ConfigError(
      `--${name}`,
      `${value.source}: a token is 1 to 4096 visible ASCII characters, no spaces`,
    );
  }
  return value.text;
}

/** Reads a boolean flag, or its variable as true/false, 1/0, yes/no, on/off. */
export function parseBoolean(
  name: string,
  flag: string | boolean | undefined,
  env: Env,
): boolean {
  if (flag === true) return true;
  const text = env[envName(name)]?.trim().toLowerCase();
  if (text === undefined || text === "") return false;
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw new ConfigError(
    `--${name}`,
    `${envName(name)} (--${name}): "${text}" is not true or false`,
  );
}

/** Parses one member URL into its origin. */
function parseUrl(name: string, value: RawValue, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `--${name}`,
      `${value.source}: "${text}" is not a URL`,
    );
  }
  if (
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    url.username !== "" || url.password !== "" || url.pathname !== "/" ||
    url.search !== "" || url.hash !== ""
  ) {
    throw new ConfigError(
      `--${name}`,
      `${value.source}: "${text}" must be http(s)://host:port with nothing after it`,
    );
  }
  return url.origin;
}

/** Parses a comma-separated list of distinct member URLs. */
function parseCluster(name: string, value: RawValue): string[] {
  const urls = value.text.split(",").map((part) => part.trim());
  const seen = new Set<string>();
  for (let i = 0; i < urls.length; i++) {
    const part = urls[i]!;
    if (part === "") {
      throw new ConfigError(
        `--${name}`,
        `${value.source}: entry ${i + 1} is empty`,
      );
    }
    const origin = parseUrl(name, value, part);
    if (seen.has(origin)) {
      throw new ConfigError(
        `--${name}`,
        `${value.source}: ${origin} appears twice`,
      );
    }
    seen.add(origin);
    urls[i] = origin;
  }
  return urls;
}
