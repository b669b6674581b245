/**
 * Architecture rules (docs/ARCHITECTURE.md, "Layers" and "Entry points"),
 * checked by scanning every source file (main.ts, raft/, kv/, wal/, http/,
 * scripts/):
 *
 * - `raft/core/` is pure: it imports only `raft/core/` (no npm:, node:, jsr:
 *   or URL imports) and uses none of the ambient globals that bring I/O,
 *   time or randomness (`Deno`, `Date`, `performance`, `Math.random`,
 *   `crypto`, timers, `queueMicrotask`, `console`, `fetch`, `globalThis`).
 * - `wal/` never imports `raft/`, `kv/` or `http/`.
 * - `kv/` imports only `kv/` and `@msgpack/msgpack`.
 * - `raft/` (the runtime around the core) never imports `kv/` or `http/`.
 * - `http/` never imports `wal/`.
 * - Entry points: a file outside `raft/` reaches it only through
 *   `raft/mod.ts` (or `raft/core/mod.ts`); a file outside `raft/core/`
 *   reaches the core only through `raft/core/mod.ts`; a file outside
 *   `http/` reaches it only through `http/mod.ts`. Inside a folder, files
 *   import each other freely (`http/app.ts` imports `http/api/kv_routes.ts`).
 * - `client/` never imports `raft/`, `kv/`, `http/` or `wal/`: it talks to
 *   nodes over HTTP only. The library (`client/` outside `client/cli/`)
 *   imports only `client/` and uses no `Deno` global, so it runs in Node
 *   and browsers; the CLI (`client/cli/`) may use Deno and `node:` modules.
 * - Nobody imports `main.ts` except tests.
 *
 * Tests are not held to the entry-point rule: a test may import the
 * internals it unit-tests (tests/http/api/kv_routes_test.ts, the simulator
 * over raft/core). The rule is for the product's source folders.
 *
 * Comments and string contents are blanked before the globals are looked
 * for, so documentation may mention `Date` or `console.log` freely. Every
 * violation is reported with its file and line, all at once.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_EXT = /\.(ts|tsx|mts|js|mjs)$/;
const SKIP_DIRS = new Set([
  ".git",
  ".ci",
  "node_modules",
  "tests", // tests may import the internals they unit-test (see above)
  "dist",
  "bench-out",
  "docs",
  "vendor",
]);

// ---- scanning ---------------------------------------------------------------

/** A string literal found in the source. */
interface StringLit {
  value: string;
  /** Offset of the opening quote. */
  start: number;
}

/** Source with comments and string/template/regex contents blanked (newlines kept). */
interface Scanned {
  code: string;
  strings: StringLit[];
}

const REGEX_BEFORE = new Set([..."(,=:[!&|?{};+-*%<>~^"]);
const REGEX_AFTER_WORD =
  /\b(return|typeof|case|do|else|in|of|void|yield|await|delete|throw|new)$/;

/**
 * Blanks comments and the contents of strings, template literals (but not
 * their `${}` expressions) and regex literals, keeping offsets and line
 * breaks, and collects the string literals.
 */
