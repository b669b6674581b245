/**
 * The snapshot schedule's rule (raft/snapshot_scheduler.ts, docs/WAL.md
 * "Snapshot schedule"): due once the log since the last snapshot reaches
 * the stated fraction of its size and the entry floor is passed, or once
 * the log cap is reached whatever the rest.
 */

import assert from "node:assert/strict";
import {
  SnapshotScheduler,
  type SnapshotSchedulerOptions,
} from "../../raft/snapshot_scheduler.ts";

function scheduler(
  o: Pick<
    SnapshotSchedulerOptions,
    "entries" | "logPercent" | "maxLogBytes" | "lastSnapshotBytes"
  >,
): SnapshotScheduler {
  // due() reads only the counts and these four numbers.
  return new SnapshotScheduler(o as SnapshotSchedulerOptions);
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
