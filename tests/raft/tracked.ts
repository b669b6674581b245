/** Watching a promise's outcome from a test without awaiting it. */

/** A promise's outcome as seen so far. */
export interface Tracked<T> {
  state: "pending" | "resolved" | "rejected";
  value?: T;
  error?: unknown;
}

/** Starts tracking `p`: the result changes state once `p` settles. */
export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { state: "pending" };
  p.then((v) => {
    t.state = "resolved";
    t.value = v;
  }, (e) => {
    t.state = "rejected";
    t.error = e;
  });
  return t;
}
