// CBH: the image format's check function (docs/image-format.md, "Checks").
//
// 16 lanes of 32 bits, held in four v128 accumulators. Each 64-byte stripe feeds one 32-bit
// word to each lane: lane = rotl(lane + word * K2, 13) * K1. For a fixed lane state that
// round is a bijection of the word, and for a fixed word a bijection of the state, so any
// change confined to one 32-bit word of the input always changes the final lane, and the
// finalisers below are bijective in each lane: a flipped bit is always detected.
// Inputs are multiples of 64 bytes (every section of an image is a multiple of 512).

const K1: u32 = 0x9e3779b9;
const K2: u32 = 0x7feb352d;

// The 16 lanes are 16 consecutive u32 fields (64 bytes, lane j at byte 4j), so the SIMD build
// loads them as four v128 (lanes 0..3, 4..7, 8..11, 12..15) and the portable build (no SIMD:
// wasm3, WAMR's classic interpreter, wasm2c) computes the same lanes one by one. Only the
// branch of `if (ASC_FEATURE_SIMD)` that the build's features take is compiled: the portable
// build contains no v128 type or instruction (test/portable-core.test.ts checks the binary).
export class Cbh {
  l0: u32 = 0;
  l1: u32 = 0;
  l2: u32 = 0;
  l3: u32 = 0;
  l4: u32 = 0;
  l5: u32 = 0;
  l6: u32 = 0;
  l7: u32 = 0;
  l8: u32 = 0;
  l9: u32 = 0;
  l10: u32 = 0;
  l11: u32 = 0;
  l12: u32 = 0;
  l13: u32 = 0;
  l14: u32 = 0;
  l15: u32 = 0;
  byteCount: u64 = 0;

  private lanePtr(): usize {
    return changetype<usize>(this) + offsetof<Cbh>("l0");
  }

  reset(seed: u64): void {
    const s = <u32>seed ^ (<u32>(seed >>> 32) * 0x846ca68b);
    this.l0 = s + 0x243f6a88;
    this.l1 = s + 0x85a308d3;
    this.l2 = s + 0x13198a2e;
    this.l3 = s + 0x03707344;
    this.l4 = s + 0xa4093822;
    this.l5 = s + 0x299f31d0;
    this.l6 = s + 0x082efa98;
    this.l7 = s + 0xec4e6c89;
    this.l8 = s + 0x452821e6;
    this.l9 = s + 0x38d01377;
    this.l10 = s + 0xbe5466cf;
    this.l11 = s + 0x34e90c6c;
    this.l12 = s + 0xc0ac29b7;
    this.l13 = s + 0xc97c50dd;
    this.l14 = s + 0x3f84d5b5;
    this.l15 = s + 0xb5470917;
    this.byteCount = 0;
  }

  // Feeds byteCount bytes at p; byteCount must be a multiple of 64. Each 64-byte stripe feeds
  // its 32-bit word j (little-endian, at byte 4j) to lane j.
  update(p: usize, byteCount: usize): void {
    const end = p + byteCount;
    if (ASC_FEATURE_SIMD) {
      const k1 = i32x4.splat(K1);
      const k2 = i32x4.splat(K2);
      const l = this.lanePtr();
      let a0 = v128.load(l),
        a1 = v128.load(l, 16),
        a2 = v128.load(l, 32),
        a3 = v128.load(l, 48);
      while (p < end) {
        a0 = i32x4.add(a0, i32x4.mul(v128.load(p), k2));
        a1 = i32x4.add(a1, i32x4.mul(v128.load(p, 16), k2));
        a2 = i32x4.add(a2, i32x4.mul(v128.load(p, 32), k2));
        a3 = i32x4.add(a3, i32x4.mul(v128.load(p, 48), k2));
        a0 = i32x4.mul(v128.or(i32x4.shl(a0, 13), i32x4.shr_u(a0, 19)), k1);
        a1 = i32x4.mul(v128.or(i32x4.shl(a1, 13), i32x4.shr_u(a1, 19)), k1);
        a2 = i32x4.mul(v128.or(i32x4.shl(a2, 13), i32x4.shr_u(a2, 19)), k1);
        a3 = i32x4.mul(v128.or(i32x4.shl(a3, 13), i32x4.shr_u(a3, 19)), k1);
        p += 64;
      }
      v128.store(l, a0);
      v128.store(l, a1, 16);
      v128.store(l, a2, 32);
      v128.store(l, a3, 48);
    } else {
      let l0 = this.l0,
        l1 = this.l1,
        l2 = this.l2,
        l3 = this.l3;
      let l4 = this.l4,
        l5 = this.l5,
        l6 = this.l6,
        l7 = this.l7;
      let l8 = this.l8,
        l9 = this.l9,
        l10 = this.l10,
        l11 = this.l11;
      let l12 = this.l12,
        l13 = this.l13,
        l14 = this.l14,
        l15 = this.l15;
      while (p < end) {
        l0 = lane(l0, load<u32>(p));
        l1 = lane(l1, load<u32>(p, 4));
        l2 = lane(l2, load<u32>(p, 8));
        l3 = lane(l3, load<u32>(p, 12));
        l4 = lane(l4, load<u32>(p, 16));
        l5 = lane(l5, load<u32>(p, 20));
        l6 = lane(l6, load<u32>(p, 24));
        l7 = lane(l7, load<u32>(p, 28));
        l8 = lane(l8, load<u32>(p, 32));
        l9 = lane(l9, load<u32>(p, 36));
        l10 = lane(l10, load<u32>(p, 40));
        l11 = lane(l11, load<u32>(p, 44));
        l12 = lane(l12, load<u32>(p, 48));
        l13 = lane(l13, load<u32>(p, 52));
        l14 = lane(l14, load<u32>(p, 56));
        l15 = lane(l15, load<u32>(p, 60));
        p += 64;
      }
      this.l0 = l0;
      this.l1 = l1;
      this.l2 = l2;
      this.l3 = l3;
      this.l4 = l4;
      this.l5 = l5;
      this.l6 = l6;
      this.l7 = l7;
      this.l8 = l8;
      this.l9 = l9;
      this.l10 = l10;
      this.l11 = l11;
      this.l12 = l12;
      this.l13 = l13;
      this.l14 = l14;
      this.l15 = l15;
    }
    this.byteCount += <u64>byteCount;
  }

