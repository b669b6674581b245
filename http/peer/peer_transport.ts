/**
 * Raft messages to peers over `POST /raft`. Each peer has two independent
 * lanes, one for ordinary messages and one for snapshots, so a large
 * snapshot never holds back heartbeats. A lane sends one request at a time,
 * the ordinary lane carrying every message queued meanwhile as one msgpack
 * batch, the snapshot lane one snapshot per transfer (what a receiver takes
 * into a file, raft/snapshot_receive.ts): appends to a
 * peer never overtake each other, and a busy peer gets fewer, larger
 * requests. Queues are bounded and drop rather than block (Raft retransmits);
 * a peer that is down only fills its own queue.
 *
 * No request body is larger than `snapshotChunkBytes` plus one message: a
 * batch over it is split into several requests (in order), and a snapshot
 * over it travels in chunks that the receiver puts back together before the
 * node sees it (http/peer/snapshot_chunks.ts). A failed chunk ends the transfer
 * and reports the snapshot lost; the leader sends it again later. A snapshot
 * given with its file (`sendSnapshot`) is read from it one chunk at a time
 * as the transfer goes, never held whole.
 *
 * @module
 */

import type { Logger, Message, NodeId } from "../../raft/core/mod.ts";
import { nopLogger } from "../../raft/core/mod.ts";
import {
  DEFAULTS,
  encodeSnapshotMessageFrame,
  type SnapshotStream,
} from "../../raft/mod.ts";
import { joinBytes } from "../bytes.ts";
import { StreamLane } from "./peer_stream.ts";
import {
  chunkBody,
  type ChunkRequest,
  encodeWithin,
  streamChunks,
  type StreamedBody,
  streamedBodyBytes,
} from "./snapshot_chunks.ts";

/** What the transport reports back to the node. */
export interface TransportListener {
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
  /** A peer answered that this node was removed from the cluster. */
  removedByPeer(): void;
}

/** Options of {@linkcode PeerTransport}. */
export interface PeerTransportOptions {
  /** The base URL of peer `id`, or undefined when unknown. */
  urlOf(id: NodeId): string | undefined;
  encode(msgs: Message[]): Uint8Array;
  /**
   * The bytes of `encode` in parts, a snapshot's data a part of its own
   * (`encodeMessageParts` of raft/mod.ts), so a snapshot is cut into chunks
   * without being copied into one body (default: `encode` as one part).
   */
  encodeParts?(msgs: Message[]): Uint8Array[];
  listener: TransportListener;
  logger?: Logger;
  /** Deadline of one request carrying ordinary messages. */
  timeoutMs?: number;
  /** Deadline of one request carrying a snapshot. */
  snapshotTimeoutMs?: number;
  /** Messages a lane holds before it drops new ones. */
  maxQueue?: number;
  /** Extra headers on every request (the peer token). */
  headers?: Record<string, string>;
  /** The fetch to use (tests, TLS clients). */
  fetch?: typeof fetch;
  /**
   * PEM CA certificates the stream trusts for https peers besides the
   * system's (`--tls-ca`; the POST lane trusts what `fetch` trusts).
   */
  caCerts?: string[];
  /**
   * The largest snapshot chunk, and the budget of one ordinary `POST /raft`
   * body (http/peer/snapshot_chunks.ts; default: `DEFAULTS.snapshotChunkBytes`).
   */
  snapshotChunkBytes?: number;
  /**
   * Send ordinary messages over one WebSocket per peer (http/peer/peer_stream.ts;
   * default true). False sends every batch as a `POST /raft`, through
   * `fetch`. Snapshots always go by POST.
   */
  stream?: boolean;
}

/** Counters for `/metrics` and `/v1/status`. */
export interface PeerStats {
  sent: number;
  failed: number;
  dropped: number;
}

/** A "snap" message to send with its snapshot read from its file. */
interface StreamedSnapshot {
  m: Message;
  stream: SnapshotStream;
}

