/**
 * The fixed ports of scripts/cluster.sh (12379/22379/32379 and
 * 12380/22380/32380, and 42379/42380 for the README tour's node 4), shared
 * by the tests that run the script: whether someone else uses them (the
 * test then skips itself, saying why), and a lock so that those tests,
 * which `deno test --parallel` runs in separate processes, take turns.
 *
 * @module
 */

/** The ports scripts/cluster.sh's nodes 1-4 listen on. */
export const FIXED_PORTS: readonly number[] = [
  12379,
  22379,
  32379,
  42379,
  12380,
  22380,
  32380,
  42380,
];

/** The fixed ports someone else is using right now. */
export function busyPorts(): number[] {
  return FIXED_PORTS.filter((port) => {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * Runs `fn` holding an exclusive lock on a file in the temporary directory,
 * so that at most one test of this machine runs a cluster on the fixed
 * ports at a time.
 */
export async function withFixedPorts<T>(fn: () => Promise<T>): Promise<T> {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const file = await Deno.open(`${tmp}/raftkv-fixed-ports.lock`, {
    create: true,
    write: true,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // Releases the lock.
  }
}
