import assert from "node:assert/strict";
import {
  ConfChangeRefusedError,
  MemberError,
  TransferRefusedError,
} from "../../../raft/mod.ts";
import { errorOf, setup } from "../fake_node.ts";

const json = (body: unknown) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: { "content-type": "application/json" },
});

Deno.test("GET /v1/members lists members and the leader", async () => {
  const { app } = setup();
  const res = await app.request("/v1/members");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    leader: 1,
    members: [
      { id: 1, url: "http://127.0.0.1:12379", role: "voter" },
      { id: 2, url: "http://127.0.0.1:22379", role: "voter" },
    ],
  });
});

Deno.test("POST /v1/members adds a member (voter by default) and answers 201 with its role now: learner", async () => {
  const { app, node } = setup();
  const res = await app.request(
    "/v1/members",
    json({ id: 3, url: "http://127.0.0.1:32379/" }),
  );
  assert.equal(res.status, 201);
  // Asked as a voter, it enters as a learner (promoted once caught up):
  // the answer says what it is, not what it will be.
  assert.deepEqual(await res.json(), {
    id: 3,
    url: "http://127.0.0.1:32379",
    role: "learner",
  });
  const learner = await app.request(
    "/v1/members",
    json({ id: 4, url: "https://node4.example:443", role: "learner" }),
  );
  assert.equal(learner.status, 201);
  assert.deepEqual(node.calls, [
    "add 3 http://127.0.0.1:32379 voter",
    "add 4 https://node4.example learner",
  ]);
});

Deno.test("POST /v1/members validates id, url, role and the JSON body", async () => {
  const { app, node } = setup();
  const cases: [unknown, string][] = [
    [{ id: 0, url: "http://h:1" }, "invalid_id"],
    [{ id: -3, url: "http://h:1" }, "invalid_id"],
    [{ id: 1.5, url: "http://h:1" }, "invalid_id"],
    [{ id: "x", url: "http://h:1" }, "invalid_id"],
    [{ id: "3", url: "http://h:1" }, "invalid_id"],
    [{ url: "http://h:1" }, "invalid_id"],
    [{ id: 2 ** 60, url: "http://h:1" }, "invalid_id"],
    [{ id: 3 }, "invalid_url"],
    [{ id: 3, url: "not a url" }, "invalid_url"],
    [{ id: 3, url: "ftp://h:1" }, "invalid_url"],
    [{ id: 3, url: "http://h:1/path" }, "invalid_url"],
    [{ id: 3, url: "http://u:p@h:1" }, "invalid_url"],
    [{ id: 3, url: "http://h:1?q=1" }, "invalid_url"],
    [{ id: 3, url: "http://h:1", role: "boss" }, "invalid_body"],
    [[1, 2], "invalid_body"],
    ["text", "invalid_body"],
  ];
  for (const [body, code] of cases) {
    const res = await app.request("/v1/members", json(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal((await errorOf(res)).code, code, JSON.stringify(body));
  }
  const notJson = await app.request("/v1/members", {
    method: "POST",
    body: "{nope",
  });
  assert.equal(notJson.status, 400);
  assert.equal((await errorOf(notJson)).code, "invalid_body");
  const huge = await app.request("/v1/members", {
    method: "POST",
    body: "x".repeat(65 * 1024),
  });
  assert.equal(huge.status, 413);
  assert.deepEqual(node.calls, []);
});

Deno.test("DELETE /v1/members/{id} removes a member", async () => {
  const { app, node } = setup();
  const res = await app.request("/v1/members/2", { method: "DELETE" });
  assert.equal(res.status, 204);
  assert.deepEqual(node.calls, ["remove 2"]);
  const bad = await app.request("/v1/members/two", { method: "DELETE" });
  assert.equal(bad.status, 400);
  assert.equal((await errorOf(bad)).code, "invalid_id");
});

Deno.test("POST /v1/leader transfers leadership", async () => {
  const { app, node } = setup();
  const res = await app.request("/v1/leader", json({ id: 2 }));
  assert.equal(res.status, 204);
  assert.deepEqual(node.calls, ["transfer 2"]);
  assert.equal(node.leader, 2);
  for (const body of [{}, { id: "2" + "x" }, { id: 0 }, { id: "2" }]) {
    const bad = await app.request("/v1/leader", json(body));
    assert.equal(bad.status, 400, JSON.stringify(body));
    assert.equal((await errorOf(bad)).code, "invalid_id");
  }
  assert.deepEqual(node.calls, ["transfer 2"], "a string id moves nothing");
});

Deno.test("raftexample POST /{id} with a URL body adds a voter; DELETE /{id} removes", async () => {
  const { app, node } = setup();
  const add = await app.request("/4", {
    method: "POST",
    body: "http://127.0.0.1:42379\n",
  });
  assert.equal(add.status, 204);
  const del = await app.request("/3", { method: "DELETE" });
  assert.equal(del.status, 204);
  assert.deepEqual(node.calls, [
    "add 4 http://127.0.0.1:42379 voter",
    "remove 3",
  ]);
});

Deno.test("raftexample root member routes validate the id and the URL", async () => {
  const { app, node } = setup();
  const badUrl = await app.request("/4", {
    method: "POST",
    body: "127.0.0.1:42379",
  });
  assert.equal(badUrl.status, 400);
  assert.equal((await errorOf(badUrl)).code, "invalid_url");
  const badId = await app.request("/four", {
    method: "POST",
    body: "http://127.0.0.1:42379",
  });
  assert.equal(badId.status, 400);
  assert.equal((await errorOf(badId)).code, "invalid_id");
  const delKey = await app.request("/some-key", { method: "DELETE" });
  assert.equal(delKey.status, 400);
  const err = await errorOf(delKey);
  assert.equal(err.code, "invalid_id");
  assert.match(err.message, /DELETE \/v1\/kv\/\{key\}/);
  assert.deepEqual(node.calls, []);
});

Deno.test("refused membership changes map to 409 and unknown members to 404", async () => {
  const { app, node } = setup();
  const cases: [unknown, number, string][] = [
    [
      new ConfChangeRefusedError("a change is pending"),
      409,
      "conf_change_refused",
    ],
    [new TransferRefusedError("target is a learner"), 409, "transfer_refused"],
    [
      new MemberError("member_exists", "node 2 is already a member"),
      409,
      "member_exists",
    ],
    [
      new MemberError("member_removed", "ids are never reused"),
      409,
      "member_removed",
    ],
    [
      new MemberError("member_url_exists", "member 2 has that URL"),
      409,
      "member_url_exists",
    ],
    [
      new MemberError("member_unknown", "node 9 is not a member"),
      404,
      "member_unknown",
    ],
  ];
  for (const [error, status, code] of cases) {
    node.failWith = error;
    const res = await app.request("/v1/members/9", { method: "DELETE" });
    assert.equal(res.status, status, code);
    assert.equal((await errorOf(res)).code, code);
  }
});
