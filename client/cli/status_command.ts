/**
 * `raftkv status [--all]`: one node's status, or every member's.
 *
 * @module
 */

import type { NodeStatus } from "../mod.ts";
import type { Command } from "./command.ts";
import { expectArgs } from "./command.ts";
import { EXIT } from "./exit_codes.ts";
import { printJson, printTable } from "./output.ts";

const COLUMNS = ["ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "WAL"];

/** Node `id`'s status as a table row, one cell per column of `COLUMNS`. */
function statusRow(id: number, s: NodeStatus): string[] {
  return [
    String(id),
    s.role,
    String(s.term),
    String(s.leader),
    String(s.commit),
    String(s.applied),
    `${s.walBytes} bytes`,
  ];
}

/** `raftkv status [--all]`. */
export const statusCommand: Command = {
  name: "status",
  summary: "the status of one node, or of every member (--all)",
  help: `usage: raftkv status [--all]

Prints the status of the first endpoint that answers: id, role, term,
leader, commit and applied indexes, WAL size (-o json: GET /v1/status).
With --all, every member's, gathered by that node (GET /v1/cluster/status);
members that do not answer are shown as down. Exit 3 when --all finds a
member down.

flags:
  --all  every member`,
  flags: { all: { type: "boolean" } },
  async run(args, flags, ctx) {
    expectArgs(args, 0, 0, "no argument");
    if (!flags.all) {
      const s = await ctx.client.status();
      if (ctx.output === "json") await printJson(ctx.io, s);
      else {
        await printTable(ctx.io, [COLUMNS, statusRow(s.id, s)]);
      }
      return EXIT.ok;
    }
    const all = await ctx.client.clusterStatus();
    if (ctx.output === "json") await printJson(ctx.io, all);
    else {
      await printTable(ctx.io, [
        [...COLUMNS, "URL"],
        ...all.members.map((m) => {
          const s = m.status;
          return s === undefined
            ? [String(m.id), "down", "", "", "", "", "", m.url]
            : [...statusRow(m.id, s), m.url];
        }),
      ]);
    }
    return all.members.every((m) => m.up) ? EXIT.ok : EXIT.unavailable;
  },
};
