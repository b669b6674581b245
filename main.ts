// deno-lint-ignore-file no-console
// main.ts is the command-line front: it alone talks to the terminal.
/**
 * raftkv's entry point. {@linkcode parseConfig} turns flags and `RAFTKV_*`
 * environment variables into a checked {@linkcode Config}; the block at the
 * end starts a node with it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import { KvStore } from "./kv/mod.ts";
import { jsonLogger, RaftNode, seededRng } from "./raft/mod.ts";
import { decodeMessages, encodeMessages } from "./raft/codec.ts";
import { DiskStorage } from "./raft/disk_storage.ts";
import { DenoFs } from "./wal/mod.ts";
import { createApp } from "./http/app.ts";
import { KvNode } from "./http/kv_node.ts";
import { PeerTransport } from "./http/peer_transport.ts";

/** raftkv's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** The exit status of a bad flag or environment variable. */
export const EXIT_BAD_CONFIG = 2;

/** Log levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level name. */
export type LogLevel = typeof LOG_LEVELS[number];

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

/** Where {@linkcode Config.listen} binds. */
export interface ListenAddress {
  /** Host name or IP address, IPv6 without brackets. */
  hostname: string;
  port: number;
}

/** Everything a node is started with; see API.md for the flags. */
export interface Config {
  /** This node's id, 1-based; node N's URL is `cluster[N - 1]`. */
  id: number;
  /** The initial members' URLs (origins), in id order. */
  cluster: string[];
  /** This node's own advertised URL (`cluster[id - 1]`). */
  url: string;
  /** A second port that serves the full API (raftexample's `--port`). */
  port?: number;
  /** Join an existing cluster instead of bootstrapping one. */
  join: boolean;
  /** Where WAL segments and snapshot files live. */
  dataDir: string;
  /** Take a snapshot after this many applied entries. */
  snapshotEntries: number;
  /** The address the node binds its own URL's port to. */
  listen: ListenAddress;
  /** Milliseconds per Raft tick. */
  tickMs: number;
  /** Election timeout in ticks (randomized in [n, 2n) by the core). */
  electionTicks: number;
  /** Heartbeat interval in ticks. */
  heartbeatTicks: number;
  logLevel: LogLevel;
  /** The largest value of a PUT, in bytes (413 beyond). */
  maxValueBytes: number;
  /** How long a request waits for the cluster before 504, in ms. */
  requestTimeoutMs: number;
}

/** What the command line asks for. */
export type ParsedCommand =
  | { action: "help" }
  | { action: "version" }
  | { action: "run"; config: Config };

/** One flag: its type, its help line and its default as shown in help. */
interface FlagSpec {
  type: "string" | "boolean";
  value?: string;
  help: string;
  default?: string;
}

const DEFAULT_CLUSTER = "http://127.0.0.1:12379";
const MAX_VALUE_BYTES_LIMIT = 32 * 1024 * 1024;

/** Every flag, in the order `--help` lists them. */
const FLAGS: Record<string, FlagSpec> = {
  "id": {
    type: "string",
    value: "N",
    help: "this node's id, 1-based; node N's URL is the N-th --cluster entry",
    default: "required",
  },
  "cluster": {
    type: "string",
    value: "URLS",
    help: "comma-separated URLs of the initial members, in id order",
    default: `${DEFAULT_CLUSTER} with --id 1`,
  },
  "port": {
    type: "string",
    value: "P",
    help: "also serve the full API on this port (raftexample's --port)",
    default: "none",
  },
  "join": {
    type: "boolean",
    help: "join an existing cluster (after POST /{id} on a member)",
    default: "off",
  },
  "data-dir": {
    type: "string",
    value: "DIR",
    help: "WAL segments and snapshot files",
    default: "raftkv-{id}",
  },
  "snapshot-entries": {
    type: "string",
    value: "N",
    help: "take a snapshot after this many applied entries",
    default: "10000",
  },
  "listen": {
    type: "string",
    value: "HOST:PORT",
    help: "bind address when it differs from the advertised URL",
    default: "from the node's own URL",
  },
  "tick-ms": {
    type: "string",
    value: "MS",
    help: "milliseconds per Raft tick",
    default: "100",
  },
  "election-ticks": {
    type: "string",
    value: "N",
    help: "election timeout in ticks; more than --heartbeat-ticks",
    default: "10",
  },
  "heartbeat-ticks": {
    type: "string",
    value: "N",
    help: "heartbeat interval in ticks",
    default: "1",
  },
  "log-level": {
    type: "string",
    value: "LEVEL",
    help: `one of ${LOG_LEVELS.join(", ")}`,
    default: "info",
  },
  "max-value-bytes": {
    type: "string",
    value: "N",
    help: `the largest value in bytes, at most ${MAX_VALUE_BYTES_LIMIT}`,
    default: "1048576",
  },
  "request-timeout-ms": {
    type: "string",
    value: "MS",
    help: "how long a request waits for the cluster before 504",
    default: "5000",
  },
  "help": { type: "boolean", help: "print this help and exit" },
  "version": { type: "boolean", help: "print the version and exit" },
};

