/**
 * The simulator's agenda events and the one-line description of each step
 * (the trace printed with `--trace` and in failure reports).
 *
 * @module
 */

import type { Message, NodeId } from "../../raft/core/mod.ts";
import type { Timed } from "./sim_heap.ts";

/** An event of the agenda. */
export type NodeEvent =
  | { kind: "tick"; node: NodeId; inc: number }
  | { kind: "take"; node: NodeId; inc: number }
  | { kind: "complete"; node: NodeId; inc: number };
/** An event of the agenda. */
export type ReportEvent = {
  kind: "report";
  node: NodeId;
  inc: number;
  peer: NodeId;
  what: "snapOk" | "snapFail" | "unreachable";
};
/** An event of the agenda. */
export type LifeEvent = { kind: "restart"; node: NodeId } | {
  kind: "stop";
  node: NodeId;
};
/** An event of the agenda. */
export type ClockEvent = { kind: "clock"; tick: number };
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
  & (NodeEvent | ReportEvent | LifeEvent | ClockEvent | FlapEvent);

/** What a step was, kept for the failure report. */
export interface TraceItem {
  step: number;
  at: number;
  what: SimEvent | { kind: "deliver"; msg: Message; cut: boolean } | {
    kind: "note";
    text: string;
  };
}

/** One step of the trace as one line. */
export function formatStep(t: TraceItem): string {
  const w = t.what;
  const head = `#${t.step} t=${t.at}ms`;
  switch (w.kind) {
    case "deliver": {
      const m = w.msg;
      const ents = m.entries.length > 0
        ? ` ents=[${m.entries.map((e) => `${e.index}@${e.term}`).join(",")}]`
        : "";
      const extra = m.snapshot
        ? ` snap=${m.snapshot.meta.index}@${m.snapshot.meta.term}`
        : "";
      return `${head} ${
        w.cut ? "CUT " : ""
      }${m.type} ${m.from}->${m.to} term=${m.term} logTerm=${m.logTerm} ` +
        `index=${m.index} commit=${m.commit}${
          m.reject ? ` reject hint=${m.rejectHint}/${m.rejectTerm}` : ""
        }` +
        `${m.context ? ` ctx=${m.context}` : ""}${ents}${extra}`;
    }
    case "note":
      return `${head} ${w.text}`;
    case "clock":
      return `${head} clock ${w.tick}`;
    case "restart":
    case "stop":
      return `${head} ${w.kind} node ${w.node}`;
    case "flap":
      return `${head} ${
        w.downMs === undefined ? "cut new leader" : "crash voter"
      } ${w.node} (${w.isolate ? "isolate" : "crash"})`;
    case "report":
      return `${head} report ${w.what} to ${w.node} about ${w.peer}`;
    default:
      return `${head} ${w.kind} node ${w.node}`;
  }
}
