/**
 * The WAL on a real, really full filesystem: a 256 KiB tmpfs. Needs root
 * (mount); elsewhere the test is skipped and says why in its name.
 */

import assert from "node:assert/strict";
import { DenoFs, Wal, WalFailedError, type WalRecord } from "../../wal/mod.ts";

async function run(
  cmd: string,
  ...args: string[]
): Promise<{ ok: boolean; err: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "null",
      stderr: "piped",
    }).output();
    return {
      ok: out.success,
      err: new TextDecoder().decode(out.stderr).trim(),
    };
  } catch (e) {
    return { ok: false, err: e instanceof Error ? e.message : String(e) };
  }
}

/** Mounts a 256 KiB tmpfs on a fresh temp dir, or says why it cannot. */
async function mountSmallFs(): Promise<{ dir: string } | { skip: string }> {
  if (Deno.build.os !== "linux") return { skip: "not Linux" };
  const dir = await Deno.makeTempDir({ prefix: "raftkv-full-" });
  const m = await run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir);
  if (m.ok) return { dir };
  await Deno.remove(dir);
  return { skip: `mount not permitted: ${m.err || "no reason given"}` };
}

async function unmount(dir: string): Promise<void> {
  await run("umount", dir);
  await Deno.remove(dir, { recursive: true });
}

// Probe once at load so the test can say up front whether it will run.
const probe = await mountSmallFs();
if ("dir" in probe) await unmount(probe.dir);
const skip = "skip" in probe ? probe.skip : undefined;

function rec(n: number): WalRecord {
  const data = new Uint8Array(1000).fill(0x3c);
  new DataView(data.buffer).setUint32(0, n, true);
  return { kind: 2, data };
}

const OPTS = {
  segmentBytes: 64 * 1024,
  segmentStart: () => ({
    firstIndex: 0,
    header: [{ kind: 1, data: new Uint8Array([1]) }],
  }),
};

Deno.test({
  name:
    `wal: ENOSPC on a real full filesystem stops the WAL and loses nothing acknowledged, nor a torn tail${
      skip ? ` (skipped: ${skip})` : ""
    }`,
  ignore: skip !== undefined,
  async fn() {
    const mounted = await mountSmallFs();
    if (!("dir" in mounted)) {
      throw new Error(`mount failed after the probe worked: ${mounted.skip}`);
    }
    const dir = `${mounted.dir}/wal`;
    // Space an operator can free later: the WAL fills the rest.
    const ballast = `${mounted.dir}/ballast`;
    await Deno.writeFile(ballast, new Uint8Array(32 * 1024));
    try {
      const fs = new DenoFs();
      const { wal } = await Wal.open(fs, dir, OPTS);
      let acked = 0;
      let failure: unknown;
      for (let i = 0; i < 1000 && failure === undefined; i++) {
        try {
          await wal.append([rec(i)]);
          acked = i + 1;
        } catch (err) {
          failure = err;
        }
      }
      assert.ok(
        failure instanceof WalFailedError,
        `expected a WAL failure, got ${failure}`,
      );
      assert.match(failure.message, /No space left on device|os error 28/);
      assert.ok(
        acked > 50,
        `appended only ${acked} records before the disk filled`,
      );
      await assert.rejects(
        () => wal.append([rec(acked)]),
        (e) => e === failure,
      );
      await assert.rejects(() => wal.close(), WalFailedError);

      // A torn tail is cut only after it was copied to a side file: on the
      // still full disk that copy fails, and the open stops, changing
      // nothing. Once space is freed, the repair goes through.
      const reopen = () => Wal.open(fs, dir, OPTS);
      let opened;
      try {
        opened = await reopen();
      } catch (e) {
        assert.ok(e instanceof WalFailedError, `${e}`);
        assert.match(e.message, /torn tail/);
        assert.match(e.message, /No space left on device|os error 28/);
        await Deno.remove(ballast);
        opened = await reopen();
      }
      const { wal: again, records } = opened;
      const got = records.filter((r) => r.kind === 2).map((r) =>
        new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true)
      );
      assert.ok(
        got.length >= acked,
        `recovered ${got.length} of ${acked} acknowledged`,
      );
      got.forEach((v, k) => assert.equal(v, k));
      await again.close().catch(() => {});
    } finally {
      await unmount(mounted.dir);
    }
  },
});
