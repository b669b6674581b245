import assert from "node:assert/strict";
import {
  LeaderChangedError,
  NoLeaderError,
  OutcomeUnknownError,
  ProposalDroppedError,
  RaftKvError,
  StoppedError,
} from "../../raft/mod.ts";
import {
  errorResponse,
  RequestTimeoutError,
  STATUS_BY_CODE,
} from "../../http/mod.ts";
import { InvalidKeyError } from "../../kv/mod.ts";
import { errorOf, MemoryLogger, setup } from "./fake_node.ts";

/** One request of every route that needs the state. */
const STATEFUL: [string, string, BodyInit | null][] = [
  ["GET", "/a", null],
  ["PUT", "/a", "v"],
  ["POST", "/4", "http://127.0.0.1:42379"],
  ["DELETE", "/4", null],
  ["GET", "/v1/kv/a", null],
  ["GET", "/v1/kv/a?consistency=stale", null],
  ["PUT", "/v1/kv/a", "v"],
  ["DELETE", "/v1/kv/a", null],
  ["GET", "/v1/kv?prefix=a", null],
  ["GET", "/v1/members", null],
  [
    "POST",
    "/v1/members",
    JSON.stringify({ id: 4, url: "http://127.0.0.1:42379" }),
  ],
  ["DELETE", "/v1/members/2", null],
  ["POST", "/v1/leader", JSON.stringify({ id: 2 })],
];

Deno.test("while the node recovers, requests that need state get 503 + Retry-After", async () => {
  const { app, node } = setup({ retryAfterSeconds: 2 });
  node.isRecovering = true;
  for (const [method, path, body] of STATEFUL) {
    const res = await app.request(path, { method, body });
    assert.equal(res.status, 503, `${method} ${path}`);
    assert.equal(res.headers.get("retry-after"), "2");
    assert.equal((await errorOf(res)).code, "recovering");
  }
  assert.deepEqual(node.calls, []);
  // Status and metrics still answer; health says why not.
  assert.equal((await app.request("/v1/status")).status, 200);
  assert.equal((await app.request("/metrics")).status, 200);
  const health = await app.request("/health");
  assert.equal(health.status, 503);
  assert.equal(health.headers.get("retry-after"), "2");
  node.isRecovering = false;
  assert.equal(
    (await app.request("/v1/kv/a", { method: "PUT", body: "v" })).status,
    204,
  );
});

Deno.test("no leader, a dropped proposal or a stopping node answer 503 + Retry-After", async () => {
  const { app, node } = setup();
  const errors = [
    [new NoLeaderError(), "no_leader"],
    [new ProposalDroppedError("leader stepping down"), "proposal_dropped"],
    [new StoppedError(), "stopped"],
  ] as const;
  for (const [error, code] of errors) {
    node.failWith = error;
    for (const [method, path, body] of STATEFUL) {
      if (
        path.includes("stale") || method === "GET" && path === "/v1/members"
      ) continue;
      const res = await app.request(path, { method, body });
      assert.equal(res.status, 503, `${code}: ${method} ${path}`);
      assert.equal(res.headers.get("retry-after"), "1");
      assert.equal((await errorOf(res)).code, code);
    }
  }
});

Deno.test("a deadline with the outcome unknown answers 504", async () => {
  const { app, node } = setup({ requestTimeoutMs: 10 });
  for (const mode of ["honor-signal", "ignore-signal"] as const) {
    node.mode = mode;
    for (const [method, path, body] of STATEFUL) {
      if (
        path.includes("stale") || method === "GET" && path === "/v1/members"
      ) continue;
      const res = await app.request(path, { method, body });
      assert.equal(res.status, 504, `${mode}: ${method} ${path}`);
      const err = await errorOf(res);
      assert.equal(err.code, "timeout");
      assert.match(err.message, /may still be applied/);
    }
  }
});

