/**
 * {@linkcode RaftKvClient}: the typed client of the raftkv API. It is built
 * on `fetch` only, so the same module runs in Deno, Node 20+ and browsers.
 *
 * Besides keys, members and status it covers the coordination API
 * (docs/API.md): `watch()` (an async iterator of changes that resumes with
 * the last id, on another endpoint when its node fails), leases
 * (`grantLease`, `keepAlive`, `revokeLease`, ...), `lock` with the fence,
 * and `txn`.
 *
 * @example Put, read back, compare-and-set
 * ```ts ignore
 * import { RaftKvClient } from "@raftkv/raftkv/client";
 *
 * const kv = new RaftKvClient({
 *   endpoints: ["http://127.0.0.1:12380", "http://127.0.0.1:22380"],
 * });
 * const { index } = await kv.put("config", "v1");
 * const entry = await kv.get("config"); // { key, value: Uint8Array, index, version, ... }
 * await kv.put("config", "v2", { ifMatch: index }); // 412 if someone else wrote
 * for await (const item of kv.list({ prefix: "conf" })) console.log(item.key);
 * for await (const msg of kv.watch({ prefix: "conf" }, { from: index })) {
 *   for (const e of msg.events) console.log(msg.index, e.type, e.key);
 * }
 * ```
 *
 * @module
 */

import { Endpoints } from "./endpoints.ts";
import {
  decodeJsonValue,
  encodeJsonValue,
  fromBase64,
  type JsonValue,
} from "./json_value.ts";
import {
  type KeepAlive,
  type KeepAliveOptions,
  startKeepAlive,
} from "./keep_alive.ts";
import { Transport, type TransportOptions } from "./transport.ts";
import type {
  ClusterStatus,
  KvEntry,
  KvPage,
  LeaseGrant,
  LeaseInfo,
  LockGrant,
  Member,
  MembersView,
  NodeStatus,
  Snapshot,
  TxnCompare,
  TxnOp,
  TxnOpResult,
  TxnRequest,
  TxnResponse,
  WatchMessage,
  WriteResult,
} from "./types.ts";
import { type WatchOptions, type WatchRange, watchStream } from "./watch.ts";

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
  /** Attach the key to this lease (without it, a put detaches the key). */
  lease?: number;
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

/** Options of `lock`. */
export interface LockOptions extends CallOptions {
  /** The lease that will hold the lock (its expiry or revocation releases it). */
  lease: number;
  /**
   * How long to wait for the lock: milliseconds, or a duration the server
   * takes (`"500ms"`, `"10s"`, `"2m"`; at most its request timeout).
   * 0 or absent: try once.
   */
  wait?: number | string;
}

/** A listing item or transaction `get` item as JSON (docs/API.md). */
interface ItemJson extends JsonValue {
  key: string;
  /** `"base64"` on a `value` in base64 (nodes from before revisions). */
  encoding?: string;
  index?: number;
  createIndex?: number;
  modIndex?: number;
  version?: number;
  lease?: number;
}

/** The entry of a listing or transaction item. */
function entryOf(i: ItemJson): KvEntry {
  const entry: KvEntry = {
    key: i.key,
    value: i.encoding === "base64" && i.value !== undefined
      ? fromBase64(i.value)
      : decodeJsonValue(i),
    index: i.index ?? i.modIndex ?? 0,
    createIndex: i.createIndex ?? i.index ?? 0,
    modIndex: i.modIndex ?? i.index ?? 0,
    version: i.version ?? 0,
  };
  if (i.lease !== undefined && i.lease !== 0) entry.lease = i.lease;
  return entry;
}

/** A compare or operation with its value as `value` or `value64`. */
function withJsonValue(part: TxnCompare | TxnOp): Record<string, unknown> {
  const { value, ...rest } = part as { value?: unknown };
  if (typeof value === "string" || value instanceof Uint8Array) {
    return { ...rest, ...encodeJsonValue(value) };
  }
  return value === undefined ? rest : { ...rest, value };
}

