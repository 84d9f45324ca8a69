// exFAT on the portable side: the boot sector's geometry, the directory tree walked file entry
// set by file entry set (exFAT specification, sections 6 and 7), and the patches that leave
// files out of a backup (docs/image-format.md 11.3): each excluded file reads as an empty file
// (its stream extension's NoFatChain, ValidDataLength, FirstCluster and DataLength cleared, the
// set's checksum recomputed), its clusters as free in the allocation bitmap and its FAT entries
// as 0, so the scan does not store them and the restored volume is consistent (fsck.exfat -n
// clean). The source is never written. Everything read is checked before use: an entry or a
// chain that points outside the volume is an ExfatError naming it, never a RangeError.

import { PATCH_MAX, PatchKind } from "./abi";
import { fromUtf16le, latin1 } from "./bytes";
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";
import { ExclusionError, matcher, Patch } from "./exclusions";

export class ExfatError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "ExfatError";
  }
}

export const EXFAT_ENTRY = 32;
export const EXFAT_EOC = 0xffffffff;
const ENTRY_FILE = 0x85;
const ENTRY_STREAM = 0xc0;
const ENTRY_NAME = 0xc1;
const ENTRY_BITMAP = 0x81;
const ATTR_DIRECTORY = 0x10;
// stream extension fields
const SX_Flags = 1; // bit 0 AllocationPossible, bit 1 NoFatChain
const SX_NameLength = 3;
const SX_ValidDataLength = 8; // u64
const SX_FirstCluster = 20; // u32
const SX_DataLength = 24; // u64
const FLAG_NO_FAT_CHAIN = 2;
const FE_SetChecksum = 2; // u16
const FE_Attributes = 4; // u16
const DEPTH_MAX = 64; // directories deep at most, as the core's walk (WALK_DEPTH_MAX)
const DIR_BYTES_MAX = 256 << 20; // a directory is at most 256 MiB (section 6.2)
const FAT_SECTORS_CACHED = 64;

export interface ExfatGeometry {
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  fatOffset: number;
  fatLength: number;
  fatCount: number;
  /** The FAT the volume uses (VolumeFlags bit 0). */
  activeFat: number;
  clusterHeapOffset: number;
  clusterCount: number;
  rootCluster: number;
  volumeLength: number;
}

export function readExfatGeometry(boot: Uint8Array): ExfatGeometry {
  const v = new DataView(boot.buffer, boot.byteOffset, 512);
  if (latin1(boot.subarray(3, 11)) !== "EXFAT   ")
    throw new ExfatError('not an exFAT boot sector (FileSystemName is not "EXFAT   ")');
  const bytesPerSector = 2 ** boot[108],
    sectorsPerCluster = 2 ** boot[109];
  return {
    bytesPerSector,
    sectorsPerCluster,
    clusterBytes: bytesPerSector * sectorsPerCluster,
    fatOffset: v.getUint32(80, true),
    fatLength: v.getUint32(84, true),
    fatCount: boot[110],
    activeFat: boot[110] > 1 ? v.getUint16(106, true) & 1 : 0,
    clusterHeapOffset: v.getUint32(88, true),
    clusterCount: v.getUint32(92, true),
    rootCluster: v.getUint32(96, true),
    volumeLength: Number(v.getBigUint64(72, true)),
  };
}

/** Whether the partition's boot sector names exFAT (a zeroed one does not). */
export function isExfat(part: BlockDevice): boolean {
  const boot = new Uint8Array(Math.max(part.sectorSize, 512));
  try {
    part.read(0, 1, boot, 0);
  } catch {
    return false;
  }
  return latin1(boot.subarray(3, 11)) === "EXFAT   ";
}

/** exFAT's name hash over the up-cased name (UTF-16 code units, low byte then high; ASCII up-casing). */
export function nameHash(name: string): number {
  let h = 0;
  for (const ch of name.toUpperCase()) {
    const c = ch.charCodeAt(0);
    for (const b of [c & 0xff, c >> 8]) h = ((h & 1 ? 0x8000 : 0) + (h >> 1) + b) & 0xffff;
  }
  return h;
}

