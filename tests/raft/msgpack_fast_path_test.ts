import assert from "node:assert/strict";
import { decode, Encoder } from "@msgpack/msgpack";
import { MsgpackWriter } from "../../raft/msgpack_writer.ts";
import {
  CodecError,
  decodeMessages,
  encodeEntries,
  encodeMessages,
} from "../../raft/codec.ts";
import { type Entry, message, MESSAGE_TYPES } from "../../raft/core/types.ts";

const encoder = new Encoder();

/** Writes with `write` and returns the bytes. */
function written(write: (w: MsgpackWriter) => void, w = new MsgpackWriter(8)) {
  w.reset();
  write(w);
  return w.finish();
}

Deno.test("msgpack writer: the Encoder's bytes at every size boundary", () => {
  const w = new MsgpackWriter(8); // tiny: every case below also grows it
  const uints = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000];
  for (const v of [...uints, 0xffff_ffff, 0x1_0000_0000, 2 ** 53 - 1]) {
    assert.deepEqual(written((x) => x.uint(v), w), encoder.encode(v), `${v}`);
  }
  for (const n of [0, 15, 16, 0xffff, 0x10000]) {
    const items = new Array<number>(n).fill(1);
    const bytes = written((x) => {
      x.arrayHeader(n);
      for (let i = 0; i < n; i++) x.uint(1);
    }, w);
    assert.deepEqual(bytes, encoder.encode(items), `array of ${n}`);
  }
  for (const n of [0, 31, 32, 0xff, 0x100, 0xffff, 0x10000]) {
    const s = "é".repeat(n >> 1) + "a".repeat(n & 1);
    assert.deepEqual(
      written((x) => x.str(s), w),
      encoder.encode(s),
      `str ${n}`,
    );
    const b = new Uint8Array(n).fill(7);
    assert.deepEqual(
      written((x) => x.bin(b), w),
      encoder.encode(b),
      `bin ${n}`,
    );
  }
  assert.deepEqual(written((x) => x.bool(true), w), encoder.encode(true));
  assert.deepEqual(written((x) => x.bool(false), w), encoder.encode(false));
  assert.deepEqual(written((x) => x.nil(), w), encoder.encode(null));
  assert.deepEqual(
    written((x) => {
      x.arrayHeader(2);
      x.encoded(encoder.encode([1, "x"]));
      x.uint(3);
    }, w),
    encoder.encode([[1, "x"], 3]),
  );
});

Deno.test("msgpack writer: refuses numbers that are not non-negative safe integers", () => {
  const w = new MsgpackWriter();
  for (const v of [-1, 1.5, 2 ** 53, NaN, Infinity]) {
    assert.throws(() => w.uint(v), RangeError, String(v));
  }
});

Deno.test("codec: messages and entry batches encode as the Encoder encodes their tuples", () => {
  const entry = (index: number, type: Entry["type"], n: number): Entry => ({
    term: 2 ** 40,
    index,
    type,
    data: new Uint8Array(n).fill(index & 255),
  });
  const ents = [
    entry(1, "normal", 0),
    entry(300, "conf", 300),
    entry(70000, "normal", 70000),
  ];
  const tuple = (
    e: Entry,
  ) => [e.term, e.index, e.type === "conf" ? 1 : 0, e.data];
  assert.deepEqual(encodeEntries(ents), encoder.encode(ents.map(tuple)));
  const snapshot = {
    meta: { index: 9, term: 2, conf: { voters: [1, 2], learners: [] } },
    data: new Uint8Array([1, 2, 3]),
  };
  const msgs = MESSAGE_TYPES.map((type, i) =>
    message({
      type,
      from: 1,
      to: 2,
      term: 5 + i,
      logTerm: 4,
      index: 1000 * i,
      entries: i % 2 ? ents : [],
      commit: 99,
      reject: i % 3 === 0,
      rejectHint: i,
      rejectTerm: 1,
      context: i % 4 ? "" : `read:${i}`.repeat(i),
      ...(type === "snap" ? { snapshot } : {}),
    })
  );
  const expected = encoder.encode(msgs.map((m) => [
    MESSAGE_TYPES.indexOf(m.type),
    m.from,
    m.to,
    m.term,
    m.logTerm,
    m.index,
    m.entries.map(tuple),
    m.commit,
    m.reject,
    m.rejectHint,
    m.rejectTerm,
    m.snapshot ? [[9, 2, [1, 2], []], m.snapshot.data] : null,
    m.context,
  ]));
  assert.deepEqual(encodeMessages(msgs), expected);
  assert.equal((decode(encodeMessages(msgs)) as unknown[]).length, msgs.length);
});

Deno.test("codec: batches the fast reader leaves to the general decoder decode the same", () => {
  const base = {
    from: 1,
    to: 2,
    term: 7,
    entries: [{
      term: 7,
      index: 2 ** 40,
      type: "normal" as const,
      data: new Uint8Array([1, 2]),
    }],
  };
  const msgs = [
    message({ type: "app", ...base, context: "ascii" }),
    message({ type: "heartbeat", ...base, context: "größe ✓" }),
  ];
  for (const batch of [msgs.slice(0, 1), msgs, msgs.slice(1)]) {
    assert.deepEqual(decodeMessages(encodeMessages(batch)), batch);
  }
  // The same batch with its integers in wider formats than needed (valid
  // msgpack the fast reader does not take) and with a trailing byte.
  const wide = encodeMessages(msgs.slice(0, 1));
  assert.throws(
    () => decodeMessages(Uint8Array.of(...wide, 0)),
    CodecError,
  );
  const widened = Uint8Array.of(
    wide[0]!,
    wide[1]!,
    0xd0,
    wide[2]!,
    ...wide.subarray(3),
  );
  assert.deepEqual(decodeMessages(widened), msgs.slice(0, 1));
});
