import assert from "node:assert/strict";
import { Encoder } from "@msgpack/msgpack";
import {
  CodecError,
  decodeEntries,
  decodeEntry,
  decodeHardState,
  decodeMessages,
  decodeSnapshot,
  decodeSnapshotMarker,
  decodeSnapshotMeta,
  decodeStorageMetadata,
  encodeEntries,
  encodeEntry,
  encodeHardState,
  encodeMessageParts,
  encodeMessages,
  encodeSnapshot,
  encodeSnapshotMarker,
  encodeSnapshotMeta,
  encodeSnapshotParts,
  encodeStorageMetadata,
} from "../../raft/codec.ts";
import {
  type Entry,
  type Message,
  message,
  MESSAGE_TYPES,
  type Snapshot,
} from "../../raft/core/types.ts";
import { seeds, withSeed } from "../wal/helpers.ts";

const MAX = Number.MAX_SAFE_INTEGER;
const entry = (
  index: number,
  type: Entry["type"] = "normal",
  data = [index & 255],
): Entry => ({
  term: 3,
  index,
  type,
  data: new Uint8Array(data),
});
const snap: Snapshot = {
  meta: { index: 90, term: 4, conf: { voters: [1, 2, 3], learners: [7] } },
  data: new Uint8Array([1, 2, 3]),
};
const TYPES = MESSAGE_TYPES;

function messages(): Message[] {
  return TYPES.map((type, i) =>
    message({
      type,
      from: 1,
      to: 2 + i,
      term: MAX,
      logTerm: i,
      index: 100 + i,
      entries: i % 2 ? [entry(101), entry(102, "conf", [])] : [],
      commit: 99,
      reject: i % 3 === 0,
      rejectHint: i,
      rejectTerm: 2,
      context: i % 4 ? "" : `req-${i}`,
      ...(type === "snap" ? { snapshot: snap } : {}),
    })
  );
}

Deno.test("codec: every value round-trips exactly", () => {
  assert.deepEqual(decodeEntry(encodeEntry(entry(MAX))), entry(MAX));
  const ents = [entry(1), entry(2, "conf"), entry(3, "normal", [])];
  assert.deepEqual(decodeEntries(encodeEntries(ents)), ents);
  assert.deepEqual(decodeEntries(encodeEntries([])), []);
  const hs = { term: 5, vote: 2, commit: MAX };
  assert.deepEqual(decodeHardState(encodeHardState(hs)), hs);
  assert.deepEqual(
    decodeSnapshotMeta(encodeSnapshotMeta(snap.meta)),
    snap.meta,
  );
  assert.deepEqual(decodeSnapshot(encodeSnapshot(snap)), snap);
  assert.deepEqual(decodeMessages(encodeMessages(messages())), messages());
  const marker = { index: 9, term: 2, reset: true };
  assert.deepEqual(decodeSnapshotMarker(encodeSnapshotMarker(marker)), marker);
  const meta = { clusterId: "c-1", nodeId: 3 };
  assert.deepEqual(decodeStorageMetadata(encodeStorageMetadata(meta)), meta);
});

Deno.test("codec: decoded numbers are plain safe integers, never bigint", () => {
  const bigEncoder = new Encoder({ useBigInt64: true });
  for (const term of [2n ** 53n, 2n ** 63n - 1n, -1n]) {
    const bytes = bigEncoder.encode([term, 1, 0]);
    assert.throws(() => decodeHardState(bytes), CodecError, String(term));
  }
  const plain = new Encoder();
  for (const bad of [-1, 1.5, 2 ** 53, Infinity, NaN, "1", null, true]) {
    assert.throws(
      () => decodeHardState(plain.encode([bad, 0, 0])),
      CodecError,
      String(bad),
    );
  }
  const hs = decodeHardState(
    encodeHardState({ term: MAX, vote: 0, commit: 0 }),
  );
  assert.equal(typeof hs.term, "number");
});

