/**
 * `raftkv restore` (docs/BACKUP.md): its flags, its help text, and
 * {@linkcode runRestore}, which seeds an empty data directory from a backup
 * file through raft's `restoreBackup`.
 *
 * @module
 */

import { KvStore } from "../../kv/mod.ts";
import { type Fs, restoreBackup } from "../../raft/mod.ts";
import {
  ConfigError,
  DEFAULT_CLUSTER,
  DEFAULT_DATA_DIR,
  type Env,
  flagReader,
  parseDataDir,
  parseFlags,
  parseIdAndCluster,
  parseToken,
} from "./flags.ts";

/** What `raftkv restore` is asked to do (docs/BACKUP.md). */
export interface RestoreCommand {
  /** The backup file (from `GET /v1/snapshot`). */
  from: string;
  /** The new, empty data directory to seed. */
  dataDir: string;
  /** The restored member's id, 1-based. */
  id: number;
  /** The new cluster's member URLs, in id order. */
  cluster: string[];
  /** The new cluster's `--cluster-token`, when it is started with one. */
  clusterToken?: string;
}

/** What the flags of `raftkv restore` ask for. */
export type RestoreArgs =
  | { action: "help"; topic: "restore" }
  | { action: "restore"; restore: RestoreCommand };

/** The `raftkv restore --help` text. */
export function restoreUsage(): string {
  const flag = (name: string, help: string) => `  ${name.padEnd(24)} ${help}`;
  return [
    "usage: raftkv restore --from FILE --id N [--cluster URL,URL,...] [--data-dir DIR]",
    "",
    "Seeds an empty data directory from a backup (GET /v1/snapshot) so that",
    "`raftkv --id N --cluster URLS --data-dir DIR` starts a NEW cluster with",
    "the backup's data. Restore every member from the same file, each with",
    "its own --id and --data-dir, then start them all.",
    "",
    flag("--from FILE", "the backup file (required)"),
    flag("--id N", "this member's id, 1-based (required)"),
    flag(
      "--cluster URLS",
      `the new cluster's URLs, in id order (default: ${DEFAULT_CLUSTER} with --id 1)`,
    ),
    flag(
      "--data-dir DIR",
      `the directory to seed; must be missing or empty (default: ${DEFAULT_DATA_DIR})`,
    ),
    flag(
      "--cluster-token TOKEN",
      "the new cluster's --cluster-token, if it is started with one",
    ),
    "",
    "Each flag is also read from RAFTKV_<FLAG> (e.g. RAFTKV_DATA_DIR); the flag wins.",
  ].join("\n");
}

/**
 * Parses the flags of `raftkv restore` (after the word `restore`).
 *
 * @throws {ConfigError} naming the flag when a value is missing or bad.
 */
export function parseRestoreArgs(
  argv: readonly string[],
  env: Env,
): RestoreArgs {
  const values = parseFlags(argv, {
    "from": { type: "string" },
    "id": { type: "string" },
    "cluster": { type: "string" },
    "data-dir": { type: "string" },
    "cluster-token": { type: "string" },
    "help": { type: "boolean" },
  });
  if (values.help) return { action: "help", topic: "restore" };
  const raw = flagReader(values, env);
  const from = raw("from");
  if (from === undefined || from.text === "") {
    throw new ConfigError(
      "--from",
      "restore: --from is required (the backup file)",
    );
  }
  const { id, cluster } = parseIdAndCluster(raw, "restore: ");
  const dataDir = parseDataDir(raw, id);
  const token = raw("cluster-token");
  return {
    action: "restore",
    restore: {
      from: from.text,
      dataDir,
      id,
      cluster,
      ...(token ? { clusterToken: parseToken("cluster-token", token) } : {}),
    },
  };
}

/** How `raftkv restore` ended: its exit code and the line to print. */
export interface RestoreOutcome {
  /** 0 when the directory is seeded, 1 when the restore was refused. */
  code: 0 | 1;
  /** One line: for stdout when `code` is 0, for stderr otherwise. */
  line: string;
}

/**
 * Runs `raftkv restore` over `fs`: verifies the backup and seeds the data
 * directory (raft's `restoreBackup`). Never throws: a refusal is code 1
 * with a one-line reason.
 */
export async function runRestore(
  cmd: RestoreCommand,
  fs: Fs,
): Promise<RestoreOutcome> {
  try {
    const r = await restoreBackup({
      fs,
      ...cmd,
      // The store's own decoder checks the image before anything is written.
      checkState: (state) => new KvStore().restore(state),
    });
    return {
      code: 0,
      line: `raftkv restore: ${cmd.dataDir} seeded for node ${cmd.id} of ` +
        `${r.members.length} at index ${r.index}, term ${r.term} ` +
        `(${r.stateBytes} bytes of state from ${cmd.from})`,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { code: 1, line: `raftkv restore: ${message}` };
  }
}
