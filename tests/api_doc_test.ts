/**
 * docs/API.md is the user-facing contract: it must name every flag the
 * node takes and every error code it can answer with (with its status), and
 * no error code the node does not have.
 */

import assert from "node:assert/strict";
import { STATUS_BY_CODE, usage } from "../http/mod.ts";

const API_MD = await Deno.readTextFile(
  new URL("../docs/API.md", import.meta.url),
);
/** The table rows of API.md. */
const ROWS = API_MD.split("\n").filter((l) => l.startsWith("|"));

Deno.test("API.md lists every flag of --help", () => {
  const flags = [...usage().matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!);
  assert.ok(flags.length > 20, usage());
  const missing = flags.filter((f) => !ROWS.some((r) => r.includes(`\`${f}`)));
  assert.deepEqual(missing, [], "flags missing from API.md's flag table");
});

Deno.test("API.md's errors table has every code with its status, and no other", () => {
  const errors = API_MD.slice(API_MD.indexOf("\n## Errors\n"));
  const table = errors.slice(0, errors.indexOf("\n\n", errors.indexOf("| ")))
    .split("\n").filter((l) => /^\| `\d{3}`/.test(l));
  const documented = new Map<string, number>();
  for (const row of table) {
    const [, status, codes] = row.split("|");
    for (const m of codes!.matchAll(/`([a-z_]+)`/g)) {
      documented.set(m[1]!, Number(/\d{3}/.exec(status!)![0]));
    }
  }
  // `compacted` (a watch position older than the history) is mapped by its
  // class, kv's CompactedError (http/errors.ts), not by code.
  const want = new Map([
    ...STATUS_BY_CODE,
    ["internal", 500],
    ["compacted", 410],
  ]);
  assert.deepEqual(
    [...documented].sort(),
    [...want].sort(),
    "API.md's Errors table and http/errors.ts disagree",
  );
});
