/**
 * One conformance suite for every implementation of the core's Storage
 * (openraft's idea): the same named cases run against MemoryStorage and
 * DiskStorage. A target may also reopen itself; then every check runs again
 * on the reopened storage, so what was persisted must read back the same.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CompactedError, UnavailableError } from "../../raft/core/errors.ts";
import type { Storage } from "../../raft/core/storage.ts";
import type { Entry, HardState, Snapshot } from "../../raft/core/types.ts";

/** How the suite drives a storage: the writes a node makes. */
export interface StorageTarget {
  storage(): Storage;
  append(ents: Entry[]): Promise<void>;
  setHardState(hs: HardState): Promise<void>;
  /** A snapshot received from the leader replaces the log. */
  applySnapshot(snap: Snapshot): Promise<void>;
  /** A snapshot of the node's own log, compacting everything up to it. */
  snapshotAndCompact(snap: Snapshot): Promise<void>;
  /** Closes and opens again from what was persisted, if the target persists. */
  reopen?(): Promise<void>;
  close(): Promise<void>;
}

/** Entries `from..to` (inclusive) of `term`, with data derived from the index. */
export function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({
      term,
      index: i,
      type: i % 5 === 0 ? "conf" : "normal",
      data: new Uint8Array([i & 255, term]),
    });
  }
  return out;
}

/** A snapshot at (`index`, `term`). */
export function snapAt(index: number, term: number): Snapshot {
  return {
    meta: { index, term, conf: { voters: [1, 2, 3], learners: [] } },
    data: new Uint8Array([index & 255, 42]),
  };
}

const all = (s: Storage) =>
  s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity);

interface Case {
  name: string;
  run(t: StorageTarget): Promise<void>;
  check(s: Storage): void;
}

const cases: Case[] = [
  {
    name: "a new storage is empty",
    run: async () => {},
    check(s) {
      assert.equal(s.firstIndex(), 1);
      assert.equal(s.lastIndex(), 0);
      assert.equal(s.term(0), 0);
      assert.deepEqual(s.initialState().hardState, {
        term: 0,
        vote: 0,
        commit: 0,
      });
      assert.equal(s.snapshot().meta.index, 0);
      assert.deepEqual(s.entries(1, 1, Infinity), []);
      assert.throws(() => s.entries(1, 2, Infinity), UnavailableError);
      assert.throws(() => s.term(1), UnavailableError);
    },
  },
  {
    name: "appended entries read back by range and term",
    run: async (t) => {
      await t.append(ents(1, 10, 1));
      await t.append(ents(11, 12, 2));
    },
    check(s) {
      assert.equal(s.firstIndex(), 1);
      assert.equal(s.lastIndex(), 12);
      assert.deepEqual(all(s), [...ents(1, 10, 1), ...ents(11, 12, 2)]);
      assert.deepEqual(s.entries(4, 7, Infinity), ents(4, 6, 1));
      assert.equal(s.term(10), 1);
      assert.equal(s.term(11), 2);
      assert.throws(() => s.entries(0, 2, Infinity), CompactedError);
      assert.throws(() => s.entries(5, 14, Infinity), UnavailableError);
      assert.throws(() => s.term(13), UnavailableError);
    },
  },
  {
    name: "maxBytes limits a read but always returns one entry",
    run: async (t) => {
      await t.append(ents(1, 10, 1));
    },
    check(s) {
      assert.equal(s.entries(1, 11, 0).length, 1);
      assert.equal(s.entries(1, 11, 18 * 3).length, 3);
      assert.equal(s.entries(1, 11, Infinity).length, 10);
    },
  },
  {
    name: "an append at index i replaces every entry from i on",
    run: async (t) => {
      await t.append(ents(1, 10, 1));
      await t.append(ents(6, 7, 2));
    },
    check(s) {
      assert.equal(s.lastIndex(), 7);
      assert.deepEqual(all(s), [...ents(1, 5, 1), ...ents(6, 7, 2)]);
    },
  },
  {
    name: "the last hard state is the initial state",
    run: async (t) => {
      await t.append(ents(1, 3, 1));
      await t.setHardState({ term: 1, vote: 2, commit: 1 });
      await t.setHardState({ term: 3, vote: 0, commit: 3 });
    },
    check(s) {
      assert.deepEqual(s.initialState().hardState, {
        term: 3,
        vote: 0,
        commit: 3,
      });
    },
  },
  {
    name: "a snapshot of the own log compacts the entries up to it",
    run: async (t) => {
      await t.append(ents(1, 20, 1));
      await t.setHardState({ term: 1, vote: 1, commit: 20 });
      await t.snapshotAndCompact(snapAt(15, 1));
    },
    check(s) {
      assert.equal(s.firstIndex(), 16);
      assert.equal(s.lastIndex(), 20);
      assert.equal(s.term(15), 1);
      assert.deepEqual(s.snapshot(), snapAt(15, 1));
      assert.deepEqual(all(s), ents(16, 20, 1));
      assert.throws(() => s.entries(15, 17, Infinity), CompactedError);
      assert.throws(() => s.term(14), CompactedError);
    },
  },
  {
    name: "a received snapshot replaces the log and appends continue after it",
    run: async (t) => {
      await t.append(ents(1, 8, 1));
      await t.applySnapshot(snapAt(50, 3));
      await t.append(ents(51, 53, 3));
      await t.setHardState({ term: 3, vote: 1, commit: 52 });
    },
    check(s) {
      assert.equal(s.firstIndex(), 51);
      assert.equal(s.lastIndex(), 53);
      assert.equal(s.term(50), 3);
      assert.deepEqual(s.snapshot(), snapAt(50, 3));
      assert.deepEqual(all(s), ents(51, 53, 3));
    },
  },
  {
    name: "a received snapshot voids a longer stale log",
    run: async (t) => {
      await t.append(ents(1, 60, 1));
      await t.applySnapshot(snapAt(40, 2));
    },
    check(s) {
      assert.equal(s.firstIndex(), 41);
      assert.equal(s.lastIndex(), 40);
      assert.deepEqual(s.snapshot(), snapAt(40, 2));
    },
  },
  {
    name: "an older snapshot is ignored",
    run: async (t) => {
      await t.append(ents(1, 30, 1));
      await t.snapshotAndCompact(snapAt(20, 1));
      await t.applySnapshot(snapAt(10, 1));
    },
    check(s) {
      assert.equal(s.firstIndex(), 21);
      assert.equal(s.lastIndex(), 30);
      assert.deepEqual(s.snapshot(), snapAt(20, 1));
    },
  },
];

/** Registers every case against `make`, named `storage conformance: <case> [<label>]`. */
export function storageSuite(
  label: string,
  make: () => Promise<StorageTarget>,
): void {
  for (const c of cases) {
    Deno.test(`storage conformance: ${c.name} [${label}]`, async () => {
      const t = await make();
      try {
        await c.run(t);
        c.check(t.storage());
        if (t.reopen) {
          await t.reopen();
          c.check(t.storage());
        }
      } finally {
        await t.close();
      }
    });
  }
}
