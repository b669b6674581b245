/**
 * An HTTP server that closes slow and idle client connections, for
 * `--header-timeout-ms` and `--idle-timeout-ms`. Deno.serve (Deno 2.9) has
 * no such knobs: a client that opens a connection and never finishes its
 * request header, or keeps an idle keep-alive connection forever, holds a
 * socket and its memory for as long as it likes. Node's HTTP server, which
 * Deno implements on real sockets, enforces both; this module serves the
 * same fetch handler (the Hono app) on it.
 *
 * What a client meets:
 * - the request header must be complete within `headerTimeoutMs` of the
 *   first byte of the request (or of connecting): otherwise 408 and close;
 * - a body read before the handler runs (one with a declared length up to
 *   4 MiB) within `bodyTimeoutMs`: otherwise the JSON 408 of
 *   http/errors.ts and close; larger and chunked bodies are streamed to the
 *   handler, whose own body deadline (http/body.ts) applies;
 * - a keep-alive connection with no request for `idleTimeoutMs` is closed;
 *   a response still being sent (a watch stream) is not idle, whatever
 *   the gaps between its events.
 * An event stream (`text/event-stream`, a watch) has its head sent at once
 * and each event as it comes; a client that goes away cancels the body.
 * A WebSocket upgrade (the peers' `/raft/stream`) leaves the server's
 * bookkeeping once accepted: its liveness is the transport's business.
 *
 * The price is CPU: Node's parser runs in JavaScript, about twice Deno's
 * cost per request (docs/PERFORMANCE.md, "Connection timeouts").
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { nodeUpgrade } from "./node_upgrade.ts";
import { addDeadline, cancelDeadline } from "../deadline.ts";
import {
  BadRequestError,
  BodyTimeoutError,
  errorResponse,
  HttpError,
  jsonError,
  UpgradeUnsupportedError,
} from "../errors.ts";
import { nopLogger } from "../../raft/mod.ts";

/** The handler served: the app's fetch, with Deno.serve's info argument. */
export type FetchHandler = (
  req: Request,
  info: { remoteAddr: Deno.NetAddr },
) => Response | Promise<Response>;

/** Options of {@linkcode serveWithTimeouts}. */
export interface TimeoutServerOptions {
  hostname: string;
  /** The port; 0 picks a free one ({@linkcode TimeoutServer.port}). */
  port: number;
  /** PEM certificate and key: serve HTTPS. */
  cert?: string;
  key?: string;
  /** Time to send a complete request header; 0 disables. */
  headerTimeoutMs: number;
  /** Time a keep-alive connection may sit without a request; 0 disables. */
  idleTimeoutMs: number;
  /**
   * Time to send a body once its header is in; 408 with the JSON error of
   * http/errors.ts beyond (the app's `--body-timeout-ms`). Default: none.
   */
  bodyTimeoutMs?: number;
  /** Called on an error the handler did not turn into a response. */
  onError?: (err: unknown) => void;
}

/** A running server, shaped like the part of `Deno.HttpServer` main.ts uses. */
export interface TimeoutServer {
  /** The port it listens on. */
  readonly port: number;
  /** Resolves once it listens. */
  readonly listening: Promise<void>;
  /** Stops accepting, closes idle connections, waits for the rest. */
  shutdown(): Promise<void>;
}

const EMPTY = new Uint8Array(0);

/** The client closed the connection before its body was complete. */
class ClientGoneError extends Error {}

/** Bodies with a declared length up to this are read before the handler runs. */
const MAX_COLLECT_BYTES = 4 * 1024 * 1024;

/**
 * Serves `handler` with connection timeouts; see the module doc.
 *
 * @example
 * ```ts ignore
 * const server = serveWithTimeouts(app.fetch, {
 *   hostname: "127.0.0.1", port: 2380,
 *   headerTimeoutMs: 10_000, idleTimeoutMs: 120_000, bodyTimeoutMs: 30_000,
 * });
 * await server.listening;
 * ```
 */
