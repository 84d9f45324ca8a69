// Files left out of an image (docs/image-format.md, section 11). The excluded files are kept,
// empty: the backup reads their FAT entries as free (in every FAT copy), their directory entries
// with size 0 and no first cluster, and FSInfo's free count raised to match, through the core's
// source patches. So their clusters are not in the bitmap and not stored, and the metadata and
// directory clusters the image holds describe a consistent volume in which they are empty files
// (fsck.fat -n clean after a restore). The source partition itself is never written.

import { FsType, PATCH_BYTES, PATCH_MAX, PatchField, PatchKind } from "./abi";
import { Core } from "./core";
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";
import { FatEntry, FatReader } from "./fat-reader";

/** A source patch (as-core/assembly/patch.ts): kind 0 zeroes bytes, 1 sets bits, 2 leaves clusters [byteOffset, byteOffset + length) out of the bitmap. */
export interface Patch {
  byteOffset: number;
  length: number;
  kind: (typeof PatchKind)[keyof typeof PatchKind];
  value?: number;
  mask?: number;
}

export interface ExcludedFile {
  path: string;
  size: number;
  clusters: number;
}

export interface ExclusionPlan {
  patches: Patch[];
  files: ExcludedFile[];
  clusters: number;
  /** Patterns that matched nothing. */
  unmatched: string[];
}

export class ExclusionError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "ExclusionError";
  }
}

/** The core's patch capacity (the contract's PATCH_MAX). */
export { PATCH_MAX };

