/**
 * The Raft runtime around the pure core: the node loop, request envelopes,
 * membership with URLs, snapshot content, logging and runtime errors. Other
 * folders import Raft only through this module.
 *
 * @module
 */

export * from "./core/mod.ts";
export { RaftNode } from "./node.ts";
export type {
  Applied,
  NodeStorage,
  RaftNodeOptions,
  StateMachine,
  Transport,
} from "./node.ts";
export { Members } from "./members.ts";
export type { Member } from "./members.ts";
export { isLogLevel, jsonLogger } from "./logger.ts";
export type { LogLevel } from "./logger.ts";
export * from "./errors.ts";
