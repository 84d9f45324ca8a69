// The one engine state of the core, and the steps that backup, restore and verify share:
// reading and writing the image, the header, the commit record, and the checks of the
// bitmap and metadata sections.

import * as A from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { Cbh, hash32, recordCheck } from "../hash";
import { BitmapCursor } from "../image/cursor";
import * as H from "../image/layout";
import { IMG_SECTOR, ImageGeometry, tableBytes } from "../image/layout";
import { devWrite, isPow2, isZero, ld32, ld64, st32, st64 } from "../io";
import { readSectors } from "../patch";
import {
  isUnreadableCluster,
  SLOT_UNREADABLE_COUNT,
  SLOT_UNREADABLE_FIRST,
  SLOT_UNREADABLE_LIST,
  UNREADABLE_LISTED,
} from "./unreadable";

export {
  PH_CHECK_BITMAP,
  PH_CHECK_COMMIT,
  PH_CHECK_HEADER,
  PH_CHECK_META,
  PH_DATA,
  PH_DATA_COPY,
  PH_DONE,
  PH_META,
  PH_META_COPY,
  PH_SCAN,
} from "../abi";

import { fileSystemOf } from "../fs/probe";
import { ScanState } from "../fs/scan";
import { MAX_CLUSTER_BYTES } from "../fs/volume";
import { BITMAP_WINDOW_BYTES, BLOCK_DATA_MAX, buf, META_CHUNK_BYTES, META_CHUNKS_MAX, setResult } from "../mem";

export const JOB_NONE: u32 = 0;
export const JOB_BACKUP: u32 = 1;
export const JOB_RESTORE: u32 = 2;
export const JOB_VERIFY: u32 = 3;
export const JOB_SCAN: u32 = 4;

// phases (PH_*, in the order the engines pass through them) are declared in the contract (abi.ts)

export class Job {
  kind: u32 = JOB_NONE;
  phase: u32 = 0;
  src: u32 = 0; // backup: the partition; restore/verify: the image
  dst: u32 = 0; // backup: the image; restore: the target partition; verify: the partition compared, or NONE
  against: bool = false;
  readBack: bool = false; // restore: read the target back and compare it with the image's checks
  metaCompare: bool = false; // restore with readBack: the metadata was written, now it is compared
  differential: bool = false; // restore: read the target first, write only what differs
  mostlyDiffering: bool = false; // differential: the last block compared was mostly different
  prechecking: bool = false; // restore: the first pass over the blocks, checking them, writing nothing
  compareFirst: bool = false; // restore (differential, two-pass): the check pass compares the target too, the write pass writes only what differs (10.2)
  overflowBlock: f64 = -1; // compare-first: the block where the list of differing stretches overflowed (-1: it did not)
  overflowBit: f64 = 0; //   ... that block's first bit, and its cursor position
  overflowWalk: bool = false; // compare-first write pass: walking every block from overflowBlock
  diffIndex: u32 = 0; // compare-first write pass: the next stretch of the list
  lastDiffBlock: f64 = -1; // compare-first: the last block whose table check went into diffHash
  tableBlock: f64 = -1; // compare-first write pass: the block whose table is in io's table area
  diffHash: Cbh = new Cbh(); // compare-first: the index and table check of each block the write pass reads
  diffCheck: u64 = 0; // ... as the check pass took it
  metaDiffering: f64 = 0; // compare-first: metadata chunks that differ
  pendingBlock: f64 = -1; // compare-first check pass: the block waiting in its buffer to be compared with the next (-1: none),
  pendingClusters: u32 = 0; //   its cluster count, buffer, cursor position, table check and first cluster in image order
  pendingData: usize = 0;
  pendingRunsFrom: f64 = 0;
  pendingCheck: u64 = 0;
  pendingFirst: f64 = 0;
  onePass: bool = false; // restore: read the image once, front to back (from a stream), boot sector held to the end
  imageFlags: u32 = 0; // restore/verify: the header's Flags
  created: f64 = 0; // restore/verify: the header's CreatedSec (its name: buf.headerName)
  unreadable: f64 = 0; // restore/verify: clusters the image records as unreadable at backup time
  targetBytesRead: f64 = 0; // restore: bytes read from the target to compare (not the read-back)
  targetBytesWritten: f64 = 0;
  prevRunsFrom: f64 = 0; // readBack: the block written before the current one (bitmap position,
  prevClusters: u32 = 0; //   cluster count, 0 = none pending, and its data in its block buffer)
  prevData: usize = 0;
  sectorBytes: u32 = 0; // partition sector size
  partSectors: f64 = 0;
  imageSectors: f64 = 0; // restore/verify: the image device's length in 512-byte sectors
  geo: ImageGeometry = new ImageGeometry();
  cursor: BitmapCursor = new BitmapCursor();
  scan: ScanState = new ScanState();
  sectorsPerCluster: u32 = 0;
  dataStart: f64 = 0; // partition sector of cluster `firstCluster`
  firstCluster: u32 = 2;
  metaSectors: u32 = 0;
  fsType: u32 = 0;
  tailStart: f64 = 0; // section 4: the metadata's tail, after the head's metaSectors (0 sectors: none)
  tailSectors: f64 = 0;
  ghostStart: f64 = 0; // the image's own extent in the partition (section 12), 0 sectors: none
  ghostSectors: f64 = 0;
  ghostFirst: f64 = 0; // ... as clusters [ghostFirst, ghostEnd)
  ghostEnd: f64 = 0;
  // progress of the current section
  sectionPos: f64 = 0; // bytes or bits done in the current phase
  block: f64 = 0; // next block index
  clustersDone: f64 = 0;
  bytesDone: f64 = 0;
  bytesTotal: f64 = 0;
  bitmapHash: Cbh = new Cbh();
  metaHash: Cbh = new Cbh();
  chainHash: Cbh = new Cbh();
  chainFill: u32 = 0; // bytes waiting in buf.chain
  headerCheck: u64 = 0;
  bitmapCheck: u64 = 0;
  metaCheck: u64 = 0;
  chainCheck: u64 = 0; // from the commit record (restore/verify)
  chainComputed: u64 = 0; // one-pass restore: the chain of the blocks written, until the commit record is read
  mismatches: f64 = 0; // verify --against: clusters that differ
  firstMismatch: f64 = -1;
  metaMismatch: bool = false;
  bitmapSet: f64 = 0;

