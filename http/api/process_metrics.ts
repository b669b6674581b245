/**
 * The process's memory as gauges, read at every scrape: resident memory
 * under the name every Prometheus client uses
 * (`process_resident_memory_bytes`), and the JavaScript engine's heap and
 * external memory, so a dashboard shows which part of the resident memory
 * is heap and which is outside it. docs/METRICS.md, "Process".
 *
 * @module
 */

import type { Gauge, Registry } from "../../raft/mod.ts";

/** The numbers the gauges are set from (`Deno.memoryUsage()`'s shape). */
export interface MemoryUsage {
  /** Resident set size of the process, bytes. */
  rss: number;
  /** Bytes the JavaScript heap has reserved. */
  heapTotal: number;
  /** Bytes of the JavaScript heap in use (live and not yet collected). */
  heapUsed: number;
  /** Bytes held outside the heap by JavaScript objects (ArrayBuffers). */
  external: number;
}

/** The process memory gauges of a registry, set from `read()` at each scrape. */
export class ProcessGauges {
  readonly #rss: Gauge;
  readonly #heapTotal: Gauge;
  readonly #heapUsed: Gauge;
  readonly #external: Gauge;
  readonly #read: () => MemoryUsage;

  constructor(r: Registry, read: () => MemoryUsage = Deno.memoryUsage) {
    this.#read = read;
    this.#rss = r.gauge(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
    );
    this.#heapTotal = r.gauge(
      "raftkv_js_heap_total_bytes",
      "Bytes the JavaScript heap has reserved.",
    );
    this.#heapUsed = r.gauge(
      "raftkv_js_heap_used_bytes",
      "Bytes of the JavaScript heap in use, garbage not yet collected included.",
    );
    this.#external = r.gauge(
      "raftkv_js_external_memory_bytes",
      "Bytes held outside the JavaScript heap by its objects (ArrayBuffers: the value arena, I/O buffers).",
    );
  }

  /** Reads the process's memory and sets the gauges. */
  update(): void {
    const m = this.#read();
    this.#rss.set(m.rss);
    this.#heapTotal.set(m.heapTotal);
    this.#heapUsed.set(m.heapUsed);
    this.#external.set(m.external);
  }
}
