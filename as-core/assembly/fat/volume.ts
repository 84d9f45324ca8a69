// A FAT volume's geometry, read from its boot sector and validated one rule per line
// (FatFs mount_volume style). Nothing is used before it is checked. The common parameters go in
// the Volume (fs/volume.ts), what only FAT has in `fat`.

import { FI_BACKUP_BOOT, FI_FSINFO, FS_NONE } from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { MAX_CLUSTER_BYTES, Volume } from "../fs/volume";
import { isPow2, ld8, ld16, ld32 } from "../io";
import { buf } from "../mem";
import { readSectors } from "../patch";
import * as L from "./layout";

export class FatVolume {
  reservedSectors: u32 = 0;
  fatCount: u32 = 0;
  fatSectors: u32 = 0; // per copy
  rootEntryCount: u32 = 0;
  rootDirSectors: u32 = 0;
  rootCluster: u32 = 0; // FAT32
  fsInfoSector: u32 = 0; // FAT32
  backupBootSector: u32 = 0; // FAT32
  dirtyBoot: bool = false; // BS_Reserved1 bit 0
  media: u32 = 0;
  fsInfoFree: f64 = -1; // FSI_Free_Count, -1 when absent or unknown
  smallFat32: bool = false; // FAT32 layout with fewer than 65525 clusters (mkfs.fat allows it)
}

export const fat = new FatVolume();

// Bits of a FAT entry of a volume of type fsType (FS_FAT12/16/32).
export function entryBits(fsType: u32): u32 {
  return fsType == L.FS_FAT12 ? 12 : fsType == L.FS_FAT16 ? 16 : 32;
}
// entry values that mean "bad cluster"
export function badMark(fsType: u32): u32 {
  return fsType == L.FS_FAT12 ? 0xff7 : fsType == L.FS_FAT16 ? 0xfff7 : 0x0ffffff7;
}
export function entryMask(fsType: u32): u32 {
  return fsType == L.FS_FAT12 ? 0xfff : fsType == L.FS_FAT16 ? 0xffff : 0x0fffffff;
}