class Lane {
  #queue: Message[] = [];
  /** Snapshots to stream (snapshot lane only), one transfer each. */
  #streams: StreamedSnapshot[] = [];
  #busy = false;
  #warnedRefused = false;
  readonly stats: PeerStats = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    readonly peer: NodeId,
    readonly isSnapshot: boolean,
    readonly o: Required<Omit<PeerTransportOptions, "logger" | "caCerts">> & {
      logger: Logger;
    },
  ) {}

  push(m: Message): void {
    if (this.#queue.length >= this.o.maxQueue) {
      this.stats.dropped++;
      if (m.type === "snap") this.o.listener.reportSnapshot(this.peer, false);
      return;
    }
    this.#queue.push(m);
    if (!this.#busy) void this.#pump();
  }

  /** Queues a snapshot streamed from its file; it owns `s.stream`. */
  pushStream(s: StreamedSnapshot): void {
    if (this.#queue.length + this.#streams.length >= this.o.maxQueue) {
      this.stats.dropped++;
      s.stream.close();
      this.o.listener.reportSnapshot(this.peer, false);
      return;
    }
    this.#streams.push(s);
    if (!this.#busy) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    while (this.#queue.length > 0 || this.#streams.length > 0) {
      const streamed = this.#streams.shift();
      if (streamed) {
        let ok = false;
        try {
          ok = await this.#postStreamed(streamed);
        } finally {
          streamed.stream.close();
        }
        this.o.listener.reportSnapshot(this.peer, ok);
        if (!ok) this.o.listener.reportUnreachable(this.peer);
        continue;
      }
      // A snapshot travels alone: the receiver takes one snapshot message
      // per transfer (http/peer/snapshot_receiver.ts).
      const batch = this.isSnapshot
        ? this.#queue.splice(0, 1)
        : this.#queue.splice(0);
      const ok = await this.#post(batch);
      if (this.isSnapshot) {
        for (const m of batch) {
          if (m.type === "snap") {
            this.o.listener.reportSnapshot(this.peer, ok);
          }
        }
      }
      if (!ok) {
        this.o.listener.reportUnreachable(this.peer);
      }
    }
    this.#busy = false;
  }

  async #post(batch: Message[]): Promise<boolean> {
    const base = this.o.urlOf(this.peer);
    if (!base) {
      this.stats.dropped += batch.length;
      return false;
    }
    for (const req of this.#requests(batch)) {
      if (!(await this.#postOne(base, req))) return false;
    }
    this.stats.sent += batch.length;
    return true;
  }

  /**
   * Sends one snapshot read from its file as the chunks go: one chunk in
   * memory at a time. False when a chunk fails or the file cannot be read
   * (a damaged file fails before its last chunk, so the peer never gets
   * a complete transfer of it).
   */
  async #postStreamed({ m, stream }: StreamedSnapshot): Promise<boolean> {
    const base = this.o.urlOf(this.peer);
    if (!base) {
      this.stats.dropped++;
      return false;
    }
    const budget = this.o.snapshotChunkBytes;
    let chunks: AsyncGenerator<ChunkRequest> | undefined;
    try {
      const body: StreamedBody = {
        ...encodeSnapshotMessageFrame(m),
        middle: stream,
      };
      const single = streamedBodyBytes(body) <= budget;
      chunks = streamChunks(body, {
        from: m.from,
        transfer: crypto.randomUUID(),
        chunkBytes: budget,
      });
      for await (const chunk of chunks) {
        const req = single ? { body: chunk.body, headers: {} } : chunk;
        if (!(await this.#postOne(base, req))) return false;
      }
    } catch (e) {
      this.stats.failed++;
      this.o.logger.warn("could not read the snapshot being sent", {
        peer: this.peer,
        index: stream.meta.index,
        error: e instanceof Error ? e.message : String(e),
      });
      return false;
    } finally {
      await chunks?.return(undefined);
    }
    this.stats.sent++;
    return true;
  }

  /**
   * The requests that carry `batch`: a snapshot larger than a chunk goes in
   * chunks, ordinary messages in bodies within the same budget.
   */
  #requests(batch: Message[]): ChunkRequest[] {
    const budget = this.o.snapshotChunkBytes;
    if (!this.isSnapshot) {
      return encodeWithin(batch, budget, this.o.encode).map((body) => ({
        body,
        headers: {},
      }));
    }
    const parts = this.o.encodeParts(batch);
    let total = 0;
    for (const p of parts) total += p.length;
    if (total <= budget) {
      return [{ body: joinBytes(parts, total), headers: {} }];
    }
    return chunkBody(parts, {
      from: batch[0]!.from,
      transfer: crypto.randomUUID(),
      chunkBytes: budget,
    });
  }

  async #postOne(base: string, req: ChunkRequest): Promise<boolean> {
    const timeout = this.isSnapshot
      ? this.o.snapshotTimeoutMs
      : this.o.timeoutMs;
    try {
      const res = await this.o.fetch(`${base}/raft`, {
        method: "POST",
        headers: {
          "content-type": "application/msgpack",
          ...req.headers,
          ...this.o.headers,
        },
        body: req.body as Uint8Array<ArrayBuffer>,
        signal: AbortSignal.timeout(timeout),
      });
      // The code of a refusal by the peer checks (http/peer/peer_guard.ts).
      const refusal = res.status === 403
        ? (await res.json().catch(() => undefined))?.error?.code
        : await res.body?.cancel();
      if (res.status === 410) {
        this.o.logger.warn(
          "a peer says this node was removed from the cluster",
          { peer: this.peer },
        );
        this.o.listener.removedByPeer();
        return false;
      }
      if (
        (refusal === "cluster_mismatch" || refusal === "peer_unknown") &&
        !this.#warnedRefused
      ) {
        // Said once, as the lane keeps retrying.
        this.#warnedRefused = true;
        this.o.logger.warn(
          "a peer refuses this node's messages: another cluster, or this " +
            "node is not a member there",
          { peer: this.peer, code: String(refusal) },
        );
      }
      if (!res.ok) {
        this.stats.failed++;
        this.o.logger.debug("peer refused messages", {
          peer: this.peer,
          status: res.status,
        });
        return false;
      }
      return true;
    } catch (e) {
      this.stats.failed++;
      this.o.logger.debug("peer unreachable", {
        peer: this.peer,
        error: String(e),
      });
      return false;
    }
  }
}

