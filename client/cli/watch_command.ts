/**
 * `raftkv watch KEY | --prefix P [--from N]`: follows changes until Ctrl-C,
 * one line per change (or one JSON line per message), resuming on another
 * endpoint when its node fails (the client's `watch()`).
 *
 * @module
 */

import {
  CompactedError,
  encodeJsonValue,
  WatchCancelledError,
  type WatchEvent,
  type WatchRange,
} from "../mod.ts";
import type { Command } from "./command.ts";
import { expectArgs, positiveInt } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { listenForInterrupt } from "./interrupt.ts";
import { println } from "./io.ts";
import { printJson, showValue } from "./output.ts";

/** An event as the API's JSON shows it (`value` or `value64`). */
function eventJson(e: WatchEvent): Record<string, unknown> {
  if (e.type === "delete") return { ...e };
  const { value, ...rest } = e;
  const out: Record<string, unknown> = {
    type: rest.type,
    key: rest.key,
    ...encodeJsonValue(value),
    createIndex: rest.createIndex,
    modIndex: rest.modIndex,
    version: rest.version,
  };
  if (rest.lease !== undefined) out.lease = rest.lease;
  return out;
}

/** One line for a person: `INDEX put KEY VALUE` or `INDEX delete KEY`. */
function eventLine(index: number, e: WatchEvent): string {
  if (e.type === "put") return `${index}\tput\t${e.key}\t${showValue(e.value)}`;
  return `${index}\tdelete\t${e.key}${e.reason ? "\t(lease)" : ""}`;
}

/** `raftkv watch`. */
export const watchCommand: Command = {
  name: "watch",
  summary: "follow changes to a key or a prefix until Ctrl-C",
  help: `usage: raftkv watch KEY [--from N]
       raftkv watch --prefix PREFIX [--from N]

Prints every change to KEY (or to every key starting with PREFIX; "" is
every key) as it is applied, until Ctrl-C (then exit 0). Without --from it
starts now: every change acknowledged after the command began. When the node
it reads from fails, it goes on from another endpoint with the last index it
received (Last-Event-ID): nothing is missed and nothing is printed twice.

  -o text  one line per change: INDEX<TAB>put<TAB>KEY<TAB>VALUE, or
           INDEX<TAB>delete<TAB>KEY (and <TAB>(lease) when a lease's expiry
           or revocation deleted it); a value that is not UTF-8 as base64:...
  -o json  one JSON line per log entry (NDJSON): {"index","events":[...]} as
           GET /v1/watch sends them

flags:
  --prefix PREFIX  watch every key starting with PREFIX instead of one key
  --from N         start at index N: every change with an index >= N (e.g.
                   an index from raftkv ls -o json, plus 1)
  --count N        exit 0 after N messages (log entries) instead of at Ctrl-C
Exit 1 when the position is older than the nodes' watch history (the
message names the oldest index they keep), or the node cancelled the watch
(the message says --from to go on with).`,
  flags: {
    prefix: { type: "string" },
    from: { type: "string" },
    count: { type: "string" },
  },
  async run(args, flags, ctx) {
    let range: WatchRange;
    if (typeof flags.prefix === "string") {
      expectArgs(args, 0, 0, "KEY or --prefix PREFIX, not both");
      range = { prefix: flags.prefix };
    } else {
      if (args.length === 0) throw new UsageError("expected KEY or --prefix");
      expectArgs(args, 1, 1, "one KEY");
      range = { key: args[0]! };
    }
    const from = flags.from === undefined
      ? undefined
      : positiveInt(flags.from as string, "--from");
    const count = flags.count === undefined
      ? Infinity
      : positiveInt(flags.count as string, "--count");
    const interrupt = listenForInterrupt();
    try {
      const messages = ctx.client.watch(range, {
        signal: interrupt.signal,
        ...(from === undefined ? {} : { from }),
      });
      let seen = 0;
      for await (const msg of messages) {
        if (ctx.output === "json") {
          await printJson(ctx.io, {
            index: msg.index,
            events: msg.events.map(eventJson),
          });
        } else {
          await println(
            ctx.io,
            msg.events.map((e) => eventLine(msg.index, e)).join("\n"),
          );
        }
        if (++seen >= count) break;
      }
      return EXIT.ok;
    } catch (err) {
      if (err instanceof CompactedError) {
        await ctx.io.err(
          `raftkv watch: ${err.message} (the oldest index kept: --from ${err.compactIndex})`,
        );
        return EXIT.refused;
      }
      if (err instanceof WatchCancelledError) {
        await ctx.io.err(
          `raftkv watch: ${err.message} (go on with --from ${err.resume})`,
        );
        return EXIT.refused;
      }
      throw err;
    } finally {
      interrupt.dispose();
    }
  },
};
