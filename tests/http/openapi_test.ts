/**
 * docs/openapi.json and the routes stay in step: every route of the route
 * table is in the document with exactly its methods and nothing else is;
 * the document is served at `GET /v1/openapi.json`; its schemas compile
 * and accept what the app answers (the real cluster's answers are checked
 * in tests/client/client_test.ts through the same validator).
 */

import assert from "node:assert/strict";
import { allowedMethods, ROUTE_TEMPLATES } from "../../http/api/route_table.ts";
import { checkAnswer, OPENAPI } from "./openapi_validator.ts";
import { setup } from "./fake_node.ts";

const METHODS = ["get", "head", "put", "post", "delete", "patch", "options"];

/** A concrete path for a template (`{key}` → `k`, `{id}` → `2`). */
function sample(template: string): string {
  return template.replace("{key}", "k").replace("{id}", "2").replace(
    "{name}",
    "k",
  );
}

/**
 * What differs between `paths` (a document's) and the routes: paths on
 * one side only, and methods that differ.
 */
function routeMismatches(
  paths: Record<string, Record<string, unknown>>,
): string[] {
  const problems: string[] = [];
  for (const template of ROUTE_TEMPLATES) {
    if (!(template in paths)) {
      problems.push(`route ${template}: not in the document`);
    }
  }
  for (const [template, item] of Object.entries(paths)) {
    if (!ROUTE_TEMPLATES.includes(template)) {
      problems.push(`document path ${template}: no such route`);
      continue;
    }
    const documented = METHODS.filter((m) => m in item).map((m) =>
      m.toUpperCase()
    ).sort();
    const served = [...(allowedMethods(sample(template)) ?? [])].sort();
    if (documented.join() !== served.join()) {
      problems.push(
        `${template}: document says ${documented}, the routes serve ${served}`,
      );
    }
  }
  return problems;
}

Deno.test("every route is in docs/openapi.json with its methods, and nothing else", () => {
  assert.deepEqual(routeMismatches(OPENAPI.paths), []);
});

Deno.test("the route check fails on a missing path, an extra path or a wrong method", () => {
  const paths = structuredClone(OPENAPI.paths);
  delete paths["/v1/leader"];
  paths["/v1/nope"] = { get: {} };
  delete paths["/v1/kv/{key}"]!["delete"];
  assert.deepEqual(routeMismatches(paths).sort(), [
    "/v1/kv/{key}: document says GET,HEAD,PUT, the routes serve DELETE,GET,HEAD,PUT",
    "document path /v1/nope: no such route",
    "route /v1/leader: not in the document",
  ]);
});

Deno.test("every operation has an id and a success answer", () => {
  const ids = new Set<string>();
  for (const [template, item] of Object.entries(OPENAPI.paths)) {
    for (const method of METHODS.filter((m) => m in item)) {
      const op = item[method] as {
        operationId: string;
        responses: Record<string, unknown>;
      };
      assert.ok(op.operationId, `${method} ${template}`);
      assert.ok(!ids.has(op.operationId), `${op.operationId} twice`);
      ids.add(op.operationId);
      assert.ok(
        Object.keys(op.responses).some((s) => /^[123]/.test(s)),
        `${method} ${template} has no success answer`,
      );
    }
  }
});

Deno.test("GET /v1/openapi.json serves the document", async () => {
  const { app } = setup();
  const res = await app.request("/v1/openapi.json");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  const text = await res.text();
  assert.deepEqual(JSON.parse(text), OPENAPI);
  assert.deepEqual(
    checkAnswer(
      "GET",
      "http://x/v1/openapi.json",
      200,
      "application/json",
      text,
    ),
    [],
  );
});

Deno.test("the app's answers match the document's schemas", async () => {
  const { app } = setup();
  const requests: [string, string, RequestInit?][] = [
    ["PUT", "/v1/kv/a", { body: "1" }],
    ["PUT", "/v1/kv/a", { body: "2", headers: { "if-match": '"999"' } }],
    ["GET", "/v1/kv/a"],
    ["GET", "/v1/kv/absent"],
    ["GET", "/v1/kv?prefix=a&limit=1"],
    ["GET", "/v1/kv?limit=0"],
    ["DELETE", "/v1/kv/a"],
    ["GET", "/v1/members"],
    ["POST", "/v1/members", { body: '{"id":5,"url":"http://127.0.0.1:5"}' }],
    ["POST", "/v1/members", { body: "{" }],
    ["DELETE", "/v1/members/5"],
    ["GET", "/v1/status"],
    ["GET", "/health"],
    ["PUT", "/k", { body: "v" }],
    ["GET", "/k"],
  ];
  for (const [method, path, init] of requests) {
    const res = await app.request(path, { method, ...init });
    const type = res.headers.get("content-type");
    const body = await res.text();
    assert.deepEqual(
      checkAnswer(method, `http://x${path}`, res.status, type, body),
      [],
      `${method} ${path} → ${res.status} ${body}`,
    );
  }
});

Deno.test("the validator refuses answers the document does not allow", () => {
  const bad = checkAnswer(
    "GET",
    "http://x/v1/kv",
    200,
    "application/json",
    '{"items":[{"key":1}],"more":false}',
  );
  assert.ok(bad.length > 0);
  assert.deepEqual(
    checkAnswer(
      "GET",
      "http://x/v1/kv",
      200,
      "application/json",
      '{"items":[],"more":false}',
    ),
    [],
  );
  assert.match(
    checkAnswer("GET", "http://x/v1/kv", 500, "application/json", "{}")[0]!,
    /error/,
  );
  assert.match(
    checkAnswer("PATCH", "http://x/v1/kv", 200, null, "")[0]!,
    /not in the document/,
  );
  assert.match(
    checkAnswer("GET", "http://x/v1/kv", 201, null, "")[0]!,
    /not documented/,
  );
});