  // bits the bitmap never sets: clusters 0 and 1 on FAT and exFAT, the head's clusters on NTFS
  reservedBits(): f64 {
    return this.firstCluster == 0 ? <f64>(this.metaSectors / this.sectorsPerCluster) : <f64>this.firstCluster;
  }
  // partition LBA of metadata sector i (the head [0, metaSectors), then the tail)
  metaLba(i: f64): f64 {
    return i < <f64>this.metaSectors ? i : this.tailStart + (i - <f64>this.metaSectors);
  }
  clusterLba(bit: f64): f64 {
    return this.dataStart + (bit - <f64>this.firstCluster) * <f64>this.sectorsPerCluster;
  }
}

export const job = new Job();

export function imageRead(dev: u32, byteOffset: f64, byteCount: u32, ptr: usize): i32 {
  const lba = byteOffset / IMG_SECTOR,
    n = byteCount / IMG_SECTOR;
  const r = readSectors(dev, lba, n, ptr);
  return r < 0 ? fail(E.E_DEVICE, r, dev, lba, n) : 0;
}

export function imageWrite(dev: u32, byteOffset: f64, byteCount: u32, ptr: usize): i32 {
  const lba = byteOffset / IMG_SECTOR,
    n = byteCount / IMG_SECTOR;
  const r = devWrite(dev, lba, n, ptr);
  return r < 0 ? fail(E.E_DEVICE, r, dev, lba, n) : 0;
}

export function partRead(dev: u32, lba: f64, sectorCount: u32, ptr: usize): i32 {
  const r = readSectors(dev, lba, sectorCount, ptr);
  return r < 0 ? fail(E.E_DEVICE, r, dev, lba, sectorCount) : 0;
}

// Metadata sectors [first, first + sectors) (section 4: the head, then the tail) into ptr.
export function metaRead(dev: u32, first: f64, sectors: u32, ptr: usize): i32 {
  const head = <f64>job.metaSectors;
  let done: u32 = 0;
  while (done < sectors) {
    const i = first + <f64>done;
    const n = i < head ? <u32>Math.min(<f64>(sectors - done), head - i) : sectors - done;
    const r = partRead(dev, job.metaLba(i), n, ptr + <usize>done * job.sectorBytes);
    if (r < 0) return r;
    done += n;
  }
  return 0;
}

