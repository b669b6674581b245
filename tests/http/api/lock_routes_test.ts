import assert from "node:assert/strict";
import { encodeCommand } from "../../../kv/mod.ts";
import { errorOf, setup } from "../fake_node.ts";

function json(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  };
}

async function grant(app: ReturnType<typeof setup>["app"]): Promise<number> {
  const res = await app.request("/v1/leases", json("POST", { ttl: 10 }));
  return (await res.json()).id;
}

Deno.test("locks: the first lease holds with fence = its key's createIndex; the same lease again gets the same fence; another gets 409 and leaves no key", async () => {
  const { app, node } = setup();
  const a = await grant(app);
  const b = await grant(app);
  const first = await app.request("/v1/locks/db", json("POST", { lease: a }));
  assert.equal(first.status, 200);
  const held = await first.json();
  assert.deepEqual(held, { name: "db", key: `_locks/db/${a}`, fence: 3 });
  assert.equal(node.store.get(held.key)?.lease, a);
  const again = await app.request("/v1/locks/db", json("POST", { lease: a }));
  assert.deepEqual(await again.json(), held);
  const other = await app.request("/v1/locks/db", json("POST", { lease: b }));
  assert.equal(other.status, 409);
  assert.equal((await errorOf(other)).code, "lock_held");
  assert.equal(node.store.get(`_locks/db/${b}`), undefined, "no key left");
  // Released: the next request of b holds it, with a greater fence.
  const released = await app.request(`/v1/locks/db?lease=${a}`, {
    method: "DELETE",
  });
  assert.equal(released.status, 204);
  const next = await app.request("/v1/locks/db", json("POST", { lease: b }));
  const fence = (await next.json()).fence;
  assert.ok(fence > held.fence);
});

Deno.test("locks: a waiter gets the lock once the holder's lease is revoked, within its wait", async () => {
  const { app, node } = setup();
  const a = await grant(app);
  const b = await grant(app);
  await app.request("/v1/locks/db", json("POST", { lease: a }));
  const waiting = app.request(
    "/v1/locks/db",
    json("POST", { lease: b, wait: "4s" }),
  );
  // Revoke a once b's key is queued behind it.
  while (node.store.get(`_locks/db/${b}`) === undefined) {
    await new Promise((r) => setTimeout(r, 1));
  }
  await app.request(`/v1/leases/${a}`, { method: "DELETE" });
  const res = await waiting;
  assert.equal(res.status, 200);
  assert.equal((await res.json()).key, `_locks/db/${b}`);
});

Deno.test("locks: a lease that is gone answers 404; bad input 400", async () => {
  const { app, node } = setup();
  const gone = await app.request("/v1/locks/db", json("POST", { lease: 42 }));
  assert.equal(gone.status, 404);
  assert.equal((await errorOf(gone)).code, "lease_not_found");
  assert.equal(node.store.size, 0);
  const a = await grant(app);
  for (
    const body of [{}, { lease: "1" }, { lease: a, wait: "10" }, {
      lease: a,
      wait: "1h",
    }]
  ) {
    const res = await app.request("/v1/locks/db", json("POST", body));
    assert.equal(res.status, 400, JSON.stringify(body));
  }
  const noLease = await app.request("/v1/locks/db", { method: "DELETE" });
  assert.equal(noLease.status, 400);
});

/**
 * Runs `fn` with every timer frozen: timers are created (and cleared at the
 * end) but never fire, so a waiter that polled would never see its turn.
 */
async function withFrozenTimers(fn: () => Promise<void>): Promise<void> {
  const realSetTimeout = globalThis.setTimeout;
  const realSetInterval = globalThis.setInterval;
  const frozen: ReturnType<typeof setTimeout>[] = [];
  const freeze = () => {
    const id = realSetTimeout(() => {}, 2 ** 31 - 1);
    id.unref();
    frozen.push(id);
    return id;
  };
  globalThis.setTimeout = freeze as unknown as typeof setTimeout;
  globalThis.setInterval = freeze as unknown as typeof setInterval;
  try {
    await fn();
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.setInterval = realSetInterval;
    for (const id of frozen) clearTimeout(id);
  }
}

/** Lets the waiter of `key` queue it (microtasks only: no timer runs). */
async function queued(
  node: ReturnType<typeof setup>["node"],
  key: string,
): Promise<void> {
  for (let i = 0; node.store.get(key) === undefined; i++) {
    assert.ok(i < 10_000, "the waiter never queued");
    await Promise.resolve();
  }
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

// Unusual timeouts in the next tests: the deadline queues (http/deadline.ts)
// these use are their own, not shared with tests whose timers run.

Deno.test("locks: a waiter is granted as soon as the holder's key is deleted, with every timer frozen (no polling)", async () => {
  const { app, node } = setup({
    requestTimeoutMs: 61_001,
    bodyTimeoutMs: 61_002,
  });
  const a = await grant(app);
  const b = await grant(app);
  const held = await (await app.request(
    "/v1/locks/db",
    json("POST", { lease: a }),
  )).json();
  await withFrozenTimers(async () => {
    const waiting = app.request(
      "/v1/locks/db",
      json("POST", { lease: b, wait: "1m" }),
    );
    await queued(node, `_locks/db/${b}`);
    node.store.apply(
      ++node.index,
      encodeCommand({ op: "delete", key: held.key }),
    );
    const res = await waiting;
    assert.equal(res.status, 200);
    const got = await res.json();
    assert.equal(got.key, `_locks/db/${b}`);
    assert.ok(got.fence > held.fence);
  });
});

Deno.test("locks: a waiter whose lease is revoked while it waits answers 404 at once, with every timer frozen", async () => {
  const { app, node } = setup({
    requestTimeoutMs: 61_003,
    bodyTimeoutMs: 61_004,
  });
  const a = await grant(app);
  const b = await grant(app);
  await app.request("/v1/locks/db", json("POST", { lease: a }));
  await withFrozenTimers(async () => {
    const waiting = app.request(
      "/v1/locks/db",
      json("POST", { lease: b, wait: "1m" }),
    );
    await queued(node, `_locks/db/${b}`);
    node.store.apply(
      ++node.index,
      encodeCommand({ op: "lease_revoke", id: b, term: 0 }),
    );
    const res = await waiting;
    assert.equal(res.status, 404);
    assert.equal((await errorOf(res)).code, "lease_not_found");
    assert.equal(node.store.get(`_locks/db/${b}`), undefined);
    assert.ok(node.store.get(`_locks/db/${a}`), "the holder still holds");
  });
});
