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
import { jsonLogger, RaftMetrics, RaftNode, seededRng } from "./raft/mod.ts";
import { decodeMessages, encodeMessages } from "./raft/codec.ts";
import { DiskStorage } from "./raft/disk_storage.ts";
import { DataDirLock } from "./raft/data_dir_lock.ts";
import { DenoFs } from "./wal/mod.ts";
import { createApp } from "./http/app.ts";
import { serveWithTimeouts } from "./http/timeout_server.ts";
import { KvNode } from "./http/kv_node.ts";
import { PeerTransport } from "./http/peer_transport.ts";
import { isLoopbackHost } from "./http/auth.ts";
import { restoreBackup } from "./raft/restore.ts";
import { ClusterMismatchError, resolveClusterId } from "./raft/cluster_id.ts";
import { StorageMismatchError } from "./raft/disk_storage.ts";
import { PEER_HEADERS } from "./http/peer_guard.ts";
import { RaftPeerDirectory } from "./http/peer_directory.ts";
import { SNAPSHOT_BYTES_MAX_DEFAULT } from "./http/snapshot_receiver.ts";

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
  /** Snapshots go to peers in chunks of at most this many bytes. */
  snapshotChunkBytes: number;
  /** The most bytes of snapshot transfers this node receives at once (413 beyond). */
  maxSnapshotBytes: number;
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
  /** Peers must present it on the peer routes; this node sends it to them. */
  peerToken?: string;
  /** Mixed into the cluster id at bootstrap (raft/cluster_id.ts). */
  clusterToken?: string;
  /** Serve peers without a peer token although reachable from other machines. */
  insecurePeers: boolean;
  /** When set, client routes need `Authorization: Bearer <it>`. */
  clientToken?: string;
  /** PEM certificate chain file: serve HTTPS (with {@linkcode tlsKey}). */
  tlsCert?: string;
  /** PEM private key file of {@linkcode tlsCert}. */
  tlsKey?: string;
  /** PEM CA file that peers' certificates are verified against. */
  tlsCa?: string;
  /** Proposals waiting on this node before writes get 503. */
  maxPendingProposals: number;
  /** Uncommitted log bytes on the leader before writes get 503. */
  maxUncommittedBytes: number;
  /** How long a client may take to send a request body, in ms (408 beyond). */
  bodyTimeoutMs: number;
  /** Time to send a request header before 408 and close, in ms; 0: no limit. */
  headerTimeoutMs: number;
  /** Time a keep-alive connection may sit idle before it is closed; 0: no limit. */
  idleTimeoutMs: number;
}

/** What `raftkv restore` is asked to do (docs/BACKUP.md). */
export interface RestoreCommand {
  /** The backup file (from `GET /v1/snapshot`). */
  from: string;
  /** The new, empty data directory to seed. */
  dataDir: string;
  /** The restored member's id, 1-based. */
  id: number;
  /** The new cluster's member URLs, in id order. */
  cluster: string[];
  /** The new cluster's `--cluster-token`, when it is started with one. */
  clusterToken?: string;
}

