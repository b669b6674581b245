/**
 * The production logger (raft/logger.ts): one JSON object per line on
 * stderr, and only lines at or above the chosen level. Runs it in a child
 * process (tests/raft/logger_child.ts), since it writes to the real stderr.
 */

import assert from "node:assert/strict";

const CHILD = new URL("./logger_child.ts", import.meta.url).pathname;

/** The parsed stderr lines of a child logging at `level`. */
async function linesAt(level: string): Promise<Record<string, unknown>[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--quiet", CHILD, level],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text.trimEnd().split("\n").filter((l) => l !== "").map((l) =>
    JSON.parse(l)
  );
}

Deno.test("each line is one JSON object with time, level, message, base and fields", async () => {
  const lines = await linesAt("debug");
  assert.deepEqual(lines.map((l) => l.level), [
    "debug",
    "info",
    "warn",
    "error",
  ]);
  const info = lines[1]!;
  assert.equal(info.msg, "info line");
  assert.equal(info.node, 7);
  assert.equal(info.detail, 2);
  assert.ok(!Number.isNaN(Date.parse(String(info.ts))), `ts ${info.ts}`);
});

Deno.test("debug lines appear only at level debug; each level drops those below it", async () => {
  const expected: Record<string, string[]> = {
    debug: ["debug", "info", "warn", "error"],
    info: ["info", "warn", "error"],
    warn: ["warn", "error"],
    error: ["error"],
  };
  for (const [level, levels] of Object.entries(expected)) {
    const lines = await linesAt(level);
    assert.deepEqual(lines.map((l) => l.level), levels, `at ${level}`);
  }
});
