/**
 * Byte chunks joined into one buffer, for readers that gather a record or
 * a file's head in pieces.
 *
 * @module
 */

/**
 * `parts` joined into one buffer of `length` bytes (their total); the only
 * part itself when there is one, not a copy.
 *
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])], 3); // [1, 2, 3]
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array[],
  length: number,
): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
