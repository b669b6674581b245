/**
 * `POST /v1/txn` (docs/API.md "Transactions"): the JSON body becomes one
 * {@linkcode TxnCommand}, checked completely before it is proposed (a bad
 * part anywhere: `400`, a body over the limit: `413`, nothing applied),
 * then applied as one log entry; the answer is the branch taken, the
 * entry's index and one result per operation.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  checkTxn,
  type CompareOperator,
  type CompareTarget,
  InvalidCommandError,
  type KvItem,
  MAX_TXN_PARTS,
  type TxnCommand,
  type TxnCompare,
  type TxnOperation,
  type TxnOpResult,
  valueFromJson,
  valueToJson,
} from "../../kv/mod.ts";
import { readBody } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { BadRequestError, NodeRecoveringError } from "../errors.ts";
import { DEFAULT_LIST_LIMIT } from "../validate.ts";
import type { Registry } from "../../raft/mod.ts";

/** Bytes a transaction body may take beyond the largest value. */
const TXN_BODY_OVERHEAD_BYTES = 64 * 1024;

/** Registers `POST /v1/txn`; counts transactions by branch in `metrics`. */
export function registerTxnRoutes(
  app: Hono,
  ctx: RouteContext,
  metrics: Registry,
): void {
  const applied = metrics.counterFamily(
    "raftkv_txn_total",
    "Transactions this node answered 200, by the branch taken (succeeded: the compares held).",
    ["result"],
  );
  const succeeded = applied.labels("succeeded");
  const failed = applied.labels("failed");
  app.post("/v1/txn", async (c) => {
    const bytes = await readBody(c.req.raw, {
      maxBytes: ctx.maxValueBytes + TXN_BODY_OVERHEAD_BYTES,
      code: "body_too_large",
      timeoutMs: ctx.bodyTimeoutMs,
    });
    const cmd = parseTxn(bytes);
    if (ctx.node.recovering()) throw new NodeRecoveringError();
    const result = await withDeadline(
      ctx.requestTimeoutMs,
      (s) => ctx.node.write(cmd, s),
    );
    if (result.status !== "ok" || result.txn === undefined) {
      throw new InvalidCommandError(
        result.status === "invalid"
          ? result.message
          : "the transaction was not applied as one",
      );
    }
    (result.txn.succeeded ? succeeded : failed).inc();
    return c.json({
      succeeded: result.txn.succeeded,
      index: result.index,
      results: result.txn.results.map(resultJson),
    });
  });
}

