/**
 * Watch against real node processes (docs/API.md "Watch"): a watcher that
 * resumes with Last-Event-ID across a leader's kill and restart, and across
 * a restart of its own node, sees every change exactly once; every node
 * sends the same messages; a position older than the history gets 410; a
 * reader that never reads is cancelled with its resume index while writes
 * go on; 1,000 watchers on one node all get a change. Two clusters, shared
 * by the steps, to keep the run short.
 */

import assert from "node:assert/strict";
import { E2eCluster, errorCode, request, show, waitFor } from "./cluster.ts";
import { SseReader } from "../http/sse_reader.ts";

/** One change message as received: index and its events' `type key`. */
interface Received {
  index: number;
  events: string[];
}

/**
 * A watcher that reconnects after its stream ends or fails, with
 * Last-Event-ID, to the node `nodeOf()` names at that moment, until it has
 * an id >= `until`. Returns every change message received, and how many
 * streams it opened.
 */
async function resumableWatch(
  urlOf: () => string,
  prefix: string,
  from: number,
  until: () => number,
  done: Promise<void>,
): Promise<{ messages: Received[]; streams: number }> {
  const messages: Received[] = [];
  let lastId = from - 1;
  let streams = 0;
  let finished = false;
  void done.then(() => finished = true);
  // Bounded: each round is one stream, ended by the node or the deadline.
  const deadline = Date.now() + 120_000;
  for (let round = 0; round < 2000 && Date.now() < deadline; round++) {
    if (finished && lastId >= until()) return { messages, streams };
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5000);
    try {
      const res = await fetch(
        `${urlOf()}/v1/watch?prefix=${encodeURIComponent(prefix)}`,
        {
          headers: { "last-event-id": String(lastId) },
          signal: abort.signal,
        },
      );
      if (res.status !== 200) {
        await res.body?.cancel();
        assert.notEqual(res.status, 410, "the position is still retained");
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      streams++;
      const reader = new SseReader(res.body!);
      for (;;) {
        clearTimeout(timer);
        const e = await reader.next();
        if (e === undefined) break;
        if (e.event === "cancelled") throw new Error(`cancelled: ${e.data}`);
        const id = Number(e.id);
        assert.ok(id >= lastId, `ids never go back: ${id} after ${lastId}`);
        if (e.event === "message") {
          assert.ok(id > lastId, `a change id ${id} above ${lastId}`);
          const body = JSON.parse(e.data);
          messages.push({
            index: body.index,
            events: body.events.map((x: { type: string; key: string }) =>
              `${x.type} ${x.key}`
            ),
          });
        }
        lastId = id;
        if (finished && lastId >= until()) {
          await reader.cancel();
          return { messages, streams };
        }
      }
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      if (String(err).includes("cancelled:")) throw err;
      // The node went away mid-stream: reconnect, soon.
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Error(`the watcher did not reach ${until()} (at ${lastId})`);
}

/**
 * Writes `count` puts and deletes of keys under `prefix` through the
 * running nodes, retrying what was not applied (503, no answer); returns
 * the indexes of the puts acknowledged (a delete may find nothing to
 * delete, which sends nothing). A 504 (unknown) is skipped: the check does
 * not rely on it.
 */
async function writeSome(
  c: E2eCluster,
  prefix: string,
  count: number,
  during?: (n: number) => Promise<void>,
): Promise<number[]> {
  const acked: number[] = [];
  for (let n = 0; n < count; n++) {
    await during?.(n);
    const key = `${prefix}${n % 7}`;
    const del = n % 5 === 4;
    await waitFor(`write ${n}`, async () => {
      const ids = c.running();
      const id = ids[n % ids.length]!;
      const r = del ? await c.del(id, key) : await c.put(id, key, `v${n}`);
      if (r === undefined || r.status === 503) return false;
      if (r.status === 504) return true;
      assert.equal(r.status, 204, show(r));
      if (!del) acked.push(Number(r.headers.get("x-raft-index")));
      return true;
    }, 60_000);
  }
  return acked;
}

/** Every change message of `prefix` from index 1, read from node `url` now. */
async function fullHistory(
  url: string,
  prefix: string,
  upTo: number,
): Promise<Received[]> {
  const stop = Promise.withResolvers<void>();
  stop.resolve();
  const { messages } = await resumableWatch(
    () => url,
    prefix,
    1,
    () => upTo,
    stop.promise,
  );
  return messages.filter((m) => m.index <= upTo);
}

async function appliedOn(c: E2eCluster, id: number): Promise<number> {
  return (await waitFor(`status of ${id}`, () => c.status(id))).applied;
}

Deno.test("watch across failures, on any node", async (t) => {
  const c = await E2eCluster.start({
    extraArgs: ["--watch-progress-ms", "200"],
  });
  try {
    await t.step(
      "a watcher on a follower, the leader killed and restarted: resumes with Last-Event-ID, no gap, no duplicate",
      async () => {
        const leader = await c.waitLeader();
        const follower = c.running().find((id) => id !== leader)!;
        const start = await appliedOn(c, follower);
        let target = Number.MAX_SAFE_INTEGER;
        const allWritten = Promise.withResolvers<void>();
        const watching = resumableWatch(
          () => c.node(follower).url,
          "f/",
          start + 1,
          () => target,
          allWritten.promise,
        );
        const acked = await writeSome(c, "f/", 60, async (n) => {
          if (n === 20) await c.kill(leader);
          if (n === 40) {
            c.spawn(leader);
            await c.waitLeader();
          }
        });
        target = Math.max(...acked);
        allWritten.resolve();
        const { messages, streams } = await watching;
        assert.ok(streams >= 1);
        const indexes = messages.map((m) => m.index);
        for (let i = 1; i < indexes.length; i++) {
          assert.ok(indexes[i]! > indexes[i - 1]!, "in order, no duplicate");
        }
        for (const a of acked) {
          assert.ok(indexes.includes(a), `acknowledged write ${a} was seen`);
        }
        // Exactly the committed changes: what another node sends from 1.
        const other = c.running().find((id) => id !== follower)!;
        const reference = await fullHistory(c.node(other).url, "f/", target);
        assert.deepEqual(
          messages.filter((m) => m.index <= target),
          reference.filter((m) => m.index > start),
        );
      },
    );

    await t.step(
      "a watcher on a node that is itself restarted resumes there",
      async () => {
        const leader = await c.waitLeader();
        const node = c.running().find((id) => id !== leader)!;
        const start = await appliedOn(c, node);
        let target = Number.MAX_SAFE_INTEGER;
        const allWritten = Promise.withResolvers<void>();
        const watching = resumableWatch(
          () => c.node(node).url,
          "r/",
          start + 1,
          () => target,
          allWritten.promise,
        );
        const acked = await writeSome(c, "r/", 40, async (n) => {
          if (n === 15) await c.kill(node);
          if (n === 25) c.spawn(node);
        });
        target = Math.max(...acked);
        allWritten.resolve();
        const { messages, streams } = await watching;
        assert.ok(streams >= 2, "the stream ended with its node and resumed");
        const reference = await fullHistory(c.node(leader).url, "r/", target);
        assert.deepEqual(
          messages.filter((m) => m.index <= target),
          reference.filter((m) => m.index > start),
        );
      },
    );

    await t.step(
      "Deno.serve: SIGTERM ends an open stream and the node exits 0",
      async () => {
        const id = c.running()[0]!;
        const res = await fetch(`${c.node(id).url}/v1/watch?prefix=`);
        const reader = new SseReader(res.body!);
        assert.equal((await reader.next())?.event, "progress");
        c.node(id).proc!.kill("SIGTERM");
        for (
          let e = await reader.next();
          e !== undefined;
          e = await reader.next()
        ) {
          assert.notEqual(e.event, "cancelled");
        }
        assert.equal((await c.waitExit(id)).code, 0);
      },
    );
  } finally {
    await c.close();
  }
});

/** The value of an unlabelled (or exactly labelled) series in `/metrics`. */
async function metric(url: string, series: string): Promise<number> {
  const r = await request(`${url}/metrics`);
  assert.equal(r?.status, 200);
  const line = r!.body.split("\n").find((l) => l.startsWith(series + " "));
  assert.ok(line !== undefined, `${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

Deno.test("watch limits on one node: 410 after compaction, a slow reader cancelled, 1,000 watchers", async (t) => {
  const c = await E2eCluster.start({
    size: 1,
    snapshotEntries: 30,
    extraArgs: [
      "--watch-history",
      "20",
      "--watch-buffer-bytes",
      "65536",
      "--watch-progress-ms",
      "200",
      // Served by the timeout server (http/serving/timeout_server.ts); the
      // other cluster by Deno.serve.
      "--idle-timeout-ms",
      "500",
    ],
  });
  const url = c.node(1).url;
  try {
    await t.step(
      "410 compacted with compactIndex before the stream; from = compactIndex streams",
      async () => {
        for (let n = 0; n < 60; n++) await c.mustWrite(1, `h${n % 3}`, `v${n}`);
        const old = await request(`${url}/v1/watch?prefix=h&from=1`);
        assert.equal(old?.status, 410, show(old));
        assert.equal(errorCode(old), "compacted");
        const compactIndex = JSON.parse(old!.body).error.compactIndex;
        assert.ok(compactIndex > 1);
        const res = await fetch(
          `${url}/v1/watch?prefix=h&from=${compactIndex}`,
        );
        assert.equal(res.status, 200);
        const reader = new SseReader(res.body!);
        const first = await reader.next();
        assert.ok(first !== undefined && Number(first.id) >= compactIndex - 1);
        await reader.cancel();
      },
    );

    await t.step(
      "a reader that never reads is cancelled with its resume index; every write succeeds",
      async () => {
        const slow = await fetch(`${url}/v1/watch?prefix=s/`);
        assert.equal(slow.status, 200);
        const before = await metric(
          url,
          'raftkv_watchers_cancelled_total{reason="slow"}',
        );
        const value = "x".repeat(256 * 1024);
        // TCP and the stream's queue take a few MB first; bounded in count.
        let writes = 0;
        for (; writes < 400; writes++) {
          const r = await c.put(1, `s/${writes % 10}`, value);
          assert.equal(r?.status, 204, show(r));
          if (
            writes % 10 === 9 &&
            await metric(
                url,
                'raftkv_watchers_cancelled_total{reason="slow"}',
              ) >
              before
          ) break;
        }
        assert.ok(writes < 400, "the slow watcher was cancelled");
        // Writes go on after the cancellation.
        for (let n = 0; n < 10; n++) await c.mustWrite(1, `s/after${n}`, "v");
        // Reading now: what was queued, then the cancellation, then the end.
        const reader = new SseReader(slow.body!);
        let last = -1;
        let cancelled: { reason: string; resume: number } | undefined;
        for (
          let e = await reader.next();
          e !== undefined;
          e = await reader.next()
        ) {
          if (e.event === "cancelled") cancelled = JSON.parse(e.data);
          else last = Number(e.id);
        }
        assert.ok(cancelled !== undefined, "the stream said why it ended");
        assert.equal(cancelled.reason, "slow");
        assert.equal(cancelled.resume, last + 1);
        // The resume index works (it is still in the history or a 410).
        const resume = await fetch(
          `${url}/v1/watch?prefix=s/&from=${cancelled.resume}`,
        );
        assert.ok(resume.status === 200 || resume.status === 410);
        await resume.body?.cancel();
      },
    );

    await t.step(
      "1,000 watchers open at once on one node all receive a change",
      async () => {
        const count = 1000;
        const readers: SseReader[] = [];
        const opened = await Promise.all(
          Array.from(
            { length: count },
            () => fetch(`${url}/v1/watch?key=many`),
          ),
        );
        for (const res of opened) {
          assert.equal(res.status, 200);
          const reader = new SseReader(res.body!);
          readers.push(reader);
        }
        // Each first gets its progress at the read index.
        await Promise.all(readers.map(async (r) => {
          const e = await r.next();
          assert.equal(e?.event, "progress");
        }));
        assert.ok(await metric(url, "raftkv_watchers") >= count);
        const index = await c.mustWrite(1, "many", "hello");
        const got = await Promise.all(readers.map(async (r) => {
          for (let e = await r.next(); e !== undefined; e = await r.next()) {
            if (e.event === "message") {
              return JSON.parse(e.data);
            }
          }
          return undefined;
        }));
        for (const body of got) {
          assert.equal(body?.index, index);
          assert.equal(body.events[0].value, "hello");
        }
        await Promise.all(readers.map((r) => r.cancel()));
        await waitFor(
          "the watchers closed",
          async () => await metric(url, "raftkv_watchers") === 0,
        );
      },
    );

    await t.step(
      "the idle timeout does not end a live stream; SIGTERM does, and the node exits 0",
      async () => {
        const res = await fetch(`${url}/v1/watch?key=idle`);
        const reader = new SseReader(res.body!);
        const opened = Date.now();
        // Progress events keep coming past several idle timeouts.
        let progress = 0;
        while (Date.now() - opened < 2000) {
          const e = await reader.next();
          assert.equal(e?.event, "progress", "the stream is alive");
          progress++;
        }
        assert.ok(progress >= 2);
        c.node(1).proc!.kill("SIGTERM");
        for (
          let e = await reader.next();
          e !== undefined;
          e = await reader.next()
        ) {
          assert.equal(e.event, "progress");
        }
        const status = await c.waitExit(1);
        assert.equal(status.code, 0);
      },
    );
  } finally {
    await c.close();
  }
});
