/**
 * A binary min-heap of timed items ordered by `(at, seq)`: the simulator's
 * agenda. `seq` is a strictly increasing tie-breaker, so two items due at
 * the same time always come out in the order they were pushed and a run is
 * reproducible from its seed.
 *
 * @module
 */

/** Anything scheduled at simulated time `at` (ms), pushed as number `seq`. */
export interface Timed {
  at: number;
  seq: number;
}

function before(a: Timed, b: Timed): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A priority queue popping the earliest `(at, seq)` first. */
export class TimedQueue<T extends Timed> {
  readonly #items: T[] = [];

  /** The number of queued items. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest item, left in place. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** Queues `item`. */
  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && before(a[l]!, a[m]!)) m = l;
      if (r < a.length && before(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }

  /** Drops every item for which `keep` is false. */
  filter(keep: (item: T) => boolean): void {
    const kept = this.#items.filter(keep);
    this.#items.length = 0;
    for (const x of kept) this.push(x);
  }
}
