/**
 * The log of one node (log.ts, log_unstable.ts) and the in-memory storage
 * under it (storage.ts): the Log Matching helpers (§5.3), the up-to-date
 * comparison (§5.4.1), the commit and apply cursors, and compaction (§7).
 */

import assert from "node:assert/strict";
import {
  AssertionError,
  CompactedError,
  type Entry,
  MemoryStorage,
  UnavailableError,
} from "../../../raft/core/mod.ts";
import { RaftLog } from "../../../raft/core/log.ts";
import { Unstable } from "../../../raft/core/log_unstable.ts";
import { entryBytes, limitBytes } from "../../../raft/core/storage.ts";
import { entry } from "./peer.ts";

/** A log whose stable part holds `stable` terms (index 1..) and unstable part `unstable`. */
function logOf(stable: number[], unstable: number[] = [], commit = 0): RaftLog {
  const s = new MemoryStorage();
  s.append(stable.map((t, i) => entry(i + 1, t)));
  s.setHardState({ term: 0, vote: 0, commit });
  const log = new RaftLog(s, 0);
  if (unstable.length > 0) {
    log.append(unstable.map((t, i) => entry(stable.length + 1 + i, t)));
  }
  return log;
}

Deno.test("§5.4.1 up-to-date: a later last term wins; with equal last terms the longer log wins", () => {
  const log = logOf([1, 2, 2]); // last (3, 2)
  assert.equal(log.isUpToDate(3, 2), true);
  assert.equal(log.isUpToDate(4, 2), true);
  assert.equal(log.isUpToDate(2, 2), false);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(10, 1), false);
});

Deno.test("§5.3 findConflict: the first entry whose index is missing or whose term differs", () => {
  const log = logOf([1, 1, 2, 2]);
  assert.equal(log.findConflict([entry(2, 1), entry(3, 2)]), 0, "all present");
  assert.equal(log.findConflict([entry(3, 2), entry(4, 3), entry(5, 3)]), 4);
  assert.equal(log.findConflict([entry(4, 2), entry(5, 2)]), 5, "new entry");
  assert.equal(log.findConflict([]), 0);
});

Deno.test("§5.3 findConflictByTerm: walks back to the last entry whose term is at most the given term", () => {
  const log = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
  assert.deepEqual(log.findConflictByTerm(10, 6), { index: 10, term: 6 });
  assert.deepEqual(log.findConflictByTerm(10, 3), { index: 3, term: 1 });
  assert.deepEqual(log.findConflictByTerm(10, 4), { index: 5, term: 4 });
  assert.deepEqual(log.findConflictByTerm(10, 0), { index: 0, term: 0 });
});

Deno.test("§5.3 append replaces the tail from the first new index, in the unstable part and over storage", () => {
  const log = logOf([1, 1, 1], [1, 1]);
  log.append([entry(5, 2), entry(6, 2)]);
  assert.deepEqual([4, 5, 6].map((i) => log.term(i)), [1, 2, 2]);
  log.append([entry(3, 3)]);
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.term(3), 3);
  assert.equal(log.term(4), undefined);
  assert.deepEqual(
    log.unstable.entries.map((e) => e.index),
    [3],
    "stable 3 is shadowed until persisted",
  );
});

Deno.test("§5.3 committed entries are never overwritten: appending below commit is an invariant break", () => {
  const log = logOf([1, 1, 1], [], 2);
  assert.throws(() => log.append([entry(2, 5)]), AssertionError);
  log.append([entry(3, 5)]); // index 3 is not committed: fine
});

Deno.test("commit moves forward only, and never beyond the last index", () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  log.commitTo(1);
  assert.equal(log.committed, 2);
  assert.throws(() => log.commitTo(4), AssertionError);
});

Deno.test("slice spans stable storage and the unstable tail, keeps at least one entry, and honours maxBytes", () => {
  const s = new MemoryStorage();
  s.append([1, 2, 3].map((i) => entry(i, 1, "x".repeat(84)))); // 100 bytes each as counted
  const log = new RaftLog(s, 0);
  log.append([4, 5].map((i) => entry(i, 1, "y".repeat(84))));
  assert.deepEqual(log.slice(2, 6, Infinity).map((e) => e.index), [2, 3, 4, 5]);
  assert.deepEqual(log.slice(2, 6, 250).map((e) => e.index), [2, 3]);
  assert.deepEqual(log.slice(3, 6, 250).map((e) => e.index), [3, 4]);
  assert.deepEqual(log.slice(4, 6, 1).map((e) => e.index), [4]);
  assert.deepEqual(log.slice(4, 4, 1), []);
});

