/**
 * A minimal WebSocket client for the peer stream: it sends binary frames
 * and reads only what the server may send back (close, ping). It exists
 * because Deno's built-in `WebSocket` client leaves Nagle's algorithm on:
 * a small frame sent while an earlier one is unacknowledged then waits for
 * the peer's delayed ACK, about 40 ms on Linux, which stalls replication.
 * This one dials with `Deno.connect` and sets `TCP_NODELAY`; for `wss:` it
 * then starts TLS on that socket (`Deno.startTls`: a `Deno.TlsConn` has no
 * `setNoDelay`, but the option set on the TCP socket carries over), trusting
 * the given CA certificates and verifying the peer's name.
 *
 * Frames are masked with an all-zero key (RFC 6455 requires a mask, not a
 * particular one; the peer is our own node), so payloads go out uncopied
 * apart from one header prepend. Frames queued while a write is in flight
 * are coalesced into the next write.
 *
 * @module
 */

/** What a {@linkcode BinaryWsClient} reports. */
export interface WsClientEvents {
  /** The handshake succeeded; `send` now writes. */
  onOpen(): void;
  /** The connection ended: the server's close code, or 1006 (abnormal). */
  onClose(code: number, reason: string): void;
  /**
   * The server answered the handshake with this HTTP status instead of 101;
   * `onClose` (1006) follows.
   */
  onRefused?(status: number): void;
}

/** Connection options of a {@linkcode BinaryWsClient}. */
export interface WsClientOptions {
  /**
   * PEM CA certificates trusted for `wss:` besides the system's (the
   * cluster's `--tls-ca`).
   */
  caCerts?: string[];
}

/** Close code of a connection that ended without a close frame. */
export const CLOSE_ABNORMAL = 1006;

const HEADER_END = new Uint8Array([13, 10, 13, 10]);
const MAX_HANDSHAKE_BYTES = 16 * 1024;
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Builds a masked (zero key) client frame of `opcode` around `payload`. */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + n);
  frame[0] = 0x80 | opcode;
  if (n < 126) {
    frame[1] = 0x80 | n;
  } else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(payload, head + 4);
  return frame;
}

/** A WebSocket client connection that sends binary frames; see the module doc. */
export class BinaryWsClient {
  /** Bytes handed to `send` and not yet written to the socket. */
  bufferedAmount = 0;
  #conn: Deno.Conn | undefined;
  #open = false;
  #done = false;
  #pending: Uint8Array[] = [];
  #writing = false;
  readonly #events: WsClientEvents;

  /**
   * Dials `url` (`ws://` or `wss://host:port/path`) at once, with extra
   * handshake `headers` (the peer token).
   */
  constructor(
    url: string,
    headers: Record<string, string>,
    events: WsClientEvents,
    options: WsClientOptions = {},
  ) {
    this.#events = events;
    void this.#run(new URL(url), headers, options);
  }

  /** Queues one binary frame; throws when the connection is not open. */
  send(payload: Uint8Array): void {
    if (!this.#open) throw new Error("the WebSocket is not open");
    this.#queue(clientFrame(0x2, payload));
  }

  /** Ends the connection without reporting it (the owner asked). */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#open = false;
    try {
      this.#conn?.close();
    } catch {
      // Already closed.
    }
  }

