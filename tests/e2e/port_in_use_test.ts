/**
 * A node whose port is taken says so in one clean line naming the address
 * and exits with status 1: no uncaught, coloured `AddrInUse` stack. Both its
 * own (cluster URL) port and `--port`, on Deno's server and on Node's (the
 * connection timeouts).
 */

import assert from "node:assert/strict";
import { freePort, runMain } from "./cluster.ts";

Deno.test("a port in use: one line naming the address, exit 1", async () => {
  const taken = freePort();
  const holder = Deno.listen({ hostname: "127.0.0.1", port: taken });
  const dir = await Deno.makeTempDir({ prefix: "raftkv-port-" });
  try {
    const own = freePort();
    const cases: [string, string[]][] = [
      ["its own port", ["--cluster", `http://127.0.0.1:${taken}`]],
      ["--port", [
        "--cluster",
        `http://127.0.0.1:${own}`,
        "--port",
        String(taken),
      ]],
      ["--port on Node's server", [
        "--cluster",
        `http://127.0.0.1:${own}`,
        "--port",
        String(taken),
        "--header-timeout-ms",
        "5000",
      ]],
    ];
    for (const [what, flags] of cases) {
      const out = await runMain([
        "--id",
        "1",
        "--data-dir",
        `${dir}/node`,
        ...flags,
      ]);
      const text = out.stderr;
      assert.equal(out.code, 1, `${what}: ${text}`);
      const lines = text.trim().split("\n");
      assert.equal(lines.length, 1, `${what}: one line, got: ${text}`);
      const line = JSON.parse(lines[0]!);
      assert.equal(line.level, "error", what);
      assert.match(line.error, new RegExp(`127\\.0\\.0\\.1:${taken}\\b`), what);
      assert.match(line.error, /in use/, what);
      assert.doesNotMatch(
        text,
        new RegExp(`${String.fromCharCode(27)}\\[| {4}at `),
        `${what}: no colours, no stack`,
      );
      // The data directory's lock was released: the next case can take it.
    }
  } finally {
    holder.close();
    await Deno.remove(dir, { recursive: true });
  }
});
