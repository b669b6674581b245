/**
 * The commands the state machine applies, and their bytes in the Raft log.
 * The encoding is a msgpack array with a numeric operation first, so new
 * operations can be added without breaking old logs:
 *
 * - put: `[1, key, value, ifMatch (0 = none), ifNoneMatch (0 | 1)]`, and a
 *   sixth field, the lease, when it attaches the key to one
 * - delete: `[2, key, ifMatch (0 = none)]`
 * - txn: `[3, compares, success, failure]` (kv/txn.ts)
 * - lease grant: `[4, ttl]`; the lease's id is the entry's index
 * - lease revoke: `[5, id, term]`: `term` 0 for a client's revoke, else the
 *   term in which the leader decided the lease expired (store.ts applies it
 *   only in an entry of that same term)
 *
 * @module
 */

import { Decoder, Encoder } from "@msgpack/msgpack";
import { InvalidCommandError } from "./errors.ts";
import { keyProblem } from "./key.ts";
import { checkTxn, type TxnCommand, txnFromWire, txnToWire } from "./txn.ts";

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
  /** Attach the key to this lease (absent or 0: detach it from any). */
  lease?: number;
}

/** Remove `key` (a success also when absent), optionally only under a condition. */
export interface DeleteCommand {
  op: "delete";
  key: string;
  /** Apply only when the key was last written at this index. */
  ifMatch?: number;
}

/** Grant a lease of `ttl` seconds; its id is the index of this entry. */
export interface LeaseGrantCommand {
  op: "lease_grant";
  ttl: number;
}

/**
 * Revoke lease `id` and delete its keys. `term` 0: a client's revoke;
 * otherwise the term in which the leader decided it expired: applied only
 * in an entry of that term (a stale decision is a no-op).
 */
export interface LeaseRevokeCommand {
  op: "lease_revoke";
  id: number;
  term: number;
}

/** Everything the key-value state machine applies. */
export type Command =
  | PutCommand
  | DeleteCommand
  | TxnCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand;

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_TXN = 3;
const OP_LEASE_GRANT = 4;
const OP_LEASE_REVOKE = 5;

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

