/**
 * The ordinary-message lane of the peer transport over one long-lived
 * WebSocket per peer (`GET /raft/stream`), instead of one `POST /raft` per
 * batch. A POST costs each side a full HTTP exchange (request and header
 * objects, a timer, routing, a response) for every batch: at one client
 * connection that was most of a write's CPU and latency. On the stream a
 * batch is one binary frame: the messages queued during one turn of the
 * event loop, encoded once.
 *
 * Promises kept from the POST lane: frames to a peer never overtake each
 * other (one socket, in order); the queue is bounded and drops rather than
 * blocks (Raft retransmits); a lost connection is reported as unreachable;
 * a receiver that says the sender was removed (close code
 * {@linkcode CLOSE_PEER_REMOVED}, the stream's 410) stops the sender.
 *
 * @module
 */

import type { Logger, Message, NodeId } from "../../raft/core/mod.ts";
import { BinaryWsClient } from "./ws_client.ts";

/** The path of the stream endpoint on every node. */
export const RAFT_STREAM_PATH = "/raft/stream";

/** Close code of a receiver whose membership says the sender was removed. */
export const CLOSE_PEER_REMOVED = 4410;

/** Close code of a receiver that got a frame it cannot decode. */
export const CLOSE_BAD_FRAME = 1007;

/** What a lane reports back to the node. */
export interface StreamListener {
  reportUnreachable(id: NodeId): void;
  removedByPeer(): void;
}

/** Options of {@linkcode StreamLane}. */
export interface StreamLaneOptions {
  /** The base URL (http or https) of peer `id`, or undefined when unknown. */
  urlOf(id: NodeId): string | undefined;
  encode(msgs: Message[]): Uint8Array;
  listener: StreamListener;
  logger: Logger;
  /** Messages queued (while connecting) before new ones are dropped. */
  maxQueue: number;
  /** Bytes the socket may hold unsent before new batches are dropped. */
  maxBufferedBytes: number;
  /** The wait after a failed or lost connection before the next attempt. */
  retryMs: number;
  /** Headers of the handshake (the peer token). */
  headers: Record<string, string>;
  /** PEM CA certificates trusted for https peers (`wss:`), besides the system's. */
  caCerts?: string[];
  /**
   * The peer answered the handshake with 501 (it cannot serve the stream,
   * http/serving/timeout_server.ts over TLS): the owner sends by POST instead.
   */
  onUnsupported?(): void;
}

/** Counters, as the POST lane keeps them. */
export interface StreamStats {
  sent: number;
  failed: number;
  dropped: number;
}

/** The WebSocket URL of a node's stream endpoint (`ws:`, or `wss:` for https). */
export function streamUrl(base: string): string {
  return base.replace(/^http/, "ws").replace(/\/+$/, "") + RAFT_STREAM_PATH;
}

/** One peer's ordinary messages over one WebSocket; see the module doc. */
export class StreamLane {
  readonly stats: StreamStats = { sent: 0, failed: 0, dropped: 0 };
  #ws: BinaryWsClient | undefined;
  #open = false;
  #queue: Message[] = [];
  #flushQueued = false;
  #retryAt = 0;
  #warnedRefused = false;

  constructor(readonly peer: NodeId, readonly o: StreamLaneOptions) {}

  /** Queues `m`; it goes out with the others queued in this turn. */
  push(m: Message): void {
    if (this.#queue.length >= this.o.maxQueue) {
      this.stats.dropped++;
      return;
    }
    if (this.#ws === undefined && !this.#connect()) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(m);
    if (this.#open && !this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Closes the socket (the node stops); later pushes reconnect. */
  close(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#open = false;
    this.#queue = [];
    ws?.close();
  }

  /** Starts a connection unless waiting after a failure; false when not started. */
  #connect(): boolean {
    if (Date.now() < this.#retryAt) return false;
    const base = this.o.urlOf(this.peer);
    if (!base) return false;
    let ws: BinaryWsClient;
    try {
      ws = new BinaryWsClient(streamUrl(base), this.o.headers, {
        onOpen: () => {
          if (this.#ws !== ws) return;
          this.#open = true;
          this.#flush();
        },
        onClose: (code, reason) => this.#closed(ws, code, reason),
        onRefused: (status) => {
          if (status === 501 && this.#ws === ws) this.o.onUnsupported?.();
          if (status === 403 && !this.#warnedRefused) {
            // Another cluster, or this node is not a member there: say so
            // once, as the lane keeps retrying.
            this.#warnedRefused = true;
            this.o.logger.warn(
              "a peer refuses this node's messages (403): another cluster, " +
                "or this node is not a member there",
              { peer: this.peer },
            );
          }
        },
      }, this.o.caCerts ? { caCerts: this.o.caCerts } : {});
    } catch (e) {
      this.#failed(String(e));
      return false;
    }
    this.#ws = ws;
    return true;
  }

  #failed(why: string): void {
    this.stats.failed++;
    this.stats.dropped += this.#queue.length;
    this.#queue = [];
    this.#retryAt = Date.now() + this.o.retryMs;
    this.o.logger.debug("peer stream down", { peer: this.peer, error: why });
    this.o.listener.reportUnreachable(this.peer);
  }

  #closed(ws: BinaryWsClient, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    this.#open = false;
    if (code === CLOSE_PEER_REMOVED) {
      this.o.logger.warn(
        "a peer says this node was removed from the cluster",
        { peer: this.peer },
      );
      this.#queue = [];
      this.o.listener.removedByPeer();
      return;
    }
    this.#failed(`closed ${code} ${reason}`);
  }

  #flush(): void {
    this.#flushQueued = false;
    const ws = this.#ws;
    if (!this.#open || ws === undefined || this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    // A peer that stopped reading (paused, overloaded) must not make this
    // node buffer without bound: drop, as a full POST queue would.
    if (ws.bufferedAmount > this.o.maxBufferedBytes) {
      this.stats.dropped += batch.length;
      this.o.listener.reportUnreachable(this.peer);
      return;
    }
    try {
      ws.send(this.o.encode(batch));
      this.stats.sent += batch.length;
    } catch (e) {
      this.stats.dropped += batch.length;
      this.#ws = undefined;
      this.#open = false;
      ws.close();
      this.#failed(String(e));
    }
  }
}
