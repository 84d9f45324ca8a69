// CBH: the image format's check function (docs/image-format.md, "Checks").
//
// 16 lanes of 32 bits, held in four v128 accumulators. Each 64-byte stripe feeds one 32-bit
// word to each lane: lane = rotl(lane + word * K2, 13) * K1. For a fixed lane state that
// round is a bijection of the word, and for a fixed word a bijection of the state, so any
// change confined to one 32-bit word of the input always changes the final lane, and the
// finalisers below are bijective in each lane: a flipped bit is always detected.
// Inputs are multiples of 64 bytes (every section of an image is a multiple of 512).

const K1: u32 = 0x9E3779B9;
const K2: u32 = 0x7FEB352D;

export class Cbh {
  a0: v128 = i32x4.splat(0);
  a1: v128 = i32x4.splat(0);
  a2: v128 = i32x4.splat(0);
  a3: v128 = i32x4.splat(0);
  byteCount: u64 = 0;

  reset(seed: u64): void {
    const s = <u32>seed ^ <u32>(seed >>> 32) * 0x846CA68B;
    this.a0 = i32x4(s + 0x243F6A88, s + 0x85A308D3, s + 0x13198A2E, s + 0x03707344);
    this.a1 = i32x4(s + 0xA4093822, s + 0x299F31D0, s + 0x082EFA98, s + 0xEC4E6C89);
    this.a2 = i32x4(s + 0x452821E6, s + 0x38D01377, s + 0xBE5466CF, s + 0x34E90C6C);
    this.a3 = i32x4(s + 0xC0AC29B7, s + 0xC97C50DD, s + 0x3F84D5B5, s + 0xB5470917);
    this.byteCount = 0;
  }

  // Feeds byteCount bytes at p; byteCount must be a multiple of 64.
  update(p: usize, byteCount: usize): void {
    const k1 = i32x4.splat(K1);
    const k2 = i32x4.splat(K2);
    let a0 = this.a0, a1 = this.a1, a2 = this.a2, a3 = this.a3;
    const end = p + byteCount;
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
    this.a0 = a0; this.a1 = a1; this.a2 = a2; this.a3 = a3;
    this.byteCount += <u64>byteCount;
  }

  // Low word: sum of lanes, each rotated by its index (bijective per lane), then avalanched.
  low32(): u32 {
    let s = <u32>this.byteCount;
    s += laneSumRotated(this.a0, 0) + laneSumRotated(this.a1, 4);
    s += laneSumRotated(this.a2, 8) + laneSumRotated(this.a3, 12);
    return avalanche(s, 0x7FEB352D, 0x846CA68B);
  }

  // 64 bits: the low word above, and a second, independent sum (each lane times an odd
  // constant) avalanched with other constants.
  digest64(): u64 {
    const odd = i32x4(0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F, 0x165667B1);
    let s = <u32>(this.byteCount >>> 32) ^ 0x5BD1E995;
    s += horizontalSum(i32x4.mul(this.a0, odd)) + horizontalSum(i32x4.mul(this.a1, i32x4.add(odd, i32x4.splat(2))));
    s += horizontalSum(i32x4.mul(this.a2, i32x4.add(odd, i32x4.splat(4)))) + horizontalSum(i32x4.mul(this.a3, i32x4.add(odd, i32x4.splat(6))));
    const high = avalanche(s, 0xED5AD4BB, 0xAC4C1B51);
    return (<u64>high << 32) | <u64>this.low32();
  }
}

function horizontalSum(v: v128): u32 {
  return <u32>(i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

function laneSumRotated(v: v128, first: u32): u32 {
  return rotl<u32>(<u32>i32x4.extract_lane(v, 0), first) + rotl<u32>(<u32>i32x4.extract_lane(v, 1), first + 1) +
    rotl<u32>(<u32>i32x4.extract_lane(v, 2), first + 2) + rotl<u32>(<u32>i32x4.extract_lane(v, 3), first + 3);
}

function avalanche(x: u32, m1: u32, m2: u32): u32 {
  x ^= x >>> 16; x *= m1; x ^= x >>> 15; x *= m2; x ^= x >>> 16;
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
      for (let k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
      store<u32>(crcTable + (<usize>n << 2), c);
    }
  }
  let c = state;
  for (let i: usize = 0; i < byteCount; i++) {
    c = load<u32>(crcTable + (<usize>((c ^ load<u8>(p + i)) & 0xFF) << 2)) ^ (c >>> 8);
  }
  return c;
}

export function crc32(p: usize, byteCount: usize): u32 {
  return crc32Update(0xFFFFFFFF, p, byteCount) ^ 0xFFFFFFFF;
}
