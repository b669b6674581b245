/**
 * The simulated application: an append-only list of the values written,
 * with a hash chain over every applied entry so that two replicas can be
 * compared at any index in O(1). It lives in memory only; what survives a
 * crash is the snapshot of it kept in durable storage.
 *
 * @module
 */

import type { Entry } from "../../raft/core/mod.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const keys = new WeakMap<Uint8Array, string>();

/** An entry's payload as text (cached per byte array). */
export function entryText(e: Entry): string {
  let s = keys.get(e.data);
  if (s === undefined) {
    s = decoder.decode(e.data);
    keys.set(e.data, s);
  }
  return s;
}

/** What identifies an entry's content: its term, type and payload. */
export function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${entryText(e)}`;
}

/** The hash chain step: FNV-1a of the previous hash and the entry key. */
export function chainHash(prev: number, index: number, key: string): number {
  let h = (prev ^ index) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Written values are the payloads of normal entries that start with this. */
export const VALUE_PREFIX = "v";

/** The state machine image kept in a snapshot. */
interface Image {
  index: number;
  hash: number;
  values: string[];
}

/** The application state of one node incarnation. */
export class ListStateMachine {
  /** The index of the last entry applied. */
  applied = 0;
  /** The hash chain over every entry applied so far. */
  hash = 0;
  /** Values written, in log order (duplicates if the network duplicated a proposal). */
  values: string[] = [];

  /** Applies the next committed entry; returns the value it wrote, if any. */
  apply(e: Entry): string | undefined {
    if (e.index !== this.applied + 1) {
      throw new Error(
        `state machine at ${this.applied} asked to apply ${e.index}`,
      );
    }
    this.applied = e.index;
    this.hash = chainHash(this.hash, e.index, entryKey(e));
    if (e.type !== "normal") return undefined;
    const text = entryText(e);
    if (!text.startsWith(VALUE_PREFIX)) return undefined;
    this.values.push(text);
    return text;
  }

  /** Encodes the state for a snapshot. */
  encode(): Uint8Array {
    const img: Image = {
      index: this.applied,
      hash: this.hash,
      values: this.values,
    };
    return encoder.encode(JSON.stringify(img));
  }

  /** Rebuilds the state from snapshot data (empty data: the initial state). */
  static decode(data: Uint8Array): ListStateMachine {
    const sm = new ListStateMachine();
    if (data.byteLength === 0) return sm;
    const img = JSON.parse(decoder.decode(data)) as Image;
    sm.applied = img.index;
    sm.hash = img.hash;
    sm.values = img.values;
    return sm;
  }
}
