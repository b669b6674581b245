/**
 * The check a node started with `--join` on an empty data directory makes
 * before it starts: is it a member yet? raftkv adds a node in two steps, as
 * etcd and raftexample do (`POST /{id}` or `POST /v1/members` on a member,
 * then start the node with `--join`). A node started without the first step
 * would wait forever for a leader that never contacts it; instead it asks
 * the members in `--cluster` (`GET /v1/members`) and refuses to start, with
 * the command that adds it, when none lists it in time.
 *
 * @module
 */

/** Options of {@linkcode checkJoin}. */
export interface JoinCheckOptions {
  /** This node's id. */
  id: number;
  /** This node's URL (its entry in `--cluster`). */
  url: string;
  /** The URLs of `--cluster`; this node's own is skipped. */
  cluster: readonly string[];
  /** How to reach the members (with peer TLS: one trusting the CA). */
  fetch?: typeof fetch;
  /** Headers of each request (the client token, when the cluster has one). */
  headers?: Record<string, string>;
  /** How long to keep asking before giving up. */
  timeoutMs: number;
  /** The pause between two rounds of asking (default 200 ms). */
  pollMs?: number;
  /** Aborting it ends the check (the node is being stopped). */
  signal?: AbortSignal;
}

/** Why a joining node must not start; the message says what to do. */
export class JoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JoinError";
  }
}

/** The part of `GET /v1/members` the check reads. */
interface MembersBody {
  members?: { id?: unknown; url?: unknown }[];
}

/**
 * Resolves once a member in `--cluster` lists this node with its URL.
 *
 * @throws {JoinError} when one lists it with another URL, or when none has
 * listed it within `timeoutMs` (the message names the command that adds it,
 * or says that no member answered).
 */
export async function checkJoin(o: JoinCheckOptions): Promise<void> {
  const fetchFn = o.fetch ?? fetch;
  const self = origin(o.url);
  const others = o.cluster.filter((u) => origin(u) !== self);
  const deadline = Date.now() + o.timeoutMs;
  let answered: string | undefined;
  for (;;) {
    for (const base of others) {
      let body: MembersBody;
      try {
        const res = await fetchFn(new URL("/v1/members", base), {
          headers: o.headers,
          signal: o.signal
            ? AbortSignal.any([o.signal, AbortSignal.timeout(2000)])
            : AbortSignal.timeout(2000),
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          continue;
        }
        body = await res.json();
      } catch {
        if (o.signal?.aborted) throw o.signal.reason;
        continue;
      }
      answered = base;
      const added = body.members?.find((m) => m.id === o.id);
      if (added === undefined) continue;
      if (typeof added.url === "string" && origin(added.url) === self) return;
      throw new JoinError(
        `--join: node ${o.id} was added with the URL ${added.url}, but --cluster gives it ${o.url}: start it with the URL it was added with`,
      );
    }
    if (Date.now() >= deadline) break;
    await pause(o.pollMs ?? 200, o.signal);
  }
  if (answered === undefined) {
    throw new JoinError(
      `--join: no member of --cluster answered GET /v1/members (${
        others.join(", ")
      }): start the node once the cluster runs`,
    );
  }
  throw new JoinError(
    `--join: node ${o.id} is not a member of the cluster at ${answered}: add it first on a member ` +
      `(curl -XPOST ${answered}/${o.id} -d ${o.url}, or POST /v1/members {"id":${o.id},"url":"${o.url}"}), then start it with --join`,
  );
}

/** The origin of a URL (`http://h:1/` → `http://h:1`), or the text itself. */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
