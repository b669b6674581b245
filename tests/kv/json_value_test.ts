import assert from "node:assert/strict";
import { InvalidValueError, valueFromJson, valueToJson } from "../../kv/mod.ts";
import { seededRng, testSeeds, withSeed } from "./seed.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("UTF-8 values travel as value, anything else as value64", () => {
  assert.deepEqual(valueToJson(new TextEncoder().encode("héllo 😀")), {
    value: "héllo 😀",
  });
  assert.deepEqual(valueToJson(bytes()), { value: "" });
  assert.deepEqual(valueToJson(bytes(0xff, 0x00, 0xfe)), { value64: "/wD+" });
  // A lone surrogate's bytes (ED A0 80) and a cut sequence are not UTF-8.
  assert.deepEqual(valueToJson(bytes(0xed, 0xa0, 0x80)), { value64: "7aCA" });
  assert.deepEqual(valueToJson(bytes(0x61, 0xc3)), { value64: "YcM=" });
  // A byte-order mark is kept, so the bytes come back the same.
  const bom = bytes(0xef, 0xbb, 0xbf, 0x61);
  assert.deepEqual(valueToJson(bom), { value: "\ufeffa" });
  assert.deepEqual(valueFromJson(valueToJson(bom)), bom);
});

Deno.test("valueFromJson(valueToJson(bytes)) gives the bytes back", () => {
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      for (let i = 0; i < 500; i++) {
        const b = new Uint8Array(rng.intn(20));
        // Mostly ASCII, sometimes any byte.
        for (let j = 0; j < b.length; j++) {
          b[j] = rng.intn(5) === 0 ? rng.intn(256) : 0x20 + rng.intn(90);
        }
        assert.deepEqual(valueFromJson(valueToJson(b)), b);
        assert.deepEqual(
          valueFromJson(JSON.parse(JSON.stringify(valueToJson(b)))),
          b,
        );
      }
    });
  }
});

Deno.test("valueFromJson takes exactly one of value and value64, and refuses what cannot be bytes", () => {
  assert.deepEqual(valueFromJson({ value: "ab" }), bytes(0x61, 0x62));
  assert.deepEqual(valueFromJson({ value64: "/wD+" }), bytes(0xff, 0, 0xfe));
  assert.deepEqual(valueFromJson({ value64: "" }), bytes());
  const bad: object[] = [
    {},
    { value: "a", value64: "YQ==" },
    { value: 1 },
    { value: null },
    { value64: 12 },
    { value64: "not base64!" },
    { value64: "YQ=a" },
    { value: "\ud800" },
  ];
  for (const body of bad) {
    assert.throws(
      () => valueFromJson(body),
      (e: unknown) =>
        e instanceof InvalidValueError && e.code === "invalid_value",
      JSON.stringify(body),
    );
  }
});
