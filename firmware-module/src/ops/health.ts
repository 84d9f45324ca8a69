// The system partition's health, as the firmware checks it at boot: the boot record is sane,
// the FAT copies agree, FSInfo is plausible, the directory tree walks, and the files of the
// manifest kept with the newest image are all there with the same contents.
// Damage that a printer must repair is "fatal"; what an unclean shutdown or ordinary use leaves
// behind (lost clusters, a stale FSInfo count) is "minor" and never triggers a restore.

import { Core } from "./core";
import { BlockDevice, PartitionView } from "./devices";
import { matcher, matchFiles } from "./exclusions";
import { ExfatFile, ExfatTree, isExfat, setChecksum } from "./exfat-dir";
import { BOOT_CHECKSUM_SECTOR, BOOT_REGION_SECTORS, bootChecksumSkips, exfatChecksum32 } from "./exfat-format";
import { FatEntry, FatReader, Problem } from "./fat-reader";
import { attributes, MftRecord, ntfsFilePaths } from "./ntfs-mft";
import { isNtfs, NtfsVolume } from "./ntfs-volume";
import { newSha256, SectorRun } from "./platform";
import { describeMark, RestoreMark, readRestoreMark } from "./restore-mark";
import { walkTree } from "./tree-walk";

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}
export interface Manifest {
  version: 1;
  created: number;
  paths: string[];
  files: ManifestFile[];
}

export interface HealthProblem {
  kind: string;
  severity: "fatal" | "minor";
  detail: string;
  path?: string;
}
export interface HealthReport {
  ok: boolean;
  /** A fatal problem was found: the partition should be restored. */
  restoreNeeded: boolean;
  problems: HealthProblem[];
  files: number;
  manifestFiles: number;
  /** An interrupted restore's mark is on the partition: finish that restore (from that image). */
  restoreInProgress?: RestoreMark;
}

const MINOR = new Set(["fsinfo", "lost-clusters"]);

/** The manifest of a partition's files under `patterns` (exclusions.ts matchFiles): path, size and SHA-256 of each. */
export function buildManifest(core: Core, partition: BlockDevice, patterns: string[], now: number): Manifest {
  if (isExfat(partition)) return buildExfatManifest(partition, patterns, now);
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(partition))
    return buildNtfsManifest(partition, patterns, now);
  const reader = new FatReader(partition, core);
  const entries = matchFiles(reader, patterns).files;
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    version: 1,
    created: Math.floor(now / 1000),
    paths: patterns,
    files: entries.map((e) => ({ path: e.path, size: e.size, sha256: reader.sha256(e) })),
  };
}

export function checkHealth(core: Core, partition: BlockDevice, manifest: Manifest | undefined): HealthReport {
  const problems: HealthProblem[] = [];
  const mark = readRestoreMark(core, partition);
  if (mark) {
    problems.push({ kind: "restore-in-progress", severity: "fatal", detail: describeMark(mark) });
    return {
      ok: false,
      restoreNeeded: true,
      problems,
      files: 0,
      manifestFiles: manifest?.files.length ?? 0,
      restoreInProgress: mark,
    };
  }
  if (isExfat(partition)) return checkExfatHealth(core, partition, manifest, problems);
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(partition))
    return checkNtfsHealth(core, partition, manifest, problems);
  let reader: FatReader;
  try {
    reader = new FatReader(partition, core);
  } catch (e) {
    problems.push({
      kind: "boot",
      severity: "fatal",
      detail: `the boot record is not usable: ${(e as Error).message}${exfatBackupBoot(partition) ? `; sector ${BOOT_REGION_SECTORS} holds an exFAT backup boot sector: the main exFAT boot sector is damaged` : ""}`,
    });
    return { ok: false, restoreNeeded: true, problems, files: 0, manifestFiles: manifest?.files.length ?? 0 };
  }
  let files = 0;
  // the manifest's files as the walk meets them (looked up again only when the walk did not reach one)
  const wanted = new Set((manifest?.files ?? []).map((f) => f.path.toUpperCase()));
  const met = new Map<string, FatEntry>();
  const visit = (e: FatEntry) => {
    if (wanted.has(e.path.toUpperCase())) met.set(e.path.toUpperCase(), e);
  };
  try {
    const check = reader.check({ visit });
    files = check.files;
    for (const p of check.problems) problems.push(fromProblem(p));
  } catch (e) {
    problems.push({
      kind: "dir-unreadable",
      severity: "fatal",
      detail: `the directory tree cannot be walked: ${(e as Error).message}`,
    });
  }
  for (const f of manifest?.files ?? []) {
    const p = manifestProblem(reader, f, met.get(f.path.toUpperCase()));
    if (p) problems.push(p);
  }
  const restoreNeeded = problems.some((p) => p.severity === "fatal");
  return { ok: problems.length === 0, restoreNeeded, problems, files, manifestFiles: manifest?.files.length ?? 0 };
}

