/**
 * `GET /metrics` in the Prometheus text format, and the middleware that
 * counts and times every HTTP request. The node's status (term, role,
 * indexes, WAL size, peers) is read when scraped; the runtime's counters
 * and histograms (raft/raft_metrics.ts) are recorded as things happen and
 * live in the same registry. docs/METRICS.md lists every metric.
 *
 * Labels never carry user data: a request is labelled with the route
 * pattern it matched (`/v1/kv/:key`), never its path.
 *
 * @module
 */

import type { Context, Hono, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import {
  type Counter,
  exponentialBuckets,
  type Family,
  type Gauge,
  type Histogram,
  METRICS_CONTENT_TYPE,
  type Registry,
} from "../../raft/mod.ts";
import type { RouteContext } from "../context.ts";
import { statusFor } from "../errors.ts";
import { ProcessGauges } from "./process_metrics.ts";

/** Buckets of an HTTP request's duration: 0.5 ms to ~16 s. */
export const HTTP_DURATION_BUCKETS: readonly number[] = exponentialBuckets(
  0.0005,
  2,
  16,
);

/** The route label of a request no route matched. */
export const UNMATCHED_ROUTE = "unmatched";

/** The roles `raftkv_role` has a series for. */
export const ROLES = ["follower", "preCandidate", "candidate", "leader"];

const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "PUT",
  "POST",
  "DELETE",
  "PATCH",
  "OPTIONS",
]);

/** A middleware's own pattern (`app.use(fn)`), not a route. */
function isWildcard(path: string): boolean {
  return path === "*" || path === "/*";
}

/**
 * The pattern of the route that answered `c`: the one that responded, or,
 * when a middleware answered (401, 408), the first route the path matched.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  const own = routes[c.req.routeIndex];
  if (own && !isWildcard(own.path)) return own.path;
  for (const r of routes) if (!isWildcard(r.path)) return r.path;
  return UNMATCHED_ROUTE;
}

/** The status a thrown error is answered with (http/errors.ts' mapping). */
export function statusOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? statusFor(err, code) ?? 500 : 500;
}

/**
 * The HTTP request series of a registry: requests counted by route, method
 * and status, timed by route and method. Label children are cached
 * (route → method → series), so recording a request allocates nothing.
 */
export class HttpMetrics {
  readonly #requests: Family<Counter>;
  readonly #duration: Family<Histogram>;
  readonly #series = new Map<string, Map<string, RequestSeries>>();

  constructor(registry: Registry) {
    this.#requests = registry.counterFamily(
      "raftkv_http_requests_total",
      "HTTP requests by route pattern, method and status code.",
      ["route", "method", "status"],
    );
    this.#duration = registry.histogramFamily(
      "raftkv_http_request_duration_seconds",
      "Time from receiving an HTTP request to its response, by route pattern and method.",
      ["route", "method"],
      HTTP_DURATION_BUCKETS,
    );
  }

  /**
   * Records one request of `route` (a pattern, never a path) and `method`
   * answered with `status`, started at `startedMs` (`performance.now()`).
   */
  record(
    route: string,
    method: string,
    status: number,
    startedMs: number,
  ): void {
    const s = this.#seriesOf(route, METHODS.has(method) ? method : "other");
    let counter = s.byStatus.get(status);
    if (counter === undefined) {
      counter = this.#requests.labels(route, s.method, String(status));
      s.byStatus.set(status, counter);
    }
    counter.inc();
    s.duration.observe((performance.now() - startedMs) / 1000);
  }

  #seriesOf(route: string, method: string): RequestSeries {
    let byMethod = this.#series.get(route);
    if (byMethod === undefined) {
      this.#series.set(route, byMethod = new Map());
    }
    let s = byMethod.get(method);
    if (s === undefined) {
      s = {
        method,
        duration: this.#duration.labels(route, method),
        byStatus: new Map(),
      };
      byMethod.set(method, s);
    }
    return s;
  }
}

/**
 * Counts requests by route, method and status and times them by route and
 * method (until the handler returned its response; a streamed body may
 * take longer). Register it before every other middleware so it sees every
 * request, also those a middleware rejects.
 */
export function httpMetricsMiddleware(
  metrics: HttpMetrics,
): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    let status = 500;
    try {
      await next();
      status = c.res.status;
    } catch (err) {
      status = statusOf(err);
      throw err;
    } finally {
      metrics.record(routeLabel(c), c.req.method, status, started);
    }
  };
}

/** One route and method's request series. */
interface RequestSeries {
  method: string;
  duration: Histogram;
  byStatus: Map<number, Counter>;
}

/** The gauges read from the node's status at every scrape. */
class StatusGauges {
  readonly #g: Record<string, Gauge>;
  readonly #role: Family<Gauge>;
  readonly #peerMatch: Family<Gauge>;
  readonly #peerInflight: Family<Gauge>;

