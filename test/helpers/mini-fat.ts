// Builds small FAT volumes in memory, byte by byte, for tests that must run with Node alone:
// a valid boot sector, FAT copies with chosen chains, and clusters filled with a pattern.
import * as fs from "node:fs";

// (The real-tool fixtures in test/fixtures are made with mkfs.fat and mtools.)

export interface MiniFatOptions {
  fsType?: 12 | 16 | 32;
  bytesPerSector?: number;
  sectorsPerCluster?: number;
  totalSectors?: number;
  /** Chains to allocate, each a list of cluster numbers. */
  chains?: number[][];
  /** Clusters to mark bad. */
  bad?: number[];
  fatCount?: number;
}

export interface MiniFat {
  bytes: Uint8Array;
  bytesPerSector: number;
  clusterBytes: number;
  firstDataSector: number;
  clusterCount: number;
  fatSectors: number;
  reservedSectors: number;
  allocated: number[];
}

export function patternByte(cluster: number, i: number): number {
  return (cluster * 131 + i * 7 + (i >> 9)) & 0xff || 1;
}

function layoutMiniFat(o: MiniFatOptions): MiniFat & { totalSectors: number } {
  const fsType = o.fsType ?? 16;
  const bps = o.bytesPerSector ?? 512;
  const spc = o.sectorsPerCluster ?? (fsType === 32 ? 1 : 4);
  const total = o.totalSectors ?? (fsType === 12 ? 2880 : fsType === 16 ? 40960 : 70000);
  const nfats = o.fatCount ?? 2;
  const rsvd = fsType === 32 ? 32 : 1;
  const rootEnt = fsType === 32 ? 0 : 512;
  const rootDirSectors = Math.ceil((rootEnt * 32) / bps);
  const bits = fsType;
  // smallest FAT size that covers the clusters it leaves
  let fatSz = 1;
  for (;;) {
    const clusters = Math.floor((total - rsvd - nfats * fatSz - rootDirSectors) / spc);
    if (Math.ceil(((clusters + 2) * bits) / 8 / bps) <= fatSz) break;
    fatSz++;
  }
  const firstData = rsvd + nfats * fatSz + rootDirSectors;
  const clusterCount = Math.floor((total - firstData) / spc);
  const bytes = new Uint8Array(firstData * bps); // the system area only; clusters are added by the callers
  const dv = new DataView(bytes.buffer);
  bytes.set([0xeb, 0x3c, 0x90], 0);
  bytes.set(Buffer.from("MINIFAT "), 3);
  dv.setUint16(11, bps, true);
  bytes[13] = spc;
  dv.setUint16(14, rsvd, true);
  bytes[16] = nfats;
  dv.setUint16(17, rootEnt, true);
  if (total < 65536 && fsType !== 32) dv.setUint16(19, total, true);
  else dv.setUint32(32, total, true);
  bytes[21] = 0xf8;
  dv.setUint16(24, 32, true);
  dv.setUint16(26, 2, true);
  if (fsType === 32) {
    dv.setUint32(36, fatSz, true);
    dv.setUint32(44, 2, true); // root cluster
    dv.setUint16(48, 1, true); // FSInfo
    dv.setUint16(50, 6, true); // backup boot sector
    bytes[66] = 0x29;
  } else {
    dv.setUint16(22, fatSz, true);
    bytes[38] = 0x29;
  }
  dv.setUint16(510, 0xaa55, true);
  const fat = new Uint8Array(fatSz * bps);
  const fdv = new DataView(fat.buffer);
  const setEntry = (n: number, v: number) => {
    if (bits === 32) fdv.setUint32(n * 4, v, true);
    else if (bits === 16) fdv.setUint16(n * 2, v, true);
    else {
      const off = n + (n >> 1);
      const w = fdv.getUint16(off, true);
      fdv.setUint16(off, n & 1 ? (w & 0x000f) | (v << 4) : (w & 0xf000) | v, true);
    }
  };
  const eoc = bits === 32 ? 0x0fffffff : bits === 16 ? 0xffff : 0xfff;
  const badMark = bits === 32 ? 0x0ffffff7 : bits === 16 ? 0xfff7 : 0xff7;
  setEntry(0, bits === 32 ? 0x0ffffff8 : bits === 16 ? 0xfff8 : 0xff8);
  setEntry(1, eoc);
  const chains =
    o.chains ??
    (fsType === 32
      ? [[2], [3, 4, 5], [9, 10, 11, 40, 41], [100, 99]]
      : [[2, 3, 4], [10], [30, 31, 32, 33, 50], [200, 201]]);
  const allocated: number[] = [];
  for (const chain of chains) {
    chain.forEach((c, i) => {
      setEntry(c, i + 1 < chain.length ? chain[i + 1] : eoc);
      allocated.push(c);
    });
  }
  for (const c of o.bad ?? []) setEntry(c, badMark);
  for (let k = 0; k < nfats; k++) bytes.set(fat, (rsvd + k * fatSz) * bps);
  allocated.sort((a, b) => a - b);
  return {
    bytes,
    bytesPerSector: bps,
    clusterBytes: bps * spc,
    firstDataSector: firstData,
    clusterCount,
    fatSectors: fatSz,
    reservedSectors: rsvd,
    allocated,
    totalSectors: total,
  };
}

function clusterPattern(c: number, clusterBytes: number): Uint8Array {
  const b = new Uint8Array(clusterBytes);
  for (let i = 0; i < clusterBytes; i++) b[i] = patternByte(c, i);
  return b;
}

/** The whole volume in memory. */
export function buildMiniFat(o: MiniFatOptions = {}): MiniFat {
  const v = layoutMiniFat(o);
  const bytes = new Uint8Array(v.totalSectors * v.bytesPerSector);
  bytes.set(v.bytes, 0);
  for (const c of v.allocated)
    bytes.set(clusterPattern(c, v.clusterBytes), v.firstDataSector * v.bytesPerSector + (c - 2) * v.clusterBytes);
  return { ...v, bytes };
}

/** The volume as a sparse file (for volumes too large to hold in memory); returns its layout. */
export function writeMiniFatFile(file: string, o: MiniFatOptions = {}): MiniFat {
  const v = layoutMiniFat(o);
  const fd = fs.openSync(file, "w");
  try {
    fs.ftruncateSync(fd, v.totalSectors * v.bytesPerSector);
    fs.writeSync(fd, v.bytes, 0, v.bytes.length, 0);
    for (const c of v.allocated)
      fs.writeSync(
        fd,
        clusterPattern(c, v.clusterBytes),
        0,
        v.clusterBytes,
        v.firstDataSector * v.bytesPerSector + (c - 2) * v.clusterBytes,
      );
  } finally {
    fs.closeSync(fd);
  }
  return v;
}
