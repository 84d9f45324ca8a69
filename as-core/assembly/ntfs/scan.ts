// The allocation scan of an NTFS volume: $Bitmap's data, one window at a time, straight into
// the image bitmap (bit n = cluster n on both sides). Bits past the last cluster are dropped;
// the boot file's clusters (kept in the metadata head) and clusters the host leaves out (kind-2
// patches: the page and hibernation files) are cleared.
import { finishWindow, ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { buf } from "../mem";
import { bitmapRuns, ntfs, readThroughRuns } from "./volume";

export function ntfsScanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32 {
  const first = s.nextEntry;
  const count = min(windowBits, s.totalEntries - first);
  const outBytes = (count + 7) >>> 3;
  memory.fill(buf.bitmap, 0, outBytes);
  const from = <f64>(first >>> 3);
  const bps = v.bytesPerSector;
  const want = <u32>Math.min(<f64>outBytes, Math.ceil(<f64>v.clusterCount / 8) - from);
  const rounded = ((want + bps - 1) / bps) * bps;
  const r = readThroughRuns(dev, v, bitmapRuns(), ntfs.bmpRuns, from, rounded, buf.bitmap);
  if (r < 0) return r;
  if (rounded > outBytes) memory.fill(buf.bitmap + outBytes, 0, rounded - outBytes); // whole sectors were read: past the last cluster is not the image's
  // the boot file's clusters go in the metadata head
  const head = ntfs.headSectors / v.sectorsPerCluster;
  for (let c = first; c < min(first + count, head); c++) {
    const bit = c - bitBase;
    store<u8>(buf.bitmap + (bit >>> 3), load<u8>(buf.bitmap + (bit >>> 3)) & ~(<u8>(1 << (<u8>(bit & 7)))));
  }
  finishWindow(s, dev, first, count, bitBase);
  return <i32>rounded;
}