  constructor(r: Registry) {
    this.#g = {
      id: r.gauge("raftkv_node_id", "This node's id."),
      term: r.gauge("raftkv_term", "The current Raft term."),
      leader: r.gauge("raftkv_leader_id", "The known leader, 0 for none."),
      isLeader: r.gauge("raftkv_is_leader", "1 when this node is the leader."),
      commit: r.gauge("raftkv_commit_index", "The commit index."),
      applied: r.gauge("raftkv_applied_index", "The applied index."),
      snapshot: r.gauge(
        "raftkv_snapshot_index",
        "The index of the newest snapshot.",
      ),
      segments: r.gauge("raftkv_wal_segments", "WAL segment files."),
      walBytes: r.gauge("raftkv_wal_bytes", "Bytes in WAL segment files."),
      recovering: r.gauge(
        "raftkv_recovering",
        "1 while the node replays its snapshot and WAL.",
      ),
      keys: r.gauge("raftkv_kv_keys", "Keys in the store."),
    };
    this.#role = r.gaugeFamily(
      "raftkv_role",
      "1 for this node's Raft role, 0 for the others.",
      ["role"],
    );
    this.#peerMatch = r.gaugeFamily(
      "raftkv_peer_match_index",
      "A peer's replicated index (on the leader).",
      ["peer"],
    );
    this.#peerInflight = r.gaugeFamily(
      "raftkv_peer_inflight_appends",
      "Append messages sent to a peer and not yet acknowledged (on the leader).",
      ["peer"],
    );
  }

  update(ctx: RouteContext): void {
    const s = ctx.node.status();
    const g = this.#g;
    g.id!.set(s.id);
    g.term!.set(s.term);
    g.leader!.set(s.leader);
    g.isLeader!.set(s.role === "leader" ? 1 : 0);
    g.commit!.set(s.commit);
    g.applied!.set(s.applied);
    g.snapshot!.set(s.snapshotIndex);
    g.segments!.set(s.walSegments);
    g.walBytes!.set(s.walBytes);
    g.recovering!.set(s.recovering ? 1 : 0);
    g.keys!.set(ctx.node.store.size);
    for (const role of ROLES) {
      this.#role.labels(role).set(s.role === role ? 1 : 0);
    }
    // Peers come and go with leadership and membership: rebuilt each time.
    this.#peerMatch.clear();
    this.#peerInflight.clear();
    for (const p of s.peers) {
      this.#peerMatch.labels(String(p.id)).set(p.match);
      const inflight = p.inflight;
      if (typeof inflight === "number") {
        this.#peerInflight.labels(String(p.id)).set(inflight);
      }
    }
  }
}

/** The watch counters and history size, read from the hub at every scrape. */
class WatchGauges {
  readonly #watchers: Gauge;
  readonly #sent: Counter;
  readonly #cancelled: Family<Counter>;
  readonly #historyEntries: Gauge;
  readonly #historyBytes: Gauge;
  readonly #compactIndex: Gauge;

  constructor(r: Registry) {
    this.#watchers = r.gauge(
      "raftkv_watchers",
      "Watch streams and long polls open on this node.",
    );
    this.#sent = r.counter(
      "raftkv_watch_messages_sent_total",
      "Change messages handed to watch streams and long polls.",
    );
    this.#cancelled = r.counterFamily(
      "raftkv_watchers_cancelled_total",
      "Watchers cancelled: slow (buffer overflow) or compacted (a snapshot replaced the state under them).",
      ["reason"],
    );
    this.#historyEntries = r.gauge(
      "raftkv_watch_history_entries",
      "Log entries whose changes the watch history keeps.",
    );
    this.#historyBytes = r.gauge(
      "raftkv_watch_history_bytes",
      "Bytes charged for the changes the watch history keeps.",
    );
    this.#compactIndex = r.gauge(
      "raftkv_watch_compact_index",
      "The oldest index a watch can start from on this node.",
    );
  }

  update(ctx: RouteContext): void {
    const hub = ctx.node.watches;
    const stats = hub.stats;
    this.#watchers.set(stats.watchers);
    this.#sent.value = stats.messagesSent;
    this.#cancelled.labels("slow").value = stats.cancelledSlow;
    this.#cancelled.labels("compacted").value = stats.cancelledCompacted;
    const history = hub.history;
    this.#historyEntries.set(history.size);
    this.#historyBytes.set(history.bytes);
    this.#compactIndex.set(history.compactIndex);
  }
}

/** Registers `GET /metrics`, rendering `registry` with the node's status. */
export function registerMetricsRoutes(
  app: Hono,
  ctx: RouteContext,
  registry: Registry,
): void {
  const gauges = new StatusGauges(registry);
  const watches = new WatchGauges(registry);
  const memory = new ProcessGauges(registry);
  registry.onCollect(() => {
    gauges.update(ctx);
    watches.update(ctx);
    memory.update();
  });
  app.get("/metrics", () =>
    new Response(registry.render(), {
      headers: { "content-type": METRICS_CONTENT_TYPE },
    }));
}
