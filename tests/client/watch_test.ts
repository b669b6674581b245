/**
 * The client's watch over scripted answers: the SSE reader (split chunks,
 * CRLF, comments), resuming with `Last-Event-ID` on the other endpoint
 * after a stream ends, `event: cancelled` and `410 compacted` as typed
 * errors with the index to go on from. (Against real nodes:
 * tests/e2e/cli_coord_test.ts and tests/client/client_test.ts.)
 */

import assert from "node:assert/strict";
import {
  CompactedError,
  RaftKvClient,
  WatchCancelledError,
} from "../../client/mod.ts";
import { readSse } from "../../client/sse.ts";

const A = "http://a.test:1";
const B = "http://b.test:1";

/** A body that sends `chunks` one by one, then ends. */
function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(encoder.encode(next));
    },
  });
}

function stream(chunks: string[]): Response {
  return new Response(body(chunks), {
    headers: { "content-type": "text/event-stream" },
  });
}

/** A recorded request: its origin, query and Last-Event-ID. */
interface Seen {
  origin: string;
  query: string;
  lastEventId: string | null;
}

function scripted(script: (() => Response)[], seen: Seen[]) {
  return (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    seen.push({
      origin: url.origin,
      query: url.search,
      lastEventId: new Headers(init?.headers).get("last-event-id"),
    });
    const next = script.shift();
    if (!next) throw new Error("unexpected request");
    return Promise.resolve(next());
  };
}

const change = (index: number, key: string, value: string) =>
  `id: ${index}\ndata: ${
    JSON.stringify({
      index,
      events: [{
        type: "put",
        key,
        value,
        createIndex: index,
        modIndex: index,
        version: 1,
      }],
    })
  }\n\n`;

Deno.test("readSse joins split chunks, takes CRLF and skips comments", async () => {
  const events = [];
  for await (
    const ev of readSse(
      body([
        ": hello\r\nid: 4",
        '\r\ndata: {"a"\r',
        "\ndata: :1}\r\n\r\nevent: progress\nid: 5\ndata: {}\n\n",
        "id: 6\ndata: cut off",
      ]),
    )
  ) events.push(ev);
  assert.deepEqual(events, [
    { event: "message", id: "4", data: '{"a"\n:1}' },
    { event: "progress", id: "5", data: "{}" },
  ]);
});

Deno.test("a watch resumes on the other endpoint with Last-Event-ID", async () => {
  const seen: Seen[] = [];
  const kv = new RaftKvClient({
    endpoints: [A, B],
    fetch: scripted([
      () =>
        stream([
          'event: progress\nid: 9\ndata: {"index":9}\n\n',
          change(10, "k", "1"),
        ]),
      () => stream([change(11, "k", "2"), change(12, "k", "3")]),
    ], seen),
  });
  const got = [];
  for await (const msg of kv.watch({ key: "k" }, { progress: true })) {
    got.push([msg.index, msg.progress ?? false]);
    if (got.length === 4) break;
  }
  assert.deepEqual(got, [[9, true], [10, false], [11, false], [12, false]]);
  assert.deepEqual(seen, [
    { origin: A, query: "?key=k", lastEventId: null },
    { origin: B, query: "?key=k", lastEventId: "10" },
  ]);
});

Deno.test("cancelled and 410 compacted end a watch with where to go on", async () => {
  const seen: Seen[] = [];
  const kv = new RaftKvClient({
    endpoints: [A],
    fetch: scripted([
      () =>
        stream([
          change(5, "p/a", "x"),
          'event: cancelled\ndata: {"reason":"slow","resume":6}\n\n',
        ]),
      () =>
        new Response(
          JSON.stringify({
            error: { code: "compacted", message: "gone", compactIndex: 40 },
          }),
          { status: 410, headers: { "content-type": "application/json" } },
        ),
    ], seen),
  });
  const got: number[] = [];
  const cancelled = await (async () => {
    for await (const msg of kv.watch({ prefix: "p/" }, { from: 5 })) {
      got.push(msg.index);
    }
  })().catch((e) => e);
  assert.ok(cancelled instanceof WatchCancelledError, String(cancelled));
  assert.equal(cancelled.reason, "slow");
  assert.equal(cancelled.resume, 6);
  assert.deepEqual(got, [5]);
  const compacted = await kv.watch({ prefix: "p/" }, { from: 6 }).next()
    .catch((e) => e);
  assert.ok(compacted instanceof CompactedError, String(compacted));
  assert.equal(compacted.compactIndex, 40);
  assert.equal(compacted.status, 410);
  assert.deepEqual(seen.map((s) => s.query), [
    "?prefix=p%2F&from=5",
    "?prefix=p%2F&from=6",
  ]);
});