export function scanSource(src: string): Scanned {
  const out = src.split("");
  const strings: StringLit[] = [];
  const n = src.length;
  let i = 0;
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to && k < n; k++) if (out[k] !== "\n") out[k] = " ";
  };
  const prevSignificant = (): string => {
    let k = i - 1;
    while (k >= 0 && /\s/.test(out[k]!)) k--;
    return k < 0 ? "" : out.slice(Math.max(0, k - 10), k + 1).join("");
  };

  function code(untilBrace: boolean): void {
    let depth = 0;
    while (i < n) {
      const c = src[i]!, d = src[i + 1];
      if (c === "/" && d === "/") {
        const end = src.indexOf("\n", i);
        const stop = end < 0 ? n : end;
        blank(i, stop);
        i = stop;
      } else if (c === "/" && d === "*") {
        const end = src.indexOf("*/", i + 2);
        const stop = end < 0 ? n : end + 2;
        blank(i, stop);
        i = stop;
      } else if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < n && src[j] !== c && src[j] !== "\n") {
          j += src[j] === "\\" ? 2 : 1;
        }
        strings.push({ value: src.slice(i + 1, j), start: i });
        blank(i + 1, j);
        i = j + 1;
      } else if (c === "`") {
        i++;
        template();
      } else if (c === "/" && isRegexStart()) {
        let j = i + 1, inClass = false;
        while (j < n && src[j] !== "\n") {
          if (src[j] === "\\") {
            j += 2;
            continue;
          }
          if (src[j] === "[") inClass = true;
          else if (src[j] === "]") inClass = false;
          else if (src[j] === "/" && !inClass) break;
          j++;
        }
        blank(i + 1, j);
        i = j + 1;
      } else {
        if (untilBrace) {
          if (c === "{") depth++;
          else if (c === "}") {
            if (depth === 0) {
              i++;
              return;
            }
            depth--;
          }
        }
        i++;
      }
    }
  }

  function isRegexStart(): boolean {
    const before = prevSignificant();
    if (before === "") return true;
    return REGEX_BEFORE.has(before.at(-1)!) || REGEX_AFTER_WORD.test(before);
  }

  function template(): void {
    let start = i;
    while (i < n) {
      if (src[i] === "\\") {
        i += 2;
        continue;
      }
      if (src[i] === "`") {
        blank(start, i);
        i++;
        return;
      }
      if (src[i] === "$" && src[i + 1] === "{") {
        blank(start, i);
        i += 2;
        code(true);
        start = i;
        continue;
      }
      i++;
    }
    blank(start, n);
  }

  code(false);
  return { code: out.join(""), strings };
}

/** One import (or re-export) specifier and the line it is on. */
export interface ImportRef {
  specifier: string;
  line: number;
}

function lineAt(src: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset; k++) if (src.charCodeAt(k) === 10) line++;
  return line;
}

