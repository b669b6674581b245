/**
 * Where the node's messages leave it: handed to the transport as they
 * are, except a "snap" message whose snapshot has no data (the storage
 * kept only its metadata), which goes out once the data is read back.
 *
 * @module
 */

import {
  type Logger,
  type Message,
  type NodeId,
  RaftKvError,
} from "./core/mod.ts";
import type { NodeStorage, Transport } from "./node.ts";
import type { BackgroundWork } from "./background_work.ts";

/** What {@linkcode Outbox} needs of the node it works for. */
export interface OutboxOptions {
  storage: NodeStorage;
  logger: Logger;
  /** Where the node counts its work off the Ready loop. */
  background: BackgroundWork;
  /** Whether the node stopped: a snapshot read back then is not sent. */
  stopped(): boolean;
  /** A snapshot to `to` could not be read back: its send failed. */
  snapshotFailed(to: NodeId): void;
}

/** Hands the node's messages to the transport, loading snapshot data lazily. */
export class Outbox {
  readonly #o: OutboxOptions;
  #transport: Transport = { send() {} };

  constructor(o: OutboxOptions) {
    this.#o = o;
  }

  /** Sets the transport (until then, messages are dropped). */
  setTransport(t: Transport): void {
    this.#transport = t;
  }

  /**
   * Hands `msgs` to the transport. A "snap" message whose snapshot has no
   * data (storage kept only its metadata) goes out once the data is read
   * back; if that fails, the send is reported failed and the core retries.
   */
  send(msgs: Message[]): void {
    const storage = this.#o.storage;
    const load = storage.loadSnapshot?.bind(storage);
    if (
      !load ||
      !msgs.some((m) => m.type === "snap" && m.snapshot?.data.length === 0)
    ) {
      this.#transport.send(msgs);
      return;
    }
    const now: Message[] = [];
    for (const m of msgs) {
      if (m.type !== "snap" || m.snapshot?.data.length !== 0) {
        now.push(m);
        continue;
      }
      const want = m.snapshot.meta;
      const bg = this.#o.background;
      bg.run(
        bg.io(load()).then((full) => {
          if (this.#o.stopped()) return;
          if (full.meta.index !== want.index || full.meta.term !== want.term) {
            throw new RaftKvError(
              "snapshot_gone",
              `snapshot ${want.index} was replaced by ${full.meta.index}`,
            );
          }
          this.#transport.send([{ ...m, snapshot: full }]);
        }).catch((err) => {
          if (this.#o.stopped()) return;
          this.#o.logger.warn("could not read the snapshot to send", {
            to: m.to,
            index: want.index,
            error: err instanceof Error ? err.message : String(err),
          });
          this.#o.snapshotFailed(m.to);
        }),
      );
    }
    if (now.length > 0) this.#transport.send(now);
  }
}
