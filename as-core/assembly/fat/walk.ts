// The directory tree of a FAT12/16/32 volume, walked in fixed memory (issue 18): every directory
// and file with the clusters its chain reaches, checked against the FAT. In a FAT the chain is
// the allocation, so "reached but marked free" is a chain that runs into a free entry: a
// directory entry whose first cluster is free, or a cluster whose predecessor points to it and
// whose own entry is 0. Such a cluster is kept (fs/keep.ts) and the chain ends there; a chain
// that ends before its file's size, leaves the volume or loops is counted (badChains), walked as
// far as it goes. Directories are walked depth first on WALK_DEPTH_MAX frames, as on exFAT;
// more directory clusters read than the volume holds is a loop (tooDeep), and the walk stops.

import * as A from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { fatCache } from "../fs/fat-cache";
import { walked } from "../fs/keep";
import { Volume } from "../fs/volume";
import { ld8, ld16, ld32 } from "../io";
import { buf } from "../mem";
import { readSectors } from "../patch";
import * as L from "./layout";
import { badMark, entryBits, entryMask, fat } from "./volume";

const DIR_Name: usize = 0; // 11 bytes; [0] 0x00: end of the directory, 0xE5: deleted
const DIR_Attr: usize = 11;
const DIR_FstClusHI: usize = 20; // FAT32 only
const DIR_FstClusLO: usize = 26;
const DIR_FileSize: usize = 28;
const ATTR_VOLUME_ID: u32 = 0x08;
const ATTR_DIRECTORY: u32 = 0x10;
const ATTR_LONG_NAME: u32 = 0x0f;
const DIR_ENTRY_BYTES: u32 = 32;
const DIR_MAX_BYTES: f64 = 65536 * 32; // a directory holds at most 65,536 entries (the FAT specification, 6)

const F_FIRST: usize = 0; // u32: the directory's first cluster; 0: FAT12/16's fixed root
const F_CLUSTER: usize = 4; // u32: the cluster holding chunk F_INDEX
const F_INDEX: usize = 8; // u32: that chunk's index in the directory
const F_POS: usize = 16; // f64: the next entry's byte offset in the directory
const FRAME_BYTES: usize = 40; // the stack's frame size (mem.ts: walkStack)

class Walk {
  dev: u32 = 0;
  depth: u32 = 0;
  dirClusters: f64 = 0; // directory clusters read (a loop guard)
  mask: u32 = 0;
}
const w = new Walk();

function frame(i: u32): usize {
  return buf.walkStack + <usize>i * FRAME_BYTES;
}

function inVolume(v: Volume, c: u32): bool {
  return c >= 2 && <f64>c <= <f64>v.clusterCount + 1;
}

// Walks the tree of the FAT volume `v` on `dev` (probed) into `walked` (begun by the caller).
// Returns 0, or a negative code.
export function fatWalk(dev: u32, v: Volume): i32 {
  w.dev = dev;
  w.depth = 0;
  w.dirClusters = 0;
  w.mask = entryMask(v.fsType);
  fatCache.begin(dev, <f64>fat.reservedSectors, <f64>fat.fatSectors, v.bytesPerSector, entryBits(v.fsType));
  if (v.fsType == L.FS_FAT32) {
    const r = markChain(v, fat.rootCluster, -1, A.WALK_ROOT);
    if (r < 0) return r;
    push(fat.rootCluster);
  } else push(0);
  while (w.depth > 0) {
    const r = walkStep(v);
    if (r < 0) return r;
  }
  return 0;
}

function push(first: u32): void {
  for (let i: u32 = 0; i < w.depth; i++)
    if (first != 0 && load<u32>(frame(i) + F_FIRST) == first) {
      walked.tooDeep += 1; // a directory that is its own ancestor: not walked again
      return;
    }
  if (w.depth >= A.WALK_DEPTH_MAX) {
    walked.tooDeep += 1;
    return;
  }
  const f = frame(w.depth);
  store<u32>(f + F_FIRST, first);
  store<u32>(f + F_CLUSTER, first);
  store<u32>(f + F_INDEX, 0);
  store<f64>(f + F_POS, 0);
  w.depth += 1;
  walked.dirs += 1;
}

