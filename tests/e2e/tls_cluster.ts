/**
 * A cluster of real processes serving HTTPS with certificates from a
 * throw-away CA made with openssl at test time, and a client token (and,
 * when given, a peer token); the harness's own requests trust the CA and
 * carry the client token.
 */

import { E2eCluster } from "./cluster.ts";
import { makePki, type TestPki } from "../http/test_pki.ts";

/** Options of {@linkcode startTlsCluster}. */
export interface TlsClusterOptions {
  /** Nodes bootstrapping the cluster (default 3). */
  size?: number;
  /** `--client-token`. */
  clientToken: string;
  /** `--peer-token`, when the peers are to use one. */
  peerToken?: string;
  /** Further flags for every node, after the TLS and token flags. */
  extraArgs?: string[];
}

/** A started TLS cluster and what a test needs to reach it. */
export interface TlsCluster {
  cluster: E2eCluster;
  /** The folder holding the PEM files (removed by `close`). */
  dir: string;
  /** The CA, and the node certificate and key it signed. */
  pki: TestPki;
  /** An HTTP client trusting the CA. */
  client: Deno.HttpClient;
  /** Stops the cluster, closes the client and removes the PEM files. */
  close(): Promise<void>;
}

/** Makes the PKI and starts the cluster with `--tls-*` and the tokens. */
export async function startTlsCluster(
  opts: TlsClusterOptions,
): Promise<TlsCluster> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-tls-" });
  const pki = await makePki(dir);
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(pki.ca)],
  });
  const cluster = await E2eCluster.start({
    size: opts.size,
    scheme: "https",
    client,
    headers: { authorization: `Bearer ${opts.clientToken}` },
    extraArgs: [
      "--tls-cert",
      pki.cert,
      "--tls-key",
      pki.key,
      "--tls-ca",
      pki.ca,
      ...(opts.peerToken ? ["--peer-token", opts.peerToken] : []),
      "--client-token",
      opts.clientToken,
      ...(opts.extraArgs ?? []),
    ],
  });
  return {
    cluster,
    dir,
    pki,
    client,
    close: async () => {
      await cluster.close();
      client.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
