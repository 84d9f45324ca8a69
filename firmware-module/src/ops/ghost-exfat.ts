// The ghost image on exFAT (docs/image-format.md 12.5): the same file, switch and search as on
// FAT (ghost.ts), through exFAT's directory entry sets and allocation bitmap (exfat-dir.ts).
//
// - Made: CBGHOST.TMP, a file entry set of three entries (file, stream extension with NoFatChain,
//   one name entry) placed so that it does not cross a sector, read-only, hidden and system, its
//   clusters one run as near the end of the heap as it fits. The bitmap is written first, then
//   the set: cut off between the two, the clusters are marked but reached by nothing.
// - Switched: the old ghost's set deleted (each entry's InUse bit cleared) and the new set renamed
//   (its name entry, NameLength, NameHash and SetChecksum) are one sector write when both sets
//   share a sector, else the rename first; the old clusters' bitmap bits are cleared after.
// - Found: through the directory by name, or by the search (ghost.ts), which knows no file system.

import { PatchKind } from "./abi";
import { BlockDevice, readBytes, writeBytes } from "./devices";
import { applyPatches, Patch } from "./exclusions";
import { ClusterRun, EXFAT_ENTRY, ExfatFile, ExfatTree, nameHash, setChecksum } from "./exfat-dir";
import { GhostError, GhostExtent, GhostSpaceError } from "./ghost-common";

const ENTRY_FILE = 0x85;
const ENTRY_STREAM = 0xc0;
const ENTRY_NAME = 0xc1;
const IN_USE = 0x80;
const NAME_CHARS = 15; // UTF-16 units in one name entry
const SET_ENTRIES = 3; // file, stream extension, one name entry: names of up to 15 characters

/** The ghost's name (its last component) fits one name entry: ghostPath's 8.3 names always do. */
function leafName(path: string): string {
  const name = path.slice(path.lastIndexOf("\\") + 1);
  if (name.length === 0 || name.length > NAME_CHARS)
    throw new GhostError(`ghost name "${path}": an exFAT ghost's name is 1 to ${NAME_CHARS} characters`);
  return name;
}

/** The extent of a file whose clusters are one run (NoFatChain, or a chain that is contiguous), else undefined. */
export function exfatExtent(tree: ExfatTree, f: ExfatFile): GhostExtent | undefined {
  if (f.directory || f.firstCluster < 2 || f.length <= 0) return undefined;
  let runs: Array<{ start: number; length: number }>;
  try {
    runs = tree.runs(f.firstCluster, f.length, f.noFatChain, f.path);
  } catch {
    return undefined;
  }
  if (runs.length !== 1) return undefined;
  const g = tree.g;
  return {
    startSector: g.clusterHeapOffset + (runs[0].start - 2) * g.sectorsPerCluster,
    sectors: runs[0].length * g.sectorsPerCluster,
  };
}

/** exFAT's timestamp (the FAT date and time in one u32) of a date, in UTC. */
function timestamp(d: Date): number {
  const y = Math.min(Math.max(d.getUTCFullYear(), 1980), 2107);
  return (
    (((y - 1980) << 25) |
      ((d.getUTCMonth() + 1) << 21) |
      (d.getUTCDate() << 16) |
      (d.getUTCHours() << 11) |
      (d.getUTCMinutes() << 5) |
      (d.getUTCSeconds() >> 1)) >>>
    0
  );
}

/** A file entry set of SET_ENTRIES entries: `name`, `attributes`, `bytes` from cluster `first` (NoFatChain). */
function entrySet(name: string, attributes: number, first: number, bytes: number, mtime: Date): Uint8Array {
  const set = new Uint8Array(EXFAT_ENTRY * SET_ENTRIES);
  const v = new DataView(set.buffer);
  set[0] = ENTRY_FILE;
  set[1] = SET_ENTRIES - 1;
  v.setUint16(4, attributes, true);
  const t = timestamp(mtime);
  for (const off of [8, 12, 16]) v.setUint32(off, t, true);
  set[EXFAT_ENTRY] = ENTRY_STREAM;
  set[EXFAT_ENTRY + 1] = 3; // AllocationPossible, NoFatChain
  setName(set, name);
  v.setBigUint64(EXFAT_ENTRY + 8, BigInt(bytes), true);
  v.setUint32(EXFAT_ENTRY + 20, first, true);
  v.setBigUint64(EXFAT_ENTRY + 24, BigInt(bytes), true);
  set[2 * EXFAT_ENTRY] = ENTRY_NAME;
  v.setUint16(2, setChecksum(set), true);
  return set;
}

