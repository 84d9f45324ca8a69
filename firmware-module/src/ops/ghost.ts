// The ghost image (docs/image-format.md, section 12): the image of a FAT partition kept inside
// that partition, as a hidden, system, read-only, contiguous file (\RECOVERY.CBI by default).
//
// - Made: the new image goes into a new contiguous file (CBGHOST.TMP in the ghost's directory,
//   placed as near the end of the volume as it fits). The backup reads the partition through
//   patches that show it as it will be after the switch below: the old ghost deleted and its
//   clusters free, CBGHOST.TMP named as the ghost. The new file's own clusters stay allocated in
//   the FAT the image stores but are left out of its bitmap (the header's ghost extent). After
//   the commit record, a locator goes into the file's last 512 bytes, and then the switch makes
//   the partition what the image says: old entry deleted, new entry renamed, old header and
//   locator zeroed, old clusters freed. Cut off anywhere, a valid image remains (the old one
//   until the rename, the new one from then on), and the next backup settles what was left.
// - Found: through its directory entry when the volume is readable; otherwise by reading the
//   partition backwards from its end for the locator (which the file's placement puts near the
//   end) or the image header itself on a sector boundary. A candidate counts only when its header
//   checks, names its own place as its ghost extent, and its commit record names its header.
// - Restored from: every cluster of the image is written, never the ghost's own (the write
//   guard's hole, and the core refuses an image that stores a cluster there); the FAT and
//   directory the image holds keep the ghost file, so the next restore from it works too.

import { FsType, PatchKind, SCAN_MAGIC_BYTES } from "./abi";
import { crc32, fromLatin1, latin1, sameBytes } from "./bytes";
import { Core, NO_DEVICE, Slot } from "./core";
import { BlockDevice, PartitionView } from "./devices";
import { DeviceError } from "./errors";
import { applyPatches, entryOffset, freeFatEntries, fsInfoPatches, Patch } from "./exclusions";
import { ClusterRun, isExfat } from "./exfat-dir";
import { FatEntry, FatReader } from "./fat-reader";
import { exactShortName, FatWriter } from "./fat-writer";
import { GhostError, GhostExtent, GhostSpaceError } from "./ghost-common";
import * as X from "./ghost-exfat";
import * as N from "./ghost-ntfs";
import { isNtfs } from "./ghost-ntfs";
import { SectorAdapter } from "./sector-adapter";

export const DEFAULT_GHOST_NAME = "\\RECOVERY.CBI";
/** The new image's file while it is written, in the ghost's directory. */
export const GHOST_TEMP = "CBGHOST.TMP";
/** Read-only, hidden, system. */
export const GHOST_ATTRIBUTES = 0x07;
const LOCATOR_MAGIC = "CBGHOSTL";
const IMAGE_MAGIC = "CBIMAGE1";
/** The first byte both magics share ("C"). */
const COMMIT_MAGIC = "CBCOMMIT";
const SEARCH_SPAN = 64 << 20; // searched by one scanMagic call (the core reads it 1 MiB at a time)

/** Whether the partition holds exFAT (its ghost goes through ghost-exfat.ts); FAT otherwise. */
export { GhostError, type GhostExtent, GhostSpaceError, isExfat, isNtfs };

export interface FoundGhost extends GhostExtent {
  /** The directory entry it was found through; absent when found by the search. */
  path?: string;
  foundBy: "directory" | "locator" | "search";
  /** The image's creation time, seconds since 1970. */
  created: number;
  /** Bytes of the image (its commit record's end). */
  imageBytes: number;
  /** The partition's sector size the extent is counted in. A search on a partition opened with another sector size returns the candidate unchecked (created and imageBytes 0): reopen it with this size and check it. */
  sectorBytes: number;
}

/** "\\DIR\\NAME.EXT" in upper case; every component an 8.3 name (the switch renames the short entry alone). */
export function ghostPath(name = DEFAULT_GHOST_NAME): string {
  const parts = name
    .split(/[\\/]/)
    .filter((p) => p.length > 0)
    .map((p) => p.toUpperCase());
  if (parts.length === 0) throw new GhostError(`ghost name "${name}" names no file`);
  for (const p of parts)
    if (!exactShortName(p))
      throw new GhostError(
        `ghost name "${name}": "${p}" is not an 8.3 name (up to 8 letters, digits or $%'-_@~\`!(){}^#& and an extension of up to 3)`,
      );
  if (parts[parts.length - 1] === GHOST_TEMP)
    throw new GhostError(`ghost name "${name}": ${GHOST_TEMP} is the name of the image being written`);
  return "\\" + parts.join("\\");
}

