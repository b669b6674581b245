/**
 * `kill -9` of the leader while writes go through a follower: the writes
 * in flight at the kill are proposed again under the new leader (or
 * answered 503, not applied), never left to end as 504. Every 2xx write is
 * readable afterwards and no 503 write was ever applied (each key is
 * written once, with a unique value).
 *
 * The request deadline is made long (60 s) so that the election always
 * fits in it; no timing is asserted.
 */

import assert from "node:assert/strict";
import { E2eCluster, GiveUp, show, waitFor } from "./cluster.ts";

interface Write {
  key: string;
  value: string;
  /** The answer's status; 0 for no answer; undefined while in flight. */
  status?: number;
  inFlightAtKill?: boolean;
}

Deno.test("kill -9 of the leader: writes through a follower answer 2xx or 503, never 504; 2xx ones are readable, 503 ones never applied", async () => {
  const c = await E2eCluster.start({
    extraArgs: ["--request-timeout-ms", "60000"],
  });
  const writes: Write[] = [];
  let stop = false;
  const MAX_WRITES = 20_000;
  let leaderBack!: () => void;
  const newLeader = new Promise<void>((r) => leaderBack = r);
  try {
    const old = await c.waitLeader();
    const follower = c.running().find((id) => id !== old)!;
    let acked = 0;
    let ackedAfterKill = 0;
    let killed = false;
    let unexpected: Write | undefined;
    /** Ends a wait at once when a write got another answer than 2xx/503. */
    const checked = (cond: () => boolean) => () => {
      if (unexpected) {
        throw new GiveUp(`${unexpected.key} answered ${unexpected.status}`);
      }
      return cond();
    };

    const writer = async (w: number) => {
      for (let n = 0; !stop && writes.length < MAX_WRITES; n++) {
        const write: Write = {
          key: `fo-${w}-${n}`,
          value: crypto.randomUUID(),
        };
        writes.push(write);
        const startedAfterKill = killed;
        const r = await c.request(
          c.keyUrl(follower, write.key),
          { method: "PUT", body: write.value },
          120_000,
        );
        write.status = r?.status ?? 0;
        if (r && r.status >= 200 && r.status < 300) {
          acked++;
          if (startedAfterKill) ackedAfterKill++;
        } else if (r?.status === 503) {
          // Not applied (no leader yet): wait for one rather than spin.
          await newLeader;
        } else {
          unexpected ??= write; // Fails the test below.
          return;
        }
      }
    };
    const writers = Array.from({ length: 16 }, (_, w) => writer(w));

    await waitFor(
      "writes before the kill",
      checked(() => acked >= 200),
      120_000,
      10,
    );
    for (const w of writes) if (w.status === undefined) w.inFlightAtKill = true;
    killed = true;
    await c.kill(old);
    const leader = await c.waitLeader([old]);
    leaderBack();
    await waitFor(
      "writes under the new leader",
      checked(() => ackedAfterKill >= 200),
      120_000,
      10,
    );
    stop = true;
    await Promise.all(writers);

    const inFlight = writes.filter((w) => w.inFlightAtKill);
    assert.ok(inFlight.length > 0, "writes were in flight at the kill");
    const bad = writes.filter((w) =>
      !(w.status! >= 200 && w.status! < 300) && w.status !== 503
    );
    assert.deepEqual(
      bad.map((w) =>
        `${w.key}: ${w.status}${
          w.inFlightAtKill ? " (in flight at the kill)" : ""
        }`
      ),
      [],
      "every write answers 2xx or 503",
    );

    const held = await c.list(leader, "fo-");
    assert.ok(held, "the new leader lists the keys");
    for (const w of writes) {
      if (w.status === 503) {
        assert.equal(held.get(w.key), undefined, `${w.key} answered 503`);
      } else {
        assert.equal(held.get(w.key), w.value, `${w.key} answered 2xx`);
      }
    }
    // And a linearizable read of one in-flight write through the follower.
    const sample = inFlight.find((w) => w.status !== 503);
    if (sample) {
      const r = await c.read(follower, sample.key);
      assert.equal(r?.body, sample.value, show(r));
    }
  } finally {
    stop = true;
    leaderBack();
    await c.close();
  }
});
