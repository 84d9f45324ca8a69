// An exFAT volume's geometry, read from its main boot sector and validated one rule per line,
// into the common Volume (fs/volume.ts) and exFAT's own record, `exfat`: the metadata area is
// everything before the cluster heap (both boot regions and the FATs), clusters are numbered
// from 2 as on FAT. The
// allocation bitmap, not the FAT, says which clusters are in use (a contiguous file has no FAT
// chain), so the backup reads it: findBitmap locates it through the root directory.

// field ids reported with E_EXFAT_FIELD (XF_*) and what E_EXFAT_BITMAP found (XB_*): the contract
import {
  XB_CHAIN,
  XB_FIRST_CLUSTER,
  XB_NOT_FOUND,
  XB_TOO_SHORT,
  XF_CLUSTER_COUNT,
  XF_CLUSTER_SHIFT,
  XF_FAT_LENGTH,
  XF_FAT_OFFSET,
  XF_FATS,
  XF_HEAP_OFFSET,
  XF_JUMP,
  XF_MUST_BE_ZERO,
  XF_REVISION,
  XF_ROOT,
  XF_SECTOR_SHIFT,
} from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { MAX_CLUSTER_BYTES, Volume } from "../fs/volume";
import { isZero, ld8, ld16, ld32, ld64 } from "../io";
import { AUX_BYTES, buf } from "../mem";
import { readSectors } from "../patch";
import * as X from "./layout";

export class ExfatState {
  fatOffset: u32 = 0; // sectors before the first FAT (the boot regions): FatOffset
  fatLength: u32 = 0; // sectors of each FAT: FatLength
  fatCount: u32 = 0; // NumberOfFats: 1, or 2 (TexFAT)
  rootCluster: u32 = 0; // FirstClusterOfRootDirectory
  volumeDirty: bool = false; // VolumeFlags bit 1
  activeFat: u32 = 0;
  bitmapCluster: u32 = 0; // the active allocation bitmap's first cluster and length in bytes
  bitmapBytes: f64 = 0;
  checksumBad: bool = false; // the main boot region's checksum sector disagrees with sectors 0..10
  upcase: u32 = 0; // the up-case table: 0 its checksum matches, 1 it does not, 2 no entry found
}
export const exfat = new ExfatState();

export function isExfat(bs: usize): bool {
  return load<u64>(bs + X.EX_FileSystemName) == 0x2020205441465845; // "EXFAT   "
}

export function parseExfat(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
  const sig = ld16(bs + X.EX_BootSignature);
  if (sig != 0xaa55) return fail(E.E_BS_SIGNATURE, sig);
  const jump = ld8(bs) | (ld8(bs + 1) << 8) | (ld8(bs + 2) << 16);
  if (jump != 0x9076eb) return fail(E.E_EXFAT_FIELD, XF_JUMP, jump, 0x9076eb);
  if (!isZero(bs + X.EX_MustBeZero, 53)) return fail(E.E_EXFAT_FIELD, XF_MUST_BE_ZERO, 1, 0);
  const bpsShift = ld8(bs + X.EX_BytesPerSectorShift);
  if (bpsShift < 9 || bpsShift > 12) return fail(E.E_EXFAT_FIELD, XF_SECTOR_SHIFT, bpsShift, 9);
  const bps: u32 = 1 << bpsShift;
  if (bps != deviceSectorSize) return fail(E.E_SECTOR_SIZE, deviceSectorSize, bps);
  const spcShift = ld8(bs + X.EX_SectorsPerClusterShift);
  if (spcShift > 25 - bpsShift) return fail(E.E_EXFAT_FIELD, XF_CLUSTER_SHIFT, spcShift, 25 - bpsShift);
  const spc: u32 = 1 << spcShift;
  if (<f64>bps * <f64>spc > <f64>MAX_CLUSTER_BYTES)
    return fail(E.E_CLUSTER_SIZE, <f64>bps * <f64>spc, MAX_CLUSTER_BYTES);
  const rev = ld16(bs + X.EX_FileSystemRevision);
  if (rev >>> 8 != 1) return fail(E.E_EXFAT_FIELD, XF_REVISION, rev, 0x100);
  const nfats = ld8(bs + X.EX_NumberOfFats);
  if (nfats < 1 || nfats > 2) return fail(E.E_EXFAT_FIELD, XF_FATS, nfats, 1);
  const volLen = <f64>ld64(bs + X.EX_VolumeLength);
  if (volLen == 0 || volLen > partSectors) return fail(E.E_BPB_TOTSEC, volLen, partSectors);
  const fatOffset = ld32(bs + X.EX_FatOffset),
    fatLength = ld32(bs + X.EX_FatLength);
  const heap = ld32(bs + X.EX_ClusterHeapOffset),
    clusters = ld32(bs + X.EX_ClusterCount);
  const root = ld32(bs + X.EX_FirstClusterOfRootDirectory);
  if (fatOffset < 24) return fail(E.E_EXFAT_FIELD, XF_FAT_OFFSET, fatOffset, 24);
  if (clusters == 0 || clusters > 0xfffffff5) return fail(E.E_EXFAT_FIELD, XF_CLUSTER_COUNT, clusters, 1);
  const fatNeeded = Math.ceil(((<f64>clusters + 2) * 4) / <f64>bps);
  if (<f64>fatLength < fatNeeded) return fail(E.E_EXFAT_FIELD, XF_FAT_LENGTH, fatLength, fatNeeded);
  const fatsEnd = <f64>fatOffset + <f64>fatLength * <f64>nfats;
  if (<f64>heap < fatsEnd) return fail(E.E_EXFAT_FIELD, XF_HEAP_OFFSET, heap, fatsEnd);
  if (<f64>heap + <f64>clusters * <f64>spc > volLen)
    return fail(E.E_EXFAT_FIELD, XF_CLUSTER_COUNT, clusters, Math.floor((volLen - <f64>heap) / <f64>spc));
  if (root < 2 || <f64>root > <f64>clusters + 1) return fail(E.E_EXFAT_FIELD, XF_ROOT, root, <f64>clusters + 1);
  const flags = ld16(bs + X.EX_VolumeFlags);
  v.fsType = X.FS_EXFAT;
  v.bytesPerSector = bps;
  v.sectorsPerCluster = spc;
  v.clusterBytes = bps * spc;
  v.totalSectors = volLen;
  v.firstDataSector = heap;
  v.firstCluster = 2;
  v.clusterCount = clusters;
  exfat.fatOffset = fatOffset;
  exfat.fatLength = fatLength;
  exfat.fatCount = nfats;
  exfat.rootCluster = root;
  exfat.volumeDirty = (flags & 2) != 0;
  exfat.activeFat = nfats == 2 ? flags & 1 : 0;
  exfat.bitmapCluster = 0;
  exfat.bitmapBytes = 0;
  exfat.checksumBad = false;
  return 0;
}

