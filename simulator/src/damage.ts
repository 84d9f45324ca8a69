// Damage injected into a simulated printer's system partition, each kind as a printer meets it:
// a zeroed boot sector, a damaged FAT, FAT copies that disagree, a corrupted firmware file, a
// deleted critical file, random sectors overwritten. Every kind leaves damage the boot-time
// health check must find (the scenarios then require a verified restore).
import { FsType } from "../../firmware-module/src/ops/abi";
import { ExfatFile, ExfatTree, isExfat } from "../../firmware-module/src/ops/exfat-dir";
import { FatEntry, FatReader } from "../../firmware-module/src/ops/fat-reader";
import { FatTables } from "../../firmware-module/src/ops/fat-tables";
import { isNtfs, NtfsVolume } from "../../firmware-module/src/ops/ntfs-volume";
import { Core } from "../../host-shim/src/native/core";
import { BlockDevice } from "../../host-shim/src/native/devices";
import { splitmix32 } from "./content";

export type DamageKind =
  | "zero-boot-sector"
  | "zero-first-mib"
  | "damaged-fat"
  | "fat-copies-disagree"
  | "corrupt-file"
  | "delete-critical-file"
  | "random-sectors";
export const DAMAGE_KINDS: DamageKind[] = [
  "zero-boot-sector",
  "zero-first-mib",
  "damaged-fat",
  "fat-copies-disagree",
  "corrupt-file",
  "delete-critical-file",
  "random-sectors",
];

export interface DamageReport {
  kind: DamageKind;
  detail: string;
  sectors: number[];
}

function readSectors(dev: BlockDevice, lba: number, count: number): Uint8Array {
  const b = new Uint8Array(count * dev.sectorSize);
  dev.read(lba, count, b, 0);
  return b;
}

function criticalFile(reader: FatReader, paths: string[]): FatEntry {
  for (const p of paths) {
    const e = reader.lookup(p);
    if (e && !e.isDirectory && e.size > 0) return e;
  }
  throw new Error(`none of the critical files ${paths.join(", ")} is on the partition`);
}

function clusterLba(t: FatTables, cluster: number): number {
  const g = t.geometry;
  return g.firstDataSector + (cluster - 2) * (g.clusterBytes / g.bytesPerSector);
}

/** Sector (within the partition) holding FAT copy `copy`'s entry for `cluster`, and the entry's byte offset in it. */
function fatEntrySector(t: FatTables, copy: number, cluster: number): { lba: number; offset: number } {
  const g = t.geometry;
  const byte =
    g.fsType === FsType.fat32 ? cluster * 4 : g.fsType === FsType.fat16 ? cluster * 2 : Math.floor(cluster * 1.5);
  return {
    lba: g.reservedSectors + copy * g.fatSectors + Math.floor(byte / g.bytesPerSector),
    offset: byte % g.bytesPerSector,
  };
}

