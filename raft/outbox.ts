/**
 * Where the node's messages leave it: handed to the transport as they
 * are, except a "snap" message whose snapshot has no data (the storage
 * kept only its metadata). That one goes out streamed from the snapshot's
 * file when the storage and the transport both can (the file read piece by
 * piece as the chunks leave, never whole: `NodeStorage.openSnapshotStream`,
 * `Transport.sendSnapshot`), else once the data is read back whole.
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
    const open = storage.openSnapshotStream?.bind(storage);
    if (
      (!load && !open) ||
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
      const transport = this.#transport;
      if (open && transport.sendSnapshot) {
        bg.run(
          bg.io(open()).then((stream) => {
            if (
              this.#o.stopped() ||
              stream.meta.index !== want.index ||
              stream.meta.term !== want.term
            ) {
              stream.close();
              if (this.#o.stopped()) return;
              throw new RaftKvError(
                "snapshot_gone",
                `snapshot ${want.index} was replaced by ${stream.meta.index}`,
              );
            }
            transport.sendSnapshot!(m, stream);
          }).catch((err) => this.#failed(m, err)),
        );
        continue;
      }
      if (!load) {
        now.push(m);
        continue;
      }
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
        }).catch((err) => this.#failed(m, err)),
      );
    }
    if (now.length > 0) this.#transport.send(now);
  }

  /** The snapshot of `m` could not be read: its send failed. */
  #failed(m: Message, err: unknown): void {
    if (this.#o.stopped()) return;
    this.#o.logger.warn("could not read the snapshot to send", {
      to: m.to,
      index: m.snapshot?.meta.index ?? 0,
      error: err instanceof Error ? err.message : String(err),
    });
    this.#o.snapshotFailed(m.to);
  }
}
