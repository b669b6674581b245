import assert from "node:assert/strict";
import {
  type Leadership,
  LeaseExpiry,
  type RevokeOutcome,
} from "../../raft/lease_expiry.ts";

/** A LeaseExpiry over a fake clock and leadership; proposals are recorded. */
function harness() {
  const h = {
    now: 0,
    role: { leader: true, term: 2 } as Leadership,
    proposed: [] as [number, number][],
    /** Ends the oldest proposal's wait: `"settled"` unless told. */
    settle: [] as ((outcome?: RevokeOutcome) => void)[],
    expiry: undefined as unknown as LeaseExpiry,
  };
  h.expiry = new LeaseExpiry({
    now: () => h.now,
    leadership: () => h.role,
    propose: (id, term) => {
      h.proposed.push([id, term]);
      return new Promise<RevokeOutcome>((resolve) =>
        h.settle.push((outcome = "settled") => resolve(outcome))
      );
    },
  });
  return h;
}

Deno.test("the leader proposes a revoke, decided in its term, once the ttl has passed since the grant", () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 9_999;
  h.expiry.tick();
  assert.deepEqual(h.proposed, []);
  h.now = 10_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2]]);
  // Not proposed twice while the first is pending.
  h.now = 10_500;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2]]);
  assert.ok(h.expiry.pendingRevoke(5));
});

Deno.test("a keepalive restarts the countdown in full; a revoked lease is forgotten", () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.expiry.granted({ id: 6, ttl: 10 });
  h.now = 8_000;
  assert.equal(h.expiry.renew(5), 2);
  assert.equal(h.expiry.remainingMs(5), 10_000);
  h.expiry.revoked(6);
  assert.equal(h.expiry.renew(6), undefined, "unknown lease");
  h.now = 17_999;
  h.expiry.tick();
  assert.deepEqual(h.proposed, []);
  h.now = 18_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2]]);
});

Deno.test("a follower counts nothing and decides nothing; a new leader restarts every countdown in full", () => {
  const h = harness();
  h.role = { leader: false, term: 2 };
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 60_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, []);
  assert.equal(h.expiry.renew(5), undefined);
  assert.equal(h.expiry.remainingMs(5), undefined);
  assert.equal(h.expiry.term, 0);
  // Elected at 60 s: the lease (granted long ago) gets its full ttl again.
  h.role = { leader: true, term: 3 };
  h.expiry.tick();
  assert.equal(h.expiry.remainingMs(5), 10_000);
  h.now = 69_999;
  h.expiry.tick();
  assert.deepEqual(h.proposed, []);
  h.now = 70_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 3]]);
});

Deno.test("losing office drops every countdown; taking office again in a later term starts them over", () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 9_000;
  h.role = { leader: false, term: 3 };
  h.expiry.tick();
  h.now = 30_000;
  h.role = { leader: true, term: 4 };
  h.expiry.tick();
  assert.deepEqual(h.proposed, []);
  assert.equal(h.expiry.remainingMs(5), 10_000);
});

Deno.test("a paused leader that resumes in the same view decides with its old term: the revoke carries the term that makes it checkable", () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  // Paused for a minute; on resuming it still believes it leads term 2.
  h.now = 60_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2]]);
  // The state machine applies [5, 2] only in an entry of term 2
  // (tests/kv/lease_test.ts): a leader of term 3 would have committed
  // its own entry first, so the copy is a no-op.
});

Deno.test("a revoke that did not apply is decided again while the lease is still due", async () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 10_000;
  h.expiry.tick();
  h.settle.shift()!();
  await h.expiry.pendingRevoke(5);
  assert.equal(h.expiry.pendingRevoke(5), undefined);
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2], [5, 2]]);
});

Deno.test("restored replaces the table: while leading, every lease counts from the restore", () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 5_000;
  h.expiry.restored([{ id: 7, ttl: 3 }]);
  assert.equal(h.expiry.remainingMs(5), undefined);
  assert.equal(h.expiry.remainingMs(7), 3_000);
  h.now = 8_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[7, 2]]);
});

/** Whether `p` has settled, after the microtasks already queued ran. */
async function settled(p: Promise<void> | undefined): Promise<boolean> {
  if (p === undefined) return true;
  let done = false;
  p.then(() => done = true);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

Deno.test("a revoke whose proposal timed out while this node still leads stays in flight until it applies: no keepalive slips in before it", async () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.now = 10_000;
  h.expiry.tick();
  const inFlight = h.expiry.pendingRevoke(5);
  assert.ok(inFlight);
  // The wait for the proposal ran out (504): the entry is in this
  // leader's log, term 2, and may commit at any moment.
  h.settle.shift()!("unknown");
  assert.equal(await settled(inFlight), false, "still in flight");
  assert.equal(h.expiry.pendingRevoke(5), inFlight);
  // Not decided again (the first copy can still commit), and a keepalive
  // that looks now is told to wait (kv_node.ts awaits pendingRevoke).
  h.now = 12_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2]]);
  assert.equal(h.expiry.renew(5), 2);
  assert.ok(h.expiry.pendingRevoke(5), "renewing does not end it");
  // The entry commits and applies: the lease is gone, the wait ends.
  h.expiry.revoked(5);
  assert.equal(await settled(inFlight), true);
  assert.equal(h.expiry.pendingRevoke(5), undefined);
});

Deno.test("a timed-out revoke ends when this node leaves its term (a later term's ReadIndex orders it); a rejection counts as unknown", async () => {
  const h = harness();
  h.expiry.tick();
  h.expiry.granted({ id: 5, ttl: 10 });
  h.expiry.granted({ id: 6, ttl: 10 });
  h.now = 10_000;
  h.expiry.tick();
  assert.deepEqual(h.proposed, [[5, 2], [6, 2]]);
  const five = h.expiry.pendingRevoke(5);
  const six = h.expiry.pendingRevoke(6);
  h.settle.shift()!("unknown");
  h.settle.shift()!("unknown");
  assert.equal(await settled(five), false);
  h.role = { leader: true, term: 3 };
  h.expiry.tick();
  assert.equal(await settled(five), true);
  assert.equal(await settled(six), true);
  // A proposal that fails outright is treated as unknown, too.
  const r = new LeaseExpiry({
    now: () => 0,
    leadership: () => ({ leader: true, term: 2 }),
    propose: () => Promise.reject(new Error("timed out")),
  });
  r.tick();
  r.granted({ id: 7, ttl: 0 });
  r.tick();
  const seven = r.pendingRevoke(7);
  assert.equal(await settled(seven), false);
  r.revoked(7);
  assert.equal(await settled(seven), true);
});
