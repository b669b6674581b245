import assert from "node:assert/strict";
import { parseSegmentName, segmentName } from "../../wal/mod.ts";
import { sortSegments } from "../../wal/segment.ts";

Deno.test("segment: names carry sequence and first index as 16 hex digits", () => {
  assert.equal(segmentName(0, 0), "0000000000000000-0000000000000000.wal");
  assert.equal(segmentName(10, 255), "000000000000000a-00000000000000ff.wal");
  const big = Number.MAX_SAFE_INTEGER;
  assert.deepEqual(parseSegmentName(segmentName(3, big)), {
    seq: 3,
    firstIndex: big,
    name: segmentName(3, big),
  });
});

Deno.test("segment: other names are not segments", () => {
  for (
    const n of [
      "0000000000000000-0000000000000000.wal.tmp",
      "0000000000000000-0000000000000000.snap",
      "000000000000000-0000000000000000.wal",
      "000000000000000A-0000000000000000.wal",
      "ffffffffffffffff-0000000000000000.wal", // beyond a safe integer
      "x.wal",
    ]
  ) {
    assert.equal(parseSegmentName(n), undefined, n);
  }
  assert.throws(() => segmentName(-1, 0), RangeError);
  assert.throws(() => segmentName(1.5, 0), RangeError);
});

Deno.test("segment: sortSegments orders by sequence and skips other files", () => {
  const names = [
    segmentName(2, 50),
    "junk",
    segmentName(0, 0),
    segmentName(10, 40),
    segmentName(1, 9),
  ];
  assert.deepEqual(sortSegments(names).map((s) => s.seq), [0, 1, 2, 10]);
});
