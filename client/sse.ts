/**
 * A reader of Server-Sent Events (the WHATWG event stream format), as
 * `GET /v1/watch` sends them: `event:`, `id:` and `data:` lines, an event
 * ending at a blank line, comments (`:`) ignored. Built on streams and
 * `TextDecoder` only, so it runs wherever the client does.
 *
 * @module
 */

/** One dispatched event. */
export interface SseEvent {
  /** `event:`, or `"message"` when the event named none. */
  event: string;
  /** `id:` of this event, undefined when it had none. */
  id?: string;
  /** The `data:` lines joined by newlines. */
  data: string;
}

/**
 * The events of `body`, in order, as they arrive. Ends when the body ends
 * (an event cut off by the end is dropped, as a browser drops it); rejects
 * when reading the body fails.
 */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SseEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "";
  let id: string | undefined;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (;;) {
        const nl = buffer.search(/\r\n|\r|\n/);
        if (nl < 0) break;
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (buffer[nl] === "\r" && nl === buffer.length - 1) break;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length > 0 || id !== undefined || event !== "") {
            const out: SseEvent = {
              event: event === "" ? "message" : event,
              data: data.join("\n"),
            };
            if (id !== undefined) out.id = id;
            yield out;
          }
          event = "";
          id = undefined;
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let rest = colon < 0 ? "" : line.slice(colon + 1);
        if (rest.startsWith(" ")) rest = rest.slice(1);
        if (field === "event") event = rest;
        else if (field === "data") data.push(rest);
        else if (field === "id" && !rest.includes("\0")) id = rest;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
