import assert from "node:assert/strict";
import {
  decodeSnapshotData,
  encodeSnapshotData,
  encodeSnapshotDataFrom,
} from "../../raft/snapshot_data.ts";
import type { MembersImage } from "../../raft/members.ts";
import { encodeCommand, KvStore } from "../../kv/mod.ts";

const members: MembersImage = {
  members: [
    { id: 1, url: "http://127.0.0.1:1", role: "voter", autoPromote: false },
    { id: 2, url: "http://127.0.0.1:2", role: "learner", autoPromote: true },
  ],
  removed: [3],
};

Deno.test("encodeSnapshotDataFrom gives encodeSnapshotData's bytes, framing in place or by copy", () => {
  // State sizes that take each msgpack bin header: 8, 16 and 32 bits.
  for (const keys of [0, 3, 700, 1200]) {
    const store = new KvStore();
    for (let i = 0; i < keys; i++) {
      store.apply(
        i + 1,
        encodeCommand({ op: "put", key: `k${i}`, value: new Uint8Array(50) }),
      );
    }
    const want = encodeSnapshotData({ members, state: store.snapshot() });
    const inPlace = encodeSnapshotDataFrom(members, store);
    const copied = encodeSnapshotDataFrom(members, {
      snapshot: () => store.snapshot(),
    });
    assert.deepEqual(inPlace, want, `${keys} keys, in place`);
    assert.deepEqual(copied, want, `${keys} keys, copied`);
    assert.deepEqual(decodeSnapshotData(inPlace)?.state, store.snapshot());
  }
});
