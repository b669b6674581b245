/**
 * Simulated lease clients (issue 16). Each node incarnation gets the
 * adapter the HTTP routes use ({@linkcode KvNode}: its `keepalive` and its
 * leader's {@linkcode LeaseExpiry}), with the expiry's clock replaced by
 * simulated time and its `tick` driven by the simulator's clock, so expiry
 * is deterministic. Clients grant a lease (TTL 1 s) through a random node,
 * attach a key to it, and send a keepalive every ttl/3 to a random node; a
 * follower's `NotLeaderError` is forwarded, as the HTTP route does, to the
 * leader it names. Now and then a client abandons its lease.
 *
 * Checks, when a node's lease table revokes a lease (`lease revoke`): the
 * entry being applied is a revoke of that lease decided in that entry's
 * own term (so a stale decision never removes anything), and every node
 * revokes it at the same index; `lease ttl`: a lease is never revoked
 * before ttl after the sending of its last grant or keepalive answered OK,
 * checked at the revoke and at every OK; `lease expiry` (liveness): after
 * healing, every lease no client keeps alive is revoked on every live
 * member before the liveness bound.
 *
 * @module
 */

import {
  type ApplyResult,
  LeaseNotFoundError,
  WatchHub,
} from "../../kv/mod.ts";
import { NotLeaderError, type RaftNode } from "../../raft/mod.ts";
import { KvNode } from "../../http/api/kv_node.ts";
import { InvariantViolation } from "./invariants.ts";
import type { SimRng } from "./sim_rng.ts";
import type { SimStateMachine } from "./sim_state_machine.ts";

const TTL_S = 1;
const TTL_MS = TTL_S * 1000;

/** What the lease clients need of the cluster. */
export interface LeaseHost {
  /** Simulated time, ms. */
  now(): number;
  /** The nodes up now: id, incarnation. */
  up(): { id: number; incarnation: number }[];
  /** Fails the run with `e` (found inside a store's apply, so not thrown there). */
  fail(e: unknown): void;
  /** A client deadline (aborts on simulated time). */
  deadline(what: string): AbortSignal;
  /** Runs a client request as the workload does (typed refusals to `refused`). */
  request<T>(
    what: string,
    op: () => Promise<T>,
    ok?: (v: T) => void,
    refused?: (e: Error) => void,
  ): void;
}

/** Counts for the summary. */
export interface LeaseCounts {
  granted: number;
  keepalivesOk: number;
  forwarded: number;
  revoked: number;
  abandoned: number;
}

/** Zero counts. */
export function zeroLeaseCounts(): LeaseCounts {
  return {
    granted: 0,
    keepalivesOk: 0,
    forwarded: 0,
    revoked: 0,
    abandoned: 0,
  };
}

interface Client {
  /** The lease (0: none yet, or the last one is gone). */
  id: number;
  busy: boolean;
  abandoned: boolean;
  nextKeepalive: number;
}

function fail(detail: string, rule = "lease revoke"): never {
  throw new InvariantViolation(rule, detail);
}

/** The lease clients of one run and their checks: see the module doc. */
export class SimLeases {
  readonly counts = zeroLeaseCounts();
  readonly #host: LeaseHost;
  readonly #rng: SimRng;
  readonly #clients: Client[] = [];
  readonly #ports = new Map<
    number,
    { incarnation: number; port: KvNode; sm: SimStateMachine }
  >();
  /** Lease id → the send time of its newest grant or keepalive answered OK. */
  readonly #okSent = new Map<number, number>();
  /** Lease id → [index, time] of its revoke (first node to apply it). */
  readonly #revokedAt = new Map<number, [number, number]>();