/** The entry set checksum: every byte of the set but bytes 2 and 3 of the first entry. */
export function setChecksum(set: Uint8Array): number {
  let h = 0;
  for (let i = 0; i < set.length; i++) {
    if (i === 2 || i === 3) continue;
    h = ((h & 1 ? 0x8000 : 0) + (h >> 1) + set[i]) & 0xffff;
  }
  return h;
}

/** A run of clusters: [start, start + length). */
export interface ClusterRun {
  start: number;
  length: number;
}

/** A file or directory: its entry set as read, where each of its entries lies, and its clusters. */
export interface ExfatFile {
  /** "\\Spool\\job 1.prn"; the root is "\\". */
  path: string;
  attributes: number;
  directory: boolean;
  firstCluster: number;
  length: number;
  noFatChain: boolean;
  /** The set's bytes (file entry, stream extension, names). */
  set: Uint8Array;
  /** The partition byte offset of each of the set's entries. */
  entryOffsets: number[];
}

/** An exFAT volume's tree, read through a BlockDevice (a partition). */
export class ExfatTree {
  readonly g: ExfatGeometry;
  /** The allocation bitmap's first cluster and length in bytes. */
  readonly bitmap: { firstCluster: number; bytes: number };
  private readonly fatCache = new Map<number, Uint8Array>();

  constructor(readonly part: BlockDevice) {
    const boot = new Uint8Array(Math.max(part.sectorSize, 512));
    part.read(0, 1, boot, 0);
    this.g = readExfatGeometry(boot);
    const g = this.g;
    const bad = (what: string) => new ExfatError(`${part.name}: exFAT boot sector: ${what}`);
    if (g.bytesPerSector !== part.sectorSize)
      throw bad(`BytesPerSectorShift says ${g.bytesPerSector}-byte sectors, the device has ${part.sectorSize}`);
    if (g.clusterHeapOffset + g.clusterCount * g.sectorsPerCluster > part.sectorCount)
      throw bad(
        `its cluster heap (sector ${g.clusterHeapOffset}, ${g.clusterCount} clusters) reaches past the partition's ${part.sectorCount} sectors`,
      );
    if (
      g.fatOffset + g.fatCount * g.fatLength > g.clusterHeapOffset ||
      g.fatLength * g.bytesPerSector < (g.clusterCount + 2) * 4
    )
      throw bad(
        `its FATs (sector ${g.fatOffset}, ${g.fatCount} of ${g.fatLength} sectors) do not fit before the heap or hold the clusters`,
      );
    if (!this.inHeap(g.rootCluster))
      throw bad(`FirstClusterOfRootDirectory ${g.rootCluster} is outside the cluster heap`);
    let bitmap: { firstCluster: number; bytes: number } | undefined;
    this.readDirectory(g.rootCluster, -1, false, "\\", (at, b) => {
      if (b[at] === ENTRY_BITMAP && !bitmap && (b[at + 1] & 1) === g.activeFat) {
        const v = new DataView(b.buffer, b.byteOffset + at, EXFAT_ENTRY);
        bitmap = { firstCluster: v.getUint32(20, true), bytes: Number(v.getBigUint64(24, true)) };
      }
    });
    if (!bitmap) throw new ExfatError(`${part.name}: the root directory has no allocation bitmap entry`);
    if (!this.inHeap(bitmap.firstCluster) || bitmap.bytes * 8 < g.clusterCount)
      throw new ExfatError(
        `${part.name}: the allocation bitmap (cluster ${bitmap.firstCluster}, ${bitmap.bytes} bytes) is outside the heap or shorter than ${g.clusterCount} clusters`,
      );
    this.bitmap = bitmap;
  }

  inHeap(c: number): boolean {
    return c >= 2 && c < this.g.clusterCount + 2;
  }

  /** The partition byte offset of cluster c. */
  clusterByte(c: number): number {
    return (this.g.clusterHeapOffset + (c - 2) * this.g.sectorsPerCluster) * this.g.bytesPerSector;
  }

  /** The partition byte offset of FAT entry c in FAT copy `copy`. */
  fatByte(c: number, copy = this.g.activeFat): number {
    return (this.g.fatOffset + copy * this.g.fatLength) * this.g.bytesPerSector + c * 4;
  }

