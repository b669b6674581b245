/**
 * A minimal msgpack writer for the encodings on the replication hot path
 * (message batches, WAL entry batches): it writes values straight into one
 * reused buffer, so encoding builds no intermediate positional arrays.
 * For the values it supports it produces the same bytes as
 * `@msgpack/msgpack`'s `Encoder` (smallest format for each value), so
 * either side of the codec can decode the other's output.
 *
 * @module
 */

const utf8 = new TextEncoder();

/** Writes msgpack values into a growing buffer reused between encodings. */
export class MsgpackWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = new Uint8Array(initialBytes);
  }

  /** Starts a new encoding (forgets what was written). */
  reset(): void {
    this.#pos = 0;
  }

  /** A copy of what was written since {@linkcode reset}. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }

  /** An array header of `length` items (the items follow). */
  arrayHeader(length: number): void {
    this.#ensure(5);
    if (length < 16) this.#u8(0x90 | length);
    else if (length < 0x10000) {
      this.#u8(0xdc);
      this.#u16(length);
    } else {
      this.#u8(0xdd);
      this.#u32(length);
    }
  }

  /**
   * A non-negative safe integer. Throws RangeError on anything else: the
   * encodings written with this class hold no other numbers.
   */
  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`not a non-negative safe integer: ${v}`);
    }
    this.#ensure(9);
    if (v < 0x80) this.#u8(v);
    else if (v < 0x100) {
      this.#u8(0xcc);
      this.#u8(v);
    } else if (v < 0x10000) {
      this.#u8(0xcd);
      this.#u16(v);
    } else if (v < 0x1_0000_0000) {
      this.#u8(0xce);
      this.#u32(v);
    } else {
      this.#u8(0xcf);
      this.#u32(Math.floor(v / 0x1_0000_0000));
      this.#u32(v >>> 0);
    }
  }

  /** `true` or `false`. */
  bool(v: boolean): void {
    this.#ensure(1);
    this.#u8(v ? 0xc3 : 0xc2);
  }

  /** `nil` (null). */
  nil(): void {
    this.#ensure(1);
    this.#u8(0xc0);
  }

  /** A string, as UTF-8. */
  str(s: string): void {
    // The empty string, by far the commonest, costs no encoding.
    const bytes = s === "" ? undefined : utf8.encode(s);
    const length = bytes?.length ?? 0;
    this.#ensure(5 + length);
    if (length < 32) this.#u8(0xa0 | length);
    else if (length < 0x100) {
      this.#u8(0xd9);
      this.#u8(length);
    } else if (length < 0x10000) {
      this.#u8(0xda);
      this.#u16(length);
    } else {
      this.#u8(0xdb);
      this.#u32(length);
    }
    if (bytes) this.#raw(bytes);
  }

  /** Binary data (`bin`). */
  bin(bytes: Uint8Array): void {
    const length = bytes.length;
    this.#ensure(5 + length);
    if (length < 0x100) {
      this.#u8(0xc4);
      this.#u8(length);
    } else if (length < 0x10000) {
      this.#u8(0xc5);
      this.#u16(length);
    } else {
      this.#u8(0xc6);
      this.#u32(length);
    }
    this.#raw(bytes);
  }

  /** A value encoded elsewhere, copied in as it is. */
  encoded(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#raw(bytes);
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    let size = Math.max(this.#buf.length * 2, 64);
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  #u8(v: number): void {
    this.#buf[this.#pos++] = v;
  }

  #u16(v: number): void {
    this.#buf[this.#pos++] = v >>> 8;
    this.#buf[this.#pos++] = v;
  }

  #u32(v: number): void {
    this.#buf[this.#pos++] = v >>> 24;
    this.#buf[this.#pos++] = v >>> 16;
    this.#buf[this.#pos++] = v >>> 8;
    this.#buf[this.#pos++] = v;
  }

  #raw(bytes: Uint8Array): void {
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }
}