/** Returns the environment variable of a flag: `data-dir` → `RAFTKV_DATA_DIR`. */
export function envName(flag: string): string {
  return `RAFTKV_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** Returns the `--help` text. */
export function usage(): string {
  const lines = [
    `raftkv ${VERSION}: a Raft-replicated key-value store`,
    "",
    "usage: raftkv --id N [--cluster URL,URL,...] [flags]",
    "",
    "flags (each also read from the environment variable shown; the flag wins):",
  ];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const flag = spec.value ? `--${name} ${spec.value}` : `--${name}`;
    const env = name === "help" || name === "version" ? "" : envName(name);
    const def = spec.default ? ` (default: ${spec.default})` : "";
    lines.push(`  ${flag.padEnd(24)} ${spec.help}${def}`);
    if (env) lines.push(`  ${"".padEnd(24)} env ${env}`);
  }
  return lines.join("\n");
}

/** A raw setting and where it came from, for error messages. */
interface RawValue {
  text: string;
  /** `--flag` or `RAFTKV_FLAG (--flag)`. */
  source: string;
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
 * Parses flags (`argv`, e.g. `Deno.args`) and `RAFTKV_*` variables (`env`)
 * into a checked configuration. A flag wins over its variable.
 *
 * @throws {ConfigError} naming the flag when a value is missing or bad.
 */
export function parseConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedCommand {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, spec] of Object.entries(FLAGS)) {
    options[name] = { type: spec.type };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw parseArgsError(err);
  }
  if (values.help) return { action: "help" };
  if (values.version) return { action: "version" };

  const raw = (name: string): RawValue | undefined => {
    const flag = values[name];
    if (typeof flag === "string") return { text: flag, source: `--${name}` };
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === "") return undefined;
    return { text: fromEnv, source: `${envName(name)} (--${name})` };
  };

  const idValue = raw("id");
  if (idValue === undefined) {
    throw new ConfigError("--id", "--id is required (this node's id, 1-based)");
  }
  const id = parseInteger("id", idValue, 1, Number.MAX_SAFE_INTEGER);

  const clusterValue = raw("cluster");
  if (clusterValue === undefined && id !== 1) {
    throw new ConfigError(
      "--cluster",
      `--cluster is required with --id ${id} (the default cluster has one node)`,
    );
  }
  const cluster = parseCluster(
    "cluster",
    clusterValue ?? { text: DEFAULT_CLUSTER, source: "--cluster" },
  );
  if (id > cluster.length) {
    throw new ConfigError(
      "--id",
      `--id ${id} has no URL in --cluster (${cluster.length} URLs)`,
    );
  }
  const url = cluster[id - 1]!;

  const listenValue = raw("listen");
  const listen = listenValue === undefined
    ? listenFromUrl(url)
    : parseListen("listen", listenValue);

  const config: Config = {
    id,
    cluster,
    url,
    join: parseBoolean("join", values.join, env),
    dataDir: raw("data-dir")?.text ?? `raftkv-${id}`,
    snapshotEntries: intOr("snapshot-entries", raw, 10000, 1),
    listen,
    tickMs: intOr("tick-ms", raw, 100, 1, 60_000),
    electionTicks: intOr("election-ticks", raw, 10, 2),
    heartbeatTicks: intOr("heartbeat-ticks", raw, 1, 1),
    logLevel: parseLogLevel(raw("log-level")),
    maxValueBytes: intOr(
      "max-value-bytes",
      raw,
      1024 * 1024,
      1,
      MAX_VALUE_BYTES_LIMIT,
    ),
    requestTimeoutMs: intOr("request-timeout-ms", raw, 5000, 1, 600_000),
  };
  const portValue = raw("port");
  if (portValue !== undefined) {
    config.port = parseInteger("port", portValue, 1, 65535);
    if (config.port === listen.port) {
      throw new ConfigError(
        "--port",
        `${portValue.source}: ${config.port} is already the node's own port`,
      );
    }
  }
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new ConfigError(
      "--election-ticks",
      `--election-ticks (${config.electionTicks}) must be more than --heartbeat-ticks (${config.heartbeatTicks})`,
    );
  }
  return { action: "run", config };
}

