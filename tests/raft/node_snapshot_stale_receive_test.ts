/**
 * A snapshot received into a file (`RaftNode.openSnapshotReceive`) that the
 * core does not take, because it is stale, leaves no temporary file behind
 * (before, `snap/incoming-N.snap.tmp` stayed until the next snapshot or a
 * restart).
 */

import assert from "node:assert/strict";
import { encodeMessages } from "../../raft/codec.ts";
import { message } from "../../raft/mod.ts";
import { loneFollower, until } from "./lone_follower.ts";
import { turn } from "./node_turns.ts";

Deno.test("a stale snapshot received into a file: the core answers it and its temporary file is removed", async () => {
  const { node, sent, fs, close } = await loneFollower();
  try {
    // The follower commits and applies an entry from its leader.
    node.receive([message({
      type: "app",
      from: 2,
      to: 1,
      term: 1,
      index: node.applied(),
      logTerm: node.applied() === 0 ? 0 : 1,
      entries: [{
        index: node.applied() + 1,
        term: 1,
        type: "normal",
        data: new Uint8Array(),
      }],
      commit: node.applied() + 1,
    })]);
    const applied = node.applied() + 1;
    await until(() => node.applied() === applied, "the entry applied");
    // A snapshot at an index it already committed: stale.
    const body = encodeMessages([message({
      type: "snap",
      from: 2,
      to: 1,
      term: 1,
      snapshot: {
        meta: {
          index: applied,
          term: 1,
          conf: { voters: [1, 2, 3], learners: [] },
        },
        data: new Uint8Array(300).fill(7),
      },
    })]);
    const rx = node.openSnapshotReceive(body.length);
    assert.ok(rx, "the storage receives into a file");
    for (let at = 0; at < body.length; at += 100) {
      await rx.write(body.subarray(at, at + 100));
    }
    const m = await rx.finish();
    const tmp = async () =>
      (await fs.readDir("/n1/snap")).filter((n) => n.endsWith(".tmp"));
    assert.equal((await tmp()).length, 1, "the transfer's file");
    const before = sent.length;
    node.receive([m]);
    await until(
      () => sent.slice(before).some((s) => s.type === "appResp"),
      "the core answers the stale snapshot",
    );
    for (let i = 0; i < 50 && (await tmp()).length > 0; i++) await turn();
    assert.deepEqual(await tmp(), [], "no temporary file left behind");
    assert.equal(node.applied(), applied, "the snapshot was not applied");
  } finally {
    await close();
  }
});
