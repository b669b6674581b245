/**
 * "Did you mean": the nearest known word to a mistyped one, by edit
 * distance.
 *
 * @module
 */

/** The Levenshtein distance between `a` and `b` (insert, delete, substitute). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The word of `known` nearest to `word`, when it is close enough to be a
 * typo (at most 2 edits, and fewer than the word's length); else undefined.
 *
 * @example
 * ```ts
 * import { nearest } from "./suggest.ts";
 * nearest("stauts", ["status", "snapshot"]); // "status"
 * ```
 */
export function nearest(
  word: string,
  known: Iterable<string>,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, word.length - 1) ? best : undefined;
}
