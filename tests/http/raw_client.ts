/**
 * A raw client for connection-level tests: it writes bytes the way a slow
 * or idle client would and reads until the server hangs up.
 */

/**
 * Writes `text` on `conn` (nothing when empty) and reads until the server
 * closes the connection; returns what it read and closes `conn`. A server
 * that never closes makes the calling test hang until its own timeout,
 * which is the failure.
 */
export async function sendAndReadUntilClosed(
  conn: Deno.Conn,
  text: string,
): Promise<string> {
  try {
    if (text) await conn.write(new TextEncoder().encode(text));
    let got = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return got;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the server.
    }
  }
}
