// The directory tree of an exFAT volume, walked in fixed memory (issue 18): every directory,
// file and allocation entry (the allocation bitmap, the up-case table, vendor allocations) with
// the clusters it uses (FAT chains and NoFatChain extents), checked against the allocation
// bitmap. A run of clusters the tree reaches but the bitmap marks free becomes a KEEP patch, so
// that a backup's scan puts it in the image instead of losing it (docs/image-format.md 11.3).
// Directories are walked depth first on a stack of WALK_DEPTH_MAX frames; a directory's cluster
// is read again when the walk comes back to it from a child. Hostile input ends in counts, not
// traps or hangs: chains that leave the heap or end early (badChains), directories deeper than
// the stack or more directory clusters read than the heap holds (tooDeep).

import * as A from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { fatCache } from "../fs/fat-cache";
import { walked } from "../fs/keep";
import { Volume } from "../fs/volume";
import { ld8, ld16, ld32, ld64 } from "../io";
import { buf } from "../mem";
import { readSectors } from "../patch";
import { exfat } from "./volume";

const F_FIRST: usize = 0; // u32: the directory's first cluster
const F_NO_FAT: usize = 4; // u32: 1 when its clusters are one extent (NoFatChain)
const F_BYTES: usize = 8; // f64: its length in bytes; -1: the root (to the end of its chain)
const F_POS: usize = 16; // f64: the next entry's byte offset in the directory
const F_CLUSTER: usize = 24; // u32: the cluster holding byte F_INDEX * clusterBytes
const F_INDEX: usize = 28; // u32: that cluster's index in the directory
const F_ATTR: usize = 32; // u32: a file entry's attributes, while its secondaries are read
const F_SECONDARIES: usize = 36; // u32: secondaries of that file entry still to come
const FRAME_BYTES: usize = 40;

class Walk {
  dev: u32 = 0;
  depth: u32 = 0;
  dirClusters: f64 = 0; // directory clusters read (a loop guard)
  bitmapOk: bool = false; // the bitmap's clusters are one extent: a cluster's bit is at a known sector
  cachedLba: f64 = -1; // the bitmap sector in io2
  dirLba: f64 = -1; // the first sector of the directory clusters in io (read ahead), -1: none
  dirSectors: u32 = 0; // how many sectors io holds from dirLba
}

// A directory's next clusters are read together when they follow one another on the volume (its
// extent, or a chain whose next entry is the next cluster), up to this many bytes at a time: one
// device read per 64 KiB of directory instead of one per cluster, and never a byte outside it.
const DIR_READ_AHEAD_BYTES: f64 = 65536;
const w = new Walk();

function frame(i: u32): usize {
  return buf.walkStack + <usize>i * FRAME_BYTES;
}

// Walks the tree of the exFAT volume `v` on `dev` (probed, its bitmap found) into `walked` (begun
// by the caller, once per pass). Returns 0, or a negative code.
export function exfatWalk(dev: u32, v: Volume): i32 {
  w.dev = dev;
  w.depth = 0;
  w.dirClusters = 0;
  w.cachedLba = -1;
  w.dirLba = -1;
  w.dirSectors = 0;
  fatCache.begin(
    dev,
    <f64>exfat.fatOffset + <f64>exfat.activeFat * <f64>exfat.fatLength,
    <f64>exfat.fatLength,
    v.bytesPerSector,
    32,
  );
  let r = checkBitmapExtent(v);
  if (r < 0) return r;
  // the root: its chain is reached, and it is the first frame
  r = markChain(v, exfat.rootCluster, -1, false, A.WALK_ROOT);
  if (r < 0) return r;
  push(exfat.rootCluster, false, -1);
  while (w.depth > 0) {
    r = walkStep(v);
    if (r < 0) return r;
  }
  walked.unchecked = !w.bitmapOk;
  return 0;
}

function push(first: u32, noFat: bool, bytes: f64): void {
  for (let i: u32 = 0; i < w.depth; i++)
    if (load<u32>(frame(i) + F_FIRST) == first) {
      walked.tooDeep += 1; // a directory that is its own ancestor: not walked again
      return;
    }
  if (w.depth >= A.WALK_DEPTH_MAX) {
    walked.tooDeep += 1;
    return;
  }
  const f = frame(w.depth);
  store<u32>(f + F_FIRST, first);
  store<u32>(f + F_NO_FAT, noFat ? 1 : 0);
  store<f64>(f + F_BYTES, bytes);
  store<f64>(f + F_POS, 0);
  store<u32>(f + F_CLUSTER, first);
  store<u32>(f + F_INDEX, 0);
  store<u32>(f + F_ATTR, 0);
  store<u32>(f + F_SECONDARIES, 0);
  w.depth += 1;
  walked.dirs += 1;
}

