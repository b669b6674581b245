/**
 * Real raftkv processes on 127.0.0.1 for end-to-end tests: start `main.ts`
 * nodes with `deno run`, kill them (SIGKILL), pause them (SIGSTOP), restart
 * them on the same data directory, talk to them over HTTP, and wait for
 * conditions with bounded polling. Every node gets free ports, so test files
 * can run in parallel.
 *
 * @module
 */

import { FIXED_PORTS } from "./fixed_ports.ts";

/** The path of the server's entry point. */
export const MAIN_TS: string = new URL("../../main.ts", import.meta.url)
  .pathname;

/** The permissions a node runs with (as scripts/cluster.sh gives them). */
export const NODE_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
];

/** What a finished `main.ts` process left: its exit code and output. */
export interface MainRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `main.ts ARGS` with `deno run` and `permissions` (a node's by
 * default) to its end, stdin closed and `env` added to the test's own
 * environment; returns its exit code and output as text.
 */
export async function runMain(
  args: string[],
  opts: { permissions?: readonly string[]; env?: Record<string, string> } = {},
): Promise<MainRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(opts.permissions ?? NODE_PERMISSIONS), MAIN_TS, ...args],
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/**
 * Starts a node process, `main.ts ARGS` with a node's permissions: stdin
 * closed, stdout dropped, stderr piped, no colours.
 */
export function spawnNode(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...NODE_PERMISSIONS, MAIN_TS, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Ports scripts/cluster.sh uses; only its tests may take them. */
const CLUSTER_SH_PORTS = new Set(FIXED_PORTS);
/** Ports handed out by this process, never handed out twice. */
const handedOut = new Set<number>();

/**
 * Picks a free loopback port for a node to bind. It is taken below Linux's
 * ephemeral range (32768 and up): a port from there (say, from binding port
 * 0) can become the local port of some outgoing connection before the node
 * binds it, and the node then fails to start.
 */
export function freePort(): number {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    if (CLUSTER_SH_PORTS.has(port) || handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
    } catch {
      continue; // Taken.
    }
    handedOut.add(port);
    return port;
  }
  throw new Error("no free port found");
}

/** Resolves after `ms`; only for pacing a poll, never to wait for an event. */
function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a {@linkcode waitFor} condition that can never become true. */
export class GiveUp extends Error {}

/**
 * Polls `fn` until it returns a truthy value or `timeoutMs` passes, then
 * throws naming `what` (and the last error `fn` threw, if any). A
 * {@linkcode GiveUp} thrown by `fn` ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      last = e;
    }
    await pause(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** An HTTP answer with its body already read (so nothing leaks). */
export interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * Sends a request and reads the whole answer. Returns undefined when there
 * is no answer (connection refused or reset, or no answer in `timeoutMs`).
 */
