/**
 * Snapshot transfers streamed from the sender's file, as production sends
 * them (issue 15: "sending one to a lagging follower, streamed from the
 * file, not loaded whole into memory on either side"). A node incarnation
 * whose transport streams (drawn per incarnation) gets a `sendSnapshot`,
 * so its `Outbox` (raft/outbox.ts) opens the snapshot file through the real
 * `DiskStorage.openSnapshotStream` (pinned against retention while open)
 * instead of reading it back whole. The transfer is then cut by the
 * production chunker (`streamChunks`, http/peer/snapshot_chunks.ts, the
 * code of `PeerTransport`'s snapshot lane): each chunk is read from the
 * file in the sender's `MemFs` only when its turn comes, one chunk per
 * step of the agenda (a simulated network delay apart), so the sender
 * keeps applying, taking background snapshots and pruning old files while
 * the transfer goes on. Each chunk reaches the receiver's production path
 * of a chunked `POST /raft` (http/peer/raft_routes.ts): a
 * `SnapshotReceiver` per node incarnation (order, offsets and the whole
 * body's CRC checked) over the sink of its `KvNode`
 * (`openSnapshotReceive`: the snapshot written to a temporary file in the
 * receiver's `MemFs`), and the finished transfer's message is delivered to
 * the node as the route does.
 *
 * As a peer lane does, a sender sends one transfer to a peer at a time and
 * reports the snapshot (`reportSnapshot`, and `reportUnreachable` on a
 * failure) when it ends. Faults: a chunk is lost with the network's loss
 * rate or when the link is cut; with odds of 20 x the seed's crash rate (at
 * most 50 %) the SENDER loses power between two chunks, and with the same
 * odds the receiver does (its temporary file must vanish at its restart).
 *
 * Checked at every completed transfer (`snapshot sent`): the snapshot the
 * receiver got is the one the message names (index and term), its bytes
 * equal the sender's file at that index as read whole when the transfer
 * started, and its state equals the state machine image at that index
 * (`snapshot image`); and a transfer whose chunks the sender all posted
 * (which its lane would report as sent) is complete at the receiver.
 *
 * @module
 */

import type { Message, NodeId } from "../../raft/core/mod.ts";
import { PeerRemovedError, RaftKvError } from "../../raft/mod.ts";
import type { SnapshotStream } from "../../raft/snapshot_stream.ts";
import {
  decodeMessages,
  encodeSnapshot,
  encodeSnapshotMessageFrame,
} from "../../raft/codec.ts";
import {
  type ChunkRequest,
  streamChunks,
} from "../../http/peer/snapshot_chunks.ts";
import {
  chunkInfoOf,
  memorySink,
  SnapshotReceiver,
} from "../../http/peer/snapshot_receiver.ts";
import { HttpError } from "../../http/errors.ts";
import type { KvNode } from "../../http/api/kv_node.ts";
import { KvError } from "../../kv/mod.ts";
import { WalError } from "../../wal/mod.ts";
import type { SimNode } from "./sim_node.ts";
import type { SimRng } from "./sim_rng.ts";
import type { NetworkConfig, SimNetwork } from "./sim_network.ts";
import { InvariantViolation } from "./invariants.ts";

/** What the streamed transfers went through over a run. */
export interface SendCounts {
  /** Transfers streamed from the sender's file (each a "snap" message). */
  streamed: number;
  /** Chunks read from a sender's file and delivered. */
  chunks: number;
  /** Transfers that completed and were checked (`snapshot sent`). */
  completed: number;
  /** Senders that lost power between two chunks of a transfer. */
  senderCrashes: number;
  /** Receivers that lost power between two chunks. */
  receiverCrashes: number;
  /** Transfers whose sender wrote a newer snapshot while they went on. */
  replacedDuring: number;
  /** Transfers during which the sender's retention removed snapshot files. */
  prunedDuring: number;
  /** Transfers that failed: a chunk lost or refused, a file unreadable. */
  failed: number;
}

/** All counters at zero. */
export function zeroSendCounts(): SendCounts {
  return {
    streamed: 0,
    chunks: 0,
    completed: 0,
    senderCrashes: 0,
    receiverCrashes: 0,
    replacedDuring: 0,
    prunedDuring: 0,
    failed: 0,
  };
}