export function partWrite(dev: u32, lba: f64, sectorCount: u32, ptr: usize): i32 {
  const r = devWrite(dev, lba, sectorCount, ptr);
  return r < 0 ? fail(E.E_DEVICE, r, dev, lba, sectorCount) : 0;
}

// Appends a block table's check to the chain (hashed 64 bytes at a time).
export function chainAdd(check: u64): void {
  st64(buf.chain + job.chainFill, check);
  job.chainFill += 8;
  if (job.chainFill == 64) {
    job.chainHash.update(buf.chain, 64);
    job.chainFill = 0;
  }
}

export function chainFinish(): u64 {
  if (job.chainFill > 0) {
    memory.fill(buf.chain + job.chainFill, 0, 64 - job.chainFill);
    job.chainHash.update(buf.chain, 64);
    job.chainFill = 0;
  }
  return job.chainHash.digest64();
}

// Section 2: builds the header in buf.scratch from the job. name: bytes at namePtr.
export function encodeHeader(
  namePtr: usize,
  nameLen: u32,
  partType: u32,
  guidPtr: usize,
  partStart: f64,
  created: f64,
  flags: u32,
): void {
  const h = buf.scratch,
    g = job.geo;
  memory.fill(h, 0, IMG_SECTOR);
  st64(h + H.H_Magic, H.IMG_MAGIC);
  st32(h + H.H_HeaderLength, IMG_SECTOR);
  store<u16>(h + H.H_VersionMajor, <u16>H.VERSION_MAJOR);
  store<u16>(h + H.H_VersionMinor, <u16>H.VERSION_MINOR);
  memory.copy(h + H.H_Name, namePtr, min(nameLen, H.NAME_BYTES));
  st64(h + H.H_PartClusters, <u64>(g.bitmapBits - <f64>job.firstCluster));
  st64(h + H.H_ImageClusters, <u64>g.imageClusters);
  st64(h + H.H_BitmapBits, <u64>g.bitmapBits);
  st32(h + H.H_ClusterBytes, g.clusterBytes);
  st32(h + H.H_SectorBytes, job.sectorBytes);
  st32(h + H.H_PartType, partType);
  st32(h + H.H_FsType, job.fsType);
  memory.copy(h + H.H_PartTypeGuid, guidPtr, 16);
  st64(h + H.H_PartStart, <u64>partStart);
  st64(h + H.H_PartSectors, <u64>job.partSectors);
  st64(h + H.H_CreatedSec, <u64>created);
  st64(h + H.H_DataStart, <u64>job.dataStart);
  st32(h + H.H_FirstCluster, job.firstCluster);
  st32(h + H.H_ClustersPerBlock, g.clustersPerBlock);
  st32(h + H.H_Flags, flags);
  st32(h + H.H_MetaSectors, job.metaSectors);
  st64(h + H.H_BitmapOffset, <u64>g.bitmapOffset);
  st64(h + H.H_BitmapLength, <u64>g.bitmapLength);
  st64(h + H.H_MetaOffset, <u64>g.metaOffset);
  st64(h + H.H_MetaLength, <u64>g.metaBytes);
  st64(h + H.H_DataOffset, <u64>g.dataOffset);
  st64(h + H.H_BlockCount, <u64>g.blockCount);
  st64(h + H.H_CommitOffset, <u64>g.commitOffset);
  st64(h + H.H_BitmapCheck, job.bitmapCheck);
  st64(h + H.H_MetaCheck, job.metaCheck);
  st64(h + H.H_GhostStart, <u64>job.ghostStart);
  st64(h + H.H_GhostSectors, <u64>job.ghostSectors);
  st64(h + H.H_TailStart, <u64>job.tailStart);
  st64(h + H.H_TailSectors, <u64>job.tailSectors);
  job.headerCheck = recordCheck(h, IMG_SECTOR, H.H_HeaderCheck, H.SEED_HEADER);
  st64(h + H.H_HeaderCheck, job.headerCheck);
}

// E_IMG_HEADER_FIELD names the field with HF_* (abi.ts)

