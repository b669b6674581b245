/**
 * `raftkv lock NAME [--ttl S] [--wait D] [-- COMMAND ARGS...]`: takes the
 * lock with a lease of its own, keeps the lease alive, and holds the lock
 * while COMMAND runs (fence in `RAFTKV_LOCK_FENCE`) or, without COMMAND,
 * until Ctrl-C. Releasing is revoking the lease (its lock key goes with
 * it). When the lease is lost, COMMAND is killed and stderr says so.
 *
 * @module
 */

import {
  type KeepAlive,
  LeaseNotFoundError,
  LockHeldError,
  type RaftKvClient,
} from "../mod.ts";
import type { Command } from "./command.ts";
import { expectArgs, positiveInt } from "./command.ts";
import { EXIT, UsageError } from "./exit_codes.ts";
import { aborted, listenForInterrupt } from "./interrupt.ts";
import { println } from "./io.ts";
import { printJson } from "./output.ts";

/** The default TTL of the lock's lease, in seconds. */
const DEFAULT_TTL = 10;
/**
 * One lock request waits at most this long (a server takes a `wait` up to
 * its request timeout, 5 s by default); the command asks again until it
 * holds the lock or --wait runs out.
 */
const WAIT_PER_REQUEST_MS = 4000;

/** Exit status when the lease was lost while the lock was held. */
const EXIT_LOST = EXIT.unavailable;

/** Signal numbers for the exit status of a killed COMMAND (128 + n). */
const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** Parses --wait: `500ms`, `10s`, `2m`, or a number of seconds. */
function parseWait(text: string): number {
  const m = /^([0-9]+)(ms|s|m)?$/.exec(text);
  if (m === null) {
    throw new UsageError(`--wait: ${text} is not a duration (500ms, 10s, 2m)`);
  }
  return Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
}

/** Asks for the lock until it is held, `waitMs` runs out or `signal` aborts. */
async function acquire(
  client: RaftKvClient,
  name: string,
  lease: number,
  waitMs: number | undefined,
  signal: AbortSignal,
) {
  const deadline = waitMs === undefined ? Infinity : Date.now() + waitMs;
  for (;;) {
    const left = Math.max(0, deadline - Date.now());
    try {
      return await client.lock(name, {
        lease,
        wait: Math.min(left, WAIT_PER_REQUEST_MS),
        signal,
      });
    } catch (err) {
      if (!(err instanceof LockHeldError) || Date.now() >= deadline) throw err;
    }
  }
}

