/**
 * The snapshot schedule's rule (raft/snapshot_scheduler.ts, docs/WAL.md
 * "Snapshot schedule"): due once the log since the last snapshot reaches
 * the stated fraction of its size and the entry floor is passed, or once
 * the log cap is reached whatever the rest; each node stretches both
 * thresholds by its own drawn factor.
 */

import assert from "node:assert/strict";
import { seededRng } from "../../raft/core/mod.ts";
import {
  SnapshotScheduler,
  type SnapshotSchedulerOptions,
} from "../../raft/snapshot_scheduler.ts";

type Rule = Pick<
  SnapshotSchedulerOptions,
  "entries" | "logPercent" | "maxLogBytes" | "lastSnapshotBytes"
>;

function scheduler(o: Rule, spreadPercent = 0, seed = 1): SnapshotScheduler {
  // due() reads only the counts, these numbers and the drawn stretch.
  const used: Partial<SnapshotSchedulerOptions> = {
    ...o,
    spreadPercent,
    spreadRng: seededRng(seed),
  };
  return new SnapshotScheduler(used as SnapshotSchedulerOptions);
}

/** How many entries of `bytes` bytes each it takes until `s` is due. */
function entriesUntilDue(s: SnapshotScheduler, bytes: number): number {
  let n = 0;
  while (!s.due()) {
    s.entryApplied(bytes);
    n++;
  }
  return n;
}

Deno.test("a snapshot is due once the log reaches the fraction of the last snapshot and the entry floor", () => {
  const s = scheduler({
    entries: 10,
    logPercent: 50,
    maxLogBytes: 1_000_000,
    lastSnapshotBytes: 10_000,
  });
  assert.equal(s.due(), false, "nothing applied");
  for (let i = 0; i < 9; i++) s.entryApplied(1_000);
  assert.equal(s.due(), false, "9,000 bytes but 9 entries: under the floor");
  s.entryApplied(1);
  assert.equal(s.due(), true, "10 entries and 9,001 >= 50 % of 10,000");

  const t = scheduler({
    entries: 1,
    logPercent: 100,
    maxLogBytes: 1_000_000,
    lastSnapshotBytes: 10_000,
  });
  for (let i = 0; i < 99; i++) t.entryApplied(100);
  assert.equal(t.due(), false, "9,900 bytes of log < 100 % of 10,000");
  t.entryApplied(100);
  assert.equal(t.due(), true);
  t.restored(50_000);
  assert.equal(t.due(), false, "a restore starts the counts afresh");
  for (let i = 0; i < 499; i++) t.entryApplied(100);
  assert.equal(t.due(), false, "against the restored snapshot's size");
  t.entryApplied(100);
  assert.equal(t.due(), true);
});

Deno.test("the log cap makes a snapshot due whatever the fraction and the floor", () => {
  const s = scheduler({
    entries: 1_000,
    logPercent: 100,
    maxLogBytes: 5_000,
    lastSnapshotBytes: 1_000_000,
  });
  for (let i = 0; i < 4; i++) s.entryApplied(1_000);
  assert.equal(s.due(), false);
  s.entryApplied(1_000);
  assert.equal(s.due(), true, "5,000 logged bytes reach the cap");
});

Deno.test("without a snapshot yet, the entry floor alone decides", () => {
  const s = scheduler({
    entries: 3,
    logPercent: 100,
    maxLogBytes: 1_000_000,
    lastSnapshotBytes: 0,
  });
  s.entryApplied(0);
  s.entryApplied(0);
  assert.equal(s.due(), false);
  s.entryApplied(0);
  assert.equal(s.due(), true);
});

Deno.test("a spread stretches both thresholds by up to its %, differently per node", () => {
  const rule: Rule = {
    entries: 1_000,
    logPercent: 100,
    maxLogBytes: 1_000_000_000,
    lastSnapshotBytes: 100_000,
  };
  // The entry floor binds (1,000 entries of 1 byte < 100,000 bytes? no:
  // the bytes bind at 100 bytes an entry); both thresholds stretch alike.
  const byNode = [1, 2, 3].map((id) =>
    entriesUntilDue(scheduler(rule, 50, id), 100)
  );
  for (const n of byNode) {
    assert.ok(n >= 1_000 && n <= 1_500, `due after ${n} entries`);
  }
  assert.ok(new Set(byNode).size > 1, `nodes stretch alike: ${byNode}`);
  const floorOnly = [1, 2, 3].map((id) =>
    entriesUntilDue(scheduler({ ...rule, lastSnapshotBytes: 0 }, 50, id), 0)
  );
  for (const n of floorOnly) assert.ok(n >= 1_000 && n <= 1_500);
  assert.ok(new Set(floorOnly).size > 1, `floors stretch alike: ${floorOnly}`);
  assert.equal(entriesUntilDue(scheduler(rule, 0, 7), 100), 1_000, "no spread");

  // The log cap is not stretched: it bounds what a restart replays.
  const capped = scheduler({ ...rule, maxLogBytes: 50_000 }, 100, 1);
  assert.equal(entriesUntilDue(capped, 100), 500);
});

Deno.test("a node draws a new stretch after each snapshot it restores", () => {
  const s = scheduler(
    {
      entries: 1_000,
      logPercent: 100,
      maxLogBytes: 1_000_000_000,
      lastSnapshotBytes: 0,
    },
    100,
    5,
  );
  const intervals = new Set<number>();
  for (let i = 0; i < 8; i++) {
    intervals.add(entriesUntilDue(s, 0));
    s.restored(0);
  }
  assert.ok(
    intervals.size > 1,
    `one stretch for every interval: ${[...intervals]}`,
  );
});