/** Sends Raft messages to peers over HTTP; implements the node's Transport. */
export class PeerTransport {
  /** Each peer's lane for ordinary messages: its stream, or POST. */
  readonly #messageLanes = new Map<NodeId, Lane | StreamLane>();
  /** Each peer's lane for snapshots (always POST). */
  readonly #snapshotLanes = new Map<NodeId, Lane>();
  /** Stream lanes replaced by POST ones: kept for their counters. */
  readonly #retired: StreamLane[] = [];
  /** Peers that cannot serve the stream (501): batches go by POST. */
  readonly #postOnly = new Set<NodeId>();
  readonly #o: Required<Omit<PeerTransportOptions, "logger" | "caCerts">> & {
    logger: Logger;
    caCerts?: string[];
  };

  constructor(o: PeerTransportOptions) {
    this.#o = {
      timeoutMs: 2_000,
      snapshotTimeoutMs: 60_000,
      snapshotChunkBytes: DEFAULTS.snapshotChunkBytes.value,
      maxQueue: 4096,
      headers: {},
      fetch: globalThis.fetch,
      stream: true,
      encodeParts: (msgs) => [o.encode(msgs)],
      ...o,
      logger: o.logger ?? nopLogger,
    };
  }

  /** Queues each message on its peer's lane; never blocks. */
  send(msgs: Message[]): void {
    for (const m of msgs) this.#lane(m.to, m.type === "snap").push(m);
  }

  /**
   * Queues the "snap" message `m` on its peer's snapshot lane, its
   * snapshot read from `stream` chunk by chunk as the transfer goes (see
   * `Transport.sendSnapshot` of raft/node.ts); never blocks. Closes
   * `stream` when the transfer ends or is dropped, and reports it.
   */
  sendSnapshot(m: Message, stream: SnapshotStream): void {
    (this.#lane(m.to, true) as Lane).pushStream({ m, stream });
  }

  #lane(peer: NodeId, snapshot: boolean): Lane | StreamLane {
    if (snapshot) {
      let lane = this.#snapshotLanes.get(peer);
      if (!lane) {
        lane = new Lane(peer, true, this.#o);
        this.#snapshotLanes.set(peer, lane);
      }
      return lane;
    }
    let lane = this.#messageLanes.get(peer);
    if (!lane) {
      // ws: for http peers, wss: (TLS, trusting `caCerts`) for https ones.
      const base = this.#o.urlOf(peer);
      lane = this.#o.stream && !this.#postOnly.has(peer) &&
          (base?.startsWith("http:") || base?.startsWith("https:"))
        ? new StreamLane(peer, {
          ...this.#o,
          maxBufferedBytes: 16 * 1024 * 1024,
          retryMs: 100,
          onUnsupported: () => this.#postInstead(peer),
        })
        : new Lane(peer, false, this.#o);
      this.#messageLanes.set(peer, lane);
    }
    return lane;
  }

  /** From now on, batches to `peer` go by POST (its stream lane is dropped). */
  #postInstead(peer: NodeId): void {
    if (this.#postOnly.has(peer)) return;
    this.#postOnly.add(peer);
    // The stream lane finishes on its own (what it held counts as dropped);
    // it is kept aside so its counters remain in stats().
    const lane = this.#messageLanes.get(peer);
    if (lane instanceof StreamLane) this.#retired.push(lane);
    this.#messageLanes.delete(peer);
    this.#o.logger.info(
      "peer cannot serve the raft stream: sending POST /raft",
      { peer },
    );
  }

  /** Every lane, retired ones included. */
  *#allLanes(): Iterable<Lane | StreamLane> {
    yield* this.#messageLanes.values();
    yield* this.#snapshotLanes.values();
    yield* this.#retired;
  }

  /** Closes the peer streams (the node stops); later sends reopen them. */
  close(): void {
    for (const lane of this.#allLanes()) {
      if (lane instanceof StreamLane) lane.close();
    }
  }

  /** Per-peer counters, summed over both lanes. */
  stats(): Map<NodeId, PeerStats> {
    const out = new Map<NodeId, PeerStats>();
    for (const lane of this.#allLanes()) {
      const s = out.get(lane.peer) ?? { sent: 0, failed: 0, dropped: 0 };
      s.sent += lane.stats.sent;
      s.failed += lane.stats.failed;
      s.dropped += lane.stats.dropped;
      out.set(lane.peer, s);
    }
    return out;
  }
}
