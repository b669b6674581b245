/**
 * A leader whose storage keeps only the newest snapshot's metadata in memory
 * (`snapshotDataInMemory: false`) still brings a new member up to date: the
 * node reads the snapshot's data back from its file before sending it.
 * Real RaftNodes, in-memory files, an in-memory network, manual ticks.
 */

import assert from "node:assert/strict";
import { encodeCommand } from "../../kv/mod.ts";
import type { Message } from "../../raft/mod.ts";
import { decodeSnapshot } from "../../raft/codec.ts";
import { MemCluster } from "./mem_cluster.ts";

const urlOf = (id: number) => `http://127.0.0.1:${42000 + id}`;

Deno.test("a leader keeping snapshot metadata only sends the snapshot's data read from its file", async () => {
  const snapsSent: Message[] = [];
  const c = await MemCluster.start({
    urlOf,
    storage: { catchUpEntries: 0, snapshotDataInMemory: false },
    // Every 5 entries, however small the log is next to the snapshot.
    node: { snapshotEntries: 5, snapshotLogPercent: 1 },
    delivered: (m, sender) => {
      if (m.type !== "snap") return;
      snapsSent.push(m);
      sender.reportSnapshot(m.to, true);
    },
  });
  const { stores, until } = c;
  try {
    const leader = await c.leader();
    const value = new TextEncoder().encode("v");
    for (let i = 0; i < 20; i++) {
      const p = leader.propose(
        encodeCommand({ op: "put", key: `k${i}`, value }),
      );
      await until(() => true, "a turn");
      await p;
    }
    const leaderStorage = c.storages.get(leader.id)!;
    await until(
      () => leaderStorage.snapshot().meta.index >= 20,
      "the leader snapshots",
    );
    assert.equal(leaderStorage.snapshot().data.length, 0, "metadata only");

    await leader.addMember(4, urlOf(4), "learner");
    await c.add(4, true);
    await until(
      () => stores.get(4)!.get("k19") !== undefined,
      "the new member has the data",
    );
    assert.ok(snapsSent.length > 0, "the new member got a snapshot");
    assert.ok(snapsSent.every((m) => m.snapshot!.data.length > 0));
    assert.ok(stores.get(4)!.get("k0") !== undefined);
  } finally {
    await c.close();
  }
});

Deno.test("a snapshot streamed from its file: a damaged read fails the send, which is retried and then lands", async () => {
  const PIECE = 1024;
  const attempts: { ok: boolean; maxRead: number }[] = [];
  let damage: (() => Promise<() => Promise<void>>) | undefined;
  let repair: (() => Promise<void>) | undefined;
  const c = await MemCluster.start({
    urlOf,
    storage: { catchUpEntries: 0, snapshotDataInMemory: false },
    node: { snapshotEntries: 5, snapshotLogPercent: 1 },
    sendSnapshot: (m, stream, sender, deliver) => {
      void (async () => {
        // As the peer transport does: one piece in memory at a time (here
        // they are kept to rebuild the message; the reads are what count).
        const pieces: Uint8Array[] = [];
        let maxRead = 0;
        try {
          if (attempts.length === 0 && damage) repair = await damage();
          for (let at = 0; at < stream.byteLength; at += PIECE) {
            const piece = new Uint8Array(
              Math.min(PIECE, stream.byteLength - at),
            );
            await stream.readNext(piece);
            maxRead = Math.max(maxRead, piece.length);
            pieces.push(piece);
          }
        } catch {
          stream.close();
          attempts.push({ ok: false, maxRead });
          await repair?.();
          sender.reportSnapshot(m.to, false);
          return;
        }
        stream.close();
        attempts.push({ ok: true, maxRead });
        const whole = new Uint8Array(stream.byteLength);
        let at = 0;
        for (const p of pieces) {
          whole.set(p, at);
          at += p.length;
        }
        deliver({ ...m, snapshot: decodeSnapshot(whole) });
        sender.reportSnapshot(m.to, true);
      })();
    },
  });
  const { stores, until } = c;
  try {
    const leader = await c.leader();
    const value = new Uint8Array(300).fill(7);
    for (let i = 0; i < 40; i++) {
      const p = leader.propose(
        encodeCommand({ op: "put", key: `k${i}`, value }),
      );
      await until(() => true, "a turn");
      await p;
    }
    const leaderStorage = c.storages.get(leader.id)!;
    await until(
      () => leaderStorage.snapshot().meta.index >= 40,
      "the leader snapshots",
    );
    // The first send finds the file damaged (one flipped byte in its data);
    // it is repaired once that send has failed.
    const fs = c.fs.get(leader.id)!;
    damage = async () => {
      const dir = `/n${leader.id}/snap`;
      const names = (await fs.readDir(dir)).filter((n) => n.endsWith(".snap"))
        .sort();
      const path = `${dir}/${names.at(-1)}`;
      const file = await fs.open(path, { write: true });
      const at = 16 + 2000;
      const b = new Uint8Array(1);
      await file.read(b, at);
      await file.write(new Uint8Array([b[0]! ^ 0xff]), at);
      file.close();
      return async () => {
        const f = await fs.open(path, { write: true });
        await f.write(b, at);
        f.close();
      };
    };

    await leader.addMember(4, urlOf(4), "learner");
    await c.add(4, true);
    await until(
      () => stores.get(4)!.get("k39") !== undefined,
      "the new member has the data",
    );
    assert.equal(attempts[0]?.ok, false, "the damaged send failed");
    assert.ok(attempts.some((a) => a.ok), "a later send succeeded");
    assert.ok(attempts.every((a) => a.maxRead <= PIECE));
    assert.deepEqual(stores.get(4)!.get("k0")?.value, value);
  } finally {
    await c.close();
  }
});