// The next cluster after c in the active FAT (one sector read into scratch + 4096).
export function exfatNext(dev: u32, v: Volume, c: u32): i64 {
  const bps = v.bytesPerSector;
  const byte = <f64>c * 4;
  const lba = <f64>exfat.fatOffset + <f64>exfat.activeFat * <f64>exfat.fatLength + Math.floor(byte / <f64>bps);
  const p = buf.scratch + 4096;
  const r = readSectors(dev, lba, 1, p);
  if (r < 0) return <i64>fail(E.E_DEVICE, r, dev, lba, 1);
  return <i64>ld32(p + <usize>(byte % <f64>bps));
}

// Checks the main boot region's checksum (section 3.4) and finds the active allocation bitmap
// in the root directory (section 7.1). Uses buf.aux.
export function findBitmap(dev: u32, v: Volume): i32 {
  const bps = v.bytesPerSector;
  let r = readSectors(dev, 0, X.BOOT_REGION_SECTORS, buf.aux);
  if (r < 0) return fail(E.E_DEVICE, r, dev, 0, X.BOOT_REGION_SECTORS);
  let sum: u32 = 0;
  const n = bps * 11;
  for (let i: u32 = 0; i < n; i++) {
    if (i == 106 || i == 107 || i == 112) continue;
    sum = ((sum & 1) != 0 ? 0x80000000 : 0) + (sum >>> 1) + ld8(buf.aux + i);
  }
  exfat.checksumBad = false;
  for (let i: u32 = 0; i < bps; i += 4)
    if (ld32(buf.aux + n + i) != sum) {
      exfat.checksumBad = true;
      break;
    }
  // the root directory, one cluster at a time, at most 256 clusters: the active allocation
  // bitmap's entry and the up-case table's
  exfat.upcase = 2;
  let upFirst: u32 = 0,
    upBytes: f64 = 0,
    upSum: u32 = 0;
  let c = exfat.rootCluster;
  let end = false;
  for (let k = 0; k < 256 && !end; k++) {
    const lba = v.clusterLba(<f64>c);
    r = readSectors(dev, lba, v.sectorsPerCluster, buf.aux);
    if (r < 0) return fail(E.E_DEVICE, r, dev, lba, v.sectorsPerCluster);
    for (let at: u32 = 0; at < v.clusterBytes; at += 32) {
      const e = buf.aux + at;
      const type = ld8(e);
      if (type == X.DE_TYPE_END) {
        end = true;
        break;
      }
      if (type == X.DE_TYPE_UPCASE && upFirst == 0) {
        upFirst = ld32(e + X.DE_FirstCluster);
        upBytes = <f64>ld64(e + X.DE_DataLength);
        upSum = ld32(e + X.DE_TableChecksum);
      }
      if (type != X.DE_TYPE_BITMAP || exfat.bitmapCluster != 0 || (ld8(e + X.DE_BitmapFlags) & 1) != exfat.activeFat)
        continue;
      const first = ld32(e + X.DE_FirstCluster),
        bytes = <f64>ld64(e + X.DE_DataLength);
      const needed = Math.ceil(<f64>v.clusterCount / 8);
      if (first < 2 || <f64>first > <f64>v.clusterCount + 1)
        return fail(E.E_EXFAT_BITMAP, XB_FIRST_CLUSTER, first, <f64>v.clusterCount + 1);
      if (bytes < needed) return fail(E.E_EXFAT_BITMAP, XB_TOO_SHORT, bytes, needed);
      exfat.bitmapCluster = first;
      exfat.bitmapBytes = needed;
    }
    if (end || (exfat.bitmapCluster != 0 && upFirst != 0)) break;
    const next = exfatNext(dev, v, c);
    if (next < 0) return <i32>next;
    if (next < 2 || next > <i64>v.clusterCount + 1) {
      if (exfat.bitmapCluster != 0) break;
      return fail(E.E_EXFAT_BITMAP, XB_NOT_FOUND, k + 1, <f64>next);
    }
    c = <u32>next;
  }
  if (exfat.bitmapCluster == 0) return fail(E.E_EXFAT_BITMAP, XB_NOT_FOUND, 256, 0);
  // the up-case table (section 7.2): its checksum over its bytes; a mismatch is a notice
  if (upFirst >= 2 && <f64>upFirst <= <f64>v.clusterCount + 1 && upBytes > 0 && upBytes <= 131072) {
    const rd = upcaseReader;
    rd.begin(upFirst);
    const n = <u32>upBytes;
    r = rd.read(dev, v, 0, n, buf.aux);
    if (r < 0) return r;
    let sum: u32 = 0;
    for (let i: u32 = 0; i < n; i++) sum = ((sum & 1) != 0 ? 0x80000000 : 0) + (sum >>> 1) + ld8(buf.aux + i);
    exfat.upcase = sum == upSum ? 0 : 1;
  }
  return 0;
}

