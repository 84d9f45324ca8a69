// The FAT checks of the firmware's health check, one window of entries per call: every copy
// compared with copy 0, and copy 0's clusters counted free, allocated, bad, and lost (allocated
// but not reached by the directory walk, whose claimed bits the host writes first). These are
// the bulk loops an interpreter should not run (the firmware's QuickJS); the walk itself stays
// on the portable side.

import * as A from "../abi";
import { E_DEVICE, E_FAT_CHECK_RANGE, fail } from "../errors";
import { probe } from "../fs/probe";
import { volume } from "../fs/volume";
import { ld16, ld32 } from "../io";
import { buf, FAT_WINDOW_BYTES, setResult } from "../mem";
import { readSectors } from "../patch";
import * as L from "./layout";
import { badMark, fat } from "./volume";

// entry n of a window at p that starts with entry `first` (FAT12: the whole FAT, first 0)
function entryOf(fsType: u32, p: usize, first: u32, n: u32): u32 {
  if (fsType == L.FS_FAT32) return ld32(p + ((<usize>(n - first)) << 2)) & 0x0fffffff;
  if (fsType == L.FS_FAT16) return ld16(p + ((<usize>(n - first)) << 1));
  const w = ld16(p + <usize>(n + (n >>> 1)));
  return (n & 1) != 0 ? w >>> 4 : w & 0xfff;
}

export function fatCheck(dev: u32, sectorBytes: u32, partSectors: f64, first: u32, count: u32): i32 {
  const r = probe(dev, sectorBytes, partSectors);
  if (r < 0) return r;
  const t = volume.fsType,
    entries = volume.clusterCount + 2;
  if (
    (t != L.FS_FAT12 && t != L.FS_FAT16 && t != L.FS_FAT32) ||
    count > A.FAT_CHECK_MAX ||
    <f64>first + <f64>count > entries
  )
    return fail(E_FAT_CHECK_RANGE, first, count, entries, t);
  const bps = volume.bytesPerSector;
  // the bytes of the window (FAT12: the whole FAT, at most 6 KiB; FAT16/32 at most FAT_WINDOW_BYTES)
  const startByte: u32 = t == L.FS_FAT12 ? 0 : t == L.FS_FAT16 ? first << 1 : first << 2;
  const endByte: u32 =
    t == L.FS_FAT12 ? (entries * 3 + 1) / 2 : t == L.FS_FAT16 ? (first + count) << 1 : (first + count) << 2;
  const sector0 = startByte / bps,
    sectors = min((endByte + bps - 1) / bps, fat.fatSectors) - sector0;
  const base: u32 = sector0 * bps; // entries are read at (their byte - base)
  if (sectors * bps > FAT_WINDOW_BYTES) return fail(E_FAT_CHECK_RANGE, first, count, entries, t);
  const a = buf.fatA + startByte - base;
  let rd = readSectors(dev, <f64>fat.reservedSectors + <f64>sector0, sectors, buf.fatA);
  if (rd < 0) return fail(E_DEVICE, rd, dev, <f64>fat.reservedSectors + <f64>sector0, sectors);
  const win = t == L.FS_FAT12 ? 0 : first; // entryOf's `first` for this window's buffers
  let differing: f64 = 0,
    firstDiffering: f64 = -1;
  for (let copy: u32 = 1; copy < fat.fatCount; copy++) {
    const lba = <f64>fat.reservedSectors + <f64>copy * <f64>fat.fatSectors + <f64>sector0;
    rd = readSectors(dev, lba, sectors, buf.fatB);
    if (rd < 0) return fail(E_DEVICE, rd, dev, lba, sectors);
    const b = buf.fatB + startByte - base;
    for (let n = first; n < first + count; n++) {
      if (entryOf(t, a, win, n) != entryOf(t, b, win, n)) {
        if (firstDiffering < 0) firstDiffering = n;
        differing += 1;
      }
    }
  }
  let free: f64 = 0,
    allocated: f64 = 0,
    lost: f64 = 0,
    firstLost: f64 = -1,
    badCount: f64 = 0;
  const bad = badMark(t);
  for (let n = max<u32>(first, 2); n < first + count; n++) {
    const e = entryOf(t, a, win, n);
    if (e == 0) {
      free += 1;
      continue;
    }
    if (e == bad) {
      badCount += 1;
      continue;
    }
    allocated += 1;
    const bit = n - first;
    if ((load<u8>(buf.claimed + (bit >>> 3)) & ((<u8>1) << (<u8>(bit & 7)))) == 0) {
      if (firstLost < 0) firstLost = n;
      lost += 1;
    }
  }
  setResult(A.SLOT_FCK_DIFFERING, differing);
  setResult(A.SLOT_FCK_FIRST_DIFFERING, firstDiffering);
  setResult(A.SLOT_FCK_FREE, free);
  setResult(A.SLOT_FCK_ALLOCATED, allocated);
  setResult(A.SLOT_FCK_LOST, lost);
  setResult(A.SLOT_FCK_FIRST_LOST, firstLost);
  setResult(A.SLOT_FCK_BAD, badCount);
  return 0;
}
