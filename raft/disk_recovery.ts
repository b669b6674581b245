/**
 * Start-up of the disk storage: which snapshot to trust, and how the log is
 * rebuilt on top of it. {@linkcode rebuild} is the only way to make the
 * in-memory mirror, and it takes the base snapshot as an argument: it
 * applies the snapshot first and then only the WAL entries after it, so the
 * seed project's bug (WAL replayed before the snapshot) cannot be written.
 *
 * @module
 */

import { RaftKvError } from "./core/mod.ts";
import type { Logger } from "./core/mod.ts";
import { MemoryStorage } from "./core/mod.ts";
import type { Entry, HardState, Snapshot } from "./core/mod.ts";
import {
  RecordKind,
  type ReplayedRecord,
  SnapshotCorruptError,
  type SnapshotFileInfo,
  type SnapshotFiles,
  WalCorruptError,
} from "../wal/mod.ts";
import {
  CodecError,
  decodeEntries,
  decodeHardState,
  decodeSnapshot,
  decodeSnapshotMarker,
  decodeStorageMetadata,
  type StorageMetadata,
} from "./codec.ts";

/** The data directory belongs to another cluster or node. */
export class StorageMismatchError extends RaftKvError {
  constructor(found: StorageMetadata, want: StorageMetadata) {
    super(
      "storage_mismatch",
      `data directory belongs to cluster ${
        JSON.stringify(found.clusterId)
      } node ${found.nodeId}, ` +
        `not cluster ${JSON.stringify(want.clusterId)} node ${want.nodeId}` +
        (found.nodeId !== want.nodeId
          ? `: start it with --id ${found.nodeId}, or give this node an empty --data-dir`
          : ""),
    );
  }
}

const EMPTY_SNAPSHOT: Snapshot = {
  meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
  data: new Uint8Array(),
};
const ZERO_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

function corrupt(r: ReplayedRecord, reason: string): WalCorruptError {
  return new WalCorruptError(r.file, r.offset, reason);
}

function decodeRecord<T>(r: ReplayedRecord, decode: (b: Uint8Array) => T): T {
  try {
    return decode(r.data);
  } catch (err) {
    if (err instanceof CodecError) {
      throw corrupt(r, `bad record: ${err.message}`);
    }
    throw err;
  }
}

/** The state a WAL replay yields on top of its base snapshot. */
export interface Rebuilt {
  mirror: MemoryStorage;
  /** Entries replayed after the snapshot. */
  replayed: number;
}

/**
 * Builds the mirror from the base snapshot, then the WAL records: entries at
 * or below the snapshot are skipped, an entry batch starting at index i
 * replaces every entry >= i (as etcd's ReadAll), the last hard state wins,
 * and a marker of a snapshot received from the leader voids the entries
 * written before it. Throws {@linkcode WalCorruptError} on a gap still
 * open at the end, a bad record, or a replaced log whose snapshot is not
 * the base.
 *
 * A gap that a later batch closes is no damage: what follows it was
 * overwritten anyway. A crash inside WAL retention leaves exactly that when
 * segment labels do not increase (a segment cut before the log was
 * truncated, left first while the older ones were deleted: simulator
 * seed 378).
 */
export function rebuild(
  base: Snapshot,
  records: readonly ReplayedRecord[],
): Rebuilt {
  const baseIndex = base.meta.index;
  let tail: Entry[] = [];
  // The first gap not yet overwritten; the batches after it are dropped.
  let gap: WalCorruptError | undefined;
  let hardState = ZERO_HARD_STATE;
  for (const r of records) {
    switch (r.kind) {
      case RecordKind.entries: {
        const ents = decodeRecord(r, decodeEntries);
        if (ents.length === 0) break;
        const first = ents[0]!.index;
        if (ents.some((e, k) => e.index !== first + k)) {
          throw corrupt(r, "entry batch is not contiguous");
        }
        const last = first + ents.length - 1;
        if (last <= baseIndex) {
          tail = []; // the log ended inside the snapshot at this point
          gap = undefined;
          break;
        }
        const from = Math.max(first, baseIndex + 1);
        const at = from - baseIndex - 1;
        if (at > tail.length) {
          gap ??= corrupt(
            r,
            `gap in the log: entry ${from} follows ${baseIndex + tail.length}`,
          );
          break;
        }
        gap = undefined;
        tail.length = at;
        for (let k = from - first; k < ents.length; k++) tail.push(ents[k]!);
        break;
      }
      case RecordKind.hardState:
        hardState = decodeRecord(r, decodeHardState);
        break;
      case RecordKind.snapshot: {
        const m = decodeRecord(r, decodeSnapshotMarker);
        if (!m.reset) break;
        if (m.index > baseIndex) {
          throw corrupt(
            r,
            `the log was replaced by snapshot ${m.index} (term ${m.term}), whose file is missing or damaged`,
          );
        }
        tail = [];
        gap = undefined;
        break;
      }
      case RecordKind.metadata:
        break;
      default:
        throw corrupt(r, `unknown record kind ${r.kind}`);
    }
  }
  if (gap) throw gap;
  const mirror = new MemoryStorage();
  mirror.applySnapshot(base);
  mirror.append(tail);
  mirror.setHardState(hardState);
  return { mirror, replayed: tail.length };
}

