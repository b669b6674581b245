/**
 * What a subcommand is: its name, one-line summary, help text, flags, and
 * how it runs; and the global flags every subcommand takes (with their
 * `RAFTKV_*` environment variables), which build the client it runs with.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RaftKvClient } from "../mod.ts";
import { UsageError } from "./exit_codes.ts";
import type { Io } from "./io.ts";

/** The API URLs of scripts/cluster.sh's three nodes (`--endpoints` default). */
export const DEFAULT_ENDPOINTS =
  "http://127.0.0.1:12380,http://127.0.0.1:22380,http://127.0.0.1:32380";

/** How results are printed: for people, as JSON, or (get only) the raw value. */
export type OutputFormat = "text" | "json" | "value";

/** Flag definitions as `node:util` `parseArgs` takes them. */
export type FlagSpecs = Record<
  string,
  { type: "string" | "boolean"; short?: string }
>;

/** Parsed flag values. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** Environment variables by name. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What a running subcommand has at hand. */
export interface CommandContext {
  /** The client built from the global flags. */
  client: RaftKvClient;
  /** `-o/--output`. */
  output: OutputFormat;
  /** The terminal. */
  io: Io;
  /** The words after `--`, for a command that takes one (`lock NAME -- COMMAND ...`). */
  rest: readonly string[];
}

/** One subcommand (or group, such as `member`). */
export interface Command {
  /** The word that names it, e.g. `put`. */
  name: string;
  /** One line for the overview. */
  summary: string;
  /** The full `--help` text (global flags and exit statuses are appended). */
  help: string;
  /** Its own flags, besides the global ones. */
  flags: FlagSpecs;
  /** The output formats it accepts (default text and json). */
  outputs?: readonly OutputFormat[];
  /**
   * True when everything after the first `--` is a command to run (its own
   * flags untouched), handed over as `ctx.rest`.
   */
  takesCommand?: boolean;
  /** Runs with the positional arguments and flags; resolves with the exit status. */
  run(
    args: readonly string[],
    flags: FlagValues,
    ctx: CommandContext,
  ): Promise<number>;
}

/** The flags every subcommand takes. */
export const GLOBAL_FLAGS: FlagSpecs = {
  endpoints: { type: "string" },
  token: { type: "string" },
  cacert: { type: "string" },
  output: { type: "string", short: "o" },
  "timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** The help text of the global flags. */
export const GLOBAL_HELP =
  `global flags (each also read from the environment variable shown; the flag wins):
  --endpoints URLS     comma-separated API URLs; the client fails over between them
                       env RAFTKV_ENDPOINTS (default: ${DEFAULT_ENDPOINTS})
  --token TOKEN        sent as Authorization: Bearer TOKEN (the nodes' --client-token)
                       env RAFTKV_TOKEN
  --cacert FILE        PEM CA certificate(s) to trust for https endpoints
                       env RAFTKV_CACERT
  -o, --output FORMAT  text (default) or json
                       env RAFTKV_OUTPUT
  --timeout-ms N       time budget of one request, retries included (default 10000)
                       env RAFTKV_TIMEOUT_MS
  -h, --help           this help`;

/** A global setting: its flag when given, else its variable when set and not empty. */
function setting(
  flags: FlagValues,
  env: Env,
  name: string,
): string | undefined {
  const value = flags[name];
  if (typeof value === "string") return value;
  const fromEnv = env[`RAFTKV_${name.toUpperCase().replaceAll("-", "_")}`];
  return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}

/**
 * Parses `argv` against the command's and the global flags.
 *
 * @throws {UsageError} for an unknown flag or a missing value.
 */
export function parseCommandLine(
  command: Command,
  argv: readonly string[],
): { args: string[]; flags: FlagValues } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_FLAGS, ...command.flags },
      strict: true,
      allowPositionals: true,
    });
    return { args: positionals, flags: values as FlagValues };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(message.split("\n")[0]!);
  }
}

/** Reads `-o/--output` (or `RAFTKV_OUTPUT`) against what `command` accepts. */
export function outputFormat(
  command: Command,
  flags: FlagValues,
  env: Env,
): OutputFormat {
  const value = setting(flags, env, "output") ?? "text";
  const accepted = command.outputs ?? ["text", "json"];
  if (!(accepted as readonly string[]).includes(value)) {
    throw new UsageError(
      `-o/--output: ${value} is not one of ${accepted.join(", ")}`,
    );
  }
  return value as OutputFormat;
}

/**
 * Builds the client of the global flags. `--cacert` makes a Deno HTTP
 * client that trusts the given CA (the library itself takes any `fetch`).
 */
export async function clientFrom(
  flags: FlagValues,
  env: Env,
): Promise<RaftKvClient> {
  const endpoints = setting(flags, env, "endpoints") ?? DEFAULT_ENDPOINTS;
  const token = setting(flags, env, "token");
  const cacert = setting(flags, env, "cacert");
  const timeout = setting(flags, env, "timeout-ms");
  let timeoutMs: number | undefined;
  if (timeout !== undefined) {
    timeoutMs = Number(timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new UsageError(
        `--timeout-ms: ${timeout} is not a positive integer`,
      );
    }
  }
  let fetchFn: typeof fetch | undefined;
  if (cacert !== undefined) {
    let pem: string;
    try {
      pem = await Deno.readTextFile(cacert);
    } catch (err) {
      throw new UsageError(
        `--cacert: cannot read ${cacert}: ${(err as Error).message}`,
      );
    }
    const httpClient = Deno.createHttpClient({ caCerts: [pem] });
    fetchFn = (input, init) => fetch(input, { ...init, client: httpClient });
  }
  return new RaftKvClient({
    endpoints,
    ...(token === undefined ? {} : { token }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(fetchFn === undefined ? {} : { fetch: fetchFn }),
  });
}

/** Throws a usage error unless `args` has between `min` and `max` entries. */
export function expectArgs(
  args: readonly string[],
  min: number,
  max: number,
  what: string,
): void {
  if (args.length < min || args.length > max) {
    throw new UsageError(`expected ${what}`);
  }
}

/** Parses a positive integer argument or flag (`what` names it). */
export function positiveInt(text: string | undefined, what: string): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || n < 1) {
    throw new UsageError(
      `${what}: ${text ?? "(none)"} is not a positive integer`,
    );
  }
  return n;
}