// Section 2 rules: reads and validates the header from image offset 0 into the job.
export function decodeHeader(): i32 {
  if (job.imageSectors < 1) return fail(E.E_IMG_TRUNCATED, job.imageSectors * IMG_SECTOR, IMG_SECTOR);
  let r = imageRead(job.src, 0, IMG_SECTOR, buf.scratch);
  if (r < 0) return r;
  const h = buf.scratch;
  if (ld64(h + H.H_Magic) != H.IMG_MAGIC) return fail(E.E_IMG_MAGIC, <f64>ld32(h), <f64>ld32(h + 4));
  const major = <u32>load<u16>(h + H.H_VersionMajor),
    minor = <u32>load<u16>(h + H.H_VersionMinor);
  if (major != H.VERSION_MAJOR) return fail(E.E_IMG_VERSION, major, minor);
  const stored = ld64(h + H.H_HeaderCheck);
  const computed = recordCheck(h, IMG_SECTOR, H.H_HeaderCheck, H.SEED_HEADER);
  if (stored != computed)
    return fail(
      E.E_IMG_HEADER_CHECK,
      <f64>(stored >>> 32),
      <f64>(stored & 0xffffffff),
      <f64>(computed >>> 32),
      <f64>(computed & 0xffffffff),
    );
  job.headerCheck = stored;
  if (ld32(h + H.H_HeaderLength) != IMG_SECTOR)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_HEADER_LENGTH, ld32(h + H.H_HeaderLength), IMG_SECTOR);
  if (!isZero(h + H.H_Reserved, H.H_HeaderCheck - H.H_Reserved)) return fail(E.E_IMG_HEADER_FIELD, A.HF_RESERVED, 1, 0);
  const sectorBytes = ld32(h + H.H_SectorBytes);
  if (!isPow2(sectorBytes) || sectorBytes < 512 || sectorBytes > 4096)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_SECTOR, sectorBytes, 512);
  const clusterBytes = ld32(h + H.H_ClusterBytes);
  if (!isPow2(clusterBytes) || clusterBytes < sectorBytes || clusterBytes > MAX_CLUSTER_BYTES)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_CLUSTER, clusterBytes, sectorBytes);
  const fsType = ld32(h + H.H_FsType);
  const fs = fileSystemOf(fsType);
  if (fs == null) return fail(E.E_IMG_HEADER_FIELD, A.HF_FSTYPE, fsType, A.FS_NTFS);
  const maxSpc = fs.maxSectorsPerCluster();
  if (clusterBytes / sectorBytes > maxSpc)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_CLUSTER, clusterBytes, sectorBytes * maxSpc);
  const firstCluster = ld32(h + H.H_FirstCluster);
  if (firstCluster != fs.firstCluster())
    return fail(E.E_IMG_HEADER_FIELD, A.HF_FIRST_CLUSTER, firstCluster, fs.firstCluster());
  const partClusters = <f64>ld64(h + H.H_PartClusters),
    bits = <f64>ld64(h + H.H_BitmapBits);
  if (bits != partClusters + <f64>firstCluster || bits > 0x10000000)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_BITS, bits, partClusters + <f64>firstCluster);
  const imageClusters = <f64>ld64(h + H.H_ImageClusters);
  if (imageClusters > partClusters) return fail(E.E_IMG_HEADER_FIELD, A.HF_IMAGE_CLUSTERS, imageClusters, partClusters);
  const partSectors = <f64>ld64(h + H.H_PartSectors);
  const dataStart = <f64>ld64(h + H.H_DataStart);
  const spc = clusterBytes / sectorBytes;
  if (dataStart + partClusters * <f64>spc > partSectors)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_DATA_START, dataStart + partClusters * <f64>spc, partSectors);
  const metaSectors = ld32(h + H.H_MetaSectors);
  const tailStart = <f64>ld64(h + H.H_TailStart),
    tailSectors = <f64>ld64(h + H.H_TailSectors);
  // the head has the file system's shape (FAT and exFAT: everything before the clusters; NTFS:
  // the boot file's whole clusters, which the bitmap leaves out, checkBitmapStep); either way it
  // holds sector 0, the boot sector, which a restore writes last
  if (!fs.headValid(metaSectors, dataStart, spc, partClusters))
    return fail(E.E_IMG_HEADER_FIELD, A.HF_META, metaSectors, dataStart);
  const tailOk =
    tailSectors == 0
      ? tailStart == 0
      : tailSectors <= 2048 &&
        tailStart >= dataStart + partClusters * <f64>spc &&
        tailStart + tailSectors <= partSectors;
  if (!tailOk) return fail(E.E_IMG_HEADER_FIELD, A.HF_TAIL, tailStart, tailSectors);
  const metaBytes = (<f64>metaSectors + tailSectors) * <f64>sectorBytes;
  if (<f64>ld64(h + H.H_MetaLength) != metaBytes)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_META, <f64>ld64(h + H.H_MetaLength), metaBytes);
  const g = job.geo;
  g.compute(clusterBytes, bits, imageClusters, metaBytes, BLOCK_DATA_MAX);
  if (ld32(h + H.H_ClustersPerBlock) != g.clustersPerBlock)
    return fail(E.E_IMG_HEADER_FIELD, A.HF_PER_BLOCK, ld32(h + H.H_ClustersPerBlock), g.clustersPerBlock);
  if (
    <f64>ld64(h + H.H_BitmapOffset) != g.bitmapOffset ||
    <f64>ld64(h + H.H_BitmapLength) != g.bitmapLength ||
    <f64>ld64(h + H.H_MetaOffset) != g.metaOffset ||
    <f64>ld64(h + H.H_DataOffset) != g.dataOffset ||
    <f64>ld64(h + H.H_BlockCount) != g.blockCount ||
    <f64>ld64(h + H.H_CommitOffset) != g.commitOffset
  )
    return fail(E.E_IMG_HEADER_FIELD, A.HF_OFFSETS, <f64>ld64(h + H.H_CommitOffset), g.commitOffset);
  if (job.imageSectors * IMG_SECTOR < g.imageLength())
    return fail(E.E_IMG_TRUNCATED, job.imageSectors * IMG_SECTOR, g.imageLength());
  const ghostStart = <f64>ld64(h + H.H_GhostStart),
    ghostSectors = <f64>ld64(h + H.H_GhostSectors);
  r = ghostExtent(ghostStart, ghostSectors, dataStart, spc, partClusters, firstCluster, <f64>metaSectors);
  if (r < 0) return fail(E.E_IMG_HEADER_FIELD, A.HF_GHOST, ghostStart, ghostSectors);
  job.sectorBytes = sectorBytes;
  job.partSectors = partSectors;
  job.sectorsPerCluster = spc;
  job.dataStart = dataStart;
  job.firstCluster = firstCluster;
  job.metaSectors = metaSectors;
  job.tailStart = tailStart;
  job.tailSectors = tailSectors;
  job.fsType = fsType;
  job.bitmapCheck = ld64(h + H.H_BitmapCheck);
  job.imageFlags = ld32(h + H.H_Flags);
  job.metaCheck = ld64(h + H.H_MetaCheck);
  job.created = <f64>ld64(h + H.H_CreatedSec);
  memory.copy(buf.headerName, h + H.H_Name, H.NAME_BYTES); // the restore mark copies the name
  setResult(A.SLOT_IMG_GHOST_START, ghostStart);
  setResult(A.SLOT_IMG_GHOST_SECTORS, ghostSectors);
  setResult(A.SLOT_IMG_VERSION_MINOR, minor);
  // results the host shows as the image's information
  setResult(A.SLOT_IMG_PART_CLUSTERS, partClusters);
  setResult(A.SLOT_IMG_IMAGE_CLUSTERS, imageClusters);
  setResult(A.SLOT_IMG_BITMAP_BITS, bits);
  setResult(A.SLOT_IMG_CLUSTER_BYTES, clusterBytes);
  setResult(A.SLOT_IMG_SECTOR_BYTES, sectorBytes);
  setResult(A.SLOT_IMG_PART_TYPE, ld32(h + H.H_PartType));
  setResult(A.SLOT_IMG_FS_TYPE, fsType);
  setResult(A.SLOT_IMG_PART_START, <f64>ld64(h + H.H_PartStart));
  setResult(A.SLOT_IMG_PART_SECTORS, partSectors);
  setResult(A.SLOT_IMG_CREATED, job.created);
  setResult(A.SLOT_IMG_LENGTH, g.imageLength());
  setResult(A.SLOT_IMG_BLOCKS, g.blockCount);
  setResult(A.SLOT_IMG_FLAGS, ld32(h + H.H_Flags));
  setResult(A.SLOT_IMG_DATA_START, dataStart);
  setResult(A.SLOT_IMG_META_SECTORS, metaSectors);
  memory.copy(buf.result + ((<usize>A.SLOT_IMG_NAME) << 3), h + H.H_Name, H.NAME_BYTES);
  memory.copy(buf.result + ((<usize>A.SLOT_IMG_GUID) << 3), h + H.H_PartTypeGuid, H.GUID_BYTES);
  return 0;
}

