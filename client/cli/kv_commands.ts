/**
 * The key subcommands: `put`, `get`, `del` and `ls`.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { expectArgs, positiveInt } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { println } from "./io.ts";
import { entryJson, printJson, showValue } from "./output.ts";

/** `raftkv put KEY VALUE|-`. */
export const putCommand: Command = {
  name: "put",
  summary: "set a key (VALUE, or - to read it from standard input)",
  help:
    `usage: raftkv put KEY VALUE|- [--lease ID] [--if-match INDEX] [--if-absent]

Sets KEY to VALUE; "-" reads the value from standard input (bytes as they
are). Prints the index of the write (-o json: {"key","index"}). A value that
starts with "-" goes after "--": raftkv put KEY -- -value.

flags:
  --if-match INDEX  write only if the key's index is INDEX (compare-and-set);
                    exit 1 when it is not
  --if-absent       write only if the key does not exist; exit 1 when it does
  --lease ID        attach the key to lease ID (raftkv lease grant): it is
                    deleted when the lease expires or is revoked; exit 1 when
                    the lease is gone. A put without --lease detaches the key`,
  flags: {
    "if-match": { type: "string" },
    "if-absent": { type: "boolean" },
    lease: { type: "string" },
  },
  async run(args, flags, ctx) {
    expectArgs(args, 2, 2, "KEY and VALUE (or - for standard input)");
    const [key, raw] = args as [string, string];
    if (flags["if-match"] !== undefined && flags["if-absent"]) {
      throw new UsageError("--if-match and --if-absent exclude each other");
    }
    const value = raw === "-" ? await ctx.io.readStdin() : raw;
    const options = {
      ...(flags["if-match"] === undefined ? {} : {
        ifMatch: positiveInt(flags["if-match"] as string, "--if-match"),
      }),
      ...(flags["if-absent"] ? { ifAbsent: true } : {}),
      ...(flags.lease === undefined
        ? {}
        : { lease: positiveInt(flags.lease as string, "--lease") }),
    };
    const { index } = await ctx.client.put(
      key,
      value as string | Uint8Array<ArrayBuffer>,
      options,
    );
    if (ctx.output === "json") await printJson(ctx.io, { key, index });
    else await println(ctx.io, `OK index ${index}`);
    return EXIT.ok;
  },
};

/** `raftkv get KEY`. */
export const getCommand: Command = {
  name: "get",
  summary: "read a key",
  help: `usage: raftkv get KEY [--stale] [-o text|value|json]

Reads KEY, linearizably unless --stale. Exit 1 when it does not exist.
  -o text   the value and a newline (base64, marked, when not UTF-8); default
  -o value  the value's bytes exactly, nothing added
  -o json   {"key","value","index","createIndex","modIndex","version"} (and
            "lease" when attached to one; "value64", base64, instead of
            "value" when the value is not UTF-8)

flags:
  --stale   read the answering node's state without a quorum round`,
  flags: { stale: { type: "boolean" } },
  outputs: ["text", "value", "json"],
  async run(args, flags, ctx) {
    expectArgs(args, 1, 1, "KEY");
    const key = args[0]!;
    const entry = await ctx.client.get(key, { stale: flags.stale === true });
    if (entry === undefined) {
      await ctx.io.err(`raftkv get: ${key}: not found`);
      return EXIT.refused;
    }
    if (ctx.output === "json") await printJson(ctx.io, entryJson(entry));
    else if (ctx.output === "value") await ctx.io.out(entry.value);
    else {
      await println(ctx.io, showValue(entry.value));
    }
    return EXIT.ok;
  },
};

/** `raftkv del KEY` and `raftkv del --prefix PREFIX`. */
export const delCommand: Command = {
  name: "del",
  summary: "delete a key, or every key with a prefix",
  help: `usage: raftkv del KEY [--if-match INDEX]
       raftkv del --prefix PREFIX

Deletes KEY (succeeds also when it does not exist). Prints the index of the
delete (-o json: {"key","index"}).

With --prefix, deletes every key starting with PREFIX ("" is every key) in
one transaction (POST /v1/txn): watchers see one change. Prints how many keys
were deleted and the index (-o json: {"prefix","deleted","index"}).

flags:
  --if-match INDEX  delete only if the key's index is INDEX; exit 1 when not
  --prefix PREFIX   delete every key starting with PREFIX`,
  flags: { "if-match": { type: "string" }, prefix: { type: "string" } },
  async run(args, flags, ctx) {
    if (typeof flags.prefix === "string") {
      expectArgs(args, 0, 0, "no KEY with --prefix");
      if (flags["if-match"] !== undefined) {
        throw new UsageError("--if-match and --prefix exclude each other");
      }
      const prefix = flags.prefix;
      const { deleted, index } = await ctx.client.deletePrefix(prefix);
      if (ctx.output === "json") {
        await printJson(ctx.io, { prefix, deleted, index });
      } else await println(ctx.io, `deleted ${deleted} index ${index}`);
      return EXIT.ok;
    }
    expectArgs(args, 1, 1, "KEY");
    const key = args[0]!;
    const { index } = await ctx.client.delete(
      key,
      flags["if-match"] === undefined ? {} : {
        ifMatch: positiveInt(flags["if-match"] as string, "--if-match"),
      },
    );
    if (ctx.output === "json") await printJson(ctx.io, { key, index });
    else await println(ctx.io, `OK index ${index}`);
    return EXIT.ok;
  },
};

/** `raftkv ls [PREFIX]`. */
export const lsCommand: Command = {
  name: "ls",
  summary: "list keys and values by prefix",
  help: `usage: raftkv ls [PREFIX] [--limit N] [--stale]

Lists every key starting with PREFIX (default: every key) and its value, in
key order, one "KEY<TAB>VALUE" line each; -o json prints one JSON object
{"items":[...]} (as GET /v1/kv's items: key, value or value64, index,
createIndex, modIndex, version, lease). Pages through
the listing with after=; each page is its own read.

flags:
  --limit N  at most N keys in all (default: every key)
  --stale    read the answering node's state without a quorum round`,
  flags: { limit: { type: "string" }, stale: { type: "boolean" } },
  async run(args, flags, ctx) {
    expectArgs(args, 0, 1, "at most one PREFIX");
    const limit = flags.limit === undefined
      ? undefined
      : positiveInt(flags.limit as string, "--limit");
    const items = [];
    for await (
      const entry of ctx.client.list({
        prefix: args[0] ?? "",
        stale: flags.stale === true,
        ...(limit === undefined ? {} : { limit: Math.min(limit, 1000) }),
      })
    ) {
      if (limit !== undefined && items.length >= limit) break;
      items.push(entry);
    }
    if (ctx.output === "json") {
      await printJson(ctx.io, { items: items.map(entryJson) });
    } else if (items.length > 0) {
      await println(
        ctx.io,
        items.map((e) => `${e.key}\t${showValue(e.value)}`).join("\n"),
      );
    }
    return EXIT.ok;
  },
};
