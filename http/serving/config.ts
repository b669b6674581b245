/**
 * The configuration a node is served with: every flag of `raftkv` (serve),
 * its `--help` text, and {@linkcode parseServeArgs}, which turns flags and
 * `RAFTKV_*` environment variables into a checked {@linkcode Config}.
 * Numeric defaults and bounds come from the one table, raft's `DEFAULTS`.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import { DEFAULTS, type LogLevel, type TunableName } from "../../raft/mod.ts";
import {
  ConfigError,
  DEFAULT_CLUSTER,
  DEFAULT_DATA_DIR,
  type Env,
  envName,
  flagReader,
  parseBoolean,
  parseDataDir,
  parseFlags,
  parseIdAndCluster,
  parseInteger,
  parseToken,
  parseTunable,
  type RawReader,
  type RawValue,
} from "./flags.ts";
import { peerPortExposed } from "./security.ts";

/** raftkv's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** Log levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = [
  "debug",
  "info",
  "warn",
  "error",
];

const DEFAULT_LOG_LEVEL: LogLevel = "info";

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
  /** The fewest applied entries between two snapshots. */
  snapshotEntries: number;
  /** A snapshot is due once the log since the last reaches this % of it. */
  snapshotLogPercent: number;
  /** Each node stretches its snapshot thresholds by a random 0..this %. */
  snapshotSpreadPercent: number;
  /** A snapshot is due once this many bytes were logged since the last. */
  snapshotMaxLogBytes: number;
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
  /** Keep the watch history of at least this many last log entries. */
  watchHistory: number;
  /** A watch stream's buffer in bytes; overflowing it cancels the watcher. */
  watchBufferBytes: number;
  /** A watch stream sends a progress event after this many idle ms. */
  watchProgressMs: number;
  /** Watch streams are woken at most once per this many ms. */
  watchCoalesceMs: number;
  /** While the node stays busy, the wake window grows up to this many ms. */
  watchCoalesceMaxMs: number;
}

/** What the flags of `raftkv` (serve) ask for. */
export type ServeCommand =
  | { action: "help"; topic?: undefined }
  | { action: "version" }
  | { action: "run"; config: Config };

/**
 * One flag: its type and help line, and its default as shown in help:
 * `default` when given, else the value of `tunable` in `DEFAULTS`.
 */
interface FlagSpec {
  type: "string" | "boolean";
  value?: string;
  help: string;
  default?: string;
  tunable?: TunableName;
}

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
    default: DEFAULT_DATA_DIR,
  },
  "snapshot-entries": {
    type: "string",
    value: "N",
    help: "the fewest applied entries between two snapshots",
    tunable: "snapshotEntries",
  },
  "snapshot-log-percent": {
    type: "string",
    value: "P",
    help:
      "snapshot once the log since the last snapshot reaches P % of its size",
    tunable: "snapshotLogPercent",
  },
  "snapshot-spread-percent": {
    type: "string",
    value: "S",
    help:
      "stretch each snapshot's thresholds by a per-node random 0..S % so nodes snapshot apart",
    tunable: "snapshotSpreadPercent",
  },
  "snapshot-max-log-bytes": {
    type: "string",
    value: "N",
    help: "snapshot once N bytes were logged since the last, whatever its size",
    tunable: "snapshotMaxLogBytes",
  },
  "snapshot-chunk-bytes": {
    type: "string",
    value: "N",
    help: "send snapshots to peers in chunks of at most N bytes",
    tunable: "snapshotChunkBytes",
  },
  "max-snapshot-bytes": {
    type: "string",
    value: "N",
    help: "the most bytes of snapshots this node receives at once (413 beyond)",
    tunable: "maxSnapshotBytes",
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
    tunable: "tickMs",
  },
  "election-ticks": {
    type: "string",
    value: "N",
    help: "election timeout in ticks; more than --heartbeat-ticks",
    tunable: "electionTicks",
  },
  "heartbeat-ticks": {
    type: "string",
    value: "N",
    help: "heartbeat interval in ticks",
    tunable: "heartbeatTicks",
  },
  "log-level": {
    type: "string",
    value: "LEVEL",
    help: `one of ${LOG_LEVELS.join(", ")}`,
    default: DEFAULT_LOG_LEVEL,
  },
  "max-value-bytes": {
    type: "string",
    value: "N",
    help: `the largest value in bytes, at most ${DEFAULTS.maxValueBytes.max}`,
    tunable: "maxValueBytes",
  },
  "request-timeout-ms": {
    type: "string",
    value: "MS",
    help: "how long a request waits for the cluster before 504",
    tunable: "requestTimeoutMs",
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
    tunable: "maxPendingProposals",
  },
  "max-uncommitted-bytes": {
    type: "string",
    value: "N",
    help: "uncommitted log bytes on the leader before writes get 503",
    tunable: "maxUncommittedBytes",
  },
  "body-timeout-ms": {
    type: "string",
    value: "MS",
    help: "how long a client may take to send a request body before 408",
    tunable: "bodyTimeoutMs",
  },
  "header-timeout-ms": {
    type: "string",
    value: "MS",
    help:
      "close a connection whose request header is not complete within MS (408); 0: never",
    tunable: "headerTimeoutMs",
  },
  "idle-timeout-ms": {
    type: "string",
    value: "MS",
    help: "close a keep-alive connection idle for MS; 0: never",
    tunable: "idleTimeoutMs",
  },
  "watch-history": {
    type: "string",
    value: "N",
    help: "keep the watch history of at least the last N log entries",
    tunable: "watchHistory",
  },
  "watch-buffer-bytes": {
    type: "string",
    value: "N",
    help: "a watch stream's buffer; a watcher that overflows it is cancelled",
    tunable: "watchBufferBytes",
  },
  "watch-progress-ms": {
    type: "string",
    value: "MS",
    help: "send an idle watch stream a progress event every MS",
    tunable: "watchProgressMs",
  },
  "watch-coalesce-ms": {
    type: "string",
    value: "MS",
    help:
      "send the changes applied within MS to a watch stream together; 0: after each apply",
    tunable: "watchCoalesceMs",
  },
  "watch-coalesce-max-ms": {
    type: "string",
    value: "MS",
    help:
      "while the node applies faster than --watch-coalesce-ms, that window grows up to MS",
    tunable: "watchCoalesceMaxMs",
  },
  "help": { type: "boolean", help: "print this help and exit" },
  "version": { type: "boolean", help: "print the version and exit" },
};

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
    const shown = spec.default ??
      (spec.tunable && String(DEFAULTS[spec.tunable].value));
    const def = shown ? ` (default: ${shown})` : "";
    lines.push(`  ${flag.padEnd(24)} ${spec.help}${def}`);
    if (env) lines.push(`  ${"".padEnd(24)} env ${env}`);
  }
  return lines.join("\n");
}

