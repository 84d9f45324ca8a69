// An NTFS volume: the boot sector validated one rule per line into the common Volume
// (fs/volume.ts) and NTFS's own record, `ntfs`, and the
// run list of $Bitmap (MFT record 6), read from the MFT with its update sequences applied and
// followed through an attribute list when there is one. Clusters are numbered from 0 at sector
// 0; the backup keeps the boot file's clusters ($Boot, the first 8 KiB) in the metadata head
// and the sectors after the last cluster (the backup boot sector) in its tail, and stores the
// other clusters $Bitmap marks. Names as in the NTFS documentation of the Linux-NTFS project.

import { FS_NTFS } from "../abi";
import * as E from "../errors";
import { fail } from "../errors";
import { MAX_CLUSTER_BYTES, Volume } from "../fs/volume";
import { isPow2, ld8, ld16, ld32, ld64 } from "../io";
import { buf } from "../mem";
import { readSectors } from "../patch";

export { FS_NTFS };

// boot sector
const B_OemId: usize = 3; // "NTFS    "
const B_BytesPerSector: usize = 11; // u16
const B_SectorsPerCluster: usize = 13; // u8: 1..128, or 0xF4..0xFF for 2^(256 - v)
const B_Reserved: usize = 14; // u16 0
const B_Fats: usize = 16; // u8 0
const B_RootEntries: usize = 17; // u16 0
const B_Sectors16: usize = 19; // u16 0
const B_Media: usize = 21; // u8
const B_SectorsPerFat: usize = 22; // u16 0
const B_Sectors32: usize = 32; // u32 0
const B_TotalSectors: usize = 40; // u64, the volume's sectors (the partition's less one: the backup boot sector)
const B_MftLcn: usize = 48; // u64
const B_MftMirrLcn: usize = 56; // u64
const B_ClustersPerRecord: usize = 64; // i8: clusters, or 2^-v bytes when negative
// FILE record
const R_Magic: usize = 0; // "FILE"
const R_UsaOffset: usize = 4; // u16
const R_UsaCount: usize = 6; // u16: 1 + record bytes / 512
const R_FirstAttribute: usize = 20; // u16
const R_Flags: usize = 22; // u16, bit 0 in use
const R_BytesInUse: usize = 24; // u32
// attribute header
const A_Type: usize = 0; // u32, 0xFFFFFFFF ends the list
const A_Length: usize = 4; // u32
const A_NonResident: usize = 8; // u8
const A_NameLength: usize = 9; // u8
const A_ValueLength: usize = 16; // u32 (resident)
const A_ValueOffset: usize = 20; // u16 (resident)
const A_StartVcn: usize = 16; // u64 (non-resident)
const A_RunsOffset: usize = 32; // u16 (non-resident)
const A_DataSize: usize = 48; // u64 (non-resident)
const AT_ATTRIBUTE_LIST: u32 = 0x20;
const AT_DATA: u32 = 0x80;
const AT_END: u32 = 0xffffffff;
const FILE_MAGIC: u32 = 0x454c4946; // "FILE"
export const BOOT_FILE_BYTES: u32 = 8192;

// field ids reported with E_NTFS_FIELD (NF_*) and what E_NTFS_MFT found (NM_*): the contract
import {
  HF_BITS,
  NF_CLUSTER,
  NF_JUMP,
  NF_MFT,
  NF_MFTMIRR,
  NF_RECORD,
  NF_SECTOR,
  NF_ZERO,
  NM_ATTRIBUTE,
  NM_FIXUP,
  NM_LIST,
  NM_MAGIC,
  NM_NO_DATA,
  NM_OUTSIDE,
  NM_RUNS,
  NM_SHORT,
  NM_TOO_MANY_RUNS,
} from "../abi";

// buf.ntfs: [0, 4K) a record; [4K, 12K) an attribute list; runs of 24 bytes (vcn, lcn or -1, length) after
const RECORD_AT: usize = 0;
const LIST_AT: usize = 4096;
const LIST_MAX: u32 = 8192;
const MFT_RUNS_AT: usize = 12288;
const MFT_RUNS_MAX: u32 = 128;
const BMP_RUNS_AT: usize = MFT_RUNS_AT + 128 * 24;
const BMP_RUNS_MAX: u32 = (65536 - <u32>BMP_RUNS_AT) / 24;