// Reads bytes [from, from + count) of a file whose chain starts at `first` (from a multiple of
// the sector size) into dst, following its FAT chain; an entry of 0 (no chain) means the next
// cluster. State: the cluster holding byte `chainAt` is `chainCluster` (reads only move forward).
export class ChainReader {
  chainAt: f64 = 0; // byte offset of the start of chainCluster in the file
  chainCluster: u32 = 0;
  begin(first: u32): void {
    this.chainAt = 0;
    this.chainCluster = first;
  }

  read(dev: u32, v: Volume, from: f64, count: u32, dst: usize): i32 {
    const cb = <f64>v.clusterBytes,
      bps = v.bytesPerSector;
    let pos = from,
      done: u32 = 0;
    while (done < count) {
      while (pos >= this.chainAt + cb) {
        const next = exfatNext(dev, v, this.chainCluster);
        if (next < 0) return <i32>next;
        let c: u32;
        if (next == 0) c = this.chainCluster + 1;
        else if (next >= 2 && next <= <i64>v.clusterCount + 1) c = <u32>next;
        else return fail(E.E_EXFAT_BITMAP, XB_CHAIN, this.chainAt / cb + 1, <f64>next);
        if (<f64>c > <f64>v.clusterCount + 1) return fail(E.E_EXFAT_BITMAP, XB_CHAIN, this.chainAt / cb + 1, c);
        this.chainCluster = c;
        this.chainAt += cb;
      }
      const inCluster = pos - this.chainAt;
      const take = <u32>Math.min(<f64>(count - done), cb - inCluster);
      const firstSector = <u32>(inCluster / <f64>bps);
      const sectors = (<u32>inCluster + take - firstSector * bps + bps - 1) / bps;
      if (<u64>(done + sectors * bps) > <u64>AUX_BYTES + 8192) return fail(E.E_STATE, 77);
      const lba = v.clusterLba(<f64>this.chainCluster) + <f64>firstSector;
      const r = readSectors(dev, lba, sectors, dst + done);
      if (r < 0) return fail(E.E_DEVICE, r, dev, lba, sectors);
      done += take;
      pos += <f64>take;
    }
    return 0;
  }
}

// The reader findBitmap reads the up-case table through: one for the life of the core (the stub
// runtime never frees, so a reader made per scan ran the core out of memory after ~40,000 scans).
const upcaseReader = new ChainReader();
