/**
 * A real RaftNode (over MemFs files and the real KV state machine) as node
 * 1 of a three-node cluster whose other members are played by the test: it
 * follows node 2, and every message it sends is recorded, never delivered.
 */

import { KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  type Message,
  message,
  RaftNode,
  type RaftNodeOptions,
  seededRng,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { turn } from "./node_turns.ts";

/** A started node 1 that follows node 2. */
export interface LoneFollower {
  node: RaftNode;
  /** Every message the node sent, in order. */
  sent: Message[];
  /** The file system its storage (in `/n1`) writes to. */
  fs: MemFs;
  /** Stops the node and closes its files. */
  close(): Promise<void>;
}

/** Lets turns of the event loop pass until `cond` holds (bounded in count). */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await turn();
  }
  throw new Error(`never reached: ${what}`);
}

/** Starts node 1 with `options` and makes it follow node 2 in term 1. */
export async function loneFollower(
  options: Partial<RaftNodeOptions> = {},
): Promise<LoneFollower> {
  const fs = new MemFs();
  const storage = await DiskStorage.open(fs, "/n1", {
    metadata: { clusterId: "", nodeId: 1 },
  });
  const node = new RaftNode({
    id: 1,
    peers: new Map([1, 2, 3].map((i) => [i, `http://127.0.0.1:${41000 + i}`])),
    join: false,
    storage,
    stateMachine: new KvStore(),
    rng: seededRng(1),
    epoch: 1,
    ...options,
  });
  const sent: Message[] = [];
  node.setTransport({ send: (msgs) => sent.push(...msgs) });
  node.start();
  await until(() => !node.recovering(), "recovered");
  node.receive([message({ type: "heartbeat", from: 2, to: 1, term: 1 })]);
  await until(() => node.leader() === 2, "node 2 known as leader");
  return {
    node,
    sent,
    fs,
    close: async () => {
      node.stop();
      await storage.close();
    },
  };
}