function markerKey(term: number, index: number): string {
  return `${term}/${index}`;
}

/**
 * Whether two cluster ids can name the same cluster: equal, or one of them
 * empty (unknown: written by an older raftkv, or by a joining node before
 * it learned the id).
 */
function sameCluster(a: string, b: string): boolean {
  return a === b || a === "" || b === "";
}

/**
 * Checks that every metadata record names the same owner, and that it is
 * `want`. An empty cluster id matches any (see `sameCluster`); the result
 * carries the known one, if any.
 */
export function checkMetadata(
  records: readonly ReplayedRecord[],
  want?: StorageMetadata,
): StorageMetadata {
  let found: StorageMetadata | undefined;
  for (const r of records) {
    if (r.kind !== RecordKind.metadata) continue;
    const m = decodeRecord(r, decodeStorageMetadata);
    if (
      found &&
      (!sameCluster(found.clusterId, m.clusterId) || found.nodeId !== m.nodeId)
    ) {
      throw corrupt(r, "segments disagree about the cluster and node id");
    }
    found = {
      nodeId: m.nodeId,
      clusterId: m.clusterId || found?.clusterId || "",
    };
  }
  if (
    found && want &&
    (!sameCluster(found.clusterId, want.clusterId) ||
      found.nodeId !== want.nodeId)
  ) {
    throw new StorageMismatchError(found, want);
  }
  if (found && want) {
    return {
      nodeId: found.nodeId,
      clusterId: found.clusterId || want.clusterId,
    };
  }
  return found ?? want ?? { clusterId: "", nodeId: 0 };
}

/**
 * Loads the newest valid snapshot that a WAL marker references, deleting
 * unreferenced files newer than every marker (left by a crash before the
 * marker was written). The empty snapshot when there is none.
 */
export async function loadBase(
  snaps: SnapshotFiles,
  records: readonly ReplayedRecord[],
  logger: Logger,
): Promise<Snapshot> {
  const referenced = new Set<string>();
  let newest = 0;
  for (const r of records) {
    if (r.kind !== RecordKind.snapshot) continue;
    const m = decodeRecord(r, decodeSnapshotMarker);
    referenced.add(markerKey(m.term, m.index));
    newest = Math.max(newest, m.index);
  }
  const files = await snaps.list();
  if (records.length === 0) {
    if (files.length > 0) {
      logger.warn("storage: snapshot files without a WAL are ignored", {
        files: files.length,
      });
    }
    return EMPTY_SNAPSHOT;
  }
  for (const f of files) {
    if (f.index > newest && !referenced.has(markerKey(f.term, f.index))) {
      logger.info(
        "storage: removing a snapshot file no WAL marker references",
        { file: f.name },
      );
      await snaps.remove(f.name);
    }
  }
  const isReferenced = (f: SnapshotFileInfo) =>
    referenced.has(markerKey(f.term, f.index));
  const loaded = await snaps.loadNewest(isReferenced);
  if (!loaded) return EMPTY_SNAPSHOT;
  let snap: Snapshot;
  try {
    snap = decodeSnapshot(loaded.data);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    throw new SnapshotCorruptError(snaps.path(loaded.name), err.message);
  }
  if (snap.meta.index !== loaded.index || snap.meta.term !== loaded.term) {
    throw new SnapshotCorruptError(
      snaps.path(loaded.name),
      "contents do not match the file name",
    );
  }
  return snap;
}