/** What the streamed sends need from the cluster. */
export interface SendHost {
  now(): number;
  phase(): "faults" | "liveness";
  readonly crashRate: number;
  readonly network: SimNetwork & { config: NetworkConfig };
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  /** Puts the next step of transfer `id` on the agenda at `at`. */
  scheduleChunk(id: number, at: number): void;
  /** Tells the sender's incarnation `inc` how a transfer ended. */
  report(
    node: NodeId,
    inc: number,
    peer: NodeId,
    what: "snapOk" | "snapFail" | "unreachable" | "removed",
  ): void;
  /** Crashes `n` (its restart scheduled). */
  crash(n: SimNode): Promise<void>;
  /** The HTTP adapter of the node's incarnation, as the peer route reaches it. */
  port(n: SimNode): KvNode | undefined;
  /** Lets `n` finish what it was handed, then checks it. */
  settle(n: SimNode): Promise<void>;
  /** The state-image check of a snapshot (`snapshot image`). */
  checkImage(n: SimNode, snap: NonNullable<Message["snapshot"]>): void;
  note(text: string): void;
}

interface Transfer {
  id: number;
  from: NodeId;
  inc: number;
  to: NodeId;
  m: Message & { snapshot: NonNullable<Message["snapshot"]> };
  stream: SnapshotStream;
  chunks: AsyncGenerator<ChunkRequest> | undefined;
  /** Chunks delivered so far; the transfer's chunk count. */
  sent: number;
  count: number;
  chunkBytes: number;
  /** Chunk indexes before which the sender or the receiver loses power (-1: never). */
  senderCrashAt: number;
  receiverCrashAt: number;
  /** The sender's file at the start, read whole (what must arrive). */
  expected: Uint8Array | undefined;
  /** The bytes the receiver took, in order. */
  received: Uint8Array[];
  /** The sender's snapshot files removed before the transfer started. */
  prunedBefore: number;
}

/** The streamed snapshot sends of one run; see the module doc. */
export class SimSnapshotSends {
  readonly counts: SendCounts = zeroSendCounts();
  readonly #host: SendHost;
  readonly #rng: SimRng;
  readonly #transfers = new Map<number, Transfer>();
  /** Each sender incarnation's lane to a peer: transfers waiting, the first one going. */
  readonly #lanes = new Map<string, Transfer[]>();
  /** Each receiving node incarnation's reassembly (as its peer route keeps one). */
  readonly #receivers = new Map<string, SnapshotReceiver>();
  #nextId = 1;

  constructor(host: SendHost, rng: SimRng) {
    this.#host = host;
    this.#rng = rng;
  }

  /** Whether a new node incarnation's transport streams its snapshot sends. */
  drawStreaming(): boolean {
    return this.#rng.chance(0.5);
  }

  /**
   * `Transport.sendSnapshot` of `from`'s incarnation `inc`: queues the
   * transfer of `m` on its lane to `m.to`; it owns `stream`.
   */
  start(from: SimNode, inc: number, m: Message, stream: SnapshotStream): void {
    const h = this.#host, rng = this.#rng;
    if (!m.snapshot) throw new Error("sendSnapshot without a snapshot");
    this.counts.streamed++;
    const total = stream.byteLength + 64;
    const count = 2 + rng.intn(7);
    const odds = Math.min(0.5, h.crashRate * 20);
    const t: Transfer = {
      id: this.#nextId++,
      from: from.id,
      inc,
      to: m.to,
      m: m as Transfer["m"],
      stream,
      chunks: undefined,
      sent: 0,
      count,
      chunkBytes: Math.max(1, Math.ceil(total / count)),
      senderCrashAt: rng.chance(odds) ? rng.intn(count) : -1,
      receiverCrashAt: rng.chance(odds) ? rng.intn(count) : -1,
      expected: undefined,
      received: [],
      prunedBefore: from.durable.counts.snapshotsRemoved,
    };
    this.#transfers.set(t.id, t);
    const key = `${from.id}/${inc}->${m.to}`;
    const lane = this.#lanes.get(key) ?? [];
    this.#lanes.set(key, lane);
    lane.push(t);
    h.note(
      `node ${from.id} streams snapshot ${m.snapshot.meta.index} to ${m.to} ` +
        `(transfer ${t.id}, ${stream.byteLength} bytes of file, chunks of ${t.chunkBytes})`,
    );
    if (lane.length === 1) this.#next(t);
  }

