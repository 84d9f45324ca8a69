// The state of an allocation scan that every file system's scan shares: the position, the
// allocated clusters counted, and the clusters left out (the ghost extent, section 12 of
// docs/image-format.md, and the host's left-out runs, kind-2 patches). Bit n of buf.bitmap stands
// for cluster bitBase + n; a window's scan sets the bits and finishWindow (or the FAT scan's own
// counting) ends it.

import { buf } from "../mem";
import { keepRuns, leaveOutRuns } from "../patch";

export class ScanState {
  nextEntry: u32 = 0; // the next cluster number (FAT: entry) to scan
  totalEntries: u32 = 0; // firstCluster + clusterCount: the bitmap's bits
  allocated: f64 = 0; // clusters found in use and kept
  ghostFirst: u32 = 0; // clusters [ghostFirst, ghostEnd) hold the image being written (section 12):
  ghostEnd: u32 = 0; //   in use, left out of the bitmap
  leftOut: f64 = 0; // clusters in use that were left out (ghost extent, left-out runs)

  begin(totalEntries: u32): void {
    this.nextEntry = 0;
    this.totalEntries = totalEntries;
    this.allocated = 0;
    this.ghostFirst = 0;
    this.ghostEnd = 0;
    this.leftOut = 0;
  }

  done(): bool {
    return this.nextEntry >= this.totalEntries;
  }

  // Clears the bits of the ghost extent's clusters in entries [first, end) of this window; they
  // count as left out. Returns how many were set (a scan that counted them already takes them
  // off its allocated count; finishWindow counts the bits after).
  leaveOutGhost(first: u32, end: u32, bitBase: u32): f64 {
    const from = max(first, this.ghostFirst),
      to = min(end, this.ghostEnd);
    let cleared: f64 = 0;
    for (let n = from; n < to; n++) {
      const bit = n - bitBase;
      const p = buf.bitmap + (bit >>> 3);
      const m = <u8>(1 << (<u8>(bit & 7)));
      if ((load<u8>(p) & m) == 0) continue;
      store<u8>(p, load<u8>(p) & ~m);
      cleared += 1;
    }
    this.leftOut += cleared;
    return cleared;
  }
}

// The end of one window of a scan that copies a file system's own bitmap (exFAT's allocation
// bitmap, NTFS's $Bitmap) rather than walking a FAT: the bits past the last cluster dropped, the
// ghost extent and the host's left-out runs cleared, the bits counted into the scan.
// Window bits [0, count) stand for clusters first .. first + count - 1 (first = bitBase).
export function finishWindow(s: ScanState, dev: u32, first: u32, count: u32, bitBase: u32): void {
  const outBytes = (count + 7) >>> 3;
  const tail = count & 7;
  if (tail != 0)
    store<u8>(buf.bitmap + outBytes - 1, <u8>(<u32>load<u8>(buf.bitmap + outBytes - 1) & (((<u32>1) << tail) - 1)));
  keepRuns(dev, <f64>bitBase, <f64>bitBase, <f64>count, buf.bitmap); // (counted with the rest below)
  s.leaveOutGhost(first, first + count, bitBase);
  s.leftOut += leaveOutRuns(dev, <f64>bitBase, <f64>count, buf.bitmap);
  let set: u32 = 0;
  const words = outBytes >>> 2;
  for (let w: u32 = 0; w < words; w++) set += <u32>popcnt(load<u32>(buf.bitmap + (w << 2)));
  for (let j = words << 2; j < outBytes; j++) set += <u32>popcnt(<u32>load<u8>(buf.bitmap + j));
  s.allocated += <f64>set;
  s.nextEntry = first + count;
}
