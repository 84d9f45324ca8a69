// Restore and verify engines (patent figures 3 and 4). Both first check the header, the
// bitmap, the metadata and the commit record; nothing is written before all of them pass.
// A restore then marks the target "restore in progress" (section 10 of docs/image-format.md:
// the mark takes the boot sector's place, so that no file-system driver mounts a half-restored
// volume), reads each block and checks every cluster in it before any of it is written,
// writes (by default) only the clusters that differ from what the target already holds, then
// the metadata the same way, and the boot sector last of all, which clears the mark. Cut off
// anywhere, the same restore run again finishes it, writing only what is still missing.
// Every byte written is checked in the pass that writes it: each block's clusters against its
// table (and the chain of tables against the commit record before the boot sector is
// written), each metadata chunk against the check the check pass kept of it.
// A one-pass restore (RESTORE_ONE_PASS, for an image read from a stream) reads the image once,
// front to back, and writes as it goes, behind the mark: header, bitmap, the mark, the
// metadata (the boot sector held back in memory), the blocks, the commit record, and only
// then, if every check passed, the boot sector (docs/image-format.md, section 10.1).
// Verify does the same without writing; with a partition to compare against, it reads the
// partition and compares every stored cluster and the metadata area with the image's checks.

import * as A from "../abi";
import { NO_DEVICE, RESTORE_FULL, RESTORE_ONE_PASS, RESTORE_READ_BACK } from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { hash32, recordCheck } from "../hash";
import { rewind } from "../image/cursor";
import * as H from "../image/layout";
import { IMG_SECTOR, tableBytes } from "../image/layout";
import { devFlush, ld32, ld64, st64 } from "../io";
import {
  AUX_BYTES,
  BLOCK_DATA_MAX,
  blockBuffer,
  buf,
  META_CHUNK_BYTES,
  META_CHUNKS_MAX,
  META_DIFFERS_BYTES,
  setResult,
} from "../mem";
import { diffs } from "./diff";
import {
  chainAdd,
  chainFinish,
  checkBitmapStep,
  checkCommit,
  checkMetaDigest,
  checkMetaStep,
  decodeHeader,
  imageRead,
  JOB_RESTORE,
  JOB_VERIFY,
  job,
  metaChunkCheck,
  metaChunkLength,
  metaChunkOffset,
  metaChunks,
  metaRead,
  PH_CHECK_BITMAP,
  PH_CHECK_COMMIT,
  PH_CHECK_HEADER,
  PH_CHECK_META,
  PH_DATA,
  PH_DONE,
  PH_META,
  partRead,
  partWrite,
} from "./job";
import {
  isUnreadableCluster,
  SLOT_UNREADABLE_COUNT,
  SLOT_UNREADABLE_FIRST,
  SLOT_UNREADABLE_LIST,
  UNREADABLE_LISTED,
} from "./unreadable";

// restoreBegin flags (index.ts passes them on; host-shim/src/native/core.ts RestoreFlag names the same bits)
export { RESTORE_FULL, RESTORE_ONE_PASS, RESTORE_READ_BACK } from "../abi"; // RestoreFlag

// budget that one step of a section check counts for (the bitmap window or metadata chunk it
// reads is capped by its own size)
const CHECK_STEP_COST: i32 = 65536;

// target: the partition to write (restore) or compare (verify), NO_DEVICE for none.
// flags (restore only), RESTORE_*: READ_BACK: each block's clusters are read back from the target
// and compared with the block's data one block behind the writes (so that the host can let the
// writes of block k complete while block k-1 is read back), and the metadata area after it is
// written. FULL: write every cluster; otherwise read the target first and write only the
// clusters (and metadata sectors) that differ. ONE_PASS: see the top of this file.
export function restoreBegin(
  img: u32,
  imageSectors: f64,
  target: u32,
  targetSectorBytes: u32,
  targetSectors: f64,
  verifyOnly: bool,
  flags: u32,
): i32 {
  const restoring = !verifyOnly;
  job.kind = verifyOnly ? JOB_VERIFY : JOB_RESTORE;
  job.readBack = restoring && (flags & RESTORE_READ_BACK) != 0;
  job.differential = restoring && (flags & RESTORE_FULL) == 0;
  job.onePass = restoring && (flags & RESTORE_ONE_PASS) != 0;
  job.mostlyDiffering = false;
  job.prechecking = restoring && !job.onePass; // a two-pass restore checks every block of the image before it writes anything
  // a differential two-pass restore compares the target while it checks the image (10.2)
  job.compareFirst = job.prechecking && job.differential;
  job.overflowBlock = -1;
  job.overflowWalk = false;
  job.diffIndex = 0;
  job.lastDiffBlock = -1;
  job.tableBlock = -1;
  job.metaDiffering = 0;
  job.pendingBlock = -1;
  job.diffHash.reset(H.SEED_CHAIN);
  diffs.reset();
  memory.fill(buf.metaDiffers, 0, META_DIFFERS_BYTES);
  job.targetBytesRead = 0;
  job.targetBytesWritten = 0;
  job.metaCompare = false;
  job.prevClusters = 0;
  job.src = img;
  job.dst = target;
  job.against = target != NO_DEVICE;
  job.imageSectors = imageSectors;
  job.phase = PH_CHECK_HEADER;
  job.sectionPos = 0;
  job.block = 0;
  job.clustersDone = 0;
  job.bytesDone = 0;
  job.bytesTotal = 0;
  job.mismatches = 0;
  job.firstMismatch = -1;
  job.metaMismatch = false;
  job.unreadable = 0;
  setResult(SLOT_UNREADABLE_FIRST, -1);
  const r = decodeHeader();
  if (r < 0) return r;
  if (job.against) {
    if (targetSectorBytes != job.sectorBytes) return fail(E.E_TARGET_SECTOR, targetSectorBytes, job.sectorBytes);
    if (targetSectors < job.partSectors) return fail(E.E_TARGET_SMALL, targetSectors, job.partSectors);
  }
  const g = job.geo;
  // the write pass checks each metadata chunk against the check kept of it: a bounded table
  if (job.prechecking && metaChunks() > <f64>META_CHUNKS_MAX)
    return fail(E.E_IMG_META_SIZE, g.metaBytes, <f64>META_CHUNKS_MAX * <f64>META_CHUNK_BYTES);
  // passes over the metadata and the clusters: a verify reads the image once (and with a
  // target, the target's metadata too); a restore checks (two-pass only), writes, and with
  // readBack reads the target again
  // (compare-first: the image and the target once each; the write pass's share is added when it
  // starts, from what differed)
  const restorePasses: f64 = job.compareFirst ? 2 : (job.onePass ? 1 : 2) + (job.readBack ? 1 : 0);
  const metaPasses: f64 = verifyOnly ? (job.against ? 2 : 1) : restorePasses;
  const dataPasses: f64 = verifyOnly ? 1 : restorePasses;
  job.bytesTotal = g.bitmapLength + g.metaBytes * metaPasses + g.imageClusters * <f64>g.clusterBytes * dataPasses;
  job.phase = PH_CHECK_BITMAP;
  return 0;
}

