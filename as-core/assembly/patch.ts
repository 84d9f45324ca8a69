// Source patches (docs/image-format.md, section 11): a bounded list of byte changes that a
// backup applies to everything it reads from its source partition, before it scans, checks or
// stores it. The host uses them to leave files out of an image: their FAT entries read as free
// (so the scan does not put their clusters in the bitmap, and they are not stored), and their
// directory entries and FSInfo read as those of empty files. The source itself is never written.
//
// A patch is PATCH_BYTES at buf.patches + PATCH_BYTES * i (PATCH_AT_* in the contract):
//   0  f64 byteOffset  partition byte of the first byte patched
//   8  u32 length      bytes patched (any length for kind 0; 1..4 for kind 1)
//   12 u32 kind        PATCH_ZERO: zero the bytes; PATCH_MASK: byte = (byte & ~mask) | (value & mask), little-endian;
//                      PATCH_LEAVE_OUT: not a byte change: clusters [byteOffset, byteOffset + length) are left out of
//                      the bitmap by the scan (their file stays allocated; NTFS page and hibernation files);
//                      PATCH_KEEP: clusters [byteOffset, byteOffset + length) are put in the bitmap by the scan
//                      (the directory tree reaches them, the file system marks them free: treeWalk adds these)
//   16 u32 value
//   20 u32 mask

import {
  NO_DEVICE,
  PATCH_AT_BYTE_OFFSET,
  PATCH_AT_KIND,
  PATCH_AT_LENGTH,
  PATCH_AT_MASK,
  PATCH_AT_VALUE,
  PATCH_BYTES,
  PATCH_KEEP,
  PATCH_LEAVE_OUT,
  PATCH_ZERO,
} from "./abi";
import { devRead } from "./io";
import { buf, PATCH_MAX } from "./mem";

export class PatchState {
  dev: u32 = NO_DEVICE; // the device the patches apply to
  sectorBytes: u32 = 512;
  count: u32 = 0;
}

export const patches = new PatchState();

// Patches apply to reads from `dev` from now on (count 0: none). Returns -1 when count is too large.
export function setPatches(dev: u32, sectorBytes: u32, count: u32): i32 {
  if (count > PATCH_MAX) return -1;
  patches.dev = count > 0 ? dev : NO_DEVICE;
  patches.sectorBytes = sectorBytes;
  patches.count = count;
  return 0;
}

export function clearPatches(): void {
  patches.dev = NO_DEVICE;
  patches.count = 0;
}

// devRead, then the patches that overlap what was read.
export function readSectors(dev: u32, lba: f64, sectorCount: u32, ptr: usize): i32 {
  const r = devRead(dev, lba, sectorCount, ptr);
  if (r < 0 || dev != patches.dev) return r;
  const from = lba * <f64>patches.sectorBytes,
    to = from + <f64>sectorCount * <f64>patches.sectorBytes;
  for (let i: u32 = 0; i < patches.count; i++) {
    const p = buf.patches + <usize>i * PATCH_BYTES;
    const at = load<f64>(p + PATCH_AT_BYTE_OFFSET),
      len = <f64>load<u32>(p + PATCH_AT_LENGTH);
    const kind = load<u32>(p + PATCH_AT_KIND);
    if (kind == PATCH_LEAVE_OUT || kind == PATCH_KEEP || at >= to || at + len <= from) continue;
    const first = Math.max(at, from),
      last = Math.min(at + len, to);
    if (kind == PATCH_ZERO) {
      memory.fill(ptr + <usize>(first - from), 0, <usize>(last - first));
      continue;
    }
    const value = load<u32>(p + PATCH_AT_VALUE),
      mask = load<u32>(p + PATCH_AT_MASK);
    for (let b = first; b < last; b += 1) {
      const k = (<u32>(b - at)) << 3; // bit position of this byte in value and mask
      const m = <u8>(mask >>> k),
        v = <u8>(value >>> k);
      const q = ptr + <usize>(b - from);
      store<u8>(q, (load<u8>(q) & ~m) | (v & m));
    }
  }
  return r;
}

// Clears, in the bitmap window at `bitmap` (bit 0 = cluster bitBase, `bits` long), the bits of the
// cluster runs that PATCH_LEAVE_OUT patches of `dev` leave out. Returns how many were set.
export function leaveOutRuns(dev: u32, bitBase: f64, bits: f64, bitmap: usize): f64 {
  return applyRuns(dev, PATCH_LEAVE_OUT, bitBase, bitBase, bits, bitmap);
}

// Sets, in the same window, the bits of clusters [first, first + count) that PATCH_KEEP patches
// of `dev` keep (reached by the directory tree, marked free). Returns how many were clear.
export function keepRuns(dev: u32, bitBase: f64, first: f64, count: f64, bitmap: usize): f64 {
  return applyRuns(dev, PATCH_KEEP, bitBase, first, count, bitmap);
}

// The bits of clusters [first, first + count) in the window of `kind` patches' runs: cleared
// (LEAVE_OUT) or set (KEEP). Returns how many changed.
function applyRuns(dev: u32, kind: u32, bitBase: f64, first: f64, count: f64, bitmap: usize): f64 {
  if (dev != patches.dev) return 0;
  const setting = kind == PATCH_KEEP;
  let changed: f64 = 0;
  for (let i: u32 = 0; i < patches.count; i++) {
    const p = buf.patches + <usize>i * PATCH_BYTES;
    if (load<u32>(p + PATCH_AT_KIND) != kind) continue;
    const at = load<f64>(p + PATCH_AT_BYTE_OFFSET);
    const from = Math.max(at, first),
      to = Math.min(at + <f64>load<u32>(p + PATCH_AT_LENGTH), first + count);
    for (let c = from; c < to; c += 1) {
      const bit = <u32>(c - bitBase);
      const q = bitmap + (bit >>> 3);
      const m = <u8>(1 << (<u8>(bit & 7)));
      if (((load<u8>(q) & m) != 0) == setting) continue;
      store<u8>(q, setting ? load<u8>(q) | m : load<u8>(q) & ~m);
      changed += 1;
    }
  }
  return changed;
}