export class NtfsState {
  media: u32 = 0; // the boot sector's media byte
  recordBytes: u32 = 0;
  mftLcn: f64 = 0;
  mftRuns: u32 = 0;
  bmpRuns: u32 = 0;
  bitmapBytes: f64 = 0; // $Bitmap's data size
  mftBytes: f64 = 0; // $MFT's data size (loadBitmapRuns)
  headSectors: u32 = 0; // the boot file's whole clusters, in sectors
}
export const ntfs = new NtfsState();

export function isNtfs(bs: usize): bool {
  return load<u64>(bs + B_OemId) == 0x202020205346544e;
} // "NTFS    "

export function parseNtfs(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32 {
  const sig = ld16(bs + 510);
  if (sig != 0xaa55) return fail(E.E_BS_SIGNATURE, sig);
  if (ld8(bs) != 0xeb && ld8(bs) != 0xe9) return fail(E.E_NTFS_FIELD, NF_JUMP, ld8(bs), 0xeb);
  const bps = ld16(bs + B_BytesPerSector);
  if (!isPow2(bps) || bps < 512 || bps > 4096) return fail(E.E_NTFS_FIELD, NF_SECTOR, bps, 512);
  if (bps != deviceSectorSize) return fail(E.E_SECTOR_SIZE, deviceSectorSize, bps);
  const raw = ld8(bs + B_SectorsPerCluster);
  let spc: u32 = 0;
  if (raw <= 0x80) spc = raw;
  else if (raw >= 0xe0) spc = (<u32>1) << (256 - raw);
  if (!isPow2(spc)) return fail(E.E_NTFS_FIELD, NF_CLUSTER, raw, 8);
  if (<f64>bps * <f64>spc > <f64>MAX_CLUSTER_BYTES)
    return fail(E.E_CLUSTER_SIZE, <f64>bps * <f64>spc, MAX_CLUSTER_BYTES);
  if (
    ld16(bs + B_Reserved) != 0 ||
    ld8(bs + B_Fats) != 0 ||
    ld16(bs + B_RootEntries) != 0 ||
    ld16(bs + B_Sectors16) != 0 ||
    ld16(bs + B_SectorsPerFat) != 0 ||
    ld32(bs + B_Sectors32) != 0
  )
    return fail(E.E_NTFS_FIELD, NF_ZERO, 1, 0);
  const total = <f64>ld64(bs + B_TotalSectors);
  if (total == 0 || total > partSectors) return fail(E.E_BPB_TOTSEC, total, partSectors);
  const cb = bps * spc;
  const clusters = Math.floor(total / <f64>spc);
  if (clusters < 16) return fail(E.E_NO_DATA_AREA, 0, total);
  const mft = <f64>ld64(bs + B_MftLcn),
    mirr = <f64>ld64(bs + B_MftMirrLcn);
  if (mft >= clusters || mft * <f64>cb < <f64>BOOT_FILE_BYTES) return fail(E.E_NTFS_FIELD, NF_MFT, mft, clusters);
  if (mirr >= clusters) return fail(E.E_NTFS_FIELD, NF_MFTMIRR, mirr, clusters);
  const cpr = <i32>(<i8>ld8(bs + B_ClustersPerRecord));
  const recordBytes: f64 = cpr > 0 ? <f64>cpr * <f64>cb : cpr >= -31 ? <f64>((<u64>1) << (<u64>-cpr)) : 0;
  if (recordBytes < 1024 || recordBytes > 4096 || !isPow2(<u32>recordBytes))
    return fail(E.E_NTFS_FIELD, NF_RECORD, cpr, 1024);
  if (clusters > 0x10000000) return fail(E.E_IMG_HEADER_FIELD, HF_BITS, clusters, 0x10000000); // the image's 2^28-bit bitmap
  v.fsType = FS_NTFS;
  v.bytesPerSector = bps;
  v.sectorsPerCluster = spc;
  v.clusterBytes = cb;
  v.totalSectors = total;
  v.firstDataSector = 0;
  v.firstCluster = 0;
  v.clusterCount = <u32>clusters;
  ntfs.media = ld8(bs + B_Media);
  ntfs.recordBytes = <u32>recordBytes;
  ntfs.mftLcn = mft;
  ntfs.mftRuns = 0;
  ntfs.bmpRuns = 0;
  ntfs.bitmapBytes = 0;
  ntfs.headSectors = ((BOOT_FILE_BYTES + cb - 1) / cb) * spc;
  return 0;
}

// Reads `bytes` at byte `offset` of the data the runs at `runs` (count n) describe into dst,
// in whole sectors (offset and bytes multiples of the sector size). Sparse runs read as zeros.
export function readThroughRuns(dev: u32, v: Volume, runs: usize, n: u32, offset: f64, bytes: u32, dst: usize): i32 {
  const cb = <f64>v.clusterBytes,
    bps = v.bytesPerSector;
  let done: u32 = 0;
  let k: u32 = 0;
  while (done < bytes) {
    const at = offset + <f64>done;
    const vcn = Math.floor(at / cb);
    while (k < n && load<f64>(runs + <usize>k * 24) + load<f64>(runs + <usize>k * 24 + 16) <= vcn) k++;
    if (k >= n || load<f64>(runs + <usize>k * 24) > vcn) return fail(E.E_NTFS_MFT, NM_SHORT, vcn, at);
    const r = runs + <usize>k * 24;
    const runEnd = (load<f64>(r) + load<f64>(r + 16)) * cb;
    const take = <u32>Math.min(<f64>(bytes - done), runEnd - at);
    const lcn = load<f64>(r + 8);
    if (lcn < 0) memory.fill(dst + done, 0, take);
    else {
      const lba = (lcn + (vcn - load<f64>(r))) * <f64>v.sectorsPerCluster + (at % cb) / <f64>bps;
      if (lba + <f64>(take / bps) > v.totalSectors) return fail(E.E_NTFS_MFT, NM_OUTSIDE, lcn, lba);
      const rr = readSectors(dev, lba, (take + bps - 1) / bps, dst + done);
      if (rr < 0) return fail(E.E_DEVICE, rr, dev, lba, take / bps);
    }
    done += take;
  }
  return 0;
}

// Reads MFT record `n` into buf.ntfs + RECORD_AT and applies its update sequence.
function readRecord(dev: u32, v: Volume, n: f64): i32 {
  const rb = ntfs.recordBytes,
    p = buf.ntfs + RECORD_AT;
  let r: i32;
  if (ntfs.mftRuns == 0) {
    const lba = ntfs.mftLcn * <f64>v.sectorsPerCluster + (n * <f64>rb) / <f64>v.bytesPerSector;
    r = readSectors(dev, lba, max<u32>(1, rb / v.bytesPerSector), p);
    if (r < 0) return fail(E.E_DEVICE, r, dev, lba, rb / v.bytesPerSector);
  } else {
    r = readThroughRuns(dev, v, buf.ntfs + MFT_RUNS_AT, ntfs.mftRuns, n * <f64>rb, rb, p);
    if (r < 0) return r;
  }
  if (ld32(p + R_Magic) != FILE_MAGIC) return fail(E.E_NTFS_MFT, NM_MAGIC, n, ld32(p));
  const f = applyFixups(p, rb);
  if (f != 0) return fail(E.E_NTFS_MFT, NM_FIXUP, n, f < 0 ? ld16(p + R_UsaCount) : f);
  if ((ld16(p + R_Flags) & 1) == 0) return fail(E.E_NTFS_MFT, NM_MAGIC, n, 0);
  return 0;
}

// A record's update sequence (rb bytes at p) applied in place: 0; -1 when its header is wrong
// (count or offset); i > 0 when sector i does not end with the sequence number.
export function applyFixups(p: usize, rb: u32): i32 {
  const usa = ld16(p + R_UsaOffset),
    count = ld16(p + R_UsaCount);
  if (count != rb / 512 + 1 || usa < 40 || usa + count * 2 > 510) return -1;
  const usn = ld16(p + usa);
  for (let i: u32 = 1; i < count; i++) {
    const at = p + <usize>(i * 512 - 2);
    if (ld16(at) != usn) return <i32>i;
    store<u16>(at, <u16>ld16(p + usa + i * 2));
  }
  return 0;
}

// The mapping pairs of a non-resident attribute (its runs), decoded one run a call.
export class MappingPairs {
  q: usize = 0;
  end: usize = 0;
  header: u32 = 0; // the last run's header byte
  length: f64 = 0; // clusters of the last run
  delta: f64 = 0; // its LCN less the previous run's
  sparse: bool = false; // it has no LCN (no clusters on the disk)

  // The attribute at `a` (non-resident).
  begin(a: usize): void {
    this.q = a + <usize>ld16(a + A_RunsOffset);
    this.end = a + <usize>ld32(a + A_Length);
  }

  // 1: the next run (length, delta, sparse); 0: the end of the pairs; -1: a malformed header.
  next(): i32 {
    const q = this.q;
    if (q >= this.end) return 0;
    const h = ld8(q);
    this.header = h;
    if (h == 0) return 0;
    const lenBytes = h & 15,
      offBytes = h >>> 4;
    if (lenBytes == 0 || lenBytes > 8 || offBytes > 8 || q + 1 + lenBytes + offBytes > this.end) return -1;
    let length: f64 = 0;
    for (let i: u32 = 0; i < lenBytes; i++) length += <f64>ld8(q + 1 + i) * Math.pow(256, <f64>i);
    let delta: f64 = 0;
    for (let i: u32 = 0; i < offBytes; i++) delta += <f64>ld8(q + 1 + lenBytes + i) * Math.pow(256, <f64>i);
    if (offBytes > 0 && ld8(q + lenBytes + offBytes) >= 0x80) delta -= Math.pow(256, <f64>offBytes);
    this.length = length;
    this.delta = delta;
    this.sparse = offBytes == 0;
    this.q = q + 1 + lenBytes + offBytes;
    return 1;
  }
}
const pairs = new MappingPairs();

// The offset (in the record) of the first attribute of `type` with no name whose start VCN is
// `vcn` (-1: any), or 0; -code on a malformed attribute list.
function findAttribute(n: f64, type: u32, vcn: f64): i32 {
  const p = buf.ntfs + RECORD_AT,
    rb = ntfs.recordBytes;
  const inUse = min<u32>(ld32(p + R_BytesInUse), rb);
  let off = ld16(p + R_FirstAttribute);
  for (let k = 0; k < 64; k++) {
    if (off + 8 > inUse) return fail(E.E_NTFS_MFT, NM_ATTRIBUTE, n, off);
    const a = p + <usize>off;
    const t = ld32(a + A_Type);
    if (t == AT_END) return 0;
    const len = ld32(a + A_Length);
    if (len < 24 || off + len > inUse) return fail(E.E_NTFS_MFT, NM_ATTRIBUTE, n, off);
    if (
      t == type &&
      ld8(a + A_NameLength) == 0 &&
      (vcn < 0 || (ld8(a + A_NonResident) != 0 && <f64>ld64(a + A_StartVcn) == vcn))
    )
      return <i32>off;
    off += len;
  }
  return fail(E.E_NTFS_MFT, NM_ATTRIBUTE, n, off);
}

// Appends the runs of the non-resident attribute at `off` of the current record to the list
// at `runs` (count *at countPtr, at most max). Returns the data size of the attribute.
function appendRuns(n: f64, off: u32, runs: usize, countPtr: usize, max: u32): f64 {
  const p = buf.ntfs + RECORD_AT,
    a = p + <usize>off;
  if (ld8(a + A_NonResident) == 0) return <f64>fail(E.E_NTFS_MFT, NM_RUNS, n, 0);
  let vcn = <f64>ld64(a + A_StartVcn),
    lcn: f64 = 0;
  let count = load<u32>(countPtr);
  pairs.begin(a);
  for (;;) {
    const got = pairs.next();
    if (got == 0) break;
    if (got < 0) return <f64>fail(E.E_NTFS_MFT, NM_RUNS, n, pairs.header);
    if (count >= max) return <f64>fail(E.E_NTFS_MFT, NM_TOO_MANY_RUNS, n, max);
    const r = runs + <usize>count * 24;
    store<f64>(r, vcn);
    if (pairs.sparse) store<f64>(r + 8, -1);
    else {
      lcn += pairs.delta;
      if (lcn < 0) return <f64>fail(E.E_NTFS_MFT, NM_RUNS, n, lcn);
      store<f64>(r + 8, lcn);
    }
    store<f64>(r + 16, pairs.length);
    count++;
    vcn += pairs.length;
  }
  store<u32>(countPtr, count);
  return <f64>ld64(a + A_DataSize);
}

// $MFT's runs (record 0), then $Bitmap's (record 6, through its attribute list if it has one).
export function loadBitmapRuns(dev: u32, v: Volume): i32 {
  const counter = buf.ntfs + 65532; // scratch u32 for appendRuns
  let r = readRecord(dev, v, 0);
  if (r < 0) return r;
  let off = findAttribute(0, AT_DATA, 0);
  if (off <= 0) return off < 0 ? off : fail(E.E_NTFS_MFT, NM_NO_DATA, 0, 0);
  store<u32>(counter, 0);
  const mftBytes = appendRuns(0, <u32>off, buf.ntfs + MFT_RUNS_AT, counter, MFT_RUNS_MAX);
  if (mftBytes < 0) return <i32>mftBytes;
  ntfs.mftRuns = load<u32>(counter);
  ntfs.mftBytes = mftBytes;
  r = readRecord(dev, v, 6);
  if (r < 0) return r;
  store<u32>(counter, 0);
  const list = findAttribute(6, AT_ATTRIBUTE_LIST, -1);
  if (list < 0) return list;
  let size: f64 = -1;
  if (list == 0) {
    off = findAttribute(6, AT_DATA, 0);
    if (off <= 0) return off < 0 ? off : fail(E.E_NTFS_MFT, NM_NO_DATA, 6, 0);
    size = appendRuns(6, <u32>off, buf.ntfs + BMP_RUNS_AT, counter, BMP_RUNS_MAX);
    if (size < 0) return <i32>size;
  } else {
    // the attribute list: copy its value (resident, or read through its own runs) to LIST_AT
    const a = buf.ntfs + RECORD_AT + <usize>list;
    let listBytes: u32;
    if (ld8(a + A_NonResident) == 0) {
      listBytes = ld32(a + A_ValueLength);
      if (listBytes > LIST_MAX || <u32>list + ld16(a + A_ValueOffset) + listBytes > ntfs.recordBytes)
        return fail(E.E_NTFS_MFT, NM_LIST, 6, listBytes);
      memory.copy(buf.ntfs + LIST_AT, a + <usize>ld16(a + A_ValueOffset), listBytes);
    } else {
      const runsAt = buf.ntfs + BMP_RUNS_AT; // borrowed: the bitmap's runs are gathered after
      const dataSize = appendRuns(6, <u32>list, runsAt, counter, 64);
      if (dataSize < 0) return <i32>dataSize;
      if (dataSize > <f64>LIST_MAX) return fail(E.E_NTFS_MFT, NM_LIST, 6, dataSize);
      listBytes = <u32>dataSize;
      const rounded = ((listBytes + v.bytesPerSector - 1) / v.bytesPerSector) * v.bytesPerSector;
      r = readThroughRuns(dev, v, runsAt, load<u32>(counter), 0, rounded, buf.ntfs + LIST_AT);
      if (r < 0) return r;
      store<u32>(counter, 0);
    }
    // every unnamed $DATA entry, in order: its record, and the attribute with that start VCN
    let e: u32 = 0;
    while (e + 26 <= listBytes) {
      const q = buf.ntfs + LIST_AT + <usize>e;
      const len = ld16(q + 4);
      if (len < 26 || e + len > listBytes) return fail(E.E_NTFS_MFT, NM_LIST, 6, e);
      if (ld32(q) == AT_DATA && ld8(q + 6) == 0) {
        const ref = <f64>(ld64(q + 16) & 0x0000ffffffffffff),
          vcn = <f64>ld64(q + 8);
        r = readRecord(dev, v, ref);
        if (r < 0) return r;
        off = findAttribute(ref, AT_DATA, vcn);
        if (off <= 0) return off < 0 ? off : fail(E.E_NTFS_MFT, NM_NO_DATA, ref, vcn);
        const s = appendRuns(ref, <u32>off, buf.ntfs + BMP_RUNS_AT, counter, BMP_RUNS_MAX);
        if (s < 0) return <i32>s;
        if (vcn == 0) size = s;
      }
      e += len;
    }
    if (size < 0) return fail(E.E_NTFS_MFT, NM_NO_DATA, 6, 0);
  }
  ntfs.bmpRuns = load<u32>(counter);
  ntfs.bitmapBytes = size;
  const needed = Math.ceil(<f64>v.clusterCount / 8);
  if (size < needed) return fail(E.E_NTFS_MFT, NM_SHORT, 6, size);
  return 0;
}

export function mftRuns(): usize {
  return buf.ntfs + MFT_RUNS_AT;
}

export function bitmapRuns(): usize {
  return buf.ntfs + BMP_RUNS_AT;
}