Deno.test("§7 after compaction: term() of a compacted index is unknown, of the snapshot index is the snapshot's term", () => {
  const s = new MemoryStorage();
  s.append([1, 1, 2, 2, 3].map((t, i) => entry(i + 1, t)));
  s.setHardState({ term: 3, vote: 0, commit: 5 });
  s.createSnapshot({
    meta: { index: 3, term: 2, conf: { voters: [1], learners: [] } },
    data: new Uint8Array(),
  });
  s.compact(3);
  const log = new RaftLog(s, 3);
  assert.equal(log.firstIndex(), 4);
  assert.equal(log.term(2), undefined);
  assert.equal(log.term(3), 2);
  assert.equal(log.term(4), 2);
  assert.throws(() => log.slice(2, 5, Infinity), CompactedError);
  assert.equal(log.applied, 3);
});

Deno.test("committed entries go out once for applying; a pending snapshot holds them back", () => {
  const log = logOf([1, 1, 1, 1], [], 3);
  assert.deepEqual(log.nextCommittedEnts(Infinity).map((e) => e.index), [
    1,
    2,
    3,
  ]);
  log.applyingTo(3);
  assert.equal(log.hasNextCommittedEnts(), false);
  log.commitTo(4);
  assert.deepEqual(log.nextCommittedEnts(Infinity).map((e) => e.index), [4]);
  log.appliedTo(3);
  assert.equal(log.applying, 3, "applying stays ahead until 4 is applied");
  assert.throws(() => log.appliedTo(5), AssertionError);
  log.restore({
    meta: { index: 9, term: 2, conf: { voters: [1], learners: [] } },
    data: new Uint8Array(),
  });
  assert.equal(log.committed, 9);
  assert.equal(
    log.hasNextCommittedEnts(),
    false,
    "the snapshot must be applied first",
  );
  assert.equal(log.lastIndex(), 9);
  assert.equal(log.term(9), 2);
});

Deno.test("unstable: stableTo ignores an (index, term) whose entry was replaced after the Ready was taken", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([entry(5, 1), entry(6, 1)]);
  u.truncateAndAppend([entry(6, 2)]); // the tail changed while the Ready was being written
  u.stableTo(6, 1);
  assert.deepEqual(u.entries.map((e) => [e.index, e.term]), [[5, 1], [6, 2]]);
  u.stableTo(5, 1);
  assert.deepEqual([u.offset, u.entries.map((e) => e.index)], [6, [6]]);
  u.truncateAndAppend([entry(4, 3)]);
  assert.deepEqual([u.offset, u.entries.map((e) => e.index)], [4, [4]]);
});

Deno.test("MemoryStorage: entries() throws CompactedError/UnavailableError out of range; append replaces a tail", () => {
  const s = new MemoryStorage();
  s.append([1, 1, 2, 2].map((t, i) => entry(i + 1, t)));
  s.compact(2);
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.lastIndex(), 4);
  assert.equal(s.term(2), 1, "the compaction point keeps its term");
  assert.throws(() => s.entries(2, 4, Infinity), CompactedError);
  assert.throws(() => s.entries(3, 6, Infinity), UnavailableError);
  assert.throws(() => s.term(1), CompactedError);
  assert.throws(() => s.term(5), UnavailableError);
  s.append([entry(4, 3), entry(5, 3)]);
  assert.deepEqual(s.entries(3, 6, Infinity).map((e) => [e.index, e.term]), [
    [3, 2],
    [4, 3],
    [5, 3],
  ]);
  s.append([entry(1, 1), entry(2, 1), entry(3, 2)]); // compacted ones skipped, the tail from 3 replaced
  assert.equal(s.lastIndex(), 3);
  assert.throws(
    () => s.append([entry(9, 3)]),
    AssertionError,
    "a gap is refused",
  );
});

Deno.test("MemoryStorage: applySnapshot replaces the log; an older snapshot is ignored", () => {
  const s = new MemoryStorage();
  s.append([1, 1, 1].map((t, i) => entry(i + 1, t)));
  const conf = { voters: [1, 2], learners: [] };
  s.applySnapshot({
    meta: { index: 10, term: 4, conf },
    data: new Uint8Array([7]),
  });
  assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(10)], [11, 10, 4]);
  s.applySnapshot({
    meta: { index: 5, term: 2, conf },
    data: new Uint8Array(),
  });
  assert.equal(s.snapshot().meta.index, 10);
  assert.throws(
    () =>
      s.createSnapshot({
        meta: { index: 12, term: 4, conf },
        data: new Uint8Array(),
      }),
    AssertionError,
  );
});

Deno.test("limitBytes keeps at least one entry and stops before the limit is exceeded", () => {
  const ents: Entry[] = [
    entry(1, 1, "a".repeat(100)),
    entry(2, 1, "b"),
    entry(3, 1, "c"),
  ];
  assert.equal(entryBytes(ents[1]!), 17);
  assert.deepEqual(limitBytes(ents, 10).map((e) => e.index), [1]);
  assert.deepEqual(limitBytes(ents, 116 + 17).map((e) => e.index), [1, 2]);
  assert.deepEqual(limitBytes(ents, Infinity).map((e) => e.index), [1, 2, 3]);
  assert.deepEqual(limitBytes([], 0), []);
});