// Section 12 (2.1 rule 11): an image's own extent inside the partition it backs up must be whole
// clusters of the data area, clear of the metadata head, or absent (start and sectors 0). Sets
// job.ghost*, the extent as clusters [ghostFirst, ghostEnd) numbered as the bitmap numbers them:
// from firstCluster at dataStart (FAT, exFAT: 2 at the first data sector; NTFS: 0 at sector 0,
// where the head, the boot file's clusters, is not data). -1 when it is neither.
export function ghostExtent(
  start: f64,
  sectors: f64,
  dataStart: f64,
  spc: u32,
  partClusters: f64,
  firstCluster: u32,
  metaSectors: f64,
): i32 {
  job.ghostStart = 0;
  job.ghostSectors = 0;
  job.ghostFirst = 0;
  job.ghostEnd = 0;
  if (sectors == 0) return start == 0 ? 0 : -1;
  const rel = start - dataStart,
    s = <f64>spc;
  if (start < metaSectors || rel < 0 || rel % s != 0 || sectors % s != 0 || rel + sectors > partClusters * s) return -1;
  job.ghostStart = start;
  job.ghostSectors = sectors;
  job.ghostFirst = rel / s + <f64>firstCluster;
  job.ghostEnd = job.ghostFirst + sectors / s;
  return 0;
}

