// Builds the allocation bitmap from the FAT, one bounded window of entries at a time.
// Bit n of the bitmap stands for cluster n (bits 0 and 1, the reserved entries, stay 0).
// A cluster is allocated when any FAT copy has a non-zero entry for it that is not the bad
// mark: clusters marked bad are never read, and a cluster that either copy claims is kept,
// so that a volume whose copies disagree is still imaged as it is.

import { E_DEVICE, fail } from "../errors";
import { ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { ld16, ld32 } from "../io";
import { buf, FAT_WINDOW_BYTES } from "../mem";
import { keepRuns, readSectors } from "../patch";
import * as L from "./layout";
import { badMark, entryBits, entryMask, fat } from "./volume";

// What only a FAT scan counts (the common counts are in ScanState).
export class FatScan {
  bad: f64 = 0; // clusters marked bad in copy 0
  mismatched: f64 = 0; // entries that differ between copy 0 and another copy
  invalid: f64 = 0; // entries pointing outside the volume (1, or past the last cluster)
  dirty: bool = false; // FAT[1] clean-shutdown bit clear (FAT16/32)
  ioErrorMark: bool = false; // FAT[1] hard-error bit clear (FAT16/32)

  begin(): void {
    this.bad = 0;
    this.mismatched = 0;
    this.invalid = 0;
    this.dirty = false;
    this.ioErrorMark = false;
  }

  entriesPerWindow(s: ScanState, v: Volume): u32 {
    if (v.fsType == L.FS_FAT12) return s.totalEntries; // at most 4086 entries: 6 KiB
    return FAT_WINDOW_BYTES / (entryBits(v.fsType) >> 3);
  }

  // Scans the next window; sets the bits of allocated clusters in buf.bitmap, where bit 0
  // of the buffer stands for cluster bitBase. Returns the bytes of FAT read, or a negative code.
  step(s: ScanState, dev: u32, v: Volume, bitBase: u32): i32 {
    const first = s.nextEntry;
    const count = min(this.entriesPerWindow(s, v), s.totalEntries - first);
    const bps = v.bytesPerSector,
      bits = entryBits(v.fsType);
    const startByte: u32 = v.fsType == L.FS_FAT12 ? 0 : first * (bits >> 3);
    const endByte: u32 = v.fsType == L.FS_FAT12 ? (s.totalEntries * 3 + 1) / 2 : (first + count) * (bits >> 3);
    const sectorFirst = startByte / bps;
    const sectorCount = (endByte + bps - 1) / bps - sectorFirst;
    let bytesRead: i32 = 0;
    for (let copy: u32 = 0; copy < fat.fatCount; copy++) {
      const dst = copy == 0 ? buf.fatA : buf.fatB;
      const lba = <f64>fat.reservedSectors + <f64>copy * <f64>fat.fatSectors + <f64>sectorFirst;
      const r = readSectors(dev, lba, sectorCount, dst);
      if (r < 0) return fail(E_DEVICE, r, dev, lba, sectorCount);
      bytesRead += <i32>(sectorCount * bps);
      if (copy == 0) this.scanCopy0(s, v, first, count, bitBase);
      else this.mergeCopy(s, v, first, count, bitBase);
    }
    // the clusters the tree walk keeps (reached, marked free: treeWalk's KEEP patches)
    s.allocated += keepRuns(
      dev,
      <f64>bitBase,
      <f64>max<u32>(first, 2),
      <f64>(first + count - max<u32>(first, 2)),
      buf.bitmap,
    );
    s.allocated -= s.leaveOutGhost(first, first + count, bitBase);
    s.nextEntry = first + count;
    return bytesRead;
  }

  private scanCopy0(s: ScanState, v: Volume, first: u32, count: u32, bitBase: u32): void {
    const mask = entryMask(v.fsType),
      bad = badMark(v.fsType),
      last = v.clusterCount + 1;
    const end = first + count;
    for (let n = first; n < end; n++) {
      const e = entryAt(v, buf.fatA, n - first, n);
      if (n < 2) {
        if (n == 1 && v.fsType != L.FS_FAT12) {
          const cleanBit: u32 = v.fsType == L.FS_FAT16 ? 0x8000 : 0x08000000;
          const errBit: u32 = v.fsType == L.FS_FAT16 ? 0x4000 : 0x04000000;
          this.dirty = (e & cleanBit) == 0;
          this.ioErrorMark = (e & errBit) == 0;
        }
        continue;
      }
      if (e == 0) continue;
      if (e == bad) {
        this.bad += 1;
        continue;
      }
      if (e == 1 || (e > last && e < mask - 7)) this.invalid += 1; // below the end-of-chain marks
      const bit = n - bitBase;
      const p = buf.bitmap + (bit >>> 3);
      store<u8>(p, load<u8>(p) | <u8>(1 << (<u8>(bit & 7))));
      s.allocated += 1;
    }
  }

  private mergeCopy(s: ScanState, v: Volume, first: u32, count: u32, bitBase: u32): void {
    const bad = badMark(v.fsType);
    const end = first + count;
    for (let n = first; n < end; n++) {
      const e = entryAt(v, buf.fatB, n - first, n);
      const e0 = entryAt(v, buf.fatA, n - first, n);
      if (e == e0) continue;
      this.mismatched += 1;
      if (n < 2 || e == 0 || e == bad) continue;
      const bit = n - bitBase;
      const p = buf.bitmap + (bit >>> 3);
      const m = <u8>(1 << (<u8>(bit & 7)));
      if ((load<u8>(p) & m) == 0 && e0 != bad) {
        store<u8>(p, load<u8>(p) | m);
        s.allocated += 1;
      }
    }
  }
}

// Entry n of a FAT whose window (at p) starts with entry n - index.
function entryAt(v: Volume, p: usize, index: u32, n: u32): u32 {
  if (v.fsType == L.FS_FAT32) return ld32(p + ((<usize>index) << 2)) & 0x0fffffff;
  if (v.fsType == L.FS_FAT16) return ld16(p + ((<usize>index) << 1));
  const w = ld16(p + <usize>(n + (n >>> 1))); // FAT12: the whole FAT is one window, index == n
  return (n & 1) != 0 ? w >>> 4 : w & 0xfff;
}

export const fatScan = new FatScan();
