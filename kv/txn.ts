/**
 * Transactions (COORDINATION.md "Transactions"): compares on keys'
 * revisions and values, then the operations of one branch, all in one log
 * entry. This file holds the command's shape, its validation, its bytes in
 * the log and the compare rule; the store (store.ts) applies it.
 *
 * Bytes (inside the command array of command.ts, operation 3):
 * `[3, compares, success, failure]` where a compare is
 * `[key, target (0 value | 1 version | 2 createIndex | 3 modIndex | 4 lease),
 * operator (0 == | 1 != | 2 < | 3 >), bytes | number]` and an operation is
 * `[1, key, value, lease (0 = none)]` (put), `[2, key or prefix, isPrefix]`
 * (delete) or `[3, key or prefix, isPrefix, limit]` (get).
 *
 * @module
 */

import { InvalidCommandError } from "./errors.ts";
import { keyProblem, MAX_KEY_BYTES, utf8ByteLength } from "./key.ts";
import type { KeyRevision } from "./revision.ts";

/** What a compare looks at. */
export type CompareTarget =
  | "value"
  | "version"
  | "createIndex"
  | "modIndex"
  | "lease";

/** How a compare compares. */
export type CompareOperator = "==" | "!=" | "<" | ">";

/** One compare: `target` of `key` `op` `value`. */
export interface TxnCompare {
  key: string;
  target: CompareTarget;
  op: CompareOperator;
  /** Bytes for `value`, a safe integer >= 0 for the number targets. */
  value: Uint8Array | number;
}

/** Put `value` at `key`, attached to `lease` (0 or absent: none). */
export interface TxnPut {
  op: "put";
  key: string;
  value: Uint8Array;
  lease?: number;
}

/** Delete one key, or every key starting with a prefix. */
export type TxnDelete =
  | { op: "delete"; key: string }
  | { op: "delete"; prefix: string };

/** Read one key, or up to `limit` keys starting with a prefix. */
export type TxnGet =
  | { op: "get"; key: string }
  | { op: "get"; prefix: string; limit: number };

/** One operation of a branch. */
export type TxnOperation = TxnPut | TxnDelete | TxnGet;

/** A transaction: the compares and both branches. */
export interface TxnCommand {
  op: "txn";
  compare: TxnCompare[];
  success: TxnOperation[];
  failure: TxnOperation[];
}

/** At most this many compares and operations (both branches) together. */
export const MAX_TXN_PARTS = 128;
/** The largest `limit` of a prefix get. */
export const MAX_TXN_GET_LIMIT = 10_000;

const TARGETS: readonly CompareTarget[] = [
  "value",
  "version",
  "createIndex",
  "modIndex",
  "lease",
];
const OPERATORS: readonly CompareOperator[] = ["==", "!=", "<", ">"];

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_GET = 3;

/** Throws unless `key` is a valid key. */
function checkKey(key: unknown, what: string): asserts key is string {
  if (typeof key !== "string") {
    throw new InvalidCommandError(`${what}: the key must be a string`);
  }
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new InvalidCommandError(`${what}: ${problem}`);
  }
}

/** Throws unless `prefix` is a string of at most 4096 bytes of UTF-8 ("" = all). */
function checkPrefix(prefix: unknown, what: string): asserts prefix is string {
  if (
    typeof prefix !== "string" || !prefix.isWellFormed() ||
    utf8ByteLength(prefix) > MAX_KEY_BYTES
  ) {
    throw new InvalidCommandError(
      `${what}: the prefix must be a string of at most ${MAX_KEY_BYTES} bytes`,
    );
  }
}

/** Whether `n` is a safe integer >= `min`. */
function isCount(n: unknown, min: number): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= min;
}

/**
 * Throws unless `cmd` is a complete, valid transaction within
 * {@linkcode MAX_TXN_PARTS}: every compare and operation of both branches
 * is checked, so a bad part anywhere refuses the whole transaction.
 *
 * @throws {InvalidCommandError} naming the first bad part.
 */
export function checkTxn(cmd: TxnCommand): void {
  const parts = cmd.compare.length + cmd.success.length + cmd.failure.length;
  if (parts > MAX_TXN_PARTS) {
    throw new InvalidCommandError(
      `a transaction has at most ${MAX_TXN_PARTS} compares and operations together (this one has ${parts})`,
    );
  }
  cmd.compare.forEach((c, i) => checkCompare(c, `compare[${i}]`));
  cmd.success.forEach((o, i) => checkOperation(o, `success[${i}]`));
  cmd.failure.forEach((o, i) => checkOperation(o, `failure[${i}]`));
}

function checkCompare(c: TxnCompare, what: string): void {
  checkKey(c.key, what);
  if (!TARGETS.includes(c.target)) {
    throw new InvalidCommandError(`${what}: unknown target ${c.target}`);
  }
  if (!OPERATORS.includes(c.op)) {
    throw new InvalidCommandError(`${what}: unknown operator ${c.op}`);
  }
  if (c.target === "value") {
    if (!(c.value instanceof Uint8Array)) {
      throw new InvalidCommandError(`${what}: a value compare needs bytes`);
    }
  } else if (!isCount(c.value, 0)) {
    throw new InvalidCommandError(
      `${what}: a ${c.target} compare needs an integer >= 0`,
    );
  }
}

