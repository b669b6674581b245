import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  envName,
  securityWarnings,
  usage,
  VERSION,
} from "../http/mod.ts";
import { parseConfig } from "../main.ts";

const CLUSTER =
  "http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379";

/** Parses and expects a run; returns its config. */
function run(argv: string[], env: Record<string, string> = {}): Config {
  const parsed = parseConfig(argv, env);
  assert.equal(parsed.action, "run");
  return (parsed as { config: Config }).config;
}

/** Expects a ConfigError naming `flag` in its message. */
function fails(
  argv: string[],
  flag: string,
  env: Record<string, string> = {},
): ConfigError {
  let caught: unknown;
  try {
    parseConfig(argv, env);
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof ConfigError,
    `${argv.join(" ")}: expected a ConfigError, got ${caught}`,
  );
  assert.equal(caught.flag, flag, caught.message);
  assert.ok(
    caught.message.includes(flag),
    `"${caught.message}" does not name ${flag}`,
  );
  assert.ok(!caught.message.includes("\n"), "the message is one line");
  return caught;
}

Deno.test("defaults follow API.md", () => {
  const config = run(["--id", "1"]);
  assert.deepEqual(config, {
    id: 1,
    cluster: ["http://127.0.0.1:12379"],
    url: "http://127.0.0.1:12379",
    join: false,
    dataDir: "raftkv-1",
    snapshotEntries: 10000,
    snapshotLogPercent: 100,
    snapshotSpreadPercent: 50,
    snapshotMaxLogBytes: 256 * 1024 * 1024,
    snapshotChunkBytes: 1048576,
    maxSnapshotBytes: 2 * 1024 * 1024 * 1024,
    listen: { hostname: "127.0.0.1", port: 12379 },
    insecurePeers: false,
    tickMs: 100,
    electionTicks: 10,
    heartbeatTicks: 1,
    logLevel: "info",
    maxValueBytes: 1048576,
    requestTimeoutMs: 5000,
    maxPendingProposals: 10000,
    maxUncommittedBytes: 64 * 1024 * 1024,
    bodyTimeoutMs: 30000,
    headerTimeoutMs: 0,
    idleTimeoutMs: 0,
    watchHistory: 100000,
    watchBufferBytes: 1048576,
    watchProgressMs: 10000,
    watchCoalesceMs: 10,
    watchCoalesceMaxMs: 80,
  });
});

Deno.test("every flag is read", () => {
  const config = run([
    "--id=2",
    "--cluster",
    CLUSTER,
    "--port",
    "22380",
    "--join",
    "--data-dir",
    "/tmp/d2",
    "--snapshot-entries",
    "500",
    "--snapshot-log-percent",
    "50",
    "--snapshot-spread-percent",
    "20",
    "--snapshot-max-log-bytes",
    "65536",
    "--snapshot-chunk-bytes",
    "4096",
    "--max-snapshot-bytes",
    "2000000",
    "--cluster-token",
    "c-id",
    "--insecure-peers",
    "--listen",
    "0.0.0.0:22379",
    "--tick-ms",
    "50",
    "--election-ticks",
    "20",
    "--heartbeat-ticks",
    "2",
    "--log-level",
    "debug",
    "--max-value-bytes",
    "4096",
    "--request-timeout-ms",
    "800",
    "--peer-token",
    "p-token",
    "--client-token",
    "c-token",
    "--tls-ca",
    "/etc/ca.pem",
    "--max-pending-proposals",
    "50",
    "--max-uncommitted-bytes",
    "9999",
    "--body-timeout-ms",
    "1500",
    "--header-timeout-ms",
    "2500",
    "--idle-timeout-ms",
    "60000",
    "--watch-history",
    "50",
    "--watch-buffer-bytes",
    "2048",
    "--watch-progress-ms",
    "250",
    "--watch-coalesce-ms",
    "0",
    "--watch-coalesce-max-ms",
    "30",
  ]);
  assert.deepEqual(config, {
    id: 2,
    cluster: CLUSTER.split(","),
    url: "http://127.0.0.1:22379",
    port: 22380,
    join: true,
    dataDir: "/tmp/d2",
    snapshotEntries: 500,
    snapshotLogPercent: 50,
    snapshotSpreadPercent: 20,
    snapshotMaxLogBytes: 65536,
    snapshotChunkBytes: 4096,
    maxSnapshotBytes: 2000000,
    listen: { hostname: "0.0.0.0", port: 22379 },
    insecurePeers: true,
    clusterToken: "c-id",
    tickMs: 50,
    electionTicks: 20,
    heartbeatTicks: 2,
    logLevel: "debug",
    maxValueBytes: 4096,
    requestTimeoutMs: 800,
    peerToken: "p-token",
    clientToken: "c-token",
    tlsCa: "/etc/ca.pem",
    maxPendingProposals: 50,
    maxUncommittedBytes: 9999,
    bodyTimeoutMs: 1500,
    headerTimeoutMs: 2500,
    idleTimeoutMs: 60000,
    watchHistory: 50,
    watchBufferBytes: 2048,
    watchProgressMs: 250,
    watchCoalesceMs: 0,
    watchCoalesceMaxMs: 30,
  });
});

