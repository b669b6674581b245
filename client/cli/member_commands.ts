/**
 * The membership subcommands: `member list|add|remove` and `leader transfer`.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { expectArgs, positiveInt } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { println } from "./io.ts";
import { printJson, printTable } from "./output.ts";

/** `raftkv member list | add ID URL [--learner] | remove ID`. */
export const memberCommand: Command = {
  name: "member",
  summary: "list, add or remove members",
  help: `usage: raftkv member list
       raftkv member add ID URL [--learner]
       raftkv member remove ID

list    every member (id, role, peer URL) and which one leads
add     add node ID with peer URL URL; it joins as a learner and is promoted
        to voter once caught up (--learner: stays a learner). Start the node
        afterwards with --join. Answers once the change is committed.
remove  remove node ID (a leader hands leadership over first)

flags:
  --learner  add the node as a learner that is never promoted`,
  flags: { learner: { type: "boolean" } },
  async run(args, flags, ctx) {
    const action = args[0];
    if (action === "list") {
      expectArgs(args, 1, 1, "no argument after list");
      const view = await ctx.client.members();
      if (ctx.output === "json") await printJson(ctx.io, view);
      else {
        await printTable(ctx.io, [
          ["ID", "ROLE", "LEADER", "URL"],
          ...view.members.map((m) => [
            String(m.id),
            m.role,
            m.id === view.leader ? "*" : "",
            m.url,
          ]),
        ]);
      }
      return EXIT.ok;
    }
    if (action === "add") {
      expectArgs(args, 3, 3, "member add ID URL");
      const member = await ctx.client.addMember({
        id: positiveInt(args[1], "ID"),
        url: args[2]!,
        role: flags.learner ? "learner" : "voter",
      });
      if (ctx.output === "json") await printJson(ctx.io, member);
      else {
        await println(
          ctx.io,
          `added member ${member.id} (${member.url}) as ${
            member.role === "learner" ? "a learner" : "a voter, via learner"
          }`,
        );
      }
      return EXIT.ok;
    }
    if (action === "remove") {
      expectArgs(args, 2, 2, "member remove ID");
      const id = positiveInt(args[1], "ID");
      await ctx.client.removeMember(id);
      if (ctx.output === "json") await printJson(ctx.io, { removed: id });
      else await println(ctx.io, `removed member ${id}`);
      return EXIT.ok;
    }
    throw new UsageError(
      action === undefined
        ? "expected list, add or remove"
        : `member ${action}: expected list, add or remove`,
    );
  },
};

/** `raftkv leader transfer ID`. */
export const leaderCommand: Command = {
  name: "leader",
  summary: "hand leadership to another voter",
  help: `usage: raftkv leader transfer ID

Hands leadership to voter ID; answers once ID leads.`,
  flags: {},
  async run(args, _flags, ctx) {
    if (args[0] !== "transfer") throw new UsageError("expected transfer ID");
    expectArgs(args, 2, 2, "leader transfer ID");
    const id = positiveInt(args[1], "ID");
    await ctx.client.transferLeader(id);
    if (ctx.output === "json") await printJson(ctx.io, { leader: id });
    else await println(ctx.io, `node ${id} leads`);
    return EXIT.ok;
  },
};
