/**
 * http/serving/timeout_server.ts over real sockets: it serves a fetch handler like
 * Deno.serve does (bodies both ways, streamed responses, WebSocket
 * upgrades, HTTPS), and it closes the connections Deno.serve keeps forever:
 * a request header that never completes, a silent connection, an idle
 * keep-alive connection.
 */

import assert from "node:assert/strict";
import {
  serveWithTimeouts,
  type TimeoutServerOptions,
} from "../../../http/serving/timeout_server.ts";
import { nodeUpgrade } from "../../../http/serving/node_upgrade.ts";
import { hasOpenssl, withTestPem } from "../test_pki.ts";
import { sendAndReadUntilClosed } from "../raw_client.ts";

/** Echoes what it got; `/stream` answers in three chunks; `/ws` upgrades. */
async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === "/ws") {
    if (req.headers.get("authorization") !== "Bearer ok") {
      return new Response("no", { status: 401 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: 0,
      ...nodeUpgrade.get(req),
    });
    socket.onmessage = (ev) => socket.send(`echo ${ev.data}`);
    return response;
  }
  if (url.pathname === "/stream") {
    const parts = ["one ", "two ", "three"];
    return new Response(
      new ReadableStream({
        pull(c) {
          const next = parts.shift();
          if (next === undefined) c.close();
          else c.enqueue(new TextEncoder().encode(next));
        },
      }),
    );
  }
  if (url.pathname === "/events") {
    // One event now, the next only when the test says; cancelled when the
    // client goes away.
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("data: first\n\n"));
          events.controller = c;
        },
        cancel() {
          events.cancelled.resolve();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  }
  if (url.pathname === "/fail") throw new Error("handler failed");
  const body = new Uint8Array(await req.arrayBuffer());
  return Response.json({
    method: req.method,
    path: url.pathname + url.search,
    bytes: body.length,
    last: body.length > 0 ? body[body.length - 1] : null,
    header: req.headers.get("x-test"),
  }, { headers: { "x-served": "yes" } });
}

const TIMEOUTS = { headerTimeoutMs: 300, idleTimeoutMs: 300 };

/** The `/events` stream of the current test. */
const events = {
  controller: undefined as
    | ReadableStreamDefaultController<Uint8Array>
    | undefined,
  cancelled: Promise.withResolvers<void>(),
};

