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

import { NO_DEVICE, RESTORE_FULL, RESTORE_ONE_PASS, RESTORE_READ_BACK } from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { hash32 } from "../hash";
import { rewind } from "../image/cursor";
import * as H from "../image/layout";
import { IMG_SECTOR, tableBytes } from "../image/layout";
import { ld32, ld64 } from "../io";
import { blockBuffer, buf, META_CHUNK_BYTES, META_CHUNKS_MAX, META_DIFFERS_BYTES, setResult } from "../mem";
import {
  compareMetaChunkWithTarget,
  comparePaired,
  diffNote,
  finishDiffWrite,
  metaChunkDiffers,
  startDiffWrite,
  writeDiffBatch,
} from "./compare-first";
import { diffs } from "./diff";
import {
  chainAdd,
  chainFinish,
  checkBitmapStep,
  checkCommit,
  checkMetaDigest,
  checkMetaStep,
  checkRunClusters,
  checkRunPlace,
  checkTable,
  decodeHeader,
  enterPhase,
  fullBlockBytes,
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
} from "./job";
import {
  noteMismatch,
  readBackRun,
  readTargetPiece,
  writeBootSector,
  writeClusters,
  writeDiffering,
  writeDifferingUnits,
  writeMark,
  writeSectors,
} from "./target";
import { isUnreadableCluster, SLOT_UNREADABLE_FIRST } from "./unreadable";

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
    // (unreadable at backup time: zeros go back, section 5.1, counted in the pass that sees every block)
    r = checkRunPlace(table, k, filled, start, <u32>len);
    if (r >= 0)
      r = checkRunClusters(
        table,
        k,
        filled,
        start,
        <u32>len,
        io + <usize>filled * cb,
        job.compareFirst == job.prechecking,
      );
    if (r < 0) return r;
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
      r = checkRunPlace(table, k, filled, start, len);
      if (r < 0) return r;
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
