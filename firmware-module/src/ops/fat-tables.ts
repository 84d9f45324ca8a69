// The second view of a device that the design card asks for: a FAT volume's allocation
// tables, read in bounded windows, with the copies compared. The firmware's health check and
// the tests use it; the core reads the same bytes through its own imports.

import { Core, Slot } from "./core";
import { BlockDevice } from "./devices";

export interface FatGeometry {
  fsType: 1 | 2 | 3;
  bytesPerSector: number;
  reservedSectors: number;
  fatCount: number;
  fatSectors: number;
  clusterCount: number;
  firstDataSector: number;
  clusterBytes: number;
}

export interface FatCompare {
  /** Entries (clusters 0 .. clusterCount + 1) that differ between copy 0 and another copy. */
  differing: number;
  /** The first differing entry's index, or -1. */
  firstDiffering: number;
}

const WINDOW_ENTRIES = 65536; // the most entries() gives at once
/** Typed arrays use the platform's byte order; the raw comparison needs FAT's (little-endian). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const COMPARE_ENTRIES = 16384; // compareCopies' window: 64 KiB of FAT32 entries (the firmware's QuickJS heap is 1 MiB)

export class FatTables {
  readonly geometry: FatGeometry;
  constructor(
    readonly device: BlockDevice,
    core: Core,
  ) {
    const h = core.attach(device);
    try {
      core.check(core.exports.probeVolume(h, device.sectorSize, device.sectorCount));
    } finally {
      core.detach(h);
    }
    const r = core.results();
    this.geometry = {
      fsType: r[Slot.volFsType] as 1 | 2 | 3,
      bytesPerSector: r[Slot.volBytesPerSector],
      reservedSectors: r[Slot.volReserved],
      fatCount: r[Slot.volFatCount],
      fatSectors: r[Slot.volFatSectors],
      clusterCount: r[Slot.volClusterCount],
      firstDataSector: r[Slot.volFirstData],
      clusterBytes: r[Slot.volClusterBytes],
    };
  }

  get entryCount(): number {
    return this.geometry.clusterCount + 2;
  }
  get entryBits(): number {
    return [0, 12, 16, 32][this.geometry.fsType];
  }

  /**
   * Entries first .. first + count - 1 of FAT copy `copy` (at most 65536 at a time: windows
   * stay bounded). FAT32 entries are masked to 28 bits.
   */
  entries(copy: number, first: number, count: number): Uint32Array {
    const g = this.geometry;
    if (copy < 0 || copy >= g.fatCount)
      throw new RangeError(`FAT copy ${copy} does not exist (the volume has ${g.fatCount})`);
    if (first < 0 || count < 0 || count > WINDOW_ENTRIES || first + count > this.entryCount) {
      throw new RangeError(
        `FAT entries ${first}..${first + count - 1} are outside 0..${this.entryCount - 1} or over ${WINDOW_ENTRIES} at once`,
      );
    }
    const bps = g.bytesPerSector,
      bits = this.entryBits;
    const startByte = Math.floor((first * bits) / 8),
      endByte = Math.ceil(((first + count) * bits) / 8) + 1;
    const sector0 = Math.floor(startByte / bps);
    const sectors = Math.min(Math.ceil(endByte / bps), g.fatSectors) - sector0;
    const buf = new Uint8Array(sectors * bps + 2);
    this.device.read(g.reservedSectors + copy * g.fatSectors + sector0, sectors, buf, 0);
    const out = new Uint32Array(count);
    const base = sector0 * bps;
    if (LITTLE_ENDIAN && bits !== 12) {
      // typed-array views of the raw sectors (aligned: base is a sector boundary): no DataView call per entry
      if (bits === 32) {
        const raw = new Uint32Array(buf.buffer, first * 4 - base, count);
        for (let i = 0; i < count; i++) out[i] = raw[i] & 0x0fffffff;
      } else out.set(new Uint16Array(buf.buffer, first * 2 - base, count));
      return out;
    }
    const view = new DataView(buf.buffer);
    for (let i = 0; i < count; i++) {
      const n = first + i;
      if (bits === 32) out[i] = view.getUint32(n * 4 - base, true) & 0x0fffffff;
      else if (bits === 16) out[i] = view.getUint16(n * 2 - base, true);
      else {
        const w = view.getUint16(n + (n >> 1) - base, true);
        out[i] = n & 1 ? w >> 4 : w & 0xfff;
      }
    }
    return out;
  }

  /**
   * Compares every FAT copy with copy 0, one window at a time. FAT16 and FAT32 copies are
   * compared as raw 16- or 32-bit words (FAT32's top 4 bits masked) in two reused buffers: no
   * entry is decoded, which is what makes it quick in an interpreter (the firmware's QuickJS).
   */
  compareCopies(): FatCompare {
    const g = this.geometry,
      bits = this.entryBits;
    if (bits === 12 || g.fatCount < 2 || !LITTLE_ENDIAN) return this.compareDecoded();
    let differing = 0,
      firstDiffering = -1;
    const bps = g.bytesPerSector,
      windowBytes = (COMPARE_ENTRIES * bits) / 8;
    const sectorsMax = Math.ceil(windowBytes / bps);
    const a = new Uint8Array(sectorsMax * bps),
      b = new Uint8Array(sectorsMax * bps);
    const a32 = new Uint32Array(a.buffer),
      b32 = new Uint32Array(b.buffer),
      a16 = new Uint16Array(a.buffer),
      b16 = new Uint16Array(b.buffer);
    for (let first = 0; first < this.entryCount; first += COMPARE_ENTRIES) {
      const count = Math.min(COMPARE_ENTRIES, this.entryCount - first);
      const sector0 = (first * bits) / 8 / bps; // windows start on sector boundaries (bps divides windowBytes)
      const sectors = Math.min(Math.ceil((count * bits) / 8 / bps), g.fatSectors - sector0);
      this.device.read(g.reservedSectors + sector0, sectors, a, 0);
      for (let copy = 1; copy < g.fatCount; copy++) {
        this.device.read(g.reservedSectors + copy * g.fatSectors + sector0, sectors, b, 0);
        for (let i = 0; i < count; i++) {
          const differs = bits === 32 ? ((a32[i] ^ b32[i]) & 0x0fffffff) !== 0 : a16[i] !== b16[i];
          if (differs) {
            differing++;
            if (firstDiffering < 0) firstDiffering = first + i;
          }
        }
      }
    }
    return { differing, firstDiffering };
  }

  /** compareCopies entry by entry (FAT12, and a big-endian platform). */
  private compareDecoded(): FatCompare {
    let differing = 0,
      firstDiffering = -1;
    for (let first = 0; first < this.entryCount; first += COMPARE_ENTRIES) {
      const count = Math.min(COMPARE_ENTRIES, this.entryCount - first);
      const a = this.entries(0, first, count);
      for (let copy = 1; copy < this.geometry.fatCount; copy++) {
        const b = this.entries(copy, first, count);
        for (let i = 0; i < count; i++) {
          if (a[i] !== b[i]) {
            differing++;
            if (firstDiffering < 0) firstDiffering = first + i;
          }
        }
      }
    }
    return { differing, firstDiffering };
  }

  /** Whether a cluster is allocated (non-zero and not the bad mark) in copy 0. */
  isAllocated(cluster: number, copy = 0): boolean {
    const e = this.entries(copy, cluster, 1)[0];
    const bad = [0, 0xff7, 0xfff7, 0x0ffffff7][this.geometry.fsType];
    return e !== 0 && e !== bad;
  }
}