Deno.test("every flag has a RAFTKV_ variable", () => {
  const env = {
    RAFTKV_ID: "3",
    RAFTKV_CLUSTER: CLUSTER,
    RAFTKV_PORT: "32380",
    RAFTKV_JOIN: "true",
    RAFTKV_DATA_DIR: "data3",
    RAFTKV_SNAPSHOT_ENTRIES: "7",
    RAFTKV_SNAPSHOT_LOG_PERCENT: "300",
    RAFTKV_SNAPSHOT_SPREAD_PERCENT: "0",
    RAFTKV_SNAPSHOT_MAX_LOG_BYTES: "2000",
    RAFTKV_SNAPSHOT_CHUNK_BYTES: "2048",
    RAFTKV_MAX_SNAPSHOT_BYTES: "3000000",
    RAFTKV_CLUSTER_TOKEN: "env-cluster",
    RAFTKV_INSECURE_PEERS: "1",
    RAFTKV_LISTEN: "[::1]:32379",
    RAFTKV_TICK_MS: "10",
    RAFTKV_ELECTION_TICKS: "5",
    RAFTKV_HEARTBEAT_TICKS: "1",
    RAFTKV_LOG_LEVEL: "warn",
    RAFTKV_MAX_VALUE_BYTES: "100",
    RAFTKV_REQUEST_TIMEOUT_MS: "300",
    RAFTKV_PEER_TOKEN: "env-peer",
    RAFTKV_CLIENT_TOKEN: "env-client",
    RAFTKV_TLS_CA: "ca.pem",
    RAFTKV_MAX_PENDING_PROPOSALS: "7",
    RAFTKV_MAX_UNCOMMITTED_BYTES: "8",
    RAFTKV_BODY_TIMEOUT_MS: "9",
    RAFTKV_HEADER_TIMEOUT_MS: "8",
    RAFTKV_IDLE_TIMEOUT_MS: "7",
    RAFTKV_WATCH_HISTORY: "6",
    RAFTKV_WATCH_BUFFER_BYTES: "5000",
    RAFTKV_WATCH_PROGRESS_MS: "40",
    RAFTKV_WATCH_COALESCE_MS: "25",
    RAFTKV_WATCH_COALESCE_MAX_MS: "50",
  };
  assert.equal(envName("data-dir"), "RAFTKV_DATA_DIR");
  const config = run([], env);
  assert.deepEqual(config, {
    id: 3,
    cluster: CLUSTER.split(","),
    url: "http://127.0.0.1:32379",
    port: 32380,
    join: true,
    dataDir: "data3",
    snapshotEntries: 7,
    snapshotLogPercent: 300,
    snapshotSpreadPercent: 0,
    snapshotMaxLogBytes: 2000,
    snapshotChunkBytes: 2048,
    maxSnapshotBytes: 3000000,
    listen: { hostname: "::1", port: 32379 },
    insecurePeers: true,
    clusterToken: "env-cluster",
    tickMs: 10,
    electionTicks: 5,
    heartbeatTicks: 1,
    logLevel: "warn",
    maxValueBytes: 100,
    requestTimeoutMs: 300,
    peerToken: "env-peer",
    clientToken: "env-client",
    tlsCa: "ca.pem",
    maxPendingProposals: 7,
    maxUncommittedBytes: 8,
    bodyTimeoutMs: 9,
    headerTimeoutMs: 8,
    idleTimeoutMs: 7,
    watchHistory: 6,
    watchBufferBytes: 5000,
    watchProgressMs: 40,
    watchCoalesceMs: 25,
    watchCoalesceMaxMs: 50,
  });
  for (
    const [text, join] of [["1", true], ["yes", true], ["0", false], [
      "off",
      false,
    ], ["", false]] as const
  ) {
    assert.equal(run(["--id", "1"], { RAFTKV_JOIN: text }).join, join, text);
  }
});

