// The second view of a device that the design card asks for: a FAT volume's allocation
// tables, read in bounded windows, with the copies compared. The firmware's health check and
// the tests use it; the core reads the same bytes through its own imports, and does the bulk
// checks (copies compared, clusters counted) for it.

import { FAT_CHECK_MAX } from "./abi";
import { Core, Slot } from "./core";
import { BlockDevice } from "./devices";
import { ClusterBitmap } from "./fat-dir";

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

/** FatTables.check(): FatCompare, and copy 0's clusters (entries 2 and up) counted. */
export interface FatCheck extends FatCompare {
  free: number;
  /** Neither free nor marked bad. */
  allocated: number;
  /** Allocated, and not among the claimed clusters. */
  lost: number;
  /** The first lost cluster, or -1. */
  firstLost: number;
  bad: number;
}

export interface FatCompare {
  /** Entries (clusters 0 .. clusterCount + 1) that differ between copy 0 and another copy. */
  differing: number;
  /** The first differing entry's index, or -1. */
  firstDiffering: number;
}

const WINDOW_ENTRIES = 65536; // the most entries() gives at once
/** Typed arrays use the platform's byte order; entries() reads FAT's (little-endian) through views when they agree. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class FatTables {
  readonly geometry: FatGeometry;
  constructor(
    readonly device: BlockDevice,
    private readonly core: Core,
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
    const raw = this.window(copy, first, count);
    if (this.entryBits !== 32) return raw instanceof Uint32Array ? raw : Uint32Array.from(raw);
    const out = new Uint32Array(count);
    for (let i = 0; i < count; i++) out[i] = raw[i] & 0x0fffffff;
    return out;
  }

  /**
   * entries() as read: on a little-endian platform FAT16 and FAT32 entries are a view of the
   * sectors read (no copy, no decoding; FAT32's top 4 bits not masked), FAT12 entries decoded.
   */
  window(copy: number, first: number, count: number): Uint32Array | Uint16Array {
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
    const base = sector0 * bps;
    // typed-array views of the raw sectors (aligned: base is a sector boundary)
    if (LITTLE_ENDIAN && bits === 32) return new Uint32Array(buf.buffer, first * 4 - base, count);
    if (LITTLE_ENDIAN && bits === 16) return new Uint16Array(buf.buffer, first * 2 - base, count);
    const out = new Uint32Array(count);
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
   * The core's FAT checks (its fatCheck export), FAT_CHECK_MAX entries at a time: every copy
   * compared with copy 0, and copy 0's clusters counted free, allocated, bad, and lost (allocated
   * while `claimed`, the clusters a directory walk reached, does not have them; without it every
   * allocated cluster counts as lost). The loops run in wasm, not in the firmware's interpreter.
   */
  check(claimed?: ClusterBitmap): FatCheck {
    const out: FatCheck = { differing: 0, firstDiffering: -1, free: 0, allocated: 0, lost: 0, firstLost: -1, bad: 0 };
    const h = this.core.attach(this.device);
    try {
      for (let first = 0; first < this.entryCount; first += FAT_CHECK_MAX) {
        const count = Math.min(FAT_CHECK_MAX, this.entryCount - first);
        this.core.writeClaimed(claimed ? claimed.window(first, count) : new Uint8Array((count + 7) >>> 3));
        this.core.check(this.core.exports.fatCheck(h, this.device.sectorSize, this.device.sectorCount, first, count));
        const r = this.core.results();
        if (out.firstDiffering < 0) out.firstDiffering = r[Slot.fckFirstDiffering];
        if (out.firstLost < 0) out.firstLost = r[Slot.fckFirstLost];
        out.differing += r[Slot.fckDiffering];
        out.free += r[Slot.fckFree];
        out.allocated += r[Slot.fckAllocated];
        out.lost += r[Slot.fckLost];
        out.bad += r[Slot.fckBad];
      }
    } finally {
      this.core.detach(h);
    }
    return out;
  }

  /** Compares every FAT copy with copy 0 (check(), its copy counts). */
  compareCopies(): FatCompare {
    const { differing, firstDiffering } = this.check();
    return { differing, firstDiffering };
  }

  /** Whether a cluster is allocated (non-zero and not the bad mark) in copy 0. */
  isAllocated(cluster: number, copy = 0): boolean {
    const e = this.entries(copy, cluster, 1)[0];
    const bad = [0, 0xff7, 0xfff7, 0x0ffffff7][this.geometry.fsType];
    return e !== 0 && e !== bad;
  }
}