  #queue(frame: Uint8Array): void {
    this.#pending.push(frame);
    this.bufferedAmount += frame.length;
    if (!this.#writing) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#pending.length > 0 && !this.#done) {
        const frames = this.#pending;
        this.#pending = [];
        let buf = frames[0]!;
        if (frames.length > 1) {
          let total = 0;
          for (const f of frames) total += f.length;
          buf = new Uint8Array(total);
          let at = 0;
          for (const f of frames) {
            buf.set(f, at);
            at += f.length;
          }
        }
        let off = 0;
        while (off < buf.length) {
          off += await this.#conn!.write(buf.subarray(off));
        }
        this.bufferedAmount -= buf.length;
      }
    } catch (e) {
      this.#finish(CLOSE_ABNORMAL, String(e));
    } finally {
      this.#writing = false;
    }
  }

  #finish(code: number, reason: string): void {
    if (this.#done) return;
    this.close();
    this.#events.onClose(code, reason);
  }

  /** Makes `conn` the connection; closes it and throws if closed meanwhile. */
  #adopt(conn: Deno.Conn): void {
    this.#conn = conn;
    if (!this.#done) return;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    throw new Error("closed while connecting");
  }

  /** Dials, upgrades to TLS for `wss:`, and sets `this.#conn`. */
  async #dial(url: URL, options: WsClientOptions): Promise<Deno.Conn> {
    const secure = url.protocol === "wss:";
    if (!secure && url.protocol !== "ws:") {
      throw new Error(`unsupported scheme ${url.protocol}`);
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const tcp = await Deno.connect({
      hostname,
      port: Number(url.port || (secure ? 443 : 80)),
    });
    this.#adopt(tcp);
    tcp.setNoDelay(true);
    if (!secure) return tcp;
    const tls = await Deno.startTls(tcp, {
      hostname,
      ...(options.caCerts ? { caCerts: options.caCerts } : {}),
    });
    this.#adopt(tls);
    await tls.handshake();
    return tls;
  }

  async #run(
    url: URL,
    headers: Record<string, string>,
    options: WsClientOptions,
  ): Promise<void> {
    try {
      const conn = await this.#dial(url, options);
      const key = new Uint8Array(16);
      crypto.getRandomValues(key);
      let request = `GET ${url.pathname}${url.search} HTTP/1.1\r\n` +
        `Host: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key.toBase64()}\r\nSec-WebSocket-Version: 13\r\n`;
      for (const [k, v] of Object.entries(headers)) request += `${k}: ${v}\r\n`;
      const bytes = encoder.encode(request + "\r\n");
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
      let buf: Uint8Array = new Uint8Array(0);
      const chunk = new Uint8Array(64 * 1024);
      let end = -1;
      while (end < 0) {
        const n = await conn.read(chunk);
        if (n === null) throw new Error("connection closed during handshake");
        buf = concat(buf, chunk.subarray(0, n));
        end = indexOfBytes(buf, HEADER_END);
        if (end < 0 && buf.length > MAX_HANDSHAKE_BYTES) {
          throw new Error("handshake answer too long");
        }
      }
      const status = latin1.decode(buf.subarray(0, end)).split("\r\n", 1)[0]!;
      if (!/^HTTP\/1\.1 101 /.test(status)) {
        const code = Number(/^HTTP\/1\.1 (\d{3}) /.exec(status)?.[1]);
        if (code && !this.#done) this.#events.onRefused?.(code);
        throw new Error(`handshake refused: ${status}`);
      }
      if (this.#done) return;
      this.#open = true;
      this.#events.onOpen();
      await this.#readLoop(conn, buf.slice(end + 4), chunk);
    } catch (e) {
      this.#finish(CLOSE_ABNORMAL, String(e));
    }
  }

  /** Reads server frames: answers pings, ends on close or EOF. */
  async #readLoop(
    conn: Deno.Conn,
    buf: Uint8Array,
    chunk: Uint8Array,
  ): Promise<void> {
    for (;;) {
      // Parse every whole frame in `buf`.
      for (;;) {
        if (buf.length < 2) break;
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = (buf[2]! << 8) | buf[3]!;
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) break;
          len = Number(
            new DataView(buf.buffer, buf.byteOffset).getBigUint64(2),
          );
          at = 10;
        }
        if (buf[1]! & 0x80) at += 4; // servers do not mask; skip a key anyway
        if (buf.length < at + len) break;
        const payload = buf.subarray(at, at + len);
        buf = buf.subarray(at + len);
        if (opcode === 0x8) {
          const code = payload.length >= 2
            ? (payload[0]! << 8) | payload[1]!
            : CLOSE_ABNORMAL;
          this.#finish(code, utf8.decode(payload.subarray(2)));
          return;
        }
        if (opcode === 0x9) this.#queue(clientFrame(0xa, payload.slice()));
      }
      const n = await conn.read(chunk);
      if (n === null || this.#done) {
        this.#finish(CLOSE_ABNORMAL, "connection closed");
        return;
      }
      buf = concat(buf, chunk.subarray(0, n));
    }
  }
}
