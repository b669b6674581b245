/**
 * `raftkv lock -- COMMAND` when the lease is lost, at the lowest level: the
 * command over a stand-in client whose lease is lost while COMMAND runs.
 * Regression: the message went to stderr without being awaited, so the
 * process could exit (status 3) before saying why (seen as a flaky e2e
 * step "a lost lease kills COMMAND and says so").
 */

import assert from "node:assert/strict";
import { lockCommand } from "../../client/cli/lock_command.ts";
import type { RaftKvClient } from "../../client/mod.ts";
import { EXIT } from "../../client/cli/exit_codes.ts";

Deno.test("lock: a lost lease kills COMMAND and is said before the command returns", async () => {
  const lost = new AbortController();
  const fake = {
    grantLease: () => Promise.resolve({ id: 7, ttl: 10 }),
    keepAlive: () => ({ lost: lost.signal, stop: () => Promise.resolve() }),
    lock: (name: string) => {
      // Lost once COMMAND runs: a later task than everything the command
      // does between holding the lock and spawning COMMAND.
      setTimeout(() => lost.abort(new Error("lease 7 is gone")), 0);
      return Promise.resolve({ name, key: `_locks/${name}/7`, fence: 5 });
    },
    revokeLease: () => Promise.resolve(),
  } as unknown as RaftKvClient;
  const said: string[] = [];
  const io = {
    out: () => Promise.resolve(),
    // A terminal that takes a while: the line lands in a later task.
    err: (line: string) =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          said.push(line);
          resolve();
        }, 0)
      ),
    readStdin: () => Promise.resolve(new Uint8Array()),
  };
  const status = await lockCommand.run(["job"], {}, {
    client: fake,
    output: "text",
    io,
    rest: ["sleep", "60"],
  });
  assert.equal(status, EXIT.unavailable);
  assert.equal(said.length, 1, "the loss is on stderr when run() returns");
  assert.match(said[0]!, /lease 7 is gone: the lock may be held by another/);
});
