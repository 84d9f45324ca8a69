// Walks the set bits of the bitmap stored in an image, in ascending order, loading one
// bounded window of it at a time into buf.bitmap.

import { E_DEVICE, fail } from "../errors";
import { devRead } from "../io";
import { BITMAP_WINDOW_BYTES, buf } from "../mem";
import { IMG_SECTOR, roundUp } from "./layout";

const WINDOW_BITS: f64 = <f64>BITMAP_WINDOW_BYTES * 8;

export class BitmapCursor {
  dev: u32 = 0;
  bitmapOffset: f64 = 0; // bytes from image start
  bits: f64 = 0;
  windowBase: f64 = -1; // bit number of buf.bitmap's first bit
  windowBits: f64 = 0;
  pos: f64 = 0; // next bit to look at
  runStart: f64 = 0; // result of nextRun

  begin(dev: u32, bitmapOffset: f64, bits: f64): void {
    this.dev = dev;
    this.bitmapOffset = bitmapOffset;
    this.bits = bits;
    this.windowBase = -1;
    this.windowBits = 0;
    this.pos = 0;
  }

  private load(base: f64): i32 {
    const bytes = Math.min(<f64>BITMAP_WINDOW_BYTES, roundUp(Math.ceil((this.bits - base) / 8), IMG_SECTOR));
    const lba = (this.bitmapOffset + base / 8) / IMG_SECTOR;
    const n = <u32>(bytes / IMG_SECTOR);
    const r = devRead(this.dev, lba, n, buf.bitmap);
    if (r < 0) return fail(E_DEVICE, r, this.dev, lba, n);
    this.windowBase = base;
    this.windowBits = Math.min(bytes * 8, this.bits - base);
    return 0;
  }

  // Finds the next run of set bits at or after pos, at most maxLen long and not crossing a
  // window. Returns its length (runStart holds its first bit), 0 at the end, or a negative code.
  nextRun(maxLen: u32): i32 {
    while (this.pos < this.bits) {
      const base = Math.floor(this.pos / WINDOW_BITS) * WINDOW_BITS;
      if (base != this.windowBase) {
        const r = this.load(base);
        if (r < 0) return r;
      }
      const end = <u32>this.windowBits;
      let rel = <u32>(this.pos - base);
      // skip clear bits, a 64-bit word at a time
      while (rel < end) {
        const w = load<u64>(buf.bitmap + ((<usize>(rel >>> 6)) << 3)) >>> <u64>(rel & 63);
        if (w != 0) {
          rel += <u32>ctz(w);
          break;
        }
        rel = (rel | 63) + 1;
      }
      if (rel >= end) {
        this.pos = base + <f64>end;
        continue;
      }
      // count set bits
      const first = rel;
      const limit = <u32>Math.min(<f64>end, <f64>first + <f64>maxLen);
      while (rel < limit) {
        const w = ~(load<u64>(buf.bitmap + ((<usize>(rel >>> 6)) << 3)) >>> <u64>(rel & 63));
        const ones = <u32>ctz(w); // trailing ones of the shifted word (64 when all ones)
        const avail: u32 = 64 - (rel & 63);
        if (ones < avail) {
          rel += ones;
          break;
        }
        rel += avail;
      }
      if (rel > limit) rel = limit;
      this.runStart = base + <f64>first;
      this.pos = base + <f64>rel;
      return <i32>(rel - first);
    }
    return 0;
  }
}

// A saved cursor position, to walk the same runs a second time.
export function rewind(c: BitmapCursor, pos: f64): void {
  if (Math.floor(pos / WINDOW_BITS) * WINDOW_BITS != c.windowBase) c.windowBase = -1;
  c.pos = pos;
}
