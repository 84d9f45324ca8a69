// The allocation scan of an exFAT volume: the allocation bitmap, read one window at a time.
// exFAT's bit i stands for cluster i + 2; the image's bit n for cluster n (section 3 of
// docs/image-format.md), so the bits move up by two, the carry crossing bytes and windows.
// The ghost extent and left-out runs are cleared as on the other scans (fs/scan.ts finishWindow).
import { finishWindow, ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { buf } from "../mem";
import { ChainReader, exfat } from "./volume";

export class ExfatScan {
  reader: ChainReader = new ChainReader();
  carry: u32 = 0; // the previous exFAT bitmap byte (its top two bits go into the next image byte)
  begin(): void {
    this.reader.begin(exfat.bitmapCluster);
    this.carry = 0;
  }
}
export const exScan = new ExfatScan();

// Fills the image bitmap window [bitBase, bitBase + windowBits) from the exFAT bitmap. s.nextEntry == bitBase.
export function exfatScanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32 {
  const first = s.nextEntry;
  const count = min(windowBits, s.totalEntries - first);
  const outBytes = (count + 7) >>> 3;
  const m: f64 = <f64>(first >>> 3); // exFAT byte that holds the bits of clusters 8m+2 .. 8m+9
  const avail = Math.max(0, Math.min(<f64>outBytes, exfat.bitmapBytes - m));
  if (avail > 0) {
    const r = exScan.reader.read(dev, v, m, <u32>avail, buf.aux);
    if (r < 0) return r;
  }
  let carry = exScan.carry;
  for (let j: u32 = 0; j < outBytes; j++) {
    const lo: u32 = <f64>j < avail ? <u32>load<u8>(buf.aux + j) : 0;
    store<u8>(buf.bitmap + j, <u8>((lo << 2) | (carry >>> 6)));
    carry = lo;
  }
  exScan.carry = carry;
  finishWindow(s, dev, first, count, bitBase);
  return <i32>avail;
}