/** What the command line asks for. */
export type ParsedCommand =
  | { action: "help"; topic?: "restore" }
  | { action: "version" }
  | { action: "run"; config: Config }
  | { action: "restore"; restore: RestoreCommand };

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
  "cluster-token": {
    type: "string",
    value: "TOKEN",
    help:
      "mixed into the cluster id when the cluster is bootstrapped; the same on every member",
    default: "none",
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
  "snapshot-chunk-bytes": {
    type: "string",
    value: "N",
    help: "send snapshots to peers in chunks of at most N bytes",
    default: "1048576",
  },
  "max-snapshot-bytes": {
    type: "string",
    value: "N",
    help: "the most bytes of snapshots this node receives at once (413 beyond)",
    default: String(SNAPSHOT_BYTES_MAX_DEFAULT),
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
  "peer-token": {
    type: "string",
    value: "TOKEN",
    help: "shared secret peers present on /raft (docs/SECURITY.md)",
    default: "none: peer routes are open",
  },
  "insecure-peers": {
    type: "boolean",
    help:
      "serve peers without --peer-token although reachable from other machines",
    default: "off: such a node refuses to start",
  },
  "client-token": {
    type: "string",
    value: "TOKEN",
    help: "clients must send Authorization: Bearer TOKEN",
    default: "none: client routes are open",
  },
  "tls-cert": {
    type: "string",
    value: "FILE",
    help: "PEM certificate chain: serve HTTPS (needs --tls-key, https URLs)",
    default: "none",
  },
  "tls-key": {
    type: "string",
    value: "FILE",
    help: "PEM private key of --tls-cert",
    default: "none",
  },
  "tls-ca": {
    type: "string",
    value: "FILE",
    help: "PEM CA certificates that peers' certificates are verified against",
    default: "the system's roots",
  },
  "max-pending-proposals": {
    type: "string",
    value: "N",
    help: "writes waiting on this node before new ones get 503",
    default: "10000",
  },
  "max-uncommitted-bytes": {
    type: "string",
    value: "N",
    help: "uncommitted log bytes on the leader before writes get 503",
    default: "67108864",
  },
  "body-timeout-ms": {
    type: "string",
    value: "MS",
    help: "how long a client may take to send a request body before 408",
    default: "30000",
  },
  "header-timeout-ms": {
    type: "string",
    value: "MS",
    help:
      "close a connection whose request header is not complete within MS (408); 0: never",
    default: "0",
  },
  "idle-timeout-ms": {
    type: "string",
    value: "MS",
    help: "close a keep-alive connection idle for MS; 0: never",
    default: "0",
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
    "       raftkv restore --from FILE --id N [--cluster URLS] [--data-dir DIR]",
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

/**
 * Reads one setting: the flag's value when given, else its `RAFTKV_*`
 * variable when set and not empty, else undefined.
 */
function flagReader(
  values: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): (name: string) => RawValue | undefined {
  return (name) => {
    const flag = values[name];
    if (typeof flag === "string") return { text: flag, source: `--${name}` };
    const fromEnv = env[envName(name)];
    if (fromEnv === undefined || fromEnv === "") return undefined;
    return { text: fromEnv, source: `${envName(name)} (--${name})` };
  };
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
  if (argv[0] === "restore") return parseRestore(argv.slice(1), env);
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

  const raw = flagReader(values, env);

  const { id, cluster } = parseIdAndCluster(raw, "");
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
    snapshotChunkBytes: intOr(
      "snapshot-chunk-bytes",
      raw,
      1024 * 1024,
      1024,
      256 * 1024 * 1024,
    ),
    maxSnapshotBytes: intOr(
      "max-snapshot-bytes",
      raw,
      SNAPSHOT_BYTES_MAX_DEFAULT,
      1024 * 1024,
    ),
    listen,
    insecurePeers: parseBoolean(
      "insecure-peers",
      values["insecure-peers"],
      env,
    ),
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
    maxPendingProposals: intOr("max-pending-proposals", raw, 10_000, 1),
    maxUncommittedBytes: intOr(
      "max-uncommitted-bytes",
      raw,
      64 * 1024 * 1024,
      1,
    ),
    bodyTimeoutMs: intOr("body-timeout-ms", raw, 30_000, 1, 3_600_000),
    headerTimeoutMs: intOr("header-timeout-ms", raw, 0, 0, 3_600_000),
    idleTimeoutMs: intOr("idle-timeout-ms", raw, 0, 0, 3_600_000),
  };
  parseSecurity(config, raw);
  const clusterToken = raw("cluster-token");
  if (clusterToken) {
    config.clusterToken = parseToken("cluster-token", clusterToken);
  }
  const exposed = peerPortExposed(config);
  if (exposed !== undefined) throw new ConfigError("--peer-token", exposed);
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

/** The `raftkv restore --help` text. */
export function restoreUsage(): string {
  const flag = (name: string, help: string) => `  ${name.padEnd(24)} ${help}`;
  return [
    "usage: raftkv restore --from FILE --id N [--cluster URL,URL,...] [--data-dir DIR]",
    "",
    "Seeds an empty data directory from a backup (GET /v1/snapshot) so that",
    "`raftkv --id N --cluster URLS --data-dir DIR` starts a NEW cluster with",
    "the backup's data. Restore every member from the same file, each with",
    "its own --id and --data-dir, then start them all.",
    "",
    flag("--from FILE", "the backup file (required)"),
    flag("--id N", "this member's id, 1-based (required)"),
    flag(
      "--cluster URLS",
      `the new cluster's URLs, in id order (default: ${DEFAULT_CLUSTER} with --id 1)`,
    ),
    flag(
      "--data-dir DIR",
      "the directory to seed; must be missing or empty (default: raftkv-{id})",
    ),
    flag(
      "--cluster-token TOKEN",
      "the new cluster's --cluster-token, if it is started with one",
    ),
    "",
    "Each flag is also read from RAFTKV_<FLAG> (e.g. RAFTKV_DATA_DIR); the flag wins.",
  ].join("\n");
}

/** Parses the flags of `raftkv restore` (after the word `restore`). */
function parseRestore(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        "from": { type: "string" },
        "id": { type: "string" },
        "cluster": { type: "string" },
        "data-dir": { type: "string" },
        "cluster-token": { type: "string" },
        "help": { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw parseArgsError(err);
  }
  if (values.help) return { action: "help", topic: "restore" };
  const raw = flagReader(values, env);
  const from = raw("from");
  if (from === undefined || from.text === "") {
    throw new ConfigError(
      "--from",
      "restore: --from is required (the backup file)",
    );
  }
  const { id, cluster } = parseIdAndCluster(raw, "restore: ");
  const dataDir = raw("data-dir")?.text ?? `raftkv-${id}`;
  const token = raw("cluster-token");
  return {
    action: "restore",
    restore: {
      from: from.text,
      dataDir,
      id,
      cluster,
      ...(token ? { clusterToken: parseToken("cluster-token", token) } : {}),
    },
  };
}

/**
 * Reads `--id` and `--cluster`: the id is required, and the cluster too
 * unless the id is 1 (the default cluster has one node); the id must have a
 * URL in the cluster. `prefix` starts each message (e.g. `restore: `).
 */
function parseIdAndCluster(
  raw: (name: string) => RawValue | undefined,
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

/**
 * Reads the token and TLS flags into `config` and checks that they fit the
 * node's URL: a certificate and key serve https, so the URL must say so
 * (an https URL without them is allowed: a TLS-terminating proxy in front).
 */
function parseSecurity(
  config: Config,
  raw: (name: string) => RawValue | undefined,
): void {
  const peerToken = raw("peer-token");
  if (peerToken) config.peerToken = parseToken("peer-token", peerToken);
  const clientToken = raw("client-token");
  if (clientToken) config.clientToken = parseToken("client-token", clientToken);
  const cert = raw("tls-cert")?.text, key = raw("tls-key")?.text;
  const ca = raw("tls-ca")?.text;
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "--tls-cert" : "--tls-key";
    throw new ConfigError(
      missing,
      `${missing} is required with ${
        cert === undefined ? "--tls-key" : "--tls-cert"
      }`,
    );
  }
  if (cert !== undefined && key !== undefined) {
    if (!config.url.startsWith("https:")) {
      throw new ConfigError(
        "--tls-cert",
        `--tls-cert: node ${config.id}'s URL ${config.url} must be https:// to serve TLS`,
      );
    }
    config.tlsCert = cert;
    config.tlsKey = key;
  }
  if (ca !== undefined) config.tlsCa = ca;
}

/** A token: 1 to 4096 visible ASCII characters (it travels in a header). */
function parseToken(name: string, value: RawValue): string {
  if (!/^[\x21-\x7e]{1,4096}$/.test(value.text)) {
    throw new ConfigError(
      `--${name}`,
      `${value.source}: a token is 1 to 4096 visible ASCII characters, no spaces`,
    );
  }
  return value.text;
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
  let tls: TlsFiles;
  try {
    tls = await loadTls(config);
  } catch (e) {
    logger.error("cannot start", { error: String((e as Error)?.message ?? e) });
    return EXIT_BAD_CONFIG;
  }
  for (const warning of securityWarnings(config)) logger.warn(warning);
  // Before anything else: a second process on this directory must not
  // even serve (it would answer for state it cannot own).
  let lock: DataDirLock;
  try {
    lock = await DataDirLock.acquire(config.dataDir);
  } catch (e) {
    logger.error("cannot start", { error: String((e as Error)?.message ?? e) });
    return 1;
  }
  const store = new KvStore();
  const metrics = new RaftMetrics();
  let node: RaftNode | undefined;
  let storage: DiskStorage | undefined;
  let transport: PeerTransport | undefined;
  // Who this node says it is on every peer request (http/peer_guard.ts);
  // the transport reads the object on each request, so a cluster id learned
  // later (a joining node) goes out from then on.
  const auth = peerTransportAuth(config, tls);
  let clusterId = "";
  const setClusterId = (id: string) => {
    clusterId = id;
    auth.headers[PEER_HEADERS.cluster] = id;
  };
  auth.headers[PEER_HEADERS.from] = String(config.id);
  const peers = new RaftPeerDirectory({
    id: config.id,
    node: () => node,
    clusterId: () => clusterId,
    learnClusterId: async (id) => {
      await storage!.adoptClusterId(id);
      setClusterId(id);
    },
  });
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
    snapshotChunkBytes: config.snapshotChunkBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    peerToken: config.peerToken,
    clientToken: config.clientToken,
    bodyTimeoutMs: config.bodyTimeoutMs,
    memberFetch: tls.fetch,
    metrics: metrics.registry,
    peers,
    snapshotBytesMax: config.maxSnapshotBytes,
  });
  const servers: { shutdown(): Promise<void> }[] = [];
  const timeouts = config.headerTimeoutMs > 0 || config.idleTimeoutMs > 0;
  // Resolves once listening; fails (as Deno.serve throws) when it cannot.
  const serve = async (hostname: string, p: number) => {
    if (!timeouts) {
      servers.push(Deno.serve(
        tls.cert !== undefined && tls.key !== undefined
          ? { hostname, port: p, cert: tls.cert, key: tls.key, onListen() {} }
          : { hostname, port: p, onListen() {} },
        app.fetch,
      ));
      return;
    }
    const server = serveWithTimeouts(app.fetch, {
      hostname,
      port: p,
      cert: tls.cert,
      key: tls.key,
      headerTimeoutMs: config.headerTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      onError: (err) =>
        logger.error("http server error", { error: String(err) }),
    });
    await server.listening;
    servers.push(server);
  };
  await serve(config.listen.hostname, config.listen.port);
  if (config.port !== undefined) {
    await serve(config.listen.hostname, config.port);
  }
  logger.info("serving", {
    url: config.url,
    port: config.port,
    // Node's HTTP server, for the connection timeouts (docs/SECURITY.md).
    ...(timeouts
      ? {
        headerTimeoutMs: config.headerTimeoutMs,
        idleTimeoutMs: config.idleTimeoutMs,
      }
      : {}),
  });

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
      fsyncDuration: metrics.walFsyncDuration,
      onSlowFsync: () => metrics.walSlowFsyncs.inc(),
      // A follower that needs the snapshot gets it read from its file; the
      // bytes need not stay in memory between snapshots.
      snapshotDataInMemory: false,
    });
    const id = resolveClusterId({
      stored: storage.metadata.clusterId,
      join: config.join,
      cluster: config.cluster,
      token: config.clusterToken ?? "",
      dataDir: config.dataDir,
    });
    if (id !== "") await storage.adoptClusterId(id);
    setClusterId(id);
    logger.info("cluster id", {
      clusterId: id || "(learned from the cluster when joining)",
    });
    const initial = new Map(
      config.cluster.map((url, i) => [i + 1, url] as const),
    );
    node = new RaftNode({
      id: config.id,
      peers: initial,
      join: config.join,
      storage,
      stateMachine: store,
      rng: seededRng(crypto.getRandomValues(new Uint32Array(1))[0]!),
      epoch: crypto.getRandomValues(new Uint32Array(1))[0]!,
      logger,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntries: config.snapshotEntries,
      maxPendingProposals: config.maxPendingProposals,
      maxUncommittedBytes: config.maxUncommittedBytes,
      metrics,
      tickMs: config.tickMs,
    });
    const raftNode = node;
    const peerTransport = new PeerTransport({
      urlOf: (id) => raftNode.urlOf(id),
      encode: encodeMessages,
      listener: raftNode,
      logger,
      snapshotChunkBytes: config.snapshotChunkBytes,
      ...auth,
    });
    transport = peerTransport;
    metrics.registry.onCollect(() =>
      metrics.setPeerTotals(peerTransport.stats())
    );
    raftNode.setTransport(transport);
    raftNode.onStop = (reason, fatal) => {
      logger[fatal ? "error" : "warn"]("node stopped", {
        reason: reason.message,
      });
      shutdown(reason.message, fatal ? 1 : 0);
    };
    raftNode.start();
    ticker = setInterval(() => raftNode.tick(), config.tickMs);
  } catch (e) {
    // A directory of another cluster or node is a mistake in the flags.
    const foreign = e instanceof ClusterMismatchError ||
      e instanceof StorageMismatchError;
    logger.error("cannot start", {
      error: foreign ? (e as Error).message : String(e),
    });
    shutdown("start-up failed", foreign ? EXIT_BAD_CONFIG : 1);
  }

  await done.promise;
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  transport?.close();
  await Promise.all(servers.map((s) => s.shutdown()));
  await storage?.close().catch(() => {});
  lock.release();
  return exitCode;
}

