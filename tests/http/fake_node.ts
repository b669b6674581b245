/**
 * A fake {@linkcode NodePort} for the HTTP tests: it applies each write at
 * once to a real {@linkcode KvStore} (through the command bytes, as the
 * node does), and lets a test switch on recovery, failures and hangs.
 *
 * @module
 */

import type { Hono } from "hono";
import {
  type ApplyResult,
  type Command,
  encodeCommand,
  KvStore,
  type Lease,
  LeaseNotFoundError,
  WatchHub,
} from "../../kv/mod.ts";
import { type AppDeps, createApp } from "../../http/mod.ts";
import type {
  Health,
  Member,
  MembersView,
  NodePort,
  NodeStatus,
  StoreImage,
} from "../../http/mod.ts";
import {
  type LogFields,
  type Logger,
  NotLeaderError,
  RaftKvError,
} from "../../raft/mod.ts";

/**
 * How the fake answers async calls:
 * - `apply`: at once.
 * - `honor-signal`: waits until the signal aborts, then rejects with its reason.
 * - `ignore-signal`: never settles (a broken node), so the app's deadline must end it.
 */
export type FakeMode = "apply" | "honor-signal" | "ignore-signal";

/** The first byte of a `/raft` body the fake accepts. */
export const RAFT_BATCH_MAGIC = 0x01;

/** Options of {@linkcode FakeNode}: its watch history and buffers. */
export interface FakeNodeOptions {
  historyEntries?: number;
  bufferBytes?: number;
}

/** A fake node; every field is public so tests can steer and inspect it. */
export class FakeNode implements NodePort {
  readonly store: KvStore;
  readonly watches: WatchHub;
  index = 0;
  isRecovering = false;
  mode: FakeMode = "apply";
  /** When set, every async call (and receiveRaft) throws it. */
  failWith: unknown = undefined;
  /** When set, async calls reject with this once their signal aborts. */
  onAbortReject: unknown = undefined;
  leader = 1;
  memberList: Member[] = [
    { id: 1, url: "http://127.0.0.1:12379", role: "voter" },
    { id: 2, url: "http://127.0.0.1:22379", role: "voter" },
  ];
  healthState: Health = { ok: true };
  /** The calls made, in order, e.g. `write put a`, `barrier`, `add 4 ...`. */
  calls: string[] = [];
  received: Uint8Array[] = [];

  /** A store with `options`' history and a hub with its buffer bound. */
  constructor(options: FakeNodeOptions = {}) {
    this.store = new KvStore(
      options.historyEntries === undefined
        ? {}
        : { history: { entries: options.historyEntries } },
    );
    this.watches = new WatchHub(
      this.store,
      options.bufferBytes === undefined
        ? {}
        : { bufferBytes: options.bufferBytes },
    );
  }

  recovering(): boolean {
    return this.isRecovering;
  }

  /** Settles according to `mode` and `failWith` before the real work. */
  async #gate(signal: AbortSignal): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    if (this.mode === "apply") return;
    await new Promise<void>((_, reject) => {
      if (this.mode === "honor-signal") {
        signal.addEventListener("abort", () => {
          reject(this.onAbortReject ?? signal.reason);
        });
      }
    });
  }

  async write(cmd: Command, signal: AbortSignal): Promise<ApplyResult> {
    this.calls.push(`write ${cmd.op} ${"key" in cmd ? cmd.key : ""}`);
    await this.#gate(signal);
    return this.store.apply(++this.index, encodeCommand(cmd));
  }

  async readBarrier(signal: AbortSignal): Promise<void> {
    this.calls.push("barrier");
    await this.#gate(signal);
  }

  /** Leads when `leader` is 1: then the lease exists or it is 404. */
  async keepalive(id: number, signal: AbortSignal): Promise<Lease> {
    this.calls.push(`keepalive ${id}`);
    await this.#gate(signal);
    if (this.leader !== 1) throw new NotLeaderError(this.leader);
    const lease = this.store.leases.get(id);
    if (lease === undefined) throw new LeaseNotFoundError(id);
    return lease;
  }

  leaseRemainingMs(id: number): number | undefined {
    const lease = this.store.leases.get(id);
    return this.leader === 1 && lease ? lease.ttl * 1000 : undefined;
  }

  async addMember(member: Member, signal: AbortSignal): Promise<void> {
    this.calls.push(`add ${member.id} ${member.url} ${member.role}`);
    await this.#gate(signal);
    // As a real node: every addition enters as a learner.
    this.memberList.push({ ...member, role: "learner" });
  }

  async removeMember(id: number, signal: AbortSignal): Promise<void> {
    this.calls.push(`remove ${id}`);
    await this.#gate(signal);
    this.memberList = this.memberList.filter((m) => m.id !== id);
  }

  async transferLeader(id: number, signal: AbortSignal): Promise<void> {
    this.calls.push(`transfer ${id}`);
    await this.#gate(signal);
    this.leader = id;
  }

  members(): MembersView {
    return { leader: this.leader, members: this.memberList };
  }

  status(): NodeStatus {
    return {
      id: 1,
      role: this.leader === 1 ? "leader" : "follower",
      term: 3,
      leader: this.leader,
      commit: this.index,
      applied: this.store.appliedIndex,
      snapshotIndex: 0,
      walSegments: 1,
      walBytes: 4096,
      recovering: this.isRecovering,
      peers: this.leader === 1
        ? [{ id: 2, match: this.index, next: this.index + 1 }]
        : [],
    };
  }

  health(): Health {
    return this.healthState;
  }

  storeImage(): StoreImage {
    if (this.isRecovering) throw new RaftKvError("recovering", "recovering");
    this.calls.push("image");
    return { index: this.index, term: 3, state: this.store.view() };
  }

  receiveRaft(body: Uint8Array): void {
    if (this.failWith !== undefined) throw this.failWith;
    if (body.length === 0 || body[0] !== RAFT_BATCH_MAGIC) {
      throw new RaftKvError("invalid_message", "not a raft message batch");
    }
    this.received.push(body);
  }
}

/** A logger that keeps its lines for assertions. */
export class MemoryLogger implements Logger {
  lines: { level: string; msg: string; fields?: LogFields }[] = [];
  debug(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "debug", msg, fields });
  }
  info(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "info", msg, fields });
  }
  warn(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "warn", msg, fields });
  }
  error(msg: string, fields?: LogFields): void {
    this.lines.push({ level: "error", msg, fields });
  }
}

/** A fake node, a logger and the app serving them. */
export interface Setup {
  node: FakeNode;
  logger: MemoryLogger;
  app: Hono;
}

/** Builds the app over a fresh fake node. */
export function setup(
  options: Omit<AppDeps, "node" | "logger"> = {},
  nodeOptions: FakeNodeOptions = {},
): Setup {
  const node = new FakeNode(nodeOptions);
  const logger = new MemoryLogger();
  const app = createApp({ node, logger, ...options });
  return { node, logger, app };
}

/** Reads a JSON error body and checks its shape. */
export async function errorOf(
  res: Response,
): Promise<{ code: string; message: string }> {
  if (res.headers.get("content-type") !== "application/json") {
    throw new Error(
      `error body is ${res.headers.get("content-type")}, not JSON`,
    );
  }
  const body = await res.json();
  const error = body?.error;
  if (typeof error?.code !== "string" || typeof error?.message !== "string") {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  return error;
}
