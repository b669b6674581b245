/**
 * CRC-32 (IEEE, as `node:zlib` `crc32`) of two byte strings joined, from
 * the CRC-32 of each and the second one's length, without the bytes
 * (zlib's `crc32_combine`). A streamed snapshot's body is a small frame
 * around a file whose checksum the file records: the body's checksum is
 * known before any of the file is read.
 *
 * @module
 */

/** The reflected CRC-32 polynomial. */
const POLY = 0xedb88320;

/** `a` × `b` modulo the polynomial (reflected bit order). */
function multModP(a: number, b: number): number {
  let m = 0x8000_0000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0…31. */
const X2N: number[] = (() => {
  const table: number[] = [];
  let p = 0x4000_0000; // x^1
  for (let k = 0; k < 32; k++) {
    table.push(p);
    p = multModP(p, p);
  }
  return table;
})();

/** x^(n × 2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 0x8000_0000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/**
 * The CRC-32 of A followed by B, given `crcA`, `crcB` and B's length in
 * bytes (any safe integer).
 */
export function crc32Combine(
  crcA: number,
  crcB: number,
  lengthB: number,
): number {
  return (multModP(x2nModP(lengthB, 3), crcA >>> 0) ^ (crcB >>> 0)) >>> 0;
}
