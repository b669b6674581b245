/**
 * Lease and transaction clients of the e2e tests over HTTP: a JSON POST, a
 * linearizable read through a transaction, a grant, a leased put, and a
 * {@linkcode Keeper} sending keepalives every ttl/3.
 *
 * @module
 */

import { type E2eCluster, GiveUp, type Reply, waitFor } from "./cluster.ts";

/** A key as a transaction's get shows it. */
export interface TxnItem {
  key: string;
  value?: string;
  createIndex: number;
  lease?: number;
}

/** POST a JSON body to node `id`. */
export function post(
  c: E2eCluster,
  id: number,
  path: string,
  body?: unknown,
): Promise<Reply | undefined> {
  return c.request(`${c.node(id).url}${path}`, {
    method: "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
}

/** Reads `key` through a read-only transaction on node `id` (linearizable). */
export async function readItem(
  c: E2eCluster,
  id: number,
  key: string,
): Promise<TxnItem | null> {
  const r = await waitFor(`a txn read of ${key} on node ${id}`, async () => {
    const r = await post(c, id, "/v1/txn", { success: [{ op: "get", key }] });
    return r?.status === 200 ? r : false;
  });
  const items = JSON.parse(r.body).results[0].items as TxnItem[];
  return items[0] ?? null;
}

/** Grants a lease of `ttl` seconds through node `id`; its id. */
export async function grant(
  c: E2eCluster,
  id: number,
  ttl: number,
): Promise<number> {
  const r = await waitFor("a lease grant", async () => {
    const r = await post(c, id, "/v1/leases", { ttl });
    return r?.status === 201 ? r : false;
  });
  return JSON.parse(r.body).id;
}

/** Puts `key` attached to `lease` through node `id`. */
export async function putLeased(
  c: E2eCluster,
  id: number,
  key: string,
  lease: number,
): Promise<void> {
  await waitFor(`a put of ${key}`, async () => {
    const r = await c.request(`${c.keyUrl(id, key)}?lease=${lease}`, {
      method: "PUT",
      body: "here",
    });
    return r?.status === 204;
  });
}

/**
 * Sends a keepalive for `lease` every ttl/3 (at once again after a failed
 * one) to the node `target()` names, until stopped. Counts the answers.
 */
export class Keeper {
  ok = 0;
  lost = false;
  #stopped = false;
  readonly #done: Promise<void>;
  constructor(
    c: E2eCluster,
    lease: number,
    ttl: number,
    target: () => number,
  ) {
    this.#done = (async () => {
      while (!this.#stopped) {
        const r = await post(c, target(), `/v1/leases/${lease}/keepalive`);
        if (r?.status === 200) this.ok++;
        if (r?.status === 404) this.lost = true;
        const wait = r?.status === 200 ? (ttl * 1000) / 3 : 100;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
  }
  /** Resolves once `n` more keepalives were answered 200. */
  more(n: number, what: string): Promise<boolean> {
    const target = this.ok + n;
    return waitFor(what, () => {
      if (this.lost) throw new GiveUp("the kept-alive lease was not found");
      return this.ok >= target;
    }, 120_000);
  }
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}
