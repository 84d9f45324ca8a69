// The target side of a restore: writing sectors and clusters (only those that differ, when the
// target is compared), the "restore in progress" mark and the boot sector over it, reading the
// target back and comparing what was written (docs/image-format.md 10). restore.ts and
// compare-first.ts write through these.

import * as E from "../errors";
import { fail } from "../errors";
import { recordCheck } from "../hash";
import * as H from "../image/layout";
import { devFlush, st64 } from "../io";
import { AUX_BYTES, buf } from "../mem";
import { job, PH_META, partRead, partWrite } from "./job";

// Target sectors from `data`, counted as written.
export function writeSectors(lba: f64, sectors: u32, data: usize): i32 {
  const r = partWrite(job.dst, lba, sectors, data);
  if (r >= 0) job.targetBytesWritten += <f64>sectors * job.sectorBytes;
  return r;
}

export function writeClusters(start: f64, len: u32, data: usize): i32 {
  return writeSectors(job.clusterLba(start), len * job.sectorsPerCluster, data);
}

// Writes `units` units of `unitSectors` sectors from `data` at `lba`, only the stretches in
// which `data` differs from `current` (what the target holds), each stretch in one write.
// firstBit: the first unit's cluster (data), or -1 (metadata sectors). Compare-first: each stretch
// is read back as soon as it is written (readBack).
export function writeDifferingUnits(
  lba: f64,
  units: u32,
  unitSectors: u32,
  current: usize,
  data: usize,
  firstBit: f64,
): i32 {
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
export function readTargetPiece(start: f64, done: u32, len: u32): i32 {
  const n = min(max<u32>(1, AUX_BYTES / job.geo.clusterBytes), len - done);
  const r = partRead(job.dst, job.clusterLba(start + <f64>done), n * job.sectorsPerCluster, buf.aux);
  return r < 0 ? r : <i32>n;
}

// Differential restore: reads the run from the target, a piece at a time, and writes only the
// clusters that differ from the image's, each stretch of differing clusters in one write.
export function writeDiffering(start: f64, len: u32, data: usize): i32 {
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
export function writeMark(): i32 {
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

export function flushTarget(): i32 {
  const r = devFlush(job.dst);
  return r < 0 ? fail(E.E_DEVICE, r, job.dst, -1, 0) : 0;
}

// Reads a run of the target into buf.aux, a piece at a time, and compares it with `expected`.
export function readBackRun(start: f64, len: u32, expected: usize): i32 {
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

export function noteMismatch(bit: f64): void {
  if (job.firstMismatch < 0) job.firstMismatch = bit;
  job.mismatches += 1;
}

// n: a multiple of 64 (a cluster: at least 512 bytes). The portable build (no SIMD) compares
// eight u64 words per 64 bytes.
export function equalBytes(a: usize, b: usize, n: usize): bool {
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

// The boot sector over the mark, between two flushes: only then is the restore complete.
export function writeBootSector(data: usize): i32 {
  let r = flushTarget();
  if (r >= 0) r = writeSectors(0, 1, data);
  if (r >= 0) r = flushTarget();
  return r >= 0 && readBackAtOnce() ? readBackSectors(0, 1, 1, data, -1) : r;
}

// The metadata a compare-first restore writes is read back as soon as it is written (the listed
// stretches are read back a batch at a time, writeDiffBatch; the blocks after an overflow one
// block behind, readBackBlock).
export function readBackAtOnce(): bool {
  return job.compareFirst && job.readBack && job.phase == PH_META;
}

// Reads back `units` units of `unitSectors` sectors just written at lba from `data` and compares
// them: a unit that differs is a mismatched cluster (firstBit: the first unit's) or, with
// firstBit -1, metadata that differs.
export function readBackSectors(lba: f64, units: u32, unitSectors: u32, data: usize, firstBit: f64): i32 {
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