/** The set's name (one name entry), NameLength and NameHash; the checksum is the caller's. */
function setName(set: Uint8Array, name: string): void {
  const v = new DataView(set.buffer, set.byteOffset, set.length);
  set[EXFAT_ENTRY + 3] = name.length;
  v.setUint16(EXFAT_ENTRY + 4, nameHash(name), true);
  set.fill(0, 2 * EXFAT_ENTRY + 2, 3 * EXFAT_ENTRY);
  for (let i = 0; i < name.length; i++) v.setUint16(2 * EXFAT_ENTRY + 2 + 2 * i, name.charCodeAt(i), true);
}

/**
 * Makes the ghost's file `path` of `bytes` (whole clusters): contiguous, read-only, hidden,
 * system, as near the end of the heap as it fits; its set in its directory within one sector.
 */
export function reserveExfatFile(
  part: BlockDevice,
  path: string,
  bytes: number,
  attributes: number,
  mtime: Date,
  /** Runs of clusters not to take although the bitmap marks them free (the tree walk's kept runs, issue 18). */
  avoid: ClusterRun[] = [],
): void {
  const tree = new ExfatTree(part);
  const g = tree.g;
  const name = leafName(path);
  const parentPath = path.slice(0, path.lastIndexOf("\\")) || "\\";
  const parent = tree.lookup(parentPath);
  if (!parent?.directory) throw new GhostError(`${part.name}: no directory ${parentPath} for ${path}`);
  if (tree.lookup(path)) throw new GhostError(`${part.name}: ${path} exists already`);
  const n = Math.ceil(bytes / g.clusterBytes);
  // the highest run of n free clusters
  const bitmap = new Uint8Array(Math.ceil(g.clusterCount / 8));
  const ss = part.sectorSize;
  for (let k = 0; k < bitmap.length; ) {
    const at = tree.bitmapByte(k),
      take = Math.min(bitmap.length - k, g.clusterBytes - (at % g.clusterBytes));
    bitmap.set(readBytes(part, at, take), k);
    k += take;
  }
  // the runs to avoid read as allocated in this copy of the bitmap
  for (const r of avoid)
    for (let c = Math.max(2, r.start); c < Math.min(r.start + r.length, g.clusterCount + 2); c++)
      bitmap[(c - 2) >> 3] |= 1 << ((c - 2) & 7);
  const free = (c: number) => ((bitmap[(c - 2) >> 3] >> ((c - 2) & 7)) & 1) === 0;
  let start = -1;
  for (let end = g.clusterCount + 2, run = 0; end > 2 && start < 0; end--) {
    run = free(end - 1) ? run + 1 : 0;
    if (run === n) start = end - 1;
  }
  if (n === 0 || start < 0)
    throw new GhostSpaceError(
      `${part.name}: no room for ${path}: it needs ${bytes} bytes (${n} clusters of ${g.clusterBytes}) in one run of free clusters`,
    );
  // its set's slots: SET_ENTRIES free entries in a row that do not cross a sector
  const slots = tree.slots(parent);
  let slot = -1;
  for (let i = 0; i + SET_ENTRIES <= slots.length && slot < 0; i++) {
    const run = slots.slice(i, i + SET_ENTRIES);
    if (
      run.every((s) => s.type < IN_USE) &&
      Math.floor(run[0].offset / ss) === Math.floor((run[SET_ENTRIES - 1].offset + EXFAT_ENTRY - 1) / ss)
    )
      if (run.every((s, j) => j === 0 || s.offset === run[0].offset + j * EXFAT_ENTRY)) slot = i;
  }
  if (slot < 0)
    throw new GhostError(
      `${part.name}: directory ${parentPath} has no room for ${path}'s entries (the ghost does not grow a directory)`,
    );
  // the bitmap first (sector by sector: a ghost of tens of MB is thousands of clusters, too
  // many to list one by one in a printer's QuickJS heap), then the set
  let lba = -1,
    sector: Uint8Array | undefined;
  for (let c = start; c < start + n; c++) {
    const at = tree.bitmapByte((c - 2) >> 3);
    if (Math.floor(at / ss) !== lba) {
      if (sector) part.write(lba, 1, sector, 0);
      lba = Math.floor(at / ss);
      sector = new Uint8Array(ss);
      part.read(lba, 1, sector, 0);
    }
    sector![at % ss] |= 1 << ((c - 2) & 7);
  }
  if (sector) part.write(lba, 1, sector, 0);
  part.flush();
  // end-of-directory entries skipped to keep the set in one sector become unused entries (a
  // deleted file entry's type), so that the directory does not end before the set
  const padding = slots.slice(0, slot).filter((x) => x.type === 0);
  if (padding.length > 0) {
    applyPatches(
      part,
      padding.map((x) => ({
        byteOffset: x.offset,
        length: 1,
        kind: PatchKind.mask,
        value: ENTRY_FILE & ~IN_USE,
        mask: 0xff,
      })),
    );
    part.flush();
  }
  writeBytes(part, slots[slot].offset, entrySet(name, attributes, start, n * g.clusterBytes, mtime));
  part.flush();
}