export function serveWithTimeouts(
  handler: FetchHandler,
  o: TimeoutServerOptions,
): TimeoutServer {
  const tls = o.cert !== undefined && o.key !== undefined;
  const scheme = tls ? "https" : "http";
  const serverOptions = {
    // Node checks header deadlines on this period: a quarter of the
    // deadline keeps the overshoot small.
    connectionsCheckingInterval: o.headerTimeoutMs > 0
      ? Math.max(50, o.headerTimeoutMs / 4)
      : 30_000,
    ...(tls ? { cert: o.cert, key: o.key } : {}),
  };
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const onRequest = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ) => {
    inFlight++;
    res.once("close", () => {
      if (--inFlight === 0) drained?.();
    });
    handle(req, res).catch((err) => {
      // Answered already, or the client went away: nothing to tell anyone.
      if (res.headersSent || err instanceof ClientGoneError) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        // After a stalled body the rest may still come: the connection is done.
        if (err instanceof BodyTimeoutError) res.shouldKeepAlive = false;
        return writeResponse(errorResponse(err, errorOptions), res);
      }
      o.onError?.(err);
      return writeResponse(
        jsonError(500, "internal", "internal server error"),
        res,
      );
    }).catch(() => res.destroy());
  };
  const server = tls
    ? https.createServer(serverOptions, onRequest)
    : http.createServer(serverOptions, onRequest);
  server.headersTimeout = o.headerTimeoutMs;
  // Bodies have their own deadline (bodyTimeoutMs and http/body.ts).
  server.requestTimeout = 0;
  // Node waits keepAliveTimeout plus a second of grace; 0 keeps it open.
  server.keepAliveTimeout = o.idleTimeoutMs;
  server.on("upgrade", (req, socket, head) => {
    upgrade(req, socket as Socket, head).catch((err) => {
      o.onError?.(err);
      socket.destroy();
    });
  });

  const errorOptions = { logger: nopLogger, retryAfterSeconds: 1 };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const request = await toRequest(req, scheme, o.bodyTimeoutMs);
    const response = await handler(request, { remoteAddr: addrOf(req.socket) });
    await writeResponse(response, res);
  }

  async function upgrade(
    req: http.IncomingMessage,
    socket: Socket,
    head: Uint8Array,
  ) {
    const request = new Request(urlOf(req, scheme), {
      method: req.method,
      headers: headersOf(req),
    });
    // Deno 2.9 takes over plain TCP sockets only: a TLS peer is told so
    // (501) and sends POST /raft instead (http/peer/peer_transport.ts).
    const response = tls
      ? errorResponse(new UpgradeUnsupportedError(), errorOptions)
      : await upgraded(request, socket, head);
    if (response.status === 101) {
      takenOver.add(socket);
      socket.once("close", () => takenOver.delete(socket));
      return;
    }
    // Refused (401, 400): answer on the raw socket and close it.
    const body = new Uint8Array(await response.arrayBuffer());
    let text = `HTTP/1.1 ${response.status} ${
      http.STATUS_CODES[response.status] ?? ""
    }\r\n`;
    response.headers.forEach((v, k) => text += `${k}: ${v}\r\n`);
    text += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    socket.write(text);
    socket.end(body);
  }

  /** WebSockets taken over from the server: closed by shutdown. */
  const takenOver = new Set<Socket>();

  function upgraded(
    request: Request,
    socket: Socket,
    head: Uint8Array,
  ): Promise<Response> | Response {
    nodeUpgrade.set(request, { socket, head });
    return handler(request, { remoteAddr: addrOf(socket) });
  }
  const listening = Promise.withResolvers<void>();
  server.once("error", (err) => listening.reject(err));
  server.listen(o.port, o.hostname, () => listening.resolve());
  return {
    get port() {
      const addr = server.address();
      return typeof addr === "object" && addr !== null ? addr.port : o.port;
    },
    listening: listening.promise,
    async shutdown() {
      // Node's own close waits for every socket, upgraded ones included,
      // which Deno's WebSocket keeps: wait for the requests instead.
      server.close();
      server.closeIdleConnections();
      for (const socket of takenOver) socket.destroy();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => drained = resolve);
      }
      server.closeAllConnections();
    },
  };
}

/** The request's URL; 400 when its Host header makes none. */
function urlOf(req: http.IncomingMessage, scheme: string): URL {
  try {
    return new URL(
      `${scheme}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`,
    );
  } catch {
    throw new BadRequestError(
      "invalid_header",
      "the Host header is not a host",
    );
  }
}

