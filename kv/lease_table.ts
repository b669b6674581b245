/**
 * The lease table (COORDINATION.md "Leases"): which leases exist, their TTL
 * and the keys attached to each. It is Raft state: it changes only when the
 * store applies a grant, a revoke, or a write that attaches or detaches a
 * key, so every node holds the same table at the same index. Time is not
 * here: when a lease expires is the current leader's decision
 * (raft/lease_expiry.ts), applied as a revoke entry.
 *
 * @module
 */

import { compareKeys } from "./key.ts";

/**
 * The shortest TTL granted, in seconds: a shorter request is raised to it.
 * It leaves room for a leader election (a few hundred ms by default) and a
 * keepalive round trip inside every countdown.
 */
export const MIN_LEASE_TTL_SECONDS = 2;
/** The longest TTL granted, in seconds (a year). */
export const MAX_LEASE_TTL_SECONDS = 365 * 24 * 3600;

/** One lease as the table holds it. */
export interface Lease {
  /** The index of the entry that granted it. */
  readonly id: number;
  /** Seconds. */
  readonly ttl: number;
}

/** Told of every lease that appears or goes, in apply order. Must not throw. */
export interface LeaseListener {
  /** A lease was granted (or came with a restored snapshot). */
  granted(lease: Lease): void;
  /** A lease was revoked (by a client or by expiry). */
  revoked(id: number): void;
  /** A snapshot replaced the table: every lease before it is forgotten. */
  restored(leases: readonly Lease[]): void;
}

/** Counts since this process started, as applied on this node. */
export interface LeaseCounts {
  granted: number;
  /** Revoked by the leader because it expired. */
  expired: number;
  /** Revoked by a client's `DELETE /v1/leases/{id}`. */
  revoked: number;
}

/** The leases and their attached keys: see the module doc. */
export class LeaseTable {
  #leases = new Map<number, { ttl: number; keys: Set<string> }>();
  readonly #listeners = new Set<LeaseListener>();
  readonly counts: LeaseCounts = { granted: 0, expired: 0, revoked: 0 };

  /** Calls `listener` on every change from now on; returns the unsubscribe. */
  listen(listener: LeaseListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The number of leases alive. */
  get size(): number {
    return this.#leases.size;
  }

  /** Whether lease `id` exists. */
  has(id: number): boolean {
    return this.#leases.has(id);
  }

  /** The lease `id`, or undefined when it does not exist. */
  get(id: number): Lease | undefined {
    const l = this.#leases.get(id);
    return l === undefined ? undefined : { id, ttl: l.ttl };
  }

  /** The keys attached to lease `id`, sorted; empty when it does not exist. */
  keys(id: number): string[] {
    return [...this.#leases.get(id)?.keys ?? []].sort(compareKeys);
  }

  /** Every lease, by id. */
  list(): Lease[] {
    return [...this.#leases.entries()]
      .map(([id, l]) => ({ id, ttl: l.ttl }))
      .sort((a, b) => a.id - b.id);
  }

  /** Adds lease `id` (the granting entry's index) with `ttl` seconds. */
  grant(id: number, ttl: number): void {
    this.#leases.set(id, { ttl, keys: new Set() });
    this.counts.granted++;
    for (const l of this.#listeners) l.granted({ id, ttl });
  }

  /**
   * Removes lease `id` and returns the keys that were attached to it (the
   * caller deletes them). `expired` says whether the leader's expiry
   * decided it, for the counts.
   */
  revoke(id: number, expired: boolean): string[] {
    const keys = this.keys(id);
    this.#leases.delete(id);
    if (expired) this.counts.expired++;
    else this.counts.revoked++;
    for (const l of this.#listeners) l.revoked(id);
    return keys;
  }

  /** Records that `key` is attached to lease `id` (which exists). */
  attach(id: number, key: string): void {
    this.#leases.get(id)?.keys.add(key);
  }

  /** Records that `key` is no longer attached to lease `id`. */
  detach(id: number, key: string): void {
    this.#leases.get(id)?.keys.delete(key);
  }

  /**
   * Replaces the whole table with `leases` and the keys attached to them
   * (`attached`: key and lease id pairs). The caller has checked that every
   * attached lease is among `leases`.
   */
  reset(
    leases: readonly Lease[],
    attached: Iterable<readonly [string, number]>,
  ): void {
    const table = new Map<number, { ttl: number; keys: Set<string> }>();
    for (const { id, ttl } of leases) table.set(id, { ttl, keys: new Set() });
    for (const [key, id] of attached) table.get(id)?.keys.add(key);
    this.#leases = table;
    const list = this.list();
    for (const l of this.#listeners) l.restored(list);
  }
}
