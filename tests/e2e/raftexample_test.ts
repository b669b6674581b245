/**
 * raftexample's four README commands, run with curl as written, against a
 * cluster started the way scripts/cluster.sh starts one (cluster URLs plus
 * `--port`), on free ports instead of 12379.. and 12380..:
 *
 * ```
 * curl -L http://127.0.0.1:12380/my-key -XPUT -d bar
 * curl -L http://127.0.0.1:32380/my-key
 * curl -L http://127.0.0.1:12380/4 -XPOST -d http://127.0.0.1:42379
 * raftexample --id 4 --cluster ...,http://127.0.0.1:42379 --port 42380 --join
 * curl -L http://127.0.0.1:12380/3 -XDELETE
 * ```
 */

import assert from "node:assert/strict";
import { E2eCluster, waitFor } from "./cluster.ts";
import { curl, HAS_CURL } from "./curl.ts";

Deno.test({
  name: "raftexample's README commands work as written",
  ignore: !HAS_CURL,
  async fn() {
    const c = await E2eCluster.start({ clientPorts: true });
    try {
      const port = (id: number) => c.node(id).clientUrl!;

      const put = await curl(["-L", `${port(1)}/my-key`, "-XPUT", "-d", "bar"]);
      assert.equal(put.code, 0);
      assert.equal(put.status, 204, put.body);
      const get = await curl(["-L", `${port(3)}/my-key`]);
      assert.deepEqual([get.status, get.body], [200, "bar"]);

      // Add node 4, then start it with --join (a 4th --cluster entry).
      const n4 = c.define(4);
      const add = await curl(["-L", `${port(1)}/4`, "-XPOST", "-d", n4.url]);
      assert.equal(add.status, 204, add.body);
      c.spawn(4, true);
      await waitFor("node 4 to serve my-key on its --port", async () => {
        const r = await curl(["-L", `${port(4)}/my-key`]);
        return r.status === 200 && r.body === "bar";
      });

      // The leader promotes node 4 once it caught up; until that change
      // commits, another one is refused (409), so wait for it as a user
      // would see it in `GET /v1/members`.
      await waitFor("node 4 promoted to voter", async () => {
        const r = await curl([`${port(1)}/v1/members`]);
        return r.status === 200 &&
          JSON.parse(r.body).members.some((m: { id: number; role: string }) =>
            m.id === 4 && m.role === "voter"
          );
      });

      // Remove node 3: its process exits, the others go on serving.
      const del = await curl(["-L", `${port(1)}/3`, "-XDELETE"]);
      assert.equal(del.status, 204, del.body);
      await c.waitExit(3);
      const again = await waitFor("a write after removing node 3", async () => {
        const r = await curl([
          "-L",
          `${port(2)}/my-key`,
          "-XPUT",
          "-d",
          "baz",
        ]);
        return r.status === 503 ? false : r;
      });
      assert.equal(again.status, 204, again.body);
      for (const id of [1, 2, 4]) {
        const r = await curl(["-L", `${port(id)}/my-key`]);
        assert.deepEqual([r.status, r.body], [200, "baz"], `node ${id}`);
      }
    } finally {
      await c.close();
    }
  },
});
