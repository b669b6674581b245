/**
 * The endpoints a client talks to: the API URLs of some or all members,
 * checked once, tried in turn. The endpoint that answered last is tried
 * first next time, so a client settles on a node that works.
 *
 * @module
 */

import { RaftKvClientError } from "./errors.ts";

/** An endpoint list that is empty or holds something that is not an http(s) URL. */
export class InvalidEndpointError extends RaftKvClientError {}

/**
 * Checks and normalizes endpoint URLs: `http:` or `https:` origins (a path
 * is refused, a trailing slash dropped). Accepts a comma-separated string
 * (as `--endpoints` and `RAFTKV_ENDPOINTS` give them) or a list.
 *
 * @example
 * ```ts
 * import { parseEndpoints } from "./endpoints.ts";
 * parseEndpoints("http://127.0.0.1:12380, http://127.0.0.1:22380/");
 * // ["http://127.0.0.1:12380", "http://127.0.0.1:22380"]
 * ```
 *
 * @throws {InvalidEndpointError} when the list is empty or an entry is bad.
 */
export function parseEndpoints(input: string | readonly string[]): string[] {
  const raw = typeof input === "string" ? input.split(",") : [...input];
  const out: string[] = [];
  for (const entry of raw.map((e) => e.trim()).filter((e) => e !== "")) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new InvalidEndpointError(`endpoint ${entry} is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new InvalidEndpointError(
        `endpoint ${entry} must start with http:// or https://`,
      );
    }
    if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
      throw new InvalidEndpointError(
        `endpoint ${entry} must be a scheme, host and port only (no path)`,
      );
    }
    if (!out.includes(url.origin)) out.push(url.origin);
  }
  if (out.length === 0) {
    throw new InvalidEndpointError("no endpoint given");
  }
  return out;
}

/** The endpoints in the order to try them, the last one that worked first. */
export class Endpoints {
  readonly #urls: readonly string[];
  #preferred = 0;

  /**
   * The endpoints of `input`, checked.
   *
   * @throws {InvalidEndpointError} as {@linkcode parseEndpoints}.
   */
  constructor(input: string | readonly string[]) {
    this.#urls = parseEndpoints(input);
  }

  /** Every endpoint, in the order given. */
  get all(): readonly string[] {
    return this.#urls;
  }

  /** The endpoint of attempt `n` (0-based): the preferred one, then the next in turn. */
  at(n: number): string {
    return this.#urls[(this.#preferred + n) % this.#urls.length]!;
  }

  /** Remembers that `url` answered, so the next request starts there. */
  worked(url: string): void {
    const i = this.#urls.indexOf(url);
    if (i >= 0) this.#preferred = i;
  }
}
