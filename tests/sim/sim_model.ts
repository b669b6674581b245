/**
 * A reference model of the key-value store (issue 16), written from the
 * contract (docs/API.md "Revisions", "Leases", "Transactions"), not from
 * kv/: a `Map` of keys and a `Map` of leases, replayed from the committed
 * log in index order. The simulator feeds it the first application of each
 * index by any node (every node applies the same entry at an index, and
 * the first node to apply an index applied every index before it, or
 * restored a snapshot some node made after applying them), and records,
 * for every index, the answer and the changes the real store must give.
 *
 * What it knows of each command:
 *
 * - put: `ifMatch` (the key's modIndex, 0 when absent, must equal it),
 *   `ifNoneMatch` (the key must be absent), a lease that must exist; writes
 *   the value, `version` + 1 (1 when created, with `createIndex` the
 *   index), `modIndex` the index, the lease (0: none, detached);
 * - delete: `ifMatch`; removes the key (a success also when absent);
 * - lease grant: the lease's id is the index; revoke: `lease_not_found`
 *   when gone; an expiry (`term` > 0) decided in another term than the
 *   entry's changes nothing; else the lease and every key attached to it go;
 * - txn: every compare on the state before it (an absent key's numbers are
 *   0, a value compare on it is false; values compare as bytes); a put of
 *   the branch taken naming a lease that does not exist refuses the whole
 *   transaction (`lease_not_found`, nothing changed); else the branch's
 *   operations in order, a get seeing the puts before it; prefix gets and
 *   deletes in key order, a get's `more` when keys past `limit` remain.
 *
 * @module
 */

import type {
  Command,
  TxnCompare,
  TxnOperation,
  WatchEvent,
} from "../../kv/mod.ts";

const decoder = new TextDecoder();

interface ModelKey {
  value: Uint8Array;
  createIndex: number;
  modIndex: number;
  version: number;
  lease: number;
}

/** One change of an entry, as text: `put k=v c/m/v/l` or `delete k`. */
type ModelChange = string;

/** What the model says an entry at an index gives. */
export interface ModelAnswer {
  /** The answer, normalized (see {@linkcode normalizeAnswer}). */
  answer: string;
  /** The changes, in order, as text. */
  changes: ModelChange[];
  /** The command's text (JSON, values as text). */
  command: string;
}

/**
 * Normalized text of an answer for one entry: keys sorted, bytes as text,
 * a listing item's fields only those the contract names (`key`, `value`,
 * `createIndex`, `modIndex`, `version`, `lease`).
 */
export function normalizeAnswer(r: unknown): string {
  return JSON.stringify(canonical(r));
}

function canonical(v: unknown): unknown {
  if (v instanceof Uint8Array) return decoder.decode(v);
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  const names = "createIndex" in o && "key" in o
    ? ["createIndex", "key", "lease", "modIndex", "value", "version"]
    : Object.keys(o).sort();
  const out: Record<string, unknown> = {};
  for (const n of names) if (o[n] !== undefined) out[n] = canonical(o[n]);
  return out;
}

/** A store's change batch as the model's change texts. */
export function changeTexts(events: readonly WatchEvent[]): string[] {
  return events.map((e) =>
    e.type === "put"
      ? `put ${e.key}=${
        decoder.decode(e.value)
      } ${e.createIndex}/${e.modIndex}/${e.version}/${e.lease ?? 0}`
      : e.reason === "lease"
      ? `delete ${e.key} lease`
      : `delete ${e.key}`
  );
}

/** The text of a command, values as text (as the model names it). */
export function commandText(cmd: Command): string {
  return normalizeAnswer(cmd);
}

/** The reference model: see the module doc. */
export class StoreModel {
  /** The last index replayed. */
  applied = 0;
  readonly #keys = new Map<string, ModelKey>();
  readonly #leases = new Map<number, Set<string>>();
  readonly #answers = new Map<number, ModelAnswer>();