/** `raftkv lock`. */
export const lockCommand: Command = {
  name: "lock",
  summary: "hold a lock while a command runs (fence in RAFTKV_LOCK_FENCE)",
  help: `usage: raftkv lock NAME [--ttl S] [--wait D] [-- COMMAND ARGS...]

Grants a lease of S seconds (default ${DEFAULT_TTL}), keeps it alive (every S/3),
and takes lock NAME with it, waiting while others hold it. Then:
- with COMMAND: runs it with RAFTKV_LOCK_FENCE (the fence: greater for every
  later holder, for resources that refuse stale holders), RAFTKV_LOCK_KEY
  and RAFTKV_LOCK_LEASE in its environment and the terminal's standard
  input and output; when it exits, releases the lock and exits with its
  status (128+N when signal N ended it). A SIGTERM sent to raftkv is passed
  on to COMMAND (Ctrl-C reaches it from the terminal).
- without COMMAND: prints the fence and holds the lock until Ctrl-C.
If the lease is lost (gone, or no keepalive succeeded for a whole TTL), the
lock may be held by another: raftkv says so on stderr, kills COMMAND
(SIGTERM) and exits ${EXIT_LOST}. Releasing revokes the lease (its lock key goes
with it).

flags:
  --ttl S   the lease's TTL in seconds (default ${DEFAULT_TTL})
  --wait D  give up (exit 1) when the lock is not held within D (500ms, 10s,
            2m); default: wait as long as it takes`,
  flags: { ttl: { type: "string" }, wait: { type: "string" } },
  takesCommand: true,
  async run(args, flags, ctx) {
    expectArgs(args, 1, 1, "NAME (and -- COMMAND ARGS...)");
    const name = args[0]!;
    const ttl = flags.ttl === undefined
      ? DEFAULT_TTL
      : positiveInt(flags.ttl as string, "--ttl");
    const waitMs = flags.wait === undefined
      ? undefined
      : parseWait(flags.wait as string);
    const { client, io } = ctx;
    const interrupt = listenForInterrupt();
    let keeper: KeepAlive | undefined;
    let leaseId: number | undefined;
    try {
      const grant = await client.grantLease(ttl, { signal: interrupt.signal });
      leaseId = grant.id;
      keeper = client.keepAlive(grant.id, { ttl: grant.ttl });
      const stopOrLost = AbortSignal.any([interrupt.signal, keeper.lost]);
      let held;
      try {
        held = await acquire(client, name, grant.id, waitMs, stopOrLost);
      } catch (err) {
        if (keeper.lost.aborted) throw keeper.lost.reason;
        if (interrupt.signal.aborted) return EXIT.ok;
        throw err;
      }
      if (ctx.rest.length === 0) {
        if (ctx.output === "json") {
          await printJson(io, { ...held, lease: grant.id });
        } else {
          await println(
            io,
            `holding ${name}: fence ${held.fence}, lease ${grant.id} (Ctrl-C releases)`,
          );
        }
        await aborted(stopOrLost);
        if (keeper.lost.aborted) {
          await io.err(
            `raftkv lock: ${
              (keeper.lost.reason as Error).message
            }: the lock may be held by another`,
          );
          return EXIT_LOST;
        }
        return EXIT.ok;
      }
      return await runHolding(ctx.rest, held, grant.id, keeper, interrupt, io);
    } finally {
      interrupt.dispose();
      await keeper?.stop();
      if (leaseId !== undefined && !keeper?.lost.aborted) {
        try {
          await client.revokeLease(leaseId);
        } catch (err) {
          if (!(err instanceof LeaseNotFoundError)) {
            await io.err(
              `raftkv lock: could not release (revoke lease ${leaseId}): ${
                (err as Error).message
              }; it expires after its TTL`,
            );
          }
        }
      }
    }
  },
};

/** Runs COMMAND while the lock is held; resolves with the exit status. */
async function runHolding(
  command: readonly string[],
  held: { name: string; key: string; fence: number },
  lease: number,
  keeper: KeepAlive,
  interrupt: { signal: AbortSignal },
  io: { err(line: string): Promise<void> },
): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0]!, {
      args: command.slice(1),
      env: {
        RAFTKV_LOCK_FENCE: String(held.fence),
        RAFTKV_LOCK_KEY: held.key,
        RAFTKV_LOCK_LEASE: String(lease),
      },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (err) {
    await io.err(
      `raftkv lock: cannot run ${command[0]}: ${(err as Error).message}`,
    );
    return 127;
  }
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // It has exited already.
    }
  };
  /** The lease-loss message being written: awaited before exiting. */
  let lostSaid: Promise<void> | undefined;
  const onLost = () => {
    lostSaid = io.err(
      `raftkv lock: ${
        (keeper.lost.reason as Error).message
      }: the lock may be held by another; killing ${command[0]}`,
    ).catch(() => {});
    kill("SIGTERM");
  };
  const onInterrupt = () => {
    if (interrupt.signal.reason === "SIGTERM") kill("SIGTERM");
  };
  keeper.lost.addEventListener("abort", onLost, { once: true });
  interrupt.signal.addEventListener("abort", onInterrupt, { once: true });
  if (keeper.lost.aborted) onLost();
  try {
    const status = await child.status;
    if (keeper.lost.aborted) {
      await lostSaid; // the process may exit next: say why first
      return EXIT_LOST;
    }
    if (status.signal !== null) return 128 + (SIGNALS[status.signal] ?? 0);
    return status.code;
  } finally {
    keeper.lost.removeEventListener("abort", onLost);
    interrupt.signal.removeEventListener("abort", onInterrupt);
  }
}
