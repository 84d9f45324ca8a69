// What a tree walk (fat/walk.ts, exfat/walk.ts, ntfs/walk.ts) found, and the clusters it keeps:
// runs the tree reaches that the file system's allocation marks free, gathered run by run into
// KEEP patches (patch.ts) after the host's own, and the walk's results (SLOT_WALK_*). Cross-links
// (exFAT, NTFS): every cluster reached is claimed in a window of BITMAP_WINDOW_BYTES * 8
// clusters in buf.bitmap; one claimed twice is cross-linked. The tree is walked once per window
// (pass); only the first pass counts and keeps, the later ones only claim.

import * as A from "../abi";
import { PATCH_AT_BYTE_OFFSET, PATCH_AT_KIND, PATCH_AT_LENGTH, PATCH_BYTES, PATCH_KEEP } from "../abi";
import { BITMAP_WINDOW_BYTES, buf, PATCH_MAX, setResult } from "../mem";

export const CLAIM_WINDOW: f64 = <f64>BITMAP_WINDOW_BYTES * 8; // clusters a pass checks for cross-links

// A run being gathered (kept, or cross-linked), and the first WALK_LISTED of its kind listed.
class RunList {
  clusters: f64 = 0;
  runs: f64 = 0;
  listed: u32 = 0;
  start: f64 = 0; // the run being gathered; length 0: none
  length: u32 = 0;
  kind: u32 = 0;
  record: f64 = -1;

  reset(): void {
    this.clusters = 0;
    this.runs = 0;
    this.listed = 0;
    this.length = 0;
  }

  // Whether cluster c (of kind, in record) continues the run being gathered.
  extends(c: f64, kind: u32, record: f64): bool {
    return this.length > 0 && this.start + <f64>this.length == c && this.kind == kind && this.record == record;
  }

  // Lists the run being gathered in slots [listSlot, ...) if there is room; returns its length.
  close(listSlot: u32): u32 {
    const n = this.length;
    if (n == 0) return 0;
    this.length = 0;
    this.clusters += <f64>n;
    this.runs += 1;
    if (this.listed < A.WALK_LISTED) {
      const s = listSlot + this.listed * 4;
      setResult(s, this.start);
      setResult(s + 1, n);
      setResult(s + 2, this.kind);
      setResult(s + 3, this.record);
      this.listed += 1;
    }
    return n;
  }
}

export class WalkResults {
  patch: u32 = 0; // the next patch index
  dirs: f64 = 0;
  files: f64 = 0;
  badChains: f64 = 0;
  tooDeep: f64 = 0;
  full: bool = false;
  unchecked: bool = false;
  kept: RunList = new RunList();
  crossed: RunList = new RunList();
  pass: u32 = 0; // 0: counts, keeps and claims; later passes only claim
  windowFirst: f64 = 0; // the clusters this pass claims: [windowFirst, windowFirst + CLAIM_WINDOW)
  claiming: bool = false; // cross-links are checked (exFAT, NTFS)
  crossUnchecked: f64 = 0;

  begin(firstPatch: u32, claiming: bool): void {
    this.patch = firstPatch;
    this.dirs = 0;
    this.files = 0;
    this.badChains = 0;
    this.tooDeep = 0;
    this.full = false;
    this.unchecked = false;
    this.kept.reset();
    this.crossed.reset();
    this.claiming = claiming;
    this.crossUnchecked = 0;
  }

  // Pass p claims clusters [p * CLAIM_WINDOW, (p + 1) * CLAIM_WINDOW).
  beginPass(p: u32): void {
    this.pass = p;
    this.windowFirst = <f64>p * CLAIM_WINDOW;
    memory.fill(buf.bitmap, 0, <usize>(CLAIM_WINDOW / 8));
  }

  // Cluster c (of `kind`, in MFT record `record` or -1) is reached but marked free.
  keep(c: f64, kind: u32, record: f64): void {
    if (this.pass > 0) return;
    const k = this.kept;
    if (k.extends(c, kind, record)) {
      k.length += 1;
      return;
    }
    this.flushKept();
    k.start = c;
    k.length = 1;
    k.kind = kind;
    k.record = record;
  }

  // Clusters [c, c + n) are reached by `kind` (MFT record `record`, or -1): those this pass's
  // window holds are claimed; one claimed already is cross-linked.
  claim(c: f64, n: f64, kind: u32, record: f64): void {
    if (!this.claiming) return;
    const from = Math.max(c, this.windowFirst),
      to = Math.min(c + n, this.windowFirst + CLAIM_WINDOW);
    for (let x = from; x < to; x++) {
      const bit = <u32>(x - this.windowFirst);
      const q = buf.bitmap + (bit >>> 3);
      const m = <u8>(1 << (<u8>(bit & 7)));
      if ((load<u8>(q) & m) == 0) {
        store<u8>(q, load<u8>(q) | m);
        continue;
      }
      const r = this.crossed;
      if (r.extends(x, kind, record)) {
        r.length += 1;
        continue;
      }
      r.close(A.SLOT_WALK_CROSS_LIST);
      r.start = x;
      r.length = 1;
      r.kind = kind;
      r.record = record;
    }
  }

  // The run being kept, as a KEEP patch (and in the list of the first WALK_LISTED).
  flushKept(): void {
    const start = this.kept.start;
    const n = this.kept.close(A.SLOT_WALK_LIST);
    if (n == 0) return;
    if (this.patch >= PATCH_MAX) {
      this.full = true;
      return;
    }
    const p = buf.patches + <usize>this.patch * PATCH_BYTES;
    store<f64>(p + PATCH_AT_BYTE_OFFSET, start);
    store<u32>(p + PATCH_AT_LENGTH, n);
    store<u32>(p + PATCH_AT_KIND, PATCH_KEEP);
    this.patch += 1;
  }

  // The runs flushed, the bitmap buffer zeroed (a scan starts on a clear window) and the results
  // published; returns the patch count.
  finish(): i32 {
    this.flushKept();
    this.crossed.close(A.SLOT_WALK_CROSS_LIST);
    memory.fill(buf.bitmap, 0, <usize>(CLAIM_WINDOW / 8));
    setResult(A.SLOT_WALK_KEPT_CLUSTERS, this.kept.clusters);
    setResult(A.SLOT_WALK_KEPT_RUNS, this.kept.runs);
    setResult(A.SLOT_WALK_DIRECTORIES, this.dirs);
    setResult(A.SLOT_WALK_FILES, this.files);
    setResult(A.SLOT_WALK_BAD_CHAINS, this.badChains);
    setResult(A.SLOT_WALK_TOO_DEEP, this.tooDeep);
    setResult(A.SLOT_WALK_PATCHES_FULL, this.full ? 1 : 0);
    setResult(A.SLOT_WALK_BITMAP_UNCHECKED, this.unchecked ? 1 : 0);
    setResult(A.SLOT_WALK_LISTED, this.kept.listed);
    setResult(A.SLOT_WALK_CROSS_LINKED, this.crossed.clusters);
    setResult(A.SLOT_WALK_CROSS_RUNS, this.crossed.runs);
    setResult(A.SLOT_WALK_CROSS_UNCHECKED, this.crossUnchecked);
    setResult(A.SLOT_WALK_CROSS_LISTED, this.crossed.listed);
    return <i32>this.patch;
  }
}

export const walked = new WalkResults();
