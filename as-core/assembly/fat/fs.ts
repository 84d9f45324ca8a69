// FAT12, FAT16 and FAT32 behind the file-system interface (fs/filesystem.ts): the BPB, the
// system area (reserved sectors, FATs, root directory) as the metadata, and the FAT copies
// walked window by window for the bitmap.

import * as A from "../abi";
import { SystemAreaFileSystem } from "../fs/filesystem";
import { ScanState } from "../fs/scan";
import { Volume } from "../fs/volume";
import { setResult } from "../mem";
import { fatScan } from "./scan";
import { fat, parseBpb, readFsInfo } from "./volume";

export class FatFileSystem extends SystemAreaFileSystem {
  recognizes(bs: usize): bool {
    return true;
  } // the last one asked: parseBpb names what is wrong
  probe(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
    return parseBpb(bs, deviceSectorSize, partSectors, v);
  }
  publishGeometry(): void {
    const f = fat;
    setResult(A.SLOT_VOL_RESERVED, f.reservedSectors);
    setResult(A.SLOT_VOL_FAT_COUNT, f.fatCount);
    setResult(A.SLOT_VOL_FAT_SECTORS, f.fatSectors);
    setResult(A.SLOT_VOL_ROOT_ENTRIES, f.rootEntryCount);
    setResult(A.SLOT_VOL_ROOT_CLUSTER, f.rootCluster);
    setResult(A.SLOT_VOL_FS_INFO, f.fsInfoSector);
    setResult(A.SLOT_VOL_BACKUP_BOOT, f.backupBootSector);
    setResult(A.SLOT_VOL_DIRTY_BOOT, f.dirtyBoot ? 1 : 0);
    setResult(A.SLOT_VOL_MEDIA, f.media);
    setResult(A.SLOT_VOL_ROOT_DIR_SECTORS, f.rootDirSectors);
    setResult(A.SLOT_VOL_SMALL_FAT32, f.smallFat32 ? 1 : 0);
  }
  bootDirty(): bool {
    return fat.dirtyBoot;
  }

  maxSectorsPerCluster(): u32 {
    return 128;
  }

  scanBegin(dev: u32, v: Volume): f64 {
    const r = readFsInfo(dev, v);
    if (r < 0) return r;
    fatScan.begin();
    return <f64>fat.fatSectors * v.bytesPerSector * fat.fatCount;
  }
  scanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32 {
    return fatScan.step(s, dev, v, bitBase);
  }
  dirty(): bool {
    return fatScan.dirty || fat.dirtyBoot;
  }
  publishScan(): void {
    const s = fatScan;
    setResult(A.SLOT_SCAN_BAD, s.bad);
    setResult(A.SLOT_SCAN_MISMATCHED, s.mismatched);
    setResult(A.SLOT_SCAN_INVALID, s.invalid);
    setResult(A.SLOT_SCAN_DIRTY, s.dirty ? 1 : 0);
    setResult(A.SLOT_SCAN_IO_ERROR, s.ioErrorMark ? 1 : 0);
    setResult(A.SLOT_SCAN_FS_INFO_FREE, fat.fsInfoFree);
    setResult(A.SLOT_SCAN_SMALL_FAT32, fat.smallFat32 ? 1 : 0);
  }
}

export const fatFs = new FatFileSystem();