function fromProblem(p: Problem): HealthProblem {
  return {
    kind: p.kind,
    severity: MINOR.has(p.kind) ? "minor" : "fatal",
    detail: p.detail,
    ...(p.path ? { path: p.path } : {}),
  };
}

/** What the manifest check needs of a file system: a lookup and a file's hash. */
interface FileLookup<E extends { isDirectory: boolean; size: number }> {
  lookup(path: string): E | undefined;
  sha256(e: E): string;
}

function manifestProblem<E extends { isDirectory: boolean; size: number }>(
  reader: FileLookup<E>,
  f: ManifestFile,
  met: E | undefined,
): HealthProblem | undefined {
  let e: E | undefined = met;
  try {
    e ??= reader.lookup(f.path);
  } catch (err) {
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `${f.path} cannot be looked up: ${(err as Error).message}`,
    };
  }
  if (!e || e.isDirectory)
    return { kind: "critical-file", severity: "fatal", path: f.path, detail: `critical file ${f.path} is missing` };
  if (e.size !== f.size)
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} is ${e.size} bytes; the image's manifest says ${f.size}`,
    };
  let sum: string;
  try {
    sum = reader.sha256(e);
  } catch (err) {
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} cannot be read: ${(err as Error).message}`,
    };
  }
  if (sum !== f.sha256)
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} has changed (SHA-256 ${sum.slice(0, 12)}..., manifest ${f.sha256.slice(0, 12)}...)`,
    };
  return undefined;
}

// ---- exFAT (a system partition a profile formats as exFAT)

/** Whether the backup boot region (sector 12) names exFAT: a volume whose main boot sector is gone. */
function exfatBackupBoot(part: BlockDevice): boolean {
  return part.sectorCount > BOOT_REGION_SECTORS && isExfat(new PartitionView(part, BOOT_REGION_SECTORS, 1));
}

interface ExfatEntry {
  isDirectory: boolean;
  size: number;
  file: ExfatFile;
}

/** exFAT files for the manifest: looked up through the tree, hashed by the platform from their clusters. */
class ExfatFiles implements FileLookup<ExfatEntry> {
  constructor(readonly tree: ExfatTree) {}
  entry(file: ExfatFile): ExfatEntry {
    return { isDirectory: file.directory, size: file.length, file };
  }
  lookup(path: string): ExfatEntry | undefined {
    const f = this.tree.lookup(path);
    return f && this.entry(f);
  }
  sha256(e: ExfatEntry): string {
    const f = e.file,
      g = this.tree.g,
      runs: SectorRun[] = [];
    let left = f.length;
    if (left > 0)
      for (const r of this.tree.runs(f.firstCluster, f.length, f.noFatChain, f.path)) {
        const sectors = r.length * g.sectorsPerCluster;
        runs.push({
          lba: g.clusterHeapOffset + (r.start - 2) * g.sectorsPerCluster,
          sectors,
          bytes: Math.min(left, sectors * g.bytesPerSector),
        });
        left -= runs[runs.length - 1].bytes;
      }
    const hash = newSha256();
    hash.updateSectors(this.tree.part, runs);
    return hash.digest();
  }
}

function buildExfatManifest(partition: BlockDevice, patterns: string[], now: number): Manifest {
  const files = new ExfatFiles(new ExfatTree(partition));
  const match = matcher(patterns);
  const entries: ExfatEntry[] = [];
  if (patterns.length > 0)
    files.tree.walk((f) => {
      if (!f.directory && match(f.path, f.path) >= 0) entries.push(files.entry(f));
    });
  entries.sort((a, b) => (a.file.path < b.file.path ? -1 : a.file.path > b.file.path ? 1 : 0));
  return {
    version: 1,
    created: Math.floor(now / 1000),
    paths: patterns,
    files: entries.map((e) => ({ path: e.file.path, size: e.size, sha256: files.sha256(e) })),
  };
}

/**
 * exFAT's health: the boot region (its checksum, the geometry ExfatTree checks), every entry
 * set's checksum, every file's clusters inside the heap, the core's walk (clusters the tree
 * reaches that the bitmap marks free, cross-links), and the manifest's files.
 */