export function restoreStep(budget: f64): i32 {
  let spent: f64 = 0;
  while (spent < budget) {
    if (job.phase == PH_DONE) return 1;
    const r = stepPhase(job.phase);
    if (r < 0) return r;
    spent += <f64>r;
  }
  return job.phase == PH_DONE ? 1 : 0;
}

// One step of the current phase. Returns the bytes it counts for, or a negative code.
//   two-pass: CHECK_BITMAP, CHECK_META, CHECK_COMMIT, DATA (checking), the mark, DATA (writing),
//             META (writing), [META (comparing)], DONE
//   one-pass: CHECK_BITMAP, the mark, META (writing, boot sector held), DATA (writing),
//             CHECK_COMMIT, the boot sector, [META (comparing)], DONE
function stepPhase(phase: u32): i32 {
  let r: i32;
  if (phase == PH_CHECK_BITMAP) {
    r = checkBitmapStep();
    if (r == 1) r = job.onePass ? startOnePassMeta() : enterPhase(PH_CHECK_META);
    return r < 0 ? r : CHECK_STEP_COST;
  }
  if (phase == PH_CHECK_META) {
    const chunk = job.sectionPos;
    r = checkMetaStep();
    if (r >= 0 && job.compareFirst && chunk < metaChunks()) {
      const c = compareMetaChunkWithTarget(chunk);
      if (c < 0) return c;
    }
    if (r == 1) r = enterPhase(PH_CHECK_COMMIT);
    return r < 0 ? r : CHECK_STEP_COST;
  }
  if (phase == PH_CHECK_COMMIT) {
    r = job.onePass ? finishOnePass() : checkCommitThenData();
    return r < 0 ? r : <i32>IMG_SECTOR;
  }
  if (phase == PH_DATA) return job.compareFirst && !job.prechecking ? diffWriteStep() : dataStep();
  if (phase == PH_META) return job.onePass && !job.metaCompare ? onePassMetaStep() : metaStep();
  return fail(E.E_STATE, phase);
}

function enterPhase(phase: u32): i32 {
  job.phase = phase;
  job.sectionPos = 0;
  return 0;
}

function checkCommitThenData(): i32 {
  const r = checkCommit();
  return r < 0 ? r : startData();
}

function startData(): i32 {
  const g = job.geo;
  enterPhase(PH_DATA);
  job.block = 0;
  job.clustersDone = 0;
  job.cursor.begin(job.src, g.bitmapOffset, g.bitmapBits);
  job.chainHash.reset(H.SEED_CHAIN);
  job.chainFill = 0;
  return g.blockCount == 0 ? finishData() : 0;
}

// After the last block. Two-pass: the chain of block tables must be the commit record's,
// then either the mark and the write pass (after the check pass) or the metadata (after the
// write pass: so a block swapped between the passes, table and all, is caught here, before the
// boot sector is written). One-pass: the commit record comes next in the image.
function finishData(): i32 {
  if (job.readBack && job.prevClusters > 0) {
    // (never during the check pass: nothing was written)
    const r = readBackBlock();
    if (r < 0) return r;
  }
  if (job.compareFirst && !job.prechecking) return finishDiffWrite();
  const chain = chainFinish();
  if (job.onePass) {
    job.chainComputed = chain;
    return enterPhase(PH_CHECK_COMMIT);
  }
  let r = checkChain(chain);
  if (r < 0) return r;
  if (job.prechecking) {
    // every block checked: now mark the target, and go over the blocks again to write them
    job.prechecking = false;
    if (job.compareFirst) return startDiffWrite();
    r = writeMark();
    return r < 0 ? r : startData();
  }
  if (job.kind == JOB_RESTORE) return enterPhase(PH_META);
  return job.against ? startMetaCompare() : enterPhase(PH_DONE);
}

function checkChain(chain: u64): i32 {
  if (chain == job.chainCheck) return 0;
  return fail(E.E_IMG_CHAIN, <f64>(job.chainCheck & 0xffffffff), <f64>(chain & 0xffffffff));
}

// The target's metadata area, read and put through the metadata check (verify --against, the
// read-back of a restore).
function startMetaCompare(): i32 {
  job.metaCompare = true;
  return enterPhase(PH_META);
}

// One-pass: the bitmap checked, the target is marked before the first write of the restore.
function startOnePassMeta(): i32 {
  const r = writeMark();
  return r < 0 ? r : enterPhase(PH_META);
}

