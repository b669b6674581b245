import assert from "node:assert/strict";
import {
  clusterIdOf,
  ClusterMismatchError,
  isClusterId,
  resolveClusterId,
} from "../../raft/cluster_id.ts";

const A = ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"];

Deno.test("cluster_id: the same flags give the same id; the list, its order and the token change it", () => {
  const id = clusterIdOf(A);
  assert.ok(isClusterId(id), id);
  assert.equal(clusterIdOf([...A]), id);
  assert.notEqual(clusterIdOf([A[1]!, A[0]!, A[2]!]), id);
  assert.notEqual(clusterIdOf(A.slice(0, 2)), id);
  assert.notEqual(clusterIdOf(A, "prod"), id);
  assert.notEqual(clusterIdOf(A, "prod"), clusterIdOf(A, "test"));
  // No ambiguity between the URLs and the token.
  assert.notEqual(clusterIdOf(["a", "b"]), clusterIdOf(["a"], "b"));
});

Deno.test("cluster_id: a new or older directory takes the id of the flags; a joining node learns it", () => {
  const base = { cluster: A, token: "", dataDir: "d" };
  assert.equal(
    resolveClusterId({ ...base, stored: "", join: false }),
    clusterIdOf(A),
  );
  assert.equal(resolveClusterId({ ...base, stored: "", join: true }), "");
  assert.equal(
    resolveClusterId({ ...base, stored: "0123456789abcdef", join: true }),
    "0123456789abcdef",
  );
});

Deno.test("cluster_id: a restart with a longer --cluster (members added since) keeps the id; another cluster's directory is refused", () => {
  const stored = clusterIdOf(A, "t");
  const longer = [...A, "http://127.0.0.1:4"];
  assert.equal(
    resolveClusterId({
      stored,
      join: false,
      cluster: longer,
      token: "t",
      dataDir: "d",
    }),
    stored,
  );
  for (
    const [cluster, token] of [
      [A, ""],
      [A.slice(0, 2), "t"],
      [["http://127.0.0.1:9", ...A], "t"],
    ] as const
  ) {
    assert.throws(
      () =>
        resolveClusterId({
          stored,
          join: false,
          cluster,
          token,
          dataDir: "/var/lib/raftkv",
        }),
      (e: unknown) =>
        e instanceof ClusterMismatchError &&
        e.message.includes("/var/lib/raftkv") && e.message.includes(stored) &&
        !e.message.includes("\n"),
    );
  }
});
