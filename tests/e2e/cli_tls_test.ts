/**
 * The CLI against a node with HTTPS and a client token: `--cacert` makes it
 * trust the node's CA, `--token` (or `RAFTKV_TOKEN`) passes the token;
 * without the CA it cannot connect (exit 3), without the token it is
 * refused (exit 1, `unauthorized`). Skipped without openssl.
 */

import assert from "node:assert/strict";
import { runMain } from "./cluster.ts";
import { startTlsCluster } from "./tls_cluster.ts";
import { hasOpenssl } from "../http/test_pki.ts";

const TOKEN = "cli-client-token-5e1b";

function raftkv(args: string[], env: Record<string, string>) {
  return runMain(args, {
    permissions: ["-A"],
    env: { NO_COLOR: "1", ...env },
  });
}

Deno.test({
  name: "the CLI over HTTPS with --cacert and --token",
  ignore: !hasOpenssl(),
  fn: async () => {
    const tls = await startTlsCluster({ size: 1, clientToken: TOKEN });
    const { cluster: c, dir, pki } = tls;
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
      await tls.close();
    }
  },
});
