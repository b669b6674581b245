/**
 * The CLI against a node with HTTPS and a client token: `--cacert` makes it
 * trust the node's CA, `--token` (or `RAFTKV_TOKEN`) passes the token;
 * without the CA it cannot connect (exit 3), without the token it is
 * refused (exit 1, `unauthorized`). Skipped without openssl.
 */

import assert from "node:assert/strict";
import { E2eCluster, MAIN_TS } from "./cluster.ts";
import { hasOpenssl, makePki } from "../http/test_pki.ts";

const TOKEN = "cli-client-token-5e1b";

async function raftkv(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

Deno.test({
  name: "the CLI over HTTPS with --cacert and --token",
  ignore: !hasOpenssl(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "raftkv-cli-tls-" });
    const pki = await makePki(dir);
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(pki.ca)],
    });
    const c = await E2eCluster.start({
      size: 1,
      scheme: "https",
      client,
      headers: { authorization: `Bearer ${TOKEN}` },
      extraArgs: [
        "--tls-cert",
        pki.cert,
        "--tls-key",
        pki.key,
        "--tls-ca",
        pki.ca,
        "--client-token",
        TOKEN,
      ],
    });
    try {
      const env = { RAFTKV_ENDPOINTS: c.node(1).url };
      const put = await raftkv(
        ["put", "k", "secret", "--cacert", pki.ca, "--token", TOKEN],
        env,
      );
      assert.equal(put.code, 0, put.stderr);
      const get = await raftkv(["get", "k"], {
        ...env,
        RAFTKV_CACERT: pki.ca,
        RAFTKV_TOKEN: TOKEN,
      });
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout, "secret\n");

      const noToken = await raftkv(["get", "k", "--cacert", pki.ca], env);
      assert.equal(noToken.code, 1, noToken.stderr);
      assert.match(noToken.stderr, /unauthorized/);
      const noCa = await raftkv(
        ["get", "k", "--token", TOKEN, "--timeout-ms", "2000"],
        env,
      );
      assert.equal(noCa.code, 3, noCa.stderr);
      const badCa = await raftkv(["get", "k", "--cacert", `${dir}/none`], env);
      assert.equal(badCa.code, 2, badCa.stderr);
    } finally {
      await c.close();
      client.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
