// What a tree walk (exfat/walk.ts, ntfs/walk.ts) found, and the clusters it keeps: runs the tree
// reaches that the file system's allocation marks free, gathered run by run into KEEP patches
// (patch.ts) after the host's own, and the walk's results (SLOT_WALK_*).

import * as A from "../abi";
import { PATCH_AT_BYTE_OFFSET, PATCH_AT_KIND, PATCH_AT_LENGTH, PATCH_BYTES, PATCH_KEEP } from "../abi";
import { buf, PATCH_MAX, setResult } from "../mem";

export class WalkResults {
  patch: u32 = 0; // the next patch index
  kept: f64 = 0;
  runs: f64 = 0;
  dirs: f64 = 0;
  files: f64 = 0;
  badChains: f64 = 0;
  tooDeep: f64 = 0;
  full: bool = false;
  unchecked: bool = false;
  listed: u32 = 0;
  start: f64 = 0; // the run being kept; length 0: none
  length: u32 = 0;
  kind: u32 = 0;
  record: f64 = -1;

  begin(firstPatch: u32): void {
    this.patch = firstPatch;
    this.kept = 0;
    this.runs = 0;
    this.dirs = 0;
    this.files = 0;
    this.badChains = 0;
    this.tooDeep = 0;
    this.full = false;
    this.unchecked = false;
    this.listed = 0;
    this.length = 0;
  }

  // Cluster c (of `kind`, in MFT record `record` or -1) is reached but marked free.
  keep(c: f64, kind: u32, record: f64): void {
    if (this.length > 0 && this.start + <f64>this.length == c && this.kind == kind && this.record == record) {
      this.length += 1;
      return;
    }
    this.flush();
    this.start = c;
    this.length = 1;
    this.kind = kind;
    this.record = record;
  }

  // The run being kept, as a KEEP patch (and in the list of the first WALK_LISTED).
  flush(): void {
    const n = this.length;
    if (n == 0) return;
    this.length = 0;
    this.kept += <f64>n;
    this.runs += 1;
    if (this.listed < A.WALK_LISTED) {
      const s = A.SLOT_WALK_LIST + this.listed * 4;
      setResult(s, this.start);
      setResult(s + 1, n);
      setResult(s + 2, this.kind);
      setResult(s + 3, this.record);
      this.listed += 1;
    }
    if (this.patch >= PATCH_MAX) {
      this.full = true;
      return;
    }
    const p = buf.patches + <usize>this.patch * PATCH_BYTES;
    store<f64>(p + PATCH_AT_BYTE_OFFSET, this.start);
    store<u32>(p + PATCH_AT_LENGTH, n);
    store<u32>(p + PATCH_AT_KIND, PATCH_KEEP);
    this.patch += 1;
  }

  // The runs flushed and the results published; returns the patch count.
  finish(): i32 {
    this.flush();
    setResult(A.SLOT_WALK_KEPT_CLUSTERS, this.kept);
    setResult(A.SLOT_WALK_KEPT_RUNS, this.runs);
    setResult(A.SLOT_WALK_DIRECTORIES, this.dirs);
    setResult(A.SLOT_WALK_FILES, this.files);
    setResult(A.SLOT_WALK_BAD_CHAINS, this.badChains);
    setResult(A.SLOT_WALK_TOO_DEEP, this.tooDeep);
    setResult(A.SLOT_WALK_PATCHES_FULL, this.full ? 1 : 0);
    setResult(A.SLOT_WALK_BITMAP_UNCHECKED, this.unchecked ? 1 : 0);
    setResult(A.SLOT_WALK_LISTED, this.listed);
    return <i32>this.patch;
  }
}

export const walked = new WalkResults();
