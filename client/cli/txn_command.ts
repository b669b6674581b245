/**
 * `raftkv txn FILE|-`: sends the JSON of `POST /v1/txn` from a file or
 * standard input and prints the branch taken and each operation's result.
 *
 * @module
 */

import type { TxnRequest } from "../mod.ts";
import type { Command } from "./command.ts";
import { expectArgs } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { println } from "./io.ts";
import { entryJson, printJson, showValue } from "./output.ts";

/** `raftkv txn`. */
export const txnCommand: Command = {
  name: "txn",
  summary: "apply a transaction (compares, then one branch of operations)",
  help: `usage: raftkv txn FILE|-

Sends FILE (or standard input, with -) as the body of POST /v1/txn, e.g.
  {"compare": [{"key":"a","target":"value","op":"==","value":"x"}],
   "success": [{"op":"put","key":"a","value":"y"},
               {"op":"delete","prefix":"tmp/"}],
   "failure": [{"op":"get","key":"a"}]}
(docs/API.md "Transactions": targets value, version, createIndex, modIndex,
lease; operations put, delete with key or prefix, get with key or prefix and
limit; values as "value" or, base64, "value64"). All of it applies as one log
entry.

Prints "succeeded index N" or "failed index N", then one line per operation
of the branch taken: KEY<TAB>VALUE for each key a get found, "deleted N",
or "put". -o json prints the answer: {"succeeded","index","results"}.
Exit 0 when the compares held, 1 when they did not (the failure branch
applied).`,
  flags: {},
  async run(args, _flags, ctx) {
    expectArgs(args, 1, 1, "FILE, or - for standard input");
    const source = args[0]!;
    let text: string;
    try {
      text = source === "-"
        ? new TextDecoder().decode(await ctx.io.readStdin())
        : await Deno.readTextFile(source);
    } catch (err) {
      throw new UsageError(`cannot read ${source}: ${(err as Error).message}`);
    }
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (err) {
      throw new UsageError(
        `${source} is not JSON: ${(err as Error).message}`,
      );
    }
    if (
      typeof request !== "object" || request === null || Array.isArray(request)
    ) {
      throw new UsageError(`${source}: expected a JSON object`);
    }
    // The server checks every part (400 names what is wrong).
    const answer = await ctx.client.txn(request as TxnRequest);
    if (ctx.output === "json") {
      await printJson(ctx.io, {
        succeeded: answer.succeeded,
        index: answer.index,
        results: answer.results.map((r) =>
          r.op === "get"
            ? { items: r.items.map(entryJson), more: r.more }
            : r.op === "delete"
            ? { deleted: r.deleted }
            : {}
        ),
      });
    } else {
      const lines = [
        `${answer.succeeded ? "succeeded" : "failed"} index ${answer.index}`,
      ];
      for (const r of answer.results) {
        if (r.op === "get") {
          for (const e of r.items) {
            lines.push(`${e.key}\t${showValue(e.value)}`);
          }
        } else if (r.op === "delete") lines.push(`deleted ${r.deleted}`);
        else lines.push("put");
      }
      await println(ctx.io, lines.join("\n"));
    }
    return answer.succeeded ? EXIT.ok : EXIT.refused;
  },
};