/**
 * Parses the flags of `raftkv` (serve; `argv`, e.g. `Deno.args`) and
 * `RAFTKV_*` variables (`env`) into a checked configuration. A flag wins
 * over its variable.
 *
 * @throws {ConfigError} naming the flag when a value is missing or bad.
 */
export function parseServeArgs(
  argv: readonly string[],
  env: Env,
): ServeCommand {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, spec] of Object.entries(FLAGS)) {
    options[name] = { type: spec.type };
  }
  const values = parseFlags(argv, options);
  if (values.help) return { action: "help" };
  if (values.version) return { action: "version" };

  const raw = flagReader(values, env);

  const { id, cluster } = parseIdAndCluster(raw, "");
  const url = cluster[id - 1]!;

  const listenValue = raw("listen");
  const listen = listenValue === undefined
    ? listenFromUrl(url)
    : parseListen("listen", listenValue);

  // The flag's entry in DEFAULTS: its default and bounds.
  const tunable = (name: string) =>
    parseTunable(name, raw, DEFAULTS[FLAGS[name]!.tunable!]);
  const config: Config = {
    id,
    cluster,
    url,
    join: parseBoolean("join", values.join, env),
    dataDir: parseDataDir(raw, id),
    snapshotEntries: tunable("snapshot-entries"),
    snapshotLogPercent: tunable("snapshot-log-percent"),
    snapshotSpreadPercent: tunable("snapshot-spread-percent"),
    snapshotMaxLogBytes: tunable("snapshot-max-log-bytes"),
    snapshotChunkBytes: tunable("snapshot-chunk-bytes"),
    maxSnapshotBytes: tunable("max-snapshot-bytes"),
    listen,
    insecurePeers: parseBoolean(
      "insecure-peers",
      values["insecure-peers"],
      env,
    ),
    tickMs: tunable("tick-ms"),
    electionTicks: tunable("election-ticks"),
    heartbeatTicks: tunable("heartbeat-ticks"),
    logLevel: parseLogLevel(raw("log-level")),
    maxValueBytes: tunable("max-value-bytes"),
    requestTimeoutMs: tunable("request-timeout-ms"),
    maxPendingProposals: tunable("max-pending-proposals"),
    maxUncommittedBytes: tunable("max-uncommitted-bytes"),
    bodyTimeoutMs: tunable("body-timeout-ms"),
    headerTimeoutMs: tunable("header-timeout-ms"),
    idleTimeoutMs: tunable("idle-timeout-ms"),
    watchHistory: tunable("watch-history"),
    watchBufferBytes: tunable("watch-buffer-bytes"),
    watchProgressMs: tunable("watch-progress-ms"),
    watchCoalesceMs: tunable("watch-coalesce-ms"),
    watchCoalesceMaxMs: tunable("watch-coalesce-max-ms"),
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

/**
 * Reads the token and TLS flags into `config` and checks that they fit the
 * node's URL: a certificate and key serve https, so the URL must say so
 * (an https URL without them is allowed: a TLS-terminating proxy in front).
 */
function parseSecurity(config: Config, raw: RawReader): void {
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
  if (value === undefined) return DEFAULT_LOG_LEVEL;
  const level = LOG_LEVELS.find((l) => l === value.text.trim().toLowerCase());
  if (level === undefined) {
    throw new ConfigError(
      "--log-level",
      `${value.source}: "${value.text}" is not one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  return level;
}