/** `wait` of a lock as the server takes it, and its length in ms. */
function lockWait(wait: number | string | undefined): [string, number] {
  if (wait === undefined || wait === 0) return ["0", 0];
  if (typeof wait === "number") return [`${Math.ceil(wait)}ms`, wait];
  const m = /^([0-9]+)(ms|s|m)$/.exec(wait);
  const ms = m === null
    ? 0
    : Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
  return [wait, ms];
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
  readonly #endpoints: Endpoints;
  readonly #timeoutMs: number;

  /**
   * A client of the cluster at `options.endpoints`.
   *
   * @throws {InvalidEndpointError} when `endpoints` is empty or holds a bad URL.
   */
  constructor(options: ClientOptions) {
    this.#endpoints = new Endpoints(options.endpoints);
    this.#transport = new Transport(this.#endpoints, options);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
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
    const index = indexOf(response);
    const entry: KvEntry = {
      key,
      value,
      index,
      createIndex: Number(response.headers.get("x-create-index") ?? index),
      modIndex: index,
      version: Number(response.headers.get("x-version") ?? 0),
    };
    const lease = Number(response.headers.get("x-lease") ?? 0);
    if (lease > 0) entry.lease = lease;
    return entry;
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
    const q = options.lease === undefined ? "" : `?lease=${options.lease}`;
    const { response } = await this.#transport.send({
      method: "PUT",
      path: keyPath(key) + q,
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
    const body = await response.json() as { items: ItemJson[]; more: boolean };
    return { items: body.items.map(entryOf), more: body.more };
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

  /**
   * Deletes every key starting with `prefix` (`""`: every key) in one
   * transaction; resolves with how many there were and the index.
   *
   * @throws {OutcomeUnknownError} when the delete may or may not have applied.
   */
  async deletePrefix(
    prefix: string,
    options: CallOptions = {},
  ): Promise<{ deleted: number; index: number }> {
    const answer = await this.txn(
      { success: [{ op: "delete", prefix }] },
      options,
    );
    const r = answer.results[0];
    return {
      deleted: r?.op === "delete" ? r.deleted : 0,
      index: answer.index,
    };
  }

  /**
   * Follows every change to one key or a prefix, as an async iterator of
   * messages (one per log entry), from `options.from` or from now on. It
   * resumes by itself with the last id across a dropped connection and
   * onto another endpoint, missing nothing and repeating nothing; see
   * client/watch.ts for when it throws. Stop it with `break` or the signal.
   */
  watch(
    range: WatchRange,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchMessage> {
    return watchStream(
      this.#transport,
      this.#endpoints.all.length,
      range,
      options,
    );
  }

  /**
   * Applies a transaction (docs/API.md "Transactions") as one log entry:
   * if every compare holds, the `success` operations, else the `failure`
   * ones. Values may be text or bytes (sent as `value` or `value64`).
   *
   * @throws {LeaseNotFoundError} when a put of the branch taken names a lease that is gone.
   * @throws {OutcomeUnknownError} when it may or may not have applied.
   */
  async txn(
    request: TxnRequest,
    options: CallOptions = {},
  ): Promise<TxnResponse> {
    const body = {
      compare: (request.compare ?? []).map(withJsonValue),
      success: (request.success ?? []).map(withJsonValue),
      failure: (request.failure ?? []).map(withJsonValue),
    };
    const answer = await this.#json<{
      succeeded: boolean;
      index: number;
      results: { items?: ItemJson[]; more?: boolean; deleted?: number }[];
    }>("POST", "/v1/txn", options, body);
    const ops = answer.succeeded ? body.success : body.failure;
    return {
      succeeded: answer.succeeded,
      index: answer.index,
      results: answer.results.map((r, i): TxnOpResult => {
        const op = ops[i]?.op;
        if (op === "get" || r.items !== undefined) {
          return {
            op: "get",
            items: (r.items ?? []).map(entryOf),
            more: r.more ?? false,
          };
        }
        if (op === "delete" || r.deleted !== undefined) {
          return { op: "delete", deleted: r.deleted ?? 0 };
        }
        return { op: "put" };
      }),
    };
  }

  /**
   * Grants a lease of `ttl` seconds (raised to the server's minimum, which
   * the answer then says in `requestedTtl`).
   */
  async grantLease(
    ttl: number,
    options: CallOptions = {},
  ): Promise<LeaseGrant> {
    return await this.#json<LeaseGrant>("POST", "/v1/leases", options, { ttl });
  }

  /**
   * One keepalive: lease `id`'s countdown starts again. (Repeating it is
   * harmless, so it is retried like a read.)
   *
   * @throws {LeaseNotFoundError} when the lease is gone.
   */
  async keepAliveOnce(
    id: number,
    options: CallOptions = {},
  ): Promise<LeaseGrant> {
    const { response } = await this.#transport.send({
      method: "POST",
      path: `/v1/leases/${id}/keepalive`,
      write: false,
      ...signalOf(options),
    });
    return await response.json() as LeaseGrant;
  }

  /**
   * Keeps lease `id` alive (a keepalive every TTL/3) until `stop()` or the
   * signal; reports the lease lost (the `lost` signal, `onLost`, `done`)
   * when it is gone or no keepalive succeeded for a whole TTL.
   */
  keepAlive(id: number, options: KeepAliveOptions = {}): KeepAlive {
    return startKeepAlive(
      id,
      (lease, signal) => this.keepAliveOnce(lease, { signal }),
      options,
    );
  }

  /**
   * Revokes lease `id`: its keys are deleted in the same log entry.
   *
   * @throws {LeaseNotFoundError} when the lease is gone.
   */
  async revokeLease(
    id: number,
    options: CallOptions = {},
  ): Promise<WriteResult> {
    const { response } = await this.#transport.send({
      method: "DELETE",
      path: `/v1/leases/${id}`,
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
    return { index: indexOf(response) };
  }

  /** Lease `id` (TTL, the leader's remaining seconds, its keys); undefined when gone. */
  async getLease(
    id: number,
    options: CallOptions = {},
  ): Promise<LeaseInfo | undefined> {
    const { response } = await this.#transport.send({
      method: "GET",
      path: `/v1/leases/${id}`,
      write: false,
      accept: [404],
      ...signalOf(options),
    });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    return await response.json() as LeaseInfo;
  }

  /** Every lease. */
  async leases(options: CallOptions = {}): Promise<LeaseInfo[]> {
    const body = await this.#json<{ leases: LeaseInfo[] }>(
      "GET",
      "/v1/leases",
      options,
    );
    return body.leases;
  }

  /**
   * Takes lock `name` for `options.lease`, waiting up to `options.wait`;
   * resolves with the fence (greater for every later holder). Asking again
   * with the lease that holds it answers the same fence, so the request is
   * retried like a read. The lock is released by `unlock`, or when the
   * lease is revoked or expires.
   *
   * @throws {LockHeldError} when another lease held it for all of `wait`.
   * @throws {LeaseNotFoundError} when the lease is gone.
   */
  async lock(name: string, options: LockOptions): Promise<LockGrant> {
    const [wait, waitMs] = lockWait(options.wait);
    const { response } = await this.#transport.send({
      method: "POST",
      path: `/v1/locks/${encodeURIComponent(name)}`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ lease: options.lease, wait }),
      write: false,
      timeoutMs: this.#timeoutMs + waitMs,
      ...signalOf(options),
    });
    return await response.json() as LockGrant;
  }

  /** Releases lock `name` held by `lease` (also fine when it does not hold it). */
  async unlock(
    name: string,
    lease: number,
    options: CallOptions = {},
  ): Promise<WriteResult> {
    const { response } = await this.#transport.send({
      method: "DELETE",
      path: `/v1/locks/${encodeURIComponent(name)}?lease=${lease}`,
      write: true,
      ...signalOf(options),
    });
    await response.body?.cancel();
    return { index: indexOf(response) };
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
