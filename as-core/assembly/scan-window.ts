// The end of one bitmap window of an allocation scan that copies a file system's own bitmap
// (exFAT's allocation bitmap, NTFS's $Bitmap) rather than walking a FAT: the bits past the last
// cluster dropped, the ghost extent and the host's left-out runs (kind-2 patches) cleared, the
// bits counted into the scan.
import { FatScan } from "./fat/scan";
import { leaveOutRuns } from "./patch";
import { buf } from "./mem";

// Window bits [0, count) stand for clusters first .. first + count - 1 (first = bitBase).
export function finishWindow(s: FatScan, dev: u32, first: u32, count: u32, bitBase: u32): void {
  const outBytes = (count + 7) >>> 3;
  const tail = count & 7;
  if (tail != 0) store<u8>(buf.bitmap + outBytes - 1, <u8>(<u32>load<u8>(buf.bitmap + outBytes - 1) & ((<u32>1 << tail) - 1)));
  s.leaveOutGhostWindow(first, first + count, bitBase);
  s.leftOut += leaveOutRuns(dev, <f64>bitBase, <f64>count, buf.bitmap);
  let set: u32 = 0;
  const words = outBytes >>> 2;
  for (let w: u32 = 0; w < words; w++) set += <u32>popcnt(load<u32>(buf.bitmap + (w << 2)));
  for (let j = words << 2; j < outBytes; j++) set += <u32>popcnt(<u32>load<u8>(buf.bitmap + j));
  s.allocated += <f64>set;
  s.nextEntry = first + count;
}