/** Removes a file: its set's entries marked not in use (one sector), then its clusters freed in the bitmap (and its FAT chain's entries). */
export function removeExfatFile(part: BlockDevice, path: string): void {
  const tree = new ExfatTree(part);
  const f = tree.lookup(path);
  if (!f || f.directory) return;
  applyPatches(part, deletePatches(f));
  part.flush();
  applyPatches(part, freePatches(tree, f, false).flat());
  part.flush();
}

/** The patches that mark a set's entries not in use. */
function deletePatches(f: ExfatFile): Patch[] {
  return f.entryOffsets.map((offset) => ({
    byteOffset: offset,
    length: 1,
    kind: PatchKind.mask,
    value: 0,
    mask: IN_USE,
  }));
}

/** The patches that free a file's clusters: the bitmap's bits, and (a FAT chain) its FAT entries, by FAT copy. */
function freePatches(tree: ExfatTree, f: ExfatFile, tolerant: boolean): Patch[][] {
  let runs: Array<{ start: number; length: number }> = [];
  try {
    runs = tree.runs(f.firstCluster, f.length, f.noFatChain, f.path);
  } catch (e) {
    if (!tolerant) throw e;
  }
  const bits: Patch[] = [];
  const fat: Patch[] = [];
  for (const r of runs) {
    tree.freeBits(bits, r.start, r.length);
    if (!f.noFatChain)
      for (let copy = 0; copy < tree.g.fatCount; copy++)
        fat.push({ byteOffset: tree.fatByte(r.start, copy), length: 4 * r.length, kind: PatchKind.zero });
  }
  return [bits, fat];
}

/** The old ghost's side of a switch (as ghost.ts's OldGhost). */
export function planOldExfatGhost(part: BlockDevice, path: string) {
  const tree = new ExfatTree(part);
  const f = tree.lookup(path);
  if (!f) return undefined;
  if (f.directory) throw new GhostError(`${path} is a directory, not a ghost image`);
  const [bits, fat] = freePatches(tree, f, true);
  const clusters = f.firstCluster >= 2 ? Math.ceil(f.length / tree.g.clusterBytes) : 0;
  return {
    extent: exfatExtent(tree, f),
    clusters,
    fatPatches: [...bits, ...fat],
    fatPatchesByCopy: [[...bits, ...fat]],
    dirPatches: deletePatches(f),
  };
}

