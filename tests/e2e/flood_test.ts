/**
 * Abuse against one node of a real cluster: a bounded, concurrent flood of
 * bad requests (peer requests without the token, bad keys, oversized
 * values, malformed bodies and queries) gets 4xx answers while writes
 * through another node keep committing; a client that sends its headers and
 * then stalls its body gets 408 and writes nothing.
 */

import assert from "node:assert/strict";
import { E2eCluster, request, show } from "./cluster.ts";

const PEER_TOKEN = "flood-test-peer-token";
const FLOOD_WORKERS = 12;
const FLOOD_PER_WORKER = 100;

/** The bad requests of the flood, taken in turn. */
const BAD: [string, RequestInit][] = [
  ["/raft", { method: "POST", body: new Uint8Array([0xc1, 0xff]) }],
  [
    "/raft",
    {
      method: "POST",
      body: new Uint8Array([0x90]),
      headers: { authorization: "Bearer not-the-token" },
    },
  ],
  [`/v1/kv/${"k".repeat(4097)}`, { method: "PUT", body: "v" }],
  ["/v1/kv/big", { method: "PUT", body: "x".repeat(2048) }],
  ["/v1/kv?limit=zero", {}],
  ["/v1/members", { method: "POST", body: "{" }],
  ["/not-an-id", { method: "DELETE" }],
  ["/no/such/route", {}],
  [
    "/v1/kv/a",
    { method: "PUT", body: "v", headers: { "if-match": "bogus" } },
  ],
  ["/v1/kv/a", { method: "PATCH" }],
];

Deno.test("a flood of bad requests on one node does not stop the cluster from committing", async (t) => {
  const c = await E2eCluster.start({
    extraArgs: [
      "--peer-token",
      PEER_TOKEN,
      "--max-value-bytes",
      "1024",
      "--body-timeout-ms",
      "1000",
    ],
  });
  try {
    const leader = await c.waitLeader();
    const [writer, reader] = [1, 2, 3].filter((id) => id !== leader);

    await t.step(
      "flooding the leader while writing through a follower",
      async () => {
        const statuses = new Map<number, number>();
        const unanswered: string[] = [];
        let floodDone = false;
        const flood = Promise.all(
          Array.from({ length: FLOOD_WORKERS }, async (_, w) => {
            for (let i = 0; i < FLOOD_PER_WORKER; i++) {
              const [path, init] = BAD[(w + i) % BAD.length]!;
              const r = await request(c.node(leader).url + path, init);
              if (!r) unanswered.push(path.slice(0, 40));
              else statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            }
          }),
        ).then(() => {
          floodDone = true;
        });

        const written: string[] = [];
        // Write for as long as the flood lasts (and at least 20 times).
        while ((!floodDone || written.length < 20) && written.length < 1000) {
          const key = `during-flood-${written.length}`;
          await c.mustWrite(writer!, key, `v${written.length}`);
          written.push(key);
        }
        await flood;

        assert.deepEqual(unanswered, [], "every bad request got an answer");
        for (const [status, count] of statuses) {
          assert.ok(
            status >= 400 && status < 500,
            `${count} bad requests answered ${status}`,
          );
        }
        const total = [...statuses.values()].reduce((a, b) => a + b, 0);
        assert.equal(total, FLOOD_WORKERS * FLOOD_PER_WORKER);
        assert.ok((statuses.get(401) ?? 0) > 0, "peer requests got 401");

        const seen = await c.list(reader!, "during-flood-");
        assert.ok(seen, "the reader lists the keys");
        assert.equal(seen.size, written.length);
        for (const [i, key] of written.entries()) {
          assert.equal(seen.get(key), `v${i}`, key);
        }
      },
    );

    await t.step(
      "a stalled request body gets 408 and is not applied",
      async () => {
        const url = new URL(c.node(writer!).url);
        const conn = await Deno.connect({
          hostname: url.hostname,
          port: Number(url.port),
        });
        try {
          await conn.write(
            new TextEncoder().encode(
              "PUT /v1/kv/stalled HTTP/1.1\r\nHost: x\r\n" +
                "Content-Length: 100\r\n\r\nonly ten b",
            ),
          );
          const buf = new Uint8Array(4096);
          let answer = "";
          while (!answer.includes("\r\n")) {
            const n = await conn.read(buf);
            if (n === null) break;
            answer += new TextDecoder().decode(buf.subarray(0, n));
          }
          assert.match(answer, /^HTTP\/1\.1 408 /, answer.slice(0, 200));
        } finally {
          conn.close();
        }
        const r = await c.read(writer!, "stalled");
        assert.equal(r?.status, 404, show(r));
        await c.mustWrite(writer!, "after-stall", "ok");
      },
    );
  } finally {
    await c.close();
  }
});
