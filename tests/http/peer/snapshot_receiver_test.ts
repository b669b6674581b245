/**
 * Chunked snapshot transfers on the receiving side: reassembly in order,
 * refusal and discarding of out-of-order, foreign or damaged chunks, a new
 * transfer replacing an aborted one, stale transfers dropped after their
 * timeout, and `POST /raft` handing the node the whole body only once it is
 * complete, with a per-request body limit of about one chunk.
 */

import assert from "node:assert/strict";
import {
  bodyCrc,
  chunkBody,
  type ChunkInfo,
  maxRaftBodyBytesFor,
} from "../../../http/peer/snapshot_chunks.ts";
import {
  chunkInfoOf,
  type ReceivedTransfer,
  SnapshotReceiver,
} from "../../../http/peer/snapshot_receiver.ts";
import { BadRequestError, PayloadTooLargeError } from "../../../http/errors.ts";
import { errorOf, RAFT_BATCH_MAGIC, setup } from "../fake_node.ts";

/** A body that starts like a message batch, `n` bytes of a pattern. */
function body(n: number, seed = 7): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  b[0] = RAFT_BATCH_MAGIC;
  return b;
}

/** The chunks of `whole` with their parsed headers. */
function chunks(
  whole: Uint8Array,
  chunkBytes: number,
  transfer = "t1",
  from = 1,
): {
  info: ChunkInfo;
  bytes: Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
}[] {
  return chunkBody(whole, { from, transfer, chunkBytes }).map((r) => ({
    info: chunkInfoOf(new Headers(r.headers))!,
    bytes: r.body as Uint8Array<ArrayBuffer>,
    headers: r.headers,
  }));
}

Deno.test("chunks in order reassemble to the exact body, only at the last one", async () => {
  const whole = body(10_000);
  const parts = chunks(whole, 3000);
  assert.equal(parts.length, 4);
  const rx = new SnapshotReceiver();
  for (const p of parts.slice(0, -1)) {
    assert.equal(await rx.accept(p.info, p.bytes), undefined);
  }
  assert.equal(rx.pending, 1);
  const last = parts.at(-1)!;
  assert.deepEqual(await rx.accept(last.info, last.bytes), whole);
  assert.equal(rx.pending, 0);
});

Deno.test("a chunk out of order is refused and discards the transfer", async () => {
  const parts = chunks(body(9000), 3000);
  const rx = new SnapshotReceiver();
  await rx.accept(parts[0]!.info, parts[0]!.bytes);
  await assert.rejects(
    () => rx.accept(parts[2]!.info, parts[2]!.bytes),
    BadRequestError,
  );
  assert.equal(rx.pending, 0);
  // The missing chunk arriving late cannot revive it.
  await assert.rejects(
    () => rx.accept(parts[1]!.info, parts[1]!.bytes),
    BadRequestError,
  );
  // A repeated chunk is out of order too.
  await rx.accept(parts[0]!.info, parts[0]!.bytes);
  await rx.accept(parts[1]!.info, parts[1]!.bytes);
  await assert.rejects(
    () => rx.accept(parts[1]!.info, parts[1]!.bytes),
    BadRequestError,
  );
  assert.equal(rx.pending, 0);
});

Deno.test("a new transfer from the same sender replaces an aborted one", async () => {
  const first = chunks(body(9000, 1), 3000, "old");
  const whole = body(7000, 2);
  const second = chunks(whole, 3000, "new");
  const rx = new SnapshotReceiver();
  await rx.accept(first[0]!.info, first[0]!.bytes);
  await rx.accept(first[1]!.info, first[1]!.bytes);
  // The sender gave up (timeout, lost connection) and starts over.
  await rx.accept(second[0]!.info, second[0]!.bytes);
  assert.equal(rx.pending, 1);
  // The old transfer's last chunk no longer fits anything.
  await assert.rejects(
    () => rx.accept(first[2]!.info, first[2]!.bytes),
    BadRequestError,
  );
  // ...and discarded the new one with it: the sender of both starts again.
  assert.equal(rx.pending, 0);
  let out: ReceivedTransfer | undefined;
  for (const p of second) out = await rx.accept(p.info, p.bytes);
  assert.deepEqual(out, whole);
});

Deno.test("transfers of different senders do not disturb each other", async () => {
  const a = body(5000, 3), b = body(4000, 4);
  const pa = chunks(a, 2000, "a", 1), pb = chunks(b, 2000, "b", 2);
  const rx = new SnapshotReceiver();
  const got: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    for (const p of [pa[i], pb[i]]) {
      if (!p) continue;
      const r = await rx.accept(p.info, p.bytes);
      if (r instanceof Uint8Array) got.push(r);
    }
  }
  assert.deepEqual(got, [b, a]);
});

Deno.test("a transfer silent for its timeout is dropped", async () => {
  let now = 1000;
  const rx = new SnapshotReceiver({ staleMs: 500, now: () => now });
  const parts = chunks(body(6000), 3000);
  await rx.accept(parts[0]!.info, parts[0]!.bytes);
  now += 499;
  rx.sweep();
  assert.equal(rx.pending, 1);
  now += 1;
  rx.sweep();
  assert.equal(rx.pending, 0);
  await assert.rejects(
    () => rx.accept(parts[1]!.info, parts[1]!.bytes),
    BadRequestError,
  );
});

