import assert from "node:assert/strict";
import { ARENA_PAGE_SLOTS, ValueArena } from "../../kv/value_arena.ts";
import { seededRng } from "../../raft/core/rng.ts";
import { testSeeds, withSeed } from "./seed.ts";

/** A value whose bytes say which write made it, to catch any mix-up. */
function valueOf(write: number, length: number): Uint8Array {
  const v = new Uint8Array(length);
  for (let i = 0; i < length; i++) v[i] = (write * 31 + i) & 0xff;
  return v;
}

Deno.test("ValueArena keeps every slot's latest value through overwrites, clears and chunk moves", () => {
  for (const seed of testSeeds(5)) {
    withSeed(seed, () => {
      const rng = seededRng(seed);
      const arena = new ValueArena();
      const slots = 500;
      arena.reserve(slots);
      const model = new Map<number, Uint8Array>();
      // Views read out earlier must keep their bytes whatever happens after.
      const handedOut: [Uint8Array, Uint8Array][] = [];
      for (let write = 1; write <= 20_000; write++) {
        const slot = rng.intn(slots);
        const r = rng.next();
        if (r < 0.15) {
          arena.clear(slot);
          model.delete(slot);
        } else {
          // Mostly small values, sometimes one large enough for its own chunk.
          const length = r < 0.16 ? 40_000 + rng.intn(10_000) : rng.intn(300);
          const v = valueOf(write, length);
          arena.set(slot, v);
          model.set(slot, v);
          if (rng.next() < 0.01) handedOut.push([arena.get(slot), v]);
        }
      }
      for (let slot = 0; slot < slots; slot++) {
        const want = model.get(slot) ?? new Uint8Array(0);
        assert.deepEqual(arena.get(slot), want, `slot ${slot}`);
        assert.equal(arena.length(slot), want.length);
        const out = new Uint8Array(want.length + 2);
        arena.copyTo(slot, out, 1);
        assert.deepEqual(out.subarray(1, 1 + want.length), want);
      }
      for (const [view, want] of handedOut) assert.deepEqual(view, want);
    });
  }
});

Deno.test("ValueArena copies the bytes it is given", () => {
  const arena = new ValueArena();
  arena.reserve(1);
  const v = new Uint8Array([1, 2, 3]);
  arena.set(0, v);
  v[0] = 9;
  assert.deepEqual(arena.get(0), new Uint8Array([1, 2, 3]));
});

Deno.test("ValueArena grows one page of locations at a time and keeps values across pages", () => {
  const arena = new ValueArena();
  const slots = 3 * ARENA_PAGE_SLOTS + 7;
  for (let slot = 0; slot < slots; slot++) {
    const pages = arena.pageCount;
    arena.reserve(slot + 1);
    // Room for one more slot costs one page at most, whatever the size.
    assert.ok(arena.pageCount - pages <= 1, `slot ${slot}`);
    assert.ok(arena.capacity > slot);
    arena.set(slot, valueOf(slot, 1 + (slot % 200)));
  }
  assert.equal(arena.pageCount, 4);
  // Overwrites and clears in every page move values between chunks.
  for (let slot = 0; slot < slots; slot += 2) {
    if (slot % 4 === 0) arena.clear(slot);
    else arena.set(slot, valueOf(slot + slots, 1 + (slot % 150)));
  }
  for (let slot = 0; slot < slots; slot++) {
    const want = slot % 4 === 0
      ? new Uint8Array(0)
      : slot % 2 === 0
      ? valueOf(slot + slots, 1 + (slot % 150))
      : valueOf(slot, 1 + (slot % 200));
    assert.deepEqual(arena.get(slot), want, `slot ${slot}`);
    assert.equal(arena.length(slot), want.length);
  }
});

Deno.test("ValueArena gives chunks back as their values go, empty values included", () => {
  const arena = new ValueArena();
  const slots = 20_000;
  arena.reserve(slots);
  // 20,000 values of 100 bytes: about eight chunks of 256 KiB.
  for (let slot = 0; slot < slots; slot++) arena.set(slot, valueOf(slot, 100));
  const full = arena.chunkCount;
  assert.ok(full >= 8, `${full} chunks`);
  // Every value rewritten many times, some as empty values: the dead
  // chunks go, the live values stay intact.
  for (let round = 1; round <= 5; round++) {
    for (let slot = 0; slot < slots; slot++) {
      arena.set(slot, valueOf(round * slots + slot, slot % 7 === 0 ? 0 : 100));
    }
    assert.ok(
      arena.chunkCount <= full + 2,
      `round ${round}: ${arena.chunkCount}`,
    );
  }
  for (let slot = 0; slot < slots; slot++) {
    const want = slot % 7 === 0
      ? new Uint8Array(0)
      : valueOf(5 * slots + slot, 100);
    assert.deepEqual(arena.get(slot), want, `slot ${slot}`);
  }
  for (let slot = 0; slot < slots; slot++) arena.clear(slot);
  assert.ok(arena.chunkCount <= 1, `${arena.chunkCount} chunks left empty`);
});

Deno.test("ValueArena: moving a chunk's values out looks at that chunk's slots, not at every slot", () => {
  const arena = new ValueArena();
  const slots = 200_000;
  arena.reserve(slots);
  // 200,000 values of 100 bytes: about 77 chunks, 2,621 values each.
  for (let slot = 0; slot < slots; slot++) arena.set(slot, valueOf(slot, 100));
  const perChunk = Math.floor(256 * 1024 / 100);
  assert.equal(arena.reclaimWork, 0, "nothing moved yet");
  // Clear most of the first chunk's values: it passes a third dead and
  // its few live ones are moved out.
  for (let slot = 0; slot < perChunk - 10; slot++) arena.clear(slot);
  const work = arena.reclaimWork;
  assert.ok(work > 0, "the first chunk was moved out");
  assert.ok(
    work <= perChunk,
    `${work} slots looked at for a chunk of ${perChunk} values (${slots} slots)`,
  );
  for (let slot = perChunk - 10; slot < slots; slot++) {
    assert.deepEqual(arena.get(slot), valueOf(slot, 100), `slot ${slot}`);
  }
  // Over many overwrites, every slot placed is looked at once at most when
  // its chunk goes: the total work is bounded by the placements made.
  let placements = slots;
  for (let write = 0; write < 100_000; write++) {
    const slot = (write * 7919) % slots;
    arena.set(slot, valueOf(write, 100));
    placements++;
  }
  assert.ok(
    arena.reclaimWork <= placements * 2,
    `${arena.reclaimWork} slots looked at for ${placements} placements`,
  );
});
