/**
 * A one-member cluster for restart tests: node 1 over a DiskStorage in the
 * given in-memory files, with no peers to send to, so it elects itself
 * once ticked (`runUntil`). Starting it again on the same files is a
 * restart.
 */

import type { KvStore } from "../../kv/mod.ts";
import {
  DiskStorage,
  type DiskStorageOptions,
} from "../../raft/disk_storage.ts";
import { RaftNode, type RaftNodeOptions, seededRng } from "../../raft/mod.ts";
import type { MemFs } from "../../wal/mem_fs.ts";

/** A started node 1 and the storage it runs over. */
export interface SingleNode {
  node: RaftNode;
  storage: DiskStorage;
}

/**
 * Opens `/n1` in `fs` (with `storage` options besides the metadata) and
 * starts node 1 applying to `store` (with `node` options besides the
 * member list, storage, state machine, rng and epoch).
 */
export async function startSingleNode(
  fs: MemFs,
  store: KvStore,
  options: {
    storage?: Partial<DiskStorageOptions>;
    node?: Partial<RaftNodeOptions>;
  } = {},
): Promise<SingleNode> {
  const storage = await DiskStorage.open(fs, "/n1", {
    metadata: { clusterId: "", nodeId: 1 },
    ...options.storage,
  });
  const node = new RaftNode({
    id: 1,
    peers: new Map([[1, "http://127.0.0.1:41001"]]),
    join: false,
    storage,
    stateMachine: store,
    rng: seededRng(1),
    epoch: 1,
    ...options.node,
  });
  node.setTransport({ send() {} });
  node.start();
  return { node, storage };
}
