/**
 * Membership changes on real RaftNodes (in-memory files, an in-memory
 * network, manual ticks):
 *
 * - a follower forwards a change and the leader refuses it: the follower's
 *   caller gets the leader's typed refusal (409), not a timeout (504);
 * - a user's change right after the leader's automatic promotion of a
 *   caught-up learner waits for the promotion and then succeeds, on the
 *   leader and on a follower;
 * - a change that meets another user's pending change is refused once that
 *   one is applied;
 * - the core answers a refused forwarded proposal with `propResp`;
 * - a transfer the core refuses at once leaves no waiter behind (found by
 *   the simulator: the node's stop rejected it with nobody listening).
 */

import assert from "node:assert/strict";
import { KvStore } from "../../kv/mod.ts";
import { DiskStorage } from "../../raft/disk_storage.ts";
import {
  ConfChangeRefusedError,
  decodeRefusal,
  encodeConfChange,
  MemberError,
  MemoryStorage,
  type Message,
  NoLeaderError,
  PeerRemovedError,
  ProposalDroppedError,
  RaftNode,
  RawNode,
  seededRng,
  StoppedError,
} from "../../raft/mod.ts";
import { MemFs } from "../../wal/mem_fs.ts";
import { turn } from "./node_turns.ts";

const urlOf = (id: number) => `http://127.0.0.1:${41000 + id}`;

/** Nodes wired by an in-memory network that delivers in order, one turn later. */
class Cluster {
  readonly nodes = new Map<number, RaftNode>();
  readonly #storages: DiskStorage[] = [];
  /** Messages for which this returns true are lost. */
  drop: (m: Message) => boolean = () => false;

  async add(id: number, join: boolean): Promise<RaftNode> {
    const storage = await DiskStorage.open(new MemFs(), `/n${id}`, {
      metadata: { clusterId: "", nodeId: id },
    });
    this.#storages.push(storage);
    const node = new RaftNode({
      id,
      peers: new Map([1, 2, 3].map((i) => [i, urlOf(i)])),
      join,
      storage,
      stateMachine: new KvStore(),
      rng: seededRng(id),
      epoch: id,
    });
    node.setTransport({ send: (msgs) => this.#send(node, msgs) });
    this.nodes.set(id, node);
    node.start();
    return node;
  }

  #send(from: RaftNode, msgs: Message[]): void {
    const live = msgs.filter((m) => !this.drop(m));
    setTimeout(() => {
      for (const m of live) {
        const to = this.nodes.get(m.to);
        if (!to) {
          from.reportUnreachable(m.to);
          continue;
        }
        try {
          to.receive([m]);
        } catch (e) {
          // A stopped node (removed, or closing) takes nothing more.
          if (!(e instanceof PeerRemovedError || e instanceof StoppedError)) {
            throw e;
          }
        }
        if (m.type === "snap") from.reportSnapshot(m.to, true);
      }
    }, 0);
  }

  /**
   * Ticks `node` first and the others after it until the leader-side
   * promotion of `learner` has been proposed; returns synchronously after
   * that tick, before anything is delivered or committed.
   */
  async tickUntilPromotionProposed(
    leader: RaftNode,
    learner: number,
  ): Promise<void> {
    for (let i = 0; i < 3000; i++) {
      leader.tick();
      if (leader.status().conf.voters.includes(learner)) return;
      for (const n of this.nodes.values()) if (n !== leader) n.tick();
      for (let k = 0; k < 3; k++) await turn();
    }
    throw new Error(`never proposed: promotion of ${learner}`);
  }

  /** Ticks every node until `cond` holds; bounded. */
  async until(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 3000; i++) {
      if (cond()) return;
      for (const n of this.nodes.values()) n.tick();
      for (let k = 0; k < 3; k++) await turn();
    }
    throw new Error(`never reached: ${what}`);
  }

  /**
   * Ticks until a leader is known to every node and has committed an entry
   * of its term, and returns it.
   */
  async leader(): Promise<RaftNode> {
    let lead: RaftNode | undefined;
    await this.until(() => {
      const l = [...this.nodes.values()].find((n) =>
        n.status().role === "leader"
      );
      if (!l) return false;
      lead = l;
      // Its term's first entry is committed everywhere: it takes changes.
      const last = l.status().lastIndex;
      return [...this.nodes.values()].every((n) =>
        n.leader() === l.id && n.health().ok && n.applied() === last
      );
    }, "a leader");
    return lead!;
  }

  roleOf(on: RaftNode, id: number): string | undefined {
    return on.members.get(id)?.role;
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) n.stop();
    // Let deliveries already queued run out before the files close.
    await turn();
    for (const s of this.#storages) await s.close();
  }
}

/** Starts a three-node cluster and returns it with its leader. */
async function threeNodes(): Promise<{ c: Cluster; leader: RaftNode }> {
  const c = new Cluster();
  for (const id of [1, 2, 3]) await c.add(id, false);
  return { c, leader: await c.leader() };
}

/** Settles `p` and returns its value or its rejection. */
function outcome<T>(p: Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  return p.then((ok) => ({ ok }), (err) => ({ err }));
}

