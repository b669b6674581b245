/**
 * Key rules and key order. Keys are strings of 1 to 4096 bytes of UTF-8 and
 * sort by their UTF-8 bytes (the same as Unicode code point order), which is
 * what users of other stores expect from "sorted by key".
 *
 * @module
 */

import { InvalidKeyError } from "./errors.ts";

/** The longest key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 4096;

/** Returns the length of `s` in bytes of UTF-8 (lone surrogates count 3, as U+FFFD). */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Whether `s` holds a lone surrogate, which has no UTF-8 form. */
function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

/**
 * Returns why `key` is not a valid key, or `undefined` when it is valid.
 * Cheap for the common case: short keys skip the byte count.
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return "the key is empty";
  if (key.length * 3 > MAX_KEY_BYTES && utf8ByteLength(key) > MAX_KEY_BYTES) {
    return `the key is longer than ${MAX_KEY_BYTES} bytes of UTF-8`;
  }
  if (hasLoneSurrogate(key)) return "the key is not valid UTF-8";
  return undefined;
}

/** Throws {@linkcode InvalidKeyError} unless `key` is 1 to 4096 bytes of UTF-8. */
export function validateKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidKeyError(problem);
}

/**
 * Compares two keys in UTF-8 byte order (negative, zero, positive).
 * JavaScript's `<` compares UTF-16 code units, which disagrees with byte
 * order only between surrogates and U+E000..U+FFFF; this fixes that case.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