function headersOf(req: http.IncomingMessage): Headers {
  const raw = req.rawHeaders;
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    headers.append(raw[i]!, raw[i + 1]!);
  }
  return headers;
}

function addrOf(socket: Socket): Deno.NetAddr {
  return {
    transport: "tcp",
    hostname: socket.remoteAddress ?? "",
    port: socket.remotePort ?? 0,
  };
}

/** The fetch Request of a Node request; small bodies are read first. */
async function toRequest(
  req: http.IncomingMessage,
  scheme: string,
  bodyTimeoutMs: number | undefined,
): Promise<Request> {
  const method = req.method ?? "GET";
  const init: RequestInit = { method, headers: headersOf(req) };
  if (method !== "GET" && method !== "HEAD") {
    const declared = Number(req.headers["content-length"]);
    if (
      Number.isSafeInteger(declared) && declared <= MAX_COLLECT_BYTES
    ) {
      init.body = declared === 0 ? null : await collect(req, bodyTimeoutMs);
    } else {
      init.body = streamOf(req);
    }
  }
  return new Request(urlOf(req, scheme), init);
}

/** The whole body of `req` (its declared length is small). */
function collect(
  req: http.IncomingMessage,
  timeoutMs: number | undefined,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const slot = timeoutMs === undefined
      ? undefined
      : addDeadline(timeoutMs, () => {
        req.pause();
        reject(new BodyTimeoutError(timeoutMs));
      });
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    req.on("data", (c: Uint8Array<ArrayBuffer>) => {
      chunks.push(c);
      total += c.length;
    });
    // The request stream fails only when its connection does ("aborted").
    req.once("error", () => {
      if (slot) cancelDeadline(slot);
      reject(new ClientGoneError());
    });
    req.once("close", () => {
      if (req.complete) return;
      if (slot) cancelDeadline(slot);
      reject(new ClientGoneError());
    });
    req.once("end", () => {
      if (slot) cancelDeadline(slot);
      if (chunks.length === 1) return resolve(chunks[0]!);
      const out = new Uint8Array(total);
      let off = 0;
      for (const c of chunks) {
        out.set(c, off);
        off += c.length;
      }
      resolve(out);
    });
  });
}

/** The body of `req` as a stream that reads only as fast as it is consumed. */
function streamOf(req: http.IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (c: Uint8Array) => {
        controller.enqueue(c);
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => controller.close());
      req.once("error", (err) => controller.error(err));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.destroy();
    },
  });
}

/** Writes `response` to `res`, streaming its body with backpressure. */
async function writeResponse(
  response: Response,
  res: http.ServerResponse,
): Promise<void> {
  const headers: string[] = [];
  response.headers.forEach((v, k) => headers.push(k, v));
  if (response.body === null) {
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // A client that goes away ends the body (a watch stream then closes its
  // watcher), also while the body waits for its next chunk.
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once("close", onClose);
  try {
    // An event stream goes out as it comes: its head at once.
    if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
      res.writeHead(response.status, headers);
      res.flushHeaders();
      for (
        let next = await reader.read();
        !next.done;
        next = await reader.read()
      ) {
        if (res.destroyed) return;
        if (!res.write(next.value)) {
          await new Promise<void>((resolve) => {
            res.once("drain", resolve);
            res.once("close", resolve);
          });
          if (res.destroyed) return;
        }
      }
      res.end();
      return;
    }
    // Most bodies are one chunk (a string or bytes): sent with their length.
    const first = await reader.read();
    const second = first.done ? first : await reader.read();
    if (second.done) {
      const body = first.value ?? EMPTY;
      if (!response.headers.has("content-length")) {
        headers.push("content-length", String(body.length));
      }
      res.writeHead(response.status, headers);
      res.end(body);
      return;
    }
    res.writeHead(response.status, headers);
    res.write(first.value);
    for (
      let next: ReadableStreamReadResult<Uint8Array> = second;
      !next.done;
      next = await reader.read()
    ) {
      if (!res.write(next.value)) {
        await new Promise<void>((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
        if (res.destroyed) {
          await reader.cancel();
          return;
        }
      }
    }
    res.end();
  } finally {
    res.off("close", onClose);
    reader.releaseLock();
  }
}
