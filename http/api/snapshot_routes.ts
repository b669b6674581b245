/**
 * `GET /v1/snapshot`: a backup of the store, like `etcdctl snapshot save`.
 * By default a ReadIndex barrier runs first, so the backup holds every
 * write acknowledged before the request began; `?consistency=stale` skips
 * it and takes this node's applied state as it is. Either way the image is
 * taken between two applies and matches exactly one applied index. The
 * image is the store's point-in-time view (O(1) to take); the body is a
 * backup file (raft/backup_file.ts) whose state is encoded one bounded
 * slice per pull of the response stream, so nothing proportional to the
 * state runs at once on the event loop and writes keep applying meanwhile.
 * The view is released when the body ends, fails or is cancelled. Restore
 * it with `raftkv restore` (docs/BACKUP.md).
 *
 * @module
 */

import type { Hono } from "hono";
import { backupFileBytes, encodeBackupChunks } from "../../raft/mod.ts";
import type { RouteContext } from "../context.ts";
import { withDeadline } from "../deadline.ts";
import { NodeRecoveringError } from "../errors.ts";
import { parseStale, rawQuery } from "../validate.ts";

/** The path of the backup route. */
export const SNAPSHOT_PATH = "/v1/snapshot";

/** Registers `GET /v1/snapshot`. */
export function registerSnapshotRoutes(app: Hono, ctx: RouteContext): void {
  app.get(SNAPSHOT_PATH, (c) => snapshot(c.req.raw, ctx));
}

async function snapshot(req: Request, ctx: RouteContext): Promise<Response> {
  const stale = parseStale(rawQuery(req.url));
  if (ctx.node.recovering()) throw new NodeRecoveringError();
  if (!stale) {
    await withDeadline(ctx.requestTimeoutMs, (s) => ctx.node.readBarrier(s));
  }
  const image = ctx.node.storeImage();
  const meta = { index: image.index, term: image.term, createdMs: Date.now() };
  const chunks = encodeBackupChunks(meta, image.state);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    image.state.release();
  };
  // One chunk per pull: the stream asks again only once the client has
  // taken what it holds, so each step is one slice's work.
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      try {
        const next = chunks.next();
        if (next.done) {
          release();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (e) {
        release();
        controller.error(e);
      }
    },
    cancel() {
      release();
      chunks.return(undefined);
    },
  }, { highWaterMark: 0 });
  const name = `raftkv-${image.index}.backup`;
  return new Response(body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${name}"`,
      "content-length": String(backupFileBytes(image.state.byteLength)),
      "x-raftkv-snapshot-index": String(image.index),
      "x-raftkv-snapshot-term": String(image.term),
    },
  });
}
