/**
 * `POST /raft`: peer messages. The body is opaque here and goes to the
 * node as is; bytes that do not decode get 400 and the node keeps running.
 * A body with chunk headers is one piece of a large snapshot
 * (http/peer/snapshot_chunks.ts): it is held until the transfer is complete and
 * goes to the node only then (http/peer/snapshot_receiver.ts).
 *
 * `GET /raft/stream`: the same messages as binary WebSocket frames on one
 * long-lived connection per sending peer (http/peer/peer_stream.ts). A frame that
 * does not decode closes the stream with {@linkcode CLOSE_BAD_FRAME}; a
 * sender that was removed from the cluster gets {@linkcode CLOSE_PEER_REMOVED}
 * (the stream's 410); other refusals (recovering, stopping) drop the frame,
 * as Raft retransmits.
 *
 * @module
 */

import type { Hono } from "hono";
import { readBody } from "../body.ts";
import type { RouteContext } from "../context.ts";
import { BadRequestError } from "../errors.ts";
import { chunkInfoOf, SnapshotReceiver } from "./snapshot_receiver.ts";
import { nodeUpgrade } from "../serving/node_upgrade.ts";
import {
  CLOSE_BAD_FRAME,
  CLOSE_PEER_REMOVED,
  RAFT_STREAM_PATH,
} from "./peer_stream.ts";

/** The largest frame on `GET /raft/stream`. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Registers `POST /raft` and `GET /raft/stream`. */
export function registerRaftRoutes(app: Hono, ctx: RouteContext): void {
  const snapshots = new SnapshotReceiver();
  app.post("/raft", async (c) => {
    snapshots.sweep();
    const chunk = chunkInfoOf(c.req.raw.headers);
    const body = await readBody(c.req.raw, {
      maxBytes: ctx.maxRaftBodyBytes,
      code: "body_too_large",
    });
    const whole = chunk ? snapshots.accept(chunk, body) : body;
    if (whole) await ctx.node.receiveRaft(whole);
    return new Response(null, { status: 204 });
  });
  app.get(
    RAFT_STREAM_PATH,
    (c) => acceptStream(c.req.raw, ctx, () => snapshots.sweep()),
  );
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
      const pending = ctx.node.receiveRaft(new Uint8Array(ev.data));
      if (pending) pending.catch(refused);
    } catch (err) {
      refused(err);
    }
  };
  return response;
}
