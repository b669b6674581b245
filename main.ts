// deno-lint-ignore-file no-console
// main.ts is the command-line front: it alone talks to the terminal.
/**
 * raftkv's entry point. {@linkcode parseConfig} reads the command line
 * (flags and `RAFTKV_*` environment variables) into a {@linkcode
 * ParsedCommand}; the block at the end runs it and exits with its status.
 * The flags themselves, their defaults and the wiring of a node live in
 * http/serving/ (through http/mod.ts).
 *
 * @module
 */

import {
  type Config,
  ConfigError,
  type Env,
  EXIT_BAD_CONFIG,
  parseRestoreArgs,
  parseServeArgs,
  readEnv,
  type RestoreArgs,
  restoreUsage,
  runRestore,
  runServer,
  type ServeCommand,
  usage,
  VERSION,
} from "./http/mod.ts";
// http/ never touches files directly: the real filesystem is chosen here.
import { DenoFs } from "./wal/mod.ts";

/** What the command line asks for. */
export type ParsedCommand = ServeCommand | RestoreArgs;

/**
 * The subcommands, by the first argument that names one; each parses the
 * arguments after its name. Without one, the arguments are the flags of
 * serving a node.
 */
const SUBCOMMANDS: ReadonlyMap<
  string,
  (argv: readonly string[], env: Env) => ParsedCommand
> = new Map([
  ["restore", parseRestoreArgs],
]);

/**
 * Parses the command line (`argv`, e.g. `Deno.args`) and `RAFTKV_*`
 * variables (`env`). A flag wins over its variable.
 *
 * @throws {ConfigError} naming the flag when a value is missing or bad.
 */
export function parseConfig(argv: readonly string[], env: Env): ParsedCommand {
  const subcommand = argv[0] === undefined
    ? undefined
    : SUBCOMMANDS.get(argv[0]);
  return subcommand === undefined
    ? parseServeArgs(argv, env)
    : subcommand(argv.slice(1), env);
}

/** Runs what the command line asks for; resolves with the exit code. */
async function execute(parsed: ParsedCommand): Promise<number> {
  switch (parsed.action) {
    case "help":
      console.log(parsed.topic === "restore" ? restoreUsage() : usage());
      return 0;
    case "version":
      console.log(`raftkv ${VERSION}`);
      return 0;
    case "restore": {
      const outcome = await runRestore(parsed.restore, new DenoFs());
      if (outcome.code === 0) console.log(outcome.line);
      else console.error(outcome.line);
      return outcome.code;
    }
    case "run":
      return await serve(parsed.config);
  }
}

/** Serves a node until SIGINT or SIGTERM (exit 0) or a failure. */
async function serve(config: Config): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    return await runServer(config, { fs: new DenoFs(), signal: stop.signal });
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

// ---- entry point -------------------------------------------------------
if (import.meta.main) {
  let parsed: ParsedCommand;
  try {
    parsed = parseConfig(Deno.args, readEnv());
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`raftkv: ${err.message}`);
    Deno.exit(EXIT_BAD_CONFIG);
  }
  Deno.exit(await execute(parsed));
}
