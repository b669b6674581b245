/**
 * A snapshot streamed from its file (`PeerTransport.sendSnapshot`): read one
 * chunk at a time as the chunks leave, never whole; the receiving app
 * rebuilds exactly the message of the snapshot; a damaged file or a crash
 * mid-send fails the transfer before its last chunk, reports the snapshot
 * lost, and closes the file.
 */

import assert from "node:assert/strict";
import {
  decodeMessages,
  encodeMessageParts,
  encodeMessages,
  encodeSnapshot,
} from "../../../raft/codec.ts";
import { PeerTransport } from "../../../http/peer/peer_transport.ts";
import { CHUNK_HEADERS } from "../../../http/peer/snapshot_chunks.ts";
import {
  type Message,
  message,
  type Snapshot,
  type SnapshotStream,
} from "../../../raft/mod.ts";
import { MemFs } from "../../../wal/mem_fs.ts";
import { SnapshotFiles } from "../../../wal/snapshot_file.ts";
import type { FsFile } from "../../../wal/fs.ts";
import { setup } from "../fake_node.ts";

const CHUNK = 4096;
const DIR = "/snap";

function snapshotOf(bytes: number): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 13 + 5) & 0xff;
  return {
    meta: { index: 40, term: 3, conf: { voters: [1, 2, 3], learners: [] } },
    data,
  };
}

/** The "snap" message without its data, as the node hands it out. */
function snapMessage(s: Snapshot): Message {
  return message({
    type: "snap",
    from: 1,
    to: 2,
    term: 3,
    snapshot: { meta: s.meta, data: new Uint8Array(0) },
  });
}

/** A MemFs that counts what is read through open files, and whole-file reads. */
class CountingFs extends MemFs {
  reads: number[] = [];
  readFiles = 0;
  override async open(
    path: string,
    options?: Parameters<MemFs["open"]>[1],
  ): Promise<FsFile> {
    const file = await super.open(path, options);
    const reads = this.reads;
    return {
      read: async (buf, position) => {
        const n = await file.read(buf, position);
        reads.push(n);
        return n;
      },
      write: (d, p) => file.write(d, p),
      truncate: (n) => file.truncate(n),
      syncData: () => file.syncData(),
      sync: () => file.sync(),
      size: () => file.size(),
      close: () => file.close(),
    };
  }
  override readFile(path: string): Promise<Uint8Array> {
    this.readFiles++;
    return super.readFile(path);
  }
  get bytesRead(): number {
    return this.reads.reduce((a, b) => a + b, 0);
  }
}

/** Writes `s`'s file and opens it as a stream; the fs counts from then on. */
async function streamOf(
  fs: CountingFs,
  s: Snapshot,
): Promise<{ stream: SnapshotStream; path: string; closed: () => boolean }> {
  const files = await SnapshotFiles.open(fs, DIR);
  const name = await files.save(s.meta.term, s.meta.index, encodeSnapshot(s));
  fs.reads = [];
  const reader = (await files.openReader(name))!;
  let closed = false;
  return {
    path: files.path(name),
    closed: () => closed,
    stream: {
      meta: s.meta,
      byteLength: reader.byteLength,
      crc: reader.crc,
      readNext: (into) => reader.readNext(into),
      close() {
        closed = true;
        reader.close();
      },
    },
  };
}

interface Sent {
  headers: Headers;
  body: Uint8Array;
  /** File bytes read when this request went out. */
  readSoFar: number;
}

