/**
 * Every way a node is started runs it with the same V8 flags (README,
 * "Memory"): `deno task start`, every `deno task compile*` (the release
 * binaries have them built in), and `scripts/cluster.sh`, which reads them
 * from the start task, as `scripts/bench.sh` does.
 */

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const tasks: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(new URL("deno.json", root)),
).tasks;

/** The `--v8-flags=...` of a command line, or "" when it has none. */
function v8FlagsOf(command: string): string {
  return command.match(/--v8-flags=\S+/)?.[0] ?? "";
}

Deno.test("the start task and every compile task carry the same V8 flags, and they bound heap growth", () => {
  const start = v8FlagsOf(tasks.start!);
  assert.match(start, /--sqrt-allocation-limits/);
  const compiles = Object.keys(tasks).filter((t) => /^compile(:|$)/.test(t));
  assert.ok(compiles.length >= 6, compiles.join(" "));
  for (const name of compiles) {
    assert.equal(v8FlagsOf(tasks[name]!), start, name);
  }
});

Deno.test("scripts/cluster.sh starts nodes with the start task's V8 flags", async () => {
  // The script's own way of finding them, run on this deno.json.
  const script = Deno.readTextFileSync(new URL("scripts/cluster.sh", root));
  const line = script.split("\n").find((l) => l.startsWith("v8_flags=$("));
  assert.ok(line, "cluster.sh sets v8_flags from deno.json");
  const out = await new Deno.Command("bash", {
    args: ["-c", `root=.; ${line}; echo "$v8_flags"`],
    cwd: new URL(".", root),
    stdout: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout).trim(),
    v8FlagsOf(tasks.start!),
  );
  assert.ok(script.includes("${v8_flags:+$v8_flags }$root/main.ts"));
});
