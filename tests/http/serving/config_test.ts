import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  parseServeArgs,
  usage,
} from "../../../http/mod.ts";
import { DEFAULTS, type TunableName } from "../../../raft/mod.ts";

/** The flag of each tunable: `maxValueBytes` → `max-value-bytes`. */
function flagOf(name: TunableName): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function config(argv: string[]): Config {
  const parsed = parseServeArgs(["--id", "1", ...argv], {});
  assert.equal(parsed.action, "run");
  return (parsed as { config: Config }).config;
}

const names = Object.keys(DEFAULTS) as TunableName[];

Deno.test("every tunable's default in the table is what the parser returns and --help shows", () => {
  const defaults = config([]);
  const help = usage().split("\n");
  for (const name of names) {
    const { value } = DEFAULTS[name];
    assert.equal(defaults[name], value, name);
    const line = help.find((l) =>
      l.trimStart().startsWith(`--${flagOf(name)} `)
    );
    assert.ok(line !== undefined, `--help lists --${flagOf(name)}`);
    assert.ok(line.endsWith(`(default: ${value})`), line);
  }
});

Deno.test("every tunable's flag takes the table's bounds and refuses beyond them", () => {
  for (const name of names) {
    const { min, max } = DEFAULTS[name];
    const flag = `--${flagOf(name)}`;
    // electionTicks must also stay above heartbeatTicks (1 by default).
    const extra = name === "heartbeatTicks"
      ? ["--election-ticks", String(max)]
      : [];
    for (const ok of [min, max]) {
      if (name === "heartbeatTicks" && ok === max) continue;
      assert.equal(
        config([flag, String(ok), ...extra])[name],
        ok,
        `${flag} ${ok}`,
      );
    }
    for (const bad of [min - 1, max + 1]) {
      assert.throws(
        () => config([flag, String(bad), ...extra]),
        (e) => e instanceof ConfigError && e.flag === flag,
        `${flag} ${bad}`,
      );
    }
  }
});