function inHeap(v: Volume, c: u32): bool {
  return c >= 2 && <f64>c <= <f64>v.clusterCount + 1;
}

// One cluster of the directory on top of the stack: its entries from the frame's position, up to
// the cluster's end, the directory's end, or a subdirectory (pushed: the walk goes into it first).
function walkStep(v: Volume): i32 {
  const f = frame(w.depth - 1);
  const cb = <f64>v.clusterBytes;
  const bytes = load<f64>(f + F_BYTES),
    pos = load<f64>(f + F_POS);
  if (bytes >= 0 && pos >= bytes) {
    w.depth -= 1;
    return 0;
  }
  // the cluster that holds `pos`
  const want = <u32>Math.floor(pos / cb);
  let c = load<u32>(f + F_CLUSTER),
    index = load<u32>(f + F_INDEX);
  while (index < want) {
    let next: i64;
    if (load<u32>(f + F_NO_FAT) != 0) next = <i64>c + 1;
    else {
      next = fatCache.entry(c);
      if (next < 0) return <i32>next;
    }
    if (!inHeap(v, <u32>next) || next > 0xffffffff) {
      if (bytes >= 0) walked.badChains += 1; // a directory shorter than its length says (the root ends at its chain's end)
      w.depth -= 1;
      return 0;
    }
    c = <u32>next;
    index += 1;
  }
  store<u32>(f + F_CLUSTER, c);
  store<u32>(f + F_INDEX, index);
  w.dirClusters += 1;
  if (w.dirClusters > <f64>v.clusterCount + 16) {
    // more directory clusters than the heap holds: the tree loops
    walked.tooDeep += 1;
    w.depth = 0;
    return 0;
  }
  const lba = v.clusterLba(<f64>c);
  if (!(lba >= w.dirLba && lba + <f64>v.sectorsPerCluster <= w.dirLba + <f64>w.dirSectors)) {
    // this cluster and the directory's next ones that follow it on the volume, in one read
    let run: u32 = 1;
    const most = <u32>Math.max(1, Math.floor(DIR_READ_AHEAD_BYTES / cb));
    while (run < most) {
      if (bytes >= 0 && <f64>(index + run) * cb >= bytes) break; // past the directory's length
      if (!inHeap(v, c + run)) break;
      if (load<u32>(f + F_NO_FAT) == 0) {
        const next = fatCache.entry(c + run - 1);
        if (next < 0) return <i32>next;
        if (next != <i64>(c + run)) break;
      }
      run += 1;
    }
    const sectors = run * v.sectorsPerCluster;
    const r = readSectors(w.dev, lba, sectors, buf.io);
    if (r < 0) return fail(E.E_DEVICE, r, w.dev, lba, sectors);
    w.dirLba = lba;
    w.dirSectors = sectors;
  }
  const base = buf.io + <usize>((lba - w.dirLba) * <f64>v.bytesPerSector);
  let at = <u32>(pos - <f64>index * cb);
  const end = bytes >= 0 ? <u32>Math.min(cb, bytes - <f64>index * cb) : <u32>cb;
  for (; at + 32 <= end; at += 32) {
    const e = base + <usize>at;
    const type = ld8(e);
    if (type == 0) {
      w.depth -= 1; // the end of the directory
      return 0;
    }
    if ((type & 0x80) == 0) continue; // not in use
    if (type == 0x81 || type == 0x82) {
      // the allocation bitmap, the up-case table (the root holds them)
      store<u32>(f + F_SECONDARIES, 0);
      const m = markChain(v, ld32(e + 20), <f64>ld64(e + 24), false, type == 0x81 ? A.WALK_BITMAP : A.WALK_UPCASE);
      if (m < 0) return m;
      continue;
    }
    if (type == 0x85) {
      store<u32>(f + F_ATTR, ld16(e + 4));
      store<u32>(f + F_SECONDARIES, ld8(e + 1));
      continue;
    }
    if ((type & 0x40) == 0) continue; // another primary (label, GUID, TexFAT padding)
    const secondaries = load<u32>(f + F_SECONDARIES);
    if (secondaries == 0) continue; // a secondary without its file entry
    store<u32>(f + F_SECONDARIES, secondaries - 1);
    const flags = ld8(e + 1);
    if ((flags & 1) == 0) continue; // AllocationPossible clear: no clusters
    const first = ld32(e + 20),
      length = <f64>ld64(e + 24),
      noFat = (flags & 2) != 0;
    const directory = type == 0xc0 && (load<u32>(f + F_ATTR) & 0x10) != 0;
    const m = markChain(
      v,
      first,
      length,
      noFat,
      directory ? A.WALK_DIRECTORY : type == 0xc0 ? A.WALK_FILE : A.WALK_OTHER,
    );
    if (m < 0) return m;
    if (directory && length > 0 && inHeap(v, first)) {
      store<f64>(f + F_POS, <f64>index * cb + <f64>(at + 32));
      push(first, noFat, length);
      return 0;
    }
  }
  store<f64>(f + F_POS, <f64>(index + 1) * cb);
  if (bytes < 0 || <f64>(index + 1) * cb < bytes) return 0;
  w.depth -= 1;
  return 0;
}

