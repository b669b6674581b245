/**
 * The socket of a WebSocket upgrade that arrived through the Node-based
 * server (http/serving/timeout_server.ts). `Deno.upgradeWebSocket` needs it to take
 * over that connection; with Deno.serve there is none and the upgrade goes
 * through Deno's own mechanism.
 *
 * @module
 */

import type { Socket } from "node:net";

/** The raw connection of an upgrade request and the bytes read past its header. */
export interface NodeUpgradeSocket {
  socket: Socket;
  head: Uint8Array;
}

/** Upgrade requests served by the Node-based server, to their sockets. */
export const nodeUpgrade: WeakMap<Request, NodeUpgradeSocket> = new WeakMap();
