// FAT entries (FAT12/16/32, and exFAT's FAT) read for a tree walk through a small cache: the FAT
// in windows of FAT_CACHE_WINDOW_BYTES, up to FAT_CACHE_WINDOWS of them held in buf.aux, each
// window in the slot its number picks (direct mapped). Reads go through the source patches, so
// a file the host leaves out is not reached. Between jobs only: the walk owns aux.

import { E_DEVICE, fail } from "../errors";
import { ld16, ld32 } from "../io";
import { AUX_BYTES, buf } from "../mem";
import { readSectors } from "../patch";

export const FAT_CACHE_WINDOW_BYTES: u32 = 64 << 10;
const FAT_CACHE_WINDOWS: u32 = AUX_BYTES / FAT_CACHE_WINDOW_BYTES;

// the window number in each slot; -1: none
const held = new StaticArray<f64>(FAT_CACHE_WINDOWS);

export class FatCache {
  dev: u32 = 0;
  startLba: f64 = 0; // the FAT's first sector
  sectors: f64 = 0; // its length in sectors
  bytesPerSector: u32 = 512;
  entryBits: u32 = 32; // 12, 16 or 32
  windowsRead: f64 = 0;

  begin(dev: u32, startLba: f64, sectors: f64, bytesPerSector: u32, entryBits: u32): void {
    this.dev = dev;
    this.startLba = startLba;
    this.sectors = sectors;
    this.bytesPerSector = bytesPerSector;
    this.entryBits = entryBits;
    this.windowsRead = 0;
    for (let i: u32 = 0; i < FAT_CACHE_WINDOWS; i++) held[i] = -1;
  }

  // Entry n as stored (a FAT32 caller masks it to 28 bits), or a negative code. n must be within
  // the FAT (the caller checks it against the cluster count).
  entry(n: u32): i64 {
    const bits = this.entryBits;
    const byte: f64 = bits == 12 ? <f64>(n + (n >>> 1)) : <f64>n * <f64>(bits >>> 3);
    const window = Math.floor(byte / <f64>FAT_CACHE_WINDOW_BYTES);
    const slot = <u32>(window % <f64>FAT_CACHE_WINDOWS);
    const base = buf.aux + <usize>slot * FAT_CACHE_WINDOW_BYTES;
    if (held[slot] != window) {
      const perWindow = FAT_CACHE_WINDOW_BYTES / this.bytesPerSector;
      const first = window * <f64>perWindow;
      const count = <u32>Math.min(<f64>perWindow, this.sectors - first);
      const lba = this.startLba + first;
      const r = readSectors(this.dev, lba, count, base);
      if (r < 0) return <i64>fail(E_DEVICE, r, this.dev, lba, count);
      held[slot] = window;
      this.windowsRead += 1;
    }
    const at = base + <usize>(byte - window * <f64>FAT_CACHE_WINDOW_BYTES);
    if (bits == 32) return <i64>ld32(at);
    if (bits == 16) return <i64>ld16(at);
    const w = ld16(at); // FAT12: the whole FAT is in window 0
    return <i64>((n & 1) != 0 ? w >>> 4 : w & 0xfff);
  }
}

export const fatCache = new FatCache();