function bad(message: string): BadRequestError {
  return new BadRequestError("invalid_body", message);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses and checks a transaction body.
 *
 * @throws {BadRequestError} (`invalid_body`) or {InvalidValueError} or
 * {InvalidCommandError} (all 400) on anything wrong anywhere in it.
 */
export function parseTxn(bytes: Uint8Array): TxnCommand {
  let body: unknown;
  try {
    body = JSON.parse(utf8.decode(bytes));
  } catch {
    throw bad("the body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw bad("the body must be a JSON object");
  }
  const o = body as Record<string, unknown>;
  onlyFields(o, ["compare", "success", "failure"], "the body");
  const compare = listOf(o.compare, "compare");
  const success = listOf(o.success, "success");
  const failure = listOf(o.failure, "failure");
  const parts = compare.length + success.length + failure.length;
  if (parts > MAX_TXN_PARTS) {
    throw bad(
      `a transaction has at most ${MAX_TXN_PARTS} compares and operations together (this one has ${parts})`,
    );
  }
  const cmd: TxnCommand = {
    op: "txn",
    compare: compare.map((c, i) => parseCompare(c, `compare[${i}]`)),
    success: success.map((op, i) => parseOperation(op, `success[${i}]`)),
    failure: failure.map((op, i) => parseOperation(op, `failure[${i}]`)),
  };
  checkTxn(cmd);
  return cmd;
}

/** `raw` as an array (absent: empty). */
function listOf(raw: unknown, what: string): unknown[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw bad(`"${what}" must be an array`);
  return raw;
}

/** `raw` as a JSON object with no fields but `allowed`. */
function objectOf(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw bad(`${what} must be an object`);
  }
  return raw as Record<string, unknown>;
}

function onlyFields(
  o: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
): void {
  for (const field of Object.keys(o)) {
    if (!allowed.includes(field)) {
      throw bad(`${what} has an unknown field "${field}"`);
    }
  }
}

function stringField(
  o: Record<string, unknown>,
  field: string,
  what: string,
): string {
  const v = o[field];
  if (typeof v !== "string") throw bad(`${what}: "${field}" must be a string`);
  return v;
}

const TARGETS: readonly string[] = [
  "value",
  "version",
  "createIndex",
  "modIndex",
  "lease",
];
const OPERATORS: readonly string[] = ["==", "!=", "<", ">"];

function parseCompare(raw: unknown, what: string): TxnCompare {
  const o = objectOf(raw, what);
  onlyFields(o, ["key", "target", "op", "value", "value64"], what);
  const key = stringField(o, "key", what);
  const target = stringField(o, "target", what);
  const op = stringField(o, "op", what);
  if (!TARGETS.includes(target)) {
    throw bad(`${what}: target must be one of ${TARGETS.join(", ")}`);
  }
  if (!OPERATORS.includes(op)) {
    throw bad(`${what}: op must be one of ${OPERATORS.join(" ")}`);
  }
  let value: Uint8Array | number;
  if (target === "value") value = valueFromJson(o);
  else {
    if (o.value64 !== undefined || typeof o.value !== "number") {
      throw bad(`${what}: a ${target} compare needs a number "value"`);
    }
    value = o.value;
  }
  return {
    key,
    target: target as CompareTarget,
    op: op as CompareOperator,
    value,
  };
}

function parseOperation(raw: unknown, what: string): TxnOperation {
  const o = objectOf(raw, what);
  const op = stringField(o, "op", what);
  switch (op) {
    case "put": {
      onlyFields(o, ["op", "key", "value", "value64", "lease"], what);
      const put: TxnOperation = {
        op: "put",
        key: stringField(o, "key", what),
        value: valueFromJson(o),
      };
      if (o.lease !== undefined) {
        if (typeof o.lease !== "number") {
          throw bad(`${what}: "lease" must be a number`);
        }
        put.lease = o.lease;
      }
      return put;
    }
    case "delete":
      onlyFields(o, ["op", "key", "prefix"], what);
      return keyOrPrefix(o, what) === "key"
        ? { op: "delete", key: stringField(o, "key", what) }
        : { op: "delete", prefix: stringField(o, "prefix", what) };
    case "get": {
      onlyFields(o, ["op", "key", "prefix", "limit"], what);
      if (keyOrPrefix(o, what) === "key") {
        if (o.limit !== undefined) {
          throw bad(`${what}: "limit" goes with "prefix" only`);
        }
        return { op: "get", key: stringField(o, "key", what) };
      }
      const limit = o.limit ?? DEFAULT_LIST_LIMIT;
      if (typeof limit !== "number") {
        throw bad(`${what}: "limit" must be a number`);
      }
      return { op: "get", prefix: stringField(o, "prefix", what), limit };
    }
    default:
      throw bad(`${what}: op must be put, delete or get`);
  }
}

/** Which of `key` and `prefix` the operation has: exactly one. */
function keyOrPrefix(o: Record<string, unknown>, what: string) {
  const hasKey = o.key !== undefined;
  if (hasKey === (o.prefix !== undefined)) {
    throw bad(`${what}: give "key" or "prefix", exactly one`);
  }
  return hasKey ? "key" : "prefix";
}

/** One listed item in JSON (COORDINATION.md: values as `value` or `value64`). */
function itemJson(item: KvItem): Record<string, unknown> {
  const json: Record<string, unknown> = {
    key: item.key,
    ...valueToJson(item.value),
    createIndex: item.createIndex,
    modIndex: item.modIndex,
    version: item.version,
  };
  if (item.lease !== 0) json.lease = item.lease;
  return json;
}

function resultJson(r: TxnOpResult): Record<string, unknown> {
  switch (r.op) {
    case "get":
      return { items: r.items.map(itemJson), more: r.more };
    case "delete":
      return { deleted: r.deleted };
    case "put":
      return {};
  }
}
