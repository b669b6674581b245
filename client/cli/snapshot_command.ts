/**
 * `raftkv snapshot save FILE`: a backup of the whole store into a file
 * (restore it with `raftkv restore`, docs/BACKUP.md).
 *
 * @module
 */

import type { Command } from "./command.ts";
import { expectArgs } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { println } from "./io.ts";
import { printJson } from "./output.ts";

/** `raftkv snapshot save FILE`. */
export const snapshotCommand: Command = {
  name: "snapshot",
  summary: "save a backup of the whole store to a file",
  help: `usage: raftkv snapshot save FILE [--stale]

Downloads a backup of the whole store (GET /v1/snapshot) into FILE: written
to FILE.part, synced, then renamed, so FILE is either whole or absent. It
holds every write acknowledged before the command began (unless --stale).
Restore it with: raftkv restore --from FILE --id N --cluster URLS

flags:
  --stale  skip the quorum round; take the answering node's state as it is`,
  flags: { stale: { type: "boolean" } },
  async run(args, flags, ctx) {
    if (args[0] !== "save") throw new UsageError("expected save FILE");
    expectArgs(args, 2, 2, "snapshot save FILE");
    const file = args[1]!;
    const snap = await ctx.client.snapshot({ stale: flags.stale === true });
    const part = `${file}.part`;
    let bytes = 0;
    const out = await Deno.open(part, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      for await (const chunk of snap.body) {
        bytes += chunk.length;
        let written = 0;
        while (written < chunk.length) {
          written += await out.write(chunk.subarray(written));
        }
      }
      await out.sync();
    } catch (err) {
      out.close();
      await Deno.remove(part).catch(() => {});
      throw err;
    }
    out.close();
    await Deno.rename(part, file);
    if (ctx.output === "json") {
      await printJson(ctx.io, {
        file,
        index: snap.index,
        term: snap.term,
        bytes,
      });
    } else {
      await println(
        ctx.io,
        `saved ${file}: ${bytes} bytes, index ${snap.index}, term ${snap.term}`,
      );
    }
    return EXIT.ok;
  },
};