Deno.test("a follower's membership change the leader refuses fails with the leader's reason", async () => {
  const { c, leader } = await threeNodes();
  try {
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    const third = [...c.nodes.values()].find((n) =>
      n !== leader && n !== follower
    )!;
    // Cut the third node off: removing the follower would leave voters
    // {leader, third}, and the leader reaches only itself.
    c.drop = (m) => m.to === third.id || m.from === third.id;
    await c.until(
      () => {
        const p = leader.status().peers.find((x) => x.id === third.id);
        return p !== undefined && !p.recentActive;
      },
      "the leader sees the third node as gone",
    );
    for (let i = 0; i < 25; i++) {
      leader.tick();
      follower.tick();
      await turn();
    }
    // The follower's own checks pass; only the leader can refuse.
    const deadline = new AbortController();
    const res = outcome(follower.removeMember(follower.id, deadline.signal));
    let settled: { ok: void } | { err: unknown } | undefined;
    void res.then((r) => settled = r);
    await c.until(() => settled !== undefined, "the refusal arrives");
    assert.ok(settled && "err" in settled, "the change must be refused");
    const err = settled.err;
    assert.ok(err instanceof ConfChangeRefusedError, String(err));
    assert.equal(err.code, "conf_change_refused");
    assert.match(err.message, /no reachable quorum/);
    assert.ok(!deadline.signal.aborted, "refused before any deadline");
    assert.equal(c.roleOf(leader, follower.id), "voter");
  } finally {
    await c.close();
  }
});

Deno.test("a user's change right after an automatic promotion waits for it and succeeds (leader)", async () => {
  const { c, leader } = await threeNodes();
  try {
    await leader.addMember(4, urlOf(4), "voter");
    assert.equal(c.roleOf(leader, 4), "learner");
    await c.add(4, true);
    // The leader has just proposed the promotion (its latest configuration
    // lists 4 as a voter) and not applied it: exactly the window a user hits.
    await c.tickUntilPromotionProposed(leader, 4);
    assert.equal(c.roleOf(leader, 4), "learner", "promotion not applied yet");
    const add5 = leader.addMember(5, urlOf(5), "learner");
    let done: { ok: void } | { err: unknown } | undefined;
    void outcome(add5).then((r) => done = r);
    await c.until(() => done !== undefined, "node 5 added");
    assert.deepEqual(done, { ok: undefined });
    assert.equal(c.roleOf(leader, 4), "voter");
    assert.equal(c.roleOf(leader, 5), "learner");
  } finally {
    await c.close();
  }
});

Deno.test("a user's change through a follower while a promotion is pending waits and succeeds", async () => {
  const { c, leader } = await threeNodes();
  try {
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    await leader.addMember(4, urlOf(4), "voter");
    // Hold back the leader's appends to the followers once the promotion
    // is proposed, so it stays pending while the follower's change arrives.
    let hold = false;
    c.drop = (m) =>
      hold && m.from === leader.id && m.to !== 4 &&
      (m.type === "app" || m.type === "heartbeat");
    await c.add(4, true);
    await c.tickUntilPromotionProposed(leader, 4);
    // Before the promotion's appends are handed to the network.
    hold = true;
    const remove3 = outcome(
      follower.removeMember(
        [1, 2, 3].find((id) => id !== leader.id && id !== follower.id)!,
      ),
    );
    let done: { ok: void } | { err: unknown } | undefined;
    void remove3.then((r) => done = r);
    // The refusal (pending) reaches the follower while replication is
    // held; no ticks meanwhile, so nobody's election timer runs out.
    for (let i = 0; i < 20; i++) await turn();
    assert.equal(done, undefined, "still waiting for the promotion");
    hold = false;
    await c.until(() => done !== undefined, "the removal settles");
    assert.deepEqual(done, { ok: undefined });
    assert.equal(c.roleOf(follower, 4), "voter");
  } finally {
    await c.close();
  }
});

Deno.test("a change that meets another user's pending change is refused once that one applies", async () => {
  const { c, leader } = await threeNodes();
  try {
    const follower = [...c.nodes.values()].find((n) => n !== leader)!;
    let hold = true;
    c.drop = (m) =>
      hold && m.from === leader.id &&
      (m.type === "app" || m.type === "heartbeat");
    // User A's change is appended on the leader but cannot commit yet.
    const a = outcome(leader.addMember(4, urlOf(4), "learner"));
    // User B's change through a follower meets it.
    const b = outcome(follower.addMember(5, urlOf(5), "learner"));
    let bDone: { ok: void } | { err: unknown } | undefined;
    void b.then((r) => bDone = r);
    for (let i = 0; i < 5; i++) await turn();
    hold = false;
    await c.until(() => bDone !== undefined, "B settles");
    assert.deepEqual(await a, { ok: undefined });
    assert.ok(bDone && "err" in bDone, "B must be refused");
    const err = bDone.err;
    assert.ok(err instanceof ConfChangeRefusedError, String(err));
    assert.equal(err.refusal, "pending");
    assert.equal(c.roleOf(follower, 4), "learner", "B saw A applied");
    assert.equal(c.roleOf(leader, 5), undefined);
  } finally {
    await c.close();
  }
});

