import assert from "node:assert/strict";
import type { ChangeBatch, WatchEvent } from "../../../kv/mod.ts";
import {
  encodeCancelled,
  encodeChange,
  encodeChangeBytes,
  encodeChangesBytes,
  encodeProgress,
} from "../../../http/api/sse.ts";
import { SseReader } from "../sse_reader.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** The events of `wire` as an EventSource would see them. */
async function parse(wire: string) {
  const reader = new SseReader(new Blob([wire]).stream());
  const out = [];
  for (let e = await reader.next(); e !== undefined; e = await reader.next()) {
    out.push(e);
  }
  return out;
}

Deno.test("a change message: id = index, one data line of the contract's JSON", () => {
  const wire = encodeChange({
    index: 43,
    events: [
      { type: "delete", key: "a", modIndex: 43 },
      {
        type: "put",
        key: "b",
        value: text("2"),
        createIndex: 43,
        modIndex: 43,
        version: 1,
        lease: 0,
      },
    ],
  });
  assert.equal(
    wire,
    'id: 43\ndata: {"index":43,"events":[{"type":"delete","key":"a","modIndex":43},{"type":"put","key":"b","value":"2","createIndex":43,"modIndex":43,"version":1}]}\n\n',
  );
});

Deno.test("values that are not UTF-8 travel as value64; lease and reason appear when set", async () => {
  const wire = encodeChange({
    index: 7,
    events: [
      {
        type: "put",
        key: "bin",
        value: new Uint8Array([0xff, 0x00]),
        createIndex: 5,
        modIndex: 7,
        version: 3,
        lease: 9,
      },
      { type: "delete", key: "gone", modIndex: 7, reason: "lease" },
    ],
  });
  const [e] = await parse(wire);
  assert.deepEqual(JSON.parse(e!.data).events, [
    {
      type: "put",
      key: "bin",
      value64: "/wA=",
      createIndex: 5,
      modIndex: 7,
      version: 3,
      lease: 9,
    },
    { type: "delete", key: "gone", modIndex: 7, reason: "lease" },
  ]);
});

Deno.test("line breaks in keys and values never break the event: the data stays one line", async () => {
  const key = "a\nb\r\nc\rd\u2028";
  const value = "data: x\n\nid: 9\n";
  const wire = encodeChange({
    index: 3,
    events: [{
      type: "put",
      key,
      value: text(value),
      createIndex: 3,
      modIndex: 3,
      version: 1,
      lease: 0,
    }],
  });
  const events = await parse(wire);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.id, "3");
  const put = JSON.parse(events[0]!.data).events[0];
  assert.equal(put.key, key);
  assert.equal(put.value, value);
  assert.equal(wire.split("\n").length, 4, "id, data, blank line");
});

Deno.test("progress carries an id; cancelled carries none, and the resume index", async () => {
  const events = await parse(
    encodeProgress(57) + encodeCancelled({ reason: "slow", resume: 58 }),
  );
  assert.deepEqual(events, [
    { event: "progress", id: "57", data: '{"index":57}' },
    { event: "cancelled", data: '{"reason":"slow","resume":58}' },
  ]);
});

Deno.test("several messages as one chunk: the same text, one buffer shared by the streams that take the same run", () => {
  const batch = (index: number) => ({
    index,
    events: [{ type: "delete" as const, key: `k${index}`, modIndex: index }],
  });
  const [b1, b2, b3] = [batch(1), batch(2), batch(3)];
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const run = encodeChangesBytes([b1, b2, b3]);
  assert.equal(
    decode(run),
    encodeChange(b1) + encodeChange(b2) + encodeChange(b3),
  );
  assert.equal(encodeChangesBytes([b1, b2, b3]), run, "shared, not copied");
  const other = encodeChangesBytes([b1, b3]);
  assert.equal(decode(other), encodeChange(b1) + encodeChange(b3));
  assert.equal(
    decode(encodeChangesBytes([b1, b2])),
    encodeChange(b1) + encodeChange(b2),
  );
  assert.equal(decode(encodeChangesBytes([b2])), encodeChange(b2));
});

Deno.test("a change's bytes are encodeChange's text as UTF-8, whatever its keys and values hold", () => {
  // Plain ASCII takes a direct path; anything JSON escapes, non-ASCII
  // text, invalid UTF-8 (value64) and a byte-order mark take the usual one.
  const samples = [
    "",
    "a",
    "w/000123",
    "x".repeat(300),
    "~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\x7f",
    'quote"d',
    "back\\slash",
    "line\nbreak\ttab\r\u0001\u001f",
    "caf\u00e9",
    "\u{1f600}",
    "\u2028",
    "\u0080",
    "\ufeffbom",
  ];
  const values: Uint8Array[] = [
    ...samples.map(text),
    new Uint8Array([0xff, 0x00, 0x41]),
    new Uint8Array([0xc3]),
    new Uint8Array([0x41, 0x80]),
    new Uint8Array([0x7f, 0x20, 0x7e]),
  ];
  const keys = samples.filter((k) => k !== "");
  let index = 100;
  const batches: ChangeBatch[] = [];
  for (const key of keys) {
    for (const value of values) {
      for (const lease of [0, 7]) {
        const put: WatchEvent = {
          type: "put",
          key,
          value,
          createIndex: 3,
          modIndex: ++index,
          version: 12,
          lease,
        };
        batches.push({ index, events: [put] });
      }
    }
    batches.push({
      index: ++index,
      events: [{ type: "delete", key, modIndex: index }],
    });
    batches.push({
      index: ++index,
      events: [
        { type: "delete", key, modIndex: index, reason: "lease" },
        {
          type: "put",
          key: "plain",
          value: text("v"),
          createIndex: index,
          modIndex: index,
          version: 1,
          lease: 9,
        },
        {
          type: "put",
          key,
          value: text("w"),
          createIndex: 1,
          modIndex: index,
          version: 2,
          lease: 0,
        },
      ],
    });
  }
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (const batch of batches) {
    assert.equal(
      decoder.decode(encodeChangeBytes(batch)),
      encodeChange(batch),
      JSON.stringify(batch.events.map((e) => e.key)),
    );
  }
});