/** The contents of the TLS files a node was started with. */
interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  /** With `ca`: a fetch that verifies peers against it. */
  fetch?: typeof fetch;
}

/** Reads the PEM files of `--tls-cert`, `--tls-key` and `--tls-ca`. */
async function loadTls(config: Config): Promise<TlsFiles> {
  const read = async (flag: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new ConfigError(
        flag,
        `${flag}: cannot read ${path}: ${(e as Error).message}`,
      );
    }
    if (!text.includes("-----BEGIN ")) {
      throw new ConfigError(flag, `${flag}: ${path} holds no PEM data`);
    }
    return text;
  };
  const files: TlsFiles = {
    cert: await read("--tls-cert", config.tlsCert),
    key: await read("--tls-key", config.tlsKey),
    ca: await read("--tls-ca", config.tlsCa),
  };
  if (files.cert !== undefined && files.key !== undefined) {
    // Parses and matches the pair now, for a clear error before serving.
    try {
      Deno.createHttpClient({ cert: files.cert, key: files.key }).close();
    } catch (e) {
      throw new ConfigError(
        "--tls-cert",
        `--tls-cert/--tls-key: ${config.tlsCert}, ${config.tlsKey}: ${
          (e as Error).message
        }`,
      );
    }
  }
  if (files.ca !== undefined) {
    let client: Deno.HttpClient;
    try {
      client = Deno.createHttpClient({ caCerts: [files.ca] });
    } catch (e) {
      throw new ConfigError(
        "--tls-ca",
        `--tls-ca: ${config.tlsCa}: ${(e as Error).message}`,
      );
    }
    files.fetch = (input, init) => fetch(input, { ...init, client });
  }
  return files;
}

