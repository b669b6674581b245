/**
 * The pure Raft core: a deterministic state machine with no I/O, clock or
 * ambient randomness. Drive it through {@linkcode RawNode}.
 *
 * @example
 * ```ts
 * import { MemoryStorage, RawNode, seededRng } from "./mod.ts";
 * const storage = new MemoryStorage();
 * const node = new RawNode({ id: 1, storage, rng: seededRng(1) });
 * node.bootstrap([{ id: 1, context: "" }]);
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./errors.ts";
export { RawNode } from "./raw_node.ts";
export type { RaftConfig } from "./raft.ts";
export { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS } from "./raft.ts";
export { MemoryStorage } from "./storage.ts";
export type { InitialState, Storage } from "./storage.ts";
export { seededRng } from "./rng.ts";
export type { Rng } from "./rng.ts";
export { nopLogger } from "./logger.ts";
export type { LogFields, Logger } from "./logger.ts";
export { decodeConfChange, encodeConfChange } from "./conf_change.ts";