/** Throws unless `n` is a safe integer >= `min`. */
function checkCount(n: unknown, min: number, what: string): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) {
    throw new InvalidCommandError(`${what} must be an integer >= ${min}`);
  }
  return n;
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
  switch (cmd.op) {
    case "txn":
      checkTxn(cmd);
      return encoder.encode([OP_TXN, ...txnToWire(cmd)]);
    case "lease_grant":
      checkCount(cmd.ttl, 1, "ttl");
      return encoder.encode([OP_LEASE_GRANT, cmd.ttl]);
    case "lease_revoke":
      checkCount(cmd.id, 1, "the lease id");
      checkCount(cmd.term, 0, "the term");
      return encoder.encode([OP_LEASE_REVOKE, cmd.id, cmd.term]);
  }
  checkKey(cmd.key);
  checkIfMatch(cmd.ifMatch);
  switch (cmd.op) {
    case "put": {
      if (!(cmd.value instanceof Uint8Array)) {
        throw new InvalidCommandError("the value must be bytes");
      }
      const fields: unknown[] = [
        OP_PUT,
        cmd.key,
        cmd.value,
        cmd.ifMatch ?? 0,
        cmd.ifNoneMatch ? 1 : 0,
      ];
      if (cmd.lease !== undefined && cmd.lease !== 0) {
        checkCount(cmd.lease, 1, "the lease id");
        fields.push(cmd.lease);
      }
      return encoder.encode(fields);
    }
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

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a msgpack unsigned integer at `pos` of at most 32 bits; returns
 * [value, next position], or undefined for any other form.
 */
function readUint(data: Uint8Array, pos: number): [number, number] | undefined {
  const b = data[pos];
  if (b === undefined) return undefined;
  if (b <= 0x7f) return [b, pos + 1];
  if (b === 0xcc && pos + 1 < data.length) return [data[pos + 1]!, pos + 2];
  if (b === 0xcd && pos + 2 < data.length) {
    return [(data[pos + 1]! << 8) | data[pos + 2]!, pos + 3];
  }
  if (b === 0xce && pos + 4 < data.length) {
    const n = data[pos + 1]! * 0x100_0000 +
      ((data[pos + 2]! << 16) | (data[pos + 3]! << 8) | data[pos + 4]!);
    return [n, pos + 5];
  }
  return undefined;
}

/**
 * Decodes the forms {@linkcode encodeCommand} produces without the generic
 * msgpack decoder (no intermediate array, the key decoded straight from the
 * bytes). Returns undefined for anything else, including every malformed
 * input, which the generic path then decodes or refuses: so both paths give
 * the same command, or the same error, for the same bytes.
 */
function decodeCommonCommand(data: Uint8Array): Command | undefined {
  const head = data[0];
  const op = data[1];
  if (
    !((head === 0x95 && op === OP_PUT) || (head === 0x93 && op === OP_DELETE))
  ) return undefined;
  let pos = 2;
  const k = data[pos];
  let keyLength: number;
  if (k === undefined) return undefined;
  if (k >= 0xa0 && k <= 0xbf) {
    keyLength = k - 0xa0;
    pos += 1;
  } else if (k === 0xd9 && pos + 1 < data.length) {
    keyLength = data[pos + 1]!;
    pos += 2;
  } else if (k === 0xda && pos + 2 < data.length) {
    keyLength = (data[pos + 1]! << 8) | data[pos + 2]!;
    pos += 3;
  } else return undefined;
  if (pos + keyLength > data.length) return undefined;
  let key: string;
  try {
    key = strictUtf8.decode(data.subarray(pos, pos + keyLength));
  } catch {
    return undefined;
  }
  if (keyProblem(key) !== undefined) return undefined;
  pos += keyLength;
  let value: Uint8Array | undefined;
  if (op === OP_PUT) {
    const b = data[pos];
    let valueLength: number;
    if (b === 0xc4 && pos + 1 < data.length) {
      valueLength = data[pos + 1]!;
      pos += 2;
    } else if (b === 0xc5 && pos + 2 < data.length) {
      valueLength = (data[pos + 1]! << 8) | data[pos + 2]!;
      pos += 3;
    } else if (b === 0xc6 && pos + 4 < data.length) {
      valueLength = data[pos + 1]! * 0x100_0000 +
        ((data[pos + 2]! << 16) | (data[pos + 3]! << 8) | data[pos + 4]!);
      pos += 5;
    } else return undefined;
    if (pos + valueLength > data.length) return undefined;
    value = data.subarray(pos, pos + valueLength);
    pos += valueLength;
  }
  const match = readUint(data, pos);
  if (match === undefined) return undefined;
  const ifMatch = match[0];
  pos = match[1];
  if (value === undefined) {
    if (pos !== data.length) return undefined;
    const cmd: DeleteCommand = { op: "delete", key };
    if (ifMatch !== 0) cmd.ifMatch = ifMatch;
    return cmd;
  }
  const ifNoneMatch = data[pos];
  if ((ifNoneMatch !== 0 && ifNoneMatch !== 1) || pos + 1 !== data.length) {
    return undefined;
  }
  const cmd: PutCommand = { op: "put", key, value };
  if (ifMatch !== 0) cmd.ifMatch = ifMatch;
  if (ifNoneMatch === 1) cmd.ifNoneMatch = true;
  return cmd;
}

/**
 * Decodes and validates bytes made by {@linkcode encodeCommand}. The value of
 * a put is a view into `data`, not a copy.
 *
 * @throws {InvalidCommandError} on anything that is not a valid command.
 */
export function decodeCommand(data: Uint8Array): Command {
  return decodeCommonCommand(data) ?? decodeCommandGeneric(data);
}

/**
 * The generic decoder behind {@linkcode decodeCommand}: msgpack first, then
 * the command's rules. Exported for tests that check the fast path agrees
 * with it.
 */
export function decodeCommandGeneric(data: Uint8Array): Command {
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
    if (raw.length !== 5 && raw.length !== 6) {
      throw new InvalidCommandError("a put command has 5 or 6 fields");
    }
    const [, key, value, ifMatch, ifNoneMatch, lease] = raw;
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
    if (raw.length === 6) cmd.lease = checkCount(lease, 1, "the lease id");
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
  if (op === OP_TXN) return txnFromWire(raw.slice(1));
  if (op === OP_LEASE_GRANT && raw.length === 2) {
    return { op: "lease_grant", ttl: checkCount(raw[1], 1, "ttl") };
  }
  if (op === OP_LEASE_REVOKE && raw.length === 3) {
    return {
      op: "lease_revoke",
      id: checkCount(raw[1], 1, "the lease id"),
      term: checkCount(raw[2], 0, "the term"),
    };
  }
  throw new InvalidCommandError(`unknown operation ${String(op)}`);
}
