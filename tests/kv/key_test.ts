import assert from "node:assert/strict";
import {
  compareKeys,
  InvalidKeyError,
  keyProblem,
  MAX_KEY_BYTES,
  utf8ByteLength,
  validateKey,
} from "../../kv/mod.ts";
import { randomKey, seededRng, testSeeds, withSeed } from "./seed.ts";

const utf8 = new TextEncoder();

/** The reference order: compare the UTF-8 bytes. */
function compareBytes(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

Deno.test("compareKeys orders keys as their UTF-8 bytes", () => {
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      for (let i = 0; i < 2000; i++) {
        const a = randomKey(rng);
        const b = randomKey(rng);
        assert.equal(
          Math.sign(compareKeys(a, b)),
          Math.sign(compareBytes(a, b)),
          `${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
        );
      }
    });
  }
});

Deno.test("compareKeys puts astral characters after U+FFFF, unlike JS <", () => {
  assert.ok("😀" < "\uffff"); // UTF-16 order
  assert.ok(compareKeys("😀", "\uffff") > 0); // byte order
  assert.equal(compareKeys("abc", "abc"), 0);
  assert.ok(compareKeys("ab", "abc") < 0);
});

Deno.test("utf8ByteLength matches TextEncoder", () => {
  for (const s of ["", "a", "é", "€", "😀", "a😀é\u{e000}", "\ud800x"]) {
    assert.equal(utf8ByteLength(s), utf8.encode(s).length, JSON.stringify(s));
  }
});

Deno.test("keys are 1 to 4096 bytes of UTF-8", () => {
  assert.equal(keyProblem("a"), undefined);
  assert.equal(keyProblem("a".repeat(MAX_KEY_BYTES)), undefined);
  assert.equal(keyProblem("é".repeat(MAX_KEY_BYTES / 2)), undefined);
  assert.match(keyProblem("")!, /empty/);
  assert.match(keyProblem("a".repeat(MAX_KEY_BYTES + 1))!, /4096/);
  assert.match(keyProblem("é".repeat(MAX_KEY_BYTES / 2) + "a")!, /4096/);
  assert.match(keyProblem("a\ud800")!, /UTF-8/);
  assert.match(keyProblem("\udc00a")!, /UTF-8/);
  assert.throws(() => validateKey(""), InvalidKeyError);
  validateKey("😀");
});
