/**
 * Parsing and validation of what arrives in a request: keys and ids from
 * the raw path, conditional headers, member URLs and query parameters. Every
 * failure is a typed 400 error naming what was wrong.
 *
 * @module
 */

import { InvalidKeyError, keyProblem } from "../kv/mod.ts";
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
  return result;
}