/** Injects one kind of damage into `part` (the system partition). critical: manifest file paths, most important first. */
export function injectDamage(
  core: Core,
  part: BlockDevice,
  kind: DamageKind,
  critical: string[],
  seed = 1,
): DamageReport {
  const rnd = splitmix32(seed);
  const ss = part.sectorSize;
  if (kind === "zero-boot-sector") {
    part.write(0, 1, new Uint8Array(ss), 0);
    return { kind, detail: "boot sector zeroed", sectors: [0] };
  }
  if (kind === "zero-first-mib") {
    // boot sector, reserved sectors, both FATs, the root directory: everything that finds files
    const n = Math.min(part.sectorCount, (1 << 20) / ss);
    part.write(0, n, new Uint8Array(n * ss), 0);
    return { kind, detail: `the first MiB (${n} sectors) zeroed`, sectors: Array.from({ length: n }, (_, i) => i) };
  }
  if (isExfat(part)) return injectExfatDamage(part, kind, critical, rnd);
  if (isNtfs(part)) return injectNtfsDamage(part, kind, critical, rnd);
  const tables = new FatTables(part, core);
  const reader = new FatReader(part, core);
  const file = criticalFile(reader, critical);
  const runs = reader.chainRuns(file.firstCluster);
  if (kind === "damaged-fat" || kind === "fat-copies-disagree") {
    // the entry of the file's first cluster: in both copies, a loop back to itself (damaged
    // FAT); in the second copy only, a free entry (copies disagree)
    const copies = kind === "damaged-fat" ? [0, 1] : [1];
    const sectors: number[] = [];
    for (const copy of copies) {
      const at = fatEntrySector(tables, copy, file.firstCluster);
      const b = readSectors(part, at.lba, 1);
      const v = new DataView(b.buffer);
      const value = kind === "damaged-fat" ? file.firstCluster : 0;
      if (tables.geometry.fsType === FsType.fat32)
        v.setUint32(at.offset, (v.getUint32(at.offset, true) & 0xf0000000) | value, true);
      else v.setUint16(at.offset, value, true); // FAT16 (the profiles' FAT systems are FAT16 or FAT32)
      part.write(at.lba, 1, b, 0);
      sectors.push(at.lba);
    }
    return {
      kind,
      detail: `FAT entry of cluster ${file.firstCluster} (${file.path}) ${kind === "damaged-fat" ? "points to itself in both copies" : "cleared in copy 2"}`,
      sectors,
    };
  }
  if (kind === "corrupt-file")
    return corruptByte(
      part,
      file.path,
      clusterLba(tables, runs[0].start),
      Math.min(runs[0].length * tables.geometry.clusterBytes, file.size),
      rnd,
    );
  if (kind === "delete-critical-file") {
    const lba = deleteEntry(reader, tables, part, file);
    return { kind, detail: `${file.path} deleted (its directory entry marked free)`, sectors: [lba] };
  }
  // random sectors: among the metadata area and the clusters of the critical files
  const pool: number[] = [];
  for (let s = 0; s < tables.geometry.firstDataSector; s++) pool.push(s);
  for (const p of critical) {
    const e = reader.lookup(p);
    if (!e || e.isDirectory || e.size === 0) continue;
    for (const r of reader.chainRuns(e.firstCluster)) {
      const first = clusterLba(tables, r.start),
        n = r.length * (tables.geometry.clusterBytes / ss);
      for (let s = 0; s < n; s++) pool.push(first + s);
    }
  }
  return overwriteRandom(part, pool, rnd);
}

/**
 * The same kinds on exFAT, as that file system meets them: damaged-fat clears the allocation
 * bitmap's bits under the critical file (the next write would overwrite it); fat-copies-disagree
 * (exFAT has one FAT) changes the boot sector's serial number, so that the boot region's checksum
 * no longer matches; delete-critical-file clears the InUse bit of each entry of the file's set.
 */
function injectExfatDamage(part: BlockDevice, kind: DamageKind, critical: string[], rnd: () => number): DamageReport {
  const tree = new ExfatTree(part);
  const g = tree.g;
  const files = critical.map((p) => tree.lookup(p)).filter((f): f is ExfatFile => !!f && !f.directory && f.length > 0);
  if (files.length === 0) throw new Error(`none of the critical files ${critical.join(", ")} is on the partition`);
  const file = files[0];
  const runs = tree.runs(file.firstCluster, file.length, file.noFatChain, file.path);
  const lbaOf = (c: number) => g.clusterHeapOffset + (c - 2) * g.sectorsPerCluster;
  const patchByte = (byte: number, change: (b: number) => number) => changeByte(part, byte, change);
  if (kind === "damaged-fat") {
    const sectors = new Set<number>();
    for (const r of runs)
      for (let c = r.start; c < r.start + r.length; c++) {
        const k = c - 2;
        sectors.add(patchByte(tree.bitmapByte(k >> 3), (b) => b & ~(1 << (k & 7))));
      }
    return {
      kind,
      detail: `the allocation bitmap's bits of ${file.path} (clusters ${runs[0].start}...) cleared`,
      sectors: [...sectors],
    };
  }
  if (kind === "fat-copies-disagree") {
    const lba = patchByte(100, (b) => b ^ 0xff); // VolumeSerialNumber's first byte
    return {
      kind,
      detail: "the boot sector's serial number changed: the boot checksum no longer matches",
      sectors: [lba],
    };
  }
  if (kind === "corrupt-file")
    return corruptByte(
      part,
      file.path,
      lbaOf(runs[0].start),
      Math.min(runs[0].length * g.clusterBytes, file.length),
      rnd,
    );
  if (kind === "delete-critical-file") {
    const sectors = file.entryOffsets.map((at) => patchByte(at, (b) => b & 0x7f));
    return { kind, detail: `${file.path} deleted (its entry set marked not in use)`, sectors };
  }
  // random sectors: among the boot region, the FAT, the root directory and the critical files' clusters
  const pool: number[] = [];
  for (let s = 0; s < 12; s++) pool.push(s);
  for (let s = g.fatOffset; s < g.fatOffset + Math.min(g.fatLength, 64); s++) pool.push(s);
  for (let s = 0; s < g.sectorsPerCluster; s++) pool.push(lbaOf(g.rootCluster) + s);
  for (const f of files)
    for (const r of tree.runs(f.firstCluster, f.length, f.noFatChain, f.path))
      for (let s = 0; s < r.length * g.sectorsPerCluster; s++) pool.push(lbaOf(r.start) + s);
  return overwriteRandom(part, pool, rnd);
}

