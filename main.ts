// deno-lint-ignore-file no-console
// main.ts is the command-line front: it alone talks to the terminal.
/**
 * raftkv's entry point. {@linkcode parseConfig} reads the command line
 * (flags and `RAFTKV_*` environment variables) into a {@linkcode
 * ParsedCommand}; the block at the end runs it and exits with its status.
 * The flags themselves, their defaults and the wiring of a node live in
 * http/serving/ (through http/mod.ts); the client subcommands (put, get,
 * member, ...) in client/cli/.
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
import {
  CLIENT_COMMANDS,
  clientOverview,
  type Io,
  runCommand,
  unknownSubcommand,
} from "./client/cli/mod.ts";

/** A client subcommand (client/cli/) and the arguments after its name. */
export interface ClientCommand {
  action: "client";
  name: string;
  argv: readonly string[];
  env: Env;
}

/** What the command line asks for. */
export type ParsedCommand = ServeCommand | RestoreArgs | ClientCommand;

/**
 * The subcommands, by the first argument that names one; each parses the
 * arguments after its name. Without one (the first argument is a flag, or
 * there is none), the arguments are the flags of serving a node, as
 * `serve`'s are.
 */
const SUBCOMMANDS: ReadonlyMap<
  string,
  (argv: readonly string[], env: Env) => ParsedCommand
> = new Map<string, (argv: readonly string[], env: Env) => ParsedCommand>([
  ["serve", parseServeArgs],
  ["restore", parseRestoreArgs],
  ...[...CLIENT_COMMANDS.keys()].map((name) =>
    [
      name,
      (argv: readonly string[], env: Env): ClientCommand => ({
        action: "client",
        name,
        argv,
        env,
      }),
    ] as const
  ),
]);

/**
 * Parses the command line (`argv`, e.g. `Deno.args`) and `RAFTKV_*`
 * variables (`env`). A flag wins over its variable.
 *
 * @throws {ConfigError} naming the flag when a value is missing or bad.
 */
export function parseConfig(argv: readonly string[], env: Env): ParsedCommand {
  const first = argv[0];
  if (first === undefined || first.startsWith("-")) {
    return parseServeArgs(argv, env);
  }
  const subcommand = SUBCOMMANDS.get(first);
  if (subcommand === undefined) {
    throw new ConfigError(
      "subcommand",
      unknownSubcommand(first, SUBCOMMANDS.keys()),
    );
  }
  return subcommand(argv.slice(1), env);
}

/** Runs what the command line asks for; resolves with the exit code. */
async function execute(parsed: ParsedCommand): Promise<number> {
  switch (parsed.action) {
    case "help":
      console.log(
        parsed.topic === "restore"
          ? restoreUsage()
          : `${usage()}\n\n${clientOverview()}`,
      );
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
    case "client":
      return await runCommand(parsed.name, parsed.argv, parsed.env, terminal());
  }
}

/** The real terminal, for the client subcommands. */
function terminal(): Io {
  const encoder = new TextEncoder();
  const writeAll = async (file: typeof Deno.stdout, bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) {
      done += await file.write(bytes.subarray(done));
    }
  };
  return {
    out: (bytes) => writeAll(Deno.stdout, bytes),
    err: (line) => writeAll(Deno.stderr, encoder.encode(line + "\n")),
    readStdin: async () =>
      new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer()),
  };
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
