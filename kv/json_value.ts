/**
 * Values in JSON (COORDINATION.md "Values in JSON"): a value that is valid
 * UTF-8 travels as `"value"` (a string), any other as `"value64"`
 * (standard base64). Both are accepted on input.
 *
 * @module
 */

import { InvalidValueError } from "./errors.ts";

/** A value's JSON form: exactly one of the two fields. */
export type JsonValue = { value: string } | { value64: string };

/** Strict UTF-8 that keeps a leading byte-order mark (as U+FEFF). */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/**
 * Returns `{ value }` when `bytes` is valid UTF-8 (a leading byte-order
 * mark is kept as U+FEFF, so the bytes come back the same), otherwise
 * `{ value64 }`.
 */
export function valueToJson(bytes: Uint8Array): JsonValue {
  try {
    return { value: strictUtf8.decode(bytes) };
  } catch {
    return { value64: bytes.toBase64() };
  }
}

/**
 * Returns the bytes of a JSON object's `value` (a string, encoded as UTF-8)
 * or `value64` (standard base64): exactly one must be present.
 *
 * @throws {InvalidValueError} when both or neither are present, when the
 * one present is not a string, when `value` holds a lone surrogate (it has
 * no UTF-8 form), or when `value64` is not base64.
 */
export function valueFromJson(
  body: { readonly value?: unknown; readonly value64?: unknown },
): Uint8Array {
  const { value, value64 } = body;
  if (value !== undefined && value64 !== undefined) {
    throw new InvalidValueError('give "value" or "value64", not both');
  }
  if (value !== undefined) {
    if (typeof value !== "string") {
      throw new InvalidValueError('"value" must be a string');
    }
    if (!value.isWellFormed()) {
      throw new InvalidValueError(
        '"value" is not valid Unicode (a lone surrogate): send "value64"',
      );
    }
    return utf8.encode(value);
  }
  if (value64 === undefined) {
    throw new InvalidValueError('"value" or "value64" is required');
  }
  if (typeof value64 !== "string") {
    throw new InvalidValueError('"value64" must be a string of base64');
  }
  try {
    return Uint8Array.fromBase64(value64);
  } catch {
    throw new InvalidValueError('"value64" is not valid base64');
  }
}
