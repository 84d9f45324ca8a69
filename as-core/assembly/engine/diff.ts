// A compare-first restore's list of the clusters that differ (docs/image-format.md 10.2): the
// check pass compares every cluster of the image with the target's and lists here, in image
// order, the stretches that differ; the write pass reads back from the image only these. The
// list has a fixed size: when it fills, neighbouring stretches of one block are merged (the
// merged stretch also covers clusters that matched, and the write pass compares those again
// before it writes), the allowed gap doubling each time; when even that cannot make room, the
// list overflows: the write pass then takes every block from the overflowing one on, as a
// restore without the list would.

import { buf, DIFF_ENTRIES } from "../mem";

const D_ORDINAL: usize = 0; // f64: the stretch's first cluster, counted in image order (0 = the image's first)
const D_BIT: usize = 8; // f64: its bitmap bit
const D_COUNT: usize = 16; // u32: clusters in image order (a merged stretch may skip bits the bitmap leaves clear)
const D_FLAGS: usize = 20; // u32: DIFF_MERGED
export const DIFF_ENTRY_BYTES: u32 = 24;
const DIFF_MERGED: u32 = 1; // the stretch also covers clusters that matched the target

export class DiffList {
  count: u32 = 0;
  maxGap: f64 = 0; // clusters of image order that a merge may cover without differing
  clusters: f64 = 0; // clusters the stretches cover

  reset(): void {
    this.count = 0;
    this.maxGap = 0;
    this.clusters = 0;
  }
  private at(i: u32): usize {
    return buf.diffs + <usize>i * DIFF_ENTRY_BYTES;
  }
  ordinal(i: u32): f64 {
    return load<f64>(this.at(i) + D_ORDINAL);
  }
  bit(i: u32): f64 {
    return load<f64>(this.at(i) + D_BIT);
  }
  length(i: u32): u32 {
    return load<u32>(this.at(i) + D_COUNT);
  }
  merged(i: u32): bool {
    return (load<u32>(this.at(i) + D_FLAGS) & DIFF_MERGED) != 0;
  }

  // Adds the differing clusters [ordinal, ordinal + count) (first bit `bit`) of block `block`
  // (blocks of `perBlock` clusters; stretches come in image order). False: no room is left.
  add(ordinal: f64, bit: f64, count: u32, perBlock: f64): bool {
    if (this.joinLast(ordinal, count, perBlock)) return true;
    if (this.count == DIFF_ENTRIES && !this.compact(perBlock)) return false;
    if (this.joinLast(ordinal, count, perBlock)) return true;
    const e = this.at(this.count);
    store<f64>(e + D_ORDINAL, ordinal);
    store<f64>(e + D_BIT, bit);
    store<u32>(e + D_COUNT, count);
    store<u32>(e + D_FLAGS, 0);
    this.count += 1;
    this.clusters += <f64>count;
    return true;
  }

  // Drops the stretches of blocks from `block` on (the list overflowed in it).
  dropFrom(block: f64, perBlock: f64): void {
    while (this.count > 0 && Math.floor(this.ordinal(this.count - 1) / perBlock) >= block) {
      this.count -= 1;
      this.clusters -= <f64>this.length(this.count);
    }
  }

  // The new stretch continues the last one within maxGap, in the same block: extend it.
  private joinLast(ordinal: f64, count: u32, perBlock: f64): bool {
    if (this.count == 0) return false;
    const e = this.at(this.count - 1);
    const first = load<f64>(e + D_ORDINAL),
      end = first + <f64>load<u32>(e + D_COUNT);
    const gap = ordinal - end;
    if (gap < 0 || gap > this.maxGap || Math.floor(first / perBlock) != Math.floor(ordinal / perBlock)) return false;
    store<u32>(e + D_COUNT, <u32>(ordinal + <f64>count - first));
    if (gap > 0) store<u32>(e + D_FLAGS, load<u32>(e + D_FLAGS) | DIFF_MERGED);
    this.clusters += <f64>count + gap;
    return true;
  }

  // Merges neighbours of one block with ever larger gaps until a quarter of the list is free.
  // False: every stretch is alone in its block (nothing left to merge).
  private compact(perBlock: f64): bool {
    while (this.count > (DIFF_ENTRIES / 4) * 3) {
      if (this.maxGap >= perBlock) return this.count < DIFF_ENTRIES;
      this.maxGap = this.maxGap == 0 ? 1 : this.maxGap * 2;
      let kept: u32 = 0;
      this.clusters = 0;
      for (let i: u32 = 0; i < this.count; i++) {
        const o = this.ordinal(i),
          n = this.length(i);
        if (kept > 0) {
          const last = this.at(kept - 1);
          const first = load<f64>(last + D_ORDINAL),
            end = first + <f64>load<u32>(last + D_COUNT);
          if (o - end <= this.maxGap && Math.floor(first / perBlock) == Math.floor(o / perBlock)) {
            store<u32>(last + D_COUNT, <u32>(o + <f64>n - first));
            const joined = o > end || this.merged(i) ? DIFF_MERGED : 0;
            store<u32>(last + D_FLAGS, load<u32>(last + D_FLAGS) | joined);
            continue;
          }
        }
        if (kept != i) memory.copy(this.at(kept), this.at(i), DIFF_ENTRY_BYTES);
        kept += 1;
      }
      this.count = kept;
      for (let i: u32 = 0; i < kept; i++) this.clusters += <f64>this.length(i);
    }
    return true;
  }
}

export const diffs = new DiffList();