  /** FAT entry c of the active FAT (sectors cached, at most FAT_SECTORS_CACHED). */
  fat(c: number): number {
    const bps = this.g.bytesPerSector;
    const byte = this.fatByte(c);
    const sector = Math.floor(byte / bps);
    let b = this.fatCache.get(sector);
    if (!b) {
      if (this.fatCache.size >= FAT_SECTORS_CACHED) this.fatCache.delete(this.fatCache.keys().next().value as number);
      b = new Uint8Array(bps);
      this.part.read(sector, 1, b, 0);
      this.fatCache.set(sector, b);
    }
    return new DataView(b.buffer).getUint32(byte - sector * bps, true);
  }

  /** The clusters of an allocation, as runs: `bytes` of it (-1: to the chain's end), one extent (noFat) or a FAT chain. */
  runs(first: number, bytes: number, noFat: boolean, what: string): ClusterRun[] {
    const g = this.g;
    if (first === 0 || bytes === 0) return [];
    if (!this.inHeap(first))
      throw new ExfatError(`${this.part.name}: ${what}: first cluster ${first} is outside the cluster heap`);
    const n = bytes < 0 ? g.clusterCount : Math.ceil(bytes / g.clusterBytes);
    if (noFat) {
      if (first + n > g.clusterCount + 2)
        throw new ExfatError(`${this.part.name}: ${what}: ${n} clusters from ${first} reach past the cluster heap`);
      return [{ start: first, length: n }];
    }
    const out: ClusterRun[] = [];
    let c = first;
    for (let i = 0; i < n; i++) {
      const last = out[out.length - 1];
      if (last && last.start + last.length === c) last.length++;
      else out.push({ start: c, length: 1 });
      if (i + 1 === n) break;
      const next = this.fat(c);
      if (next === EXFAT_EOC && bytes < 0) break;
      if (!this.inHeap(next))
        throw new ExfatError(
          `${this.part.name}: ${what}: the chain ends at cluster ${c} (entry 0x${next.toString(16)}) after ${i + 1} of ${n} clusters`,
        );
      c = next;
    }
    return out;
  }

  /**
   * Visits each 32-byte entry of a directory in order: `visit(offsetInBytes, bytes, partitionOffset)`,
   * where bytes holds the whole directory. Up to the end-of-directory entry.
   */
  private readDirectory(
    first: number,
    bytes: number,
    noFat: boolean,
    path: string,
    visit: (at: number, b: Uint8Array, offsetOf: (at: number) => number) => void,
    pastEnd = false,
  ): void {
    const g = this.g;
    const runs = this.runs(first, bytes, noFat, `directory ${path}`);
    const clusters = runs.reduce((a, r) => a + r.length, 0);
    if (clusters * g.clusterBytes > DIR_BYTES_MAX)
      throw new ExfatError(`${this.part.name}: directory ${path} is ${clusters} clusters long, more than exFAT allows`);
    const b = new Uint8Array(clusters * g.clusterBytes);
    const starts: number[] = [];
    let at = 0;
    for (const r of runs) {
      this.part.read(g.clusterHeapOffset + (r.start - 2) * g.sectorsPerCluster, r.length * g.sectorsPerCluster, b, at);
      for (let i = 0; i < r.length; i++) starts.push(r.start + i);
      at += r.length * g.clusterBytes;
    }
    const offsetOf = (x: number) => this.clusterByte(starts[Math.floor(x / g.clusterBytes)]) + (x % g.clusterBytes);
    for (let x = 0; x + EXFAT_ENTRY <= b.length; x += EXFAT_ENTRY) {
      if (b[x] === 0 && !pastEnd) break;
      visit(x, b, offsetOf);
    }
  }

  /** The root directory, as a file. */
  root(): ExfatFile {
    return {
      path: "\\",
      attributes: ATTR_DIRECTORY,
      directory: true,
      firstCluster: this.g.rootCluster,
      length: -1,
      noFatChain: false,
      set: new Uint8Array(0),
      entryOffsets: [],
    };
  }