export function tempPathOf(path: string): string {
  return path.slice(0, path.lastIndexOf("\\") + 1) + GHOST_TEMP;
}

/** DIR_Name of the path's last component (ghostPath made it an exact 8.3 name). */
function short11(path: string): Uint8Array {
  return fromLatin1(exactShortName(path.slice(path.lastIndexOf("\\") + 1))!);
}

/** The image device of an extent of `part`: 512-byte image sectors on any partition sector size. */
export function ghostDevice(part: BlockDevice, e: GhostExtent): BlockDevice {
  const view = new PartitionView(part, e.startSector, e.sectors, `${part.name} ghost at sector ${e.startSector}`);
  return part.sectorSize === 512 ? view : new SectorAdapter(view, 512);
}

/**
 * Whether a valid, complete ghost image lies at `e`: its header checks, names `e` as its
 * ghost extent, and its commit record names that header. Reads two sectors.
 */
export function checkGhost(
  core: Core,
  part: BlockDevice,
  e: GhostExtent,
): { created: number; imageBytes: number } | undefined {
  if (e.sectors <= 0 || e.startSector + e.sectors > part.sectorCount) return undefined;
  const img = ghostDevice(part, e);
  const h = core.attach(img);
  try {
    if (core.exports.verifyBegin(h, img.sectorCount, NO_DEVICE, 0, 0) < 0) return undefined;
    const res = core.results();
    if (res[Slot.imgGhostStart] !== e.startSector || res[Slot.imgGhostSectors] !== e.sectors) return undefined;
    const imageBytes = res[Slot.imgLength],
      created = res[Slot.imgCreated];
    const head = new Uint8Array(512),
      commit = new Uint8Array(512);
    img.read(0, 1, head, 0);
    img.read(imageBytes / 512 - 1, 1, commit, 0);
    if (latin1(commit.subarray(0, 8)) !== COMMIT_MAGIC || !sameBytes(commit.subarray(24, 32), head.subarray(504, 512)))
      return undefined;
    return { created, imageBytes };
  } catch (e) {
    if (e instanceof DeviceError) return undefined;
    throw e;
  } finally {
    core.detach(h);
  }
}

/** The ghost found through the volume's directory (the ghost's name, then the file of an unfinished replacement), or undefined. */
export function findGhostByDirectory(core: Core, part: BlockDevice, name?: string): FoundGhost | undefined {
  const path = ghostPath(name);
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(part)) {
    const extent = N.ntfsGhostExtent(part, path);
    const ok = extent && checkGhost(core, part, extent);
    return extent && ok ? { ...extent, path, foundBy: "directory", sectorBytes: part.sectorSize, ...ok } : undefined;
  }
  if (isExfat(part)) {
    const found: FoundGhost[] = [];
    for (const p of [path, tempPathOf(path)]) {
      const extent = X.exfatGhostExtent(part, p);
      const ok = extent && checkGhost(core, part, extent);
      if (extent && ok) found.push({ ...extent, path: p, foundBy: "directory", sectorBytes: part.sectorSize, ...ok });
    }
    return found.sort((a, b) => b.created - a.created)[0];
  }
  let reader: FatReader;
  try {
    reader = new FatReader(part, core);
  } catch {
    return undefined;
  }
  const found: FoundGhost[] = [];
  for (const p of [path, tempPathOf(path)]) {
    let e: FatEntry | undefined;
    try {
      e = reader.lookup(p);
    } catch {
      continue;
    }
    if (!e || e.isDirectory || e.firstCluster < 2) continue;
    const extent = extentOf(reader, e);
    const ok = extent && checkGhost(core, part, extent);
    if (extent && ok) found.push({ ...extent, path: p, foundBy: "directory", sectorBytes: part.sectorSize, ...ok });
  }
  return found.sort((a, b) => b.created - a.created)[0];
}