// One-pass: the next metadata chunk, front to back, through the metadata check and onto the
// target at once, except the target's sector 0 (the boot sector), which is kept in memory for
// the very end. After the last chunk the section's check must match before any block is read.
function onePassMetaStep(): i32 {
  const chunk = job.sectionPos,
    ss = job.sectorBytes;
  if (chunk == 0) job.metaHash.reset(H.SEED_META);
  const n = metaChunkLength(chunk),
    offset = metaChunkOffset(chunk);
  let r = imageRead(job.src, job.geo.metaOffset + offset, n, buf.io);
  if (r < 0) return r;
  job.metaHash.update(buf.io, n);
  if (chunk == 0) {
    memory.copy(buf.bootSector, buf.io, ss);
    r = writeMetaSectors(1, n / ss - 1, buf.io + ss);
  } else r = writeMetaSectors(offset / ss, n / ss, buf.io);
  if (r < 0) return r;
  job.sectionPos += 1;
  job.bytesDone += <f64>n;
  if (job.sectionPos < metaChunks()) return <i32>n;
  r = checkMetaDigest();
  if (r >= 0) r = startData();
  return r < 0 ? r : <i32>n;
}

// One-pass, after the last block: the commit record (the image's last sector) must check and
// name the chain of the blocks written; only then the boot sector goes over the mark.
function finishOnePass(): i32 {
  let r = checkCommit();
  if (r >= 0) r = checkChain(job.chainComputed);
  if (r >= 0) r = writeBootSector(buf.bootSector);
  if (r < 0) return r;
  return job.readBack ? startMetaCompare() : enterPhase(PH_DONE);
}

// One block: read it, check its table and every cluster, then write or compare its runs.
function dataStep(): i32 {
  const g = job.geo,
    cb = g.clusterBytes;
  const n = g.blockClusters(job.block);
  const tb = tableBytes(n);
  const bytes = n * cb + tb;
  const io = blockBuffer(job.block);
  const table = io + <usize>n * cb;
  let r = imageRead(job.src, g.dataOffset + job.sectionPos, bytes, io);
  if (r < 0) return r;
  const k = job.block;
  r = checkTable(table, k, n, tb);
  if (r < 0) return r;
  const check = ld64(table + tb - 8);
  const runsFrom = job.cursor.pos;
  // pass 1: every cluster against its check, each seeded with its own bitmap bit
  let filled: u32 = 0;
  while (filled < n) {
    const len = job.cursor.nextRun(n - filled);
    if (len < 0) return len;
    if (len == 0) return fail(E.E_IMG_BITMAP_COUNT, job.clustersDone + filled, g.imageClusters);
    const start = job.cursor.runStart;
    if (filled == 0 && <f64>ld64(table + H.T_FirstBit) != start)
      return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_FIRST, <f64>ld64(table + H.T_FirstBit));
    if (start < job.ghostEnd && start + <f64>len > job.ghostFirst) {
      // section 12: never into the image's own extent
      return fail(
        E.E_IMG_GHOST_OVERLAP,
        k,
        Math.max(start, job.ghostFirst),
        job.ghostFirst,
        job.ghostEnd - job.ghostFirst,
      );
    }
    for (let i: u32 = 0; i < <u32>len; i++) {
      const stored = ld32(table + H.T_Checks + ((filled + i) << 2));
      const data = io + <usize>(filled + i) * cb;
      const computed = hash32(data, cb, <u64>(start + <f64>i));
      if (stored != computed) {
        if (!isUnreadableCluster(job.imageFlags, stored, computed, data, cb))
          return fail(E.E_IMG_CLUSTER_CHECK, k, start + <f64>i, stored, computed);
        // unreadable at backup time: zeros go back (section 5.1), counted in the pass that sees every block
        if (job.compareFirst == job.prechecking) noteUnreadable(start + <f64>i);
      }
    }
    filled += <u32>len;
  }
  // (compare-first: the check pass compares the block with the target; the write pass, walking
  // every block after the list overflowed, takes the block into diffHash instead)
  if (job.compareFirst && !job.prechecking) diffNote(k, check);
  else chainAdd(check);
  if (job.compareFirst && job.prechecking) {
    r = comparePaired(k, n, io, runsFrom, check);
    if (r < 0) return r;
  }
  // pass 2: the same runs again, to write or compare them
  if ((job.kind == JOB_RESTORE || job.against) && !job.prechecking) {
    const after = job.cursor.pos;
    const writtenBefore = job.targetBytesWritten;
    const compare = job.differential && compareThisBlock();
    rewind(job.cursor, runsFrom);
    filled = 0;
    while (filled < n) {
      const got = job.cursor.nextRun(n - filled);
      if (got < 0) return got;
      if (got == 0) return fail(E.E_IMG_BITMAP_COUNT, job.clustersDone + filled, g.imageClusters);
      const len = <u32>got;
      const start = job.cursor.runStart;
      if (filled == 0 && <f64>ld64(table + H.T_FirstBit) != start)
        return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_FIRST, <f64>ld64(table + H.T_FirstBit));
      if (start < job.ghostEnd && start + <f64>len > job.ghostFirst) {
        // section 12: never into the image's own extent
        return fail(
          E.E_IMG_GHOST_OVERLAP,
          k,
          Math.max(start, job.ghostFirst),
          job.ghostFirst,
          job.ghostEnd - job.ghostFirst,
        );
      }
      r =
        job.kind != JOB_RESTORE
          ? compareRun(start, len, table + H.T_Checks + (filled << 2))
          : compare
            ? writeDiffering(start, len, io + <usize>filled * cb)
            : writeClusters(start, len, io + <usize>filled * cb);
      if (r < 0) return r;
      filled += len;
    }
    rewind(job.cursor, after);
    if (compare) job.mostlyDiffering = job.targetBytesWritten - writtenBefore > (<f64>n * cb) / 2;
  }
  if (job.readBack && !job.prechecking) {
    // block k's writes may still be in flight: read back block k-1, whose writes came one block earlier
    if (job.prevClusters > 0) {
      r = readBackBlock();
      if (r < 0) return r;
    }
    job.prevRunsFrom = runsFrom;
    job.prevClusters = n;
    job.prevData = io;
  }
  job.sectionPos += <f64>bytes;
  job.block += 1;
  job.clustersDone += <f64>n;
  job.bytesDone += <f64>n * cb;
  if (job.block >= g.blockCount) {
    r = finishData();
    if (r < 0) return r;
  }
  return <i32>bytes;
}

