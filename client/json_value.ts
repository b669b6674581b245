/**
 * Values in JSON (docs/API.md "Values in JSON"): a value that is valid
 * UTF-8 travels as `"value"`, any other as `"value64"` (standard base64).
 * These helpers turn both into bytes and bytes into the right field.
 *
 * @module
 */

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A JSON object that carries a value as `value` or `value64`. */
export interface JsonValue {
  /** The value as text (it was valid UTF-8). */
  value?: string;
  /** The value in standard base64 (it was not UTF-8, or base64 was asked for). */
  value64?: string;
}

/** The bytes of standard base64 `text`. */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `bytes` in standard base64. */
export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** The bytes a `value` or `value64` field holds (empty when neither is there). */
export function decodeJsonValue(item: JsonValue): Uint8Array<ArrayBuffer> {
  if (item.value64 !== undefined) return fromBase64(item.value64);
  return utf8.encode(item.value ?? "");
}

/** `bytes` as text when they are valid UTF-8, else undefined. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * The JSON field of a value: text as `{value}`, bytes as `{value}` when
 * they are UTF-8 and as `{value64}` when not.
 */
export function encodeJsonValue(
  value: string | Uint8Array,
): { value: string } | { value64: string } {
  if (typeof value === "string") return { value };
  const text = utf8Text(value);
  return text === undefined ? { value64: toBase64(value) } : { value: text };
}
