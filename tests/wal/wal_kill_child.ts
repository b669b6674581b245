/**
 * Child process of kill_test.ts: opens the WAL in `Deno.args[0]` on the real
 * disk, continues the counter sequence it holds, and appends synced batches
 * forever, printing `synced <n>` after each batch whose append resolved
 * (records 0..n are then acknowledged). The parent kills it with SIGKILL.
 *
 * @module
 */

import { DenoFs, Wal } from "../../wal/mod.ts";

const dir = Deno.args[0]!;
let next = 0;
const { wal, records } = await Wal.open(new DenoFs(), dir, {
  segmentBytes: 16 * 1024,
  segmentStart: () => ({
    firstIndex: next,
    header: [{ kind: 1, data: new Uint8Array([1]) }],
  }),
});
for (const r of records) {
  if (r.kind === 2) {
    next =
      new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true) + 1;
  }
}
const out = Deno.stdout.writable.getWriter();
const encoder = new TextEncoder();
for (let round = 0;; round++) {
  const batch = [];
  const size = 1 + (round * 7) % 13;
  for (let k = 0; k < size; k++) {
    const data = new Uint8Array(4 + ((next * 31) % 300)).fill(0x5c);
    new DataView(data.buffer).setUint32(0, next++, true);
    batch.push({ kind: 2, data });
  }
  await wal.append(batch);
  await out.write(encoder.encode(`synced ${next - 1}\n`));
}
