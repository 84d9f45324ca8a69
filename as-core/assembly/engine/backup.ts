// Backup engine (patent figures 1 and 2): the file system's allocation scan -> bitmap section,
// its metadata extents -> metadata section, header, allocated clusters in ascending order in
// checked blocks, commit record last.
// The scan job is the first phase alone, with nothing written.

import * as A from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { MetaExtents } from "../fs/filesystem";
import { mounted, probe } from "../fs/probe";
import { volume } from "../fs/volume";
import { hash32, recordCheck } from "../hash";
import * as H from "../image/layout";
import { IMG_SECTOR, roundUp, tableBytes } from "../image/layout";
import { devFlush, st32, st64 } from "../io";
import { BITMAP_WINDOW_BYTES, BLOCK_DATA_MAX, blockBuffer, buf, setResult } from "../mem";
import { readSectors } from "../patch";
import {
  chainAdd,
  chainFinish,
  encodeCommit,
  encodeHeader,
  ghostExtent,
  imageWrite,
  JOB_BACKUP,
  JOB_SCAN,
  job,
  metaRead,
  PH_DATA_COPY,
  PH_DONE,
  PH_META_COPY,
  PH_SCAN,
} from "./job";
import {
  FLAG_UNREADABLE,
  IO_ERROR,
  SLOT_UNREADABLE_COUNT,
  SLOT_UNREADABLE_FIRST,
  SLOT_UNREADABLE_LIST,
  UNREADABLE_LISTED,
  unreadableCheck,
} from "./unreadable";

const WINDOW_BITS: f64 = <f64>BITMAP_WINDOW_BYTES * 8;

export class BackupParams {
  partType: u32 = 0;
  partStart: f64 = 0;
  created: f64 = 0;
  // record mode (section 5.1): a cluster the source cannot read is stored as zeros with the
  // unreadable mark instead of failing the backup; `unreadable` counts them
  recordUnreadable: bool = false;
  unreadable: f64 = 0;
}
export const backupParams = new BackupParams();
const meta = new MetaExtents();

// Starts a backup of the volume (FAT, exFAT or NTFS) on `src` into the image device `img` (or, with
// scanOnly, just the allocation scan). Returns 0 or a negative code.
export function backupBegin(src: u32, sectorBytes: u32, partSectors: f64, img: u32, scanOnly: bool): i32 {
  const r = probe(src, sectorBytes, partSectors);
  if (r < 0) return r;
  const v = volume,
    fs = mounted();
  job.kind = scanOnly ? JOB_SCAN : JOB_BACKUP;
  job.src = src;
  job.dst = img;
  job.sectorBytes = sectorBytes;
  job.partSectors = partSectors;
  job.fsType = v.fsType;
  job.sectorsPerCluster = v.sectorsPerCluster;
  job.firstCluster = v.firstCluster;
  job.dataStart = v.firstDataSector;
  fs.metadata(v, partSectors, meta);
  job.metaSectors = meta.headSectors;
  job.tailStart = meta.tailStart;
  job.tailSectors = meta.tailSectors;
  job.geo.compute(
    v.clusterBytes,
    <f64>v.clusterCount + <f64>job.firstCluster,
    0,
    (<f64>job.metaSectors + job.tailSectors) * sectorBytes,
    BLOCK_DATA_MAX,
  );
  job.scan.begin(v.clusterCount + job.firstCluster);
  // section 12: the image's own extent in this partition (params ghostStart, ghostSectors)
  const ghostStart = scanOnly ? 0 : load<f64>(buf.params + A.PARAM_GHOST_START),
    ghostSectors = scanOnly ? 0 : load<f64>(buf.params + A.PARAM_GHOST_SECTORS);
  if (
    ghostExtent(
      ghostStart,
      ghostSectors,
      job.dataStart,
      v.sectorsPerCluster,
      <f64>v.clusterCount,
      job.firstCluster,
      <f64>job.metaSectors,
    ) < 0
  ) {
    return fail(
      E.E_GHOST_EXTENT,
      ghostStart,
      ghostSectors,
      Math.max(job.dataStart, <f64>job.metaSectors),
      v.sectorsPerCluster,
    );
  }
  job.scan.ghostFirst = <u32>job.ghostFirst;
  job.scan.ghostEnd = <u32>job.ghostEnd;
  job.phase = PH_SCAN;
  job.sectionPos = 0;
  job.block = 0;
  job.clustersDone = 0;
  job.bytesDone = 0;
  const scanBytes = fs.scanBegin(src, v);
  if (scanBytes < 0) return <i32>scanBytes;
  job.bytesTotal = scanBytes;
  job.bitmapHash.reset(H.SEED_BITMAP);
  memory.fill(buf.bitmap, 0, BITMAP_WINDOW_BYTES);
  backupParams.unreadable = 0;
  setResult(SLOT_UNREADABLE_COUNT, 0);
  setResult(SLOT_UNREADABLE_FIRST, -1);
  return 0;
}