  constructor(host: LeaseHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
    const n = rng.range(1, 4);
    for (let i = 0; i < n; i++) {
      this.#clients.push({
        id: 0,
        busy: false,
        abandoned: false,
        nextKeepalive: 0,
      });
    }
  }

  /** A node's new incarnation: its HTTP adapter on simulated time, and the revoke checks. */
  attach(
    id: number,
    incarnation: number,
    sm: SimStateMachine,
    node: () => RaftNode | undefined,
  ): void {
    const port = new KvNode({
      store: sm.store,
      watches: new WatchHub(sm.store),
      node,
      wal: () => undefined,
      decodeMessages: () => [],
      // Never by the real clock: the proposal settles when the node
      // applies, drops or forgets it (a crash).
      revokeTimeoutMs: 2 ** 31 - 1,
    });
    port.expiry.now = () => this.#host.now();
    sm.store.leases.listen({
      granted: () => {},
      restored: () => {},
      revoked: (lease) => {
        // Thrown inside the store's apply, a violation would stop the node.
        try {
          this.#onRevoked(id, sm, lease);
        } catch (e) {
          this.#host.fail(e);
        }
      },
    });
    this.#ports.set(id, { incarnation, port, sm });
  }

  /** Node `id`'s adapter (of that incarnation, when given). */
  port(id: number, incarnation?: number): KvNode | undefined {
    const p = this.#ports.get(id);
    if (!p || (incarnation !== undefined && p.incarnation !== incarnation)) {
      return undefined;
    }
    return p.port;
  }

  #onRevoked(node: number, sm: SimStateMachine, lease: number): void {
    const cur = sm.current;
    const at = `node ${node}: lease ${lease} revoked`;
    if (cur === undefined) fail(`${at} outside any entry`);
    const c = cur.cmd;
    if (c.op !== "lease_revoke" || c.id !== lease) {
      fail(`${at} by entry ${cur.index} (${c.op})`);
    }
    if (c.term !== 0 && c.term !== cur.term) {
      fail(
        `${at} by entry ${cur.index}@${cur.term} decided in term ${c.term}`,
      );
    }
    const first = this.#revokedAt.get(lease);
    if (first !== undefined) {
      if (first[0] !== cur.index) {
        fail(`${at} at index ${cur.index}, elsewhere at ${first[0]}`);
      }
      return;
    }
    const now = this.#host.now();
    this.#revokedAt.set(lease, [cur.index, now]);
    this.counts.revoked++;
    this.#checkTtl(lease, now);
  }

  #checkTtl(lease: number, revokedAt: number): void {
    const sent = this.#okSent.get(lease);
    if (sent !== undefined && revokedAt < sent + TTL_MS) {
      fail(
        `lease ${lease} (ttl ${TTL_S} s) revoked at ${revokedAt} ms, ` +
          `${revokedAt - sent} ms after a request answered OK was sent`,
        "lease ttl",
      );
    }
  }

  #ok(lease: number, sent: number): void {
    this.#okSent.set(lease, Math.max(this.#okSent.get(lease) ?? 0, sent));
    const r = this.#revokedAt.get(lease);
    if (r !== undefined) this.#checkTtl(lease, r[1]);
  }

  /** One tick of the clock: every leader's expiry, then the clients. */
  tick(granting: boolean): void {
    for (const { id } of this.#host.up()) this.port(id)?.expiry.tick();
    const up = this.#host.up();
    if (up.length === 0) return;
    for (const c of this.#clients) {
      if (c.busy || c.abandoned) continue;
      if (c.id !== 0 && granting && this.#rng.chance(0.002)) {
        c.abandoned = true;
        this.counts.abandoned++;
        continue;
      }
      if (c.id === 0 && granting) this.#grant(c, this.#rng.pick(up));
      else if (c.id !== 0 && this.#host.now() >= c.nextKeepalive) {
        this.#keepalive(c, this.#rng.pick(up));
      }
    }
  }

  #grant(c: Client, to: { id: number; incarnation: number }): void {
    const port = this.port(to.id, to.incarnation);
    if (!port) return;
    const sent = this.#host.now();
    c.busy = true;
    this.#host.request(
      "lease grant",
      () =>
        port.write(
          { op: "lease_grant", ttl: TTL_S },
          this.#host.deadline("lease grant"),
        ),
      (r: ApplyResult) => {
        c.busy = false;
        if (r.status !== "ok" || !r.lease) return;
        const id = r.lease.id;
        this.counts.granted++;
        this.#ok(id, sent);
        c.id = id;
        c.nextKeepalive = this.#host.now() + TTL_MS / 3;
        // A key attached to it (its revoke deletes it in the same entry).
        this.#host.request("lease attach", () =>
          port.write(
            {
              op: "put",
              key: `l${id}`,
              value: new Uint8Array([1]),
              lease: id,
            },
            this.#host.deadline("lease attach"),
          ));
      },
      () => c.busy = false,
    );
  }

  #keepalive(c: Client, to: { id: number; incarnation: number }): void {
    const port = this.port(to.id, to.incarnation);
    if (!port) return;
    const id = c.id, sent = this.#host.now();
    c.busy = true;
    const done = () => {
      c.busy = false;
      this.counts.keepalivesOk++;
      this.#ok(id, sent);
      c.nextKeepalive = sent + TTL_MS / 3;
    };
    const refused = (e: Error) => {
      c.busy = false;
      if (e instanceof LeaseNotFoundError) c.id = 0;
    };
    this.#host.request(
      `keepalive ${id}`,
      () => port.keepalive(id, this.#host.deadline(`keepalive ${id}`)),
      done,
      (e) => {
        // The HTTP route forwards a follower's keepalive to the leader.
        const leader = e instanceof NotLeaderError ? e.leader : 0;
        const fwd = leader !== 0 ? this.port(leader) : undefined;
        if (!fwd) return refused(e);
        this.counts.forwarded++;
        this.#host.request(
          `keepalive ${id} forwarded`,
          () => fwd.keepalive(id, this.#host.deadline(`keepalive ${id}`)),
          done,
          refused,
        );
      },
    );
  }

  /** The leases their clients keep alive now. */
  liveLeases(): number[] {
    return this.#clients.filter((c) => c.id !== 0 && !c.abandoned).map((c) =>
      c.id
    );
  }

  /**
   * After healing: true once every lease no client keeps alive is revoked
   * on every live member; `limit` reached first fails the run.
   */
  settled(liveMembers: number[], overLimit: boolean): boolean {
    const kept = new Set<number>();
    for (const c of this.#clients) if (!c.abandoned && c.id) kept.add(c.id);
    for (const m of liveMembers) {
      const p = this.#ports.get(m);
      if (!p) continue;
      for (const l of p.sm.store.leases.list()) {
        if (kept.has(l.id)) continue;
        if (overLimit) {
          fail(
            `node ${m}: lease ${l.id} nobody keeps alive still there at the liveness bound`,
            "lease expiry",
          );
        }
        return false;
      }
    }
    return true;
  }
}
