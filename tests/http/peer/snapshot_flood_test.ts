/**
 * A flood of snapshot chunks (the recipe: offset-0 chunks
 * announcing 1 GiB from 200 made-up sender ids, plus chunks naming a real
 * peer) against the app with its peer checks: nothing of them is kept (the
 * receiver's reserved bytes, in `/metrics`, stay within
 * `--max-snapshot-bytes`), and the leader's real transfer, sent in between,
 * completes.
 */

import assert from "node:assert/strict";
import {
  CHUNK_HEADERS,
  chunkBody,
} from "../../../http/peer/snapshot_chunks.ts";
import {
  PEER_HEADERS,
  type PeerDirectory,
  type PeerStanding,
} from "../../../http/peer/peer_guard.ts";
import { Registry } from "../../../raft/mod.ts";
import { errorOf, RAFT_BATCH_MAGIC, setup } from "../fake_node.ts";

const CLUSTER = "0123456789abcdef";
const GIB = 1024 * 1024 * 1024;
const MAX = 1024 * 1024;

/** Members 1 (this node), 2 (the leader) and 3. */
class Directory implements PeerDirectory {
  leaderId = 2;
  ready(): boolean {
    return true;
  }
  recovering(): boolean {
    return false;
  }
  selfId(): number {
    return 1;
  }
  clusterId(): string {
    return CLUSTER;
  }
  learnClusterId(): Promise<void> {
    return Promise.reject(new Error("not joining"));
  }
  standing(id: number): PeerStanding {
    return id >= 1 && id <= 3 ? "member" : "unknown";
  }
  leader(): number {
    return this.leaderId;
  }
}

function reserved(registry: Registry): number {
  const line = registry.render().split("\n").find((l) =>
    l.startsWith("raftkv_snapshot_receive_reserved_bytes ")
  );
  return Number(line?.split(" ")[1]);
}

Deno.test("snapshot flood: chunks of strangers, of a non-leader and over the bound are refused without being kept; the leader's transfer completes", async () => {
  const registry = new Registry();
  const { app, node } = setup({
    peers: new Directory(),
    metrics: registry,
    maxSnapshotBytes: MAX,
  });
  /** Sends one chunk as `sender` (headers), naming `chunkFrom`. */
  const chunk = (
    sender: number,
    chunkFrom: number,
    o: { transfer: string; offset: number; total: number; body?: Uint8Array },
  ) =>
    app.request("/raft", {
      method: "POST",
      headers: {
        [PEER_HEADERS.cluster]: CLUSTER,
        [PEER_HEADERS.from]: String(sender),
        [CHUNK_HEADERS.from]: String(chunkFrom),
        [CHUNK_HEADERS.transfer]: o.transfer,
        [CHUNK_HEADERS.offset]: String(o.offset),
        [CHUNK_HEADERS.total]: String(o.total),
        [CHUNK_HEADERS.crc]: "1",
      },
      body: (o.body ?? new Uint8Array(1024).fill(7)) as Uint8Array<ArrayBuffer>,
    });

  /** One round of the flood; returns the refusal codes seen. */
  const flood = async (round: number): Promise<string[]> => {
    const codes: string[] = [];
    const expect = async (res: Response, status: number) => {
      assert.equal(res.status, status);
      codes.push((await errorOf(res)).code);
    };
    // 200 made-up senders announcing 1 GiB each.
    for (let id = 4; id < 204; id++) {
      await expect(
        await chunk(id, id, { transfer: `f${round}`, offset: 0, total: GIB }),
        403,
      );
    }
    // A member that is not the leader.
    await expect(
      await chunk(3, 3, { transfer: `f${round}`, offset: 0, total: GIB }),
      403,
    );
    // A member naming the leader's transfer, to abort it.
    await expect(
      await chunk(3, 2, { transfer: "real", offset: 999, total: 5 }),
      403,
    );
    return codes;
  };

  // The leader itself cannot announce more than the bound.
  const over = await chunk(2, 2, { transfer: "big", offset: 0, total: GIB });
  assert.equal(over.status, 413);
  assert.equal((await errorOf(over)).code, "body_too_large");
  assert.equal(reserved(registry), 0);

  // The real transfer, a flood round before each of its chunks.
  const whole = new Uint8Array(300_000);
  for (let i = 0; i < whole.length; i++) whole[i] = (i * 31) & 0xff;
  whole[0] = RAFT_BATCH_MAGIC;
  const parts = chunkBody(whole, {
    from: 2,
    transfer: "real",
    chunkBytes: 64 * 1024,
  });
  assert.ok(parts.length >= 4);
  for (const [k, part] of parts.entries()) {
    const codes = await flood(k);
    assert.deepEqual(
      new Set(codes),
      new Set(["peer_unknown", "peer_not_leader", "peer_mismatch"]),
    );
    assert.ok(reserved(registry) <= MAX);
    assert.equal(reserved(registry), k === 0 ? 0 : whole.length);
    const res = await app.request("/raft", {
      method: "POST",
      headers: {
        ...part.headers,
        [PEER_HEADERS.cluster]: CLUSTER,
        [PEER_HEADERS.from]: "2",
      },
      body: part.body as Uint8Array<ArrayBuffer>,
    });
    assert.equal(res.status, 204);
  }
  assert.equal(node.received.length, 1);
  assert.deepEqual(node.received[0], whole);
  assert.equal(reserved(registry), 0);
});

Deno.test("snapshot flood: a transfer of a sender that is no longer the leader is dropped, freeing its bytes", async () => {
  const registry = new Registry();
  const dir = new Directory();
  const { app } = setup({
    peers: dir,
    metrics: registry,
    maxSnapshotBytes: MAX,
  });
  const headers = (from: number, transfer: string) => ({
    [PEER_HEADERS.cluster]: CLUSTER,
    [PEER_HEADERS.from]: String(from),
    [CHUNK_HEADERS.from]: String(from),
    [CHUNK_HEADERS.transfer]: transfer,
    [CHUNK_HEADERS.offset]: "0",
    [CHUNK_HEADERS.total]: String(MAX),
    [CHUNK_HEADERS.crc]: "1",
  });
  const first = await app.request("/raft", {
    method: "POST",
    headers: headers(2, "a"),
    body: new Uint8Array(1024),
  });
  assert.equal(first.status, 204);
  assert.equal(reserved(registry), MAX);
  // Node 3 leads now: its transfer of the whole bound fits.
  dir.leaderId = 3;
  const second = await app.request("/raft", {
    method: "POST",
    headers: headers(3, "b"),
    body: new Uint8Array(1024),
  });
  assert.equal(second.status, 204);
  assert.equal(reserved(registry), MAX);
});