Deno.test("a damaged body fails its CRC and is not handed on", async () => {
  const parts = chunks(body(6000), 3000);
  const rx = new SnapshotReceiver();
  await rx.accept(parts[0]!.info, parts[0]!.bytes);
  const bad = parts[1]!.bytes.slice();
  bad[10]! ^= 0xff;
  await assert.rejects(() => rx.accept(parts[1]!.info, bad), /CRC/);
  assert.equal(rx.pending, 0);
});

Deno.test("a transfer over the total limit is refused at its first chunk", async () => {
  const rx = new SnapshotReceiver({ maxTotalBytes: 5000 });
  const parts = chunks(body(6000), 3000);
  await assert.rejects(
    () => rx.accept(parts[0]!.info, parts[0]!.bytes),
    PayloadTooLargeError,
  );
  assert.equal(rx.pending, 0);
});

Deno.test("chunk headers are validated; without them a body is no chunk", () => {
  assert.equal(chunkInfoOf(new Headers()), undefined);
  const good =
    chunkBody(body(10), { from: 2, transfer: "x", chunkBytes: 4 })[0]!
      .headers;
  assert.deepEqual(chunkInfoOf(new Headers(good)), {
    from: 2,
    transfer: "x",
    offset: 0,
    total: 10,
    crc: bodyCrc(body(10)),
  });
  for (
    const [name, value] of [
      ["x-raft-transfer", "bad id!"],
      ["x-raft-from", "0"],
      ["x-raft-offset", "-1"],
      ["x-raft-total", "1e3"],
      ["x-raft-crc32", String(2 ** 32)],
    ]
  ) {
    const h = new Headers(good);
    h.set(name!, value!);
    assert.throws(() => chunkInfoOf(h), BadRequestError, `${name}=${value}`);
  }
});

Deno.test("POST /raft hands a chunked body to the node once, when complete", async () => {
  const { app, node } = setup({ snapshotChunkBytes: 4096 });
  const whole = body(20_000);
  const parts = chunks(whole, 4096, "snap-1", 3);
  for (const [i, p] of parts.entries()) {
    const res = await app.request("/raft", {
      method: "POST",
      headers: p.headers,
      body: p.bytes,
    });
    assert.equal(res.status, 204);
    assert.equal(node.received.length, i === parts.length - 1 ? 1 : 0);
  }
  assert.deepEqual(node.received[0], whole);
});

Deno.test("POST /raft refuses an out-of-order chunk and the node sees nothing", async () => {
  const { app, node } = setup({ snapshotChunkBytes: 4096 });
  const parts = chunks(body(20_000), 4096, "snap-2", 3);
  const post = (p: typeof parts[number]) =>
    app.request("/raft", { method: "POST", headers: p.headers, body: p.bytes });
  assert.equal((await post(parts[0]!)).status, 204);
  const res = await post(parts[2]!);
  assert.equal(res.status, 400);
  assert.equal((await errorOf(res)).code, "invalid_body");
  for (const p of parts.slice(3)) await (await post(p)).body?.cancel();
  assert.deepEqual(node.received, []);
});

Deno.test("the POST /raft body limit is about one chunk, not 64 MiB", async () => {
  const chunkBytes = 64 * 1024;
  const maxValueBytes = 1024;
  const limit = maxRaftBodyBytesFor(chunkBytes, maxValueBytes);
  assert.ok(limit < 2 * 1024 * 1024, `limit ${limit}`);
  const { app, node } = setup({
    snapshotChunkBytes: chunkBytes,
    maxValueBytes,
  });
  const over = await app.request("/raft", {
    method: "POST",
    body: body(limit + 1),
  });
  assert.equal(over.status, 413);
  assert.equal((await errorOf(over)).code, "body_too_large");
  const at = await app.request("/raft", { method: "POST", body: body(limit) });
  assert.equal(at.status, 204);
  assert.equal(node.received.length, 1);
});

Deno.test("a body in parts is cut into the same chunks as the joined body, views where a chunk lies within one part", () => {
  const whole = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
  const cuts = [0, 3, 3, 100, 512, 513, 999, 1000];
  const parts = cuts.slice(1).map((end, i) => whole.subarray(cuts[i]!, end));
  for (const chunkBytes of [1, 7, 64, 500, 1000, 4096]) {
    const o = { from: 2, transfer: "t", chunkBytes };
    const fromParts = chunkBody(parts, o);
    const fromWhole = chunkBody(whole, o);
    assert.deepEqual(
      fromParts.map((r) => [r.headers, [...r.body]]),
      fromWhole.map((r) => [r.headers, [...r.body]]),
      `chunks of ${chunkBytes}`,
    );
  }
  const big = new Uint8Array(10_000);
  const chunks = chunkBody([new Uint8Array(2), big, new Uint8Array(1)], {
    from: 2,
    transfer: "t",
    chunkBytes: 1000,
  });
  assert.equal(chunks[3]!.body.buffer, big.buffer, "a view of the large part");
});
