/**
 * {@linkcode RaftKvClient}: the typed client of the raftkv API. It is built
 * on `fetch` only, so the same module runs in Deno, Node 20+ and browsers.
 *
 * Features that are not in the API yet come as methods when they land:
 * `watch()` (an async iterator of changes that resumes with the last id),
 * `lease` (grant, keep alive, revoke), `lock` (with the fence) and `txn`.
 *
 * @example Put, read back, compare-and-set
 * ```ts ignore
 * import { RaftKvClient } from "@raftkv/raftkv/client";
 *
 * const kv = new RaftKvClient({
 *   endpoints: ["http://127.0.0.1:12380", "http://127.0.0.1:22380"],
 * });
 * const { index } = await kv.put("config", "v1");
 * const entry = await kv.get("config"); // { key, value: Uint8Array, index }
 * await kv.put("config", "v2", { ifMatch: index }); // 412 if someone else wrote
 * for await (const item of kv.list({ prefix: "conf" })) console.log(item.key);
 * ```
 *
 * @module
 */

import { Endpoints } from "./endpoints.ts";
import { Transport, type TransportOptions } from "./transport.ts";
import type {
  ClusterStatus,
  KvEntry,
  KvPage,
  Member,
  MembersView,
  NodeStatus,
  Snapshot,
  WriteResult,
} from "./types.ts";

/** How to reach the cluster; see {@linkcode TransportOptions} for the rest. */
export interface ClientOptions extends TransportOptions {
  /**
   * The API URLs of some or all members, as a list or comma-separated
   * (e.g. `RAFTKV_ENDPOINTS`). The client fails over between them.
   */
  endpoints: string | readonly string[];
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** Options of reads. */
export interface ReadOptions extends CallOptions {
  /** Read the answering node's state without a quorum round (may be stale). */
  stale?: boolean;
}

/** Conditions of a put. */
export interface PutOptions extends CallOptions {
  /** Write only if the key's index is this one (compare-and-set). */
  ifMatch?: number;
  /** Write only if the key is absent (create). */
  ifAbsent?: boolean;
}

/** Conditions of a delete. */
export interface DeleteOptions extends CallOptions {
  /** Delete only if the key's index is this one. */
  ifMatch?: number;
}

/** Which keys a listing returns. */
export interface ListOptions extends ReadOptions {
  /** Only keys starting with this (default: every key). */
  prefix?: string;
  /** Keys per page (the server's default when absent). */
  limit?: number;
  /** Start after this key (exclusive). */
  after?: string;
}

const utf8 = new TextEncoder();

/**
 * Decodes a listing item's value: `value64` (base64), or `value` as UTF-8
 * text (as base64 when marked `"encoding":"base64"`, as nodes from before
 * revisions send it).
 */
function itemValue(item: {
  value?: string;
  value64?: string;
  encoding?: string;
}): Uint8Array<ArrayBuffer> {
  const base64 = item.value64 ??
    (item.encoding === "base64" ? item.value : undefined);
  if (base64 === undefined) return utf8.encode(item.value ?? "");
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The path of key `key`: one percent-encoded segment. */
function keyPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

function indexOf(res: Response): number {
  return Number(res.headers.get("x-raft-index") ?? 0);
}

/**
 * The raftkv client. Every method fails over between the endpoints (see
 * client/transport.ts) and throws the typed errors of client/errors.ts.
 */
export class RaftKvClient {
  readonly #transport: Transport;

  /**
   * A client of the cluster at `options.endpoints`.
   *
   * @throws {InvalidEndpointError} when `endpoints` is empty or holds a bad URL.
   */
  constructor(options: ClientOptions) {
    this.#transport = new Transport(new Endpoints(options.endpoints), options);
  }

  /**
   * Reads `key`; resolves with undefined when it is absent. Linearizable
   * unless `stale`.
   */
  async get(
    key: string,
    options: ReadOptions = {},
  ): Promise<KvEntry | undefined> {
    const q = options.stale ? "?consistency=stale" : "";
    const { response } = await this.#transport.send({
      method: "GET",
      path: keyPath(key) + q,
      write: false,
      accept: [404],
      ...signalOf(options),
    });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    const value = new Uint8Array(await response.arrayBuffer());
    return { key, value, index: indexOf(response) };
  }

  /** Reads `key` as UTF-8 text; undefined when absent. */
  async getText(
    key: string,
    options: ReadOptions = {},
  ): Promise<string | undefined> {
    const entry = await this.get(key, options);
    return entry === undefined
      ? undefined
      : new TextDecoder().decode(entry.value);
  }