/**
 * The same kinds on NTFS: damaged-fat clears $Bitmap's bits under the critical file;
 * fat-copies-disagree changes a byte of $MFT's record 1 in its copy in $MFTMirr (the two no
 * longer agree); delete-critical-file removes the file's entry from its directory's index and
 * clears its record's in-use flag, as a careless delete would; random-sectors draws from the boot
 * sector, $MFT's first records, the root's index block and the critical files' clusters.
 */
function injectNtfsDamage(part: BlockDevice, kind: DamageKind, critical: string[], rnd: () => number): DamageReport {
  const vol = new NtfsVolume(part);
  const ss = part.sectorSize,
    cb = vol.g.clusterBytes,
    spc = cb / ss;
  const found = critical
    .map((path) => ({ path, n: vol.lookup(path) }))
    .filter((f): f is { path: string; n: number } => f.n !== undefined && vol.dataRuns(f.n).some((r) => r.lcn >= 0));
  if (found.length === 0)
    throw new Error(`none of the critical files ${critical.join(", ")} has clusters on the partition`);
  const file = found[0];
  const runs = vol.dataRuns(file.n).filter((r) => r.lcn >= 0 && r.length > 0);
  const patchByte = (byte: number, change: (b: number) => number) => changeByte(part, byte, change);
  if (kind === "damaged-fat") {
    for (const r of runs) vol.setBits(vol.bitmapRuns(), r.lcn, r.length, false);
    return {
      kind,
      detail: `$Bitmap's bits of ${file.path} (clusters ${runs[0].lcn}...) cleared`,
      sectors: [Math.floor(vol.bitmapRuns()[0].lcn * spc)],
    };
  }
  if (kind === "fat-copies-disagree") {
    const mirror = vol.dataRuns(1)[0];
    const lba = patchByte(mirror.lcn * cb + vol.g.recordBytes + 100, (b) => b ^ 0xff);
    return { kind, detail: "a byte of $MFT's record 1 changed in its copy in $MFTMirr", sectors: [lba] };
  }
  if (kind === "corrupt-file") return corruptByte(part, file.path, runs[0].lcn * spc, runs[0].length * cb, rnd);
  if (kind === "delete-critical-file") {
    const parent = file.path.slice(0, file.path.lastIndexOf("\\")) || "\\";
    vol.remove(vol.lookup(parent)!, file.path.slice(file.path.lastIndexOf("\\") + 1));
    const at = vol.mft.mftRuns[0].lcn * cb + file.n * vol.g.recordBytes + 22; // the record's flags (the MFT's first run)
    const lba = patchByte(at, (b) => b & ~1);
    return { kind, detail: `${file.path} deleted (its index entry removed, its record not in use)`, sectors: [lba] };
  }
  const pool: number[] = [];
  for (let s = 0; s < Math.min(16, part.sectorCount); s++) pool.push(s);
  const mft0 = vol.mft.mftRuns[0].lcn * spc;
  for (let s = 0; s < (27 * vol.g.recordBytes) / ss; s++) pool.push(mft0 + s);
  for (const f of found)
    for (const r of vol.dataRuns(f.n))
      if (r.lcn >= 0) for (let s = 0; s < r.length * spc; s++) pool.push(r.lcn * spc + s);
  return overwriteRandom(part, pool, rnd);
}