/** A file's extent when its chain is one run. */
function extentOf(reader: FatReader, e: FatEntry): GhostExtent | undefined {
  let runs: Array<{ start: number; length: number }>;
  try {
    runs = reader.chainRuns(e.firstCluster);
  } catch {
    return undefined;
  }
  if (runs.length !== 1) return undefined;
  const g = reader.tables.geometry,
    spc = g.clusterBytes / g.bytesPerSector;
  return { startSector: g.firstDataSector + (runs[0].start - 2) * spc, sectors: runs[0].length * spc };
}

/**
 * Looks for a ghost image without the file system: searches the partition backwards from its end
 * (in the core: scanMagic, 64 MiB a call) for a locator or an image header on a 512-byte
 * boundary, reads only the sector of each match, and takes the first
 * candidate that checks; one counted in another sector size (a partition opened with the wrong
 * one) is returned unchecked only when nothing else is found. `limitBytes`: how far from the end to look (default: all of it).
 */
export function searchGhost(core: Core, part: BlockDevice, limitBytes = Infinity): FoundGhost | undefined {
  const ss = part.sectorSize,
    total = part.sectorCount * ss;
  const stop = Math.max(0, total - limitBytes);
  const unit = new Uint8Array(ss);
  let other: FoundGhost | undefined;
  const h = core.attach(part);
  try {
    for (let end = total - (total % 512); end > stop; ) {
      // the bulk of it in the core (scanMagic): only a matching sector comes out
      const from = Math.max(stop - (stop % 512), end - SEARCH_SPAN);
      const params = new Uint8Array(16);
      params.set(fromLatin1(LOCATOR_MAGIC), 0);
      params.set(fromLatin1(IMAGE_MAGIC), SCAN_MAGIC_BYTES);
      core.setParams(params);
      if (core.check(core.exports.scanMagic(h, ss, from, end)) === 0) {
        end = from;
        continue;
      }
      const at = core.results()[Slot.magicAt];
      end = at; // the next call goes on below this match
      part.read(Math.floor(at / ss), 1, unit, 0);
      const sector = unit.subarray(at % ss, (at % ss) + 512);
      const magic = latin1(sector.subarray(0, 8));
      let c: { extent: GhostExtent; sectorBytes: number } | undefined,
        foundBy: FoundGhost["foundBy"] = "locator";
      if (magic === LOCATOR_MAGIC) c = readLocator(sector);
      else {
        const v = new DataView(sector.buffer, sector.byteOffset, 512),
          sectorBytes = v.getUint32(108, true);
        const extent = { startSector: Number(v.getBigUint64(256, true)), sectors: Number(v.getBigUint64(264, true)) };
        if (extent.sectors > 0 && extent.startSector * sectorBytes === at) c = { extent, sectorBytes };
        foundBy = "search";
      }
      if (!c) continue;
      // a ghost counted in another sector size: kept as a fallback (the caller reopens and checks it), the search goes on
      if (c.sectorBytes !== ss) {
        other ??= { ...c.extent, foundBy, created: 0, imageBytes: 0, sectorBytes: c.sectorBytes };
        continue;
      }
      const ok = checkGhost(core, part, c.extent);
      if (ok) return { ...c.extent, foundBy, sectorBytes: ss, ...ok };
    }
  } finally {
    core.detach(h);
  }
  return other;
}

/**
 * The locator (section 12.3), the last 512 bytes of the ghost file:
 *   0 "CBGHOSTL"; 8 u32 version 1; 12 u32 the partition's sector size;
 *   16 u64 ghost start sector; 24 u64 ghost sectors; 32 8 bytes: the image's header check;
 *   40 u32 kind (0 backup, 1 factory); 44 u32 CRC-32 of the extra bytes;
 *   48 u64 offset of the extra bytes in the file (after the image); 56 u32 their length;
 *   64 u64, 72 u64: the extent of the ghost this one replaced while the switch is not finished
 *   (0, 0 once it is); 508 u32 CRC-32 of bytes 0..507. Everything else zero.
 */
export interface LocatorFields {
  kind: number;
  extraOffset: number;
  extraBytes: number;
  extraCrc: number;
  replaced?: GhostExtent;
}