Deno.test("the core answers a refused forwarded proposal with propResp", () => {
  const s1 = new MemoryStorage();
  const s2 = new MemoryStorage();
  const n1 = new RawNode({ id: 1, storage: s1, rng: seededRng(1) });
  const n2 = new RawNode({ id: 2, storage: s2, rng: seededRng(2) });
  n1.bootstrap([{ id: 1, context: "" }, { id: 2, context: "" }]);
  n2.bootstrap([{ id: 1, context: "" }, { id: 2, context: "" }]);
  const nodes = new Map([[1, { raw: n1, s: s1 }], [2, { raw: n2, s: s2 }]]);
  const refused: { reason: string; types: string[] }[] = [];
  /** Runs Ready rounds (persist, deliver) until quiet. */
  const pump = () => {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const { raw, s } of nodes.values()) {
        if (!raw.hasReady()) continue;
        any = true;
        const rd = raw.ready();
        if (rd.hardState) s.setHardState(rd.hardState);
        s.append(rd.entries);
        for (const r of rd.refused ?? []) {
          refused.push({
            reason: r.reason,
            types: r.entries.map((e) => e.type),
          });
        }
        raw.advance();
        for (const m of rd.messages) nodes.get(m.to)?.raw.step(m);
      }
      if (!any) return;
    }
  };
  pump();
  n1.campaign();
  pump();
  assert.equal(n1.status().role, "leader");
  // A change of the leader's own, appended but not committed: drop n1's
  // appends by proposing without pumping.
  n1.proposeConfChange({ type: "addLearner", node: 3, context: "" });
  n2.proposeConfChange({ type: "addLearner", node: 4, context: "x" });
  // n2's forwarded change reaches n1 before n1's own change commits.
  const rd2 = n2.ready();
  n2.advance();
  const prop = rd2.messages.find((m) => m.type === "prop")!;
  n1.step(prop);
  pump();
  assert.equal(refused.length, 1);
  assert.deepEqual(refused[0]!.types, ["conf"]);
  const err = decodeRefusal(refused[0]!.reason);
  assert.ok(err instanceof ConfChangeRefusedError);
  assert.equal(err.refusal, "pending");
  assert.ok(err.pendingIndex > 0);
  // A proposal forwarded to a node that does not lead is refused too.
  const stray: Message = {
    ...prop,
    from: 1,
    to: 2,
    entries: [{
      term: 0,
      index: 0,
      type: "conf",
      data: encodeConfChange({ type: "remove", node: 2, context: "" }),
    }],
  };
  n2.step(stray);
  const rd = n2.ready();
  n2.advance();
  const resp = rd.messages.find((m) => m.type === "propResp");
  assert.ok(resp && resp.reject && resp.to === 1);
  assert.ok(decodeRefusal(resp.context) instanceof ProposalDroppedError);
});

Deno.test("adding a node at another member's URL is refused (member_url_exists) and proposes nothing", async () => {
  const { c, leader } = await threeNodes();
  try {
    const before = leader.status().lastIndex;
    await assert.rejects(
      async () => await leader.addMember(4, urlOf(2), "voter"),
      (e: unknown) =>
        e instanceof MemberError && e.code === "member_url_exists",
    );
    assert.equal(leader.status().lastIndex, before, "nothing proposed");
    assert.equal(leader.members.get(4), undefined);
  } finally {
    await c.close();
  }
});

Deno.test("removing the only voter is refused with conf_change_refused (409), not member_unknown", async () => {
  const c = new Cluster();
  try {
    // One voter: node 1 alone (its --cluster names only itself).
    const storage = await DiskStorage.open(new MemFs(), "/solo", {
      metadata: { clusterId: "", nodeId: 1 },
    });
    const node = new RaftNode({
      id: 1,
      peers: new Map([[1, urlOf(1)]]),
      join: false,
      storage,
      stateMachine: new KvStore(),
      rng: seededRng(1),
      epoch: 1,
    });
    node.setTransport({ send: () => {} });
    c.nodes.set(1, node);
    node.start();
    await c.until(() => node.health().ok, "node 1 leads");
    await assert.rejects(
      async () => await node.removeMember(1),
      (e: unknown) =>
        e instanceof ConfChangeRefusedError && /only voter/.test(e.message),
    );
    assert.equal(node.members.get(1)?.role, "voter");
    node.stop();
    await turn();
    await storage.close();
  } finally {
    c.nodes.clear();
  }
});

Deno.test("a transfer the core refuses leaves no waiter that the node's stop would reject unheard", async () => {
  const c = new Cluster();
  const node = await c.add(1, false);
  const unheard: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    unheard.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await c.until(() => !node.recovering(), "node 1 recovered");
    // No leader is known yet (nobody else runs): the core refuses at once.
    assert.throws(() => node.transferLeader(2), NoLeaderError);
    node.stop();
    await turn();
    assert.deepEqual(unheard, []);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    await c.close();
  }
});