Deno.test("when the node answers the abort with a precise error, that error wins", async () => {
  const { app, node } = setup({ requestTimeoutMs: 10 });
  node.mode = "honor-signal";
  node.onAbortReject = new NoLeaderError();
  const res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(res.status, 503);
  assert.equal((await errorOf(res)).code, "no_leader");
});

Deno.test("a DOMException timeout or abort from the node maps to 504", async () => {
  const { app, node } = setup();
  for (const name of ["TimeoutError", "AbortError"]) {
    node.failWith = new DOMException("signal timed out", name);
    const res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
    assert.equal(res.status, 504, name);
  }
});

Deno.test("a write the node stopped on while it may still commit answers 504 outcome_unknown; one known dead after a leader change 503 leader_changed", async () => {
  const { app, node } = setup();
  node.failWith = new OutcomeUnknownError("the node is shutting down");
  let res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(res.status, 504);
  assert.equal((await errorOf(res)).code, "outcome_unknown");
  node.failWith = new LeaderChangedError();
  res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(res.status, 503);
  assert.equal((await errorOf(res)).code, "leader_changed");
});

Deno.test("unexpected errors answer 500 and are logged with their stack", async () => {
  const { app, node, logger } = setup();
  node.failWith = new TypeError("boom");
  const res = await app.request("/v1/kv/a", { method: "PUT", body: "v" });
  assert.equal(res.status, 500);
  const err = await errorOf(res);
  assert.equal(err.code, "internal");
  assert.doesNotMatch(err.message, /boom/, "internals stay in the log");
  assert.equal(logger.lines.length, 1);
  assert.equal(logger.lines[0]!.level, "error");
  assert.equal(logger.lines[0]!.fields?.error, "boom");
  assert.match(String(logger.lines[0]!.fields?.stack), /TypeError/);
  // A typed error with a code nobody mapped is unexpected too.
  node.failWith = new RaftKvError("mystery", "what is this");
  assert.equal(
    (await app.request("/v1/kv/a", { method: "PUT", body: "v" })).status,
    500,
  );
  assert.equal(logger.lines.length, 2);
});

Deno.test("internal codes reaching HTTP answer 500 internal and are logged", () => {
  // Only raftkv's own bugs produce these (http/errors.ts): no code of their
  // own, no internals in the answer, a log line with the stack.
  for (
    const code of [
      "invalid_snapshot",
      "apply_order",
      "compacted",
      "unavailable",
      "assertion",
    ]
  ) {
    assert.equal(STATUS_BY_CODE.get(code), undefined, code);
    const logger = new MemoryLogger();
    const res = errorResponse(new RaftKvError(code, "x"), {
      logger,
      retryAfterSeconds: 1,
    });
    assert.equal(res.status, 500, code);
    assert.equal(logger.lines[0]?.level, "error", code);
  }
  // Codes nothing throws are not mapped either (not_leader is: a lease
  // keepalive or read forwarded to a node that does not lead).
  for (const code of ["no_quorum", "shutting_down"]) {
    assert.equal(STATUS_BY_CODE.get(code), undefined, code);
  }
});

Deno.test("errorResponse maps every known code and adds the headers its status needs", async () => {
  const logger = new MemoryLogger();
  for (const [code, status] of STATUS_BY_CODE) {
    const res = errorResponse(new RaftKvError(code, `test ${code}`), {
      logger,
      retryAfterSeconds: 3,
    });
    assert.equal(res.status, status, code);
    assert.equal(
      res.headers.get("retry-after"),
      status === 503 ? "3" : null,
      code,
    );
    assert.deepEqual(await res.json(), {
      error: { code, message: `test ${code}` },
    });
  }
  assert.equal(logger.lines.length, 0);
  assert.equal(
    errorResponse(new InvalidKeyError("x"), { logger, retryAfterSeconds: 1 })
      .status,
    400,
  );
  assert.equal(
    errorResponse(new RequestTimeoutError(5), { logger, retryAfterSeconds: 1 })
      .status,
    504,
  );
  assert.equal(
    errorResponse("a string", { logger, retryAfterSeconds: 1 }).status,
    500,
  );
});
