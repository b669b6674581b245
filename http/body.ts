/**
 * Reading request bodies under a size limit, without buffering more than
 * the limit allows: a declared `Content-Length` over the limit is refused
 * before reading, and a chunked body is cut off as soon as it passes it.
 *
 * @module
 */

import { BadRequestError, PayloadTooLargeError } from "./errors.ts";

/** Options of {@linkcode readBody}. */
export interface ReadBodyOptions {
  /** The largest body accepted, in bytes. */
  bytesMax: number;
  /** The 413 error code: `value_too_large` or `body_too_large`. */
  code: "value_too_large" | "body_too_large";
}

function tooLarge(options: ReadBodyOptions): PayloadTooLargeError {
  const what = options.code === "value_too_large" ? "the value" : "the body";
  return new PayloadTooLargeError(
    options.code,
    `${what} is larger than ${options.bytesMax} bytes`,
  );
}

/**
 * Reads the whole body of `req` as bytes.
 *
 * @throws {PayloadTooLargeError} when it is larger than `options.bytesMax`.
 */
export async function readBody(
  req: Request,
  options: ReadBodyOptions,
): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (length > options.bytesMax) throw tooLarge(options);
    if (Number.isSafeInteger(length)) {
      const bytes = await req.bytes();
      if (bytes.length > options.bytesMax) throw tooLarge(options);
      return bytes;
    }
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > options.bytesMax) {
      await reader.cancel();
      throw tooLarge(options);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let pos = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, pos);
    pos += chunk.length;
  }
  return bytes;
}

/** The largest JSON or text body of the membership routes. */
export const SMALL_BODY_BYTES_MAX = 64 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a small UTF-8 text body (at most 64 KiB).
 *
 * @throws {PayloadTooLargeError} when larger; {BadRequestError}
 * (`invalid_body`) when not UTF-8.
 */
export async function readText(req: Request): Promise<string> {
  const bytes = await readBody(req, {
    bytesMax: SMALL_BODY_BYTES_MAX,
    code: "body_too_large",
  });
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BadRequestError("invalid_body", "the body is not UTF-8");
  }
}

/**
 * Reads a small JSON object body (at most 64 KiB).
 *
 * @throws {BadRequestError} (`invalid_body`) unless it is a JSON object.
 */
export async function readJsonObject(
  req: Request,
): Promise<Record<string, unknown>> {
  const text = await readText(req);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadRequestError("invalid_body", "the body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError("invalid_body", "the body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}
