// NTFS behind the file-system interface (fs/filesystem.ts): the boot sector, the boot file's
// clusters (head) and the sectors after the last cluster (tail, the backup boot sector) as the
// metadata, and $Bitmap read through its run list window by window for the bitmap.

import * as A from "../abi";
import { FileSystem, MetaExtents } from "../fs/filesystem";
import { ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { setResult } from "../mem";
import { ntfsScanStep } from "./scan";
import { isNtfs, loadBitmapRuns, ntfs, parseNtfs } from "./volume";

const TAIL_MAX_SECTORS: f64 = 2048; // docs/image-format.md section 4: the tail's bound

export class NtfsFileSystem extends FileSystem {
  recognizes(bs: usize): bool {
    return isNtfs(bs);
  }
  probe(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
    return parseNtfs(bs, deviceSectorSize, partSectors, v);
  }
  publishGeometry(): void {
    setResult(A.SLOT_VOL_MEDIA, ntfs.media);
  }
  // $Volume's dirty flag is not read
  bootDirty(): bool {
    return false;
  }

  // clusters from 0 at sector 0; the boot file's clusters in the head, the sectors after the
  // last cluster (the backup boot sector) in the tail
  metadata(v: Volume, partSectors: f64, m: MetaExtents): void {
    m.headSectors = ntfs.headSectors;
    m.tailStart = 0;
    m.tailSectors = 0;
    const tailStart = <f64>v.clusterCount * <f64>v.sectorsPerCluster;
    const tailEnd = Math.min(Math.min(partSectors, v.totalSectors + 1), tailStart + TAIL_MAX_SECTORS);
    if (tailEnd > tailStart) {
      m.tailStart = tailStart;
      m.tailSectors = tailEnd - tailStart;
    }
  }
  // the head is the boot file's whole clusters, which the bitmap leaves out
  headValid(metaSectors: u32, dataStart: f64, spc: u32, partClusters: f64): bool {
    return (
      dataStart == 0 && metaSectors >= spc && metaSectors % spc == 0 && <f64>metaSectors <= partClusters * <f64>spc
    );
  }
  firstCluster(): u32 {
    return 0;
  }
  // MAX_CLUSTER_BYTES alone bounds it
  maxSectorsPerCluster(): u32 {
    return 0xffffffff;
  }

  scanBegin(dev: u32, v: Volume): f64 {
    const r = loadBitmapRuns(dev, v);
    if (r < 0) return r;
    return ntfs.bitmapBytes;
  }
  scanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32 {
    return ntfsScanStep(s, dev, v, bitBase, windowBits);
  }
  dirty(): bool {
    return false;
  }
  publishScan(): void {}
}

export const ntfsFs = new NtfsFileSystem();