function transport(
  fs: CountingFs,
  post: (req: Sent) => Response | Promise<Response>,
  reported: boolean[],
  sent: Sent[],
): PeerTransport {
  return new PeerTransport({
    urlOf: () => "http://peer.invalid",
    encode: encodeMessages,
    encodeParts: encodeMessageParts,
    listener: {
      reportUnreachable() {},
      reportSnapshot: (_id, ok) => void reported.push(ok),
      removedByPeer() {},
    },
    stream: false,
    snapshotChunkBytes: CHUNK,
    fetch: async (_url, init) => {
      const req = {
        headers: new Headers(init!.headers),
        body: new Uint8Array(init!.body as Uint8Array),
        readSoFar: fs.bytesRead,
      };
      sent.push(req);
      return await post(req);
    },
  });
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("a snapshot streamed from its file is read a chunk at a time and rebuilt exactly", async () => {
  const { app, node } = setup({ snapshotChunkBytes: CHUNK });
  node.receiveRaft = (b) => void node.received.push(b);
  const fs = new CountingFs();
  const s = snapshotOf(100_000);
  const { stream, closed } = await streamOf(fs, s);
  const reported: boolean[] = [];
  const sent: Sent[] = [];
  const t = transport(
    fs,
    (req) =>
      app.request("/raft", {
        method: "POST",
        headers: req.headers,
        body: req.body as Uint8Array<ArrayBuffer>,
      }),
    reported,
    sent,
  );
  const m = snapMessage(s);
  t.sendSnapshot(m, stream);
  await until(() => reported.length > 0);

  assert.deepEqual(reported, [true]);
  assert.ok(closed(), "the stream is closed");
  const full = { ...m, snapshot: s };
  assert.equal(node.received.length, 1);
  assert.deepEqual(node.received[0], encodeMessages([full]));
  assert.deepEqual(decodeMessages(node.received[0]!), [full]);
  assert.ok(sent.length >= 25, `${sent.length} chunks`);
  for (const r of sent) {
    assert.ok(r.body.length <= CHUNK);
    assert.ok(r.headers.has(CHUNK_HEADERS.transfer));
  }
  // Never whole: no read of more than a chunk, the file read once, and
  // when chunk k left, at most k+1 chunks (and the header) had been read.
  assert.equal(fs.readFiles, 0);
  assert.ok(Math.max(...fs.reads) <= CHUNK, `${Math.max(...fs.reads)}`);
  assert.equal(fs.bytesRead, 16 + encodeSnapshot(s).length);
  sent.forEach((r, k) => {
    assert.ok(
      r.readSoFar <= 16 + (k + 1) * CHUNK,
      `chunk ${k} sent after ${r.readSoFar} bytes read`,
    );
  });
});

Deno.test("a snapshot streamed from a damaged file fails before its last chunk", async () => {
  const fs = new CountingFs();
  const s = snapshotOf(30_000);
  const { stream, path, closed } = await streamOf(fs, s);
  // One byte in the middle of the data flipped after the file was written.
  const f = await fs.open(path, { write: true });
  const b = new Uint8Array(1);
  await f.read(b, 15_000);
  await f.write(new Uint8Array([b[0]! ^ 1]), 15_000);
  f.close();
  const reported: boolean[] = [];
  const sent: Sent[] = [];
  const t = transport(
    fs,
    () => Promise.resolve(new Response(null, { status: 204 })),
    reported,
    sent,
  );
  t.sendSnapshot(snapMessage(s), stream);
  await until(() => reported.length > 0);
  assert.deepEqual(reported, [false]);
  assert.ok(closed());
  const total = Number(sent[0]!.headers.get(CHUNK_HEADERS.total));
  assert.equal(sent.length, Math.ceil(total / CHUNK) - 1, "all but the last");
});

Deno.test("a crash of the leader's files mid-send fails the snapshot and closes the stream", async () => {
  const fs = new CountingFs();
  const s = snapshotOf(60_000);
  const { stream, closed } = await streamOf(fs, s);
  const reported: boolean[] = [];
  const sent: Sent[] = [];
  const t = transport(
    fs,
    (req) => {
      if (req === sent[2]) fs.crash({ intn: () => 0 });
      return Promise.resolve(new Response(null, { status: 204 }));
    },
    reported,
    sent,
  );
  t.sendSnapshot(snapMessage(s), stream);
  await until(() => reported.length > 0);
  assert.deepEqual(reported, [false]);
  assert.equal(sent.length, 3, "no chunk after the crash");
  assert.ok(closed());
});

Deno.test("a streamed snapshot within one chunk goes as one ordinary body", async () => {
  const fs = new CountingFs();
  const s = snapshotOf(1000);
  const { stream, closed } = await streamOf(fs, s);
  const reported: boolean[] = [];
  const sent: Sent[] = [];
  const t = transport(
    fs,
    () => new Response(null, { status: 204 }),
    reported,
    sent,
  );
  const m = snapMessage(s);
  t.sendSnapshot(m, stream);
  await until(() => reported.length > 0);
  assert.deepEqual(reported, [true]);
  assert.ok(closed());
  assert.equal(sent.length, 1);
  assert.ok(!sent[0]!.headers.has(CHUNK_HEADERS.transfer));
  assert.deepEqual(sent[0]!.body, encodeMessages([{ ...m, snapshot: s }]));
});