// The clusters of an allocation: `length` bytes (-1: to the end of the chain) from `first`, one
// extent (noFat) or a FAT chain, run by run checked against the bitmap.
function markChain(v: Volume, first: u32, length: f64, noFat: bool, kind: u32): i32 {
  if (kind != A.WALK_ROOT && kind != A.WALK_DIRECTORY) walked.files += 1;
  if (first == 0 || length == 0) return 0;
  if (!inHeap(v, first)) {
    walked.badChains += 1;
    return 0;
  }
  const cb = <f64>v.clusterBytes;
  const last = <f64>v.clusterCount + 1;
  const n = length < 0 ? last : Math.ceil(length / cb);
  if (noFat) {
    const len = Math.min(n, last - <f64>first + 1);
    if (len < n) walked.badChains += 1;
    return checkRun(v, first, <u32>len, kind);
  }
  let start = first,
    run: u32 = 1,
    c = first;
  for (let i: f64 = 1; i < n; i++) {
    const next = fatCache.entry(c);
    if (next < 0) return <i32>next;
    if (next == <i64>c + 1 && inHeap(v, <u32>next)) {
      run += 1;
      c = <u32>next;
      continue;
    }
    const r = checkRun(v, start, run, kind);
    if (r < 0) return r;
    if (!inHeap(v, <u32>next) || next > 0xffffffff) {
      // the end of the chain: early unless the length was unknown
      if (length >= 0 || next != 0xffffffff) walked.badChains += 1;
      return 0;
    }
    start = <u32>next;
    c = start;
    run = 1;
  }
  return checkRun(v, start, run, kind);
}

// Clusters [start, start + count) against the bitmap: those marked free are kept.
function checkRun(v: Volume, start: u32, count: u32, kind: u32): i32 {
  walked.claim(<f64>start, <f64>count, kind, -1);
  if (!w.bitmapOk) return 0;
  for (let i: u32 = 0; i < count; i++) {
    const c = start + i;
    const bit = c - 2;
    const byte = <f64>(bit >>> 3);
    const lba = v.clusterLba(<f64>exfat.bitmapCluster) + Math.floor(byte / <f64>v.bytesPerSector);
    if (lba != w.cachedLba) {
      const r = readSectors(w.dev, lba, 1, buf.io2);
      if (r < 0) return fail(E.E_DEVICE, r, w.dev, lba, 1);
      w.cachedLba = lba;
    }
    const set = (ld8(buf.io2 + <usize>(byte % <f64>v.bytesPerSector)) >>> (bit & 7)) & 1;
    if (set == 0) walked.keep(c, kind, -1);
  }
  return 0;
}

// The bitmap's clusters must be one extent (as mkfs.exfat and every driver lay it out) for a
// cluster's bit to be found without walking its chain; otherwise nothing is checked.
function checkBitmapExtent(v: Volume): i32 {
  w.bitmapOk = false;
  const n = <u32>Math.ceil(exfat.bitmapBytes / <f64>v.clusterBytes);
  let c = exfat.bitmapCluster;
  if (!inHeap(v, c) || <f64>c + <f64>n - 1 > <f64>v.clusterCount + 1) return 0;
  for (let i: u32 = 1; i < n; i++) {
    const next = fatCache.entry(c);
    if (next < 0) return <i32>next;
    if (next != 0 && next != <i64>c + 1) return 0;
    c += 1;
  }
  w.bitmapOk = true;
  return 0;
}
