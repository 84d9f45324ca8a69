// A compare-first restore (docs/image-format.md 10.2): the check pass compares the target with
// every checked block and metadata chunk and lists the stretches that differ (diff.ts); the write
// pass reads again from the image only those, a batch at a time, checks, writes and reads them
// back. restore.ts runs the phases and calls in here.

import * as E from "../errors";
import { fail } from "../errors";
import { rewind } from "../image/cursor";
import * as H from "../image/layout";
import { tableBytes } from "../image/layout";
import { ld64, st64 } from "../io";
import { BLOCK_DATA_MAX, buf } from "../mem";
import { diffs } from "./diff";
import {
  checkRunClusters,
  checkRunPlace,
  checkTable,
  enterPhase,
  fullBlockBytes,
  imageRead,
  job,
  metaChunkLength,
  metaChunkOffset,
  metaRead,
  PH_DATA,
  PH_DONE,
  PH_META,
} from "./job";
import { equalBytes, readBackSectors, readTargetPiece, writeClusters, writeDiffering, writeMark } from "./target";

export function metaChunkDiffers(c: f64): bool {
  const i = <u32>c;
  return (load<u8>(buf.metaDiffers + (i >>> 3)) & (1 << (i & 7))) != 0;
}

// Check pass: the target's copy of metadata chunk c read into io2 and compared with the image's,
// still in io (checkMetaStep read it).
export function compareMetaChunkWithTarget(c: f64): i32 {
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
export function diffNote(k: f64, check: u64): void {
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
export function comparePaired(k: f64, n: u32, io: usize, runsFrom: f64, check: u64): i32 {
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
export function compareBlockWithTarget(k: f64, n: u32, io: usize, runsFrom: f64, check: u64, first: f64): i32 {
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
export function startDiffWrite(): i32 {
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

export function finishDiffWrite(): i32 {
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
export function writeDiffBatch(): i32 {
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
export function loadStretch(i: u32, data: usize): i32 {
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
    r = checkRunPlace(table, k, first + filled, start, len);
    if (r >= 0) r = checkRunClusters(table, k, first + filled, start, len, data + <usize>filled * cb, false);
    if (r < 0) return r;
    filled += len;
  }
  return 0;
}

// Stretch i's runs (its clusters in `data`): written (a merged stretch: only the clusters that
// differ from the target), or read back and compared.
export function stretchRuns(i: u32, data: usize, readingBack: bool): i32 {
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
