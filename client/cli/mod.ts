/**
 * The `raftkv` client subcommands (put, get, del, ls, watch, txn, lease,
 * lock, member, leader, status, snapshot): {@linkcode runCommand} parses
 * one subcommand's arguments, builds the client from the global flags and
 * runs it. main.ts dispatches to it; serving a node and `restore` are
 * http/'s.
 *
 * @module
 */

import {
  clientFrom,
  type Command,
  type Env,
  GLOBAL_HELP,
  outputFormat,
  parseCommandLine,
} from "./command.ts";
import { EXIT, EXIT_HELP, exitCodeOf, UsageError } from "./exit_codes.ts";
import { type Io, println } from "./io.ts";
import {
  delCommand,
  getCommand,
  lsCommand,
  putCommand,
} from "./kv_commands.ts";
import { leaseCommand } from "./lease_command.ts";
import { lockCommand } from "./lock_command.ts";
import { leaderCommand, memberCommand } from "./member_commands.ts";
import { snapshotCommand } from "./snapshot_command.ts";
import { statusCommand } from "./status_command.ts";
import { nearest } from "./suggest.ts";
import { txnCommand } from "./txn_command.ts";
import { watchCommand } from "./watch_command.ts";

export type { Io } from "./io.ts";
export type {
  Command,
  CommandContext,
  Env,
  FlagSpecs,
  FlagValues,
  OutputFormat,
} from "./command.ts";
export { EXIT } from "./exit_codes.ts";
export { nearest } from "./suggest.ts";

/** Every client subcommand, by name, in the order the overview lists them. */
export const CLIENT_COMMANDS: ReadonlyMap<string, Command> = new Map(
  [
    putCommand,
    getCommand,
    delCommand,
    lsCommand,
    watchCommand,
    txnCommand,
    leaseCommand,
    lockCommand,
    memberCommand,
    leaderCommand,
    statusCommand,
    snapshotCommand,
  ].map((c) => [c.name, c]),
);

/** The overview of the client subcommands, for `raftkv --help`. */
export function clientOverview(): string {
  const lines = [
    "client subcommands (raftkv SUBCOMMAND --help for each; global flags go after the subcommand):",
  ];
  for (const c of CLIENT_COMMANDS.values()) {
    lines.push(`  ${c.name.padEnd(10)} ${c.summary}`);
  }
  lines.push(
    "",
    GLOBAL_HELP,
    "",
    EXIT_HELP,
  );
  return lines.join("\n");
}

/**
 * Runs client subcommand `name` with the arguments after it and `RAFTKV_*`
 * variables from `env`; resolves with the exit status (see `EXIT`). Errors
 * are reported on `io`'s standard error in one line.
 */
export async function runCommand(
  name: string,
  argv: readonly string[],
  env: Env,
  io: Io,
): Promise<number> {
  const command = CLIENT_COMMANDS.get(name);
  if (command === undefined) {
    await io.err(`raftkv: unknown subcommand ${name}`);
    return EXIT.usage;
  }
  try {
    const dashes = command.takesCommand ? argv.indexOf("--") : -1;
    const rest = dashes < 0 ? [] : argv.slice(dashes + 1);
    const { args, flags } = parseCommandLine(
      command,
      dashes < 0 ? argv : argv.slice(0, dashes),
    );
    if (flags.help) {
      await println(io, `${command.help}\n\n${GLOBAL_HELP}\n\n${EXIT_HELP}`);
      return EXIT.ok;
    }
    const output = outputFormat(command, flags, env);
    const client = await clientFrom(flags, env);
    return await command.run(args, flags, { client, output, io, rest });
  } catch (err) {
    const code = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    await io.err(`raftkv ${name}: ${message}`);
    if (err instanceof UsageError) {
      await io.err(`see: raftkv ${name} --help`);
    }
    return code;
  }
}

/**
 * The message for a word that is no subcommand: names the nearest of
 * `known` when it looks like a typo.
 */
export function unknownSubcommand(
  word: string,
  known: Iterable<string>,
): string {
  const guess = nearest(word, known);
  return `unknown subcommand ${word}` +
    (guess === undefined ? "" : `; did you mean ${guess}?`) +
    " (see raftkv --help)";
}
