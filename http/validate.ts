/**
 * Parsing and validation of what arrives in a request: keys and ids from
 * the raw path, conditional headers, member URLs and query parameters. Every
 * failure is a typed 400 error naming what was wrong.
 *
 * @module
 */

import { InvalidKeyError, keyProblem, type KeyRange } from "../kv/mod.ts";
import { BadRequestError } from "./errors.ts";

/** Where the path starts and ends in a request URL (before `?` or `#`). */
export interface PathBounds {
  start: number;
  end: number;
}

/** Locates the raw (still percent-encoded) path in an absolute URL string. */
export function pathBounds(url: string): PathBounds {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return { start: url.length, end: url.length };
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x3f /* ? */ || c === 0x23 /* # */) break;
    end++;
  }
  return { start, end };
}

/** Returns the raw path of an absolute URL string, e.g. `/v1/kv/a%2Fb`. */
export function rawPath(url: string): string {
  const { start, end } = pathBounds(url);
  return url.slice(start, end);
}

/**
 * Returns the query string of an absolute URL string without the `?`, or
 * `undefined` when there is none.
 */
export function rawQuery(url: string): string | undefined {
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  const hash = url.indexOf("#", q);
  return hash < 0 ? url.slice(q + 1) : url.slice(q + 1, hash);
}

/**
 * Percent-decodes one raw path segment into a key and checks the key rules
 * (1 to 4096 bytes of UTF-8).
 *
 * @throws {InvalidKeyError} on bad percent-encoding or a bad key.
 */
export function decodeKey(raw: string): string {
  let key = raw;
  if (raw.includes("%")) {
    try {
      key = decodeURIComponent(raw);
    } catch {
      throw new InvalidKeyError(
        "the key is not valid percent-encoded UTF-8",
      );
    }
  }
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidKeyError(problem);
  return key;
}

const ID_PATTERN = /^[1-9][0-9]{0,15}$/;

/**
 * Parses a node id: a positive safe integer written in decimal.
 *
 * @throws {BadRequestError} (`invalid_id`) otherwise; `hint` is appended.
 */
export function parseNodeId(raw: unknown, hint = ""): number {
  const text = typeof raw === "number" ? String(raw) : raw;
  if (typeof text === "string" && ID_PATTERN.test(text)) {
    const id = Number(text);
    if (Number.isSafeInteger(id)) return id;
  }
  throw new BadRequestError(
    "invalid_id",
    `a node id must be a positive integer${hint}`,
  );
}

/**
 * Parses the node id of a JSON body (`{"id": 2}`): a JSON number, as
 * {@linkcode parseNodeId}; a string such as `"2"` is refused.
 *
 * @throws {BadRequestError} (`invalid_id`) otherwise.
 */
export function parseJsonNodeId(raw: unknown): number {
  if (typeof raw !== "number") {
    throw new BadRequestError(
      "invalid_id",
      "id must be a JSON number (a positive integer), not a string",
    );
  }
  return parseNodeId(raw);
}

/**
 * Parses a member URL: absolute http(s), no credentials, path, query or
 * fragment. Returns its origin, e.g. `http://127.0.0.1:42379`.
 *
 * @throws {BadRequestError} (`invalid_url`) otherwise.
 */