function checkOperation(o: TxnOperation, what: string): void {
  switch (o.op) {
    case "put":
      checkKey(o.key, what);
      if (!(o.value instanceof Uint8Array)) {
        throw new InvalidCommandError(`${what}: the value must be bytes`);
      }
      if (o.lease !== undefined && !isCount(o.lease, 0)) {
        throw new InvalidCommandError(`${what}: lease must be an id >= 1`);
      }
      return;
    case "delete":
      if ("prefix" in o) checkPrefix(o.prefix, what);
      else checkKey(o.key, what);
      return;
    case "get":
      if ("prefix" in o) {
        checkPrefix(o.prefix, what);
        if (!isCount(o.limit, 1) || o.limit > MAX_TXN_GET_LIMIT) {
          throw new InvalidCommandError(
            `${what}: limit must be 1 to ${MAX_TXN_GET_LIMIT}`,
          );
        }
      } else checkKey(o.key, what);
      return;
    default:
      throw new InvalidCommandError(
        `${what}: unknown operation ${(o as { op: unknown }).op}`,
      );
  }
}

/** The msgpack-ready form of a transaction (without the leading operation number). */
export function txnToWire(cmd: TxnCommand): unknown[] {
  return [
    cmd.compare.map((c) => [
      c.key,
      TARGETS.indexOf(c.target),
      OPERATORS.indexOf(c.op),
      c.value,
    ]),
    cmd.success.map(operationToWire),
    cmd.failure.map(operationToWire),
  ];
}

function operationToWire(o: TxnOperation): unknown[] {
  switch (o.op) {
    case "put":
      return [OP_PUT, o.key, o.value, o.lease ?? 0];
    case "delete":
      return "prefix" in o ? [OP_DELETE, o.prefix, 1] : [OP_DELETE, o.key, 0];
    case "get":
      return "prefix" in o
        ? [OP_GET, o.prefix, 1, o.limit]
        : [OP_GET, o.key, 0, 0];
  }
}

/**
 * Reads the wire form made by {@linkcode txnToWire} (the command array
 * after its operation number) and checks it like {@linkcode checkTxn}.
 *
 * @throws {InvalidCommandError} on anything else.
 */
export function txnFromWire(fields: unknown[]): TxnCommand {
  const [compares, success, failure] = fields;
  if (
    fields.length !== 3 || !Array.isArray(compares) ||
    !Array.isArray(success) || !Array.isArray(failure)
  ) {
    throw new InvalidCommandError("a txn command has 3 arrays");
  }
  const cmd: TxnCommand = {
    op: "txn",
    compare: compares.map(compareFromWire),
    success: success.map(operationFromWire),
    failure: failure.map(operationFromWire),
  };
  checkTxn(cmd);
  return cmd;
}

function compareFromWire(raw: unknown): TxnCompare {
  if (!Array.isArray(raw) || raw.length !== 4) {
    throw new InvalidCommandError("a compare has 4 fields");
  }
  const [key, target, op, value] = raw;
  return {
    key,
    target: TARGETS[target] ?? String(target),
    op: OPERATORS[op] ?? String(op),
    value,
  } as TxnCompare;
}

function operationFromWire(raw: unknown): TxnOperation {
  if (!Array.isArray(raw)) {
    throw new InvalidCommandError("an operation must be an array");
  }
  const [op, key, third, fourth] = raw;
  if (op === OP_PUT && raw.length === 4) {
    const put: TxnPut = { op: "put", key, value: third };
    if (fourth !== 0) put.lease = fourth;
    return put;
  }
  if (op === OP_DELETE && raw.length === 3 && (third === 0 || third === 1)) {
    return third === 1 ? { op: "delete", prefix: key } : { op: "delete", key };
  }
  if (op === OP_GET && raw.length === 4 && (third === 0 || third === 1)) {
    return third === 1
      ? { op: "get", prefix: key, limit: fourth }
      : { op: "get", key };
  }
  throw new InvalidCommandError(`unknown transaction operation ${String(op)}`);
}

/** Orders byte strings lexicographically (-1, 0, 1). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * Whether compare `c` holds for a key with revision `revision` and value
 * `value` (undefined when absent). An absent key's numbers are 0; a
 * `value` compare on an absent key is false whatever the operator. Values
 * compare as bytes, lexicographically.
 */
export function compareHolds(
  c: TxnCompare,
  revision: KeyRevision,
  value: Uint8Array | undefined,
): boolean {
  let order: number;
  if (c.target === "value") {
    if (value === undefined) return false;
    order = compareBytes(value, c.value as Uint8Array);
  } else {
    const have = revision[c.target];
    const want = c.value as number;
    order = have === want ? 0 : have < want ? -1 : 1;
  }
  switch (c.op) {
    case "==":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case ">":
      return order > 0;
  }
}