/** The new file's side of a switch: its extent, and its set renamed from CBGHOST.TMP to the ghost's name. */
export function planExfatRename(
  part: BlockDevice,
  path: string,
  tempPath: string,
): { extent: GhostExtent; dirPatches: Patch[] } {
  const tree = new ExfatTree(part);
  const temp = tree.lookup(tempPath);
  if (!temp) throw new GhostError(`${tempPath} is missing: the ghost image's file was not made`);
  const extent = exfatExtent(tree, temp);
  if (!extent) throw new GhostError(`${tempPath} is not one contiguous run of clusters`);
  if (temp.set.length !== EXFAT_ENTRY * SET_ENTRIES)
    throw new GhostError(`${tempPath} is not a set this module made (${temp.set.length / EXFAT_ENTRY} entries)`);
  const renamed = temp.set.slice();
  setName(renamed, leafName(path));
  new DataView(renamed.buffer).setUint16(2, setChecksum(renamed), true);
  // the bytes that differ, as patches of up to 4 bytes
  const dirPatches: Patch[] = [];
  for (let i = 0; i < renamed.length; i += 4) {
    let value = 0,
      mask = 0;
    for (let k = 0; k < 4; k++)
      if (renamed[i + k] !== temp.set[i + k]) {
        value |= renamed[i + k] << (8 * k);
        mask |= 0xff << (8 * k);
      }
    if (mask !== 0) {
      const entry = Math.floor(i / EXFAT_ENTRY);
      dirPatches.push({
        byteOffset: temp.entryOffsets[entry] + (i % EXFAT_ENTRY),
        length: 4,
        kind: PatchKind.mask,
        value: value >>> 0,
        mask: mask >>> 0,
      });
    }
  }
  return { extent, dirPatches };
}

/** The ghost's extent through the directory, at `path`, or undefined. */
export function exfatGhostExtent(part: BlockDevice, path: string): GhostExtent | undefined {
  let tree: ExfatTree;
  try {
    tree = new ExfatTree(part);
  } catch {
    return undefined;
  }
  let f: ExfatFile | undefined;
  try {
    f = tree.lookup(path);
  } catch {
    return undefined;
  }
  return f && exfatExtent(tree, f);
}

/** Whether a file or directory is at `path` (whatever its clusters). */
export function exfatFileExists(part: BlockDevice, path: string): boolean {
  try {
    return new ExfatTree(part).lookup(path) !== undefined;
  } catch {
    return false;
  }
}

/** Whether any file or directory but the one at `except` reaches into clusters [first, first + count) (a switch's old extent is freed only when none does). */
export function exfatOwned(part: BlockDevice, first: number, count: number): boolean {
  const tree = new ExfatTree(part);
  let owned = false;
  const reaches = (f: ExfatFile) => {
    try {
      return tree
        .runs(f.firstCluster, f.length, f.noFatChain, f.path)
        .some((r) => r.start < first + count && r.start + r.length > first);
    } catch {
      return true;
    }
  };
  owned = reaches(tree.root()) || (tree.bitmap.firstCluster < first + count && tree.bitmap.firstCluster >= first);
  tree.walk((f) => {
    if (!owned && f.firstCluster >= 2) owned = reaches(f);
  });
  return owned;
}

/** Frees clusters [first, first + count) in the bitmap, for real. */
export function freeExfatClusters(part: BlockDevice, first: number, count: number): void {
  const tree = new ExfatTree(part);
  const bits: Patch[] = [];
  tree.freeBits(bits, first, count);
  applyPatches(part, bits);
  part.flush();
}

/** Where cluster runs of the heap lie, to convert a ghost extent back: the first cluster and the count, or undefined when it is not whole clusters of the heap. */
export function exfatClustersOf(part: BlockDevice, e: GhostExtent): { first: number; count: number } | undefined {
  const g = new ExfatTree(part).g;
  const first = (e.startSector - g.clusterHeapOffset) / g.sectorsPerCluster + 2,
    count = e.sectors / g.sectorsPerCluster;
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 2 || first + count > g.clusterCount + 2)
    return undefined;
  return { first, count };
}
