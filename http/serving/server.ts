/**
 * A running node, wired: the data directory lock, the HTTP listeners (with
 * TLS and connection timeouts), the disk storage, the cluster id
 * (raft/cluster_id.ts), the {@linkcode RaftNode}, its peer checks
 * (http/peer/peer_guard.ts), peer transport and ticker, and an orderly
 * shutdown.
 *
 * @module
 */

import { KvStore, WatchHub } from "../../kv/mod.ts";
import {
  ClusterMismatchError,
  DataDirLock,
  decodeMessages,
  DiskStorage,
  encodeMessageParts,
  encodeMessages,
  type Fs,
  jsonLogger,
  type Logger,
  RaftMetrics,
  RaftNode,
  resolveClusterId,
  seededRng,
  StorageMismatchError,
} from "../../raft/mod.ts";
import { createApp } from "../app.ts";
import { KvNode } from "../api/kv_node.ts";
import { PeerTransport } from "../peer/peer_transport.ts";
import { PEER_HEADERS } from "../peer/peer_guard.ts";
import { RaftPeerDirectory } from "../peer/peer_directory.ts";
import { serveWithTimeouts } from "./timeout_server.ts";
import { checkJoin, JoinError } from "./join_check.ts";
import type { Config } from "./config.ts";
import { EXIT_BAD_CONFIG } from "./flags.ts";
import {
  loadTls,
  peerTransportAuth,
  securityWarnings,
  type TlsFiles,
} from "./security.ts";

/**
 * How often the leader looks for expired leases (docs/API.md "Leases": a
 * lease is revoked at most this much after its deadline, plus the commit).
 */
const LEASE_CHECK_INTERVAL_MS = 100;

/** What {@linkcode runServer} runs over, chosen by the caller. */
export interface ServerDeps {
  /** The filesystem of the data directory (`DenoFs` in production). */
  fs: Fs;
  /** Aborting it shuts the node down with exit code 0 (e.g. on SIGTERM). */
  signal: AbortSignal;
}

/**
 * A listener that could not start, with a one-line message naming the
 * address and what to do (no stack: it is the user's setup, not a bug).
 */
export class ListenError extends Error {
  constructor(hostname: string, port: number, cause: unknown) {
    const address = hostname.includes(":")
      ? `[${hostname}]:${port}`
      : `${hostname}:${port}`;
    const inUse = cause instanceof Deno.errors.AddrInUse ||
      (cause as { code?: unknown } | null)?.code === "EADDRINUSE";
    super(
      inUse
        ? `cannot listen on ${address}: the address is in use (another process listens there; stop it, or choose another port in --cluster, --listen or --port)`
        : `cannot listen on ${address}: ${
          (cause as Error)?.message ?? String(cause)
        }`,
    );
    this.name = "ListenError";
  }
}

/** A listener that can be shut down. */
interface Listener {
  shutdown(): Promise<void>;
}

/**
 * Runs a node until it is stopped: serves HTTP at once (answering 503 while
 * recovering), opens storage (newest snapshot, then the WAL after it),
 * starts the Raft loop and its ticker, and shuts down when `deps.signal`
 * aborts or the node stops. Resolves with the process exit code: 0 on a
 * requested stop, {@linkcode EXIT_BAD_CONFIG} on unusable TLS files or a
 * data directory of another cluster or node, 1 on any other failure.
 */