  // Low word: sum of lanes, each rotated by its index (bijective per lane), then avalanched.
  low32(): u32 {
    let s = <u32>this.byteCount;
    const l = this.lanePtr();
    for (let j: u32 = 0; j < 16; j++) s += rotl<u32>(load<u32>(l + ((<usize>j) << 2)), j);
    return avalanche(s, 0x7feb352d, 0x846ca68b);
  }

  // 64 bits: the low word above, and a second, independent sum (each lane times an odd
  // constant: lane 4q + r times ODD[r] + 2q) avalanched with other constants.
  digest64(): u64 {
    let s = <u32>(this.byteCount >>> 32) ^ 0x5bd1e995;
    const l = this.lanePtr();
    for (let j: u32 = 0; j < 16; j++) s += load<u32>(l + ((<usize>j) << 2)) * (oddConstant(j & 3) + ((j >>> 2) << 1));
    const high = avalanche(s, 0xed5ad4bb, 0xac4c1b51);
    return ((<u64>high) << 32) | <u64>this.low32();
  }
}

// One round of one lane: lane = rotl(lane + word * K2, 13) * K1.
function lane(x: u32, word: u32): u32 {
  return rotl<u32>(x + word * K2, 13) * K1;
}

function oddConstant(r: u32): u32 {
  return r == 0 ? 0x85ebca6b : r == 1 ? 0xc2b2ae35 : r == 2 ? 0x27d4eb2f : 0x165667b1;
}

function avalanche(x: u32, m1: u32, m2: u32): u32 {
  x ^= x >>> 16;
  x *= m1;
  x ^= x >>> 15;
  x *= m2;
  x ^= x >>> 16;
  return x;
}

export const cbh = new Cbh();

// One-shot helpers over the shared state.
export function hash64(p: usize, byteCount: usize, seed: u64): u64 {
  cbh.reset(seed);
  cbh.update(p, byteCount);
  return cbh.digest64();
}

export function hash32(p: usize, byteCount: usize, seed: u64): u32 {
  cbh.reset(seed);
  cbh.update(p, byteCount);
  return cbh.low32();
}

// Hash of a record whose own 8-byte check field sits at checkOffset: the field counts as zero.
export function recordCheck(p: usize, byteCount: usize, checkOffset: usize, seed: u64): u64 {
  const saved = load<u64>(p + checkOffset);
  store<u64>(p + checkOffset, 0);
  const h = hash64(p, byteCount, seed);
  store<u64>(p + checkOffset, saved);
  return h;
}

// CRC-32 (IEEE 802.3, reflected 0xEDB88320) for GPT headers and entry arrays.
// crc32Update continues a CRC whose state is kept inverted: start at 0xFFFFFFFF, end with ^ 0xFFFFFFFF.
let crcTable: usize = 0;
export function crc32Update(state: u32, p: usize, byteCount: usize): u32 {
  if (crcTable == 0) {
    crcTable = heap.alloc(1024);
    for (let n: u32 = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      store<u32>(crcTable + ((<usize>n) << 2), c);
    }
  }
  let c = state;
  for (let i: usize = 0; i < byteCount; i++) {
    c = load<u32>(crcTable + ((<usize>((c ^ load<u8>(p + i)) & 0xff)) << 2)) ^ (c >>> 8);
  }
  return c;
}

export function crc32(p: usize, byteCount: usize): u32 {
  return crc32Update(0xffffffff, p, byteCount) ^ 0xffffffff;
}
