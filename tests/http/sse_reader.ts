/**
 * A reader of Server-Sent Events for tests: the events of a response body,
 * one at a time, parsed as a browser's `EventSource` would (fields `event`,
 * `id`, `data`; comments and unknown fields ignored).
 *
 * @module
 */

/** One event. `event` is "message" when the stream named none. */
export interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Reads events from an SSE body; `next()` resolves undefined at its end. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next event, or undefined when the stream ended. */
  async next(): Promise<SseEvent | undefined> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const event = parseBlock(block);
        if (event !== undefined) return event;
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The next event's `data` as JSON, checking its event name. */
  async nextJson(event = "message"): Promise<{ id?: string; data: unknown }> {
    const e = await this.next();
    if (e === undefined) throw new Error("the stream ended");
    if (e.event !== event) {
      throw new Error(`expected ${event}, got ${e.event}: ${e.data}`);
    }
    return {
      ...(e.id === undefined ? {} : { id: e.id }),
      data: JSON.parse(e.data),
    };
  }

  /** Stops reading: the server sees the client go away. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return undefined;
  return { event, ...(id === undefined ? {} : { id }), data: data.join("\n") };
}
