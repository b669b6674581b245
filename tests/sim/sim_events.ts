/**
 * The simulator's agenda events and the one-line description of each step
 * (the trace printed with `--trace` and in failure reports).
 *
 * @module
 */

import type { Message, NodeId } from "../../raft/core/mod.ts";
import type { Timed } from "./sim_heap.ts";
import type { PersistBatch } from "./sim_storage.ts";

/**
 * An event of the agenda: a tick of the node's clock, a run of its Ready
 * loop (queued by the node through its `schedule`), or the completion of
 * the oldest write in its disk queue.
 */
export type NodeEvent =
  | { kind: "tick"; node: NodeId; inc: number }
  | { kind: "run"; node: NodeId; inc: number; fn: () => void }
  | { kind: "disk"; node: NodeId; inc: number };
/** An event of the agenda: what the transport tells the sender. */
export type ReportEvent = {
  kind: "report";
  node: NodeId;
  inc: number;
  peer: NodeId;
  what: "snapOk" | "snapFail" | "unreachable" | "removed";
};
/** An event of the agenda: a client asks `node` for a membership change. */
export type ConfEvent = { kind: "conf"; node: NodeId; inc: number };
/** An event of the agenda: a client gives up on a request. */
export type AbortEvent = { kind: "abort"; ctl: AbortController; what: string };
/** An event of the agenda. */
export type LifeEvent = { kind: "restart"; node: NodeId } | {
  kind: "stop";
  node: NodeId;
};
/** An event of the agenda. */
export type ClockEvent = { kind: "clock"; tick: number };
/** An event of the agenda: the next chunk of a streamed snapshot transfer. */
export type ChunkEvent = { kind: "chunk"; transfer: number };
/** An event of the agenda. */
export type FlapEvent = {
  kind: "flap";
  node: NodeId;
  inc: number;
  isolate: boolean;
  downMs?: number;
};
/** One entry of the agenda. */
export type SimEvent =
  & Timed
  & (
    | NodeEvent
    | ReportEvent
    | LifeEvent
    | ClockEvent
    | ChunkEvent
    | FlapEvent
    | AbortEvent
    | ConfEvent
  );

/** What a step was, kept for the failure report. */
export interface TraceItem {
  step: number;
  at: number;
  what: SimEvent | { kind: "deliver"; msg: Message; cut: boolean } | {
    kind: "note";
    text: string;
  };
}

/** Entries as `first@term..last@term (n)`, or each one when few. */
function describeEntries(ents: readonly { index: number; term: number }[]) {
  if (ents.length <= 4) {
    return ents.map((e) => `${e.index}@${e.term}`).join(",");
  }
  const a = ents[0]!, b = ents.at(-1)!;
  return `${a.index}@${a.term}..${b.index}@${b.term} (${ents.length})`;
}

/** One message on one line, in the manner of etcd raft's DescribeMessage. */
export function describeMessage(m: Message): string {
  const ents = m.entries.length > 0
    ? ` ents=[${describeEntries(m.entries)}]`
    : "";
  const extra = m.snapshot
    ? ` snap=${m.snapshot.meta.index}@${m.snapshot.meta.term}`
    : "";
  return `${m.type} ${m.from}->${m.to} term=${m.term} logTerm=${m.logTerm} ` +
    `index=${m.index} commit=${m.commit}${
      m.reject ? ` reject hint=${m.rejectHint}/${m.rejectTerm}` : ""
    }` +
    `${m.context ? ` ctx=${m.context}` : ""}${ents}${extra}`;
}

/** A Ready's durable part on one line (what the node asked its disk to persist). */
export function describeBatch(b: PersistBatch): string {
  const parts: string[] = [];
  if (b.hardState) {
    const h = b.hardState;
    parts.push(`hs{term ${h.term} vote ${h.vote} commit ${h.commit}}`);
  }
  if (b.entries.length > 0) parts.push(`ents=[${describeEntries(b.entries)}]`);
  if (b.snapshot) {
    parts.push(`snap=${b.snapshot.meta.index}@${b.snapshot.meta.term}`);
  }
  if (b.mustSync) parts.push("sync");
  return parts.length > 0 ? parts.join(" ") : "empty";
}

/** One step of the trace as one line. */
export function formatStep(t: TraceItem): string {
  const w = t.what;
  const head = `#${t.step} t=${t.at}ms`;
  switch (w.kind) {
    case "deliver":
      return `${head} ${w.cut ? "CUT " : ""}${describeMessage(w.msg)}`;
    case "note":
      return `${head} ${w.text}`;
    case "clock":
      return `${head} clock ${w.tick}`;
    case "chunk":
      return `${head} next chunk of snapshot transfer ${w.transfer}`;
    case "restart":
    case "stop":
      return `${head} ${w.kind} node ${w.node}`;
    case "flap":
      return `${head} ${
        w.downMs === undefined ? "cut new leader" : "crash voter"
      } ${w.node} (${w.isolate ? "isolate" : "crash"})`;
    case "report":
      return `${head} report ${w.what} to ${w.node} about ${w.peer}`;
    case "abort":
      return `${head} client gives up: ${w.what}`;
    case "conf":
      return `${head} client: a membership change via ${w.node}`;
    case "run":
      return `${head} node ${w.node} runs its Ready loop`;
    case "disk":
      return `${head} node ${w.node} disk completes its oldest write`;
    default:
      return `${head} ${w.kind} node ${w.node}`;
  }
}
