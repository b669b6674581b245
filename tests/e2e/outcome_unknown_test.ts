/**
 * A write the cluster cannot commit in time answers 504, and the client
 * and the CLI surface it as "outcome unknown" without sending it again:
 * the leader of three keeps leading for a while after both followers are
 * frozen (SIGSTOP), so a write it takes cannot commit and its
 * `--request-timeout-ms` passes. A slow tick (300 ms) keeps the leader in
 * office for at least one election timeout (3 s) after the freeze, longer
 * than the client's request and the CLI's take.
 */

import assert from "node:assert/strict";
import { OutcomeUnknownError, RaftKvClient } from "../../client/mod.ts";
import { E2eCluster, MAIN_TS } from "./cluster.ts";

Deno.test("a 504 is an outcome-unknown error in the client and exit 4 in the CLI", async () => {
  const c = await E2eCluster.start({
    tickMs: 300,
    extraArgs: ["--request-timeout-ms", "400"],
  });
  try {
    const leader = await c.waitLeader();
    const followers = c.running().filter((id) => id !== leader);
    const leaderUrl = c.node(leader).url;
    const followerUrl = c.node(followers[0]!).url;
    await c.mustWrite(leader, "k", "before");

    // The CLI starts now and reads its value from standard input, which
    // is closed only after the freeze: its start-up is not in the window.
    const cli = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN_TS, "put", "k", "-"],
      env: { NO_COLOR: "1", RAFTKV_ENDPOINTS: `${leaderUrl},${followerUrl}` },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const exited = cli.output();
    const stdin = cli.stdin.getWriter();
    await stdin.write(new TextEncoder().encode("maybe too"));
    const calls: string[] = [];
    const kv = new RaftKvClient({
      endpoints: [leaderUrl, followerUrl],
      fetch: (input, init) => {
        calls.push(new URL(String(input)).origin);
        return fetch(input, init);
      },
    });
    for (const id of followers) c.pause(id);
    try {
      const err = await kv.put("k", "maybe").catch((e) => e);
      assert.ok(err instanceof OutcomeUnknownError, String(err));
      assert.equal(err.endpoint, leaderUrl);
      // Sent once, to the leader; never repeated on the other endpoint.
      assert.deepEqual(calls, [leaderUrl]);

      await stdin.close();
      const out = await exited;
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 4, stderr);
      assert.match(stderr, /outcome unknown/);
    } finally {
      await stdin.close().catch(() => {});
      for (const id of followers) c.resume(id);
      await exited;
    }
    // Healed: the cluster serves again; whatever the value is, it is one
    // of the values written.
    await c.waitLeader();
    const value = await c.mustRead(followers[0]!, "k");
    assert.ok(
      ["before", "maybe", "maybe too"].includes(value ?? ""),
      String(value),
    );
  } finally {
    await c.close();
  }
});
