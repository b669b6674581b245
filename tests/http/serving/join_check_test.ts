/**
 * `--join` without `POST /{id}` first: the node asks the members whether it
 * was added, and refuses to start with the command that adds it, instead of
 * waiting forever (http/serving/join_check.ts).
 */

import assert from "node:assert/strict";
import { checkJoin, JoinError } from "../../../http/serving/join_check.ts";

const CLUSTER = [
  "http://127.0.0.1:12379",
  "http://127.0.0.1:22379",
  "http://127.0.0.1:42379",
];

/** What a member answers: its members, or nothing. */
type View = { id: number; url: string }[] | "down";

/** A fetch answering `GET /v1/members` per member URL from `views`. */
function membersFetch(
  views: Map<string, View>,
  asked: string[] = [],
): typeof fetch {
  return (input) => {
    const url = new URL(String(input));
    asked.push(url.origin);
    const view = views.get(url.origin);
    if (view === undefined || view === "down") {
      return Promise.reject(new TypeError("connection refused"));
    }
    return Promise.resolve(
      Response.json({ leader: 1, members: view }),
    );
  };
}

const base = { id: 3, url: CLUSTER[2]!, cluster: CLUSTER, pollMs: 1 };

Deno.test("--join starts when a member lists the node with its URL", async () => {
  const asked: string[] = [];
  await checkJoin({
    ...base,
    timeoutMs: 60_000,
    fetch: membersFetch(
      new Map<string, View>([
        [CLUSTER[0]!, "down"],
        [CLUSTER[1]!, [{ id: 1, url: CLUSTER[0]! }, {
          id: 3,
          url: CLUSTER[2]!,
        }]],
      ]),
      asked,
    ),
  });
  assert.ok(!asked.includes(CLUSTER[2]!), "it does not ask itself");
});

Deno.test("--join without POST /{id} first refuses to start, naming the command that adds it", async () => {
  const err = await checkJoin({
    ...base,
    timeoutMs: 0,
    fetch: membersFetch(
      new Map<string, View>([[CLUSTER[0]!, [{ id: 1, url: CLUSTER[0]! }]], [
        CLUSTER[1]!,
        "down",
      ]]),
    ),
  }).then(() => undefined, (e) => e);
  assert.ok(err instanceof JoinError, String(err));
  assert.match(err.message, /node 3 is not a member/);
  assert.ok(
    err.message.includes(`curl -XPOST ${CLUSTER[0]}/3 -d ${CLUSTER[2]}`),
    err.message,
  );
});

Deno.test("--join with another URL than the node was added with is refused", async () => {
  const err = await checkJoin({
    ...base,
    timeoutMs: 60_000,
    fetch: membersFetch(
      new Map<string, View>([[CLUSTER[0]!, [{
        id: 3,
        url: "http://10.0.0.9:2379",
      }]]]),
    ),
  }).then(() => undefined, (e) => e);
  assert.ok(err instanceof JoinError, String(err));
  assert.match(err.message, /added with the URL http:\/\/10\.0\.0\.9:2379/);
});

Deno.test("--join with no member answering says so", async () => {
  const err = await checkJoin({
    ...base,
    timeoutMs: 0,
    fetch: membersFetch(new Map()),
  }).then(() => undefined, (e) => e);
  assert.ok(err instanceof JoinError, String(err));
  assert.match(err.message, /no member of --cluster answered/);
});

Deno.test("the check ends when the node is stopped", async () => {
  const stop = new AbortController();
  const checking = checkJoin({
    ...base,
    timeoutMs: 60_000,
    pollMs: 60_000,
    signal: stop.signal,
    fetch: membersFetch(new Map<string, View>([[CLUSTER[0]!, []]])),
  });
  stop.abort(new Error("stopped"));
  await assert.rejects(checking, /stopped/);
});