export function backupStep(budget: f64): i32 {
  let spent: f64 = 0;
  while (spent < budget) {
    let r: i32 = 0;
    if (job.phase == PH_SCAN) r = scanStep();
    else if (job.phase == PH_META_COPY) r = metaStep();
    else if (job.phase == PH_DATA_COPY) r = dataStep();
    else if (job.phase == PH_DONE) return 1;
    else return fail(E.E_STATE, job.phase);
    if (r < 0) return r;
    spent += <f64>r;
  }
  return job.phase == PH_DONE ? 1 : 0;
}

// One window of the file system's scan. When the bitmap window is full, or the scan is done,
// the window goes out.
function scanStep(): i32 {
  const s = job.scan,
    v = volume,
    g = job.geo;
  const windowBase = job.sectionPos;
  const r = mounted().scanStep(s, job.src, v, <u32>windowBase, <u32>WINDOW_BITS);
  if (r < 0) return r;
  job.bytesDone += <f64>r;
  if (<f64>s.nextEntry < windowBase + WINDOW_BITS && !s.done()) return r;
  const n = <u32>Math.min(<f64>BITMAP_WINDOW_BYTES, roundUp(Math.ceil((g.bitmapBits - windowBase) / 8), IMG_SECTOR));
  job.bitmapHash.update(buf.bitmap, n);
  if (job.kind == JOB_BACKUP) {
    const w = imageWrite(job.dst, g.bitmapOffset + windowBase / 8, n, buf.bitmap);
    if (w < 0) return w;
  }
  memory.fill(buf.bitmap, 0, BITMAP_WINDOW_BYTES);
  job.sectionPos += WINDOW_BITS;
  if (s.done()) scanFinished();
  return r + <i32>n;
}

function scanFinished(): void {
  const s = job.scan,
    v = volume,
    g = job.geo;
  job.bitmapCheck = job.bitmapHash.digest64();
  g.compute(v.clusterBytes, g.bitmapBits, s.allocated, g.metaBytes, BLOCK_DATA_MAX);
  const fs = mounted();
  setResult(A.SLOT_SCAN_ALLOCATED, s.allocated);
  setResult(A.SLOT_SCAN_FS_INFO_FREE, -1); // no free count, unless the file system keeps one (FAT32's FSInfo)
  setResult(A.SLOT_SCAN_DIRTY_BOOT, fs.bootDirty() ? 1 : 0);
  setResult(A.SLOT_SCAN_IMAGE_LENGTH, g.imageLength());
  setResult(A.SLOT_SCAN_GHOST_LEFT_OUT, s.leftOut);
  fs.publishScan(); // its own scan results (FAT: the FAT's counts and marks; exFAT: checksum and up-case)
  if (job.kind == JOB_SCAN) {
    job.phase = PH_DONE;
    return;
  }
  job.bytesTotal = job.bytesDone + g.metaBytes + s.allocated * <f64>v.clusterBytes;
  job.phase = PH_META_COPY;
  job.sectionPos = 0;
  job.metaHash.reset(H.SEED_META);
}

// Copies up to 1 MiB of the system area (boot sector, reserved sectors, FATs, root directory).
function metaStep(): i32 {
  const g = job.geo;
  const n = <u32>Math.min(g.metaBytes - job.sectionPos, <f64>BLOCK_DATA_MAX);
  if (n > 0) {
    let r = metaRead(job.src, job.sectionPos / job.sectorBytes, n / job.sectorBytes, buf.io);
    if (r < 0) return r;
    job.metaHash.update(buf.io, n);
    r = imageWrite(job.dst, g.metaOffset + job.sectionPos, n, buf.io);
    if (r < 0) return r;
    job.sectionPos += <f64>n;
    job.bytesDone += <f64>n;
  }
  if (job.sectionPos < g.metaBytes) return <i32>n;
  job.metaCheck = job.metaHash.digest64();
  const flags: u32 = (mounted().dirty() ? 1 : 0) | (backupParams.recordUnreadable ? FLAG_UNREADABLE : 0);
  encodeHeader(
    buf.params + A.PARAM_IMAGE_NAME,
    A.PARAM_IMAGE_NAME_BYTES,
    backupParams.partType,
    buf.params + A.PARAM_PART_TYPE_GUID,
    backupParams.partStart,
    backupParams.created,
    flags,
  );
  const r = imageWrite(job.dst, 0, IMG_SECTOR, buf.scratch);
  if (r < 0) return r;
  job.phase = PH_DATA_COPY;
  job.sectionPos = 0; // bytes of the data section written
  job.cursor.begin(job.dst, g.bitmapOffset, g.bitmapBits);
  job.chainHash.reset(H.SEED_CHAIN);
  job.chainFill = 0;
  if (g.blockCount == 0) return commit(n);
  return <i32>n + IMG_SECTOR;
}