function normal(p: string): string {
  return ("\\" + p.replace(/\//g, "\\").replace(/^\\+/, "").replace(/\\+$/, "")).toUpperCase();
}

function globRegex(pattern: string): RegExp {
  const rx = normal(pattern)
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^\\\\]*")
    .replace(/\?/g, "[^\\\\]");
  return new RegExp(`^${rx}$`);
}

/**
 * Whether a file is excluded: a pattern (case-insensitive, long or short names, * and ? within a
 * component) matches its path or the path of a directory above it.
 */
export function matcher(patterns: string[]): (longPath: string, shortPath: string) => number {
  const rxs = patterns.map(globRegex);
  return (longPath, shortPath) => {
    const longParts = normal(longPath).split("\\").slice(1),
      shortParts = normal(shortPath).split("\\").slice(1);
    for (let n = 1; n <= longParts.length; n++) {
      const l = "\\" + longParts.slice(0, n).join("\\"),
        s = "\\" + shortParts.slice(0, n).join("\\");
      const i = rxs.findIndex((rx) => rx.test(l) || rx.test(s));
      if (i >= 0) return i;
    }
    return -1;
  };
}

/**
 * The files of the volume that `patterns` name (the profile's and the CLI's one path-pattern
 * language: paths or globs, long or short names, any case; a directory names every file below
 * it), in walk order, and the patterns that named nothing.
 */
export function matchFiles(
  reader: FatReader,
  patterns: string[],
  skip: string[] = [],
): { files: FatEntry[]; unmatched: string[] } {
  const match = matcher(patterns);
  const skipped = new Set(skip.map(normal));
  const used = new Set<number>();
  const shortPaths = new Map<string, string>([["\\", ""]]);
  const files: FatEntry[] = [];
  if (patterns.length === 0) return { files, unmatched: [] };
  reader.walk((e) => {
    const parent = e.path.slice(0, e.path.lastIndexOf("\\")) || "\\";
    const shortPath = `${shortPaths.get(parent) ?? ""}\\${e.shortName}`;
    if (e.isDirectory) {
      shortPaths.set(e.path, shortPath);
      return;
    }
    if (skipped.has(normal(e.path)) || skipped.has(normal(shortPath))) return;
    const i = match(e.path, shortPath);
    if (i >= 0) {
      used.add(i);
      files.push(e);
    }
  });
  return { files, unmatched: patterns.filter((_, i) => !used.has(i)) };
}

export interface PlanOptions {
  /** Files never excluded (the ghost image and its replacement: section 12 handles them). */
  skip?: string[];
  /** Clusters other patches free besides these files (a replaced ghost image): FSInfo's free count is raised by them too. */
  alsoFreed?: number;
}

/** The patches that leave the files matching `patterns` out of a backup of `partition`. */
export function planExclusions(
  core: Core,
  partition: BlockDevice,
  patterns: string[],
  options: PlanOptions = {},
): ExclusionPlan {
  const plan: ExclusionPlan = { patches: [], files: [], clusters: 0, unmatched: [] };
  const alsoFreed = options.alsoFreed ?? 0;
  if (patterns.length === 0 && alsoFreed === 0) return plan;
  const reader = new FatReader(partition, core);
  const g = reader.tables.geometry,
    ss = g.bytesPerSector;
  const { files: excluded, unmatched } = matchFiles(reader, patterns, options.skip);
  plan.unmatched = unmatched;
  for (const e of excluded) {
    const runs = e.firstCluster >= 2 ? reader.chainRuns(e.firstCluster) : [];
    const clusters = runs.reduce((a, r) => a + r.length, 0);
    for (let copy = 0; copy < g.fatCount; copy++)
      freeFatEntries(plan.patches, g.fsType, (g.reservedSectors + copy * g.fatSectors) * ss, runs);
    const at = entryOffset(reader, e);
    plan.patches.push(
      { byteOffset: at + 20, length: 2, kind: PatchKind.zero },
      { byteOffset: at + 26, length: 6, kind: PatchKind.zero },
    ); // DIR_FstClusHI; DIR_FstClusLO, DIR_FileSize
    plan.files.push({ path: e.path, size: e.size, clusters });
    plan.clusters += clusters;
  }
  if (g.fsType === FsType.fat32 && plan.clusters + alsoFreed > 0)
    plan.patches.push(...fsInfoPatches(partition, plan.clusters + alsoFreed, g.clusterCount));
  if (plan.patches.length > PATCH_MAX) {
    throw new ExclusionError(
      `excluding ${plan.files.length} files (${plan.clusters} clusters in ${plan.patches.length} patches) needs more than the core's ${PATCH_MAX} patches: exclude fewer, less fragmented files`,
    );
  }
  return plan;
}

export function freeFatEntries(
  out: Patch[],
  fsType: number,
  fatStart: number,
  runs: Array<{ start: number; length: number }>,
): void {
  for (const r of runs) {
    if (fsType !== 1) {
      const bytes = fsType === FsType.fat32 ? 4 : 2;
      out.push({ byteOffset: fatStart + r.start * bytes, length: r.length * bytes, kind: PatchKind.zero });
      continue;
    }
    for (let n = r.start; n < r.start + r.length; n++) {
      // FAT12: 12 bits at byte floor(1.5 n), the low 12 bits of that u16 for even n, the high 12 for odd
      out.push({
        byteOffset: fatStart + Math.floor((n * 3) / 2),
        length: 2,
        kind: PatchKind.mask,
        value: 0,
        mask: n % 2 === 0 ? 0x0fff : 0xfff0,
      });
    }
  }
}

/** Byte offset in the partition of a file's short directory entry. */
export function entryOffset(reader: FatReader, e: FatEntry): number {
  const g = reader.tables.geometry,
    ss = g.bytesPerSector;
  const parentPath = e.path.slice(0, e.path.lastIndexOf("\\")) || "\\";
  const byte = (e.entryIndex ?? 0) * 32;
  if (parentPath === "\\" && g.fsType !== 3) return (g.reservedSectors + g.fatCount * g.fatSectors) * ss + byte;
  const parent = reader.lookup(parentPath);
  if (!parent) throw new ExclusionError(`cannot find the directory ${parentPath} of ${e.path}`);
  let skip = byte;
  for (const r of reader.chainRuns(parent.firstCluster)) {
    const runBytes = r.length * g.clusterBytes;
    if (skip < runBytes) return (g.firstDataSector + (r.start - 2) * (g.clusterBytes / ss)) * ss + skip;
    skip -= runBytes;
  }
  throw new ExclusionError(`the directory entry of ${e.path} lies past the end of ${parentPath}`);
}

/** FAT32: FSInfo's free count (and its backup's) raised by `freed` clusters. */
export function fsInfoPatches(partition: BlockDevice, freed: number, clusterCount: number): Patch[] {
  const out: Patch[] = [];
  const ss = partition.sectorSize;
  const boot = new Uint8Array(ss);
  partition.read(0, 1, boot, 0);
  const bv = new DataView(boot.buffer);
  const fsInfo = bv.getUint16(48, true),
    backup = bv.getUint16(50, true);
  for (const sector of [fsInfo, backup > 0 && backup < 0xffff ? backup + fsInfo : 0]) {
    if (sector === 0 || sector >= partition.sectorCount) continue;
    const b = new Uint8Array(ss);
    partition.read(sector, 1, b, 0);
    const v = new DataView(b.buffer);
    if (v.getUint32(0, true) !== 0x41615252 || v.getUint32(484, true) !== 0x61417272) continue;
    const free = v.getUint32(488, true);
    if (free === 0xffffffff || free + freed > clusterCount) continue; // unknown or already wrong: left as it is
    out.push({ byteOffset: sector * ss + 488, length: 4, kind: PatchKind.mask, value: free + freed, mask: 0xffffffff });
  }
  return out;
}

/** Applies patches to a device for real (the ghost's switch, section 12): the same meaning as the core's source patches. */
export function applyPatches(dev: BlockDevice, patches: Patch[]): void {
  const ss = dev.sectorSize;
  const sectors = new Map<number, Uint8Array>();
  patches = patches.filter((p) => p.kind !== 2); // not byte changes
  for (const p of patches) {
    for (let s = Math.floor(p.byteOffset / ss); s * ss < p.byteOffset + p.length; s++) {
      if (!sectors.has(s)) {
        const b = new Uint8Array(ss);
        dev.read(s, 1, b, 0);
        sectors.set(s, b);
      }
    }
  }
  for (const p of patches) {
    for (let b = p.byteOffset; b < p.byteOffset + p.length; b++) {
      const sector = sectors.get(Math.floor(b / ss))!,
        i = b % ss;
      if (p.kind === 0) {
        sector[i] = 0;
        continue;
      }
      const k = (b - p.byteOffset) * 8,
        m = ((p.mask ?? 0) >>> k) & 0xff,
        v = ((p.value ?? 0) >>> k) & 0xff;
      sector[i] = (sector[i] & ~m) | (v & m);
    }
  }
  for (const [s, b] of [...sectors].sort((x, y) => x[0] - y[0])) dev.write(s, 1, b, 0);
}

/** Writes the plan's patches into the core and makes them apply to reads from `handle`. */
export function loadPatches(core: Core, handle: number, sectorBytes: number, patches: Patch[]): void {
  if (patches.length > PATCH_MAX)
    throw new ExclusionError(`${patches.length} patches are more than the core holds (${PATCH_MAX})`);
  const bytes = new Uint8Array(patches.length * PATCH_BYTES);
  const view = new DataView(bytes.buffer);
  patches.forEach((p, i) => {
    const at = i * PATCH_BYTES;
    view.setFloat64(at + PatchField.byteOffset, p.byteOffset, true);
    view.setUint32(at + PatchField.length, p.length, true);
    view.setUint32(at + PatchField.kind, p.kind, true);
    view.setUint32(at + PatchField.value, (p.value ?? 0) >>> 0, true);
    view.setUint32(at + PatchField.mask, (p.mask ?? 0) >>> 0, true);
  });
  core.writePatches(bytes);
  if (core.exports.setPatches(handle, sectorBytes, patches.length) < 0)
    throw new ExclusionError(`${patches.length} patches are more than the core holds (${PATCH_MAX})`);
}
