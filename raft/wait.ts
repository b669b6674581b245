/**
 * Callers waiting for the node to reach something, after etcd's
 * `pkg/wait`: {@linkcode Wait} parks callers under a key until their
 * outcome is known (a proposal applied, a read index confirmed, a leader
 * elected); {@linkcode IndexWait} parks them until the applied index
 * reaches a value (etcd's `WaitTime`). Every caller is settled exactly
 * once: by a trigger, a failure, or its own `AbortSignal`.
 *
 * @module
 */

/** One parked caller; callers under the same key form a list. */
interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  next: Waiter<T> | undefined;
}

/** Options of {@linkcode Wait}. */
export interface WaitOptions<K> {
  /** Called after a caller under `key` was failed by its abort signal. */
  onAbort?(key: K): void;
}

/**
 * Callers waiting under a key for one outcome each. Several callers may
 * wait under one key; a trigger or failure of the key settles them all.
 */
export class Wait<K, T> {
  readonly #waiters = new Map<K, Waiter<T>>();
  readonly #onAbort: ((key: K) => void) | undefined;

  constructor(options: WaitOptions<K> = {}) {
    this.#onAbort = options.onAbort;
  }

  /** How many keys have callers waiting. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Parks a caller under `key`. The promise settles with the key's
   * trigger or failure, or rejects with `signal.reason` when the signal
   * aborts first (at once when it already has).
   */
  register(key: K, signal?: AbortSignal): Promise<T> {
    let w!: Waiter<T>;
    const p = new Promise<T>((resolve, reject) => {
      w = { resolve, reject, next: undefined };
    });
    const first = this.#waiters.get(key);
    if (first) {
      let last = first;
      while (last.next) last = last.next;
      last.next = w;
    } else {
      this.#waiters.set(key, w);
    }
    if (signal) {
      if (signal.aborted) this.#abort(key, w, signal.reason);
      else {
        signal.addEventListener(
          "abort",
          () => this.#abort(key, w, signal.reason),
          { once: true },
        );
      }
    }
    return p;
  }

  /** Resolves every caller under `key` with `value`; false when none waited. */
  trigger(key: K, value: T): boolean {
    let w = this.#take(key);
    if (!w) return false;
    for (; w; w = w.next) w.resolve(value);
    return true;
  }

  /** Rejects every caller under `key` with `reason`; false when none waited. */
  fail(key: K, reason: unknown): boolean {
    let w = this.#take(key);
    if (!w) return false;
    for (; w; w = w.next) w.reject(reason);
    return true;
  }

  /** Rejects every caller under every key with `reason`. */
  failAll(reason: unknown): void {
    const all = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const first of all) {
      for (let w: Waiter<T> | undefined = first; w; w = w.next) {
        w.reject(reason);
      }
    }
  }

  #take(key: K): Waiter<T> | undefined {
    const w = this.#waiters.get(key);
    if (w) this.#waiters.delete(key);
    return w;
  }

  /** Fails `w` alone with its signal's reason, if it still waits. */
  #abort(key: K, w: Waiter<T>, reason: unknown): void {
    const first = this.#waiters.get(key);
    if (first === w) {
      if (w.next) this.#waiters.set(key, w.next);
      else this.#waiters.delete(key);
    } else {
      let prev = first;
      while (prev && prev.next !== w) prev = prev.next;
      if (!prev) return; // Settled already.
      prev.next = w.next;
    }
    w.reject(reason);
    this.#onAbort?.(key);
  }
}

/** A caller of {@linkcode IndexWait.wait}. */
interface IndexWaiter {
  index: number;
  resolve(): void;
  reject(e: unknown): void;
}

/**
 * Callers waiting until a growing index (the applied index) reaches a
 * value, after etcd's `WaitTime`: `wait(i)` resolves once `trigger(j)`
 * was called with `j >= i`, at once when that already happened.
 */
export class IndexWait {
  #reached: number;
  /** Waiting callers, sorted by index (equal ones in arrival order). */
  #waiters: IndexWaiter[] = [];
  #closed: { reason: unknown } | undefined;

  /** Starts with `reached` as the index already reached. */
  constructor(reached: number) {
    this.#reached = reached;
  }

  /**
   * Resolves once the index reaches `index`; an index already reached
   * resolves at once, even after {@linkcode close}. Otherwise rejects
   * with the close reason, or with `signal.reason` when it aborts first.
   */
  wait(index: number, signal?: AbortSignal): Promise<void> {
    if (index <= this.#reached) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closed.reason);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const w = { index, resolve, reject };
      const ws = this.#waiters;
      let at = ws.length;
      while (at > 0 && ws[at - 1]!.index > index) at--;
      ws.splice(at, 0, w);
      signal?.addEventListener("abort", () => {
        const i = this.#waiters.indexOf(w);
        if (i < 0) return; // Settled already.
        this.#waiters.splice(i, 1);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Records that the index reached `index`; resolves the callers it satisfies. */
  trigger(index: number): void {
    if (index > this.#reached) this.#reached = index;
    const ws = this.#waiters;
    let n = 0;
    while (n < ws.length && ws[n]!.index <= this.#reached) n++;
    if (n === 0) return;
    for (const w of ws.splice(0, n)) w.resolve();
  }

  /** Rejects every caller still waiting, and every later one, with `reason`. */
  close(reason: unknown): void {
    this.#closed ??= { reason };
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.reject(reason);
  }
}