  /**
   * Sets `key` to `value` (text is sent as UTF-8); resolves once the write
   * is committed on a majority and applied.
   *
   * @throws {PreconditionFailedError} when a condition fails.
   * @throws {OutcomeUnknownError} when the write may or may not have applied.
   */
  async put(
    key: string,
    value: string | Uint8Array<ArrayBuffer>,
    options: PutOptions = {},
  ): Promise<WriteResult> {
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
    };
    if (options.ifMatch !== undefined) {
      headers["if-match"] = `"${options.ifMatch}"`;
    }
    if (options.ifAbsent) headers["if-none-match"] = "*";
    const { response } = await this.#transport.send({
      method: "PUT",
      path: keyPath(key),
      headers,
      body: value,
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
    return { index: indexOf(response) };
  }

  /**
   * Deletes `key` (succeeds also when it is absent).
   *
   * @throws {PreconditionFailedError} when `ifMatch` fails.
   * @throws {OutcomeUnknownError} when the delete may or may not have applied.
   */
  async delete(
    key: string,
    options: DeleteOptions = {},
  ): Promise<WriteResult> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) {
      headers["if-match"] = `"${options.ifMatch}"`;
    }
    const { response } = await this.#transport.send({
      method: "DELETE",
      path: keyPath(key),
      headers,
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
    return { index: indexOf(response) };
  }

  /** One page of keys in key order, from `after` on (exclusive). */
  async listPage(options: ListOptions = {}): Promise<KvPage> {
    const q = new URLSearchParams({ prefix: options.prefix ?? "" });
    if (options.limit !== undefined) q.set("limit", String(options.limit));
    if (options.after !== undefined) q.set("after", options.after);
    if (options.stale) q.set("consistency", "stale");
    const { response } = await this.#transport.send({
      method: "GET",
      path: `/v1/kv?${q}`,
      write: false,
      ...signalOf(options),
    });
    const body = await response.json() as {
      items: {
        key: string;
        value?: string;
        value64?: string;
        index: number;
        encoding?: string;
      }[];
      more: boolean;
    };
    return {
      items: body.items.map((i) => ({
        key: i.key,
        value: itemValue(i),
        index: i.index,
      })),
      more: body.more,
    };
  }

  /**
   * Every key with `prefix`, page by page (`limit` per page), in key order.
   * Each page is its own read: a listing that spans pages is not one
   * snapshot of the store.
   */
  async *list(options: ListOptions = {}): AsyncGenerator<KvEntry> {
    let after = options.after;
    for (;;) {
      const page = await this.listPage(
        after === undefined ? options : { ...options, after },
      );
      yield* page.items;
      if (!page.more || page.items.length === 0) return;
      after = page.items.at(-1)!.key;
    }
  }

  /** The members and the leader, as the answering node knows them. */
  async members(options: CallOptions = {}): Promise<MembersView> {
    return await this.#json<MembersView>("GET", "/v1/members", options);
  }

  /**
   * Adds a member; resolves once the change is committed. A voter joins as
   * a learner and is promoted once it has caught up.
   */
  async addMember(member: Member, options: CallOptions = {}): Promise<Member> {
    return await this.#json<Member>("POST", "/v1/members", options, member);
  }

  /** Removes member `id`; resolves once the change is committed. */
  async removeMember(id: number, options: CallOptions = {}): Promise<void> {
    const { response } = await this.#transport.send({
      method: "DELETE",
      path: `/v1/members/${id}`,
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
  }

  /** Hands leadership to voter `id`; resolves once `id` leads. */
  async transferLeader(id: number, options: CallOptions = {}): Promise<void> {
    const { response } = await this.#transport.send({
      method: "POST",
      path: "/v1/leader",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id }),
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
  }

  /** The status of the node that answers. */
  async status(options: CallOptions = {}): Promise<NodeStatus> {
    return await this.#json<NodeStatus>("GET", "/v1/status", options);
  }

  /** Every member's status, gathered by the node that answers. */
  async clusterStatus(options: CallOptions = {}): Promise<ClusterStatus> {
    return await this.#json<ClusterStatus>(
      "GET",
      "/v1/cluster/status",
      options,
    );
  }

  /**
   * Whether the answering node has a leader and has applied what it knows
   * to be committed (`GET /health`).
   *
   * @throws {UnavailableError} when no endpoint is healthy.
   */
  async health(options: CallOptions = {}): Promise<{ ok: true }> {
    return await this.#json<{ ok: true }>("GET", "/health", options);
  }

  /**
   * A backup of the whole store (restore it with `raftkv restore`); holds
   * every write acknowledged before the call unless `stale`. Read or cancel
   * its `body`.
   */
  async snapshot(options: ReadOptions = {}): Promise<Snapshot> {
    const q = options.stale ? "?consistency=stale" : "";
    const { response } = await this.#transport.send({
      method: "GET",
      path: `/v1/snapshot${q}`,
      write: false,
      ...signalOf(options),
    });
    return {
      index: Number(response.headers.get("x-raftkv-snapshot-index") ?? 0),
      term: Number(response.headers.get("x-raftkv-snapshot-term") ?? 0),
      body: response.body ?? new Response(new Uint8Array()).body!,
    };
  }

  async #json<T>(
    method: "GET" | "POST",
    path: string,
    options: CallOptions,
    body?: unknown,
  ): Promise<T> {
    const { response } = await this.#transport.send({
      method,
      path,
      write: method !== "GET",
      ...(body === undefined ? {} : {
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
      ...signalOf(options),
    });
    return await response.json() as T;
  }
}

function signalOf(options: CallOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}