/** Byte `byte` of the partition changed by `change` (read-modify-write of its sector); returns the sector (exFAT and NTFS). */
function changeByte(part: BlockDevice, byte: number, change: (b: number) => number): number {
  const ss = part.sectorSize;
  const lba = Math.floor(byte / ss),
    b = readSectors(part, lba, 1);
  b[byte % ss] = change(b[byte % ss]);
  part.write(lba, 1, b, 0);
  return lba;
}

/** corrupt-file: one byte changed in a random sector of the first `bytes` of a file whose first run starts at `lba` (FAT and exFAT). */
function corruptByte(part: BlockDevice, path: string, lba0: number, bytes: number, rnd: () => number): DamageReport {
  const ss = part.sectorSize;
  const lba = lba0 + Math.floor(rnd() % Math.max(1, bytes / ss));
  const b = readSectors(part, lba, 1);
  b[rnd() % ss] ^= 0x5a;
  part.write(lba, 1, b, 0);
  return { kind: "corrupt-file", detail: `one byte of ${path} changed (sector ${lba})`, sectors: [lba] };
}

/** random-sectors: 16 sectors drawn from `pool` overwritten with random bytes (FAT and exFAT). */
function overwriteRandom(part: BlockDevice, pool: number[], rnd: () => number): DamageReport {
  const ss = part.sectorSize;
  const sectors: number[] = [];
  for (let i = 0; i < 16; i++) {
    const lba = pool[rnd() % pool.length];
    const b = new Uint8Array(ss);
    for (let k = 0; k < ss; k++) b[k] = rnd() & 0xff;
    part.write(lba, 1, b, 0);
    sectors.push(lba);
  }
  return {
    kind: "random-sectors",
    detail: `16 sectors overwritten with random bytes (${sectors.slice(0, 4).join(", ")}, ...)`,
    sectors,
  };
}

/** Marks a file's directory entry (and its long-name entries) deleted, as a careless delete would; returns the sector. */
function deleteEntry(reader: FatReader, tables: FatTables, part: BlockDevice, file: FatEntry): number {
  const parentPath = file.path.slice(0, file.path.lastIndexOf("\\")) || "\\";
  const g = tables.geometry,
    ss = part.sectorSize;
  const parent = parentPath === "\\" ? undefined : reader.lookup(parentPath);
  const sectors: number[] = [];
  if (!parent && g.fsType !== 3) {
    const rootStart = g.reservedSectors + g.fatCount * g.fatSectors;
    for (let s = rootStart; s < g.firstDataSector; s++) sectors.push(s);
  } else {
    const first = parent ? parent.firstCluster : rootCluster(part);
    for (const r of reader.chainRuns(first)) {
      const lba = clusterLba(tables, r.start),
        n = r.length * (g.clusterBytes / ss);
      for (let s = 0; s < n; s++) sectors.push(lba + s);
    }
  }
  const [base, ext] = file.shortName.includes(".") ? file.shortName.split(".") : [file.shortName, ""];
  const short = (base.padEnd(8, " ") + ext.padEnd(3, " ")).toUpperCase();
  for (const lba of sectors) {
    const b = readSectors(part, lba, 1);
    for (let o = 0; o < ss; o += 32) {
      if (String.fromCharCode(...b.subarray(o, o + 11)) !== short || (b[o + 11] & 0x0f) === 0x0f) continue;
      b[o] = 0xe5;
      for (let l = o - 32; l >= 0 && b[l + 11] === 0x0f; l -= 32) b[l] = 0xe5; // its long-name entries in this sector
      part.write(lba, 1, b, 0);
      return lba;
    }
  }
  throw new Error(`directory entry of ${file.path} (${short}) not found`);
}

function rootCluster(part: BlockDevice): number {
  const b = readSectors(part, 0, 1);
  return new DataView(b.buffer).getUint32(44, true);
}
