/**
 * The exit statuses of the client subcommands (documented in `raftkv
 * --help` and the README), and which error gives which.
 *
 * @module
 */

import {
  ApiError,
  InvalidEndpointError,
  OutcomeUnknownError,
  UnavailableError,
} from "../mod.ts";

/** Exit statuses: 0 success, 1 refused, 2 usage, 3 unavailable, 4 outcome unknown. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** Not found, a condition failed, or the cluster refused the request (4xx). */
  refused: 1,
  /** A bad command line: unknown subcommand or flag, missing argument. */
  usage: 2,
  /** No endpoint could serve the request (connection errors, 503, 5xx): not applied. */
  unavailable: 3,
  /** A write may or may not have been applied (504, or cut off after it was sent). */
  outcomeUnknown: 4,
} as const;

/** The help text's lines about exit statuses. */
export const EXIT_HELP = `exit status:
  0  success
  1  not found, a condition failed (--if-match, --if-absent), or the cluster refused the request
  2  usage: bad subcommand, flag or argument
  3  unavailable: no endpoint could serve the request; it was not applied
  4  outcome unknown: a write may or may not have been applied (read it back)`;

/** A bad command line (exit 2); the message is one line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The exit status of an error a subcommand threw. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof InvalidEndpointError) {
    return EXIT.usage;
  }
  if (err instanceof OutcomeUnknownError) return EXIT.outcomeUnknown;
  if (err instanceof UnavailableError) return EXIT.unavailable;
  if (err instanceof ApiError) {
    return err.status >= 400 && err.status < 500
      ? EXIT.refused
      : EXIT.unavailable;
  }
  return EXIT.unavailable;
}
