/**
 * Answers given before (or instead of) reading a request body, over a real
 * `Deno.serve`: a client that hangs up mid-body is not an error of ours
 * (400 `body_incomplete`, nothing logged at error), and over TLS, where
 * Deno.serve speaks HTTP/2, a `401`/`413`/`400` sent before the body is read
 * reaches curl as that status, not as "Stream error in the HTTP/2 framing
 * layer" (http/body.ts `drainBody`).
 */

import assert from "node:assert/strict";
import { HAS_CURL } from "../e2e/curl.ts";
import { FakeNode, MemoryLogger } from "./fake_node.ts";
import { createApp } from "../../http/mod.ts";
import { hasOpenssl, withTestPem } from "./test_pki.ts";

/** Serves an app over `node` on a free loopback port, handing out each answer. */
function serve(
  options: { clientToken?: string; maxValueBytes?: number } = {},
  tls?: { cert: string; key: string },
) {
  const logger = new MemoryLogger();
  const node = new FakeNode();
  const app = createApp({ node, logger, ...options });
  const answers: Promise<Response>[] = [];
  const answered = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    (req, info) => {
      const res = Promise.resolve(app.fetch(req, info));
      // A copy: the server sends (and so consumes) the original.
      answers.push(res.then((r) => r.clone()));
      answered.resolve();
      return res;
    },
  );
  return { logger, node, server, answers, answered: answered.promise };
}

Deno.test("a client hanging up mid-body is answered body_incomplete and not logged as an error", async () => {
  for (
    const head of [
      "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
      "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
      'POST /v1/members HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"id"',
      "PUT /v1/kv/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ]
  ) {
    const s = serve();
    try {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: s.server.addr.port,
      });
      await conn.write(new TextEncoder().encode(head));
      await s.answered; // The request reached the app and reads its body.
      conn.close(); // Hang up mid-body.
      const res = await s.answers[0]!;
      assert.equal(res.status, 400, head);
      assert.equal((await res.json()).error.code, "body_incomplete", head);
      assert.deepEqual(
        s.logger.lines.filter((l) => l.level === "error"),
        [],
        head,
      );
      assert.deepEqual(s.node.calls, [], head);
    } finally {
      await s.server.shutdown();
    }
  }
});

const h2Skip = !HAS_CURL
  ? " (skipped: no curl on PATH)"
  : !hasOpenssl()
  ? " (skipped: no openssl on PATH)"
  : "";

Deno.test({
  name:
    `over TLS (HTTP/2) a 401, 413 or 400 sent before the body is read reaches curl${h2Skip}`,
  ignore: h2Skip !== "",
  async fn() {
    await withTestPem(async (pem) => {
      const dir = await Deno.makeTempDir({ prefix: "raftkv-h2-" });
      const ca = `${dir}/ca.pem`;
      await Deno.writeTextFile(ca, pem.ca);
      const big = `${dir}/big`;
      await Deno.writeFile(big, new Uint8Array(100_000));
      const s = serve({ clientToken: "tok", maxValueBytes: 1000 }, pem);
      const base = `https://127.0.0.1:${s.server.addr.port}`;
      const curl = async (args: string[]) => {
        const out = await new Deno.Command("curl", {
          args: [
            "-sS",
            "--max-time",
            "30",
            "--http2",
            "--cacert",
            ca,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            ...args,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        return {
          code: out.code,
          out: dec.decode(out.stdout),
          err: dec.decode(out.stderr),
        };
      };
      const auth = ["-H", "Authorization: Bearer tok"];
      try {
        const cases: [string, string[]][] = [
          ["401 2", ["-XPUT", "-d", "small", `${base}/v1/kv/a`]],
          ["401 2", ["-XPOST", "-d", "{}", `${base}/v1/leader`]],
          ["413 2", [
            ...auth,
            "-XPUT",
            "--data-binary",
            `@${big}`,
            `${base}/v1/kv/a`,
          ]],
          ["400 2", [...auth, "-XPUT", "-d", "x", `${base}/v1/kv/%FF`]],
          ["413 2", [
            ...auth,
            "-XPOST",
            "--data-binary",
            `@${big}`,
            `${base}/v1/members`,
          ]],
          ["204 2", [...auth, "-XPUT", "-d", "v", `${base}/v1/kv/a`]],
        ];
        for (const [want, args] of cases) {
          const r = await curl(args);
          assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
          assert.equal(r.out, want, args.join(" "));
        }
      } finally {
        await s.server.shutdown();
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});
