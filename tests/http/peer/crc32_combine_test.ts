import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { crc32Combine } from "../../../http/peer/crc32_combine.ts";

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7) & 0xff;
  return b;
}

Deno.test("crc32Combine gives the CRC-32 of the two strings joined", () => {
  const sizes: [number, number][] = [
    [0, 0],
    [1, 0],
    [0, 5],
    [17, 1000],
    [100_000, 70_001],
    [3, 1 << 20],
  ];
  for (const [a, b] of sizes) {
    const x = bytes(a, 1);
    const y = bytes(b, 2);
    const joined = new Uint8Array(a + b);
    joined.set(x);
    joined.set(y, a);
    assert.equal(
      crc32Combine(crc32(x), crc32(y), b),
      crc32(joined) >>> 0,
      `${a} + ${b}`,
    );
  }
});

Deno.test("crc32Combine takes lengths beyond 2^31", () => {
  // A zero CRC stays zero under any shift; a length over 2^32 must not wrap
  // into a small one (which would give the shift of that small length).
  const x = crc32(bytes(10, 3)) >>> 0;
  assert.notEqual(crc32Combine(x, 0, 2 ** 32 + 4), crc32Combine(x, 0, 4));
  assert.equal(crc32Combine(0, 0, 2 ** 33), 0);
});