// Section 3: streams the bitmap section through its check, counts its bits, and makes sure
// that no bit past the bitmap's end is set. One window per call; returns 1 when done.
export function checkBitmapStep(): i32 {
  const g = job.geo;
  if (job.sectionPos == 0) {
    job.bitmapHash.reset(H.SEED_BITMAP);
    job.bitmapSet = 0;
  }
  const left = g.bitmapLength - job.sectionPos;
  const n = <u32>Math.min(left, <f64>BITMAP_WINDOW_BYTES);
  const r = imageRead(job.src, g.bitmapOffset + job.sectionPos, n, buf.bitmap);
  if (r < 0) return r;
  job.bitmapHash.update(buf.bitmap, n);
  const firstBit = job.sectionPos * 8;
  for (let i: u32 = 0; i < n; i += 8) {
    const w = load<u64>(buf.bitmap + i);
    if (w == 0) continue;
    const wordBit = firstBit + <f64>i * 8;
    if (wordBit + 64 > g.bitmapBits) {
      const keep = g.bitmapBits - wordBit; // bits of this word inside the bitmap
      const outside = keep <= 0 ? w : w & ~(((<u64>1) << (<u64>keep)) - 1);
      if (outside != 0) return fail(E.E_IMG_BITMAP_COUNT, A.BC_PAST_END, wordBit + <f64>ctz(outside));
    }
    if (wordBit < job.reservedBits()) {
      const n = job.reservedBits() - wordBit;
      const low = n >= 64 ? w : w & (((<u64>1) << (<u64>n)) - 1);
      if (low != 0) return fail(E.E_IMG_BITMAP_COUNT, A.BC_RESERVED, wordBit + <f64>ctz(low));
    }
    job.bitmapSet += <f64>popcnt(w);
  }
  job.sectionPos += <f64>n;
  job.bytesDone += <f64>n;
  if (job.sectionPos < g.bitmapLength) return 0;
  const computed = job.bitmapHash.digest64();
  if (computed != job.bitmapCheck)
    return fail(
      E.E_IMG_BITMAP_CHECK,
      <f64>(job.bitmapCheck >>> 32),
      <f64>(job.bitmapCheck & 0xffffffff),
      <f64>(computed >>> 32),
      <f64>(computed & 0xffffffff),
    );
  if (job.bitmapSet != g.imageClusters) return fail(E.E_IMG_BITMAP_COUNT, job.bitmapSet, g.imageClusters);
  return 1;
}