  /** The files and directories in directory `dir`, in their order, each with where its entries lie. */
  list(dir: ExfatFile): ExfatFile[] {
    const out: ExfatFile[] = [];
    this.readDirectory(dir.firstCluster, dir.length, dir.noFatChain, dir.path, (at, b, offsetOf) => {
      if (b[at] !== ENTRY_FILE) return;
      const secondaries = b[at + 1];
      if (secondaries < 2 || at + EXFAT_ENTRY * (secondaries + 1) > b.length || b[at + EXFAT_ENTRY] !== ENTRY_STREAM)
        return; // not a whole set: skipped, as drivers do
      const set = b.slice(at, at + EXFAT_ENTRY * (secondaries + 1));
      const v = new DataView(set.buffer);
      const nameLength = set[EXFAT_ENTRY + SX_NameLength];
      let name = "";
      for (let k = 2; k <= secondaries && set[k * EXFAT_ENTRY] === ENTRY_NAME; k++)
        name += fromUtf16le(set.subarray(k * EXFAT_ENTRY + 2, (k + 1) * EXFAT_ENTRY));
      name = name.slice(0, nameLength);
      const attributes = v.getUint16(FE_Attributes, true);
      out.push({
        path: `${dir.path === "\\" ? "" : dir.path}\\${name}`,
        attributes,
        directory: (attributes & ATTR_DIRECTORY) !== 0,
        firstCluster: v.getUint32(EXFAT_ENTRY + SX_FirstCluster, true),
        length: Number(v.getBigUint64(EXFAT_ENTRY + SX_DataLength, true)),
        noFatChain: (set[EXFAT_ENTRY + SX_Flags] & FLAG_NO_FAT_CHAIN) !== 0,
        set,
        entryOffsets: Array.from({ length: secondaries + 1 }, (_, k) => offsetOf(at + k * EXFAT_ENTRY)),
      });
    });
    return out;
  }

  /** The file or directory at `path` ("\\A\\B", "/" too; any case), or undefined. */
  lookup(path: string): ExfatFile | undefined {
    let current = this.root();
    for (const name of path.split(/[\\/]+/).filter((c) => c.length > 0)) {
      if (!current.directory) return undefined;
      const next = this.list(current).find(
        (f) => f.path.slice(f.path.lastIndexOf("\\") + 1).toUpperCase() === name.toUpperCase(),
      );
      if (!next) return undefined;
      current = next;
    }
    return current;
  }

  /** The directory's entry slots: each 32-byte entry's type and partition offset, to its last cluster (past the end-of-directory entry too). */
  slots(dir: ExfatFile): Array<{ type: number; offset: number }> {
    const out: Array<{ type: number; offset: number }> = [];
    this.readDirectory(
      dir.firstCluster,
      dir.length,
      dir.noFatChain,
      dir.path,
      (at, b, offsetOf) => out.push({ type: b[at], offset: offsetOf(at) }),
      true,
    );
    return out;
  }

  /** The partition byte of the allocation bitmap's byte k (through the bitmap's own chain). */
  bitmapByte(k: number): number {
    let skip = k;
    for (const r of this.runs(this.bitmap.firstCluster, this.bitmap.bytes, false, "the allocation bitmap")) {
      if (skip < r.length * this.g.clusterBytes) return this.clusterByte(r.start) + skip;
      skip -= r.length * this.g.clusterBytes;
    }
    throw new ExfatError(`${this.part.name}: the allocation bitmap has no byte ${k}`);
  }

  /** Patches that read clusters [start, start + count) as free in the allocation bitmap, split where the bitmap's own clusters end. */
  freeBits(out: Patch[], start: number, count: number): void {
    const perCluster = this.g.clusterBytes * 8;
    for (let b = start - 2, end = start - 2 + count; b < end; ) {
      const index = Math.floor(b / perCluster),
        to = Math.min(end, (index + 1) * perCluster);
      clearBits(out, this.bitmapByte(index * this.g.clusterBytes) - index * this.g.clusterBytes, b, to - b);
      b = to;
    }
  }

  /** Every file and directory below the root, depth first, each directory before what it holds. */
  walk(visit: (f: ExfatFile) => void): void {
    const walkDir = (dir: ExfatFile, depth: number, ancestors: Set<number>) => {
      const files = this.list(dir);
      for (const f of files) visit(f);
      for (const d of files) {
        if (!d.directory || d.firstCluster === 0 || d.length <= 0) continue;
        if (depth + 1 >= DEPTH_MAX || ancestors.has(d.firstCluster)) continue; // as the core's walk: not entered
        ancestors.add(d.firstCluster);
        walkDir(d, depth + 1, ancestors);
        ancestors.delete(d.firstCluster);
      }
    };
    walkDir(this.root(), 0, new Set([this.g.rootCluster]));
  }
}

