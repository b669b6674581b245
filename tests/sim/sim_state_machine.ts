/**
 * The application under simulation: the real key-value store (kv/) behind
 * a thin window that tells the simulator what the node applied, so the
 * checks see every command as it lands. Also the helpers
 * that name an entry's content for the invariants.
 *
 * @module
 */

import type { Entry } from "../../raft/core/mod.ts";
import type { StateMachine } from "../../raft/mod.ts";
import {
  type ApplyResult,
  type Command,
  decodeCommand,
  KvStore,
  type KvStoreOptions,
  type RestoreFeed,
} from "../../kv/mod.ts";
import type { StoreView } from "../../kv/store_view.ts";

const decoder = new TextDecoder();
/**
 * Texts by the bytes they were decoded from: buffer, then offset, with the
 * length checked. Keyed by where the bytes are, not by the view: the log's
 * read mirror (raft/core/entry_pages.ts) hands out a fresh view of the same
 * never-rewritten bytes on every read.
 */
const texts = new WeakMap<ArrayBufferLike, Map<number, [number, string]>>();

/** Bytes as text (cached by where they are); only compared, never parsed. */
export function bytesText(data: Uint8Array): string {
  let inBuffer = texts.get(data.buffer);
  if (inBuffer === undefined) {
    inBuffer = new Map();
    texts.set(data.buffer, inBuffer);
  }
  const hit = inBuffer.get(data.byteOffset);
  if (hit !== undefined && hit[0] === data.length) return hit[1];
  const s = decoder.decode(data);
  inBuffer.set(data.byteOffset, [data.length, s]);
  return s;
}

/** An entry's payload as text. */
export function entryText(e: Entry): string {
  return bytesText(e.data);
}

/** FNV-1a over `bytes`: compares two state images in one number. */
export function hashBytes(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A command the node applied, as the simulator sees it. */
export interface AppliedCommand {
  index: number;
  /** `put key=value` (what identifies the command). */
  text: string;
  key: string;
  value: string;
  /** The command, the entry's term and what the store answered. */
  cmd: Command;
  term: number;
  result: ApplyResult;
}

/** What the simulator hears from a node's state machine. */
export interface StateObserver {
  /** The node applied `c` (restores are checked through the image hash). */
  applied(c: AppliedCommand): void;
}

/** The real {@linkcode KvStore}, observed. */
export class SimStateMachine implements StateMachine {
  readonly store: KvStore;
  readonly #obs: StateObserver;
  /** The entry being applied now (the lease checks read it), else undefined. */
  current: { index: number; term: number; cmd: Command } | undefined;

  constructor(obs: StateObserver, options?: KvStoreOptions) {
    this.#obs = obs;
    this.store = new KvStore(options);
  }

  apply(index: number, payload: Uint8Array, term: number): ApplyResult {
    const cmd = decodeCommand(payload);
    this.current = { index, term, cmd };
    const result = this.store.apply(index, payload, term);
    this.current = undefined;
    const value = cmd.op === "put" ? decoder.decode(cmd.value) : "";
    // Puts carry a value of their own; other commands (deletes, which
    // carry none, txn and leases) are named by their index, so the check
    // of a write applied twice leaves them alone.
    const key = cmd.op === "put" ? cmd.key : "";
    this.#obs.applied({
      index,
      text: key === ""
        ? `${cmd.op} @${index} ${JSON.stringify(cmd)}`
        : `${cmd.op} ${key}=${value}`,
      key,
      value,
      cmd,
      term,
      result,
    });
    return result;
  }

  /** The store's point-in-time view, as production snapshots from. */
  view(): StoreView {
    return this.store.view();
  }

  snapshot(): Uint8Array {
    return this.store.snapshot();
  }

  snapshotAfter(headroom: number): Uint8Array {
    return this.store.snapshotAfter(headroom);
  }

  restore(state: Uint8Array): void {
    this.store.restore(state);
  }

  restoreSteps(
    state: Uint8Array,
    recordsPerStep?: number,
    total?: number,
  ): Iterable<RestoreFeed | undefined> {
    return this.store.restoreSteps(state, recordsPerStep, total);
  }
}