  /** The keys starting with `prefix` now, with their createIndex. */
  list(prefix: string): { key: string; createIndex: number }[] {
    return this.#withPrefix(prefix).map((key) => ({
      key,
      createIndex: this.#keys.get(key)!.createIndex,
    }));
  }

  /** Whether lease `id` exists now. */
  hasLease(id: number): boolean {
    return this.#leases.has(id);
  }

  /** What the entry at `index` gave, once replayed. */
  answerAt(index: number): ModelAnswer | undefined {
    return this.#answers.get(index);
  }

  /** Replays the entry at `index` (above every index replayed), of term `term`. */
  apply(index: number, cmd: Command | undefined, term: number): ModelAnswer {
    if (index <= this.applied) {
      throw new Error(`model: ${index} replayed after ${this.applied}`);
    }
    this.applied = index;
    const changes: ModelChange[] = [];
    const answer = cmd === undefined
      ? { status: "ok", index }
      : this.#command(index, cmd, term, changes);
    const a: ModelAnswer = {
      answer: normalizeAnswer(answer),
      changes,
      command: cmd === undefined ? "" : commandText(cmd),
    };
    this.#answers.set(index, a);
    return a;
  }

  #command(
    index: number,
    cmd: Command,
    term: number,
    changes: ModelChange[],
  ): unknown {
    switch (cmd.op) {
      case "lease_grant":
        this.#leases.set(index, new Set());
        return { status: "ok", index, lease: { id: index, ttl: cmd.ttl } };
      case "lease_revoke": {
        const keys = this.#leases.get(cmd.id);
        if (keys === undefined) {
          return { status: "lease_not_found", lease: cmd.id };
        }
        if (cmd.term !== 0 && cmd.term !== term) return { status: "ok", index };
        for (const key of [...keys].sort(byBytes)) {
          this.#remove(key);
          changes.push(`delete ${key} lease`);
        }
        this.#leases.delete(cmd.id);
        return { status: "ok", index };
      }
      case "txn":
        return this.#txn(index, cmd.compare, cmd.success, cmd.failure, changes);
    }
    const have = this.#keys.get(cmd.key);
    const currentIndex = have?.modIndex ?? 0;
    if (cmd.ifMatch !== undefined && cmd.ifMatch !== currentIndex) {
      return { status: "precondition_failed", currentIndex };
    }
    if (cmd.op === "delete") {
      if (have !== undefined) {
        this.#remove(cmd.key);
        changes.push(`delete ${cmd.key}`);
      }
      return { status: "ok", index };
    }
    if (cmd.ifNoneMatch && have !== undefined) {
      return { status: "precondition_failed", currentIndex };
    }
    const lease = cmd.lease ?? 0;
    if (lease !== 0 && !this.#leases.has(lease)) {
      return { status: "lease_not_found", lease };
    }
    changes.push(this.#put(index, cmd.key, cmd.value, lease));
    return { status: "ok", index };
  }

  #txn(
    index: number,
    compare: TxnCompare[],
    success: TxnOperation[],
    failure: TxnOperation[],
    changes: ModelChange[],
  ): unknown {
    const succeeded = compare.every((c) => this.#holds(c));
    const branch = succeeded ? success : failure;
    for (const op of branch) {
      if (op.op === "put" && op.lease && !this.#leases.has(op.lease)) {
        return { status: "lease_not_found", lease: op.lease };
      }
    }
    const results: unknown[] = [];
    for (const op of branch) {
      if (op.op === "put") {
        changes.push(this.#put(index, op.key, op.value, op.lease ?? 0));
        results.push({ op: "put" });
      } else if (op.op === "delete") {
        const keys = "prefix" in op ? this.#withPrefix(op.prefix) : [op.key];
        let deleted = 0;
        for (const key of keys) {
          if (!this.#keys.has(key)) continue;
          this.#remove(key);
          changes.push(`delete ${key}`);
          deleted++;
        }
        results.push({ op: "delete", deleted });
      } else {
        const keys = "prefix" in op ? this.#withPrefix(op.prefix) : [op.key];
        const limit = "prefix" in op ? op.limit : 1;
        const present = keys.filter((k) => this.#keys.has(k));
        results.push({
          op: "get",
          items: present.slice(0, limit).map((key) => this.#item(key)),
          more: present.length > limit,
        });
      }
    }
    return { status: "ok", index, txn: { succeeded, results } };
  }

  /** A compare, on the state now. */
  #holds(c: TxnCompare): boolean {
    const k = this.#keys.get(c.key);
    let order: number;
    if (c.target === "value") {
      if (k === undefined) return false;
      order = bytesOrder(k.value, c.value as Uint8Array);
    } else {
      const have = k === undefined ? 0 : k[c.target];
      order = Math.sign(have - (c.value as number));
    }
    return c.op === "=="
      ? order === 0
      : c.op === "!="
      ? order !== 0
      : c.op === "<"
      ? order < 0
      : order > 0;
  }

  #put(index: number, key: string, value: Uint8Array, lease: number): string {
    const old = this.#keys.get(key);
    if (old !== undefined && old.lease !== 0) {
      this.#leases.get(old.lease)?.delete(key);
    }
    const k: ModelKey = {
      value: value.slice(),
      createIndex: old?.createIndex ?? index,
      modIndex: index,
      version: (old?.version ?? 0) + 1,
      lease,
    };
    this.#keys.set(key, k);
    if (lease !== 0) this.#leases.get(lease)!.add(key);
    return `put ${key}=${
      decoder.decode(value)
    } ${k.createIndex}/${index}/${k.version}/${lease}`;
  }

  #remove(key: string): void {
    const old = this.#keys.get(key);
    if (old === undefined) return;
    if (old.lease !== 0) this.#leases.get(old.lease)?.delete(key);
    this.#keys.delete(key);
  }

  #withPrefix(prefix: string): string[] {
    return [...this.#keys.keys()].filter((k) => k.startsWith(prefix)).sort(
      byBytes,
    );
  }

  #item(key: string): unknown {
    const k = this.#keys.get(key)!;
    return {
      key,
      value: k.value,
      createIndex: k.createIndex,
      modIndex: k.modIndex,
      version: k.version,
      lease: k.lease,
    };
  }
}

/** Keys in UTF-8 byte order. */
function byBytes(a: string, b: string): number {
  return bytesOrder(encoder.encode(a), encoder.encode(b));
}

const encoder = new TextEncoder();

function bytesOrder(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}