/** Patches that read bits [first, first + count) of the bitmap whose byte 0 is at `at` as 0. */
function clearBits(out: Patch[], at: number, first: number, count: number): void {
  let bit = first;
  const end = first + count;
  while (bit < end) {
    const byte = Math.floor(bit / 8),
      from = bit % 8,
      to = Math.min(8, from + (end - bit));
    if (from === 0 && to === 8) {
      const whole = Math.floor((end - bit) / 8);
      out.push({ byteOffset: at + byte, length: whole, kind: PatchKind.zero });
      bit += whole * 8;
      continue;
    }
    out.push({
      byteOffset: at + byte,
      length: 1,
      kind: PatchKind.mask,
      value: 0,
      mask: ((1 << to) - 1) & ~((1 << from) - 1),
    });
    bit += to - from;
  }
}

/**
 * The patches that leave the files `patterns` name out of a backup of an exFAT partition, as
 * empty files (docs/image-format.md 11.3); the patterns are those of FAT (exclusions.ts), long
 * names only. `skip`: paths never excluded.
 */
export function planExfatExclusions(
  part: BlockDevice,
  patterns: string[],
  options: { skip?: string[] } = {},
): {
  patches: Patch[];
  files: Array<{ path: string; size: number; clusters: number }>;
  clusters: number;
  unmatched: string[];
} {
  const plan = {
    patches: [] as Patch[],
    files: [] as Array<{ path: string; size: number; clusters: number }>,
    clusters: 0,
    unmatched: [] as string[],
  };
  if (patterns.length === 0) return plan;
  const tree = new ExfatTree(part);
  const g = tree.g;
  const match = matcher(patterns);
  const skipped = new Set((options.skip ?? []).map((x) => x.replace(/\//g, "\\").toUpperCase()));
  const used = new Set<number>();
  tree.walk((f) => {
    if (f.directory || skipped.has(f.path.toUpperCase())) return;
    const i = match(f.path, f.path);
    if (i < 0) return;
    used.add(i);
    const runs = tree.runs(f.firstCluster, f.length, f.noFatChain, f.path);
    const clusters = runs.reduce((a, r) => a + r.length, 0);
    // the stream extension: no FAT chain flag, ValidDataLength, FirstCluster, DataLength cleared
    const stream = f.entryOffsets[1];
    plan.patches.push(
      { byteOffset: stream + SX_Flags, length: 1, kind: PatchKind.mask, value: 0, mask: FLAG_NO_FAT_CHAIN },
      { byteOffset: stream + SX_ValidDataLength, length: 8, kind: PatchKind.zero },
      { byteOffset: stream + SX_FirstCluster, length: 12, kind: PatchKind.zero },
    );
    // the set's checksum, over the set as the patches make it read
    const emptied = f.set.slice();
    emptied[EXFAT_ENTRY + SX_Flags] &= ~FLAG_NO_FAT_CHAIN;
    emptied.fill(0, EXFAT_ENTRY + SX_ValidDataLength, EXFAT_ENTRY + SX_ValidDataLength + 8);
    emptied.fill(0, EXFAT_ENTRY + SX_FirstCluster, EXFAT_ENTRY + SX_FirstCluster + 12);
    plan.patches.push({
      byteOffset: f.entryOffsets[0] + FE_SetChecksum,
      length: 2,
      kind: PatchKind.mask,
      value: setChecksum(emptied),
      mask: 0xffff,
    });
    for (const r of runs) {
      tree.freeBits(plan.patches, r.start, r.length); // its bits in the allocation bitmap
      // its FAT entries (a chain's), in every FAT
      if (!f.noFatChain)
        for (let copy = 0; copy < g.fatCount; copy++)
          plan.patches.push({ byteOffset: tree.fatByte(r.start, copy), length: 4 * r.length, kind: PatchKind.zero });
    }
    plan.files.push({ path: f.path, size: f.length, clusters });
    plan.clusters += clusters;
  });
  plan.unmatched = patterns.filter((_, i) => !used.has(i));
  if (plan.patches.length > PATCH_MAX)
    throw new ExclusionError(
      `excluding ${plan.files.length} files (${plan.clusters} clusters in ${plan.patches.length} patches) needs more than the core's ${PATCH_MAX} patches: exclude fewer, less fragmented files`,
    );
  return plan;
}