// Gathers the next block's clusters from the runs of the bitmap, checks each, writes the block.
function dataStep(): i32 {
  const g = job.geo,
    cb = g.clusterBytes;
  const n = g.blockClusters(job.block);
  const io = blockBuffer(job.block);
  const table = io + <usize>n * cb;
  let filled: u32 = 0;
  let firstBit: f64 = -1;
  while (filled < n) {
    const len = job.cursor.nextRun(n - filled);
    if (len < 0) return len;
    if (len == 0) return fail(E.E_IMG_BITMAP_COUNT, job.clustersDone + filled, g.imageClusters);
    const start = job.cursor.runStart;
    if (firstBit < 0) firstBit = start;
    const r = readRun(start, <u32>len, io + <usize>filled * cb, table + H.T_Checks + (filled << 2));
    if (r < 0) return r;
    filled += <u32>len;
  }
  const tb = tableBytes(n);
  memory.fill(table + H.T_Checks + (n << 2), 0, <usize>tb - H.T_Checks - ((<usize>n) << 2));
  st32(table + H.T_Magic, H.BLOCK_MAGIC);
  st32(table + H.T_ClusterCount, n);
  st64(table + H.T_BlockIndex, <u64>job.block);
  st64(table + H.T_FirstBit, <u64>firstBit);
  st64(table + H.T_Reserved, 0);
  const check = recordCheck(table, tb, tb - 8, H.SEED_TABLE + <u64>job.block);
  st64(table + tb - 8, check);
  const bytes = n * cb + tb;
  const w = imageWrite(job.dst, g.dataOffset + job.sectionPos, bytes, io);
  if (w < 0) return w;
  chainAdd(check);
  job.sectionPos += <f64>bytes;
  job.block += 1;
  job.clustersDone += <f64>n;
  job.bytesDone += <f64>n * cb;
  if (job.block < g.blockCount) return <i32>bytes;
  return commit(bytes);
}

// Reads a run of clusters into dst and stores their checks at `checks`. In record mode, a run
// whose read fails with an I/O error is read again one cluster at a time, and a cluster that
// still fails is stored as zeros with the unreadable mark (section 5.1). The failed read of the
// whole run went through the read import, so the host has already let go of that memory.
function readRun(start: f64, len: u32, dst: usize, checks: usize): i32 {
  const cb = job.geo.clusterBytes,
    spc = job.sectorsPerCluster;
  const lba = job.clusterLba(start);
  const r = readSectors(job.src, lba, len * spc, dst);
  if (r < 0 && !(r == IO_ERROR && backupParams.recordUnreadable)) return fail(E.E_DEVICE, r, job.src, lba, len * spc);
  for (let i: u32 = 0; i < len; i++) {
    const p = dst + <usize>i * cb,
      bit = start + <f64>i;
    let one: i32 = 0;
    if (r < 0) {
      one = readSectors(job.src, job.clusterLba(bit), spc, p);
      if (one < 0 && one != IO_ERROR) return fail(E.E_DEVICE, one, job.src, job.clusterLba(bit), spc);
      if (one < 0) memory.fill(p, 0, cb);
    }
    const check = hash32(p, cb, <u64>bit);
    if (one < 0) noteUnreadable(bit);
    st32(checks + (i << 2), one < 0 ? unreadableCheck(check) : check);
  }
  return 0;
}

function noteUnreadable(bit: f64): void {
  const n = backupParams.unreadable;
  if (n == 0) setResult(SLOT_UNREADABLE_FIRST, bit);
  if (n < <f64>UNREADABLE_LISTED) setResult(SLOT_UNREADABLE_LIST + <u32>n, bit);
  backupParams.unreadable = n + 1;
  setResult(SLOT_UNREADABLE_COUNT, n + 1);
}

function commit(spent: u32): i32 {
  encodeCommit(chainFinish());
  let r = imageWrite(job.dst, job.geo.commitOffset, IMG_SECTOR, buf.scratch);
  if (r < 0) return r;
  r = devFlush(job.dst);
  if (r < 0) return fail(E.E_DEVICE, r, job.dst, -1, 0);
  job.phase = PH_DONE;
  return <i32>spent + IMG_SECTOR;
}
