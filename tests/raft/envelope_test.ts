/**
 * Request envelopes (raft/envelope.ts): version 2 carries the proposer's
 * term and round-trips; version 1, as old logs hold it, still decodes
 * (without a term, so it is never a stale copy); a copy is stale exactly
 * when its term differs from its entry's.
 */

import assert from "node:assert/strict";
import {
  isStaleCopy,
  requestKey,
  unwrapPayload,
  wrapPayload,
} from "../../raft/envelope.ts";

Deno.test("envelope v2: id, term and payload round-trip, also past 32 bits", () => {
  const payload = new Uint8Array([7, 8, 9]);
  for (
    const [epoch, seq, term] of [
      [0, 0, 0],
      [1, 2, 3],
      [0xffff_ffff, 2 ** 40 + 5, 2 ** 33 + 1],
    ] as const
  ) {
    const data = wrapPayload({ epoch, seq }, term, payload);
    assert.equal(data[0], 2, "version byte");
    const env = unwrapPayload(data);
    assert.ok(env);
    assert.deepEqual(env.id, { epoch, seq });
    assert.equal(env.term, term);
    assert.deepEqual([...env.payload], [7, 8, 9]);
  }
});

Deno.test("envelope v1 (old logs) still decodes, with no term", () => {
  // 1 byte version 1, 4 bytes epoch, 8 bytes sequence, payload: the bytes
  // the previous version wrote.
  const data = new Uint8Array([
    1,
    0,
    0,
    0,
    9,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    2,
    0xaa,
  ]);
  const env = unwrapPayload(data);
  assert.ok(env);
  assert.deepEqual(env.id, { epoch: 9, seq: 2 ** 32 + 2 });
  assert.equal(env.term, undefined);
  assert.deepEqual([...env.payload], [0xaa]);
  assert.equal(requestKey(env.id), `9:${2 ** 32 + 2}`);
  assert.equal(isStaleCopy(env, 1), false);
  assert.equal(isStaleCopy(env, 99), false);
});

Deno.test("entry data that is not an envelope decodes to undefined", () => {
  assert.equal(unwrapPayload(new Uint8Array()), undefined);
  assert.equal(unwrapPayload(new Uint8Array([3, 0, 0, 0, 0])), undefined);
  // Truncated headers of either version.
  assert.equal(unwrapPayload(new Uint8Array(12).fill(0).with(0, 1)), undefined);
  assert.equal(unwrapPayload(new Uint8Array(20).fill(0).with(0, 2)), undefined);
});

Deno.test("a v2 copy is stale exactly when its entry's term is not the proposer's", () => {
  const env = unwrapPayload(
    wrapPayload({ epoch: 1, seq: 1 }, 5, new Uint8Array()),
  );
  assert.ok(env);
  assert.equal(isStaleCopy(env, 5), false);
  assert.equal(isStaleCopy(env, 6), true);
  assert.equal(isStaleCopy(env, 4), true);
});
