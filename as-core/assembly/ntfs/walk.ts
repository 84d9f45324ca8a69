// An NTFS volume checked against its $Bitmap (issue 18), as ntfsclone checks it before imaging:
// every MFT record in use (base and extension records alike, so an attribute list needs no
// following) is read, and the runs of each of its non-resident attributes ($DATA, a directory's
// $INDEX_ALLOCATION and $BITMAP, named streams, a non-resident attribute list) are checked
// against $Bitmap. A run reached but marked free is kept (fs/keep.ts), except the boot file's
// head clusters, which the image keeps as metadata. In fixed memory: 256 KiB of MFT records and
// 64 KiB of $Bitmap at a time. A record that claims to be in use but cannot be read (its update sequence,
// attributes running past it) is counted, not followed; runs past the volume are counted too.

import * as A from "../abi";
import { walked } from "../fs/keep";
import { Volume } from "../fs/volume";
import { ld8, ld16, ld32 } from "../io";
import { buf } from "../mem";
import { applyFixups, bitmapRuns, loadBitmapRuns, MappingPairs, mftRuns, ntfs, readThroughRuns } from "./volume";

const FILE_MAGIC: u32 = 0x454c4946; // "FILE"
const AT_INDEX_ALLOCATION: u32 = 0xa0;
const AT_DATA: u32 = 0x80;
const AT_END: u32 = 0xffffffff;
const FIRST_USER_RECORD: f64 = 16;
const MFT_CHUNK_BYTES: u32 = 256 << 10; // MFT records read at a time, into io (a record is at most 4 KiB)
const BITMAP_CHUNK_BYTES: u32 = 64 << 10; // $Bitmap read at a time, into io2 (half a million clusters) // records below are the system files ($MFT ... $Extend and reserved)

class NtfsWalk {
  dev: u32 = 0;
  cachedChunk: f64 = -1; // the byte offset in $Bitmap's data of the chunk in io2
  headClusters: f64 = 0;
}
const w = new NtfsWalk();
const walkPairs = new MappingPairs();

export function ntfsWalk(dev: u32, v: Volume): i32 {
  let r = loadBitmapRuns(dev, v);
  if (r < 0) return r;
  w.dev = dev;
  w.cachedChunk = -1;
  w.headClusters = Math.ceil(<f64>ntfs.headSectors / <f64>v.sectorsPerCluster);
  const rb = ntfs.recordBytes;
  const records = Math.floor(ntfs.mftBytes / <f64>rb);
  const perChunk = <f64>(MFT_CHUNK_BYTES / rb);
  for (let first: f64 = 0; first < records; first += perChunk) {
    // the MFT is read MFT_CHUNK_BYTES at a time (one read per run piece, not one per record)
    const count = <u32>Math.min(perChunk, records - first);
    r = readThroughRuns(dev, v, mftRuns(), ntfs.mftRuns, first * <f64>rb, count * rb, buf.io);
    if (r < 0) return r;
    for (let i: u32 = 0; i < count; i++) {
      const p = buf.io + <usize>i * rb;
      if (ld32(p) != FILE_MAGIC || (ld16(p + 22) & 1) == 0) continue; // free, or never used
      if (applyFixups(p, rb) != 0) {
        walked.tooDeep += 1;
        continue;
      }
      r = walkRecord(v, first + <f64>i, rb, p);
      if (r < 0) return r;
    }
  }
  return 0;
}

// Every non-resident attribute of record n (at p), its runs checked.
function walkRecord(v: Volume, n: f64, rb: u32, p: usize): i32 {
  const inUse = min<u32>(ld32(p + 24), rb);
  const directory = (ld16(p + 22) & 2) != 0;
  if (directory) walked.dirs += 1;
  else walked.files += 1;
  let off = ld16(p + 20);
  for (let k = 0; k < 64; k++) {
    if (off + 8 > inUse) break;
    const a = p + <usize>off;
    const type = ld32(a);
    if (type == AT_END) return 0;
    const len = ld32(a + 4);
    if (len < 24 || off + len > inUse) {
      walked.tooDeep += 1; // attributes that run past the record: not followed
      return 0;
    }
    if (ld8(a + 8) != 0) {
      const kind =
        n < FIRST_USER_RECORD
          ? A.WALK_SYSTEM
          : n == 5 || type == AT_INDEX_ALLOCATION
            ? A.WALK_DIRECTORY
            : type == AT_DATA
              ? A.WALK_FILE
              : A.WALK_OTHER;
      const r = walkRuns(v, n, a, n == 5 ? A.WALK_ROOT : kind);
      if (r < 0) return r;
    }
    off += len;
  }
  return 0;
}

// The mapping pairs of the non-resident attribute at `a`, each run checked.
function walkRuns(v: Volume, n: f64, a: usize, kind: u32): i32 {
  const runs = walkPairs;
  runs.begin(a);
  let lcn: f64 = 0;
  const clusters = <f64>v.clusterCount;
  let got = runs.next();
  for (; got > 0; got = runs.next()) {
    if (runs.sparse) continue; // no clusters
    lcn += runs.delta;
    if (lcn < 0 || lcn + runs.length > clusters) {
      got = -1;
      break;
    }
    const r = checkRun(v, lcn, runs.length, kind, n);
    if (r < 0) return r;
  }
  if (got < 0) walked.badChains += 1; // a malformed pair, or a run past the volume: not followed further
  return 0;
}

// Clusters [lcn, lcn + length) against $Bitmap: those marked free are kept (the head's are
// metadata in the image).
function checkRun(v: Volume, lcn: f64, length: f64, kind: u32, n: f64): i32 {
  walked.claim(lcn, length, kind, n);
  const chunk = <f64>BITMAP_CHUNK_BYTES;
  for (let c = Math.max(lcn, w.headClusters); c < lcn + length; c++) {
    const byte = Math.floor(c / 8);
    const at = Math.floor(byte / chunk) * chunk;
    if (at != w.cachedChunk) {
      // whole sectors of $Bitmap, as far as the volume's clusters go (as the scan reads it)
      const bps = <f64>v.bytesPerSector;
      const end = Math.ceil(Math.ceil(<f64>v.clusterCount / 8) / bps) * bps;
      const r = readThroughRuns(w.dev, v, bitmapRuns(), ntfs.bmpRuns, at, <u32>Math.min(chunk, end - at), buf.io2);
      if (r < 0) return r;
      w.cachedChunk = at;
    }
    const bits = ld8(buf.io2 + <usize>(byte - at));
    if (((bits >>> <u32>(c % 8)) & 1) == 0) walked.keep(c, kind, n);
  }
  return 0;
}
