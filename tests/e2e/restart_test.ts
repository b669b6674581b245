/**
 * Restarting every node at once after more than `--snapshot-entries`
 * writes: every acknowledged write is there, the HTTP port answers while
 * the node replays (503 + Retry-After), and the snapshot is loaded before
 * the WAL after it is replayed (replaying in the other order loses the
 * overwrites and deletes made after the snapshot).
 */

import assert from "node:assert/strict";
import {
  E2eCluster,
  errorCode,
  type Reply,
  request,
  show,
  type StatusView,
  waitFor,
} from "./cluster.ts";

const SNAPSHOT_ENTRIES = 50;

/** The state the writes should leave: key → value (deleted keys absent). */
type Model = Map<string, string>;

async function applyAll(c: E2eCluster, model: Model): Promise<number> {
  const ids = c.running();
  let last = 0;
  // Four writers on disjoint keys, so the final state is known; each key is
  // put, overwritten and deleted along the way.
  await Promise.all([0, 1, 2, 3].map(async (w) => {
    for (let n = 0; n < 50; n++) {
      const key = `r${w}-${n % 10}`;
      const value = n % 7 === 3 ? null : `v${n}`;
      const index = await c.mustWrite(ids[(w + n) % ids.length]!, key, value);
      last = Math.max(last, index);
      if (value === null) model.delete(key);
      else model.set(key, value);
    }
  }));
  return last;
}

/** Waits until every running node has applied `index`; returns statuses. */
async function appliedEverywhere(
  c: E2eCluster,
  index: number,
): Promise<Map<number, StatusView>> {
  return await waitFor(`every node to apply ${index}`, async () => {
    const out = new Map<number, StatusView>();
    for (const id of c.running()) {
      const s = await c.status(id);
      if (!s || s.applied < index || s.applied < s.commit) return false;
      out.set(id, s);
    }
    return out;
  });
}

/**
 * Polls a read of `key` on node `id` from the moment its process starts
 * until the first answer, and returns that answer.
 */
async function firstAnswer(
  c: E2eCluster,
  id: number,
  key: string,
): Promise<Reply> {
  return await waitFor(
    `node ${id} to answer HTTP`,
    async () => {
      return await request(c.keyUrl(id, key), {}, 5000) ?? false;
    },
    60_000,
    5,
  );
}

Deno.test("restarting every node at once keeps every write, snapshot first", async () => {
  const c = await E2eCluster.start({ snapshotEntries: SNAPSHOT_ENTRIES });
  try {
    const model: Model = new Map();
    // Keys the snapshot will hold and that change after it.
    const before: [string, string][] = [
      ["overwritten", "old"],
      ["deleted", "doomed"],
    ];
    for (const [key, value] of before) {
      await c.mustWrite(1, key, value);
      model.set(key, value);
    }
    let last = await applyAll(c, model);

    // Arrange for the last three writes to come after every node's newest
    // snapshot, with no snapshot taken after them: write fillers while a
    // node is within three entries of its next snapshot.
    const tail: [string, string | null][] = [
      ["overwritten", "new"],
      ["deleted", null],
      ["created", "after the snapshot"],
    ];
    for (let filler = 0;; filler++) {
      assert.ok(filler < 3 * SNAPSHOT_ENTRIES, "cannot place the tail");
      const statuses = await appliedEverywhere(c, last);
      const room = [...statuses.values()].every((s) =>
        s.applied - s.snapshotIndex + tail.length < SNAPSHOT_ENTRIES
      );
      if (room) break;
      last = await c.mustWrite(1, `filler-${filler}`, "f");
      model.set(`filler-${filler}`, "f");
    }
    let tailStart = 0;
    for (const [key, value] of tail) {
      last = await c.mustWrite(2, key, value);
      tailStart ||= last;
      if (value === null) model.delete(key);
      else model.set(key, value);
    }
    for (const [id, s] of await appliedEverywhere(c, last)) {
      assert.ok(
        s.snapshotIndex > 0 && s.snapshotIndex < tailStart,
        `node ${id} must have a snapshot from before the tail ${tailStart}: ` +
          JSON.stringify(s),
      );
    }

    // Kill every node at once, start them all again, and catch each one's
    // first HTTP answer: the port answers while the node replays.
    const ids = c.running();
    await Promise.all(ids.map((id) => c.kill(id)));
    for (const id of ids) c.spawn(id);
    const first = await Promise.all(
      ids.map((id) => firstAnswer(c, id, "overwritten")),
    );
    for (const [i, r] of first.entries()) {
      // Either "still recovering" or (replay already done) the value.
      if (r.status === 503) {
        assert.ok(r.headers.get("retry-after"), `node ${ids[i]}: ${show(r)}`);
      } else {
        assert.equal(r.status, 200, `node ${ids[i]}: ${show(r)}`);
        assert.equal(r.body, "new", `node ${ids[i]}`);
      }
    }
    assert.ok(
      first.some((r) => r.status === 503 && errorCode(r) === "recovering"),
      `some node answers 503 "recovering" while it replays: ${
        first.map(show).join(" | ")
      }`,
    );

    await c.waitLeader();
    for (const id of ids) {
      assert.equal(await c.mustRead(id, "overwritten"), "new", `node ${id}`);
      assert.equal(await c.mustRead(id, "deleted"), null, `node ${id}`);
      assert.equal(
        await c.mustRead(id, "created"),
        "after the snapshot",
        `node ${id}`,
      );
      const all = await waitFor(`node ${id}'s keys`, () => c.list(id, ""));
      assert.deepEqual(
        [...all].sort(),
        [...model].sort(),
        `node ${id} holds exactly the acknowledged writes`,
      );
    }
  } finally {
    await c.close();
  }
});
