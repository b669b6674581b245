import assert from "node:assert/strict";
import {
  BACKUP_HEADER_BYTES,
  BACKUP_TRAILER_BYTES,
  backupFileBytes,
  BackupFileError,
  decodeBackupFile,
  encodeBackupChunks,
  encodeBackupFile,
} from "../../raft/backup_file.ts";

const META = { index: 1234, term: 7, createdMs: 1_700_000_000_123 };

/** A deterministic state of `n` bytes. */
function state(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

/** Asserts that decoding `bytes` throws a BackupFileError matching `pattern`. */
function refused(bytes: Uint8Array, pattern: RegExp, what: string): void {
  assert.throws(
    () => decodeBackupFile(bytes),
    (err: unknown) =>
      err instanceof BackupFileError && err.code === "invalid_backup" &&
      pattern.test(err.message),
    what,
  );
}

Deno.test("backup file: round trip of an empty and a multi-chunk state", () => {
  for (const n of [0, 1, 100, 64 * 1024, 200_000]) {
    const s = state(n);
    const file = encodeBackupFile(META, s);
    assert.equal(file.length, backupFileBytes(n));
    assert.equal(file.length, BACKUP_HEADER_BYTES + n + BACKUP_TRAILER_BYTES);
    const got = decodeBackupFile(file);
    assert.equal(got.index, META.index);
    assert.equal(got.term, META.term);
    assert.equal(got.createdMs, META.createdMs);
    assert.deepEqual(got.state, s);
  }
});

Deno.test("backup file: the streamed chunks are the file", () => {
  const s = state(150_000);
  const chunks = [...encodeBackupChunks(META, s)];
  assert.ok(chunks.length > 3, "the state is split into several chunks");
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    joined.set(c, pos);
    pos += c.length;
  }
  assert.deepEqual(joined, encodeBackupFile(META, s));
});

Deno.test("backup file: indexes up to 2^53 - 1 survive", () => {
  const meta = {
    index: Number.MAX_SAFE_INTEGER,
    term: 2 ** 40 + 3,
    createdMs: 0,
  };
  const got = decodeBackupFile(encodeBackupFile(meta, state(3)));
  assert.equal(got.index, meta.index);
  assert.equal(got.term, meta.term);
});

Deno.test("backup file: every single flipped bit is refused", () => {
  const file = encodeBackupFile(META, state(40));
  for (let byte = 0; byte < file.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = file.slice();
      bad[byte]! ^= 1 << bit;
      refused(
        bad,
        /RKVBACK|version|truncated|unexpected bytes|checksum|2\^53/,
        `bit ${bit} of byte ${byte}`,
      );
    }
  }
});

Deno.test("backup file: a flipped bit in the state fails the checksum", () => {
  const file = encodeBackupFile(META, state(1000));
  file[BACKUP_HEADER_BYTES + 500]! ^= 0x10;
  refused(file, /checksum mismatch.*corrupt/, "flipped state bit");
});

Deno.test("backup file: every truncation and trailing bytes are refused", () => {
  const file = encodeBackupFile(META, state(100));
  for (let len = 0; len < file.length; len++) {
    refused(
      file.subarray(0, len),
      /RKVBACK|truncated/,
      `cut to ${len} bytes`,
    );
  }
  const longer = new Uint8Array(file.length + 3);
  longer.set(file);
  refused(longer, /3 unexpected bytes after the end/, "trailing bytes");
});

Deno.test("backup file: foreign files and other versions are refused", () => {
  refused(
    new TextEncoder().encode('{"error":"not a backup"}'),
    /does not start with RKVBACK/,
    "JSON error body",
  );
  const file = encodeBackupFile(META, state(10));
  file[8] = 2;
  refused(file, /unknown format version 2/, "version 2");
});

Deno.test("backup file: a negative or fractional field is not written", () => {
  assert.throws(() => encodeBackupFile({ ...META, index: -1 }, state(1)));
  assert.throws(() => encodeBackupFile({ ...META, term: 1.5 }, state(1)));
});

Deno.test("backup file: a state given in slices makes the same bytes", () => {
  const s = state(150_000);
  const sliced = {
    byteLength: s.length,
    *slices() {
      for (let at = 0; at < s.length; at += 30_001) {
        yield s.subarray(at, at + 30_001);
      }
    },
  };
  const chunks = [...encodeBackupChunks(META, sliced)];
  const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    joined.set(c, pos);
    pos += c.length;
  }
  assert.deepEqual(joined, encodeBackupFile(META, s));
  assert.deepEqual(decodeBackupFile(joined).state, s);
});

Deno.test("backup file: slices that do not add up to the length are refused", () => {
  const s = state(1000);
  for (const byteLength of [999, 1001]) {
    const sliced = { byteLength, slices: () => [s] };
    assert.throws(
      () => [...encodeBackupChunks(META, sliced)],
      RangeError,
      String(byteLength),
    );
  }
});