function encodeLocator(e: GhostExtent, sectorBytes: number, headerCheck: Uint8Array, f: LocatorFields): Uint8Array {
  const b = new Uint8Array(512),
    v = new DataView(b.buffer);
  b.set(fromLatin1(LOCATOR_MAGIC), 0);
  v.setUint32(8, 1, true);
  v.setUint32(12, sectorBytes, true);
  v.setBigUint64(16, BigInt(e.startSector), true);
  v.setBigUint64(24, BigInt(e.sectors), true);
  b.set(headerCheck.subarray(0, 8), 32);
  v.setUint32(40, f.kind, true);
  v.setUint32(44, f.extraCrc >>> 0, true);
  v.setBigUint64(48, BigInt(f.extraOffset), true);
  v.setUint32(56, f.extraBytes, true);
  v.setBigUint64(64, BigInt(f.replaced?.startSector ?? 0), true);
  v.setBigUint64(72, BigInt(f.replaced?.sectors ?? 0), true);
  v.setUint32(508, crc32(b.subarray(0, 508)), true);
  return b;
}

function readLocator(b: Uint8Array): { extent: GhostExtent; sectorBytes: number; fields: LocatorFields } | undefined {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  const sectorBytes = v.getUint32(12, true);
  if (latin1(b.subarray(0, 8)) !== LOCATOR_MAGIC) return undefined;
  if (
    v.getUint32(508, true) !== crc32(b.subarray(0, 508)) ||
    v.getUint32(8, true) !== 1 ||
    ![512, 1024, 2048, 4096].includes(sectorBytes)
  )
    return undefined;
  return {
    extent: { startSector: Number(v.getBigUint64(16, true)), sectors: Number(v.getBigUint64(24, true)) },
    sectorBytes,
    fields: {
      kind: v.getUint32(40, true),
      extraCrc: v.getUint32(44, true),
      extraOffset: Number(v.getBigUint64(48, true)),
      extraBytes: v.getUint32(56, true),
      replaced:
        v.getBigUint64(72, true) > 0n
          ? { startSector: Number(v.getBigUint64(64, true)), sectors: Number(v.getBigUint64(72, true)) }
          : undefined,
    },
  };
}

/** The locator of the ghost at `e` when it is there and names `e` (undefined otherwise). */
export function ghostLocator(part: BlockDevice, e: GhostExtent): LocatorFields | undefined {
  const img = ghostDevice(part, e);
  const b = new Uint8Array(512);
  try {
    img.read(img.sectorCount - 1, 1, b, 0);
  } catch {
    return undefined;
  }
  const l = readLocator(b);
  return l &&
    l.extent.startSector === e.startSector &&
    l.extent.sectors === e.sectors &&
    l.sectorBytes === part.sectorSize
    ? l.fields
    : undefined;
}

/** The extra bytes the locator names (the printer's manifest), checked by their CRC; empty when none or damaged. */
export function ghostExtra(part: BlockDevice, e: GhostExtent): Uint8Array {
  const l = ghostLocator(part, e);
  if (
    !l ||
    l.extraBytes === 0 ||
    l.extraOffset % 512 !== 0 ||
    l.extraOffset + l.extraBytes + 512 > e.sectors * part.sectorSize
  )
    return new Uint8Array(0);
  const img = ghostDevice(part, e);
  const n = Math.ceil(l.extraBytes / 512);
  const b = new Uint8Array(n * 512);
  img.read(l.extraOffset / 512, n, b, 0);
  const out = b.subarray(0, l.extraBytes);
  return crc32(out) === l.extraCrc ? out : new Uint8Array(0);
}

/** Writes the extra bytes at `offset` (a multiple of 512) of the ghost file. */
export function writeExtra(part: BlockDevice, e: GhostExtent, offset: number, extra: Uint8Array): void {
  if (extra.length === 0) return;
  const b = new Uint8Array(Math.ceil(extra.length / 512) * 512);
  b.set(extra);
  ghostDevice(part, e).write(offset / 512, b.length / 512, b, 0);
}

/** Finds the partition's ghost image: by directory, else (when `search`) by the locator search. */
export function findGhost(
  core: Core,
  part: BlockDevice,
  options: { name?: string; search?: boolean } = {},
): FoundGhost | undefined {
  return (
    findGhostByDirectory(core, part, options.name) ?? (options.search === false ? undefined : searchGhost(core, part))
  );
}

/** The old ghost's side of a switch: its FAT entries freed (every copy), its entry deleted. */
export interface OldGhost {
  entry?: FatEntry;
  extent?: GhostExtent;
  clusters: number;
  fatPatches: Patch[];
  fatPatchesByCopy: Patch[][];
  dirPatches: Patch[];
}

