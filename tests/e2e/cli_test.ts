/**
 * The `raftkv` client subcommands, run as a user runs them (`deno run
 * main.ts put ...`, a subprocess each) against one real three-node
 * cluster: output, exit statuses, failover past a dead first endpoint,
 * help and usage errors.
 */

import assert from "node:assert/strict";
import { E2eCluster, freePort, MAIN_TS } from "./cluster.ts";

/** What one CLI run printed and how it exited. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs `raftkv ARGS` with `env` (and `stdin`, when given). */
async function raftkv(
  args: string[],
  env: Record<string, string>,
  stdin?: Uint8Array,
): Promise<Run> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = proc.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await proc.output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
    bytes: out.stdout,
  };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r;
}

/** A URL nothing listens on. */
function deadEndpoint(): string {
  return `http://127.0.0.1:${freePort()}`;
}

Deno.test("raftkv client subcommands against a real cluster", async (t) => {
  const c = await E2eCluster.start();
  const endpoints = c.running().map((id) => c.node(id).url).join(",");
  const env = { RAFTKV_ENDPOINTS: endpoints };
  try {
    await t.step("put, get in every output format, conditions", async () => {
      const put = ok(await raftkv(["put", "greeting", "hello"], env), "put");
      const index = Number(/^OK index (\d+)$/.exec(put.stdout.trim())?.[1]);
      assert.ok(index > 0, put.stdout);
      assert.equal(
        ok(await raftkv(["get", "greeting"], env), "get").stdout,
        "hello\n",
      );
      const json = JSON.parse(
        ok(await raftkv(["get", "greeting", "-o", "json"], env), "get json")
          .stdout,
      );
      assert.deepEqual(json, {
        key: "greeting",
        value: "hello",
        index,
        createIndex: index,
        modIndex: index,
        version: 1,
      });
      const stale = await raftkv(
        ["get", "greeting", "--stale", "-o", "value"],
        env,
      );
      assert.equal(ok(stale, "stale get").stdout, "hello");

      // --if-absent on a present key and a wrong --if-match: exit 1.
      const absent = await raftkv(["put", "greeting", "x", "--if-absent"], env);
      assert.equal(absent.code, 1, absent.stderr);
      assert.match(absent.stderr, /precondition_failed/);
      const wrong = await raftkv(
        ["put", "greeting", "x", "--if-match", String(index + 1000)],
        env,
      );
      assert.equal(wrong.code, 1, wrong.stderr);
      ok(
        await raftkv(
          ["put", "greeting", "hi", "--if-match", String(index)],
          env,
        ),
        "put --if-match with the right index",
      );
      assert.equal((await raftkv(["get", "greeting"], env)).stdout, "hi\n");
      ok(await raftkv(["put", "fresh", "1", "--if-absent"], env), "create");
    });

    await t.step(
      "put - reads the value's bytes from standard input",
      async () => {
        const bytes = new Uint8Array([0, 1, 2, 255, 10]);
        ok(await raftkv(["put", "binary", "-"], env, bytes), "put -");
        const raw = ok(
          await raftkv(["get", "binary", "-o", "value"], env),
          "get",
        );
        assert.deepEqual(raw.bytes, bytes);
        const json = JSON.parse(
          (await raftkv(["get", "binary", "-o", "json"], env)).stdout,
        );
        assert.equal(json.value, undefined);
        assert.equal(json.value64, "AAEC/wo=");
      },
    );

    await t.step("del, and get of an absent key exits 1", async () => {
      ok(await raftkv(["del", "fresh"], env), "del");
      const gone = await raftkv(["get", "fresh"], env);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /not found/);
      ok(await raftkv(["del", "fresh"], env), "del of an absent key");
    });

    await t.step(
      "ls lists by prefix, with --limit, as text and JSON",
      async () => {
        for (const n of [3, 1, 2, 5, 4]) {
          ok(await raftkv(["put", `dir/${n}`, `v${n}`], env), "put");
        }
        const all = ok(await raftkv(["ls", "dir/"], env), "ls");
        assert.equal(
          all.stdout,
          "dir/1\tv1\ndir/2\tv2\ndir/3\tv3\ndir/4\tv4\ndir/5\tv5\n",
        );
        const some = JSON.parse(
          ok(
            await raftkv(["ls", "dir/", "--limit", "2", "-o", "json"], env),
            "ls",
          )
            .stdout,
        );
        assert.deepEqual(some.items.map((i: { key: string }) => i.key), [
          "dir/1",
          "dir/2",
        ]);
        assert.equal((await raftkv(["ls", "nothing/"], env)).stdout, "");
      },
    );

    await t.step(
      "member list, leader transfer, member add and remove",
      async () => {
        const leader = await c.waitLeader();
        const list = ok(await raftkv(["member", "list"], env), "member list");
        const rows = list.stdout.trim().split("\n");
        assert.equal(rows.length, 4, list.stdout);
        assert.match(rows[0]!, /^ID\s+ROLE\s+LEADER\s+URL$/);
        const target = c.running().find((id) => id !== leader)!;
        ok(
          await raftkv(["leader", "transfer", String(target)], env),
          "transfer",
        );
        const view = JSON.parse(
          ok(await raftkv(["member", "list", "-o", "json"], env), "list json")
            .stdout,
        );
        assert.equal(view.leader, target);
        assert.equal(view.members.length, 3);

        const url = deadEndpoint();
        const added = JSON.parse(
          ok(
            await raftkv(
              ["member", "add", "9", url, "--learner", "-o", "json"],
              env,
            ),
            "member add",
          ).stdout,
        );
        assert.deepEqual(added, { id: 9, url, role: "learner" });
        const again = await raftkv(["member", "add", "9", url], env);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /member_exists/);
        ok(await raftkv(["member", "remove", "9"], env), "member remove");
        const unknown = await raftkv(["member", "remove", "9"], env);
        assert.equal(unknown.code, 1, unknown.stderr);
      },
    );

    await t.step("status and status --all", async () => {
      const one = JSON.parse(
        ok(await raftkv(["status", "-o", "json"], env), "status").stdout,
      );
      assert.ok(
        one.id >= 1 && one.commit >= one.applied - 0,
        JSON.stringify(one),
      );
      const text = ok(await raftkv(["status"], env), "status").stdout;
      assert.match(text, /^ID\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+WAL/);
      const all = ok(await raftkv(["status", "--all"], env), "status --all");
      assert.equal(all.stdout.trim().split("\n").length, 4, all.stdout);
      const json = JSON.parse(
        (await raftkv(["status", "--all", "-o", "json"], env)).stdout,
      );
      assert.equal(json.members.filter((m: { up: boolean }) => m.up).length, 3);
    });

    await t.step("snapshot save writes a backup file", async () => {
      const file = `${c.dir}/backup.raftkv`;
      const saved = JSON.parse(
        ok(await raftkv(["snapshot", "save", file, "-o", "json"], env), "save")
          .stdout,
      );
      const size = (await Deno.stat(file)).size;
      assert.equal(saved.bytes, size);
      assert.ok(saved.index > 0 && size > 0, JSON.stringify(saved));
      await assert.rejects(Deno.stat(`${file}.part`));
    });

    await t.step("fails over past a dead first endpoint", async () => {
      const failover = { RAFTKV_ENDPOINTS: `${deadEndpoint()},${endpoints}` };
      ok(await raftkv(["put", "failover", "yes"], failover), "put");
      assert.equal(
        (await raftkv(["get", "failover"], failover)).stdout,
        "yes\n",
      );
      // The flag wins over the variable.
      const flagged = await raftkv(
        [
          "get",
          "failover",
          "--endpoints",
          `${deadEndpoint()},${c.node(1).url}`,
        ],
        { RAFTKV_ENDPOINTS: deadEndpoint() },
      );
      assert.equal(ok(flagged, "get --endpoints").stdout, "yes\n");
    });

    await t.step("no endpoint up: exit 3, nothing applied", async () => {
      const r = await raftkv(
        ["put", "never", "x", "--timeout-ms", "2000"],
        { RAFTKV_ENDPOINTS: `${deadEndpoint()},${deadEndpoint()}` },
      );
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /no endpoint served PUT/);
      assert.equal((await raftkv(["get", "never"], env)).code, 1);
    });

    await t.step("help, usage errors and suggestions", async () => {
      for (
        const sub of [
          "put",
          "get",
          "del",
          "ls",
          "member",
          "leader",
          "status",
          "snapshot",
        ]
      ) {
        const help = ok(await raftkv([sub, "--help"], env), `${sub} --help`);
        assert.match(help.stdout, new RegExp(`^usage: raftkv ${sub}`));
        assert.match(help.stdout, /exit status:/);
      }
      const top = ok(await raftkv(["--help"], env), "--help");
      assert.match(top.stdout, /client subcommands/);
      assert.match(top.stdout, /4 {2}outcome unknown/);
      const typo = await raftkv(["stauts"], env);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /did you mean status\?/);
      const badFlag = await raftkv(["get", "k", "--bogus"], env);
      assert.equal(badFlag.code, 2);
      assert.match(badFlag.stderr, /--bogus/);
      const missing = await raftkv(["put", "k"], env);
      assert.equal(missing.code, 2);
      const badOutput = await raftkv(["ls", "-o", "value"], env);
      assert.equal(badOutput.code, 2);
      const badEndpoint = await raftkv(
        ["get", "k", "--endpoints", "ftp://x"],
        env,
      );
      assert.equal(badEndpoint.code, 2);
    });
  } finally {
    await c.close();
  }
});
