/**
 * The coordination subcommands of `raftkv` (put --lease, lease, txn,
 * del --prefix, watch, lock) run as a user runs them, a subprocess each,
 * and the client's watch resuming on another endpoint after the node it
 * read from is killed; all against one real three-node cluster.
 */

import assert from "node:assert/strict";
import { RaftKvClient, type WatchMessage } from "../../client/mod.ts";
import { E2eCluster, MAIN_TS, waitFor } from "./cluster.ts";

/** What one CLI run printed and how it exited. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const text = new TextDecoder();

/** Runs `raftkv ARGS` to its end (with `stdin`, when given). */
async function raftkv(
  args: string[],
  env: Record<string, string>,
  stdin?: string,
): Promise<Run> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = proc.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await proc.output();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r;
}

/** A `raftkv` that keeps running: its output read line by line. */
class Running {
  readonly #proc: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: Promise<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(args: string[], env: Record<string, string>) {
    this.#proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN_TS, ...args],
      env: { NO_COLOR: "1", ...env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = lines(this.#proc.stdout)[Symbol.asyncIterator]();
    this.#stderr = new Response(this.#proc.stderr).text();
    this.#stdin = this.#proc.stdin.getWriter();
  }

  /** The next line of standard output (fails when output ended). */
  async line(): Promise<string> {
    const next = await this.#lines.next();
    if (next.done) {
      const end = await this.end();
      throw new Error(`output ended: exit ${end.code}, stderr ${end.stderr}`);
    }
    return next.value;
  }

  /** Writes `line` to its standard input. */
  async write(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  signal(name: Deno.Signal): void {
    this.#proc.kill(name);
  }

  /** Waits for the process to end; the rest of its output is drained. */
  async end(): Promise<{ code: number; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    for (;;) {
      const next = await this.#lines.next().catch(() => ({ done: true }));
      if (next.done) break;
    }
    const status = await this.#proc.status;
    return { code: status.code, stderr: await this.#stderr };
  }
}

/** The lines of a byte stream. */
async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      yield buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

Deno.test("raftkv watch, txn, lease and lock against a real cluster", async (t) => {
  const c = await E2eCluster.start();
  const urls = c.running().map((id) => c.node(id).url);
  const env = { RAFTKV_ENDPOINTS: urls.join(",") };
  const kv = new RaftKvClient({ endpoints: urls });
  try {
    await t.step("help for every new subcommand", async () => {
      for (const sub of ["watch", "txn", "lease", "lock"]) {
        const help = ok(await raftkv([sub, "--help"], env), `${sub} --help`);
        assert.match(help.stdout, new RegExp(`^usage: raftkv ${sub}`));
        assert.match(help.stdout, /exit status:/);
      }
      const top = ok(await raftkv(["--help"], env), "--help").stdout;
      for (const sub of ["watch", "txn", "lease", "lock"]) {
        assert.match(top, new RegExp(`\\n  ${sub} `));
      }
      assert.doesNotMatch(top, /coming with their features/);
      const typo = await raftkv(["wach"], env);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /did you mean watch\?/);
      assert.equal((await raftkv(["watch"], env)).code, 2);
      assert.equal((await raftkv(["lease", "bogus"], env)).code, 2);
    });

    await t.step(
      "lease grant, put --lease, get, list, keepalive, revoke",
      async () => {
        const grant = JSON.parse(
          ok(await raftkv(["lease", "grant", "60", "-o", "json"], env), "grant")
            .stdout,
        );
        assert.ok(grant.id > 0 && grant.ttl === 60, JSON.stringify(grant));
        const id = String(grant.id);
        ok(await raftkv(["put", "leased", "v", "--lease", id], env), "put");
        const entry = JSON.parse(
          ok(await raftkv(["get", "leased", "-o", "json"], env), "get").stdout,
        );
        assert.equal(entry.lease, grant.id);
        assert.equal(entry.version, 1);
        assert.equal(entry.createIndex, entry.modIndex);
        const info = JSON.parse(
          ok(await raftkv(["lease", "get", id, "-o", "json"], env), "lease get")
            .stdout,
        );
        assert.deepEqual(info.keys, ["leased"]);
        assert.equal(info.ttl, 60);
        const list = JSON.parse(
          ok(await raftkv(["lease", "list", "-o", "json"], env), "list").stdout,
        );
        assert.ok(list.leases.some((l: { id: number }) => l.id === grant.id));
        assert.match(
          ok(await raftkv(["lease", "list"], env), "list").stdout,
          new RegExp(`^ID\\s+TTL\\s+REMAINING\\s+KEYS\\n${id}\\s+60s`),
        );
        ok(
          await raftkv(["lease", "keepalive", id, "--once"], env),
          "keepalive",
        );

        // keepalive without --once runs until Ctrl-C, then exits 0.
        const keeper = new Running(["lease", "keepalive", id], env);
        assert.match(
          await keeper.line(),
          new RegExp(`keeping lease ${id} alive`),
        );
        keeper.signal("SIGINT");
        assert.equal((await keeper.end()).code, 0);

        assert.match(
          ok(await raftkv(["lease", "revoke", id], env), "revoke").stdout,
          new RegExp(`^lease ${id} revoked, index \\d+\\n$`),
        );
        assert.equal((await raftkv(["get", "leased"], env)).code, 1);
        const gone = await raftkv(["lease", "get", id], env);
        assert.equal(gone.code, 1, gone.stderr);
        const again = await raftkv(["lease", "keepalive", id, "--once"], env);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /lease_not_found/);
        const noLease = await raftkv(["put", "x", "v", "--lease", id], env);
        assert.equal(noLease.code, 1);
        assert.match(noLease.stderr, /lease_not_found/);
        assert.equal((await raftkv(["get", "x"], env)).code, 1);
      },
    );

    await t.step("txn from a file and from standard input", async () => {
      ok(await raftkv(["put", "t/a", "x"], env), "put");
      const body = {
        compare: [{ key: "t/a", target: "value", op: "==", value: "x" }],
        success: [
          { op: "put", key: "t/a", value: "y" },
          { op: "put", key: "t/b", value64: "AP8=" },
          { op: "get", prefix: "t/" },
        ],
        failure: [{ op: "get", key: "t/a" }],
      };
      const file = `${c.dir}/txn.json`;
      await Deno.writeTextFile(file, JSON.stringify(body));
      const won = ok(await raftkv(["txn", file], env), "txn");
      assert.match(
        won.stdout,
        /^succeeded index \d+\nput\nput\nt\/a\ty\nt\/b\tbase64:AP8=\n$/,
      );
      // The same again: the compare fails now; exit 1, failure branch.
      const lost = await raftkv(
        ["txn", "-", "-o", "json"],
        env,
        JSON.stringify(body),
      );
      assert.equal(lost.code, 1, lost.stderr);
      const answer = JSON.parse(lost.stdout);
      assert.equal(answer.succeeded, false);
      assert.equal(answer.results[0].items[0].value, "y");
      assert.equal(answer.results[0].items[0].version, 2);
      const bad = await raftkv(["txn", "-"], env, "{not json");
      assert.equal(bad.code, 2);
      const refused = await raftkv(
        ["txn", "-"],
        env,
        '{"success":[{"op":"nope"}]}',
      );
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /invalid_/);
    });

    await t.step(
      "del --prefix deletes every key of the prefix in one entry",
      async () => {
        for (const n of [1, 2, 3]) {
          ok(await raftkv(["put", `dp/${n}`, "v"], env), "put");
        }
        ok(await raftkv(["put", "dq", "stays"], env), "put");
        const del = JSON.parse(
          ok(await raftkv(["del", "--prefix", "dp/", "-o", "json"], env), "del")
            .stdout,
        );
        assert.equal(del.deleted, 3);
        assert.ok(del.index > 0);
        assert.equal(ok(await raftkv(["ls", "dp/"], env), "ls").stdout, "");
        assert.equal((await raftkv(["get", "dq"], env)).stdout, "stays\n");
        assert.equal(
          (await raftkv(["del", "k", "--prefix", "dp/"], env)).code,
          2,
        );
      },
    );

    await t.step(
      "watch prints every change from --from on, until Ctrl-C",
      async () => {
        const first = await kv.put("cw/a", "1");
        const json = new Running(
          [
            "watch",
            "--prefix",
            "cw/",
            "--from",
            String(first.index),
            "-o",
            "json",
          ],
          env,
        );
        const textual = new Running([
          "watch",
          "cw/a",
          "--from",
          String(first.index),
        ], env);
        await kv.put("cw/b", new Uint8Array([0, 255]));
        await kv.put("cw/a", "2");
        const del = await kv.delete("cw/a");
        const messages = [];
        for (let i = 0; i < 4; i++) {
          messages.push(JSON.parse(await json.line()));
        }
        assert.deepEqual(
          messages.map((m) =>
            m.events.map((e: { type: string; key: string }) =>
              `${e.type} ${e.key}`
            )
          ),
          [["put cw/a"], ["put cw/b"], ["put cw/a"], ["delete cw/a"]],
        );
        assert.equal(messages[0].index, first.index);
        assert.equal(messages[1].events[0].value64, "AP8=");
        assert.equal(messages[2].events[0].version, 2);
        assert.equal(messages[3].index, del.index);
        assert.equal(await textual.line(), `${first.index}\tput\tcw/a\t1`);
        assert.match(await textual.line(), /^\d+\tput\tcw\/a\t2$/);
        assert.equal(await textual.line(), `${del.index}\tdelete\tcw/a`);
        json.signal("SIGINT");
        textual.signal("SIGINT");
        assert.equal((await json.end()).code, 0);
        assert.equal((await textual.end()).code, 0);
      },
    );

    await t.step(
      "lock NAME -- COMMAND passes the fence and the exit status",
      async () => {
        const first = await raftkv(
          [
            "lock",
            "job",
            "--",
            "sh",
            "-c",
            'echo "$RAFTKV_LOCK_FENCE"; exit 7',
          ],
          env,
        );
        assert.equal(first.code, 7, first.stderr);
        const fence = Number(first.stdout.trim());
        assert.ok(fence > 0, first.stdout);
        // Released: no lock key, no lease left behind.
        assert.equal(
          ok(await raftkv(["ls", "_locks/job/"], env), "ls").stdout,
          "",
        );
        assert.ok((await kv.leases()).every((l) => l.keys.length === 0));
        const second = ok(
          await raftkv([
            "lock",
            "job",
            "--",
            "sh",
            "-c",
            'echo "$RAFTKV_LOCK_FENCE"',
          ], env),
          "lock",
        );
        assert.ok(Number(second.stdout.trim()) > fence, second.stdout);
      },
    );

    await t.step(
      "a second lock waits for the holder; its fence is greater",
      async () => {
        const holder = new Running(
          [
            "lock",
            "queue",
            "--",
            "sh",
            "-c",
            'echo "$RAFTKV_LOCK_FENCE"; read line',
          ],
          env,
        );
        const heldFence = Number(await holder.line());
        const waiter = new Running(
          ["lock", "queue", "--", "sh", "-c", 'echo "$RAFTKV_LOCK_FENCE"'],
          env,
        );
        // The waiter's key queues behind the holder's.
        await waitFor("the waiter's key", async () => {
          const page = await kv.listPage({ prefix: "_locks/queue/" });
          return page.items.length === 2;
        });
        await holder.write("release");
        assert.equal((await holder.end()).code, 0);
        assert.ok(Number(await waiter.line()) > heldFence);
        assert.equal((await waiter.end()).code, 0);
      },
    );

    await t.step("lock without COMMAND holds until Ctrl-C", async () => {
      const holder = new Running(["lock", "manual", "-o", "json"], env);
      const held = JSON.parse(await holder.line());
      assert.equal(held.name, "manual");
      assert.ok(held.fence > 0);
      assert.equal((await kv.getLease(held.lease))?.keys[0], held.key);
      holder.signal("SIGINT");
      assert.equal((await holder.end()).code, 0);
      assert.equal(await kv.getLease(held.lease), undefined);
    });

    await t.step("a lost lease kills COMMAND and says so", async () => {
      const holder = new Running(
        [
          "lock",
          "doomed",
          "--ttl",
          "2",
          "--",
          "sh",
          "-c",
          "echo started; exec sleep 600",
        ],
        env,
      );
      assert.equal(await holder.line(), "started");
      const lease = (await kv.leases()).find((l) =>
        l.keys.some((k) => k.startsWith("_locks/doomed/"))
      );
      assert.ok(lease, "the lock's lease");
      await kv.revokeLease(lease.id);
      const end = await holder.end();
      assert.equal(end.code, 3, end.stderr);
      assert.match(end.stderr, new RegExp(`lease ${lease.id} lost`));
      assert.match(end.stderr, /killing sh/);
    });

    await t.step(
      "the client's watch resumes on another node when its node is killed",
      async () => {
        const leader = await c.waitLeader();
        const victim = c.running().find((id) => id !== leader)!;
        const others = c.running().filter((id) => id !== victim);
        const seen: string[] = [];
        const watcher = new RaftKvClient({
          endpoints: [victim, ...others].map((id) => c.node(id).url),
          fetch: (input, init) => {
            if (String(input).includes("/v1/watch")) {
              seen.push(new URL(String(input)).origin);
            }
            return fetch(input, init);
          },
        });
        const writer = new RaftKvClient({
          endpoints: others.map((id) => c.node(id).url),
        });
        const start = await writer.put("rw/0", "0");
        const got: WatchMessage[] = [];
        let wake = () => {};
        const stop = new AbortController();
        const reading = (async () => {
          for await (
            const msg of watcher.watch({ prefix: "rw/" }, {
              from: start.index,
              signal: stop.signal,
            })
          ) {
            got.push(msg);
            wake();
          }
        })();
        let ended = false;
        reading.finally(() => ended = true).catch(() => {});
        const until = async (n: number) => {
          while (got.length < n) {
            if (ended) await reading;
            assert.ok(!ended, `the watch ended after ${got.length} messages`);
            await Promise.race([new Promise<void>((r) => wake = r), reading]);
          }
        };
        for (let i = 1; i <= 5; i++) await writer.put(`rw/${i}`, String(i));
        await until(6);
        assert.deepEqual(seen, [c.node(victim).url]);
        await c.kill(victim);
        for (let i = 6; i <= 10; i++) await writer.put(`rw/${i}`, String(i));
        await until(11);
        stop.abort();
        await reading;
        const keys = got.flatMap((m) => m.events.map((e) => e.key));
        assert.deepEqual(keys, Array.from({ length: 11 }, (_, i) => `rw/${i}`));
        const indexes = got.map((m) => m.index);
        assert.deepEqual(indexes, [...indexes].sort((a, b) => a - b));
        assert.equal(new Set(indexes).size, indexes.length);
        assert.ok(seen.length >= 2, JSON.stringify(seen));
        assert.notEqual(seen.at(-1), c.node(victim).url);
      },
    );
  } finally {
    await c.close();
  }
});
