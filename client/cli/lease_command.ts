/**
 * `raftkv lease grant TTL | keepalive ID [--once] | revoke ID | get ID | list`.
 *
 * @module
 */

import type { LeaseInfo } from "../mod.ts";
import type { Command } from "./command.ts";
import { expectArgs, positiveInt } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { listenForInterrupt } from "./interrupt.ts";
import { println } from "./io.ts";
import { printJson, printTable } from "./output.ts";

function leaseRows(leases: readonly LeaseInfo[]): string[][] {
  return [
    ["ID", "TTL", "REMAINING", "KEYS"],
    ...leases.map((l) => [
      String(l.id),
      `${l.ttl}s`,
      `${l.remaining}s`,
      l.keys.join(","),
    ]),
  ];
}

/** `raftkv lease`. */
export const leaseCommand: Command = {
  name: "lease",
  summary: "grant, keep alive, revoke, show or list leases",
  help: `usage: raftkv lease grant TTL
       raftkv lease keepalive ID [--once]
       raftkv lease revoke ID
       raftkv lease get ID
       raftkv lease list
grant      grant a lease of TTL seconds (raised to the server's minimum, which
           the answer then says); prints its ID. Attach keys with
           raftkv put KEY VALUE --lease ID
keepalive  keep lease ID alive (a keepalive every TTL/3) until Ctrl-C (exit
           0); exit 1 when the lease is gone or no keepalive succeeded for a
           whole TTL (it may have expired). --once: one keepalive, then exit
revoke     revoke lease ID: its keys are deleted at once, in one log entry
get        lease ID: TTL, the seconds left on the leader's countdown, its keys
list       every lease
Exit 1 when the lease does not exist (any more).

flags:
  --once  keepalive: send one keepalive and exit`,
  flags: { once: { type: "boolean" } },
  async run(args, flags, ctx) {
    const action = args[0];
    const { client, io } = ctx;
    const json = ctx.output === "json";
    switch (action) {
      case "grant": {
        expectArgs(args, 2, 2, "lease grant TTL");
        const grant = await client.grantLease(positiveInt(args[1], "TTL"));
        if (json) await printJson(io, grant);
        else {
          const raised = grant.requestedTtl === undefined
            ? ""
            : ` (raised from ${grant.requestedTtl}s)`;
          await println(
            io,
            `lease ${grant.id} granted, TTL ${grant.ttl}s${raised}`,
          );
        }
        return EXIT.ok;
      }
      case "keepalive": {
        expectArgs(args, 2, 2, "lease keepalive ID");
        const id = positiveInt(args[1], "ID");
        if (flags.once) {
          const answer = await client.keepAliveOnce(id);
          if (json) await printJson(io, answer);
          else await println(io, `lease ${id} kept alive, TTL ${answer.ttl}s`);
          return EXIT.ok;
        }
        const interrupt = listenForInterrupt();
        try {
          const first = await client.keepAliveOnce(id, {
            signal: interrupt.signal,
          });
          if (json) await printJson(io, first);
          else {
            await println(
              io,
              `keeping lease ${id} alive (TTL ${first.ttl}s) until Ctrl-C`,
            );
          }
          const keeper = client.keepAlive(id, {
            ttl: first.ttl,
            signal: interrupt.signal,
          });
          const lost = await keeper.done;
          if (lost !== undefined) {
            await io.err(`raftkv lease: ${lost.message}`);
            return EXIT.refused;
          }
          return EXIT.ok;
        } catch (err) {
          if (interrupt.signal.aborted) return EXIT.ok;
          throw err;
        } finally {
          interrupt.dispose();
        }
      }
      case "revoke": {
        expectArgs(args, 2, 2, "lease revoke ID");
        const id = positiveInt(args[1], "ID");
        const { index } = await client.revokeLease(id);
        if (json) await printJson(io, { id, index });
        else await println(io, `lease ${id} revoked, index ${index}`);
        return EXIT.ok;
      }
      case "get": {
        expectArgs(args, 2, 2, "lease get ID");
        const id = positiveInt(args[1], "ID");
        const lease = await client.getLease(id);
        if (lease === undefined) {
          await io.err(`raftkv lease: lease ${id} not found`);
          return EXIT.refused;
        }
        if (json) await printJson(io, lease);
        else await printTable(io, leaseRows([lease]));
        return EXIT.ok;
      }
      case "list": {
        expectArgs(args, 1, 1, "no argument after list");
        const leases = await client.leases();
        if (json) await printJson(io, { leases });
        else await printTable(io, leaseRows(leases));
        return EXIT.ok;
      }
    }
    throw new UsageError(
      action === undefined
        ? "expected grant, keepalive, revoke, get or list"
        : `lease ${action}: expected grant, keepalive, revoke, get or list`,
    );
  },
};
