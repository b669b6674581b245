/**
 * Segment files: `<seq:016x>-<firstIndex:016x>.wal`. `seq` counts segments
 * from 0 without gaps; `firstIndex` is the label the owner gave the segment
 * when it was started (for the Raft adapter: the log's last index + 1), so
 * old segments can be released by index without reading them.
 *
 * @module
 */

/** The suffix of a finished segment file. */
export const SEGMENT_SUFFIX = ".wal";
/** The suffix of a segment being created; such files are deleted at open. */
export const TEMP_SUFFIX = ".tmp";
/** The suffix of a side file holding a torn tail cut off a segment. */
export const TORN_TAIL_SUFFIX = ".broken";

/** A parsed segment file name. */
export interface SegmentName {
  seq: number;
  firstIndex: number;
  name: string;
}

const PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

function hex16(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`bad segment number ${n}`);
  }
  return n.toString(16).padStart(16, "0");
}

/** Formats the file name of segment `seq` labelled `firstIndex`. */
export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}${SEGMENT_SUFFIX}`;
}

/**
 * The name of the side file keeping the tail cut off `segment` at `offset`:
 * `<segment>.tail-<offset>.broken`, then `...-<offset>-2.broken` and so on
 * when an earlier repair already used that name (`attempt` counts from 1).
 */
export function tornTailName(
  segment: string,
  offset: number,
  attempt: number,
): string {
  const n = attempt > 1 ? `-${attempt}` : "";
  return `${segment}.tail-${offset}${n}${TORN_TAIL_SUFFIX}`;
}

/** Parses a segment file name; `undefined` for any other name. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = PATTERN.exec(name);
  if (!m) return undefined;
  const seq = parseInt(m[1]!, 16);
  const firstIndex = parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) {
    return undefined;
  }
  return { seq, firstIndex, name };
}

/** The segment files among `names`, sorted by sequence number. */
export function sortSegments(names: readonly string[]): SegmentName[] {
  const segs: SegmentName[] = [];
  for (const n of names) {
    const s = parseSegmentName(n);
    if (s) segs.push(s);
  }
  return segs.sort((a, b) => a.seq - b.seq);
}
