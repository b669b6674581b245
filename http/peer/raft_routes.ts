/**
 * `POST /raft`: peer messages. The body is opaque here and goes to the
 * node as is; bytes that do not decode get 400 and the node keeps running.
 * A body with chunk headers is one piece of a large snapshot
 * (http/peer/snapshot_chunks.ts): it goes to the transfer's sink (a file the
 * node's storage writes, or memory) and the node steps the snapshot only
 * once the transfer is complete (http/peer/snapshot_receiver.ts).
 *
 * `GET /raft/stream`: the same messages as binary WebSocket frames on one
 * long-lived connection per sending peer (http/peer/peer_stream.ts). A frame that
 * does not decode closes the stream with {@linkcode CLOSE_BAD_FRAME}; a
 * sender that was removed from the cluster gets {@linkcode CLOSE_PEER_REMOVED}
 * (the stream's 410); other refusals (recovering, stopping) drop the frame,
 * as Raft retransmits.
 *
 * With a {@linkcode PeerGuard}, both routes first check who sends
 * (http/peer/peer_guard.ts): a POST before its body is read, a stream at its
 * handshake (403 before the upgrade), and every batch of either before it
 * reaches the node; a stream whose frame fails the check is closed with
 * {@linkcode CLOSE_PEER_REFUSED}.
 *
 * @module
 */

import type { Hono } from "hono";
import { readBody } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { BadRequestError, PeerRefusedError } from "../errors.ts";
import {
  chunkInfoOf,
  memorySink,
  SnapshotReceiver,
  type TransferSink,
} from "./snapshot_receiver.ts";
import { nodeUpgrade } from "../serving/node_upgrade.ts";
import type { PeerGuard } from "./peer_guard.ts";
import type { Message } from "../../raft/mod.ts";
import {
  CLOSE_BAD_FRAME,
  CLOSE_PEER_REMOVED,
  RAFT_STREAM_PATH,
} from "./peer_stream.ts";

/** The largest frame on `GET /raft/stream`. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Close code of a stream whose frame the peer checks refused (policy violation). */
export const CLOSE_PEER_REFUSED = 1008;

/** Options of {@linkcode registerRaftRoutes}. */
export interface RaftRoutesOptions {
  /** Checks senders before the node sees anything (default: none). */
  guard?: PeerGuard;
  /** Where chunked snapshots are put back together (default: a new one). */
  snapshots?: SnapshotReceiver;
}

/** Registers `POST /raft` and `GET /raft/stream`. */
export function registerRaftRoutes(
  app: Hono,
  ctx: RouteContext,
  o: RaftRoutesOptions = {},
): void {
  const snapshots = o.snapshots ??
    new SnapshotReceiver({ open: transferSinks(ctx) });
  const guard = o.guard;
  app.post("/raft", async (c) => {
    const from = await guard?.admit(c.req.raw.headers);
    const chunk = chunkInfoOf(c.req.raw.headers);
    if (chunk && guard && from !== undefined) guard.checkChunk(chunk, from);
    // Only the leader's transfer can complete: others are dropped.
    snapshots.sweep(guard?.leader());
    const body = await readBody(c.req.raw, {
      maxBytes: ctx.maxRaftBodyBytes,
      code: "body_too_large",
    });
    const whole = chunk ? await snapshots.accept(chunk, body) : body;
    if (whole instanceof Uint8Array) {
      await ctx.node.receiveRaft(whole, checkOf(guard, from));
    } else if (whole) whole.deliver(checkOf(guard, from));
    return new Response(null, { status: 204 });
  });
  app.get(RAFT_STREAM_PATH, async (c) => {
    const from = await guard?.admit(c.req.raw.headers);
    return acceptStream(
      c.req.raw,
      ctx,
      () => snapshots.sweep(guard?.leader()),
      checkOf(guard, from),
    );
  });
}

/**
 * The sinks of snapshot transfers to this node: a file its storage writes
 * when the node offers one (`openSnapshotReceive`), else memory.
 */
export function transferSinks(
  ctx: RouteContext,
): (total: number) => TransferSink {
  return (total) => ctx.node.openSnapshotReceive?.(total) ?? memorySink(total);
}

/** The batch check of an admitted sender, if there is a guard. */
function checkOf(
  guard: PeerGuard | undefined,
  from: number | undefined,
): ((msgs: readonly Message[]) => void) | undefined {
  if (!guard || from === undefined) return undefined;
  return (msgs) => guard.checkBatch(msgs, from);
}

/** The stable code of a typed error, if any. */
function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function acceptStream(
  req: Request,
  ctx: RouteContext,
  onFrame: () => void,
  check: ((msgs: readonly Message[]) => void) | undefined,
): Response {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new BadRequestError(
      "invalid_header",
      `${RAFT_STREAM_PATH} takes a WebSocket upgrade`,
    );
  }
  const { socket, response } = Deno.upgradeWebSocket(req, {
    idleTimeout: 0,
    ...nodeUpgrade.get(req),
  });
  socket.binaryType = "arraybuffer";
  const refused = (err: unknown) => {
    const code = codeOf(err);
    if (code === "peer_removed") {
      socket.close(CLOSE_PEER_REMOVED, "peer removed");
    } else if (err instanceof PeerRefusedError) {
      socket.close(CLOSE_PEER_REFUSED, err.code);
    } else if (code === "invalid_message" || code === "invalid_encoding") {
      ctx.logger.debug("bad frame on the raft stream", { error: String(err) });
      socket.close(CLOSE_BAD_FRAME, "bad frame");
    } else {
      ctx.logger.debug("raft stream frame dropped", { error: String(err) });
    }
  };
  socket.onmessage = (ev) => {
    if (!(ev.data instanceof ArrayBuffer)) {
      socket.close(CLOSE_BAD_FRAME, "binary frames only");
      return;
    }
    // Frames are ordinary batches, never chunked, and arrive whole from
    // the WebSocket layer: the old 64 MiB bound, not the chunked body's.
    if (ev.data.byteLength > Math.max(ctx.maxRaftBodyBytes, MAX_FRAME_BYTES)) {
      socket.close(CLOSE_BAD_FRAME, "frame too large");
      return;
    }
    // Drops stale snapshot transfers while peers talk over the stream only.
    onFrame();
    try {
      const pending = ctx.node.receiveRaft(new Uint8Array(ev.data), check);
      if (pending) pending.catch(refused);
    } catch (err) {
      refused(err);
    }
  };
  return response;
}
