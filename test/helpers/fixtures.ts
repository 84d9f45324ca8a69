// The committed fixtures (test/fixtures/volumes/make.sh made them with mkfs.fat, mtools, sfdisk and
// sgdisk): unpacking, and the byte ranges a faithful restore must reproduce.
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { Core } from "../../host-shim/src/core";
import { FatTables } from "../../host-shim/src/fat-tables";
import { PartitionView, RamDevice } from "../../host-shim/src/devices";
import { readPartitionTable } from "../../host-shim/src/api";

export interface FixturePartition { number: number | null; fsType: string; files: Record<string, string> }
export interface Fixture { file: string; kind: "partition" | "disk"; bytes: number; partitions: FixturePartition[] }

export const fixtureDir = path.join(__dirname, "..", "fixtures", "volumes");
export const fixtures: Fixture[] = JSON.parse(fs.readFileSync(path.join(fixtureDir, "index.json"), "utf8"));

export function unpack(f: Fixture, dir: string): string {
  const out = path.join(dir, f.file.replace(/\.gz$/, ""));
  fs.writeFileSync(out, zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, f.file))));
  return out;
}

/** Sector size and extent of a fixture's partition (the whole file for a partition fixture). */
export function extentOf(core: Core, bytes: Uint8Array, p: FixturePartition): { sectorSize: number; start: number; sectors: number } {
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
  const tables = new FatTables(new RamDevice(sectorSize, part), core);
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

export function partitionBytes(disk: Uint8Array, ext: { sectorSize: number; start: number; sectors: number }): Uint8Array {
  return disk.subarray(ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
}

export { PartitionView };