// Reads back the clusters of the block before (its runs from the bitmap again) and compares
// them byte for byte with that block's data, still in its buffer (the next read into that
// buffer comes with the block after this one). Counts the clusters that differ.
function readBackBlock(): i32 {
  const after = job.cursor.pos;
  rewind(job.cursor, job.prevRunsFrom);
  const n = job.prevClusters;
  let filled: u32 = 0;
  while (filled < n) {
    const got = job.cursor.nextRun(n - filled);
    if (got < 0) return got;
    if (got == 0) return fail(E.E_IMG_BITMAP_COUNT, job.clustersDone + filled, job.geo.imageClusters);
    const r = readBackRun(job.cursor.runStart, <u32>got, job.prevData + <usize>filled * job.geo.clusterBytes);
    if (r < 0) return r;
    filled += <u32>got;
  }
  rewind(job.cursor, after);
  job.prevClusters = 0;
  job.bytesDone += <f64>n * job.geo.clusterBytes;
  return 0;
}

// Differential restore, block by block: compare (read the target first) unless the last block
// compared was mostly different (a blank or wiped target), in which case write this one whole,
// and compare again every 16th block to notice when the target starts matching (the part an
// interrupted restore had already done). Whole or not, every block is read back after.
function compareThisBlock(): bool {
  return !job.mostlyDiffering || (<u64>job.block & 15) == 0;
}

// Target sectors from `data`, counted as written.
function writeSectors(lba: f64, sectors: u32, data: usize): i32 {
  const r = partWrite(job.dst, lba, sectors, data);
  if (r >= 0) job.targetBytesWritten += <f64>sectors * job.sectorBytes;
  return r;
}

function writeClusters(start: f64, len: u32, data: usize): i32 {
  return writeSectors(job.clusterLba(start), len * job.sectorsPerCluster, data);
}

// Writes `units` units of `unitSectors` sectors from `data` at `lba`, only the stretches in
// which `data` differs from `current` (what the target holds), each stretch in one write.
// firstBit: the first unit's cluster (data), or -1 (metadata sectors). Compare-first: each stretch
// is read back as soon as it is written (readBack).
function writeDifferingUnits(lba: f64, units: u32, unitSectors: u32, current: usize, data: usize, firstBit: f64): i32 {
  const unitBytes = <usize>unitSectors * job.sectorBytes;
  let i: u32 = 0;
  while (i < units) {
    if (equalBytes(current + <usize>i * unitBytes, data + <usize>i * unitBytes, unitBytes)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < units && !equalBytes(current + <usize>j * unitBytes, data + <usize>j * unitBytes, unitBytes)) j++;
    const at = lba + <f64>i * <f64>unitSectors,
      bytes = data + <usize>i * unitBytes;
    let r = writeSectors(at, (j - i) * unitSectors, bytes);
    if (r >= 0 && readBackAtOnce())
      r = readBackSectors(at, j - i, unitSectors, bytes, firstBit < 0 ? -1 : firstBit + i);
    if (r < 0) return r;
    i = j;
  }
  return 0;
}

// Reads the next piece of a run of the target (clusters start + done ..., at most what fits in
// buf.aux) into buf.aux. Returns the clusters read, or a negative code.
function readTargetPiece(start: f64, done: u32, len: u32): i32 {
  const n = min(max<u32>(1, AUX_BYTES / job.geo.clusterBytes), len - done);
  const r = partRead(job.dst, job.clusterLba(start + <f64>done), n * job.sectorsPerCluster, buf.aux);
  return r < 0 ? r : <i32>n;
}

// Differential restore: reads the run from the target, a piece at a time, and writes only the
// clusters that differ from the image's, each stretch of differing clusters in one write.
function writeDiffering(start: f64, len: u32, data: usize): i32 {
  const cb = job.geo.clusterBytes;
  for (let done: u32 = 0; done < len; ) {
    const n = readTargetPiece(start, done, len);
    if (n < 0) return n;
    job.targetBytesRead += <f64>n * cb;
    const r = writeDifferingUnits(
      job.clusterLba(start + <f64>done),
      <u32>n,
      job.sectorsPerCluster,
      buf.aux,
      data + <usize>done * cb,
      start + <f64>done,
    );
    if (r < 0) return r;
    done += <u32>n;
  }
  return 0;
}

// Section 10: the "restore in progress" mark, written over the target's first sector before
// anything else (and flushed), so that a half-restored volume is never taken for a FAT volume.
function writeMark(): i32 {
  const ss = job.sectorBytes,
    m = buf.markSector; // (its own: scratch still holds the header a host may be hashing; the read-back reads into aux)
  memory.fill(m, 0, ss);
  st64(m + H.M_Magic, H.MARK_MAGIC);
  store<u16>(m + H.M_Version, 1);
  store<u16>(m + H.M_SectorBytes, <u16>ss);
  st64(m + H.M_HeaderCheck, job.headerCheck);
  st64(m + H.M_Created, <u64>job.created);
  memory.copy(m + H.M_Name, buf.headerName, H.NAME_BYTES);
  st64(m + H.M_MarkCheck, recordCheck(m, 512, H.M_MarkCheck, H.SEED_MARK));
  let r = writeSectors(0, 1, m);
  if (r >= 0) r = flushTarget();
  // with the read-back, the mark too: what protects a half-restored target must be on it (a mark
  // that did not stick fails the restore's verification)
  if (r >= 0 && job.readBack) r = readBackSectors(0, 1, 1, m, -1);
  return r;
}