/**
 * The peer transport's share of security: the peer token on every request
 * and stream handshake, and trust in `--tls-ca` for https peers (a fetch
 * for the POST lane, CA certificates for the WebSocket stream).
 */
function peerTransportAuth(
  config: Config,
  tls: TlsFiles,
): {
  headers: Record<string, string>;
  fetch?: typeof fetch;
  caCerts?: string[];
} {
  const headers: Record<string, string> = config.peerToken === undefined
    ? {}
    : { authorization: `Bearer ${config.peerToken}` };
  const https = config.url.startsWith("https:") || tls.fetch !== undefined;
  if (!https) return { headers };
  return {
    headers,
    fetch: tls.fetch ?? fetch,
    ...(tls.ca === undefined ? {} : { caCerts: [tls.ca] }),
  };
}

/**
 * Why a node must not start as configured, or undefined: it can be reached
 * from other machines (its listen address or URL is not loopback) and has
 * no peer token, so anyone who reaches the port could send it Raft
 * messages, and `--insecure-peers` does not say this is wanted. TLS alone
 * does not count: the server does not authenticate its clients, so only
 * the token keeps strangers off `/raft`.
 */
export function peerPortExposed(config: Config): string | undefined {
  if (config.peerToken !== undefined || config.insecurePeers) return undefined;
  const hosts = [config.listen.hostname, new URL(config.url).hostname];
  if (hosts.every(isLoopbackHost)) return undefined;
  return `no --peer-token (RAFTKV_PEER_TOKEN) while listening on ` +
    `${config.listen.hostname} and advertising ${config.url}: anyone who ` +
    "can reach this port could send Raft messages; set the same " +
    "--peer-token on every node, or pass --insecure-peers " +
    "(RAFTKV_INSECURE_PEERS=1) to run without one (docs/SECURITY.md)";
}