Deno.test("a flag wins over its variable", () => {
  const config = run([
    "--id",
    "1",
    "--data-dir",
    "from-flag",
    "--tick-ms",
    "20",
    "--join",
  ], {
    RAFTKV_ID: "2",
    RAFTKV_DATA_DIR: "from-env",
    RAFTKV_TICK_MS: "999",
    RAFTKV_JOIN: "false",
  });
  assert.equal(config.id, 1);
  assert.equal(config.dataDir, "from-flag");
  assert.equal(config.tickMs, 20);
  assert.equal(config.join, true);
});

Deno.test("cluster URLs are normalized to origins and the listen address follows the node's URL", () => {
  const config = run([
    "--id",
    "2",
    "--cluster",
    " http://a.example:1/ , https://[::1]:8443,http://b.example",
  ]);
  const insecure = ["--insecure-peers"];
  assert.deepEqual(config.cluster, [
    "http://a.example:1",
    "https://[::1]:8443",
    "http://b.example",
  ]);
  assert.deepEqual(config.listen, { hostname: "::1", port: 8443 });
  assert.deepEqual(
    run(["--id", "3", "--cluster", config.cluster.join(","), ...insecure])
      .listen,
    {
      hostname: "b.example",
      port: 80,
    },
  );
});

Deno.test("--help and --version", () => {
  assert.deepEqual(parseConfig(["--help"], {}), { action: "help" });
  assert.deepEqual(parseConfig(["--version"], {}), { action: "version" });
  assert.deepEqual(parseConfig(["--id", "x", "--help"], {}), {
    action: "help",
  });
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  const text = usage();
  for (
    const flag of [
      "--id",
      "--cluster",
      "--port",
      "--join",
      "--data-dir",
      "--snapshot-entries",
      "--listen",
      "--tick-ms",
      "--election-ticks",
      "--heartbeat-ticks",
      "--log-level",
      "--max-value-bytes",
      "--request-timeout-ms",
      "--peer-token",
      "--client-token",
      "--tls-cert",
      "--tls-key",
      "--tls-ca",
      "--max-pending-proposals",
      "--max-uncommitted-bytes",
      "--body-timeout-ms",
      "--header-timeout-ms",
      "--idle-timeout-ms",
      "RAFTKV_PEER_TOKEN",
      "--help",
      "--version",
      "RAFTKV_DATA_DIR",
    ]
  ) {
    assert.ok(text.includes(flag), flag);
  }
});

