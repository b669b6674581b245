// deno-lint-ignore-file no-console
/**
 * The latency floor of a one-client write in raftkv's design, measured from
 * its parts on this machine (docs/PERFORMANCE.md, "Where the time goes"): a
 * write crosses one HTTP exchange (client ↔ leader), one peer round trip
 * (leader ↔ follower, a binary frame each way) and one `fdatasync` on the
 * follower (the leader's runs in parallel). Each part is timed alone, one
 * at a time, between two Deno processes on loopback:
 *
 * - `http`: a 100-byte PUT to a Deno.serve handler that answers at once, over
 *   one keep-alive connection, written and read with raw socket calls;
 * - `peer`: a 100-byte message over TCP (`TCP_NODELAY`) to a process that
 *   echoes it;
 * - `fsync`: a 256-byte write plus `fdatasync` on a preallocated file.
 *
 * Run: `deno run -A scripts/bench_latency_floor.ts` (`BENCH_FLOOR_N`
 * round trips per part, default 3000; `BENCH_TMPDIR` where the fsync file
 * goes, default the system temp dir; must be a real disk).
 *
 * @module
 */

const N = Number(Deno.env.get("BENCH_FLOOR_N") ?? "3000");
const encoder = new TextEncoder();

if (Deno.args[0] === "serve") {
  // The far side: an HTTP server and a TCP echo server on free ports.
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      await req.arrayBuffer();
      return new Response('{"index":1}', {
        headers: { "content-type": "application/json" },
      });
    },
  );
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(JSON.stringify({ http: http.addr.port, echo: echo.addr.port }));
  for await (const conn of echo) {
    conn.setNoDelay(true);
    (async () => {
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        await conn.write(buf.subarray(0, n));
      }
    })();
  }
} else {
  await main();
}

/** Runs `op` N times after a warm-up; returns each run's time in ms. */
async function time(op: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < Math.min(500, N); i++) await op();
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await op();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Reads from `conn` until `done(bytes so far)` says the answer is whole. */
async function readUntil(
  conn: Deno.Conn,
  buf: Uint8Array,
  done: (got: Uint8Array) => boolean,
): Promise<void> {
  let have = 0;
  while (!done(buf.subarray(0, have))) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) throw new Error("closed");
    have += n;
  }
}

async function main(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "serve"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("server exited");
    line += value;
  }
  const ports = JSON.parse(line.split("\n")[0]!) as {
    http: number;
    echo: number;
  };

  const body = "v".repeat(100);
  const request = encoder.encode(
    `PUT /k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  const http = await Deno.connect({ hostname: "127.0.0.1", port: ports.http });
  http.setNoDelay(true);
  const buf = new Uint8Array(4096);
  const httpTimes = await time(async () => {
    await http.write(request);
    // The answer ends with the 11-byte JSON body.
    await readUntil(http, buf, (got) => got.at(-1) === 0x7d);
  });

  const echo = await Deno.connect({ hostname: "127.0.0.1", port: ports.echo });
  echo.setNoDelay(true);
  const frame = new Uint8Array(100).fill(1);
  const peerTimes = await time(async () => {
    await echo.write(frame);
    await readUntil(echo, buf, (got) => got.length >= frame.length);
  });

  const dir = await Deno.makeTempDir({
    dir: Deno.env.get("BENCH_TMPDIR"),
    prefix: "raftkv-floor-",
  });
  const file = await Deno.open(`${dir}/f`, {
    read: true,
    write: true,
    create: true,
  });
  await file.write(new Uint8Array(256 * (N + 1000)));
  await file.sync();
  const record = new Uint8Array(256).fill(7);
  let off = 0;
  const fsyncTimes = await time(async () => {
    await file.seek(off, Deno.SeekMode.Start);
    off += 256;
    await file.write(record);
    await file.syncData();
  });
  file.close();
  await Deno.remove(dir, { recursive: true });
  http.close();
  echo.close();
  child.kill();
  await child.status;

  const rows: [string, number[]][] = [
    ["http: 100-byte PUT to Deno.serve, answer", httpTimes],
    ["peer: 100-byte frame there and back (TCP)", peerTimes],
    ["fsync: 256-byte write + fdatasync", fsyncTimes],
  ];
  console.log(`${N} round trips each, ${new Date().toISOString()}\n`);
  console.log("| part | mean ms | p50 ms | p99 ms |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [name, xs] of rows) {
    console.log(
      `| ${name} | ${mean(xs).toFixed(3)} | ${pct(xs, 0.5).toFixed(3)} | ${
        pct(xs, 0.99).toFixed(3)
      } |`,
    );
  }
  const floor = mean(httpTimes) + mean(peerTimes) + mean(fsyncTimes);
  console.log(
    `\nfloor of a one-client write (sum of the means, no Raft or storage ` +
      `code): ${floor.toFixed(3)} ms = ${(1000 / floor).toFixed(0)} writes/s`,
  );
}
