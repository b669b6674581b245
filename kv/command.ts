/**
 * The commands the state machine applies, and their bytes in the Raft log.
 * The encoding is a msgpack array with a numeric operation first, so new
 * operations can be added without breaking old logs:
 *
 * - put: `[1, key, value, ifMatch (0 = none), ifNoneMatch (0 | 1)]`
 * - delete: `[2, key, ifMatch (0 = none)]`
 *
 * @module
 */

import { Decoder, Encoder } from "@msgpack/msgpack";
import { InvalidCommandError } from "./errors.ts";
import { keyProblem } from "./key.ts";

/** Create or replace `key`, optionally only under a condition. */
export interface PutCommand {
  op: "put";
  key: string;
  /** Raw bytes; the store keeps them and callers must not change them after. */
  value: Uint8Array;
  /** Apply only when the key was last written at this index (compare-and-set). */
  ifMatch?: number;
  /** Apply only when the key is absent (create-only). */
  ifNoneMatch?: boolean;
}

/** Remove `key` (a success also when absent), optionally only under a condition. */
export interface DeleteCommand {
  op: "delete";
  key: string;
  /** Apply only when the key was last written at this index. */
  ifMatch?: number;
}

/** Everything the key-value state machine applies. */
export type Command = PutCommand | DeleteCommand;

const OP_PUT = 1;
const OP_DELETE = 2;

const encoder = new Encoder();
const decoder = new Decoder();

/** Throws unless `ifMatch` is absent or a positive safe integer. */
function checkIfMatch(ifMatch: unknown): void {
  if (ifMatch === undefined) return;
  if (
    typeof ifMatch !== "number" || !Number.isSafeInteger(ifMatch) ||
    ifMatch < 1
  ) {
    throw new InvalidCommandError("ifMatch must be a positive integer index");
  }
}

/** Throws unless `key` is a string of 1 to 4096 bytes of UTF-8. */
function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new InvalidCommandError("the key must be a string");
  }
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidCommandError(problem);
}

/**
 * Encodes a command into the bytes proposed to Raft. Validates it first, so
 * a bad command never reaches the log.
 *
 * @throws {InvalidCommandError} when a field is out of range.
 */
export function encodeCommand(cmd: Command): Uint8Array {
  checkKey(cmd.key);
  checkIfMatch(cmd.ifMatch);
  switch (cmd.op) {
    case "put":
      if (!(cmd.value instanceof Uint8Array)) {
        throw new InvalidCommandError("the value must be bytes");
      }
      return encoder.encode([
        OP_PUT,
        cmd.key,
        cmd.value,
        cmd.ifMatch ?? 0,
        cmd.ifNoneMatch ? 1 : 0,
      ]);
    case "delete":
      return encoder.encode([OP_DELETE, cmd.key, cmd.ifMatch ?? 0]);
    default:
      throw new InvalidCommandError(
        `unknown operation ${(cmd as { op: unknown }).op}`,
      );
  }
}

/** Reads the wire form of ifMatch (0 = none). */
function decodeIfMatch(raw: unknown): number | undefined {
  if (raw === 0) return undefined;
  checkIfMatch(raw);
  return raw as number;
}

/**
 * Decodes and validates bytes made by {@linkcode encodeCommand}. The value of
 * a put is a view into `data`, not a copy.
 *
 * @throws {InvalidCommandError} on anything that is not a valid command.
 */
export function decodeCommand(data: Uint8Array): Command {
  let raw: unknown;
  try {
    raw = decoder.decode(data);
  } catch (err) {
    throw new InvalidCommandError(
      `undecodable command: ${
        err instanceof Error ? err.message : String(err)
      }`,
    );
  }
  if (!Array.isArray(raw)) {
    throw new InvalidCommandError("a command must be a msgpack array");
  }
  const op = raw[0];
  if (op === OP_PUT) {
    if (raw.length !== 5) {
      throw new InvalidCommandError("a put command has 5 fields");
    }
    const [, key, value, ifMatch, ifNoneMatch] = raw;
    checkKey(key);
    if (!(value instanceof Uint8Array)) {
      throw new InvalidCommandError("the value of a put must be bytes");
    }
    if (ifNoneMatch !== 0 && ifNoneMatch !== 1) {
      throw new InvalidCommandError("ifNoneMatch must be 0 or 1");
    }
    const cmd: PutCommand = { op: "put", key, value };
    const match = decodeIfMatch(ifMatch);
    if (match !== undefined) cmd.ifMatch = match;
    if (ifNoneMatch === 1) cmd.ifNoneMatch = true;
    return cmd;
  }
  if (op === OP_DELETE) {
    if (raw.length !== 3) {
      throw new InvalidCommandError("a delete command has 3 fields");
    }
    const [, key, ifMatch] = raw;
    checkKey(key);
    const cmd: DeleteCommand = { op: "delete", key };
    const match = decodeIfMatch(ifMatch);
    if (match !== undefined) cmd.ifMatch = match;
    return cmd;
  }
  throw new InvalidCommandError(`unknown operation ${String(op)}`);
}