Deno.test("codec: wrong shapes are refused with CodecError", () => {
  const enc = new Encoder();
  const cases: [string, () => unknown][] = [
    ["entry arity", () => decodeEntry(enc.encode([1, 2, 0]))],
    ["entry type", () => decodeEntry(enc.encode([1, 2, 2, new Uint8Array()]))],
    ["entry data", () => decodeEntry(enc.encode([1, 2, 0, "x"]))],
    ["entries not array", () => decodeEntries(enc.encode(5))],
    [
      "map instead of array",
      () => decodeHardState(enc.encode({ term: 1, vote: 0, commit: 0 })),
    ],
    ["voters", () => decodeSnapshotMeta(enc.encode([1, 1, [1, -2], []]))],
    ["snapshot data", () => decodeSnapshot(enc.encode([[1, 1, [], []], null]))],
    [
      "message type",
      () =>
        decodeMessages(
          enc.encode([[99, 1, 2, 0, 0, 0, [], 0, false, 0, 0, null, ""]]),
        ),
    ],
    [
      "message reject",
      () =>
        decodeMessages(
          enc.encode([[0, 1, 2, 0, 0, 0, [], 0, 0, 0, 0, null, ""]]),
        ),
    ],
    [
      "message context",
      () =>
        decodeMessages(
          enc.encode([[0, 1, 2, 0, 0, 0, [], 0, false, 0, 0, null, 5]]),
        ),
    ],
    [
      "message snapshot",
      () =>
        decodeMessages(
          enc.encode([[8, 1, 2, 0, 0, 0, [], 0, false, 0, 0, 7, ""]]),
        ),
    ],
    ["marker reset", () => decodeSnapshotMarker(enc.encode([1, 1, 1]))],
    ["metadata", () => decodeStorageMetadata(enc.encode([1, 1]))],
    [
      "trailing bytes",
      () =>
        decodeHardState(
          new Uint8Array([
            ...encodeHardState({ term: 1, vote: 1, commit: 1 }),
            0,
          ]),
        ),
    ],
    ["empty input", () => decodeEntries(new Uint8Array())],
    ["timestamp extension", () => decodeEntries(enc.encode([new Date(0)]))],
    [
      "huge array header",
      () => decodeEntries(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])),
    ],
  ];
  for (const [name, fn] of cases) {
    assert.throws(
      fn,
      (e) => e instanceof CodecError && e.code === "invalid_encoding",
      name,
    );
  }
});

Deno.test("codec: garbage and damaged encodings never throw anything but CodecError", async () => {
  const valid = [
    encodeMessages(messages()),
    encodeEntries([entry(1), entry(2)]),
    encodeSnapshot(snap),
  ];
  const decoders = [
    decodeMessages,
    decodeEntries,
    decodeSnapshot,
    decodeHardState,
    decodeSnapshotMarker,
  ];
  for (const seed of seeds(1, 300)) {
    await withSeed(seed, (rng) => {
      const buf = rng.chance(0.3)
        ? Uint8Array.from({ length: rng.intn(64) }, () => rng.intn(256))
        : valid[rng.intn(valid.length)]!.slice();
      for (let k = 1 + rng.intn(3); k > 0 && buf.length > 0; k--) {
        buf[rng.intn(buf.length)] = rng.intn(256);
      }
      for (const decode of decoders) {
        try {
          decode(buf);
        } catch (err) {
          assert.ok(err instanceof CodecError, `${decode.name} threw ${err}`);
        }
      }
    });
  }
});

Deno.test("codec: shared encoders hand out independent buffers", () => {
  const a = encodeEntries([entry(1)]);
  const copy = a.slice();
  encodeEntries([entry(2), entry(3)]);
  encodeHardState({ term: 9, vote: 9, commit: 9 });
  assert.deepEqual(a, copy);
});

Deno.test("codec: a snapshot's parts join to msgpack's bytes of the tuple, data not copied", () => {
  const plain = new Encoder();
  // 0, bin8, bin16 and bin32 headers.
  for (const size of [0, 1, 255, 256, 65535, 65536, 70000]) {
    const data = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 255);
    const s: Snapshot = { ...snap, data };
    const want = plain.encode([
      [s.meta.index, s.meta.term, s.meta.conf.voters, s.meta.conf.learners],
      data,
    ]);
    const [head, body] = encodeSnapshotParts(s);
    assert.equal(body, data, `size ${size}: data is passed through`);
    const joined = new Uint8Array(head.length + body.length);
    joined.set(head, 0);
    joined.set(body, head.length);
    assert.deepEqual(joined, want, `size ${size}`);
    assert.deepEqual(encodeSnapshot(s), want, `size ${size}`);
    assert.deepEqual(decodeSnapshot(joined), s, `size ${size}`);
  }
});

Deno.test("codec: a batch's parts join to its encoding, each snapshot's data a part of its own", () => {
  const batch = messages();
  const parts = encodeMessageParts(batch);
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  assert.deepEqual(joined, encodeMessages(batch));
  const snaps = batch.filter((m) => m.snapshot);
  assert.ok(snaps.length > 0);
  assert.equal(parts.length, 1 + 2 * snaps.length);
  for (const m of snaps) {
    assert.ok(parts.includes(m.snapshot!.data), "the data itself, not a copy");
  }
  assert.deepEqual(encodeMessageParts([]), [encodeMessages([])]);
});