// Section 4 (metadata): streams it through its check, one chunk (metaChunk) per call. A
// restore also keeps each chunk's own check (metaChunkCheck), so that its write pass can
// check each chunk again before writing any of it. Returns 1 when done.
export function checkMetaStep(): i32 {
  const g = job.geo;
  if (job.sectionPos == 0) job.metaHash.reset(H.SEED_META);
  const chunk = job.sectionPos;
  if (chunk < metaChunks()) {
    const n = metaChunkLength(chunk);
    const r = imageRead(job.src, g.metaOffset + metaChunkOffset(chunk), n, buf.io);
    if (r < 0) return r;
    job.metaHash.update(buf.io, n);
    if (job.kind == JOB_RESTORE && chunk < <f64>META_CHUNKS_MAX)
      store<u32>(buf.metaChecks + ((<usize>chunk) << 2), metaChunkCheck(buf.io, n, chunk));
    job.sectionPos += 1;
    job.bytesDone += <f64>n;
  }
  if (job.sectionPos < metaChunks()) return 0;
  const r = checkMetaDigest();
  return r < 0 ? r : 1;
}

// The whole section, streamed through job.metaHash, against the header's MetaCheck.
export function checkMetaDigest(): i32 {
  const computed = job.metaHash.digest64();
  if (computed == job.metaCheck) return 0;
  return fail(
    E.E_IMG_META_CHECK,
    <f64>(job.metaCheck >>> 32),
    <f64>(job.metaCheck & 0xffffffff),
    <f64>(computed >>> 32),
    <f64>(computed & 0xffffffff),
  );
}

// The metadata section in chunks of META_CHUNK_BYTES (the last one shorter), as every pass
// over it cuts them.
export function metaChunks(): f64 {
  return Math.ceil(job.geo.metaBytes / <f64>META_CHUNK_BYTES);
}
export function metaChunkOffset(chunk: f64): f64 {
  return chunk * <f64>META_CHUNK_BYTES;
}
export function metaChunkLength(chunk: f64): u32 {
  return <u32>Math.min(<f64>META_CHUNK_BYTES, job.geo.metaBytes - metaChunkOffset(chunk));
}

// A metadata chunk's own check: CBH-32 of its bytes, seeded with its index.
export function metaChunkCheck(data: usize, n: u32, chunk: f64): u32 {
  return hash32(data, n, <u64>chunk);
}

// Section 5: the commit record must be there, intact, and match the header.
export function checkCommit(): i32 {
  const g = job.geo;
  const r = imageRead(job.src, g.commitOffset, IMG_SECTOR, buf.scratch);
  if (r < 0) return r;
  const c = buf.scratch;
  if (ld64(c + H.C_Magic) != H.COMMIT_MAGIC) return fail(E.E_IMG_COMMIT, A.CW_MAGIC, <f64>ld32(c));
  const stored = ld64(c + H.C_CommitCheck);
  if (stored != recordCheck(c, IMG_SECTOR, H.C_CommitCheck, H.SEED_COMMIT))
    return fail(E.E_IMG_COMMIT, A.CW_CHECK, <f64>(stored & 0xffffffff));
  if (ld64(c + H.C_HeaderCheck) != job.headerCheck) return fail(E.E_IMG_COMMIT, A.CW_HEADER, 0);
  if (<f64>ld64(c + H.C_BlockCount) != g.blockCount)
    return fail(E.E_IMG_COMMIT, A.CW_BLOCKS, <f64>ld64(c + H.C_BlockCount));
  if (<f64>ld64(c + H.C_ImageClusters) != g.imageClusters)
    return fail(E.E_IMG_COMMIT, A.CW_CLUSTERS, <f64>ld64(c + H.C_ImageClusters));
  if (<f64>ld64(c + H.C_ImageLength) != g.imageLength())
    return fail(E.E_IMG_COMMIT, A.CW_LENGTH, <f64>ld64(c + H.C_ImageLength));
  if (!isZero(c + 48, H.C_CommitCheck - 48)) return fail(E.E_IMG_COMMIT, A.CW_RESERVED, 0);
  job.chainCheck = ld64(c + H.C_ChainCheck);
  return 1;
}

export function encodeCommit(chainCheck: u64): void {
  const c = buf.scratch,
    g = job.geo;
  memory.fill(c, 0, IMG_SECTOR);
  st64(c + H.C_Magic, H.COMMIT_MAGIC);
  st64(c + H.C_BlockCount, <u64>g.blockCount);
  st64(c + H.C_ImageClusters, <u64>g.imageClusters);
  st64(c + H.C_HeaderCheck, job.headerCheck);
  st64(c + H.C_ChainCheck, chainCheck);
  st64(c + H.C_ImageLength, <u64>g.imageLength());
  st64(c + H.C_CommitCheck, recordCheck(c, IMG_SECTOR, H.C_CommitCheck, H.SEED_COMMIT));
}

