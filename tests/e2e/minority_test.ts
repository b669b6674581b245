/**
 * An isolated minority: the other two nodes of three are frozen with
 * SIGSTOP, so the remaining node has no quorum. It must acknowledge no
 * write and serve no linearizable read (whether it was the leader or a
 * follower), while `consistency=stale` reads still answer from its state.
 */

import assert from "node:assert/strict";
import { E2eCluster, request, show } from "./cluster.ts";

/** Isolates node `lone` and checks what it answers; heals afterwards. */
async function isolate(c: E2eCluster, lone: number, label: string) {
  const before = `before isolating ${label} node ${lone}`;
  await c.mustWrite(lone, "k", before);
  assert.equal(await c.mustRead(lone, "k"), before);

  const others = c.running().filter((id) => id !== lone);
  for (const id of others) c.pause(id);
  try {
    // All at once: each waits at most the request deadline.
    const url = c.node(lone).url;
    const [put, del, read, list, stale, staleList] = await Promise.all([
      c.put(lone, "k", "written without a quorum"),
      c.del(lone, "k"),
      c.read(lone, "k"),
      request(`${url}/v1/kv?prefix=k`),
      c.read(lone, "k", true),
      request(`${url}/v1/kv?prefix=k&consistency=stale`),
    ]);
    for (const [what, r] of [["PUT", put], ["DELETE", del]] as const) {
      assert.ok(
        r?.status === 503 || r?.status === 504,
        `${what} on an isolated ${label} must not be acknowledged: ${show(r)}`,
      );
      if (r.status === 503) assert.ok(r.headers.get("retry-after"));
    }
    for (const [what, r] of [["GET", read], ["list", list]] as const) {
      assert.ok(
        r !== undefined && (r.status === 503 || r.status === 504),
        `linearizable ${what} on an isolated ${label}: ${show(r)}`,
      );
    }
    assert.equal(stale?.status, 200, show(stale));
    assert.equal(stale.body, before);
    assert.equal(staleList?.status, 200, show(staleList));
    assert.deepEqual(
      JSON.parse(staleList.body).items.map((i: {
        key: string;
        value: string;
      }) => [i.key, i.value]),
      [["k", before]],
    );
  } finally {
    for (const id of others) c.resume(id);
  }
  // Healed: the cluster commits again and the lone node reads the latest.
  await c.waitLeader();
  const after = `after isolating ${label} node ${lone}`;
  await c.mustWrite(others[0]!, "k", after);
  assert.equal(await c.mustRead(lone, "k"), after);
}

Deno.test("an isolated node acknowledges no write and serves only stale reads", async () => {
  const c = await E2eCluster.start({
    extraArgs: ["--request-timeout-ms", "2000"],
  });
  try {
    const leader = await c.waitLeader();
    await isolate(c, leader, "leader");
    const now = await c.waitLeader();
    const follower = c.running().find((id) => id !== now)!;
    await isolate(c, follower, "follower");
  } finally {
    await c.close();
  }
});