/** The specifiers of `import ... from`, `export ... from`, `import "x"` and `import("x")`. */
export function importsOf(src: string): ImportRef[] {
  const { code, strings } = scanSource(src);
  const refs: ImportRef[] = [];
  for (const s of strings) {
    const before = code.slice(Math.max(0, s.start - 40), s.start);
    if (/(?:\bfrom|\bimport\s*\(|\bimport)\s*$/.test(before)) {
      refs.push({ specifier: s.value, line: lineAt(src, s.start) });
    }
  }
  return refs;
}

/** Ambient globals the pure core must not touch (matched on blanked code). */
const FORBIDDEN_IN_CORE: { name: string; re: RegExp }[] = [
  { name: "Deno.", re: /(?<![.\w$])Deno\s*[.[]/g },
  { name: "Date", re: /(?<![.\w$])Date\b/g },
  { name: "performance", re: /(?<![.\w$])performance\b/g },
  { name: "Math.random", re: /(?<![.\w$])Math\s*(?:\.\s*random\b|\[)/g },
  { name: "crypto", re: /(?<![.\w$])crypto\b/g },
  { name: "setTimeout", re: /(?<![.\w$])setTimeout\b/g },
  { name: "setInterval", re: /(?<![.\w$])setInterval\b/g },
  { name: "queueMicrotask", re: /(?<![.\w$])queueMicrotask\b/g },
  { name: "console", re: /(?<![.\w$])console\b/g },
  { name: "fetch", re: /(?<![.\w$])fetch\b/g },
  { name: "globalThis", re: /(?<![.\w$])globalThis\b/g },
];

/** Uses of forbidden globals in `src`, ignoring comments and strings. */
export function forbiddenGlobals(
  src: string,
): { name: string; line: number }[] {
  const { code } = scanSource(src);
  const hits: { name: string; at: number }[] = [];
  for (const { name, re } of FORBIDDEN_IN_CORE) {
    for (const m of code.matchAll(re)) hits.push({ name, at: m.index });
  }
  return hits.sort((a, b) => a.at - b.at).map((h) => ({
    name: h.name,
    line: lineAt(src, h.at),
  }));
}

// ---- rules ------------------------------------------------------------------

/** Where an import lands: a repo-relative path, or the bare/URL specifier itself. */
function target(
  fromFile: string,
  specifier: string,
): { path?: string; external?: string } {
  if (
    specifier.startsWith("./") || specifier.startsWith("../") ||
    specifier.startsWith("/")
  ) {
    const abs = specifier.startsWith("/")
      ? specifier
      : join(dirname(join(ROOT, fromFile)), specifier);
    return { path: relative(ROOT, abs).split("\\").join("/") };
  }
  if (specifier.startsWith("file:")) {
    return { path: relative(ROOT, fileURLToPath(specifier)) };
  }
  return { external: specifier };
}

function under(path: string | undefined, dir: string): boolean {
  return path !== undefined && (path === dir || path.startsWith(dir + "/"));
}

/**
 * The folders that other folders may enter only through their `mod.ts`,
 * innermost first: `raft/core` from outside it, then `raft` and `http`.
 */
const ENTRY_POINTS: readonly { dir: string; allowed: readonly string[] }[] = [
  { dir: "client/cli", allowed: ["client/cli/mod.ts"] },
  { dir: "client", allowed: ["client/mod.ts", "client/cli/mod.ts"] },
  { dir: "raft/core", allowed: ["raft/core/mod.ts"] },
  { dir: "raft", allowed: ["raft/mod.ts", "raft/core/mod.ts"] },
  { dir: "http", allowed: ["http/mod.ts"] },
];

/**
 * Why importing `path` from `file` bypasses a folder's `mod.ts`, or
 * undefined when it does not (or `file` is inside that folder).
 */
function entryPointProblem(
  file: string,
  path: string | undefined,
): string | undefined {
  for (const { dir, allowed } of ENTRY_POINTS) {
    if (!under(path, dir)) continue;
    if (under(file, dir) || allowed.includes(path!)) return undefined;
    return `outside ${dir}/, import ${allowed.join(" or ")} only`;
  }
  return undefined;
}

/** The rule violations of one file (`file` relative to the repo root). */
export function checkFile(file: string, src: string): string[] {
  const problems: string[] = [];
  const report = (line: number, msg: string): void => {
    problems.push(`${file}:${line}: ${msg}`);
  };
  for (const { specifier, line } of importsOf(src)) {
    const t = target(file, specifier);
    const what = `imports "${specifier}"`;
    const before = problems.length;
    if (t.path === "main.ts") {
      report(line, `${what}: nobody imports main.ts (only tests)`);
    }
    if (under(file, "raft/core")) {
      if (!under(t.path, "raft/core")) {
        report(line, `${what}: raft/core may import only raft/core/`);
      }
    } else if (under(file, "wal")) {
      for (const dir of ["raft", "kv", "http"]) {
        if (under(t.path, dir)) {
          report(line, `${what}: wal/ never imports ${dir}/`);
        }
      }
    } else if (under(file, "kv")) {
      const msgpack = t.external === "@msgpack/msgpack" ||
        t.external?.startsWith("npm:@msgpack/msgpack");
      if (!under(t.path, "kv") && !msgpack) {
        report(line, `${what}: kv/ imports only kv/ and @msgpack/msgpack`);
      }
    } else if (under(file, "raft")) {
      for (const dir of ["kv", "http"]) {
        if (under(t.path, dir)) {
          report(line, `${what}: the raft/ runtime never imports ${dir}/`);
        }
      }
    } else if (under(file, "http")) {
      if (under(t.path, "wal")) {
        report(line, `${what}: http/ never imports wal/`);
      }
    } else if (under(file, "client")) {
      for (const dir of ["raft", "kv", "http", "wal"]) {
        if (under(t.path, dir)) {
          report(
            line,
            `${what}: client/ talks HTTP only, never imports ${dir}/`,
          );
        }
      }
      if (
        problems.length === before && !under(file, "client/cli") &&
        !under(t.path, "client")
      ) {
        report(line, `${what}: the client library imports only client/`);
      }
    }
    // A layer violation is reported alone; the entry point matters only
    // for an import the layers allow.
    const entry = entryPointProblem(file, t.path);
    if (entry !== undefined && problems.length === before) {
      report(line, `${what}: ${entry}`);
    }
  }
  if (under(file, "raft/core")) {
    for (const { name, line } of forbiddenGlobals(src)) {
      report(
        line,
        `uses ${name}: raft/core is pure (no I/O, clock, ambient randomness or console)`,
      );
    }
  }
  if (under(file, "client") && !under(file, "client/cli")) {
    for (const { name, line } of forbiddenGlobals(src)) {
      if (name !== "Deno.") continue;
      report(line, "uses Deno.: the client library runs in Node and browsers");
    }
  }
  return problems;
}

async function sourceFiles(dir = ROOT): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const abs = join(dir, e.name);
    if (e.isDirectory) {
      if (!SKIP_DIRS.has(e.name)) files.push(...await sourceFiles(abs));
    } else if (e.isFile && SOURCE_EXT.test(e.name)) {
      files.push(relative(ROOT, abs).split("\\").join("/"));
    }
  }
  return files.sort();
}

// ---- the checks -------------------------------------------------------------

Deno.test("architecture: every source file keeps the dependency direction and the core stays pure", async () => {
  const files = await sourceFiles();
  assert.ok(
    files.some((f) => f.startsWith("raft/core/")),
    "found the core's files",
  );
  const problems: string[] = [];
  for (const f of files) {
    problems.push(...checkFile(f, await Deno.readTextFile(join(ROOT, f))));
  }
  assert.deepEqual(problems, [], `\n${problems.join("\n")}\n`);
});

Deno.test("architecture: the scanner sees imports and globals in code, not in comments or strings", () => {
  const src = [
    "/** Example: `Date.now()` and console.log(x) in docs are fine. */",
    'import { a } from "./a.ts";',
    "import type {",
    "  B,",
    '} from "../../wal/mod.ts";',
    'export * from "npm:left-pad";',
    'const s = "Math.random() fetch(url) setTimeout";',
    "const t = `performance ${Date.now()} crypto`;",
    "// setInterval(f, 1)",
    "const r = /Deno\\.env/g;",
    "const ok = this.fetch ?? obj.console;",
    "const when = Date.now();",
    "queueMicrotask(() => console.error(Math.random()));",
    'const later = await import("node:fs");',
  ].join("\n");
  assert.deepEqual(importsOf(src).map((r) => [r.line, r.specifier]), [
    [2, "./a.ts"],
    [5, "../../wal/mod.ts"],
    [6, "npm:left-pad"],
    [14, "node:fs"],
  ]);
  assert.deepEqual(forbiddenGlobals(src).map((h) => `${h.line}:${h.name}`), [
    "8:Date",
    "12:Date",
    "13:queueMicrotask",
    "13:console",
    "13:Math.random",
  ]);
});

Deno.test("architecture: each folder rule reports the offending file and line", () => {
  const cases: { file: string; src: string; want: string[] }[] = [
    {
      file: "raft/core/x.ts",
      src:
        'import { y } from "./y.ts";\nimport { w } from "../../wal/mod.ts";\nimport z from "npm:z";\nconst t = Date.now();',
      want: [
        'raft/core/x.ts:2: imports "../../wal/mod.ts": raft/core may import only raft/core/',
        'raft/core/x.ts:3: imports "npm:z": raft/core may import only raft/core/',
        "raft/core/x.ts:4: uses Date: raft/core is pure (no I/O, clock, ambient randomness or console)",
      ],
    },
    {
      file: "wal/wal.ts",
      src:
        'import { crc32 } from "node:zlib";\nimport type { Entry } from "../raft/core/mod.ts";',
      want: [
        'wal/wal.ts:2: imports "../raft/core/mod.ts": wal/ never imports raft/',
      ],
    },
    {
      file: "kv/store.ts",
      src:
        'import { encode } from "@msgpack/msgpack";\nimport { NoLeaderError } from "../raft/core/errors.ts";',
      want: [
        'kv/store.ts:2: imports "../raft/core/errors.ts": kv/ imports only kv/ and @msgpack/msgpack',
      ],
    },
    {
      file: "http/app.ts",
      src:
        'import { Hono } from "hono";\nimport { RaftNode } from "../raft/mod.ts";\nimport { Raft } from "../raft/core/raft.ts";\nimport { Wal } from "../wal/mod.ts";',
      want: [
        'http/app.ts:3: imports "../raft/core/raft.ts": outside raft/core/, import raft/core/mod.ts only',
        'http/app.ts:4: imports "../wal/mod.ts": http/ never imports wal/',
      ],
    },
    {
      file: "client/client.ts",
      src: [
        'import { Transport } from "./transport.ts";',
        'import { parseArgs } from "node:util";',
        'import { KvItem } from "../kv/mod.ts";',
        "const text = Deno.readTextFileSync(path);",
      ].join("\n"),
      want: [
        'client/client.ts:2: imports "node:util": the client library imports only client/',
        'client/client.ts:3: imports "../kv/mod.ts": client/ talks HTTP only, never imports kv/',
        "client/client.ts:4: uses Deno.: the client library runs in Node and browsers",
      ],
    },
    {
      file: "client/cli/kv_commands.ts",
      src: [
        'import { RaftKvClient } from "../mod.ts";',
        'import { parseArgs } from "node:util";',
        'import { Transport } from "../transport.ts";',
        "const text = Deno.readTextFileSync(path);",
      ].join("\n"),
      want: [],
    },
    {
      file: "raft/node.ts",
      src:
        'import { KvStore } from "../kv/mod.ts";\nimport { parseConfig } from "../main.ts";',
      want: [
        'raft/node.ts:1: imports "../kv/mod.ts": the raft/ runtime never imports kv/',
        'raft/node.ts:2: imports "../main.ts": nobody imports main.ts (only tests)',
      ],
    },
    {
      file: "main.ts",
      src: [
        'import { createApp } from "./http/mod.ts";',
        'import { RaftNode } from "./raft/mod.ts";',
        'import { KvNode } from "./http/api/kv_node.ts";',
        'import { DiskStorage } from "./raft/disk_storage.ts";',
        'import { RawNode } from "./raft/core/raw_node.ts";',
      ].join("\n"),
      want: [
        'main.ts:3: imports "./http/api/kv_node.ts": outside http/, import http/mod.ts only',
        'main.ts:4: imports "./raft/disk_storage.ts": outside raft/, import raft/mod.ts or raft/core/mod.ts only',
        'main.ts:5: imports "./raft/core/raw_node.ts": outside raft/core/, import raft/core/mod.ts only',
      ],
    },
    {
      // Inside a folder files import each other freely, subfolders too.
      file: "http/api/kv_routes.ts",
      src: [
        'import { readBody } from "../body.ts";',
        'import { nodeUpgrade } from "../serving/node_upgrade.ts";',
        'import { RaftNode } from "../../raft/mod.ts";',
        'import { nopLogger } from "../../raft/core/mod.ts";',
        'import { Members } from "../../raft/members.ts";',
      ].join("\n"),
      want: [
        'http/api/kv_routes.ts:5: imports "../../raft/members.ts": outside raft/, import raft/mod.ts or raft/core/mod.ts only',
      ],
    },
    {
      // The runtime reaches the core through its mod.ts too.
      file: "raft/disk_storage.ts",
      src:
        'import { Wal } from "../wal/mod.ts";\nimport { RaftKvError } from "./core/mod.ts";\nimport { nopLogger } from "./core/logger.ts";\nimport { encodeEntries } from "./codec.ts";',
      want: [
        'raft/disk_storage.ts:3: imports "./core/logger.ts": outside raft/core/, import raft/core/mod.ts only',
      ],
    },
    {
      file: "scripts/bench_x.ts",
      src:
        'import { DiskStorage } from "../raft/mod.ts";\nimport { HttpMetrics } from "../http/api/metrics_routes.ts";',
      want: [
        'scripts/bench_x.ts:2: imports "../http/api/metrics_routes.ts": outside http/, import http/mod.ts only',
      ],
    },
  ];
  for (const c of cases) {
    assert.deepEqual(checkFile(c.file, c.src), c.want, c.file);
  }
});