export function parseBpb(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
  const f = fat;
  const sig = ld16(bs + L.BS_Signature);
  const jmp = ld8(bs + L.BS_jmpBoot);
  if (sig != 0xaa55 && jmp != 0xeb && jmp != 0xe9) return fail(E.E_NOT_FAT, sig, jmp);
  if (sig != 0xaa55) return fail(E.E_BS_SIGNATURE, sig);
  if (jmp != 0xeb && jmp != 0xe9) return fail(E.E_BS_JUMP, jmp);
  const bps = ld16(bs + L.BPB_BytsPerSec);
  if (!isPow2(bps) || bps < 512 || bps > 4096) return fail(E.E_BPB_BYTSPERSEC, bps);
  if (bps != deviceSectorSize) return fail(E.E_SECTOR_SIZE, deviceSectorSize, bps);
  const spc = ld8(bs + L.BPB_SecPerClus);
  if (!isPow2(spc) || spc > 128) return fail(E.E_BPB_SECPERCLUS, spc);
  if (bps * spc > MAX_CLUSTER_BYTES) return fail(E.E_CLUSTER_SIZE, bps * spc, MAX_CLUSTER_BYTES);
  const rsvd = ld16(bs + L.BPB_RsvdSecCnt);
  if (rsvd == 0) return fail(E.E_BPB_RSVDSECCNT, rsvd);
  const nfats = ld8(bs + L.BPB_NumFATs);
  if (nfats == 0) return fail(E.E_BPB_NUMFATS, nfats);
  const media = ld8(bs + L.BPB_Media);
  if (media != 0xf0 && media < 0xf8) return fail(E.E_BPB_MEDIA, media);
  const rootEnt = ld16(bs + L.BPB_RootEntCnt);
  if ((rootEnt * 32) % bps != 0) return fail(E.E_BPB_ROOTENTCNT, rootEnt, FS_NONE); // no type: the count does not fill whole sectors
  const tot16 = ld16(bs + L.BPB_TotSec16);
  const totSec: f64 = tot16 != 0 ? <f64>tot16 : <f64>ld32(bs + L.BPB_TotSec32);
  if (totSec == 0 || totSec > partSectors) return fail(E.E_BPB_TOTSEC, totSec, partSectors);
  const fatSz16 = ld16(bs + L.BPB_FATSz16);
  const fatSz = fatSz16 != 0 ? fatSz16 : ld32(bs + L.BPB_FATSz32);
  if (fatSz == 0) return fail(E.E_BPB_FATSZ, 0, 1);
  const rootDirSectors = (rootEnt * 32 + bps - 1) / bps;
  const firstData = <f64>rsvd + <f64>nfats * <f64>fatSz + <f64>rootDirSectors;
  if (firstData >= totSec) return fail(E.E_NO_DATA_AREA, firstData, totSec);
  const clusters = Math.floor((totSec - firstData) / <f64>spc);
  if (clusters < 1) return fail(E.E_NO_DATA_AREA, firstData, totSec);
  if (clusters > <f64>L.FAT32_MAX_CLUSTERS) return fail(E.E_FAT_TYPE_LAYOUT, clusters, fatSz16);
  let type = clusters <= L.FAT12_MAX_CLUSTERS ? L.FS_FAT12 : clusters <= L.FAT16_MAX_CLUSTERS ? L.FS_FAT16 : L.FS_FAT32;
  // The cluster count decides the type, and the BPB's layout must agree with it, with one
  // exception that real tools make: mkfs.fat -F 32 (and Linux) accept a FAT32 layout (no
  // BPB_FATSz16, no fixed root directory) with fewer than 65525 clusters. Such a volume has
  // no FAT16 reading at all, so it is imaged as the FAT32 it is, with a notice.
  f.smallFat32 = type != L.FS_FAT32 && fatSz16 == 0 && rootEnt == 0;
  if (f.smallFat32) type = L.FS_FAT32;
  if ((type == L.FS_FAT32) != (fatSz16 == 0)) return fail(E.E_FAT_TYPE_LAYOUT, clusters, fatSz16);
  if (type == L.FS_FAT32 && rootEnt != 0) return fail(E.E_BPB_ROOTENTCNT, rootEnt, type);
  if (type != L.FS_FAT32 && rootEnt == 0) return fail(E.E_BPB_ROOTENTCNT, rootEnt, type);
  const entryBits: f64 = type == L.FS_FAT12 ? 12 : type == L.FS_FAT16 ? 16 : 32;
  const needed = Math.ceil(((clusters + 2) * entryBits) / 8 / <f64>bps);
  if (<f64>fatSz < needed) return fail(E.E_BPB_FATSZ, fatSz, needed);
  v.fsType = type;
  v.bytesPerSector = bps;
  v.sectorsPerCluster = spc;
  v.clusterBytes = bps * spc;
  v.totalSectors = totSec;
  v.firstDataSector = <u32>firstData;
  v.firstCluster = 2;
  v.clusterCount = <u32>clusters;
  f.reservedSectors = rsvd;
  f.fatCount = nfats;
  f.fatSectors = fatSz;
  f.rootEntryCount = rootEnt;
  f.rootDirSectors = rootDirSectors;
  f.media = media;
  f.rootCluster = 0;
  f.fsInfoSector = 0;
  f.backupBootSector = 0;
  f.fsInfoFree = -1;
  if (type == L.FS_FAT32) {
    const ver = ld16(bs + L.BPB_FSVer);
    if (ver != 0) return fail(E.E_BPB_FSVER, ver);
    const rootClus = ld32(bs + L.BPB_RootClus);
    if (rootClus < 2 || <f64>rootClus > clusters + 1) return fail(E.E_BPB_ROOTCLUS, rootClus, clusters + 1);
    const fsInfo = ld16(bs + L.BPB_FSInfo),
      bk = ld16(bs + L.BPB_BkBootSec);
    if (fsInfo >= rsvd && fsInfo != 0xffff && fsInfo != 0) return fail(E.E_BPB_FSINFO, FI_FSINFO, fsInfo);
    if (bk >= rsvd && bk != 0xffff && bk != 0) return fail(E.E_BPB_FSINFO, FI_BACKUP_BOOT, bk);
    f.rootCluster = rootClus;
    f.fsInfoSector = fsInfo;
    f.backupBootSector = bk;
    f.dirtyBoot = (ld8(bs + L.BS32_Reserved1) & 1) != 0;
  } else {
    f.dirtyBoot = (ld8(bs + L.BS16_Reserved1) & 1) != 0;
  }
  return 0;
}

// Reads FSInfo's free count, if the volume has a valid FSInfo sector.
export function readFsInfo(dev: u32, v: Volume): i32 {
  const f = fat;
  if (v.fsType != L.FS_FAT32 || f.fsInfoSector == 0 || f.fsInfoSector == 0xffff) return 0;
  const r = readSectors(dev, f.fsInfoSector, 1, buf.scratch);
  if (r < 0) return fail(E.E_DEVICE, r, dev, f.fsInfoSector, 1);
  if (ld32(buf.scratch + L.FSI_LeadSig) != 0x41615252 || ld32(buf.scratch + L.FSI_StrucSig) != 0x61417272) return 0;
  const free = ld32(buf.scratch + L.FSI_Free_Count);
  f.fsInfoFree = free == 0xffffffff ? -1 : <f64>free;
  return 0;
}