/** Parses a decimal integer in `min..max`. */
function parseInteger(
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

/** Parses flag `name` as an integer, or returns `fallback` when unset. */
function intOr(
  name: string,
  raw: (name: string) => RawValue | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = raw(name);
  return value === undefined ? fallback : parseInteger(name, value, min, max);
}

/** Reads a boolean flag, or its variable as true/false, 1/0, yes/no, on/off. */
function parseBoolean(
  name: string,
  flag: string | boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
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

/** The bind address implied by an advertised URL. */
function listenFromUrl(origin: string): ListenAddress {
  const url = new URL(origin);
  const port = url.port !== ""
    ? Number(url.port)
    : url.protocol === "https:"
    ? 443
    : 80;
  return { hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

/** Parses `HOST:PORT` or `[IPv6]:PORT`; an empty host means all interfaces. */
function parseListen(name: string, value: RawValue): ListenAddress {
  const text = value.text.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/]*)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(
      `--${name}`,
      `${value.source}: "${value.text}" is not HOST:PORT`,
    );
  }
  const hostname = m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]!);
  return { hostname, port };
}

/** Parses a log level name. */
function parseLogLevel(value: RawValue | undefined): LogLevel {
  if (value === undefined) return "info";
  const level = LOG_LEVELS.find((l) => l === value.text.trim().toLowerCase());
  if (level === undefined) {
    throw new ConfigError(
      "--log-level",
      `${value.source}: "${value.text}" is not one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  return level;
}

/** Reads the environment when allowed, else none (flags still work). */
function readEnv(): Record<string, string> {
  const allowed = Deno.permissions.querySync({ name: "env" }).state;
  return allowed === "granted" ? Deno.env.toObject() : {};
}

// ---- wiring ------------------------------------------------------------

/**
 * Runs a node until it is stopped: serves HTTP at once (answering 503 while
 * recovering), opens storage (newest snapshot, then the WAL after it),
 * starts the Raft loop and its ticker, and shuts down on SIGINT/SIGTERM.
 * Resolves with the process exit code.
 */
export async function run(config: Config): Promise<number> {
  const logger = jsonLogger(config.logLevel, { node: config.id });
  const store = new KvStore();
  let node: RaftNode | undefined;
  let storage: DiskStorage | undefined;
  const port = new KvNode({
    store,
    node: () => node,
    wal: () => storage,
    decodeMessages,
  });
  const app = createApp({
    node: port,
    logger,
    valueBytesMax: config.maxValueBytes,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const servers: Deno.HttpServer[] = [];
  const serve = (hostname: string, p: number) =>
    servers.push(Deno.serve({ hostname, port: p, onListen() {} }, app.fetch));
  serve(config.listen.hostname, config.listen.port);
  if (config.port !== undefined) serve(config.listen.hostname, config.port);
  logger.info("serving", { url: config.url, port: config.port });

  let exitCode = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const done = Promise.withResolvers<void>();
  const shutdown = (why: string, code: number) => {
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
    exitCode = Math.max(exitCode, code);
    logger.info("shutting down", { reason: why });
    node?.stop(why);
    done.resolve();
  };
  const onSignal = () => shutdown("signal", 0);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  try {
    storage = await DiskStorage.open(new DenoFs(), config.dataDir, {
      logger,
      // The node id guards against starting node 2 on node 1's directory.
      metadata: { clusterId: "", nodeId: config.id },
    });
    const peers = new Map(
      config.cluster.map((url, i) => [i + 1, url] as const),
    );
    node = new RaftNode({
      id: config.id,
      peers,
      join: config.join,
      storage,
      stateMachine: store,
      rng: seededRng(crypto.getRandomValues(new Uint32Array(1))[0]!),
      epoch: crypto.getRandomValues(new Uint32Array(1))[0]!,
      logger,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntries: config.snapshotEntries,
    });
    const raftNode = node;
    raftNode.setTransport(
      new PeerTransport({
        urlOf: (id) => raftNode.urlOf(id),
        encode: encodeMessages,
        listener: raftNode,
        logger,
      }),
    );
    raftNode.onStop = (reason, fatal) => {
      logger[fatal ? "error" : "warn"]("node stopped", {
        reason: reason.message,
      });
      shutdown(reason.message, fatal ? 1 : 0);
    };
    raftNode.start();
    ticker = setInterval(() => raftNode.tick(), config.tickMs);
  } catch (e) {
    logger.error("cannot start", { error: String(e) });
    shutdown("start-up failed", 1);
  }

  await done.promise;
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  await Promise.all(servers.map((s) => s.shutdown()));
  await storage?.close().catch(() => {});
  return exitCode;
}

// ---- entry point -------------------------------------------------------
if (import.meta.main) {
  let parsed: ParsedCommand;
  try {
    parsed = parseConfig(Deno.args, readEnv());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`raftkv: ${err.message}`);
    Deno.exit(EXIT_BAD_CONFIG);
  }
  if (parsed.action === "help") {
    console.log(usage());
  } else if (parsed.action === "version") {
    console.log(`raftkv ${VERSION}`);
  } else {
    Deno.exit(await run(parsed.config));
  }
}
