// exFAT behind the file-system interface (fs/filesystem.ts): the main boot sector, everything
// before the cluster heap (both boot regions and the FATs) as the metadata, and the allocation
// bitmap, found through the root directory, read window by window for the bitmap.

import * as A from "../abi";
import { SystemAreaFileSystem } from "../fs/filesystem";
import { ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { setResult } from "../mem";
import { exfatScanStep, exScan } from "./scan";
import { exfat, findBitmap, isExfat, parseExfat } from "./volume";

export class ExfatFileSystem extends SystemAreaFileSystem {
  recognizes(bs: usize): bool {
    return isExfat(bs);
  }
  probe(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
    return parseExfat(bs, deviceSectorSize, partSectors, v);
  }
  // the FAT's offset and length in the slots FAT gives its reserved sectors and FAT length
  publishGeometry(): void {
    const x = exfat;
    setResult(A.SLOT_VOL_RESERVED, x.fatOffset);
    setResult(A.SLOT_VOL_FAT_COUNT, x.fatCount);
    setResult(A.SLOT_VOL_FAT_SECTORS, x.fatLength);
    setResult(A.SLOT_VOL_ROOT_CLUSTER, x.rootCluster);
    setResult(A.SLOT_VOL_DIRTY_BOOT, x.volumeDirty ? 1 : 0);
  }
  bootDirty(): bool {
    return exfat.volumeDirty;
  }

  // MAX_CLUSTER_BYTES alone bounds it
  maxSectorsPerCluster(): u32 {
    return 0xffffffff;
  }

  scanBegin(dev: u32, v: Volume): f64 {
    const r = findBitmap(dev, v);
    if (r < 0) return r;
    exScan.begin();
    return exfat.bitmapBytes;
  }
  scanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32 {
    return exfatScanStep(s, dev, v, bitBase, windowBits);
  }
  dirty(): bool {
    return exfat.volumeDirty;
  }
  publishScan(): void {
    setResult(A.SLOT_SCAN_EXFAT_CHECKSUM_BAD, exfat.checksumBad ? 1 : 0);
    setResult(A.SLOT_SCAN_EXFAT_UPCASE, exfat.upcase);
  }
}

export const exfatFs = new ExfatFileSystem();