function flushTarget(): i32 {
  const r = devFlush(job.dst);
  return r < 0 ? fail(E.E_DEVICE, r, job.dst, -1, 0) : 0;
}

// Counts a cluster the image records as unreadable at backup time (result slots 70..95).
function noteUnreadable(bit: f64): void {
  const n = job.unreadable;
  if (n == 0) setResult(SLOT_UNREADABLE_FIRST, bit);
  if (n < <f64>UNREADABLE_LISTED) setResult(SLOT_UNREADABLE_LIST + <u32>n, bit);
  job.unreadable = n + 1;
  setResult(SLOT_UNREADABLE_COUNT, job.unreadable);
}

// Reads a run of the target into buf.aux, a piece at a time, and compares it with `expected`.
function readBackRun(start: f64, len: u32, expected: usize): i32 {
  const cb = job.geo.clusterBytes;
  for (let done: u32 = 0; done < len; ) {
    const n = readTargetPiece(start, done, len);
    if (n < 0) return n;
    for (let i: u32 = 0; i < <u32>n; i++) {
      if (!equalBytes(buf.aux + <usize>i * cb, expected + <usize>(done + i) * cb, cb))
        noteMismatch(start + <f64>(done + i));
    }
    done += <u32>n;
  }
  return 0;
}

function noteMismatch(bit: f64): void {
  if (job.firstMismatch < 0) job.firstMismatch = bit;
  job.mismatches += 1;
}

// n: a multiple of 64 (a cluster: at least 512 bytes). The portable build (no SIMD) compares
// eight u64 words per 64 bytes.
function equalBytes(a: usize, b: usize, n: usize): bool {
  if (ASC_FEATURE_SIMD) {
    for (let i: usize = 0; i < n; i += 64) {
      const d = v128.or(
        v128.or(v128.xor(v128.load(a + i), v128.load(b + i)), v128.xor(v128.load(a + i, 16), v128.load(b + i, 16))),
        v128.or(
          v128.xor(v128.load(a + i, 32), v128.load(b + i, 32)),
          v128.xor(v128.load(a + i, 48), v128.load(b + i, 48)),
        ),
      );
      if (v128.any_true(d)) return false;
    }
  } else {
    for (let i: usize = 0; i < n; i += 64) {
      const p = a + i,
        q = b + i;
      const d =
        (load<u64>(p) ^ load<u64>(q)) |
        (load<u64>(p, 8) ^ load<u64>(q, 8)) |
        ((load<u64>(p, 16) ^ load<u64>(q, 16)) | (load<u64>(p, 24) ^ load<u64>(q, 24))) |
        ((load<u64>(p, 32) ^ load<u64>(q, 32)) | (load<u64>(p, 40) ^ load<u64>(q, 40))) |
        ((load<u64>(p, 48) ^ load<u64>(q, 48)) | (load<u64>(p, 56) ^ load<u64>(q, 56)));
      if (d != 0) return false;
    }
  }
  return true;
}

// Reads a run of the partition compared against and checks each cluster with the stored checks.
function compareRun(start: f64, len: u32, checks: usize): i32 {
  const cb = job.geo.clusterBytes;
  for (let done: u32 = 0; done < len; ) {
    const n = readTargetPiece(start, done, len);
    if (n < 0) return n;
    for (let i: u32 = 0; i < <u32>n; i++) {
      const bit = start + <f64>(done + i);
      const data = buf.aux + <usize>i * cb;
      const stored = ld32(checks + ((done + i) << 2)),
        computed = hash32(data, cb, <u64>bit);
      // a cluster recorded unreadable matches a target that holds the zeros restored for it
      if (stored != computed && !isUnreadableCluster(job.imageFlags, stored, computed, data, cb)) noteMismatch(bit);
    }
    done += <u32>n;
  }
  return 0;
}

// Two-pass restore: metadata chunks back to the target, chunk 0 last, and within it the first
// sector (the boot sector, over the mark) last of all, after a flush; each chunk checked
// against the check the check pass kept of it before any of it is written. Differential: only
// the sectors that differ are written. Verify --against and the read-back: the target's
// metadata area through the metadata check.
function metaStep(): i32 {
  const chunks = metaChunks();
  const index = job.sectionPos; // chunks done
  // restore order: 1, 2, ..., last, then 0; compare order: 0, 1, ...
  const writing = job.kind == JOB_RESTORE && !job.metaCompare;
  const c = writing ? (index + 1 < chunks ? index + 1 : 0) : index;
  const n = metaChunkLength(c);
  // compare-first: only the chunks that differed, and chunk 0 (the mark is over its boot sector);
  // what is written is read back as soon as it is (writeDifferingUnits)
  const skip = writing && job.compareFirst && c != 0 && !metaChunkDiffers(c);
  const r = skip ? 0 : writing ? writeMetaChunk(c, n) : compareMetaChunk(c, n);
  if (r < 0) return r;
  job.sectionPos += 1;
  job.bytesDone += <f64>n;
  if (job.sectionPos < chunks) return <i32>n;
  if (writing && job.readBack && !job.compareFirst) {
    startMetaCompare();
    return <i32>n;
  } // read the area back
  if (!writing && job.metaHash.digest64() != job.metaCheck) job.metaMismatch = true;
  enterPhase(PH_DONE);
  return <i32>n;
}