export function planOldGhost(reader: FatReader, path: string): OldGhost | undefined {
  const entry = reader.lookup(path);
  if (!entry) return undefined;
  if (entry.isDirectory) throw new GhostError(`${path} is a directory, not a ghost image`);
  const g = reader.tables.geometry,
    ss = g.bytesPerSector;
  const runs = entry.firstCluster >= 2 ? reader.chainRuns(entry.firstCluster) : [];
  const fatPatchesByCopy: Patch[][] = [];
  for (let copy = 0; copy < g.fatCount; copy++) {
    const p: Patch[] = [];
    freeFatEntries(p, g.fsType, (g.reservedSectors + copy * g.fatSectors) * ss, runs);
    fatPatchesByCopy.push(p);
  }
  const dirPatches: Patch[] = [
    { byteOffset: entryOffset(reader, entry), length: 1, kind: PatchKind.mask, value: 0xe5, mask: 0xff },
  ];
  return {
    entry,
    extent: extentOf(reader, entry),
    clusters: runs.reduce((a, r) => a + r.length, 0),
    fatPatches: fatPatchesByCopy.flat(),
    fatPatchesByCopy,
    dirPatches,
  };
}

/** The new file's side of a switch: its extent, and its short entry renamed from CBGHOST.TMP to the ghost's name. */
export function planRename(reader: FatReader, path: string): { extent: GhostExtent; dirPatches: Patch[] } {
  const tempPath = tempPathOf(path);
  const temp = reader.lookup(tempPath);
  if (!temp) throw new GhostError(`${tempPath} is missing: the ghost image's file was not made`);
  const extent = extentOf(reader, temp);
  if (!extent) throw new GhostError(`${tempPath} is not one contiguous run of clusters`);
  const name = short11(path),
    at = entryOffset(reader, temp),
    dirPatches: Patch[] = [];
  for (let i = 0; i < 11; i += 4) {
    const n = Math.min(4, 11 - i);
    let value = 0,
      mask = 0;
    for (let k = 0; k < n; k++) {
      value |= name[i + k] << (8 * k);
      mask |= 0xff << (8 * k);
    }
    dirPatches.push({ byteOffset: at + i, length: n, kind: PatchKind.mask, value: value >>> 0, mask: mask >>> 0 });
  }
  return { extent, dirPatches };
}

/** planOldGhost on either file system: the old ghost's side of a switch, or undefined. */
export function planOldGhostOn(core: Core, part: BlockDevice, path: string): OldGhost | undefined {
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(part)) return N.planOldNtfsGhost(part, path);
  return isExfat(part) ? X.planOldExfatGhost(part, path) : planOldGhost(new FatReader(part, core), path);
}

/** planRename on either file system. */
export function planRenameOn(
  core: Core,
  part: BlockDevice,
  path: string,
): { extent: GhostExtent; dirPatches: Patch[] } {
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(part)) return N.planNtfsRename(part, path);
  return isExfat(part) ? X.planExfatRename(part, path, tempPathOf(path)) : planRename(new FatReader(part, core), path);
}

/**
 * Leftovers of an interrupted ghost backup: CBGHOST.TMP holding a complete image while the
 * ghost's own entry is gone (cut off inside the switch) is renamed, which finishes the switch;
 * any other CBGHOST.TMP is an unfinished image and is removed. Returns what it did.
 */
export function settleGhost(
  core: Core,
  part: BlockDevice,
  path: string,
): "none" | "renamed" | "removed" | "switch finished" {
  const tempPath = tempPathOf(path);
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(part)) return settleNtfsGhost(core, part, path);
  if (isExfat(part)) {
    const done = finishExfatSwitch(core, part, path);
    const temp = X.exfatGhostExtent(part, tempPath);
    if (temp === undefined && !X.exfatFileExists(part, tempPath)) return done ? "switch finished" : "none";
    if (
      X.exfatGhostExtent(part, path) === undefined &&
      !X.exfatFileExists(part, path) &&
      temp &&
      checkGhost(core, part, temp)
    ) {
      applyPatches(part, X.planExfatRename(part, path, tempPath).dirPatches);
      part.flush();
      return "renamed";
    }
    X.removeExfatFile(part, tempPath);
    return "removed";
  }
  const finished = finishSwitch(core, part, path);
  const reader = new FatReader(part, core);
  const temp = reader.lookup(tempPath);
  if (!temp) return finished ? "switch finished" : "none";
  const extent = extentOf(reader, temp);
  if (!reader.lookup(path) && extent && checkGhost(core, part, extent)) {
    applyPatches(part, planRename(reader, path).dirPatches);
    part.flush();
    return "renamed";
  }
  removeFile(part, tempPath);
  return "removed";
}