export function parseMemberUrl(raw: unknown): string {
  if (typeof raw !== "string") {
    throw new BadRequestError("invalid_url", "the member URL must be a string");
  }
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BadRequestError(
      "invalid_url",
      `not a URL: ${text.slice(0, 200)}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadRequestError("invalid_url", "the member URL must be http(s)");
  }
  if (
    url.username !== "" || url.password !== "" || url.pathname !== "/" ||
    url.search !== "" || url.hash !== ""
  ) {
    throw new BadRequestError(
      "invalid_url",
      "the member URL must be scheme://host:port with nothing after it",
    );
  }
  return url.origin;
}

const IF_MATCH_PATTERN = /^\s*"([1-9][0-9]{0,15})"\s*$/;

/**
 * Parses `If-Match: "<index>"` (an ETag: the quotes are required, as the
 * ETag of a key read carries them). Returns undefined when the header is
 * absent.
 *
 * @throws {BadRequestError} (`invalid_header`) on any other form.
 */
export function parseIfMatch(header: string | null): number | undefined {
  if (header === null) return undefined;
  const m = IF_MATCH_PATTERN.exec(header);
  const digits = m?.[1];
  const index = digits === undefined ? NaN : Number(digits);
  if (!Number.isSafeInteger(index)) {
    throw new BadRequestError(
      "invalid_header",
      'If-Match must be a quoted write index such as "42"',
    );
  }
  return index;
}

/**
 * Parses `If-None-Match: *`. Returns false when the header is absent.
 *
 * @throws {BadRequestError} (`invalid_header`) on any other value.
 */
export function parseIfNoneMatch(header: string | null): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  throw new BadRequestError(
    "invalid_header",
    "If-None-Match supports only * (create only when absent)",
  );
}

/**
 * Decodes a raw query string into its parameters like `URLSearchParams`,
 * except that a name or value whose percent-encoding is not valid UTF-8 is
 * refused rather than turned into U+FFFD: keys are UTF-8, and a prefix such
 * as `%FF` must be refused as the key `%FF` is, not list nothing.
 *
 * @throws {BadRequestError} (`invalid_query`) on such an encoding.
 */
export function parseQuery(query: string | undefined): URLSearchParams {
  const params = new URLSearchParams();
  if (query === undefined || query === "") return params;
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    params.append(decodeQueryPart(name), decodeQueryPart(value));
  }
  return params;
}

function decodeQueryPart(raw: string): string {
  const text = raw.replaceAll("+", " ");
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new BadRequestError(
      "invalid_query",
      "a query parameter is not valid percent-encoded UTF-8",
    );
  }
}

/**
 * Parses the query of a key read: true when `consistency=stale`.
 *
 * @throws {BadRequestError} (`invalid_query`) on an unknown consistency.
 */
export function parseStale(query: string | undefined): boolean {
  if (query === undefined || query === "") return false;
  // The common queries, without parsing them.
  if (query === "consistency=stale") return true;
  if (query === "consistency=linearizable") return false;
  const consistency = parseQuery(query).get("consistency");
  if (consistency === null || consistency === "linearizable") return false;
  if (consistency === "stale") return true;
  throw new BadRequestError(
    "invalid_query",
    "consistency must be linearizable (the default) or stale",
  );
}

/** A parsed key read query: `consistency`, and a long poll when asked for. */
export interface KeyQuery {
  stale: boolean;
  /** `index` (and `wait`): answer once a change above `index` is applied. */
  poll?: LongPoll;
}

/**
 * Parses the query of a key read: `consistency` (see {@linkcode parseStale})
 * and the long poll's `index` and `wait` ({@linkcode parseLongPoll}). Other
 * parameters are ignored, as they always were.
 *
 * @throws {BadRequestError} (`invalid_query`) on a bad parameter.
 */
export function parseKeyQuery(query: string | undefined): KeyQuery {
  const stale = parseStale(query);
  // Only a query that names `index` or `wait` is parsed again.
  if (query === undefined || !/(^|&)(index|wait)=/.test(query)) {
    return { stale };
  }
  const poll = parseLongPoll(new URLSearchParams(query));
  return poll === undefined ? { stale } : { stale, poll };
}

/** A long poll (`?index=N&wait=D`). */
export interface LongPoll {
  /** Wait for a change with an index above this one. */
  index: number;
  /** How long to wait at most, in ms. */
  waitMs: number;
}

/** The longest `wait` of a long poll: 5 minutes (also its default). */
export const MAX_LONG_POLL_MS = 5 * 60_000;

/**
 * Parses `index` (an integer >= 0) and `wait` (a duration: `500ms`, `30s`,
 * `5m`, or a number of seconds; at most {@linkcode MAX_LONG_POLL_MS}, which
 * is also its default) of a long poll; undefined without `index`.
 *
 * @throws {BadRequestError} (`invalid_query`) on a bad value, or `wait`
 * without `index`.
 */
export function parseLongPoll(params: URLSearchParams): LongPoll | undefined {
  const rawIndex = params.get("index");
  const rawWait = params.get("wait");
  if (rawIndex === null) {
    if (rawWait === null) return undefined;
    throw new BadRequestError(
      "invalid_query",
      "wait needs index: the index to wait beyond (the X-Raft-Index of the last answer)",
    );
  }
  const index = parseIndex(rawIndex);
  if (index === undefined) {
    throw new BadRequestError(
      "invalid_query",
      "index must be an integer >= 0 (the X-Raft-Index of the last answer)",
    );
  }
  if (rawWait === null) return { index, waitMs: MAX_LONG_POLL_MS };
  const m = /^([0-9]{1,9})(ms|s|m)?$/.exec(rawWait);
  if (m === null) {
    throw new BadRequestError(
      "invalid_query",
      "wait must be a duration such as 500ms, 30s or 5m (at most 5m)",
    );
  }
  const unit = m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000;
  const waitMs = Number(m[1]) * unit;
  if (waitMs > MAX_LONG_POLL_MS) {
    throw new BadRequestError("invalid_query", "wait must be at most 5m");
  }
  return { index, waitMs };
}

/** A decimal integer >= 0 that is a safe integer, or undefined. */
function parseIndex(raw: string): number | undefined {
  if (!/^[0-9]{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A parsed `GET /v1/watch` request. */
export interface WatchQuery {
  /** The key or prefix watched. */
  range: KeyRange;
  /**
   * The first index to deliver: `Last-Event-ID` + 1 when that header is
   * present, else `from`; undefined for "from now on".
   */
  from?: number;
}

const WATCH_PARAMS: ReadonlySet<string> = new Set(["key", "prefix", "from"]);

/**
 * Parses `key` or `prefix` (exactly one; `prefix=` empty means every key),
 * `from` (an integer >= 1) and the `Last-Event-ID` header (an integer >= 0:
 * the last id received; it wins over `from`) of a watch.
 *
 * @throws {BadRequestError} `invalid_query` on an unknown or repeated
 * parameter, both or neither of key and prefix, a bad key, prefix or from;
 * `invalid_header` on a `Last-Event-ID` that is not an index.
 */
export function parseWatchQuery(
  query: string | undefined,
  lastEventId: string | null,
): WatchQuery {
  const params = new URLSearchParams(query ?? "");
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!WATCH_PARAMS.has(name)) {
      throw new BadRequestError(
        "invalid_query",
        `unknown parameter ${
          JSON.stringify(name)
        }: a watch takes key or prefix, and from`,
      );
    }
    if (seen.has(name)) {
      throw new BadRequestError("invalid_query", `${name} is given twice`);
    }
    seen.add(name);
  }
  const key = params.get("key");
  const prefix = params.get("prefix");
  if ((key === null) === (prefix === null)) {
    throw new BadRequestError(
      "invalid_query",
      "give key (one key) or prefix (every key that starts with it; empty: all keys), not both",
    );
  }
  let range: KeyRange;
  if (key !== null) {
    const problem = keyProblem(key);
    if (problem !== undefined) {
      throw new BadRequestError("invalid_query", `key: ${problem}`);
    }
    range = { key };
  } else {
    if (prefix!.length > 0 && keyProblem(prefix!) !== undefined) {
      throw new BadRequestError(
        "invalid_query",
        "prefix must be at most 4096 bytes of UTF-8",
      );
    }
    range = { prefix: prefix! };
  }
  const result: WatchQuery = { range };
  const rawFrom = params.get("from");
  if (rawFrom !== null) {
    const from = parseIndex(rawFrom);
    if (from === undefined || from < 1) {
      throw new BadRequestError(
        "invalid_query",
        "from must be an integer >= 1: the first index to deliver",
      );
    }
    result.from = from;
  }
  if (lastEventId !== null && lastEventId !== "") {
    const last = parseIndex(lastEventId.trim());
    if (last === undefined) {
      throw new BadRequestError(
        "invalid_header",
        "Last-Event-ID must be the id of the last event received (an integer >= 0)",
      );
    }
    result.from = last + 1;
  }
  return result;
}

/**
 * Parses `lease` of a PUT's query: a lease id, or 0 when absent (the
 * write then detaches the key from any lease).
 *
 * @throws {BadRequestError} (`invalid_query`) when it is not a positive id.
 */
export function parseLeaseQuery(query: string | undefined): number {
  const raw = new URLSearchParams(query ?? "").get("lease");
  if (raw === null) return 0;
  if (!ID_PATTERN.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new BadRequestError(
      "invalid_query",
      "lease must be a lease id (a positive integer)",
    );
  }
  return Number(raw);
}

/** The default `limit` of a listing. */
export const DEFAULT_LIST_LIMIT = 1000;
/** The largest `limit` of a listing. */
export const MAX_LIST_LIMIT = 10000;

/** A parsed `GET /v1/kv` query. */
export interface ListQuery {
  prefix: string;
  limit: number;
  /** Continue after this key (the last key of the previous page). */
  after?: string;
  stale: boolean;
  /** `base64` forces base64 for every value. */
  encoding: "utf8" | "base64";
  /** A long poll: answer once a change with an index above it is applied. */
  poll?: LongPoll;
}

/**
 * Parses `prefix`, `limit` (1..10000, default 1000), `after`, `encoding`
 * (`utf8` default, or `base64`) and `consistency` of a listing.
 *
 * @throws {BadRequestError} (`invalid_query`) on a bad parameter, including
 * one that does not decode to UTF-8 ({@linkcode parseQuery}).
 */
export function parseListQuery(query: string | undefined): ListQuery {
  const params = parseQuery(query);
  const prefix = params.get("prefix") ?? "";
  if (prefix.length > 0 && keyProblem(prefix) !== undefined) {
    throw new BadRequestError(
      "invalid_query",
      "prefix must be at most 4096 bytes of UTF-8",
    );
  }
  let limit = DEFAULT_LIST_LIMIT;
  const rawLimit = params.get("limit");
  if (rawLimit !== null) {
    limit = /^[0-9]{1,6}$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
      throw new BadRequestError(
        "invalid_query",
        `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`,
      );
    }
  }
  const encoding = params.get("encoding") ?? "utf8";
  if (encoding !== "utf8" && encoding !== "base64") {
    throw new BadRequestError(
      "invalid_query",
      "encoding must be utf8 or base64",
    );
  }
  const result: ListQuery = {
    prefix,
    limit,
    stale: parseStale(query),
    encoding,
  };
  const after = params.get("after");
  if (after !== null) result.after = after;
  const poll = parseLongPoll(params);
  if (poll !== undefined) result.poll = poll;
  return result;
}