// Metadata chunk c (n bytes) from the image to the target, if it is still what the check pass
// checked (the image may have changed since: then nothing of the chunk is written).
function writeMetaChunk(c: f64, n: u32): i32 {
  let r = imageRead(job.src, job.geo.metaOffset + metaChunkOffset(c), n, buf.io);
  if (r >= 0) r = recheckMetaChunk(c, n, buf.io);
  if (r < 0) return r;
  const sectors = n / job.sectorBytes;
  // compare-first, chunk 0 equal to the target's when it was compared: only the boot sector (the
  // mark is over it) goes back
  if (c == 0 && job.compareFirst && !metaChunkDiffers(0)) return writeBootSector(buf.io);
  return c == 0 ? writeFirstChunk(sectors) : writeMetaSectors(metaChunkOffset(c) / job.sectorBytes, sectors, buf.io);
}

function recheckMetaChunk(c: f64, n: u32, data: usize): i32 {
  const stored = load<u32>(buf.metaChecks + ((<usize>c) << 2));
  const computed = metaChunkCheck(data, n, c);
  return stored == computed ? 0 : fail(E.E_IMG_META_CHANGED, c, metaChunkOffset(c), stored, computed);
}

// The target's metadata chunk c (n bytes) through the metadata check (chunks in order from 0).
function compareMetaChunk(c: f64, n: u32): i32 {
  if (c == 0) job.metaHash.reset(H.SEED_META);
  const r = metaRead(job.dst, metaChunkOffset(c) / job.sectorBytes, n / job.sectorBytes, buf.io);
  if (r >= 0) job.metaHash.update(buf.io, n);
  return r;
}

// Chunk 0: its sectors after the first, then the first sector (it replaces the mark).
function writeFirstChunk(sectors: u32): i32 {
  const r = writeMetaSectors(1, sectors - 1, buf.io + job.sectorBytes);
  return r < 0 ? r : writeBootSector(buf.io);
}

// The boot sector over the mark, between two flushes: only then is the restore complete.
function writeBootSector(data: usize): i32 {
  let r = flushTarget();
  if (r >= 0) r = writeSectors(0, 1, data);
  if (r >= 0) r = flushTarget();
  return r >= 0 && readBackAtOnce() ? readBackSectors(0, 1, 1, data, -1) : r;
}

// Metadata sectors [first, first + sectors) (the head, then the tail) from `data`.
function writeMetaSectors(first: f64, sectors: u32, data: usize): i32 {
  const head = <f64>job.metaSectors;
  let done: u32 = 0;
  while (done < sectors) {
    const i = first + <f64>done;
    const n = i < head ? <u32>Math.min(<f64>(sectors - done), head - i) : sectors - done;
    const r = writeMeta(job.metaLba(i), n, data + <usize>done * job.sectorBytes);
    if (r < 0) return r;
    done += n;
  }
  return 0;
}

// Metadata sectors from `data`; differential: read them into io2 first and write only the
// stretches of sectors that differ.
function writeMeta(lba: f64, sectors: u32, data: usize): i32 {
  if (!job.differential) return writeSectors(lba, sectors, data);
  const r = partRead(job.dst, lba, sectors, buf.io2);
  if (r < 0) return r;
  job.targetBytesRead += <f64>sectors * job.sectorBytes;
  return writeDifferingUnits(lba, sectors, 1, buf.io2, data, -1);
}

// ---- compare-first (docs/image-format.md 10.2) ----