function checkExfatHealth(
  core: Core,
  partition: BlockDevice,
  manifest: Manifest | undefined,
  problems: HealthProblem[],
): HealthReport {
  const manifestFiles = manifest?.files.length ?? 0;
  const fatal = (kind: HealthProblem["kind"], detail: string, path?: string) =>
    problems.push({ kind, severity: "fatal", detail, ...(path ? { path } : {}) });
  let tree: ExfatTree;
  try {
    tree = new ExfatTree(partition);
  } catch (e) {
    fatal("boot", `the boot record is not usable: ${(e as Error).message}`);
    return { ok: false, restoreNeeded: true, problems, files: 0, manifestFiles };
  }
  const ss = partition.sectorSize;
  const region = new Uint8Array((BOOT_CHECKSUM_SECTOR + 1) * ss);
  partition.read(0, BOOT_CHECKSUM_SECTOR + 1, region, 0);
  const sum = exfatChecksum32(region.subarray(0, BOOT_CHECKSUM_SECTOR * ss), bootChecksumSkips);
  const stored = new DataView(region.buffer).getUint32(BOOT_CHECKSUM_SECTOR * ss, true);
  if (sum !== stored)
    fatal(
      "boot",
      `the boot region's checksum is 0x${sum.toString(16)}; its checksum sector (sector ${BOOT_CHECKSUM_SECTOR}) says 0x${stored.toString(16)}`,
    );
  const files = new ExfatFiles(tree);
  const wanted = new Set((manifest?.files ?? []).map((f) => f.path.toUpperCase()));
  const met = new Map<string, ExfatEntry>();
  let count = 0;
  try {
    tree.walk((f) => {
      if (!f.directory) count++;
      const stored = new DataView(f.set.buffer, f.set.byteOffset).getUint16(2, true);
      const sum = setChecksum(f.set);
      if (sum !== stored)
        fatal(
          "set-checksum",
          `${f.path}: its entry set's checksum is 0x${sum.toString(16)}; the set says 0x${stored.toString(16)}`,
          f.path,
        );
      if (f.length > 0)
        try {
          tree.runs(f.firstCluster, f.length, f.noFatChain, f.path);
        } catch (e) {
          fatal("out-of-range", (e as Error).message, f.path);
        }
      if (wanted.has(f.path.toUpperCase())) met.set(f.path.toUpperCase(), files.entry(f));
    });
  } catch (e) {
    fatal("dir-unreadable", `the directory tree cannot be walked: ${(e as Error).message}`);
  }
  walkProblems(core, partition, "the allocation bitmap", fatal);
  for (const f of manifest?.files ?? []) {
    const p = manifestProblem(files, f, met.get(f.path.toUpperCase()));
    if (p) problems.push(p);
  }
  const restoreNeeded = problems.some((p) => p.severity === "fatal");
  return { ok: problems.length === 0, restoreNeeded, problems, files: count, manifestFiles };
}

/** The core's walk: what the tree reaches against the allocation bitmap (exFAT, NTFS), as fatal problems. */
function walkProblems(
  core: Core,
  partition: BlockDevice,
  bitmap: string,
  fatal: (kind: HealthProblem["kind"], detail: string, path?: string) => void,
): void {
  const h = core.attach(partition);
  try {
    const w = walkTree(core, h, partition, 0, "info");
    if (w.keptClusters > 0)
      fatal(
        "marked-free",
        `${w.keptClusters} clusters the directory tree reaches are marked free in ${bitmap} (${w.listed.map((k) => `${k.kind} at cluster ${k.firstCluster}`).join(", ")})`,
      );
    if (w.crossLinked > 0)
      fatal(
        "cross-link",
        `${w.crossLinked} clusters are cross-linked (${w.crossListed.map((k) => `${k.kind} at cluster ${k.firstCluster}`).join(", ")})`,
      );
  } catch (e) {
    fatal("dir-unreadable", `the directory tree cannot be walked: ${(e as Error).message}`);
  } finally {
    core.detach(h);
  }
}

// ---- NTFS (a system partition a profile formats as NTFS)

interface NtfsEntry {
  isDirectory: boolean;
  size: number;
  record: number;
  path: string;
}