export async function runServer(
  config: Config,
  deps: ServerDeps,
): Promise<number> {
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
  const store = new KvStore({ history: { entries: config.watchHistory } });
  const watches = new WatchHub(store, {
    bufferBytes: config.watchBufferBytes,
  });
  // Aborted at shutdown: watch streams and long polls end, so the
  // listeners can drain.
  const stopping = new AbortController();
  const metrics = new RaftMetrics();
  let node: RaftNode | undefined;
  let storage: DiskStorage | undefined;
  let transport: PeerTransport | undefined;
  // Who this node says it is on every peer request (http/peer/peer_guard.ts);
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
  const kvNode = new KvNode({
    store,
    watches,
    node: () => node,
    wal: () => storage,
    decodeMessages,
    revokeTimeoutMs: config.requestTimeoutMs,
  });
  // The leader's lease countdowns: checked every tick (idle on followers).
  kvNode.expiry.start(LEASE_CHECK_INTERVAL_MS);
  const app = createApp({
    node: kvNode,
    logger,
    maxValueBytes: config.maxValueBytes,
    snapshotChunkBytes: config.snapshotChunkBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    peerToken: config.peerToken,
    clientToken: config.clientToken,
    bodyTimeoutMs: config.bodyTimeoutMs,
    memberFetch: tls.fetch,
    metrics: metrics.registry,
    watchProgressMs: config.watchProgressMs,
    watchCoalesceMs: config.watchCoalesceMs,
    watchCoalesceMaxMs: config.watchCoalesceMaxMs,
    stop: stopping.signal,
    peers,
    maxSnapshotBytes: config.maxSnapshotBytes,
  });
  let servers: Listener[];
  try {
    servers = await listen(config, tls, app.fetch, logger);
  } catch (e) {
    logger.error("cannot start", { error: (e as Error).message });
    lock.release();
    return 1;
  }

  let exitCode = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const done = Promise.withResolvers<void>();
  const shutdown = (why: string, code: number) => {
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
    kvNode.expiry.stop();
    exitCode = Math.max(exitCode, code);
    logger.info("shutting down", { reason: why });
    node?.stop(why);
    done.resolve();
  };
  const onAbort = () => shutdown("signal", 0);
  if (deps.signal.aborted) onAbort();
  else deps.signal.addEventListener("abort", onAbort, { once: true });

  try {
    const startedAt = performance.now();
    storage = await DiskStorage.open(deps.fs, config.dataDir, {
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
    // A fresh node joining must have been added first (POST /{id}), or it
    // would wait for a leader forever: say so and stop instead.
    if (config.join && storage.isEmpty()) {
      await checkJoin({
        id: config.id,
        url: config.url,
        cluster: config.cluster,
        fetch: tls.fetch,
        headers: config.clientToken
          ? { authorization: `Bearer ${config.clientToken}` }
          : {},
        timeoutMs: config.requestTimeoutMs,
        signal: deps.signal,
      });
    }
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
      snapshotLogPercent: config.snapshotLogPercent,
      snapshotSpreadPercent: config.snapshotSpreadPercent,
      snapshotMaxLogBytes: config.snapshotMaxLogBytes,
      startedAt,
      maxPendingProposals: config.maxPendingProposals,
      maxUncommittedBytes: config.maxUncommittedBytes,
      metrics,
      tickMs: config.tickMs,
    });
    const raftNode = node;
    const peerTransport = new PeerTransport({
      urlOf: (id) => raftNode.urlOf(id),
      encode: encodeMessages,
      encodeParts: encodeMessageParts,
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
    // A stop requested while storage opened: do not start at all.
    if (!deps.signal.aborted) {
      raftNode.start();
      ticker = setInterval(() => raftNode.tick(), config.tickMs);
    }
  } catch (e) {
    // A directory of another cluster or node is a mistake in the flags.
    const foreign = e instanceof ClusterMismatchError ||
      e instanceof StorageMismatchError;
    if (deps.signal.aborted) {
      shutdown("signal", 0);
    } else {
      logger.error("cannot start", {
        error: foreign || e instanceof JoinError
          ? (e as Error).message
          : String(e),
      });
      shutdown("start-up failed", foreign ? EXIT_BAD_CONFIG : 1);
    }
  }

  await done.promise;
  deps.signal.removeEventListener("abort", onAbort);
  transport?.close();
  stopping.abort();
  watches.dispose();
  await Promise.all(servers.map((s) => s.shutdown()));
  await storage?.close().catch(() => {});
  lock.release();
  return exitCode;
}

/**
 * Serves `fetch` on the node's own address and on `--port`, with TLS when
 * configured; with a header or idle timeout, on Node's HTTP server (which
 * has them, docs/SECURITY.md). Resolves once every listener listens. When
 * one cannot, shuts down those already listening and throws a
 * {@linkcode ListenError} naming the address (a port in use, say).
 */
async function listen(
  config: Config,
  tls: TlsFiles,
  fetch: (request: Request) => Response | Promise<Response>,
  logger: Logger,
): Promise<Listener[]> {
  const servers: Listener[] = [];
  const timeouts = config.headerTimeoutMs > 0 || config.idleTimeoutMs > 0;
  const serve = async (hostname: string, port: number) => {
    if (!timeouts) {
      servers.push(Deno.serve(
        tls.cert !== undefined && tls.key !== undefined
          ? { hostname, port, cert: tls.cert, key: tls.key, onListen() {} }
          : { hostname, port, onListen() {} },
        fetch,
      ));
      return;
    }
    const server = serveWithTimeouts(fetch, {
      hostname,
      port,
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
  const addresses = [config.listen.port, config.port].filter((p) =>
    p !== undefined
  );
  for (const port of addresses) {
    try {
      await serve(config.listen.hostname, port);
    } catch (e) {
      await Promise.all(servers.map((s) => s.shutdown()));
      throw new ListenError(config.listen.hostname, port, e);
    }
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
  return servers;
}
