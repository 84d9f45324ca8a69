// The wasm core's exports. The host calls init() once, then one job at a time:
// *Begin(...) and step(budget) until it returns 1; a negative result is a failed job whose
// code and values are read with failureCode()/failureValue(). Results are f64 slots at
// resultPtr(). Every export, slot, flag and code is declared in as-core/contract/core-abi.json
// (docs/core-abi.md is the reference; abi.ts the constants).

import * as A from "./abi";
import { backupParams, backupStep, backupBegin as beginBackup } from "./engine/backup";
import { JOB_BACKUP, JOB_RESTORE, JOB_SCAN, JOB_VERIFY, job, publishProgress } from "./engine/job";
import { restoreBegin as beginRestore, restoreStep } from "./engine/restore";
import { E_STATE, fail, failure } from "./errors";
import { findBitmap } from "./exfat/volume";
import { exfatWalk } from "./exfat/walk";
import { fatCheck as checkFat } from "./fat/check";
import { fatWalk } from "./fat/walk";
import { CLAIM_WINDOW, walked } from "./fs/keep";
import { mounted, probe } from "./fs/probe";
import { volume } from "./fs/volume";
import { cbh } from "./hash";
import {
  layerClose as closeLayer,
  sectorCopy as copySectors,
  layerOpen as openLayer,
  layerStat as statOf,
} from "./layers";
import { buf, clearResults, initBuffers, setResult } from "./mem";
import { ntfsWalk } from "./ntfs/walk";
import { clearPatches, setPatches as storePatches } from "./patch";
import { scanPartitions as scanTable } from "./ptable";
import { scanMagic as scanFor } from "./scan-magic";

// Source patches (patch.ts): the host writes `count` 24-byte patches at patchesPtr(), then
// setPatches(dev, ...) makes every later read from handle `dev` see them, until
// setPatches(dev, sectorBytes, 0) or the next restore/verify. -1: more than the core holds.
export function patchesPtr(): usize {
  return buf.patches;
}
export function setPatches(dev: u32, sectorBytes: u32, count: u32): i32 {
  return storePatches(dev, sectorBytes, count);
}

export function init(): void {
  initBuffers();
}
export function resultPtr(): usize {
  return buf.result;
}
export function paramsPtr(): usize {
  return buf.params;
}
export function ioPtr(): usize {
  return buf.io;
}
export function io2Ptr(): usize {
  return buf.io2;
}
export function failureCode(): i32 {
  return failure.code;
}
export function failureValue(i: i32): f64 {
  return i == 0 ? failure.v0 : i == 1 ? failure.v1 : i == 2 ? failure.v2 : failure.v3;
}

export function scanPartitions(dev: u32, sectorBytes: u32, diskSectors: f64): i32 {
  return scanTable(dev, sectorBytes, diskSectors);
}

// The boot record of the volume on dev (FAT, exFAT or NTFS): its geometry in the volume results
// (SLOT_VOL_*), the common parameters here, the file system's own from its record (a slot it has
// no field for stays 0).
export function probeVolume(dev: u32, sectorBytes: u32, partSectors: f64): i32 {
  clearResults();
  const r = probe(dev, sectorBytes, partSectors);
  if (r < 0) return r;
  const v = volume;
  setResult(A.SLOT_VOL_FS_TYPE, v.fsType);
  setResult(A.SLOT_VOL_BYTES_PER_SECTOR, v.bytesPerSector);
  setResult(A.SLOT_VOL_SECTORS_PER_CLUSTER, v.sectorsPerCluster);
  setResult(A.SLOT_VOL_CLUSTER_BYTES, v.clusterBytes);
  setResult(A.SLOT_VOL_TOTAL_SECTORS, v.totalSectors);
  setResult(A.SLOT_VOL_FIRST_DATA, v.firstDataSector);
  setResult(A.SLOT_VOL_CLUSTER_COUNT, v.clusterCount);
  mounted().publishGeometry(); // the file system's own volume results
  return 0;
}

// The directory tree of the volume on dev, checked against its allocation (fat/walk.ts,
// exfat/walk.ts, ntfs/walk.ts): runs it reaches that are marked free become KEEP patches from
// index firstPatch on. exFAT and NTFS are walked once per window of clusters checked for
// cross-links (fs/keep.ts), at most WALK_CROSS_WINDOWS_MAX; the first pass's counts are the
// results. Synchronous, between jobs.
export function treeWalk(dev: u32, sectorBytes: u32, partSectors: f64, firstPatch: u32): i32 {
  clearResults();
  if (firstPatch > A.PATCH_MAX) return fail(E_STATE, firstPatch);
  let r = probe(dev, sectorBytes, partSectors);
  if (r < 0) return r;
  setResult(A.SLOT_VOL_FS_TYPE, volume.fsType);
  const t = volume.fsType;
  if (t == A.FS_EXFAT) {
    r = findBitmap(dev, volume);
    if (r < 0) return r;
  }
  const claiming = t == A.FS_EXFAT || t == A.FS_NTFS;
  const clusters = <f64>volume.firstCluster + <f64>volume.clusterCount;
  const passes = claiming ? <u32>Math.min(Math.ceil(clusters / CLAIM_WINDOW), <f64>A.WALK_CROSS_WINDOWS_MAX) : 1;
  walked.begin(firstPatch, claiming);
  let dirs: f64 = 0,
    files: f64 = 0,
    badChains: f64 = 0,
    tooDeep: f64 = 0;
  for (let p: u32 = 0; p < passes; p++) {
    walked.beginPass(p);
    r = t == A.FS_NTFS ? ntfsWalk(dev, volume) : t == A.FS_EXFAT ? exfatWalk(dev, volume) : fatWalk(dev, volume);
    if (r < 0) {
      walked.finish(); // (the bitmap buffer zeroed)
      return r;
    }
    if (p == 0) {
      dirs = walked.dirs;
      files = walked.files;
      badChains = walked.badChains;
      tooDeep = walked.tooDeep;
    }
  }
  walked.dirs = dirs;
  walked.files = files;
  walked.badChains = badChains;
  walked.tooDeep = tooDeep;
  if (claiming) walked.crossUnchecked = Math.max(0, clusters - <f64>passes * CLAIM_WINDOW);
  return walked.finish();
}