  /** Puts the next chunk of `t` on the agenda, a network delay later. */
  #next(t: Transfer): void {
    const c = this.#host.network.config;
    const delay = c.minDelayMs + this.#rng.exp(c.delayMeanMs);
    this.#host.scheduleChunk(t.id, this.#host.now() + delay);
  }

  /** The peer route's reassembly of node `n`'s current incarnation. */
  #receiver(n: SimNode, port: KvNode): SnapshotReceiver {
    const key = `${n.id}/${n.incarnation}`;
    let r = this.#receivers.get(key);
    if (!r) {
      r = new SnapshotReceiver({
        now: () => this.#host.now(),
        open: (total) => port.openSnapshotReceive(total) ?? memorySink(total),
      });
      this.#receivers.set(key, r);
    }
    return r;
  }

  /** One step of transfer `id`: the next chunk read, sent and taken. */
  async step(id: number): Promise<void> {
    const h = this.#host;
    const t = this.#transfers.get(id);
    if (!t) return;
    const from = h.nodes.get(t.from)!;
    if (from.incarnation !== t.inc || from.state !== "up") {
      // The sender died with its transfer: nothing to close or report.
      this.#end(t);
      return;
    }
    if (t.sent === t.senderCrashAt && h.phase() === "faults") {
      this.counts.senderCrashes++;
      h.note(
        `node ${from.id} loses power in the middle of sending snapshot ` +
          `${t.m.snapshot.meta.index} to ${t.to} (chunk ${t.sent} of ${t.count})`,
      );
      this.#end(t);
      await h.crash(from);
      return;
    }
    let chunk: ChunkRequest;
    try {
      if (!t.chunks) {
        // The file as it is now, read whole on the side (it is pinned
        // while the stream is open): what the receiver must end up with.
        const disk = await from.durable.open();
        t.expected = encodeSnapshot(await disk.readSnapshot(t.m.snapshot.meta));
      }
      t.chunks ??= streamChunks(
        { ...encodeSnapshotMessageFrame(t.m), middle: t.stream },
        { from: t.from, transfer: `t${t.id}`, chunkBytes: t.chunkBytes },
      );
      const r = await t.chunks.next();
      if (r.done) {
        // The lane has posted every chunk and would report the snapshot
        // sent, yet the receiver has not completed the transfer.
        throw new InvariantViolation(
          "snapshot sent",
          `node ${t.from} sent every chunk of snapshot ` +
            `${t.m.snapshot.meta.index} to ${t.to} (transfer ${t.id}), ` +
            `but the receiver has ${received(t)} bytes of ` +
            `${t.stream.byteLength + frameBytes(t.m)} and did not complete it`,
        );
      }
      chunk = r.value;
    } catch (e) {
      if (!readFailure(e)) throw e;
      h.note(
        `node ${from.id} cannot read snapshot ${t.m.snapshot.meta.index} ` +
          `being sent: ${e.message}`,
      );
      return this.#fail(t);
    }
    const to = h.nodes.get(t.to);
    const lost = h.network.isBlocked(t.from, t.to) ||
      this.#rng.chance(h.network.config.lossRate);
    if (!to || to.state !== "up" || lost) return this.#fail(t);
    if (t.sent === t.receiverCrashAt && h.phase() === "faults") {
      this.counts.receiverCrashes++;
      h.note(
        `node ${to.id} loses power in the middle of a streamed snapshot ` +
          `transfer (chunk ${t.sent} of ${t.count})`,
      );
      await h.crash(to);
      return this.#fail(t);
    }
    const port = h.port(to);
    if (!port) return this.#fail(t);
    const info = chunkInfoOf(new Headers(chunk.headers));
    if (!info) throw new Error(`transfer ${t.id}: a chunk without headers`);
    this.counts.chunks++;
    t.received.push(chunk.body);
    t.sent++;
    try {
      const whole = await this.#receiver(to, port).accept(info, chunk.body);
      if (whole === undefined) {
        this.#next(t);
        return;
      }
      this.#check(t, to);
      if (whole instanceof Uint8Array) port.receiveRaft(whole);
      else whole.deliver();
    } catch (e) {
      if (e instanceof PeerRemovedError) {
        h.report(t.from, t.inc, t.to, "removed");
        this.#close(t);
        return;
      }
      if (
        e instanceof HttpError || e instanceof KvError ||
        (e instanceof RaftKvError && e.code !== "assertion")
      ) {
        h.note(`node ${t.to} refuses transfer ${t.id}: ${e.message}`);
        return this.#fail(t);
      }
      throw e;
    }
    this.counts.completed++;
    if (from.durable.snapshot().meta.index > t.m.snapshot.meta.index) {
      this.counts.replacedDuring++;
    }
    if (from.durable.counts.snapshotsRemoved > t.prunedBefore) {
      this.counts.prunedDuring++;
    }
    h.report(t.from, t.inc, t.to, "snapOk");
    this.#close(t);
    await h.settle(to);
  }

  /**
   * `snapshot sent`: the body the receiver took holds the snapshot the
   * message names, byte for byte the sender's file at that index, and its
   * state is the state at that index.
   */
  #check(t: Transfer, to: SimNode): void {
    let total = 0;
    for (const c of t.received) total += c.length;
    const body = new Uint8Array(total);
    let at = 0;
    for (const c of t.received) {
      body.set(c, at);
      at += c.length;
    }
    const [got] = decodeMessages(body);
    const want = t.m.snapshot.meta;
    const meta = got?.snapshot?.meta;
    if (
      !got?.snapshot || meta!.index !== want.index || meta!.term !== want.term
    ) {
      throw new InvariantViolation(
        "snapshot sent",
        `node ${t.from} sent snapshot ${want.index}@${want.term} to ${to.id}; ` +
          `it received ${meta ? `${meta.index}@${meta.term}` : "no snapshot"}`,
      );
    }
    if (t.expected !== undefined) {
      const bytes = encodeSnapshot(got.snapshot);
      if (!sameBytes(bytes, t.expected)) {
        throw new InvariantViolation(
          "snapshot sent",
          `node ${t.from} sent snapshot ${want.index}@${want.term} to ${to.id}: ` +
            `the ${bytes.length} bytes received differ from its file's ${t.expected.length}`,
        );
      }
    }
    this.#host.checkImage(to, got.snapshot);
  }

  /** The transfer failed: reported as the lane does, the file closed. */
  #fail(t: Transfer): void {
    this.counts.failed++;
    this.#host.report(t.from, t.inc, t.to, "snapFail");
    this.#host.report(t.from, t.inc, t.to, "unreachable");
    this.#close(t);
  }

  /** Closes the sender's file and starts the lane's next transfer. */
  #close(t: Transfer): void {
    void t.chunks?.return(undefined);
    t.stream.close();
    this.#end(t);
  }

  #end(t: Transfer): void {
    this.#transfers.delete(t.id);
    const key = `${t.from}/${t.inc}->${t.to}`;
    const lane = this.#lanes.get(key);
    if (!lane) return;
    lane.shift();
    const next = lane[0];
    if (!next) {
      this.#lanes.delete(key);
      return;
    }
    const from = this.#host.nodes.get(t.from)!;
    if (from.incarnation !== t.inc || from.state !== "up") {
      for (const d of lane) this.#transfers.delete(d.id);
      this.#lanes.delete(key);
      return;
    }
    this.#next(next);
  }
}

/** The bytes the receiver took so far in transfer `t`. */
function received(t: { received: Uint8Array[] }): number {
  let n = 0;
  for (const c of t.received) n += c.length;
  return n;
}

/** The bytes of a streamed "snap" message around its snapshot's encoding. */
function frameBytes(m: Message): number {
  const { before, after } = encodeSnapshotMessageFrame(m);
  return before.length + after.length;
}

/** An error reading a snapshot file that a sender meets and reports. */
function readFailure(e: unknown): e is Error {
  return e instanceof WalError || e instanceof Deno.errors.NotFound ||
    (e instanceof RaftKvError && e.code !== "assertion");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