/**
 * A switch cut off after its directory write (section 12.2): the ghost's locator still names
 * the extent it replaced. The replaced ghost's header and locator are zeroed, its clusters freed
 * in every FAT copy when the first copy (written last) still holds its chain, FSInfo's free
 * count set from the FAT, and the locator's mark cleared. Returns whether there was one.
 */
function finishSwitch(core: Core, part: BlockDevice, path: string): boolean {
  let reader: FatReader;
  try {
    reader = new FatReader(part, core);
  } catch {
    return false;
  }
  const entry = reader.lookup(path);
  const extent = entry && !entry.isDirectory && entry.firstCluster >= 2 ? extentOf(reader, entry) : undefined;
  const loc = extent ? ghostLocator(part, extent) : undefined;
  if (!extent || !loc?.replaced || !checkGhost(core, part, extent)) return false;
  const old = loc.replaced,
    g = reader.tables.geometry,
    spc = g.clusterBytes / g.bytesPerSector;
  const first = (old.startSector - g.firstDataSector) / spc + 2,
    count = old.sectors / spc;
  if (
    Number.isInteger(first) &&
    Number.isInteger(count) &&
    first >= 2 &&
    first + count <= g.clusterCount + 2 &&
    (old.startSector + old.sectors <= extent.startSector || old.startSector >= extent.startSector + extent.sectors)
  ) {
    forgetGhost(part, old);
    // the old extent's clusters are freed unless a file's chain (or the root directory's) reaches into them
    const reaches = (c: number) => {
      try {
        return reader.chainRuns(c).some((r) => r.start < first + count && r.start + r.length > first);
      } catch {
        return true;
      }
    };
    const root = reader.lookup("\\");
    let owned = g.fsType === FsType.fat32 && root !== undefined && root.firstCluster >= 2 && reaches(root.firstCluster);
    reader.walk((e) => {
      if (!owned && e.firstCluster >= 2) owned = reaches(e.firstCluster);
    });
    const w = new FatWriter(part);
    if (!owned) w.freeRange(first, count);
    w.flush();
  }
  writeLocator(part, extent, { ...loc, replaced: undefined });
  part.flush();
  return true;
}

/** finishSwitch on exFAT: the replaced ghost forgotten, its clusters freed in the bitmap unless a file reaches into them, the mark cleared. */
function finishExfatSwitch(core: Core, part: BlockDevice, path: string): boolean {
  const extent = X.exfatGhostExtent(part, path);
  const loc = extent ? ghostLocator(part, extent) : undefined;
  if (!extent || !loc?.replaced || !checkGhost(core, part, extent)) return false;
  const old = loc.replaced;
  const clusters = X.exfatClustersOf(part, old);
  if (
    clusters &&
    (old.startSector + old.sectors <= extent.startSector || old.startSector >= extent.startSector + extent.sectors)
  ) {
    forgetGhost(part, old);
    if (!X.exfatOwned(part, clusters.first, clusters.count)) X.freeExfatClusters(part, clusters.first, clusters.count);
  }
  writeLocator(part, extent, { ...loc, replaced: undefined });
  part.flush();
  return true;
}

/**
 * settleGhost on NTFS (section 12.6): when the ghost's locator names a replaced ghost, the switch
 * was cut off after its index write: the replaced ghost is forgotten and its record (an orphan
 * now) freed. Otherwise an orphan with the ghost's name is an unfinished new file, and is freed.
 * A first ghost whose backup was cut off stays in the index with no valid image: the next backup
 * replaces it as it replaces any ghost.
 */