/**
 * The warnings a node logs at start-up about how it is exposed: loudly when
 * it has no peer token but can be reached from other machines (allowed by
 * `--insecure-peers` only: anyone who reaches it could inject Raft
 * messages), and when it advertises https but serves plain HTTP.
 */
export function securityWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.url.startsWith("https:") && config.tlsCert === undefined) {
    warnings.push(
      `the node's URL ${config.url} is https:// but it serves plain HTTP ` +
        "(no --tls-cert): a TLS-terminating proxy must stand in front of it",
    );
  }
  const hosts = [config.listen.hostname, new URL(config.url).hostname];
  if (config.peerToken === undefined && !hosts.every(isLoopbackHost)) {
    warnings.push(
      `INSECURE (--insecure-peers): no --peer-token (RAFTKV_PEER_TOKEN) ` +
        `while listening on ${config.listen.hostname} and advertising ` +
        `${config.url}: anyone who can reach this port can send Raft ` +
        "messages and take over or corrupt the cluster; set the same " +
        "--peer-token on every node (docs/SECURITY.md)",
    );
  }
  return warnings;
}

/**
 * Runs `raftkv restore`: verifies the backup and seeds the data directory
 * (raft/restore.ts). Resolves with the exit code: 0 when done, 1 with a
 * one-line message on stderr when refused.
 */
export async function runRestore(cmd: RestoreCommand): Promise<number> {
  try {
    const r = await restoreBackup({
      fs: new DenoFs(),
      ...cmd,
      // The store's own decoder checks the image before anything is written.
      checkState: (state) => new KvStore().restore(state),
    });
    console.log(
      `raftkv restore: ${cmd.dataDir} seeded for node ${cmd.id} of ` +
        `${r.members.length} at index ${r.index}, term ${r.term} ` +
        `(${r.stateBytes} bytes of state from ${cmd.from})`,
    );
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`raftkv restore: ${message}`);
    return 1;
  }
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
    console.log(parsed.topic === "restore" ? restoreUsage() : usage());
  } else if (parsed.action === "version") {
    console.log(`raftkv ${VERSION}`);
  } else if (parsed.action === "restore") {
    Deno.exit(await runRestore(parsed.restore));
  } else {
    Deno.exit(await run(parsed.config));
  }
}
