import assert from "node:assert/strict";
import { decodeFrames, encodeFrame, type WalRecord } from "../../wal/mod.ts";
import { seeds, withSeed } from "./helpers.ts";

function rec(kind: number, ...bytes: number[]): WalRecord {
  return { kind, data: new Uint8Array(bytes) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function plain(records: WalRecord[]): [number, number[]][] {
  return records.map((r) => [r.kind, [...r.data]]);
}

const FRAMES = [
  [rec(1, 1, 2, 3), rec(3)],
  [rec(2, ...new Array(40).fill(9))],
  [rec(4, 0, 0, 0), rec(2, 7)],
];
const ENCODED = FRAMES.map(encodeFrame);
const STARTS = ENCODED.map((_, i) =>
  ENCODED.slice(0, i).reduce((n, f) => n + f.length, 0)
);
const ALL = concat(ENCODED);

Deno.test("record: frames round-trip with their records, in order", () => {
  const res = decodeFrames(ALL);
  assert.equal(res.tail, "clean");
  assert.equal(res.validEnd, ALL.length);
  assert.deepEqual(res.frames.map((f) => plain(f.records)), FRAMES.map(plain));
  assert.deepEqual(res.frames.map((f) => f.offset), STARTS);
});

Deno.test("record: an empty buffer is a clean, empty log", () => {
  assert.deepEqual(decodeFrames(new Uint8Array()), {
    frames: [],
    validEnd: 0,
    tail: "clean",
    reason: "",
  });
});

Deno.test("record: encodeFrame refuses no records and kinds outside 1..255", () => {
  assert.throws(() => encodeFrame([]), RangeError);
  assert.throws(() => encodeFrame([rec(0)]), RangeError);
  assert.throws(() => encodeFrame([rec(256)]), RangeError);
});

Deno.test("record: cutting the last frame at every byte is a torn tail keeping the whole frames", () => {
  const lastStart = STARTS.at(-1)!;
  for (let cut = lastStart + 1; cut < ALL.length; cut++) {
    const res = decodeFrames(ALL.subarray(0, cut));
    assert.equal(res.tail, "torn", `cut at ${cut}`);
    assert.equal(res.validEnd, lastStart, `cut at ${cut}`);
    assert.equal(res.frames.length, FRAMES.length - 1);
  }
});

Deno.test("record: zero-filling the last frame from any byte is a torn tail", () => {
  const lastStart = STARTS.at(-1)!;
  for (let from = lastStart; from < ALL.length; from++) {
    const buf = ALL.slice();
    buf.fill(0, from);
    const res = decodeFrames(buf);
    assert.equal(res.tail, "torn", `zeros from ${from}`);
    assert.equal(res.validEnd, lastStart);
  }
  const padded = concat([ALL, new Uint8Array(4096)]); // preallocated space
  const res = decodeFrames(padded);
  assert.equal(res.tail, "torn");
  assert.equal(res.validEnd, ALL.length);
  assert.equal(res.frames.length, FRAMES.length);
});

Deno.test("record: every single-bit flip anywhere is corruption, never a torn tail", () => {
  for (let bit = 0; bit < ALL.length * 8; bit++) {
    const buf = ALL.slice();
    buf[bit >> 3]! ^= 1 << (bit & 7);
    const res = decodeFrames(buf);
    assert.equal(res.tail, "corrupt", `bit ${bit}`);
    const frame = STARTS.findLastIndex((s) => s <= bit >> 3);
    assert.equal(res.validEnd, STARTS[frame], `bit ${bit}`);
  }
});

Deno.test("record: a zeroed middle frame followed by a valid one is corruption", () => {
  const buf = ALL.slice();
  buf.fill(0, STARTS[1]!, STARTS[2]!);
  const res = decodeFrames(buf);
  assert.equal(res.tail, "corrupt");
  assert.equal(res.validEnd, STARTS[1]);
  assert.match(res.reason, /valid frame follows/);
});

Deno.test("record: random bytes and random damage never throw", async () => {
  for (const seed of seeds(1, 200)) {
    await withSeed(seed, (rng) => {
      const buf = rng.chance(0.5)
        ? Uint8Array.from({ length: rng.intn(300) }, () => rng.intn(256))
        : ALL.slice();
      for (let k = rng.intn(4); k > 0 && buf.length > 0; k--) {
        buf[rng.intn(buf.length)] = rng.intn(256);
      }
      const res = decodeFrames(buf);
      assert.ok(res.validEnd <= buf.length);
      if (res.tail === "clean") assert.equal(res.validEnd, buf.length);
    });
  }
});