Deno.test("each bad flag is named in a one-line error", () => {
  fails([], "--id");
  fails(["--id", "0"], "--id");
  fails(["--id", "-1"], "--id");
  fails(["--id", "1.5"], "--id");
  fails(["--id", "abc"], "--id");
  fails(["--id"], "--id");
  fails(["--id", "4", "--cluster", CLUSTER], "--id");
  fails(["--id", "2"], "--cluster");
  fails(["--id", "1", "--cluster", "http://a:1,,http://b:2"], "--cluster");
  fails(["--id", "1", "--cluster", "not-a-url"], "--cluster");
  fails(["--id", "1", "--cluster", "ftp://a:1"], "--cluster");
  fails(["--id", "1", "--cluster", "http://a:1/path"], "--cluster");
  fails(["--id", "1", "--cluster", "http://a:1,http://a:1/"], "--cluster");
  fails(["--id", "1", "--port", "0"], "--port");
  fails(["--id", "1", "--port", "65536"], "--port");
  fails(["--id", "1", "--port", "12379"], "--port");
  fails(["--id", "1", "--snapshot-entries", "0"], "--snapshot-entries");
  fails(["--id", "1", "--listen", "localhost"], "--listen");
  fails(["--id", "1", "--listen", "h:0"], "--listen");
  fails(["--id", "1", "--listen", "h:99999"], "--listen");
  fails(["--id", "1", "--tick-ms", "0"], "--tick-ms");
  fails(["--id", "1", "--election-ticks", "1"], "--election-ticks");
  fails(
    ["--id", "1", "--election-ticks", "3", "--heartbeat-ticks", "3"],
    "--election-ticks",
  );
  fails(["--id", "1", "--heartbeat-ticks", "0"], "--heartbeat-ticks");
  fails(["--id", "1", "--log-level", "loud"], "--log-level");
  fails(["--id", "1", "--max-value-bytes", "0"], "--max-value-bytes");
  fails(
    ["--id", "1", "--max-value-bytes", String(64 * 1024 * 1024)],
    "--max-value-bytes",
  );
  fails(["--id", "1", "--request-timeout-ms", "x"], "--request-timeout-ms");
  fails(["--id", "1", "--bogus"], "--bogus");
  fails(["--id", "1", "--join=yes"], "--join");
});

Deno.test("a bad variable is named with its flag", () => {
  const err = fails(["--id", "1"], "--tick-ms", { RAFTKV_TICK_MS: "fast" });
  assert.match(err.message, /RAFTKV_TICK_MS/);
  assert.match(
    fails(["--id", "1"], "--join", { RAFTKV_JOIN: "maybe" }).message,
    /RAFTKV_JOIN/,
  );
  assert.match(fails([], "--id", { RAFTKV_ID: "zero" }).message, /RAFTKV_ID/);
});

Deno.test("main exits 2 with one line naming a bad flag", async () => {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-env",
      new URL("../main.ts", import.meta.url).pathname,
      "--id",
      "1",
      "--tick-ms",
      "soon",
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stderr } = await command.output();
  assert.equal(code, 2);
  const text = new TextDecoder().decode(stderr).trim();
  assert.equal(text.split("\n").length, 1, text);
  assert.match(text, /^raftkv: --tick-ms/);
});