function settleNtfsGhost(core: Core, part: BlockDevice, path: string): "none" | "removed" | "switch finished" {
  N.repairNtfsMirror(part);
  N.replayNtfsJournals(part, path.slice(path.lastIndexOf("\\") + 1));
  const extent = N.ntfsGhostExtent(part, path);
  const loc = extent ? ghostLocator(part, extent) : undefined;
  if (extent && loc?.replaced && checkGhost(core, part, extent)) {
    const old = loc.replaced;
    if (old.startSector + old.sectors <= extent.startSector || old.startSector >= extent.startSector + extent.sectors)
      forgetGhost(part, old);
    N.freeNtfsOrphans(part, path);
    writeLocator(part, extent, { ...loc, replaced: undefined });
    part.flush();
    return "switch finished";
  }
  return N.freeNtfsOrphans(part, path) > 0 ? "removed" : "none";
}

/** A ghost backup that does not finish, on NTFS: its new file removed (an orphan; or a first ghost, from the index, when it holds no valid image). */
export function abandonNtfsGhost(core: Core, part: BlockDevice, path: string): void {
  if (N.freeNtfsOrphans(part, path) > 0) return;
  const extent = N.ntfsGhostExtent(part, path);
  if (extent && !checkGhost(core, part, extent)) N.removeIndexedNtfsGhost(part, path);
}

/** switchFsInfo on either file system (exFAT and NTFS keep no free count: none). */
export function switchFsInfoOn(core: Core, part: BlockDevice, freed: number): Patch[] {
  return isExfat(part) || isNtfs(part) ? [] : switchFsInfo(new FatReader(part, core), part, freed);
}

/** The FSInfo patches of a switch that frees `freed` clusters (FAT32 only). */
export function switchFsInfo(reader: FatReader, part: BlockDevice, freed: number): Patch[] {
  const g = reader.tables.geometry;
  return g.fsType === FsType.fat32 && freed > 0 ? fsInfoPatches(part, freed, g.clusterCount) : [];
}

/** Makes the ghost's file: contiguous, read-only, hidden, system, near the end of the volume. */
export function reserveGhostFile(
  part: BlockDevice,
  tempPath: string,
  bytes: number,
  mtime: Date,
  /** Runs the tree reaches that the file system marks free: never taken for the ghost (issue 18). */
  avoid: ClusterRun[] = [],
  /** The ghost's own path: NTFS's new file carries the ghost's name from the start (section 12.6). */
  path?: string,
): void {
  if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && isNtfs(part)) {
    if (!path) throw new GhostError(`${part.name}: an NTFS ghost's new file is made under the ghost's own name`);
    return N.reserveNtfsFile(part, path, bytes, GHOST_ATTRIBUTES, mtime, avoid);
  }
  if (isExfat(part)) return X.reserveExfatFile(part, tempPath, bytes, GHOST_ATTRIBUTES, mtime, avoid);
  const w = new FatWriter(part);
  w.reserveFile(tempPath, bytes, { attributes: GHOST_ATTRIBUTES, contiguous: true, fromEnd: true, mtime, avoid });
  w.flush();
}

/** Removes a file (an unfinished ghost) and flushes. */
export function removeFile(part: BlockDevice, path: string): void {
  if (isExfat(part)) return X.removeExfatFile(part, path);
  const w = new FatWriter(part);
  w.remove(path);
  w.flush();
}

/** Writes the locator into the last 512 bytes of the ghost extent. */
export function writeLocator(
  part: BlockDevice,
  e: GhostExtent,
  fields: LocatorFields = { kind: 0, extraOffset: 0, extraBytes: 0, extraCrc: 0 },
): void {
  const img = ghostDevice(part, e);
  const head = new Uint8Array(512);
  img.read(0, 1, head, 0);
  img.write(img.sectorCount - 1, 1, encodeLocator(e, part.sectorSize, head.subarray(504, 512), fields), 0);
}

/** After a restore from the ghost at `e` the partition is as the image says, the switch included: the locator's mark of a replaced ghost is cleared. */
export function clearSwitchMark(part: BlockDevice, e: GhostExtent): void {
  const loc = ghostLocator(part, e);
  if (!loc?.replaced) return;
  forgetGhost(part, loc.replaced);
  writeLocator(part, e, { ...loc, replaced: undefined });
  part.flush();
}

/** Zeroes a replaced ghost's header and locator, so that no search finds it again. */
export function forgetGhost(part: BlockDevice, e: GhostExtent): void {
  const img = ghostDevice(part, e);
  const zero = new Uint8Array(512);
  img.write(0, 1, zero, 0);
  img.write(img.sectorCount - 1, 1, zero, 0);
}
