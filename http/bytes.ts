/**
 * Joining byte parts into one buffer, for bodies built or read in parts.
 *
 * @module
 */

/**
 * `parts` one after the other in one buffer of `total` bytes (their
 * summed lengths unless given); a single part is returned itself, not
 * copied.
 */
export function joinBytes(
  parts: readonly Uint8Array[],
  total?: number,
): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  if (total === undefined) {
    total = 0;
    for (const p of parts) total += p.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