/** NTFS files for the manifest: looked up through the $I30 indexes, hashed from their runs (or their record, when resident). */
class NtfsFiles implements FileLookup<NtfsEntry> {
  constructor(readonly vol: NtfsVolume) {}
  entry(record: number, path: string): NtfsEntry {
    const rec = this.vol.mft.record(record);
    if (!rec) throw new Error(`${path}: MFT record ${record} is not in use`);
    const r = new MftRecord(record, rec);
    const data = attributes(r).find((a) => a.type === 0x80 && a.name === "");
    const size = !data ? 0 : data.resident ? r.value(data, "$DATA").length : r.count("$DATA size", data.at + 48);
    return { isDirectory: (rec[22] & 2) !== 0, size, record, path };
  }
  lookup(path: string): NtfsEntry | undefined {
    const n = this.vol.lookup(path);
    return n === undefined ? undefined : this.entry(n, path);
  }
  sha256(e: NtfsEntry): string {
    const rec = this.vol.mft.record(e.record)!;
    const r = new MftRecord(e.record, rec);
    const data = attributes(r).find((a) => a.type === 0x80 && a.name === "");
    const hash = newSha256();
    if (data?.resident) hash.update(r.value(data, "$DATA"));
    else if (data) {
      const spc = this.vol.g.clusterBytes / this.vol.g.bytesPerSector,
        runs: SectorRun[] = [];
      let left = e.size;
      for (const x of this.vol.mft.dataRuns(e.record, rec)) {
        if (left <= 0) break;
        const bytes = Math.min(left, x.length * this.vol.g.clusterBytes);
        if (x.lcn >= 0) runs.push({ lba: x.lcn * spc, sectors: x.length * spc, bytes });
        else {
          hash.updateSectors(this.vol.part, runs.splice(0)); // what came before, then the sparse run's zeros
          hash.update(new Uint8Array(bytes));
        }
        left -= bytes;
      }
      hash.updateSectors(this.vol.part, runs);
    }
    return hash.digest();
  }
}

function buildNtfsManifest(partition: BlockDevice, patterns: string[], now: number): Manifest {
  const files = new NtfsFiles(new NtfsVolume(partition));
  const match = matcher(patterns);
  const entries = patterns.length
    ? ntfsFilePaths(files.vol.mft)
        .filter((p) => match(p.long, p.short) >= 0)
        .map((p) => files.entry(p.record, p.long))
    : [];
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    version: 1,
    created: Math.floor(now / 1000),
    paths: patterns,
    files: entries.map((e) => ({ path: e.path, size: e.size, sha256: files.sha256(e) })),
  };
}

/**
 * NTFS's health: the boot sector and $MFT (the geometry and record 0 MftReader checks), $MFT's
 * first records against their copy in $MFTMirr, every record in use readable, the core's walk
 * (clusters the records reach that $Bitmap marks free, cross-links), and the manifest's files,
 * found through the $I30 indexes.
 */
function checkNtfsHealth(
  core: Core,
  partition: BlockDevice,
  manifest: Manifest | undefined,
  problems: HealthProblem[],
): HealthReport {
  const manifestFiles = manifest?.files.length ?? 0;
  const fatal = (kind: HealthProblem["kind"], detail: string, path?: string) =>
    problems.push({ kind, severity: "fatal", detail, ...(path ? { path } : {}) });
  let vol: NtfsVolume;
  try {
    vol = new NtfsVolume(partition);
  } catch (e) {
    fatal("boot", `the boot sector or $MFT is not usable: ${(e as Error).message}`);
    return { ok: false, restoreNeeded: true, problems, files: 0, manifestFiles };
  }
  const rb = vol.g.recordBytes;
  try {
    const mirrorRuns = vol.dataRuns(1);
    const mirrored = Math.min(4, Math.floor((mirrorRuns.reduce((a, x) => a + x.length, 0) * vol.g.clusterBytes) / rb));
    const main = vol.mft.readRuns(vol.mft.mftRuns, 0, mirrored * rb),
      copy = vol.mft.readRuns(mirrorRuns, 0, mirrored * rb);
    for (let i = 0; i < mirrored; i++)
      if (main.subarray(i * rb, (i + 1) * rb).some((b, k) => b !== copy[i * rb + k]))
        fatal("boot", `MFT record ${i} differs from its copy in $MFTMirr`);
  } catch (e) {
    fatal("boot", `$MFTMirr cannot be read: ${(e as Error).message}`);
  }
  let count = 0;
  try {
    count = ntfsFilePaths(vol.mft).length;
  } catch (e) {
    fatal("dir-unreadable", `the MFT cannot be read: ${(e as Error).message}`);
  }
  walkProblems(core, partition, "$Bitmap", fatal);
  const files = new NtfsFiles(vol);
  for (const f of manifest?.files ?? []) {
    const p = manifestProblem(files, f, undefined);
    if (p) problems.push(p);
  }
  const restoreNeeded = problems.some((p) => p.severity === "fatal");
  return { ok: problems.length === 0, restoreNeeded, problems, files: count, manifestFiles };
}
