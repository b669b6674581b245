/**
 * A secured cluster of real processes: HTTPS with certificates from a
 * throw-away CA made with openssl at test time, a peer token on the peer
 * routes and a client token on the client routes. Peers verify each other
 * against the CA; strangers without the tokens get 401, plain HTTP and
 * clients that do not trust the CA get no answer.
 */

import assert from "node:assert/strict";
import { type E2eCluster, errorCode, request, show } from "./cluster.ts";
import { startTlsCluster } from "./tls_cluster.ts";
import { hasOpenssl } from "../http/test_pki.ts";
import { sendAndReadUntilClosed } from "../http/raw_client.ts";

const PEER_TOKEN = "e2e-peer-token-7f3a9c";
const CLIENT_TOKEN = "e2e-client-token-41d2e8";

/**
 * Starts the secured cluster with `extraArgs` on top of TLS and the tokens,
 * checks what every secured cluster must do (peers on the stream, or by
 * POST when `stream` is false), then runs `more` on it.
 */
async function securedCluster(
  extraArgs: string[],
  stream: boolean,
  more: (c: E2eCluster, ca: string) => Promise<void> = async () => {},
): Promise<void> {
  const tls = await startTlsCluster({
    clientToken: CLIENT_TOKEN,
    peerToken: PEER_TOKEN,
    extraArgs,
  });
  const { cluster: c, client, pki } = tls;
  try {
    const leader = await c.waitLeader();
    const [writer, reader] = [1, 2, 3].filter((id) => id !== leader);
    assert.ok(c.node(writer!).url.startsWith("https://127.0.0.1:"));

    // A write through a follower, read back through the other one.
    await c.mustWrite(writer!, "tls-key", "over https");
    assert.equal(await c.mustRead(reader!, "tls-key"), "over https");
    await c.mustWrite(leader, "tls-key-2", "again");
    assert.equal(await c.mustRead(writer!, "tls-key-2"), "again");

    // Peers talk over the wss stream (one upgrade per peer, counted by
    // the HTTP metrics), not one POST /raft per batch; or, where the node
    // cannot serve the stream, by POST only.
    for (const id of [1, 2, 3]) {
      const m = await request(`${c.node(id).url}/metrics`, {
        headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
        client,
      } as RequestInit);
      assert.equal(m?.status, 200, show(m));
      const upgrades = m!.body.match(
        /raftkv_http_requests_total\{route="\/raft\/stream",method="GET",status="101"\} (\d+)/,
      );
      const posts = m!.body.match(
        /raftkv_http_requests_total\{route="\/raft",method="POST",status="204"\} (\d+)/,
      );
      if (stream) {
        assert.ok(
          upgrades && Number(upgrades[1]) >= 1,
          `node ${id}: no stream`,
        );
        assert.equal(posts, null, `node ${id} got POST /raft batches`);
      } else {
        assert.equal(upgrades, null, `node ${id} upgraded a stream`);
        assert.ok(posts && Number(posts[1]) >= 1, `node ${id}: no POST`);
      }
    }

    const url = c.node(reader!).url;
    // Peer routes: no token, a wrong one, or the client token: 401.
    for (
      const auth of [undefined, "Bearer wrong", `Bearer ${CLIENT_TOKEN}`]
    ) {
      const headers: Record<string, string> = auth
        ? { authorization: auth }
        : {};
      const r = await request(`${url}/raft`, {
        method: "POST",
        body: new Uint8Array([0x90]),
        headers,
        client,
      } as RequestInit);
      assert.equal(r?.status, 401, `${auth}: ${show(r)}`);
      assert.equal(errorCode(r), "unauthorized");
      const s = await request(`${url}/raft/stream`, {
        headers,
        client,
      } as RequestInit);
      assert.equal(s?.status, 401, `stream ${auth}: ${show(s)}`);
    }

    // Client routes without the client token: 401 with a Bearer challenge.
    const noToken = await request(`${url}/v1/kv/tls-key`, {
      client,
    } as RequestInit);
    assert.equal(noToken?.status, 401, show(noToken));
    assert.match(noToken.headers.get("www-authenticate") ?? "", /^Bearer/);
    const wrong = await request(`${url}/v1/kv/tls-key`, {
      headers: { authorization: "Bearer nope" },
      client,
    } as RequestInit);
    assert.equal(wrong?.status, 401, show(wrong));
    // /health stays open.
    const health = await request(`${url}/health`, { client } as RequestInit);
    assert.equal(health?.status, 200, show(health));

    // Plain HTTP to the TLS port, and HTTPS without trusting the CA:
    // no answer at all.
    const plain = await request(
      url.replace("https://", "http://") + "/health",
      {},
      5000,
    );
    assert.equal(plain, undefined, show(plain));
    const untrusted = await request(`${url}/health`, {}, 5000);
    assert.equal(untrusted, undefined, show(untrusted));

    await more(c, await Deno.readTextFile(pki.ca));

    // The cluster still commits after all that.
    await c.mustWrite(reader!, "tls-key-3", "still");
    assert.equal(await c.mustRead(leader, "tls-key-3"), "still");
  } finally {
    await tls.close();
  }
}

Deno.test({
  name:
    "a TLS cluster with peer and client tokens serves and refuses strangers",
  ignore: !hasOpenssl(),
  fn: () => securedCluster([], true),
});

/** Sends `text` over TLS to `port`; what it read until the node hung up. */
async function stalledTls(
  port: number,
  ca: string,
  text: string,
): Promise<string> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [ca],
  });
  return sendAndReadUntilClosed(conn, text);
}

Deno.test({
  name:
    "the same cluster with connection timeouts closes stalled and idle connections",
  ignore: !hasOpenssl(),
  fn: () =>
    securedCluster(
      ["--header-timeout-ms", "500", "--idle-timeout-ms", "500"],
      // Deno cannot take over a TLS socket of Node's server for the
      // WebSocket: the node answers the upgrade 501 and peers POST.
      false,
      async (c, ca) => {
        const port = Number(new URL(c.node(1).url).port);
        // A header that never completes: 408, then the node hangs up.
        const stalled = await stalledTls(
          port,
          ca,
          "GET /health HTTP/1.1\r\nHost: x\r\n",
        );
        assert.match(stalled, /^HTTP\/1\.1 408 /);
        // An idle keep-alive connection: answered, then closed.
        const idle = await stalledTls(
          port,
          ca,
          "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert.match(idle, /^HTTP\/1\.1 200 /);
      },
    ),
});