export async function request(
  url: string,
  init: RequestInit = {},
  timeoutMs = 10_000,
): Promise<Reply | undefined> {
  try {
    const res = await fetch(url, {
      ...init,
      signal: init.signal ?? AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch {
    return undefined;
  }
}

/** The `error.code` of a JSON error body, or undefined when it is not one. */
export function errorCode(reply: Reply | undefined): string | undefined {
  if (!reply) return undefined;
  try {
    const code = JSON.parse(reply.body)?.error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Describes an answer for assertion messages. */
export function show(reply: Reply | undefined): string {
  return reply ? `${reply.status} ${reply.body.slice(0, 200)}` : "no answer";
}

/** One node process and how to reach it. */
export interface E2eNode {
  id: number;
  /** The node's cluster URL (peer traffic and the full API). */
  url: string;
  /** The `--port` URL (the full API again), when the cluster has them. */
  clientUrl?: string;
  dataDir: string;
  logFile: string;
  proc?: Deno.ChildProcess;
  /** How the process ended when it ended on its own (not through the harness). */
  exited?: Deno.CommandStatus;
  /** Settles once the process's stderr is written to `logFile` and closed. */
  logDone?: Promise<void>;
}

/** Options of {@linkcode E2eCluster.start}. */
export interface E2eOptions {
  /** Nodes bootstrapping the cluster (default 3). */
  size?: number;
  /** `--snapshot-entries` (default 10000). */
  snapshotEntries?: number;
  /** `--tick-ms` (default 50, to speed elections up). */
  tickMs?: number;
  /** Give every node a `--port` as scripts/cluster.sh does. */
  clientPorts?: boolean;
  /** Further flags for every node. */
  extraArgs?: string[];
  /** The nodes' URL scheme (default http; https needs TLS flags in `extraArgs`). */
  scheme?: "http" | "https";
  /** The HTTP client of the harness's own requests (e.g. one trusting a test CA). */
  client?: Deno.HttpClient;
  /** Headers on every request of the harness (e.g. the client token). */
  headers?: Record<string, string>;
}

/** A member as `GET /v1/members` lists it. */
export interface MemberView {
  id: number;
  url: string;
  role: "voter" | "learner";
}

/** The fields of `GET /v1/status` these tests read. */
export interface StatusView {
  id: number;
  role: string;
  term: number;
  leader: number;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  walBytes: number;
  recovering: boolean;
  voters: number[];
  learners: number[];
  [field: string]: unknown;
}

/** A cluster of real node processes. */
export class E2eCluster {
  readonly nodes = new Map<number, E2eNode>();
  readonly dir: string;
  readonly opts: E2eOptions;

  private constructor(dir: string, opts: E2eOptions) {
    this.dir = dir;
    this.opts = opts;
  }

  /**
   * A cluster of `size` nodes with ports and data directories reserved but
   * no process started, for tests that prepare the directories first (a
   * restore from a backup) and then `spawn` each node.
   */
  static async defined(
    size: number,
    opts: E2eOptions = {},
  ): Promise<E2eCluster> {
    const c = new E2eCluster(
      await Deno.makeTempDir({ prefix: "raftkv-e2e-" }),
      opts,
    );
    for (let id = 1; id <= size; id++) c.define(id);
    return c;
  }

  /**
   * Starts `size` nodes bootstrapping one cluster, and waits for a leader.
   * When a node exits at once (its port got taken after it was picked),
   * starts over once on new ports.
   */
  static async start(opts: E2eOptions = {}): Promise<E2eCluster> {
    for (let attempt = 1;; attempt++) {
      const dir = await Deno.makeTempDir({ prefix: "raftkv-e2e-" });
      const c = new E2eCluster(dir, opts);
      try {
        const size = opts.size ?? 3;
        for (let id = 1; id <= size; id++) c.define(id);
        for (let id = 1; id <= size; id++) c.spawn(id);
        await c.waitLeader();
        return c;
      } catch (e) {
        await c.close();
        if (!(e instanceof GiveUp) || attempt === 2) throw e;
      }
    }
  }

  /** Reserves ports and a data dir for node `id`. */
  define(id: number): E2eNode {
    const n: E2eNode = {
      id,
      url: `${this.opts.scheme ?? "http"}://127.0.0.1:${freePort()}`,
      dataDir: `${this.dir}/node${id}`,
      logFile: `${this.dir}/node${id}.log`,
    };
    if (this.opts.clientPorts) {
      n.clientUrl = `${this.opts.scheme ?? "http"}://127.0.0.1:${freePort()}`;
    }
    this.nodes.set(id, n);
    return n;
  }

  /** The `--cluster` value: URLs of nodes 1..max id, in id order. */
  clusterArg(): string {
    const max = Math.max(...this.nodes.keys());
    const urls: string[] = [];
    for (let id = 1; id <= max; id++) {
      // An id never defined here still needs a distinct placeholder URL.
      urls.push(this.nodes.get(id)?.url ?? `http://127.0.0.1:${id}`);
    }
    return urls.join(",");
  }

  /**
   * The command-line flags node `id` is started with; `extra` comes last
   * (a repeated flag's last value wins).
   */
  args(id: number, join: boolean, extra: string[] = []): string[] {
    const n = this.node(id);
    return [
      "--id",
      String(id),
      "--cluster",
      this.clusterArg(),
      ...(n.clientUrl ? ["--port", new URL(n.clientUrl).port] : []),
      "--data-dir",
      n.dataDir,
      "--snapshot-entries",
      String(this.opts.snapshotEntries ?? 10_000),
      "--tick-ms",
      String(this.opts.tickMs ?? 50),
      "--log-level",
      "info",
      ...(join ? ["--join"] : []),
      ...(this.opts.extraArgs ?? []),
      ...extra,
    ];
  }

  /**
   * Starts node `id`'s process (again, on its data dir), with `--join` when
   * `join`, and `extra` flags after the usual ones.
   */
  spawn(id: number, join = false, extra: string[] = []): E2eNode {
    const n = this.node(id);
    if (n.proc) throw new Error(`node ${id} is already running`);
    const log = Deno.openSync(n.logFile, { create: true, append: true });
    n.proc = spawnNode(this.args(id, join, extra));
    n.logDone = n.proc.stderr.pipeTo(log.writable).catch(() => {});
    n.exited = undefined;
    const proc = n.proc;
    void proc.status.then((status) => {
      if (n.proc === proc) n.exited = status;
    });
    return n;
  }

  /** Node `id`; throws when undefined. */
  node(id: number): E2eNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /**
   * Ids of the nodes whose process was started and not killed or seen to
   * exit by the harness (paused ones included), ascending.
   */
  running(): number[] {
    return [...this.nodes.values()].filter((n) => n.proc).map((n) => n.id)
      .sort((a, b) => a - b);
  }

  /**
   * Kills node `id` with SIGKILL and waits for its process to end. It stops
   * counting as running at once.
   */
  async kill(id: number): Promise<void> {
    const n = this.node(id);
    const proc = n.proc;
    if (!proc) return;
    n.proc = undefined;
    try {
      proc.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await proc.status;
    await this.#reap(n);
  }

  /** Freezes node `id` (SIGSTOP): it neither answers nor sends anything. */
  pause(id: number): void {
    this.node(id).proc?.kill("SIGSTOP");
  }

  /** Thaws node `id` (SIGCONT). */
  resume(id: number): void {
    this.node(id).proc?.kill("SIGCONT");
  }

  /**
   * Waits (at most `timeoutMs`) for node `id`'s process to exit on its own,
   * and returns how it ended.
   */
  async waitExit(id: number, timeoutMs = 30_000): Promise<Deno.CommandStatus> {
    const n = this.node(id);
    if (!n.proc) throw new Error(`node ${id} is not running`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`node ${id} did not exit in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const status = await Promise.race([n.proc.status, timeout]);
      n.proc = undefined;
      await this.#reap(n);
      return status;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the log of an ended process to be written out. */
  async #reap(n: E2eNode): Promise<void> {
    await n.logDone;
    n.logDone = undefined;
  }

  /**
   * Throws, quoting the end of its log, when node `id`'s process ended on
   * its own (for instance because its port was taken).
   */
  async checkAlive(id: number): Promise<void> {
    const n = this.node(id);
    if (!n.exited) return;
    const log = await Deno.readTextFile(n.logFile).catch(() => "");
    throw new GiveUp(
      `node ${id} exited with code ${n.exited.code}: ${log.slice(-600)}`,
    );
  }

  /** `init` with the cluster's `headers` and `client` (E2eOptions) added. */
  init(init: RequestInit = {}): RequestInit {
    const headers = new Headers(this.opts.headers);
    new Headers(init.headers).forEach((v, k) => headers.set(k, v));
    const client = this.opts.client;
    return client ? { ...init, headers, client } as RequestInit : {
      ...init,
      headers,
    };
  }

  /** {@linkcode request} with the cluster's headers and client. */
  request(
    url: string,
    init: RequestInit = {},
    timeoutMs = 10_000,
  ): Promise<Reply | undefined> {
    return request(url, this.init(init), timeoutMs);
  }

  /** The `/v1/status` of node `id`, or undefined when it does not answer. */
  async status(id: number): Promise<StatusView | undefined> {
    const r = await this.request(`${this.node(id).url}/v1/status`, {}, 2000);
    return r?.status === 200 ? JSON.parse(r.body) : undefined;
  }

  /** `GET /v1/members` on node `id`, or undefined when it does not answer. */
  async members(
    id: number,
  ): Promise<{ leader: number; members: MemberView[] } | undefined> {
    const r = await this.request(`${this.node(id).url}/v1/members`, {}, 2000);
    return r?.status === 200 ? JSON.parse(r.body) : undefined;
  }

  /**
   * Waits until every running node not in `exclude` is healthy and they
   * agree on one leader (not in `exclude`); returns its id.
   */
  async waitLeader(
    exclude: number[] = [],
    timeoutMs = 60_000,
  ): Promise<number> {
    return await waitFor("a leader", async () => {
      let leader = 0;
      for (const id of this.running()) {
        if (exclude.includes(id)) continue;
        await this.checkAlive(id);
        const h = await this.request(`${this.node(id).url}/health`, {}, 2000);
        if (h?.status !== 200) return false;
        const l = (await this.status(id))?.leader ?? 0;
        if (l === 0 || exclude.includes(l) || (leader !== 0 && leader !== l)) {
          return false;
        }
        leader = l;
      }
      return leader || false;
    }, timeoutMs);
  }

  /** The URL of `key` under `/v1/kv/` on node `id`. */
  keyUrl(id: number, key: string): string {
    return `${this.node(id).url}/v1/kv/${encodeURIComponent(key)}`;
  }

  /** `PUT /v1/kv/{key}` through node `id`. */
  put(id: number, key: string, value: string): Promise<Reply | undefined> {
    return this.request(this.keyUrl(id, key), { method: "PUT", body: value });
  }

  /** `DELETE /v1/kv/{key}` through node `id`. */
  del(id: number, key: string): Promise<Reply | undefined> {
    return this.request(this.keyUrl(id, key), { method: "DELETE" });
  }

  /** `GET /v1/kv/{key}` through node `id` (linearizable unless `stale`). */
  read(
    id: number,
    key: string,
    stale = false,
  ): Promise<Reply | undefined> {
    const q = stale ? "?consistency=stale" : "";
    return this.request(this.keyUrl(id, key) + q);
  }

  /**
   * A write that must succeed: retries while the answer says it was not
   * applied (no answer at all, or 503), fails on anything else but 204.
   * Returns the write's raft index.
   */
  async mustWrite(
    id: number,
    key: string,
    value: string | null,
  ): Promise<number> {
    const reply = await waitFor(
      `a write of ${key} through node ${id}`,
      async () => {
        const r = value === null
          ? await this.del(id, key)
          : await this.put(id, key, value);
        if (r === undefined || r.status === 503) return false;
        return r;
      },
    );
    if (reply.status !== 204) {
      throw new Error(`write of ${key} through node ${id}: ${show(reply)}`);
    }
    return Number(reply.headers.get("x-raft-index"));
  }

  /**
   * A linearizable read that must get an answer: retries 503 (not served,
   * safe to retry) and returns the first 200 or 404 as the value or null.
   */
  async mustRead(id: number, key: string): Promise<string | null> {
    const reply = await waitFor(
      `a read of ${key} through node ${id}`,
      async () => {
        const r = await this.read(id, key);
        if (r === undefined || r.status === 503) return false;
        return r;
      },
    );
    if (reply.status === 404) return null;
    if (reply.status !== 200) {
      throw new Error(`read of ${key} through node ${id}: ${show(reply)}`);
    }
    return reply.body;
  }

  /**
   * Every key with `prefix` and its value on node `id`, through
   * `GET /v1/kv?prefix=` page by page (linearizable unless `stale`).
   * Returns undefined when a page is not served.
   */
  async list(
    id: number,
    prefix: string,
    stale = false,
  ): Promise<Map<string, string> | undefined> {
    const out = new Map<string, string>();
    let after: string | undefined;
    for (;;) {
      const q = new URLSearchParams({ prefix, limit: "10000" });
      if (after !== undefined) q.set("after", after);
      if (stale) q.set("consistency", "stale");
      const r = await this.request(`${this.node(id).url}/v1/kv?${q}`);
      if (r?.status !== 200) return undefined;
      const page = JSON.parse(r.body) as {
        items: { key: string; value: string }[];
        more: boolean;
      };
      for (const item of page.items) out.set(item.key, item.value);
      if (!page.more || page.items.length === 0) return out;
      after = page.items.at(-1)!.key;
    }
  }

  /** Kills every node and deletes the data (unless RAFTKV_KEEP_E2E is set). */
  async close(): Promise<void> {
    for (const id of this.running()) {
      try {
        this.resume(id);
      } catch {
        // Gone already.
      }
      await this.kill(id);
    }
    if (Deno.env.get("RAFTKV_KEEP_E2E")) {
      // deno-lint-ignore no-console -- tells where to look; opt-in only.
      console.error(`e2e: data and logs kept in ${this.dir}`);
    } else {
      await Deno.remove(this.dir, { recursive: true });
    }
  }
}

/** What a {@linkcode WriteLoad} saw. */
export interface LoadStats {
  /** Writes answered 2xx: key → value. Each key is written once. */
  acked: Map<string, string>;
  /** Answers that were not 2xx (503, 504, ...), by status. */
  refused: Map<number, number>;
  /** Requests without an answer (node down or answer cut off). */
  unanswered: number;
}

/**
 * A steady, bounded write load: `writers` concurrent loops, each writing
 * fresh keys `${prefix}${writer}-${n}` through the running nodes in turn,
 * until stopped or `maxWrites` were sent. Remembers which writes were
 * acknowledged, to check afterwards that none is lost.
 */
export class WriteLoad {
  readonly stats: LoadStats = {
    acked: new Map(),
    refused: new Map(),
    unanswered: 0,
  };
  #stopped = false;
  #sent = 0;
  readonly #done: Promise<void>;

  constructor(
    readonly cluster: E2eCluster,
    readonly prefix: string,
    readonly writers = 4,
    readonly maxWrites = 50_000,
  ) {
    this.#done = Promise.all(
      Array.from({ length: writers }, (_, w) => this.#writer(w)),
    ).then(() => {});
  }

  async #writer(w: number): Promise<void> {
    for (let n = 0; !this.#stopped && this.#sent < this.maxWrites; n++) {
      this.#sent++;
      const live = this.cluster.running();
      if (live.length === 0) return;
      const id = live[(w + n) % live.length]!;
      const key = `${this.prefix}${w}-${n}`;
      const value = `v${w}-${n}-${crypto.randomUUID()}`;
      const r = await this.cluster.put(id, key, value);
      if (!r) {
        this.stats.unanswered++;
        // A node that is down refuses at once: do not spin on it.
        await pause(20);
      } else if (r.status >= 200 && r.status < 300) {
        this.stats.acked.set(key, value);
      } else {
        this.stats.refused.set(
          r.status,
          (this.stats.refused.get(r.status) ?? 0) + 1,
        );
      }
    }
  }

  /** How many writes were acknowledged so far. */
  get ackedCount(): number {
    return this.stats.acked.size;
  }

  /** Waits until `more` further writes are acknowledged. */
  async progress(
    more: number,
    what: string,
    timeoutMs = 30_000,
  ): Promise<void> {
    const target = this.ackedCount + more;
    await waitFor(
      `${more} acknowledged writes ${what}`,
      () => this.ackedCount >= target,
      timeoutMs,
    );
  }

  /** Stops the writers and waits for their last requests to end. */
  async stop(): Promise<LoadStats> {
    this.#stopped = true;
    await this.#done;
    return this.stats;
  }
}

/**
 * Returns a description of every acknowledged write that `seen` (a node's
 * listing) lacks or holds with another value; empty when none is lost.
 */
export function lostWrites(
  acked: ReadonlyMap<string, string>,
  seen: ReadonlyMap<string, string>,
): string[] {
  const lost: string[] = [];
  for (const [key, value] of acked) {
    const got = seen.get(key);
    if (got !== value) lost.push(`${key}: want ${value}, got ${got ?? "none"}`);
  }
  return lost;
}