export function scanBegin(dev: u32, sectorBytes: u32, partSectors: f64): i32 {
  clearResults();
  return beginBackup(dev, sectorBytes, partSectors, 0, true);
}

// params: image name (64 bytes) and partition type GUID (16) at paramsPtr()
export function backupBegin(
  src: u32,
  sectorBytes: u32,
  partSectors: f64,
  img: u32,
  partType: u32,
  partStart: f64,
  created: f64,
): i32 {
  return backupBeginFlags(src, sectorBytes, partSectors, img, partType, partStart, created, 0);
}

// backupBegin with flags. BACKUP_RECORD_UNREADABLE (docs/image-format.md 5.1): a cluster the
// source cannot read (an I/O error) is stored as zeros with the unreadable mark instead of
// failing the backup, and header flag bit 1 is set; the unreadable results (SLOT_UNREADABLE_*)
// count and list them.
export function backupBeginFlags(
  src: u32,
  sectorBytes: u32,
  partSectors: f64,
  img: u32,
  partType: u32,
  partStart: f64,
  created: f64,
  flags: u32,
): i32 {
  clearResults();
  backupParams.partType = partType;
  backupParams.partStart = partStart;
  backupParams.created = created;
  backupParams.recordUnreadable = (flags & A.BACKUP_RECORD_UNREADABLE) != 0;
  return beginBackup(src, sectorBytes, partSectors, img, false);
}

// flags (RestoreFlag): RESTORE_READ_BACK: read every written cluster
// and the metadata back and compare them with the image (mismatches in the result slots).
// RESTORE_FULL: write every cluster, instead of reading the target first and writing
// only what differs. RESTORE_ONE_PASS: read the image once, strictly front to back
// (but for re-reads of the header and bitmap, [0, MetaOffset)), writing behind the mark as it
// goes, the boot sector held in memory until every check has passed (docs/image-format.md 10.1).
// Bytes read from the target to compare and bytes written: SLOT_TARGET_BYTES_READ and _WRITTEN.
export function restoreBegin(
  img: u32,
  imageSectors: f64,
  target: u32,
  targetSectorBytes: u32,
  targetSectors: f64,
  flags: u32,
): i32 {
  clearResults();
  clearPatches();
  return beginRestore(img, imageSectors, target, targetSectorBytes, targetSectors, false, flags);
}

// target NO_DEVICE: check the image alone
export function verifyBegin(img: u32, imageSectors: f64, target: u32, targetSectorBytes: u32, targetSectors: f64): i32 {
  clearResults();
  clearPatches();
  return beginRestore(img, imageSectors, target, targetSectorBytes, targetSectors, true, 0);
}

// Runs the current job for about `budget` bytes of I/O. 1 = done, 0 = more, < 0 = failed.
export function step(budget: f64): i32 {
  let r: i32;
  if (job.kind == JOB_BACKUP || job.kind == JOB_SCAN) r = backupStep(budget);
  else if (job.kind == JOB_RESTORE || job.kind == JOB_VERIFY) r = restoreStep(budget);
  else r = fail(E_STATE, job.kind);
  publishProgress();
  return r;
}

export function claimedPtr(): usize {
  return buf.claimed;
}

export function fatCheck(dev: u32, sectorBytes: u32, partSectors: f64, first: u32, count: u32): i32 {
  clearResults();
  return checkFat(dev, sectorBytes, partSectors, first, count);
}

// CBH-64 of byteCount bytes at ptr (a multiple of 64), into SLOT_CHECK_DIGEST as raw bits.
export function checkOf(ptr: usize, byteCount: u32, seed: f64): void {
  cbh.reset(<u64>seed);
  cbh.update(ptr, byteCount);
  store<u64>(buf.result + ((<usize>A.SLOT_CHECK_DIGEST) << 3), cbh.digest64());
}

// Layers over the host's devices (layers.ts; LayerKind in the contract).
export function layerOpen(kind: u32, parent: u32, a: f64, b: f64, c: f64, d: f64): i32 {
  return openLayer(kind, parent, a, b, c, d);
}
export function layerClose(handle: u32): i32 {
  return closeLayer(handle);
}
export function layerStat(handle: u32, stat: u32): f64 {
  return statOf(handle, stat);
}
export function sectorCopy(src: u32, srcLba: f64, dst: u32, dstLba: f64, count: f64, sectorBytes: u32): i32 {
  return copySectors(src, srcLba, dst, dstLba, count, sectorBytes);
}
export function scanMagic(dev: u32, sectorBytes: u32, stopByte: f64, endByte: f64): i32 {
  return scanFor(dev, sectorBytes, stopByte, endByte);
}
