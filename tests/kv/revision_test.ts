import assert from "node:assert/strict";
import { REVISION_PAGE_SLOTS, RevisionTable } from "../../kv/revision.ts";

Deno.test("RevisionTable grows one page at a time and keeps every record across pages", () => {
  const table = new RevisionTable();
  const slots = 3 * REVISION_PAGE_SLOTS + 5;
  for (let slot = 0; slot < slots; slot++) {
    const pages = table.pageCount;
    table.reserve(slot + 1);
    // Room for one more slot costs one page at most, whatever the size.
    assert.ok(table.pageCount - pages <= 1, `slot ${slot}`);
    assert.ok(table.capacity > slot);
    table.write(slot, slot + 10, true, slot % 7);
    if (slot % 3 === 0) table.write(slot, slot + 20, false, 0);
  }
  assert.equal(table.pageCount, 4);
  for (let slot = 0; slot < slots; slot++) {
    const rewritten = slot % 3 === 0;
    assert.deepEqual(table.get(slot), {
      createIndex: slot + 10,
      modIndex: rewritten ? slot + 20 : slot + 10,
      version: rewritten ? 2 : 1,
      lease: rewritten ? 0 : slot % 7,
    }, `slot ${slot}`);
  }
  const last = slots - 1;
  table.clear(last);
  assert.equal(table.modIndex(last), 0);
  assert.equal(table.version(last), 0);
  assert.equal(table.createIndex(last - 1), last - 1 + 10);
  // Reserving what is there adds nothing.
  table.reserve(slots);
  assert.equal(table.pageCount, 4);
});