// One chunk (a cluster, or a cluster's worth of the fixed root) of the directory on top of the
// stack: its entries from the frame's position, up to the chunk's end, the directory's end, or a
// subdirectory (pushed: the walk goes into it first).
function walkStep(v: Volume): i32 {
  const f = frame(w.depth - 1);
  const cb = <f64>v.clusterBytes;
  const first = load<u32>(f + F_FIRST),
    pos = load<f64>(f + F_POS);
  const want = <u32>Math.floor(pos / cb);
  let lba: f64,
    sectors: u32 = v.sectorsPerCluster,
    index = load<u32>(f + F_INDEX);
  if (first == 0) {
    // FAT12/16's root: rootDirSectors after the FATs (metadata, never kept)
    const rootBytes = <f64>fat.rootDirSectors * <f64>v.bytesPerSector;
    if (pos >= rootBytes) {
      w.depth -= 1;
      return 0;
    }
    lba = <f64>v.firstDataSector - <f64>fat.rootDirSectors + <f64>want * <f64>v.sectorsPerCluster;
    sectors = <u32>Math.min(<f64>v.sectorsPerCluster, <f64>fat.rootDirSectors - <f64>want * <f64>v.sectorsPerCluster);
    index = want;
  } else {
    if (pos >= DIR_MAX_BYTES) {
      w.depth -= 1; // as far as a directory can go (its chain was counted when it was marked)
      return 0;
    }
    let c = load<u32>(f + F_CLUSTER);
    while (index < want) {
      // the directory's chain was marked when it was found; here it is only followed
      const e = fatCache.entry(c);
      if (e < 0) return <i32>e;
      const n = <u32>e & w.mask;
      if (!inVolume(v, n) || n == badMark(v.fsType)) {
        w.depth -= 1; // the end of the directory's chain
        return 0;
      }
      c = n;
      index += 1;
    }
    store<u32>(f + F_CLUSTER, c);
    w.dirClusters += 1;
    if (w.dirClusters > <f64>v.clusterCount + 16) {
      walked.tooDeep += 1; // more directory clusters than the volume holds: the tree loops
      w.depth = 0;
      return 0;
    }
    lba = v.clusterLba(<f64>c);
  }
  store<u32>(f + F_INDEX, index);
  const r = readSectors(w.dev, lba, sectors, buf.io);
  if (r < 0) return fail(E.E_DEVICE, r, w.dev, lba, sectors);
  const end = sectors * v.bytesPerSector;
  for (let at = <u32>(pos - <f64>index * cb); at + DIR_ENTRY_BYTES <= end; at += DIR_ENTRY_BYTES) {
    const e = buf.io + <usize>at;
    const lead = ld8(e + DIR_Name);
    if (lead == 0) {
      w.depth -= 1; // the end of the directory
      return 0;
    }
    const attr = ld8(e + DIR_Attr);
    if (lead == 0xe5 || (attr & ATTR_LONG_NAME) == ATTR_LONG_NAME || (attr & ATTR_VOLUME_ID) != 0) continue;
    if (lead == 0x2e) continue; // "." and ".." point back up
    let c = <u32>ld16(e + DIR_FstClusLO);
    if (v.fsType == L.FS_FAT32) c |= (<u32>ld16(e + DIR_FstClusHI)) << 16;
    if (c == 0) {
      if ((attr & ATTR_DIRECTORY) == 0) walked.files += 1; // an empty file
      continue;
    }
    const directory = (attr & ATTR_DIRECTORY) != 0;
    const m = markChain(v, c, directory ? -1 : <f64>ld32(e + DIR_FileSize), directory ? A.WALK_DIRECTORY : A.WALK_FILE);
    if (m < 0) return m;
    if (directory && inVolume(v, c)) {
      store<f64>(f + F_POS, <f64>index * cb + <f64>(at + DIR_ENTRY_BYTES));
      push(c);
      return 0;
    }
  }
  store<f64>(f + F_POS, <f64>(index + 1) * cb);
  return 0;
}

// The chain from `first`: `length` bytes of it (-1: a directory, at most DIR_MAX_BYTES), each
// cluster checked. A file's chain is followed as far as its size needs (clusters past it are
// imaged as the FAT marks them). A free entry reached is kept and ends the chain; a chain that
// ends before its length, leaves the volume, runs into a bad mark or is longer than a directory
// can be (a loop) is counted.
function markChain(v: Volume, first: u32, length: f64, kind: u32): i32 {
  if (kind != A.WALK_ROOT && kind != A.WALK_DIRECTORY) walked.files += 1;
  if (!inVolume(v, first)) {
    walked.badChains += 1;
    return 0;
  }
  const n = Math.max(1, Math.ceil((length < 0 ? DIR_MAX_BYTES : length) / <f64>v.clusterBytes));
  const bad = badMark(v.fsType);
  let c = first;
  for (let i: f64 = 1; i <= n; i++) {
    const e = fatCache.entry(c);
    if (e < 0) return <i32>e;
    const nx = <u32>e & w.mask;
    if (nx == 0) {
      walked.keep(<f64>c, kind, -1);
      if (length >= 0 && i < n) walked.badChains += 1;
      return 0;
    }
    if (!inVolume(v, nx) || nx == bad) {
      // the chain's end: early for a file, or not at an end mark
      if ((length >= 0 && i < n) || nx < w.mask - 7 || nx == bad) walked.badChains += 1;
      return 0;
    }
    if (i >= n) {
      if (length < 0) walked.badChains += 1; // a directory longer than any can be: it loops
      return 0;
    }
    c = nx;
  }
  return 0;
}
