// The committed fixtures (test/fixtures/volumes/make.sh made them with mkfs.fat, mtools, sfdisk and
// sgdisk): unpacking, and the byte ranges a faithful restore must reproduce (FAT; exFAT too, for
// the simulator's exFAT partitions).
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { ExfatTree, isExfat } from "../../firmware-module/src/ops/exfat-dir";
import { FatTables } from "../../firmware-module/src/ops/fat-tables";
import { MftReader } from "../../firmware-module/src/ops/ntfs-mft";
import { isNtfs } from "../../firmware-module/src/ops/ntfs-volume";
import { readPartitionTable } from "../../host-shim/src/cli/api";
import { Core } from "../../host-shim/src/native/core";
import { BlockDevice, FileDevice, PartitionView, RamDevice } from "../../host-shim/src/native/devices";

export interface FixturePartition {
  number: number | null;
  fsType: string;
  files: Record<string, string>;
}
export interface Fixture {
  file: string;
  kind: "partition" | "disk";
  bytes: number;
  partitions: FixturePartition[];
}

export const fixtureDir = path.join(__dirname, "..", "fixtures", "volumes");
export const fixtures: Fixture[] = JSON.parse(fs.readFileSync(path.join(fixtureDir, "index.json"), "utf8"));

export function unpack(f: Fixture, dir: string): string {
  const out = path.join(dir, f.file.replace(/\.gz$/, ""));
  writeSparse(out, zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, f.file))));
  return out;
}

const ZEROS = Buffer.alloc(64 * 1024);

/**
 * Writes `bytes` to `file`, leaving each all-zero 64 KiB piece a hole: the file reads back the
 * same, and a mostly free volume (fat32-4kn is 300 MiB) costs a few MB of writes, not all of it.
 */
export function writeSparse(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    for (let at = 0; at < bytes.length; at += ZEROS.length) {
      const piece = Buffer.from(bytes.buffer, bytes.byteOffset + at, Math.min(ZEROS.length, bytes.length - at));
      if (!piece.equals(ZEROS.subarray(0, piece.length))) fs.writeSync(fd, piece, 0, piece.length, at);
    }
    fs.ftruncateSync(fd, bytes.length);
  } finally {
    fs.closeSync(fd);
  }
}

/** Sector size and extent of a fixture's partition (the whole file for a partition fixture). */
export function extentOf(
  core: Core,
  bytes: Uint8Array,
  p: FixturePartition,
): { sectorSize: number; start: number; sectors: number } {
  if (p.number === null) {
    const ss = bytes[11] | (bytes[12] << 8);
    return { sectorSize: ss, start: 0, sectors: bytes.length / ss };
  }
  const table = readPartitionTable(core, new RamDevice(512, bytes));
  const e = table.partitions.find((x) => x.number === p.number);
  if (!e) throw new Error(`no partition ${p.number}`);
  return { sectorSize: 512, start: e.startLba, sectors: e.sectorCount };
}

/**
 * What a faithful restore must reproduce exactly: the system area (boot sector, reserved
 * sectors, FATs, root directory) and every allocated cluster. Byte ranges within the partition.
 */
export function mustMatch(core: Core, part: Uint8Array, sectorSize: number): [number, number][] {
  return mustMatchOn(core, new RamDevice(sectorSize, part));
}

/** mustMatch of a volume on a device (a partition file read as it is needed, not all of it). */
export function mustMatchOn(core: Core, dev: BlockDevice): [number, number][] {
  if (isExfat(dev)) return exfatRanges(dev);
  if (isNtfs(dev)) return ntfsRanges(dev);
  const sectorSize = dev.sectorSize;
  const tables = new FatTables(dev, core);
  const g = tables.geometry;
  const ranges: [number, number][] = [[0, g.firstDataSector * sectorSize]];
  const bad = [0, 0xff7, 0xfff7, 0x0ffffff7][g.fsType];
  for (let first = 0; first < tables.entryCount; first += 65536) {
    const count = Math.min(65536, tables.entryCount - first);
    const entries = tables.entries(0, first, count);
    for (let i = 0; i < count; i++) {
      const c = first + i;
      if (c < 2 || entries[i] === 0 || entries[i] === bad) continue;
      const at = g.firstDataSector * sectorSize + (c - 2) * g.clusterBytes;
      ranges.push([at, at + g.clusterBytes]);
    }
  }
  return ranges;
}

/**
 * Copies into `file`, a sparse file of the partition's size, what a checker (fsck.fat -n,
 * fsck.exfat -n) reads of `part`: the ranges of mustMatchOn, neighbours joined into reads of at
 * most 16 MiB; the free clusters stay holes.
 */
