/**
 * A node's security set-up at start: the TLS files of `--tls-cert`,
 * `--tls-key` and `--tls-ca` read and checked, what the peer transport
 * sends and trusts, the closed peer port (no start when reachable from
 * other machines without a peer token, unless `--insecure-peers`), and the
 * warnings about how the node is exposed (docs/SECURITY.md).
 *
 * @module
 */

import { isLoopbackHost } from "../auth.ts";
import type { Config } from "./config.ts";
import { ConfigError } from "./flags.ts";

/** The contents of the TLS files a node was started with. */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  /** With `ca`: a fetch that verifies peers against it. */
  fetch?: typeof fetch;
}

/**
 * Reads the PEM files of `--tls-cert`, `--tls-key` and `--tls-ca`, and
 * checks now that the pair matches and the CA parses.
 *
 * @throws {ConfigError} naming the flag whose file is unreadable or bad.
 */
export async function loadTls(config: Config): Promise<TlsFiles> {
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
export function peerTransportAuth(
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
