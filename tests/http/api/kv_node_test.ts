import assert from "node:assert/strict";
import { KvNode } from "../../../http/api/kv_node.ts";
import {
  encodeCommand,
  KvStore,
  LeaseNotFoundError,
  WatchHub,
} from "../../../kv/mod.ts";
import type { RaftNode } from "../../../raft/mod.ts";

/** Whether `p` has settled, after the microtasks already queued ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => done = true, () => done = true);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  return done;
}

/**
 * A KvNode over a stub leader of term 2 whose log never commits a revoke
 * (its followers are slow): each proposal's wait times out (1 ms), its
 * entry stays in the log. Lease 1 (ttl 2 s) has expired and its revoke has
 * timed out (504) by the time this returns.
 */
async function timedOutRevoke() {
  const store = new KvStore();
  let now = 0;
  const proposals: Promise<unknown>[] = [];
  const leader = {
    recovering: () => false,
    status: () => ({ role: "leader", term: 2, leader: 1 }),
    readBarrier: () => Promise.resolve(),
    propose: (_data: Uint8Array, signal: AbortSignal) => {
      const p = new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
      proposals.push(p.catch(() => {}));
      return p;
    },
  };
  const node = new KvNode({
    store,
    watches: new WatchHub(store),
    // Only what keepalive and the expiry use (the stub above).
    node: () => leader as unknown as RaftNode,
    wal: () => undefined,
    decodeMessages: () => [],
    revokeTimeoutMs: 1,
    now: () => now,
  });
  node.expiry.tick(); // takes office in term 2
  store.apply(1, encodeCommand({ op: "lease_grant", ttl: 2 })); // lease 1, from 0
  now = 2_000;
  node.expiry.tick(); // due: the revoke of term 2 is proposed
  assert.equal(proposals.length, 1);
  await proposals[0]; // ... and its wait timed out
  return { store, node, proposals };
}

Deno.test("keepalive: a revoke whose proposal timed out on a leader that still leads holds the keepalive until it applies; then 404, never a 200 it could follow", async () => {
  const { store, node, proposals } = await timedOutRevoke();
  const keepalive = node.keepalive(1, new AbortController().signal);
  assert.equal(
    await settled(keepalive),
    false,
    "no answer while it may commit",
  );
  // The revoke commits after all and applies: the keepalive learns it.
  store.apply(2, encodeCommand({ op: "lease_revoke", id: 1, term: 2 }), 2);
  await assert.rejects(keepalive, LeaseNotFoundError);
  assert.equal(proposals.length, 1, "not decided twice");
});

Deno.test("keepalive: while a timed-out revoke is in flight, the keepalive's own deadline still ends it", async () => {
  const { store, node } = await timedOutRevoke();
  const deadline = new AbortController();
  const keepalive = node.keepalive(1, deadline.signal);
  const reason = new Error("deadline");
  deadline.abort(reason);
  await assert.rejects(keepalive, (e) => e === reason);
  assert.ok(store.leases.has(1), "nothing applied");
});