Deno.test("TLS flags go with https URLs, and tokens are header-safe", () => {
  const https =
    "https://127.0.0.1:12379,https://127.0.0.1:22379,https://127.0.0.1:32379";
  const tls = run([
    "--id",
    "2",
    "--cluster",
    https,
    "--tls-cert",
    "node.pem",
    "--tls-key",
    "node.key",
  ]);
  assert.equal(tls.tlsCert, "node.pem");
  assert.equal(tls.tlsKey, "node.key");
  assert.equal(tls.url, "https://127.0.0.1:22379");
  assert.equal(
    run(["--id", "1"], {
      RAFTKV_TLS_CERT: "c.pem",
      RAFTKV_TLS_KEY: "k.pem",
      RAFTKV_CLUSTER: "https://127.0.0.1:1",
    }).tlsKey,
    "k.pem",
  );
  // Tokens from the environment, none by default.
  const plain = run(["--id", "1"], { RAFTKV_PEER_TOKEN: "s3cret" });
  assert.equal(plain.peerToken, "s3cret");
  assert.equal(plain.clientToken, undefined);

  fails(["--id", "1", "--tls-cert", "c.pem"], "--tls-key");
  fails(["--id", "1", "--tls-key", "k.pem"], "--tls-cert");
  fails(
    ["--id", "1", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
    "--tls-cert",
  );
  // An https URL without TLS files: a TLS-terminating proxy serves it.
  assert.equal(
    run(["--id", "1", "--cluster", "https://127.0.0.1:1"]).tlsCert,
    undefined,
  );
  fails(["--id", "1", "--peer-token", ""], "--peer-token");
  fails(["--id", "1", "--peer-token", "has space"], "--peer-token");
  fails(["--id", "1", "--client-token", "tab\there"], "--client-token");
  fails(["--id", "1", "--client-token", "x".repeat(4097)], "--client-token");
  fails(
    ["--id", "1", "--max-pending-proposals", "0"],
    "--max-pending-proposals",
  );
  fails(
    ["--id", "1", "--max-uncommitted-bytes", "lots"],
    "--max-uncommitted-bytes",
  );
  fails(["--id", "1", "--body-timeout-ms", "0"], "--body-timeout-ms");
  fails(["--id", "1", "--header-timeout-ms", "-1"], "--header-timeout-ms");
  fails(["--id", "1", "--idle-timeout-ms", "soon"], "--idle-timeout-ms");
  assert.match(
    fails(["--id", "1"], "--peer-token", { RAFTKV_PEER_TOKEN: "a b" }).message,
    /RAFTKV_PEER_TOKEN/,
  );
});

Deno.test("a node reachable from other machines refuses to start without a peer token or --insecure-peers", () => {
  const refused = (argv: string[], env: Record<string, string> = {}) => {
    const err = fails(["--id", "1", ...argv], "--peer-token", env);
    assert.match(err.message, /--insecure-peers/);
  };
  refused(["--listen", "0.0.0.0:12379"]);
  refused(["--listen", ":12379"]);
  refused(["--cluster", "http://10.0.0.1:2379"]);
  refused(["--cluster", "http://10.0.0.1:2379"], {
    RAFTKV_INSECURE_PEERS: "0",
  });
  // TLS alone does not authenticate peers.
  refused([
    "--cluster",
    "https://10.0.0.1:2379",
    "--tls-cert",
    "c.pem",
    "--tls-key",
    "k.pem",
  ]);
  // Loopback, a token, or an explicit --insecure-peers start.
  run(["--id", "1"]);
  run(["--id", "1", "--cluster", "http://localhost:1"]);
  run(["--id", "1", "--listen", "0.0.0.0:12379", "--peer-token", "t"]);
  run(["--id", "1", "--listen", "0.0.0.0:12379", "--insecure-peers"]);
  run(["--id", "1", "--listen", "0.0.0.0:12379"], {
    RAFTKV_INSECURE_PEERS: "yes",
  });
});

Deno.test("a node reachable from other machines without a peer token is warned about", () => {
  const insecure = (argv: string[], env: Record<string, string> = {}) =>
    securityWarnings(run([...argv, "--insecure-peers"], env)).filter((w) =>
      w.startsWith("INSECURE")
    );
  assert.equal(insecure(["--id", "1"]).length, 0, "loopback only");
  assert.equal(
    insecure(["--id", "1", "--cluster", "http://localhost:1"]).length,
    0,
  );
  assert.equal(insecure(["--id", "1", "--listen", "0.0.0.0:12379"]).length, 1);
  assert.equal(insecure(["--id", "1", "--listen", ":12379"]).length, 1);
  assert.equal(
    insecure(["--id", "1", "--cluster", "http://10.0.0.1:2379"]).length,
    1,
  );
  assert.equal(
    insecure(["--id", "1", "--listen", "0.0.0.0:12379"], {
      RAFTKV_PEER_TOKEN: "t",
    }).length,
    0,
  );
  // An https URL served as plain HTTP is warned about too.
  assert.equal(
    securityWarnings(run(["--id", "1", "--cluster", "https://127.0.0.1:1"]))
      .length,
    1,
  );
});

Deno.test("a TLS file that cannot be read or parsed stops the node with status 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-main-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/not-pem.txt`, "hello");
    await Deno.writeTextFile(`${dir}/pem.pem`, "-----BEGIN X-----\n");
    for (
      const [flag, file] of [
        ["--tls-cert", `${dir}/missing.pem`],
        ["--tls-key", `${dir}/not-pem.txt`],
        ["--tls-cert", `${dir}/pem.pem`],
      ] as const
    ) {
      const command = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-env",
          "--allow-read",
          new URL("../main.ts", import.meta.url).pathname,
          "--id",
          "1",
          "--cluster",
          "https://127.0.0.1:12379",
          "--data-dir",
          `${dir}/data`,
          "--tls-cert",
          `${dir}/pem.pem`,
          "--tls-key",
          `${dir}/pem.pem`,
          flag,
          file,
        ],
        stdout: "piped",
        stderr: "piped",
      });
      const { code, stderr } = await command.output();
      const text = new TextDecoder().decode(stderr);
      assert.equal(code, 2, text);
      assert.ok(text.includes(flag), text);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
