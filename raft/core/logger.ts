/**
 * The core's logging port. The core never writes anywhere itself; the runtime
 * injects a structured logger, the simulator one that stamps simulated ticks.
 *
 * @module
 */

/** Extra structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** A leveled, structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** A logger that drops everything; the default when none is injected. */
export const nopLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