function start(extra: Partial<TimeoutServerOptions> = {}) {
  const errors: unknown[] = [];
  const server = serveWithTimeouts(handler, {
    hostname: "127.0.0.1",
    port: 0,
    ...TIMEOUTS,
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { server, errors };
}

/** Sends `text` on a new connection to `port`; what it read until closed. */
async function untilClosed(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return sendAndReadUntilClosed(conn, text);
}

Deno.test("timeout server: serves requests like Deno.serve", async () => {
  const { server, errors } = start();
  await server.listening;
  const base = `http://127.0.0.1:${server.port}`;
  try {
    const get = await fetch(`${base}/a?x=1`, { headers: { "x-test": "t" } });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("x-served"), "yes");
    assert.deepEqual(await get.json(), {
      method: "GET",
      path: "/a?x=1",
      bytes: 0,
      last: null,
      header: "t",
    });

    const body = new Uint8Array(5 * 1024 * 1024).fill(7);
    body[body.length - 1] = 9;
    const put = await fetch(`${base}/big`, { method: "PUT", body });
    assert.deepEqual(await put.json(), {
      method: "PUT",
      path: "/big",
      bytes: body.length,
      last: 9,
      header: null,
    });

    // A chunked request body (no Content-Length) arrives as a stream.
    const chunked = await fetch(`${base}/chunked`, {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array([1, 2]));
          c.enqueue(new Uint8Array([3]));
          c.close();
        },
      }),
    });
    assert.equal((await chunked.json()).bytes, 3);

    const streamed = await fetch(`${base}/stream`);
    assert.equal(await streamed.text(), "one two three");

    const failed = await fetch(`${base}/fail`);
    assert.equal(failed.status, 500);
    assert.equal((await failed.json()).error.code, "internal");
    assert.equal(errors.length, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: a body that stalls gets the JSON 408 and the connection closes", async () => {
  const { server } = start({ bodyTimeoutMs: 200 });
  await server.listening;
  try {
    const got = await untilClosed(
      server.port,
      "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
    );
    assert.match(got, /^HTTP\/1\.1 408 /);
    assert.match(got, /"code":"body_timeout"/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: a client that hangs up mid-body is forgotten, not logged", async () => {
  const { server, errors } = start({ bodyTimeoutMs: 60_000 });
  await server.listening;
  try {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    await conn.write(
      new TextEncoder().encode(
        "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",
      ),
    );
    conn.close();
    // The server is still there and answers; nothing was reported.
    const res = await fetch(`http://127.0.0.1:${server.port}/b`);
    assert.equal((await res.json()).path, "/b");
    assert.deepEqual(errors, []);
  } finally {
    // Returns only once no request is in flight: the abandoned one ended.
    await server.shutdown();
  }
});

Deno.test("timeout server: a Host header that makes no URL gets a JSON 400", async () => {
  const { server, errors } = start();
  await server.listening;
  try {
    const got = await untilClosed(
      server.port,
      "GET /a HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    );
    assert.match(got, /^HTTP\/1\.1 400 /);
    assert.match(got, /"code":"invalid_header"/);
    assert.deepEqual(errors, []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: a request header that never completes gets 408 and the connection closes", async () => {
  const { server } = start();
  await server.listening;
  try {
    const got = await untilClosed(
      server.port,
      "GET /a HTTP/1.1\r\nHost: x\r\n",
    );
    assert.match(got, /^HTTP\/1\.1 408 /);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: a connection that sends nothing is closed", async () => {
  const { server } = start();
  await server.listening;
  try {
    const got = await untilClosed(server.port, "");
    assert.doesNotMatch(got, /^HTTP\/1\.1 200/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: an idle keep-alive connection is closed after its answer", async () => {
  const { server } = start();
  await server.listening;
  try {
    const got = await untilClosed(
      server.port,
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(got, /^HTTP\/1\.1 200 /);
    assert.match(got, /"path":"\/a"/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("timeout server: without timeouts the same idle connection stays open", async () => {
  const { server } = start({ headerTimeoutMs: 0, idleTimeoutMs: 0 });
  await server.listening;
  const { server: guarded } = start();
  await guarded.listening;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(
      new TextEncoder().encode("GET /a HTTP/1.1\r\nHost: x\r\n"),
    );
    // The guarded server closes the same kind of connection; once it has,
    // the unguarded one is still open: its header can still be finished.
    await untilClosed(guarded.port, "GET /a HTTP/1.1\r\nHost: x\r\n");
    await conn.write(new TextEncoder().encode("\r\n"));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.match(
      new TextDecoder().decode(buf.subarray(0, n ?? 0)),
      /^HTTP\/1\.1 200 /,
    );
  } finally {
    conn.close();
    await server.shutdown();
    await guarded.shutdown();
  }
});

/** Opens a WebSocket to `url` and resolves with it once open (or rejects). */
function openWs(url: string, headers: Record<string, string>) {
  // Deno's WebSocket takes extra handshake headers in its options.
  const ws = new WebSocket(url, { headers } as unknown as string[]);
  return new Promise<WebSocket>((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("websocket failed"));
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.onmessage = (ev) => resolve(String(ev.data));
  });
}

Deno.test("timeout server: a WebSocket upgrade works and outlives the idle timeout", async () => {
  const { server } = start();
  await server.listening;
  const ws = await openWs(`ws://127.0.0.1:${server.port}/ws`, {
    authorization: "Bearer ok",
  });
  try {
    const first = nextMessage(ws);
    ws.send("a");
    assert.equal(await first, "echo a");
    // An idle HTTP connection opened now is closed by the idle timeout...
    await untilClosed(server.port, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    // ...while the upgraded connection, just as quiet, is still there.
    const second = nextMessage(ws);
    ws.send("b");
    assert.equal(await second, "echo b");
  } finally {
    const closed = new Promise((r) => ws.onclose = r);
    ws.close();
    await closed;
    await server.shutdown();
  }
});

Deno.test("timeout server: a refused upgrade gets the handler's answer", async () => {
  const { server } = start();
  await server.listening;
  try {
    const got = await untilClosed(
      server.port,
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert.match(got, /^HTTP\/1\.1 401 /);
    assert.match(got, /\r\n\r\nno$/);
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  name: "timeout server: serves HTTPS and closes a stalled TLS connection",
  ignore: !hasOpenssl(),
  async fn() {
    await withTestPem(async (pem) => {
      const ca = pem.ca;
      const { server } = start({
        cert: pem.cert,
        key: pem.key,
      });
      await server.listening;
      const client = Deno.createHttpClient({ caCerts: [ca] });
      try {
        const res = await fetch(`https://127.0.0.1:${server.port}/s`, {
          client,
        });
        assert.equal((await res.json()).path, "/s");
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: server.port,
          caCerts: [ca],
        });
        const got = await sendAndReadUntilClosed(conn, "GET /s HTTP/1.1\r\n");
        assert.match(got, /^HTTP\/1\.1 408 /);
      } finally {
        client.close();
        await server.shutdown();
      }
    });
  },
});

Deno.test("timeout server: an event stream's head and first event arrive before its second event; a client gone cancels the body", async () => {
  events.cancelled = Promise.withResolvers<void>();
  const { server } = start();
  await server.listening;
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/events`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "data: first\n\n");
    // The handler waits for a second event that never comes: the client
    // goes away, and the body is cancelled (a watch closes its watcher).
    await reader.cancel();
    await events.cancelled.promise;
  } finally {
    await server.shutdown();
  }
});