// Section 4: a block table's fields and its check.
function checkTable(table: usize, k: f64, n: u32, tb: u32): i32 {
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
function fullBlockBytes(): f64 {
  const g = job.geo;
  return <f64>g.clustersPerBlock * <f64>g.clusterBytes + <f64>tableBytes(g.clustersPerBlock);
}

// The metadata a compare-first restore writes is read back as soon as it is written (the listed
// stretches are read back a batch at a time, writeDiffBatch; the blocks after an overflow one
// block behind, readBackBlock).
function readBackAtOnce(): bool {
  return job.compareFirst && job.readBack && job.phase == PH_META;
}

function metaChunkDiffers(c: f64): bool {
  const i = <u32>c;
  return (load<u8>(buf.metaDiffers + (i >>> 3)) & (1 << (i & 7))) != 0;
}

// Check pass: the target's copy of metadata chunk c read into io2 and compared with the image's,
// still in io (checkMetaStep read it).
function compareMetaChunkWithTarget(c: f64): i32 {
  const n = metaChunkLength(c);
  const r = metaRead(job.dst, metaChunkOffset(c) / job.sectorBytes, n / job.sectorBytes, buf.io2);
  if (r < 0) return r;
  job.targetBytesRead += <f64>n;
  job.bytesDone += <f64>n;
  if (!equalBytes(buf.io, buf.io2, n)) {
    const i = <u32>c;
    const at = buf.metaDiffers + (i >>> 3);
    store<u8>(at, <u8>(<u32>load<u8>(at) | ((<u32>1) << (i & 7))));
    job.metaDiffering += 1;
  }
  return 0;
}

// Takes block k's table check into diffHash, once per block: the check pass for each block the
// write pass will read, the write pass for each block it reads; the two must agree before the
// boot sector is written (an image changed between the passes is caught there).
function diffNote(k: f64, check: u64): void {
  if (job.lastDiffBlock == k) return;
  job.lastDiffBlock = k;
  const d = buf.diffRecord;
  memory.fill(d, 0, 64);
  st64(d, <u64>k);
  st64(d + 8, check);
  job.diffHash.update(d, 64);
}

// Check pass: the blocks are compared with the target two at a time (the even block waits in its
// buffer for the odd one), so that the image and the target are each read 2 MiB at a time: on a
// disk that holds both (a recovery partition, the ghost) that halves the seeks between them.
function comparePaired(k: f64, n: u32, io: usize, runsFrom: f64, check: u64): i32 {
  if (job.pendingBlock < 0 && k + 1 < job.geo.blockCount) {
    job.pendingBlock = k;
    job.pendingClusters = n;
    job.pendingData = io;
    job.pendingRunsFrom = runsFrom;
    job.pendingCheck = check;
    job.pendingFirst = job.clustersDone;
    return 0;
  }
  if (job.pendingBlock >= 0) {
    const r = compareBlockWithTarget(
      job.pendingBlock,
      job.pendingClusters,
      job.pendingData,
      job.pendingRunsFrom,
      job.pendingCheck,
      job.pendingFirst,
    );
    job.pendingBlock = -1;
    if (r < 0) return r;
  }
  return compareBlockWithTarget(k, n, io, runsFrom, check, job.clustersDone);
}

// Check pass: block k (n clusters, checked, in `io`; `first` its first cluster's place in image
// order) compared with the target's clusters, the
// stretches that differ listed. After an overflow the blocks are not compared: the write pass
// takes every one of them.
function compareBlockWithTarget(k: f64, n: u32, io: usize, runsFrom: f64, check: u64, first: f64): i32 {
  if (job.overflowBlock >= 0) {
    diffNote(k, check);
    job.bytesDone += <f64>n * <f64>job.geo.clusterBytes; // (counted as compared: the write pass compares it)
    return 0;
  }
  const g = job.geo,
    cb = g.clusterBytes,
    perBlock = <f64>g.clustersPerBlock;
  const after = job.cursor.pos;
  rewind(job.cursor, runsFrom);
  let filled: u32 = 0;
  while (filled < n) {
    const got = job.cursor.nextRun(n - filled);
    if (got < 0) return got;
    if (got == 0) return fail(E.E_IMG_BITMAP_COUNT, first + <f64>filled, g.imageClusters);
    const start = job.cursor.runStart,
      len = <u32>got;
    for (let done: u32 = 0; done < len; ) {
      const m = readTargetPiece(start, done, len);
      if (m < 0) return m;
      job.targetBytesRead += <f64>m * cb;
      const data = io + <usize>(filled + done) * cb;
      let i: u32 = 0;
      while (i < <u32>m) {
        if (equalBytes(buf.aux + <usize>i * cb, data + <usize>i * cb, cb)) {
          i++;
          continue;
        }
        let j = i + 1;
        while (j < <u32>m && !equalBytes(buf.aux + <usize>j * cb, data + <usize>j * cb, cb)) j++;
        diffNote(k, check);
        if (!diffs.add(first + <f64>(filled + done + i), start + <f64>(done + i), j - i, perBlock)) {
          // no room: the write pass takes every block from this one on
          diffs.dropFrom(k, perBlock);
          job.overflowBlock = k;
          job.overflowBit = runsFrom;
          rewind(job.cursor, after);
          job.bytesDone += <f64>n * cb;
          return 0;
        }
        i = j;
      }
      done += <u32>m;
    }
    filled += len;
  }
  rewind(job.cursor, after);
  job.bytesDone += <f64>n * cb;
  return 0;
}

// After the check pass: nothing differs, nothing is written (not even the mark); else the mark,
// and the write pass over the listed stretches (and the blocks after an overflow).
function startDiffWrite(): i32 {
  job.diffCheck = job.diffHash.digest64();
  job.diffHash.reset(H.SEED_CHAIN);
  job.lastDiffBlock = -1;
  job.tableBlock = -1;
  job.diffIndex = 0;
  job.overflowWalk = false;
  job.mostlyDiffering = false;
  job.prevClusters = 0;
  const g = job.geo;
  const walked = job.overflowBlock < 0 ? 0 : g.imageClusters - job.overflowBlock * <f64>g.clustersPerBlock;
  const passes: f64 = job.readBack ? 2 : 1;
  job.bytesTotal = job.bytesDone + (diffs.clusters + walked) * <f64>g.clusterBytes * passes + g.metaBytes; // (metaStep counts every chunk, written or not)
  if (diffs.count == 0 && job.overflowBlock < 0 && job.metaDiffering == 0) {
    job.bytesTotal = job.bytesDone;
    return enterPhase(PH_DONE); // the target holds what the image holds
  }
  const r = writeMark();
  return r < 0 ? r : enterPhase(PH_DATA);
}

// Write pass: the next listed stretch; then, after an overflow, every block from it on; then the
// metadata.
function diffWriteStep(): i32 {
  if (job.overflowWalk) return dataStep(); // finishData after its last block
  if (job.diffIndex < diffs.count) return writeDiffBatch();
  if (job.overflowBlock < 0) return min(finishDiffWrite(), 0); // (0: the step wrote nothing)
  job.overflowWalk = true;
  job.block = job.overflowBlock;
  job.clustersDone = job.overflowBlock * <f64>job.geo.clustersPerBlock;
  job.sectionPos = job.overflowBlock * fullBlockBytes();
  rewind(job.cursor, job.overflowBit);
  return 0;
}

function finishDiffWrite(): i32 {
  const computed = job.diffHash.digest64();
  if (computed != job.diffCheck)
    return fail(E.E_IMG_CHAIN, <f64>(job.diffCheck & 0xffffffff), <f64>(computed & 0xffffffff));
  return enterPhase(PH_META);
}

// Write pass, one batch: the next listed stretches whose clusters fit in io (1 MiB; one stretch
// always does), each read again from the image with its block's table (kept while stretches of
// one block follow each other, in io2's table area) and every cluster checked against the table;
// then all of them written in order (a merged stretch: only the clusters that differ from the
// target), then, with the read-back, all read back in order. So the image, then the target, are
// each gone over front to back once per batch, on one disk as on two.
function writeDiffBatch(): i32 {
  const cb = job.geo.clusterBytes;
  const first = job.diffIndex;
  let end = first,
    bytes: u32 = 0;
  while (end < diffs.count && (end == first || bytes + diffs.length(end) * cb <= BLOCK_DATA_MAX)) {
    const r = loadStretch(end, buf.io + <usize>bytes);
    if (r < 0) return r;
    bytes += diffs.length(end) * cb;
    end += 1;
  }
  for (let pass = 0; pass < (job.readBack ? 2 : 1); pass++) {
    let at: usize = buf.io;
    for (let i = first; i < end; i++) {
      const r = stretchRuns(i, at, pass == 1);
      if (r < 0) return r;
      at += <usize>diffs.length(i) * cb;
    }
  }
  job.diffIndex = end;
  job.bytesDone += <f64>bytes * (job.readBack ? 2 : 1);
  return <i32>bytes;
}

// Stretch i from the image into `data`, with its block's table, every cluster checked.
function loadStretch(i: u32, data: usize): i32 {
  const g = job.geo,
    cb = g.clusterBytes,
    perBlock = <f64>g.clustersPerBlock;
  const ordinal = diffs.ordinal(i),
    count = diffs.length(i);
  const k = Math.floor(ordinal / perBlock),
    first = <u32>(ordinal - k * perBlock);
  const n = g.blockClusters(k),
    tb = tableBytes(n);
  const at = g.dataOffset + k * fullBlockBytes();
  const table = buf.io2 + <usize>BLOCK_DATA_MAX;
  let r: i32;
  if (job.tableBlock != k) {
    job.tableBlock = -1;
    r = imageRead(job.src, at + <f64>n * <f64>cb, tb, table);
    if (r >= 0) r = checkTable(table, k, n, tb);
    if (r < 0) return r;
    diffNote(k, ld64(table + tb - 8));
    job.tableBlock = k;
  }
  r = imageRead(job.src, at + <f64>first * <f64>cb, count * cb, data);
  if (r < 0) return r;
  rewind(job.cursor, diffs.bit(i));
  let filled: u32 = 0;
  while (filled < count) {
    const got = job.cursor.nextRun(count - filled);
    if (got < 0) return got;
    if (got == 0) return fail(E.E_IMG_BITMAP_COUNT, ordinal + <f64>filled, g.imageClusters);
    const len = <u32>got,
      start = job.cursor.runStart;
    if (first + filled == 0 && <f64>ld64(table + H.T_FirstBit) != start)
      return fail(E.E_IMG_BLOCK_TABLE, k, A.TW_FIRST, <f64>ld64(table + H.T_FirstBit));
    if (start < job.ghostEnd && start + <f64>len > job.ghostFirst)
      return fail(
        E.E_IMG_GHOST_OVERLAP,
        k,
        Math.max(start, job.ghostFirst),
        job.ghostFirst,
        job.ghostEnd - job.ghostFirst,
      );
    const run = data + <usize>filled * cb;
    for (let j: u32 = 0; j < len; j++) {
      const stored = ld32(table + H.T_Checks + ((first + filled + j) << 2));
      const computed = hash32(run + <usize>j * cb, cb, <u64>(start + <f64>j));
      if (stored != computed && !isUnreadableCluster(job.imageFlags, stored, computed, run + <usize>j * cb, cb))
        return fail(E.E_IMG_CLUSTER_CHECK, k, start + <f64>j, stored, computed);
    }
    filled += len;
  }
  return 0;
}

// Stretch i's runs (its clusters in `data`): written (a merged stretch: only the clusters that
// differ from the target), or read back and compared.
function stretchRuns(i: u32, data: usize, readingBack: bool): i32 {
  const cb = job.geo.clusterBytes,
    count = diffs.length(i);
  rewind(job.cursor, diffs.bit(i));
  let filled: u32 = 0;
  while (filled < count) {
    const got = job.cursor.nextRun(count - filled);
    if (got < 0) return got;
    if (got == 0) return fail(E.E_IMG_BITMAP_COUNT, diffs.ordinal(i) + <f64>filled, job.geo.imageClusters);
    const len = <u32>got,
      start = job.cursor.runStart,
      run = data + <usize>filled * cb;
    const r = readingBack
      ? readBackSectors(job.clusterLba(start), len, job.sectorsPerCluster, run, start)
      : diffs.merged(i)
        ? writeDiffering(start, len, run)
        : writeClusters(start, len, run);
    if (r < 0) return r;
    filled += len;
  }
  return 0;
}

// Reads back `units` units of `unitSectors` sectors just written at lba from `data` and compares
// them: a unit that differs is a mismatched cluster (firstBit: the first unit's) or, with
// firstBit -1, metadata that differs.
function readBackSectors(lba: f64, units: u32, unitSectors: u32, data: usize, firstBit: f64): i32 {
  const unitBytes = unitSectors * job.sectorBytes;
  const per = max<u32>(1, AUX_BYTES / unitBytes);
  for (let done: u32 = 0; done < units; ) {
    const n = min(per, units - done);
    const r = partRead(job.dst, lba + <f64>done * <f64>unitSectors, n * unitSectors, buf.aux);
    if (r < 0) return r;
    for (let i: u32 = 0; i < n; i++) {
      if (equalBytes(buf.aux + <usize>i * unitBytes, data + <usize>(done + i) * unitBytes, unitBytes)) continue;
      if (firstBit < 0) job.metaMismatch = true;
      else noteMismatch(firstBit + <f64>(done + i));
    }
    done += n;
  }
  return 0;
}
