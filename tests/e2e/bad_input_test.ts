/**
 * Bad input against real nodes: every mistake gets a clear 4xx JSON error
 * (never a crash), garbage on `/raft` leaves the node and the cluster
 * working, and a bad flag stops the process with status 2 and one line
 * naming the flag.
 */

import assert from "node:assert/strict";
import {
  E2eCluster,
  MAIN_TS,
  NODE_PERMISSIONS,
  type Reply,
  request,
  show,
} from "./cluster.ts";

import { clusterIdOf } from "../../raft/cluster_id.ts";

const MIB = 1024 * 1024;

/** Asserts a JSON error answer with `status` and, when given, `code`. */
function assertError(
  r: Reply | undefined,
  status: number,
  code?: string,
): asserts r is Reply {
  assert.equal(r?.status, status, show(r));
  assert.match(r.headers.get("content-type") ?? "", /application\/json/);
  const body = JSON.parse(r.body);
  assert.equal(typeof body.error?.message, "string", r.body);
  if (code !== undefined) assert.equal(body.error.code, code, r.body);
}

Deno.test("bad requests get 4xx JSON errors and the cluster keeps working", async (t) => {
  const c = await E2eCluster.start();
  try {
    const url = c.node(1).url;

    await t.step("invalid and over-long keys: 400", async () => {
      for (
        const path of [
          "/v1/kv/%FF", // not UTF-8
          "/v1/kv/%ED%A0%80", // a lone surrogate
          "/v1/kv/%zz", // bad percent-encoding
          "/v1/kv/a/b", // two segments
          "/v1/kv/", // empty
          `/v1/kv/${"k".repeat(4097)}`,
          `/v1/kv/${"%C3%A9".repeat(2049)}`, // 4098 bytes of UTF-8
          `/${"k".repeat(4097)}`, // raftexample's PUT /{key}
        ]
      ) {
        const r = await request(url + path, { method: "PUT", body: "v" });
        assertError(r, 400, "invalid_key");
        const g = await request(url + path);
        assert.equal(g?.status, 400, `GET ${path.slice(0, 40)}: ${show(g)}`);
      }
      // The longest key is fine, and '/' is a key byte when encoded.
      const longest = "k".repeat(4096);
      await c.mustWrite(1, longest, "longest");
      assert.equal(await c.mustRead(2, longest), "longest");
      await c.mustWrite(1, "a/b", "slash");
      const r = await request(`${url}/v1/kv/a%2Fb`);
      assert.equal(r?.body, "slash", show(r));
    });

    await t.step("a value over the limit: 413, also when chunked", async () => {
      const big = new Uint8Array(MIB + 1).fill(120);
      const r = await request(c.keyUrl(1, "big"), { method: "PUT", body: big });
      assertError(r, 413, "value_too_large");
      const chunked = new ReadableStream<Uint8Array>({
        start(ctl) {
          for (let i = 0; i < 17; i++) ctl.enqueue(new Uint8Array(64 * 1024));
          ctl.close();
        },
      });
      const rc = await request(c.keyUrl(1, "big"), {
        method: "PUT",
        body: chunked,
      });
      assertError(rc, 413, "value_too_large");
      const root = await request(`${url}/big`, { method: "PUT", body: big });
      assertError(root, 413, "value_too_large");
      assert.equal((await c.read(2, "big"))?.status, 404, "nothing written");
      // Exactly the limit is accepted.
      const ok = await request(c.keyUrl(1, "big"), {
        method: "PUT",
        body: big.subarray(0, MIB),
      });
      assert.equal(ok?.status, 204, show(ok));
      assert.equal((await c.read(3, "big"))?.body.length, MIB);
    });

    await t.step(
      "garbage on /raft: 403 without the sender's identity, 400 with it; the node and the cluster go on",
      async () => {
        const cluster = clusterIdOf(c.clusterArg().split(","));
        const random = crypto.getRandomValues(new Uint8Array(1000));
        const bodies: Uint8Array<ArrayBuffer>[] = [
          random,
          new Uint8Array(0),
          new Uint8Array([0x81, 0xa1, 0x61, 0x01]), // msgpack {a: 1}
          new Uint8Array([0x93, 0x01, 0x02, 0x03]), // msgpack [1, 2, 3]
          new TextEncoder().encode('{"type":"app","from":2,"to":1}'),
        ];
        for (const id of c.running()) {
          for (const body of bodies) {
            // As a stranger sends it: refused before it is even decoded.
            const anon = await request(`${c.node(id).url}/raft`, {
              method: "POST",
              body,
            });
            assertError(anon, 403, "peer_unknown");
            // As a member of this cluster sends it: it does not decode.
            const r = await request(`${c.node(id).url}/raft`, {
              method: "POST",
              headers: {
                "x-raftkv-cluster": cluster,
                "x-raftkv-from": String(id === 1 ? 2 : 1),
              },
              body,
            });
            assertError(r, 400);
          }
        }
        // Every node still runs, and they agree on a leader.
        for (const id of c.running()) await c.checkAlive(id);
        await c.waitLeader();
        for (const id of c.running()) {
          await c.mustWrite(id, `after-garbage-${id}`, "committed");
          for (const reader of c.running()) {
            assert.equal(
              await c.mustRead(reader, `after-garbage-${id}`),
              "committed",
            );
          }
        }
      },
    );

    await t.step("unknown routes: 404 JSON", async () => {
      for (const path of ["/v1/nope", "/a/b", "/v2/kv/x", "/v1/members/1/x"]) {
        assertError(await request(url + path), 404, "not_found");
      }
    });

    await t.step("wrong methods: 405 with Allow", async () => {
      const cases: [string, string, string[]][] = [
        ["POST", "/v1/status", ["GET"]],
        ["DELETE", "/health", ["GET"]],
        ["GET", "/raft", ["POST"]],
        ["PATCH", "/v1/kv/k", ["GET", "PUT", "DELETE"]],
        ["PUT", "/v1/members", ["GET", "POST"]],
        ["GET", "/v1/leader", ["POST"]],
        ["PUT", "/v1/members/2", ["DELETE"]],
        ["PATCH", "/k", ["GET", "PUT", "POST", "DELETE"]],
      ];
      for (const [method, path, must] of cases) {
        const r = await request(url + path, { method });
        assertError(r, 405, "method_not_allowed");
        const allow = (r.headers.get("allow") ?? "").split(/,\s*/);
        for (const m of must) {
          assert.ok(allow.includes(m), `${method} ${path}: Allow ${allow}`);
        }
        assert.ok(!allow.includes(method), `${method} ${path}: Allow ${allow}`);
      }
    });

    await t.step("malformed ids, URLs, headers and bodies: 400", async () => {
      const del = await request(`${url}/my-key`, { method: "DELETE" });
      assertError(del, 400, "invalid_id");
      assert.match(JSON.parse(del.body).error.message, /\/v1\/kv\//);
      const badUrl = await request(`${url}/5`, {
        method: "POST",
        body: "not a url",
      });
      assertError(badUrl, 400, "invalid_url");
      const badJson = await request(`${url}/v1/members`, {
        method: "POST",
        body: "{nope",
      });
      assertError(badJson, 400);
      const badIfMatch = await request(c.keyUrl(1, "k"), {
        method: "PUT",
        headers: { "if-match": "yesterday" },
        body: "v",
      });
      assertError(badIfMatch, 400, "invalid_header");
      const badQuery = await request(`${c.keyUrl(1, "k")}?consistency=maybe`);
      assertError(badQuery, 400, "invalid_query");
    });

    // Through all of it, no node went down.
    for (const id of [1, 2, 3]) await c.checkAlive(id);
    await c.waitLeader();
  } finally {
    await c.close();
  }
});

Deno.test("a bad flag exits 2 with one line naming it", async () => {
  const cases: {
    args: string[];
    flag: string;
    env?: Record<string, string>;
  }[] = [
    { args: ["--id", "0"], flag: "--id" },
    { args: ["--cluster", "http://127.0.0.1:1"], flag: "--id" },
    { args: ["--id", "1", "--cluster", "not a url"], flag: "--cluster" },
    {
      args: ["--id", "3", "--cluster", "http://127.0.0.1:1,http://127.0.0.1:2"],
      flag: "--id",
    },
    { args: ["--id", "1", "--port", "70000"], flag: "--port" },
    { args: ["--id", "1", "--bogus"], flag: "--bogus" },
    {
      args: ["--id", "1", "--snapshot-entries", "many"],
      flag: "--snapshot-entries",
    },
    { args: ["--id", "1", "--tick-ms", "-5"], flag: "--tick-ms" },
    { args: ["--id", "1", "--log-level", "loud"], flag: "--log-level" },
    { args: ["--id", "1", "--listen", "nowhere"], flag: "--listen" },
    {
      args: ["--id", "1"],
      flag: "RAFTKV_TICK_MS",
      env: { RAFTKV_TICK_MS: "soon" },
    },
  ];
  await Promise.all(cases.map(async ({ args, flag, env }) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...NODE_PERMISSIONS, MAIN_TS, ...args],
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    const what = `${args.join(" ")}: ${err}`;
    assert.equal(out.code, 2, what);
    assert.equal(err.split("\n").length, 1, what);
    assert.ok(err.includes(flag), `names ${flag}: ${what}`);
    assert.equal(out.stdout.length, 0, what);
  }));
});
