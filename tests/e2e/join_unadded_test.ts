/**
 * `--join` without `POST /{id}` on a member first: the node refuses to
 * start with one line saying what to do (exit 1), instead of waiting
 * forever and logging nothing; after the `POST`, the same command joins.
 */

import assert from "node:assert/strict";
import { E2eCluster } from "./cluster.ts";

Deno.test("--join before the node was added exits 1 saying how to add it; after POST /{id} it joins", async () => {
  const c = await E2eCluster.start({
    size: 1,
    extraArgs: ["--request-timeout-ms", "1000"],
  });
  try {
    const n2 = c.define(2);
    c.spawn(2, true);
    const status = await c.waitExit(2);
    assert.equal(status.code, 1);
    const log = await Deno.readTextFile(n2.logFile);
    const line = log.split("\n").find((l) => l.includes("cannot start"));
    assert.ok(line, log);
    assert.match(JSON.parse(line).error, /node 2 is not a member/);
    assert.ok(line.includes(`/2 -d ${n2.url}`), line);

    const add = await c.request(`${c.node(1).url}/2`, {
      method: "POST",
      body: n2.url,
    });
    assert.equal(add?.status, 204, add?.body);
    c.spawn(2, true);
    await c.waitLeader();
    assert.equal(await c.mustRead(2, "absent"), null);
  } finally {
    await c.close();
  }
});
