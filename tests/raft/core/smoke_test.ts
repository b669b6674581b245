import assert from "node:assert/strict";
import { Cluster, data } from "./harness.ts";

Deno.test("smoke: elect, replicate, commit on three nodes", () => {
  const c = new Cluster([1, 2, 3]);
  c.elect(1);
  assert.equal(c.leader(), 1);
  c.get(1).node.propose(data("a"));
  c.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ["a"]);
  c.get(2).node.propose(data("b"));
  c.stabilize();
  for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ["a", "b"]);
  c.tickAll(30);
  assert.equal(c.leader(), 1);
});
