import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  InvalidCommandError,
} from "../../kv/mod.ts";
import { decodeCommandGeneric } from "../../kv/command.ts";
import { seededRng, testSeeds, withSeed } from "./seed.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("commands round-trip through their bytes", () => {
  const commands: Command[] = [
    { op: "put", key: "a", value: bytes("1") },
    { op: "put", key: "é/😀", value: new Uint8Array(0), ifMatch: 7 },
    { op: "put", key: "k", value: bytes("v"), ifNoneMatch: true },
    { op: "put", key: "k", value: bytes("v"), ifMatch: 2 ** 53 - 1 },
    { op: "delete", key: "a" },
    { op: "delete", key: "a", ifMatch: 3 },
  ];
  for (const cmd of commands) {
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
  }
});

Deno.test("encodeCommand refuses bad commands", () => {
  const bad: unknown[] = [
    { op: "put", key: "", value: bytes("x") },
    { op: "put", key: "a".repeat(4097), value: bytes("x") },
    { op: "put", key: "a", value: "not bytes" },
    { op: "put", key: "a", value: bytes("x"), ifMatch: 0 },
    { op: "put", key: "a", value: bytes("x"), ifMatch: 1.5 },
    { op: "delete", key: 5 },
    { op: "merge", key: "a" },
  ];
  for (const cmd of bad) {
    assert.throws(() => encodeCommand(cmd as Command), InvalidCommandError);
  }
});

Deno.test("decodeCommand rejects malformed bytes with InvalidCommandError", () => {
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0xc1]), // never used in msgpack
    new Uint8Array([0x95, 0x01]), // truncated array
    encode("put"),
    encode([]),
    encode([9, "a"]),
    encode([1, "a", bytes("v"), 0]), // too few fields
    encode([1, "a", "text", 0, 0]), // value not bytes
    encode([1, "", bytes("v"), 0, 0]), // empty key
    encode([1, 7, bytes("v"), 0, 0]), // key not a string
    encode([1, "a", bytes("v"), -1, 0]), // negative ifMatch
    encode([1, "a", bytes("v"), 1.5, 0]),
    encode([1, "a", bytes("v"), 0, 2]), // ifNoneMatch not 0/1
    encode([2, "a"]),
    encode([2, "a", "1"]),
    new Uint8Array([...encode([2, "a", 0]), 0x00]), // trailing byte
  ];
  for (const data of cases) {
    assert.throws(() => decodeCommand(data), InvalidCommandError, `${data}`);
  }
});

Deno.test("decodeCommand never throws anything but InvalidCommandError on random bytes", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const valid = encodeCommand({
        op: "put",
        key: "key",
        value: bytes("value"),
        ifMatch: 3,
      });
      for (let i = 0; i < 3000; i++) {
        let data: Uint8Array;
        if (i % 2 === 0) {
          data = valid.slice();
          data[rng.intn(data.length)] = rng.intn(256);
        } else {
          data = new Uint8Array(rng.intn(24));
          for (let j = 0; j < data.length; j++) data[j] = rng.intn(256);
        }
        try {
          decodeCommand(data);
        } catch (err) {
          assert.ok(err instanceof InvalidCommandError, `${data}: ${err}`);
        }
      }
    });
  }
});

/** The outcome of a decode: the command, or the error's class and message. */
function outcome(decode: () => Command): unknown {
  try {
    return decode();
  } catch (err) {
    return err instanceof Error ? [err.name, err.message] : String(err);
  }
}

Deno.test("decodeCommand's fast path agrees with the generic decoder on valid, mutated, truncated and extended bytes", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const keys = [
        "k",
        "key€",
        "x".repeat(31),
        "y".repeat(300),
        "z".repeat(4096),
        "\u{1F600}",
      ];
      const ints = [
        0,
        1,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2 ** 32 - 1,
        2 ** 32,
        2 ** 53 - 1,
      ];
      for (let i = 0; i < 4000; i++) {
        const key = keys[rng.intn(keys.length)]!;
        const ifMatch = ints[rng.intn(ints.length)] || undefined;
        const value = new Uint8Array([0, 255, 40000, 70000][rng.intn(4)]!);
        let data = rng.intn(3) === 0
          ? encodeCommand({ op: "delete", key, ifMatch })
          : encodeCommand({
            op: "put",
            key,
            value,
            ifMatch,
            ifNoneMatch: rng.intn(2) === 0,
          });
        const mutation = rng.intn(4);
        if (mutation === 1) {
          data = data.slice();
          data[rng.intn(Math.min(data.length, 12))] = rng.intn(256);
        } else if (mutation === 2) {
          data = data.slice(0, rng.intn(data.length));
        } else if (mutation === 3) {
          data = new Uint8Array([...data, rng.intn(256)]);
        }
        assert.deepEqual(
          outcome(() => decodeCommand(data)),
          outcome(() => decodeCommandGeneric(data)),
          `case ${i}`,
        );
      }
    });
  }
});
