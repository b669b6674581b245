/**
 * A snapshot read from its file as it is sent to a follower, instead of
 * loaded whole into memory: its encoding (raft/codec.ts `encodeSnapshot`,
 * the bytes a "snap" message carries) is handed out in pieces of the
 * caller's size, its checksum verified on the way.
 *
 * @module
 */

import type { SnapshotMeta } from "./core/mod.ts";

/** An open snapshot file being read in order; see the module doc. */
export interface SnapshotStream {
  /** The snapshot it holds. */
  readonly meta: SnapshotMeta;
  /** The length of the snapshot's encoding. */
  readonly byteLength: number;
  /** The CRC-32 of the whole encoding, as the file records it. */
  readonly crc: number;
  /**
   * Fills `into` with the next `into.length` bytes. Rejects when the file
   * cannot be read (a crash, a damaged file), and when the read reaching
   * the end finds that the bytes do not match {@linkcode crc}: the last
   * bytes are never handed out unverified.
   */
  readNext(into: Uint8Array): Promise<void>;
  /**
   * Done with it: closes the file and lets the storage remove it again.
   * Call it exactly once, whatever happened; later calls are no-ops.
   */
  close(): void;
}
