/**
 * A plain-HTTP cluster started with `--header-timeout-ms` and
 * `--idle-timeout-ms` (http/serving/timeout_server.ts): peers still talk over the
 * WebSocket stream, writes commit, and a client that stalls its header or
 * sits idle on a keep-alive connection is disconnected. The TLS variant is
 * in tls_test.ts.
 */

import assert from "node:assert/strict";
import { E2eCluster, request, show } from "./cluster.ts";
import { sendAndReadUntilClosed } from "../http/raw_client.ts";

/** Sends `text` to `port`; what it read until the node hung up. */
async function stalled(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return sendAndReadUntilClosed(conn, text);
}

Deno.test("a cluster with connection timeouts replicates over the stream and drops stalled clients", async () => {
  const c = await E2eCluster.start({
    clientPorts: true,
    extraArgs: [
      "--header-timeout-ms",
      "500",
      "--idle-timeout-ms",
      "500",
      "--body-timeout-ms",
      "500",
    ],
  });
  try {
    const leader = await c.waitLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await c.mustWrite(follower, "timeouts", "on");
    assert.equal(await c.mustRead(leader, "timeouts"), "on");

    for (const id of [1, 2, 3]) {
      const m = await request(`${c.node(id).url}/metrics`);
      assert.equal(m?.status, 200, show(m));
      assert.match(
        m!.body,
        /raftkv_http_requests_total\{route="\/raft\/stream",method="GET",status="101"\} [1-9]/,
        `node ${id}: no stream`,
      );
    }

    for (const url of [c.node(leader).url, c.node(leader).clientUrl!]) {
      const port = Number(new URL(url).port);
      const header = await stalled(port, "GET /health HTTP/1.1\r\nHost: x\r\n");
      assert.match(header, /^HTTP\/1\.1 408 /, url);
      const idle = await stalled(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      assert.match(idle, /^HTTP\/1\.1 200 /, url);
      const body = await stalled(
        port,
        "PUT /v1/kv/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
      );
      assert.match(body, /^HTTP\/1\.1 408 [^]*"body_timeout"/, url);
    }

    // The stalled PUT wrote nothing; the cluster still commits.
    const missing = await request(`${c.node(leader).url}/v1/kv/stalled`);
    assert.equal(missing?.status, 404, show(missing));
    await c.mustWrite(leader, "timeouts", "still");
    assert.equal(await c.mustRead(follower, "timeouts"), "still");
  } finally {
    await c.close();
  }
});