export function publishProgress(): void {
  setResult(A.SLOT_PHASE, job.phase);
  setResult(A.SLOT_BYTES_DONE, job.bytesDone);
  setResult(A.SLOT_BYTES_TOTAL, job.bytesTotal);
  setResult(A.SLOT_CLUSTERS_DONE, job.clustersDone);
  setResult(A.SLOT_BLOCK, job.block);
  setResult(A.SLOT_MISMATCHES, job.mismatches);
  setResult(A.SLOT_FIRST_MISMATCH, job.firstMismatch);
  setResult(A.SLOT_META_MISMATCH, job.metaMismatch ? 1 : 0);
  setResult(A.SLOT_TARGET_BYTES_READ, job.targetBytesRead);
  setResult(A.SLOT_TARGET_BYTES_WRITTEN, job.targetBytesWritten);
}

export function enterPhase(phase: u32): i32 {
  job.phase = phase;
  job.sectionPos = 0;
  return 0;
}

// Section 4: a block table's fields and its check.
export function checkTable(table: usize, k: f64, n: u32, tb: u32): i32 {
  if (ld32(table + H.T_Magic) != H.BLOCK_MAGIC)
    return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_MAGIC, ld32(table + H.T_Magic));
  if (ld32(table + H.T_ClusterCount) != n)
    return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_CLUSTERS, ld32(table + H.T_ClusterCount));
  if (<f64>ld64(table + H.T_BlockIndex) != k)
    return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_INDEX, <f64>ld64(table + H.T_BlockIndex));
  const check = ld64(table + tb - 8);
  if (check != recordCheck(table, tb, tb - 8, H.SEED_TABLE + <u64>k))
    return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_CHECK, <f64>(check & 0xffffffff));
  return 0;
}

// Bytes of a full block (data and table): block k starts k of them after the data section's start.
export function fullBlockBytes(): f64 {
  const g = job.geo;
  return <f64>g.clustersPerBlock * <f64>g.clusterBytes + <f64>tableBytes(g.clustersPerBlock);
}

// Section 4: a run of clusters [start, start + len) read from block k, `index` clusters into it:
// the block's first run must start at its table's FirstBit, and no run may reach into the
// image's own extent (section 12).
export function checkRunPlace(table: usize, k: f64, index: u32, start: f64, len: u32): i32 {
  if (index == 0 && <f64>ld64(table + H.T_FirstBit) != start)
    return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_FIRST, <f64>ld64(table + H.T_FirstBit));
  if (start < job.ghostEnd && start + <f64>len > job.ghostFirst)
    return fail(
      E.E_IMG_GHOST_OVERLAP,
      k,
      Math.max(start, job.ghostFirst),
      job.ghostFirst,
      job.ghostEnd - job.ghostFirst,
    );
  return 0;
}

// Every cluster of that run (its bytes at `data`) against its check in the table, each seeded
// with its own bit. A cluster the image records unreadable (section 5.1) passes, and is counted
// in the unreadable results when `count`.
export function checkRunClusters(
  table: usize,
  k: f64,
  index: u32,
  start: f64,
  len: u32,
  data: usize,
  count: bool,
): i32 {
  const cb = job.geo.clusterBytes;
  for (let i: u32 = 0; i < len; i++) {
    const stored = ld32(table + H.T_Checks + ((index + i) << 2));
    const cluster = data + <usize>i * cb;
    const computed = hash32(cluster, cb, <u64>(start + <f64>i));
    if (stored == computed) continue;
    if (!isUnreadableCluster(job.imageFlags, stored, computed, cluster, cb))
      return fail(E.E_IMG_CLUSTER_CHECK, k, start + <f64>i, stored, computed);
    if (count) noteUnreadable(start + <f64>i);
  }
  return 0;
}

// Counts a cluster the image records as unreadable at backup time (result slots 70..95).
export function noteUnreadable(bit: f64): void {
  const n = job.unreadable;
  if (n == 0) setResult(SLOT_UNREADABLE_FIRST, bit);
  if (n < <f64>UNREADABLE_LISTED) setResult(SLOT_UNREADABLE_LIST + <u32>n, bit);
  job.unreadable = n + 1;
  setResult(SLOT_UNREADABLE_COUNT, job.unreadable);
}