export function copyUsedToSparse(core: Core, part: BlockDevice, file: string): void {
  const ss = part.sectorSize;
  fs.writeFileSync(file, "");
  fs.truncateSync(file, part.sectorCount * ss);
  const fd = fs.openSync(file, "r+");
  try {
    const ranges = mustMatchOn(core, part);
    for (let i = 0; i < ranges.length; ) {
      let j = i + 1;
      while (j < ranges.length && ranges[j][0] === ranges[j - 1][1] && ranges[j][1] - ranges[i][0] <= 16 << 20) j++;
      const start = ranges[i][0],
        buf = new Uint8Array(ranges[j - 1][1] - start);
      part.read(start / ss, buf.length / ss, buf, 0);
      fs.writeSync(fd, buf, 0, buf.length, start);
      i = j;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** exFAT: everything before the cluster heap, and every cluster the allocation bitmap marks used. */
function exfatRanges(dev: BlockDevice): [number, number][] {
  const x = new ExfatTree(dev),
    g = x.g,
    ss = dev.sectorSize;
  const runs = x.runs(x.bitmap.firstCluster, x.bitmap.bytes, false, "the allocation bitmap");
  const bitmap = new Uint8Array(runs.reduce((a, r) => a + r.length, 0) * g.clusterBytes);
  let at = 0;
  for (const r of runs) {
    dev.read(g.clusterHeapOffset + (r.start - 2) * g.sectorsPerCluster, r.length * g.sectorsPerCluster, bitmap, at);
    at += r.length * g.clusterBytes;
  }
  const ranges: [number, number][] = [[0, g.clusterHeapOffset * ss]];
  for (let k = 0; k < g.clusterCount; k++)
    if ((bitmap[k >> 3] >> (k & 7)) & 1) {
      const from = (g.clusterHeapOffset + k * g.sectorsPerCluster) * ss;
      ranges.push([from, from + g.clusterBytes]);
    }
  return ranges;
}

/** NTFS: every cluster $Bitmap marks used (the boot file, $MFT and every system file among them), and the backup boot sector in the last sector. */
function ntfsRanges(dev: BlockDevice): [number, number][] {
  const mft = new MftReader(dev),
    cb = mft.g.clusterBytes,
    ss = dev.sectorSize;
  const bitmap = mft.readRuns(mft.dataRuns(6, mft.record(6)!), 0, Math.ceil(mft.g.clusterCount / 8));
  const ranges: [number, number][] = [];
  for (let c = 0; c < mft.g.clusterCount; c++) if ((bitmap[c >> 3] >> (c & 7)) & 1) ranges.push([c * cb, (c + 1) * cb]);
  const last = (dev.sectorCount - 1) * ss;
  if (!ranges.length || ranges[ranges.length - 1][1] <= last) ranges.push([last, last + ss]);
  return ranges;
}

export function partitionBytes(
  disk: Uint8Array,
  ext: { sectorSize: number; start: number; sectors: number },
): Uint8Array {
  return disk.subarray(ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
}

export { PartitionView };

/**
 * How many of `ranges` (byte ranges, ascending, as mustMatch gives them) differ between two
 * files; read range by range (adjacent ranges together), so a large, mostly free volume is
 * compared without reading its free space.
 */
export function differingRanges(fileA: string, fileB: string, ranges: [number, number][]): number {
  const fa = fs.openSync(fileA, "r"),
    fb = fs.openSync(fileB, "r");
  try {
    let differing = 0;
    for (let i = 0; i < ranges.length; ) {
      let j = i + 1;
      while (j < ranges.length && ranges[j][0] === ranges[j - 1][1] && ranges[j][1] - ranges[i][0] <= 16 << 20) j++;
      const start = ranges[i][0],
        len = ranges[j - 1][1] - start;
      const a = Buffer.alloc(len),
        b = Buffer.alloc(len);
      const ra = fs.readSync(fa, a, 0, len, start),
        rb = fs.readSync(fb, b, 0, len, start);
      for (let k = i; k < j; k++) {
        const [s, e] = [ranges[k][0] - start, ranges[k][1] - start];
        if (e > ra || e > rb || Buffer.compare(a.subarray(s, e), b.subarray(s, e)) !== 0) differing++;
      }
      i = j;
    }
    return differing;
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/** mustMatch of a partition file, read through a FileDevice (its sector size from its boot sector). */
export function mustMatchFile(core: Core, file: string): [number, number][] {
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, "r");
  try {
    fs.readSync(fd, head, 0, 512, 0);
  } finally {
    fs.closeSync(fd);
  }
  const dev = new FileDevice(file, { sectorSize: head[11] | (head[12] << 8) });
  try {
    return mustMatchOn(core, dev);
  } finally {
    dev.close();
  }
}
