/**
 * EntryPages (entry_pages.ts): the read mirror's log without an object per
 * entry. Behaviour only: what goes in comes out, truncation and dropping
 * keep the right entries, views handed out never change, dropped entries
 * free their chunks and pages.
 */
import assert from "node:assert/strict";
import {
  ENTRY_CHUNK_BYTES,
  EntryPages,
} from "../../../raft/core/entry_pages.ts";
import { AssertionError, type Entry } from "../../../raft/core/mod.ts";

function entry(index: number, term: number, text = `e${index}`): Entry {
  return {
    term,
    index,
    type: index % 5 === 0 ? "conf" : "normal",
    data: new TextEncoder().encode(text),
  };
}

Deno.test("entry pages hand back every entry as pushed, as fresh objects holding copies", () => {
  const p = new EntryPages(7);
  assert.equal(p.first, 7);
  assert.equal(p.last, 6);
  const pushed: Entry[] = [];
  for (let i = 7; i < 20_000; i++) {
    const e = entry(i, 1 + Math.floor(i / 1000), i % 3 === 0 ? "" : `e${i}`);
    pushed.push(e);
    p.push(e);
  }
  assert.equal(p.last, 19_999);
  for (const e of pushed) {
    assert.deepEqual(p.entry(e.index), e);
    assert.equal(p.term(e.index), e.term);
    assert.equal(p.dataLength(e.index), e.data.length);
  }
  // The pushed bytes were copied: changing them later changes nothing.
  pushed[1]!.data.fill(0);
  assert.deepEqual(p.entry(8).data, new TextEncoder().encode("e8"));
  assert.notEqual(p.entry(8), p.entry(8));
  assert.throws(() => p.push(entry(30_000, 9)), AssertionError);
  assert.throws(() => p.entry(6), AssertionError);
  assert.throws(() => p.entry(20_000), AssertionError);
});

Deno.test("entry pages: a truncated tail is replaced and views handed out before never change", () => {
  const p = new EntryPages(1);
  for (let i = 1; i <= 10; i++) p.push(entry(i, 1));
  const before = p.entry(8);
  p.truncateAfter(7);
  assert.equal(p.last, 7);
  p.push(entry(8, 2, "replaced"));
  assert.deepEqual(p.entry(8), entry(8, 2, "replaced"));
  assert.deepEqual(before.data, new TextEncoder().encode("e8"));
  assert.deepEqual(p.entry(7), entry(7, 1));
  p.truncateAfter(0);
  assert.equal(p.last, 0);
  p.push(entry(1, 3));
  assert.deepEqual(p.entry(1), entry(1, 3));
});

Deno.test("entry pages free the chunks and pages of dropped entries and keep the rest", () => {
  const p = new EntryPages(1);
  const value = "x".repeat(200);
  const n = 3 * Math.floor(ENTRY_CHUNK_BYTES / 200); // three full chunks
  for (let i = 1; i <= n; i++) p.push(entry(i, 1, value));
  assert.ok(p.chunkCount >= 3);
  const pagesBefore = p.pageCount;
  p.dropBefore(n - 10);
  assert.equal(p.first, n - 10);
  assert.equal(p.chunkCount, 1);
  assert.ok(p.pageCount <= 2 && p.pageCount < pagesBefore);
  assert.deepEqual(p.entry(n - 10), entry(n - 10, 1, value));
  assert.deepEqual(p.entry(n), entry(n, 1, value));
  assert.throws(() => p.entry(n - 11), AssertionError);
  // Dropping everything leaves an empty run that takes the next index.
  p.dropBefore(n + 1);
  assert.equal(p.chunkCount, 0);
  assert.equal(p.pageCount, 0);
  p.push(entry(n + 1, 2));
  assert.deepEqual(p.entry(n + 1), entry(n + 1, 2));
  // An entry larger than a chunk gets one of its own.
  const big = "y".repeat(ENTRY_CHUNK_BYTES + 1);
  p.push(entry(n + 2, 2, big));
  assert.equal(p.entry(n + 2).data.length, big.length);
  assert.deepEqual(p.entry(n + 1), entry(n + 1, 2));
});
