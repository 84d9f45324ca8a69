// CBH, the image's check function (docs/image-format.md section 7): every single-bit flip
// changes both the 64-bit check and its low 32 bits (the per-cluster check), the seed
// matters, and the function is deterministic.
import t from "tap";
import { Core } from "../host-shim/src/native/core";

const core = new Core();

function random(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

t.test("every single-bit flip of a 512-byte record changes CBH-64 and CBH-32", async (t) => {
  for (const seed of [1, 2]) {
    const data = random(512, seed * 7919);
    const base = core.checkOf(data, seed);
    let caught64 = 0,
      caught32 = 0;
    for (let bit = 0; bit < 512 * 8; bit++) {
      data[bit >> 3] ^= 1 << (bit & 7);
      const h = core.checkOf(data, seed);
      data[bit >> 3] ^= 1 << (bit & 7);
      if (h !== base) caught64++;
      if (h.slice(8) !== base.slice(8)) caught32++;
    }
    t.equal(caught64, 4096, "64-bit check catches all 4096 flips");
    t.equal(caught32, 4096, "32-bit check catches all 4096 flips");
  }
});

t.test("zeros, seeds and lengths give different checks; the function is deterministic", async (t) => {
  const z64 = new Uint8Array(64),
    z128 = new Uint8Array(128);
  t.not(core.checkOf(z64, 0), core.checkOf(z128, 0), "length counts");
  t.not(core.checkOf(z64, 0), core.checkOf(z64, 1), "seed counts");
  t.not(core.checkOf(z64, 2 ** 32), core.checkOf(z64, 0), "high half of the seed counts");
  t.equal(core.checkOf(random(256, 5), 9), core.checkOf(random(256, 5), 9), "deterministic");
  // a reference value pins the function: a change to it is a new image format version
  t.equal(core.checkOf(z64, 0), "0ded84b721b34261", "reference: 64 zero bytes, seed 0");
  t.equal(core.checkOf(random(512, 42), 3), "62730e5c5658fedc", "reference: 512 xorshift bytes, seed 3");
});

t.test("swapped words are caught", async (t) => {
  const data = random(512, 77);
  const base = core.checkOf(data, 0);
  const swapped = Uint8Array.from(data);
  swapped.set(data.subarray(0, 4), 64);
  swapped.set(data.subarray(64, 68), 0);
  t.not(core.checkOf(swapped, 0), base, "two words of the same lane swapped");
  const shifted = Uint8Array.from(data);
  shifted.set(data.subarray(0, 4), 4);
  shifted.set(data.subarray(4, 8), 0);
  t.not(core.checkOf(shifted, 0), base, "neighbouring words swapped");
});
