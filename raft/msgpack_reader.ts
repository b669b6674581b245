/**
 * A minimal msgpack reader for the commonest shape on the replication hot
 * path (a batch of messages without snapshots), reading values straight
 * off the bytes without building intermediate arrays. It is a fast path
 * only: on anything it does not handle (another format, a truncated
 * buffer, a length over the limit) it throws {@linkcode UNHANDLED}, and
 * the caller then decodes with the general decoder, which accepts or
 * refuses the input exactly as it always did.
 *
 * @module
 */

/** Thrown by {@linkcode MsgpackReader} for input it leaves to the general decoder. */
export const UNHANDLED: unique symbol = Symbol("unhandled msgpack");

const ascii = new TextDecoder();

/** Reads msgpack values from `bytes`, front to back. */
export class MsgpackReader {
  #pos = 0;

  /**
   * `maxLength` bounds array and string lengths, as the general decoder's
   * limits do.
   */
  constructor(readonly bytes: Uint8Array, readonly maxLength: number) {}

  /** How many bytes were read so far. */
  get position(): number {
    return this.#pos;
  }

  /** Whether every byte was read. */
  done(): boolean {
    return this.#pos === this.bytes.length;
  }

  /** An array header: its number of items. */
  arrayHeader(): number {
    const b = this.#byte();
    let length: number;
    if (b >= 0x90 && b <= 0x9f) length = b & 0x0f;
    else if (b === 0xdc) length = this.#big(2);
    else if (b === 0xdd) length = this.#big(4);
    else throw UNHANDLED;
    if (length > this.maxLength) throw UNHANDLED;
    return length;
  }

  /** A non-negative safe integer. */
  uint(): number {
    const b = this.#byte();
    if (b < 0x80) return b;
    if (b === 0xcc) return this.#big(1);
    if (b === 0xcd) return this.#big(2);
    if (b === 0xce) return this.#big(4);
    if (b !== 0xcf) throw UNHANDLED;
    const v = this.#big(4) * 0x1_0000_0000 + this.#big(4);
    if (!Number.isSafeInteger(v)) throw UNHANDLED;
    return v;
  }

  /** `true` or `false`. */
  bool(): boolean {
    const b = this.#byte();
    if (b === 0xc3) return true;
    if (b === 0xc2) return false;
    throw UNHANDLED;
  }

  /** `nil`. */
  nil(): void {
    if (this.#byte() !== 0xc0) throw UNHANDLED;
  }

  /** A string of ASCII characters (others are left to the general decoder). */
  asciiStr(): string {
    const b = this.#byte();
    let length: number;
    if (b >= 0xa0 && b <= 0xbf) length = b & 0x1f;
    else if (b === 0xd9) length = this.#big(1);
    else if (b === 0xda) length = this.#big(2);
    else if (b === 0xdb) length = this.#big(4);
    else throw UNHANDLED;
    if (length === 0) return "";
    if (length > this.maxLength) throw UNHANDLED;
    const end = this.#end(length);
    for (let i = this.#pos; i < end; i++) {
      if (this.bytes[i]! >= 0x80) throw UNHANDLED;
    }
    const s = ascii.decode(this.bytes.subarray(this.#pos, end));
    this.#pos = end;
    return s;
  }

  /** Binary data: a view of `bytes`, not a copy (as the general decoder gives). */
  bin(): Uint8Array {
    const b = this.#byte();
    let length: number;
    if (b === 0xc4) length = this.#big(1);
    else if (b === 0xc5) length = this.#big(2);
    else if (b === 0xc6) length = this.#big(4);
    else throw UNHANDLED;
    const end = this.#end(length);
    const data = this.bytes.subarray(this.#pos, end);
    this.#pos = end;
    return data;
  }

  /**
   * The header of binary data: its length. The data itself is left unread
   * (it need not be in `bytes`).
   */
  binHeader(): number {
    const b = this.#byte();
    if (b === 0xc4) return this.#big(1);
    if (b === 0xc5) return this.#big(2);
    if (b === 0xc6) return this.#big(4);
    throw UNHANDLED;
  }

  /** Where `length` more bytes end; throws when the buffer is shorter. */
  #end(length: number): number {
    const end = this.#pos + length;
    if (end > this.bytes.length) throw UNHANDLED;
    return end;
  }

  #byte(): number {
    if (this.#pos >= this.bytes.length) throw UNHANDLED;
    return this.bytes[this.#pos++]!;
  }

  /** A big-endian unsigned integer of `n` (1 to 4) bytes. */
  #big(n: number): number {
    const end = this.#end(n);
    let v = 0;
    while (this.#pos < end) v = v * 0x100 + this.bytes[this.#pos++]!;
    return v;
  }
}
