/**
 * What the subcommands need of the terminal. main.ts builds the real one
 * over `Deno.stdin`/`stdout`/`stderr`; the subcommands never touch the
 * terminal otherwise.
 *
 * @module
 */

/** The terminal of a subcommand. */
export interface Io {
  /** Writes bytes to standard output. */
  out(bytes: Uint8Array): Promise<void>;
  /** Writes one line (a newline is added) to standard error. */
  err(line: string): Promise<void>;
  /** Reads standard input to its end. */
  readStdin(): Promise<Uint8Array>;
}

const encoder = new TextEncoder();

/** Writes `text` and a newline to standard output. */
export function println(io: Io, text: string): Promise<void> {
  return io.out(encoder.encode(text + "\n"));
}
