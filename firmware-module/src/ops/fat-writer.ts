// The FAT file writer: directories, files with long names, contiguous files, removal, on a
// volume formatFat made or any FAT12/16/32 volume (the simulator builds printers with it; the
// host makes ghost images with it). The FAT is read in pages and its changes written to every
// copy, with FSInfo, on flush(); directories and file data go straight to the device, data in
// one write per run of consecutive clusters. Deterministic: the same calls on the same volume
// give byte-identical results (timestamps come only from the options).
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";
import type { ClusterRun } from "./exfat-dir";
import * as F from "./fat-format";
import {
  DELETED_MARK,
  DirRecord,
  encodeShortEntry,
  FatLayout,
  findFreeSlots,
  lfnEntries,
  parseDirectory,
  takenShortNames,
} from "./fat-format";

/** A path, name or directory operation the volume cannot do (values in the message). */
export class FatWriterError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "FatWriterError";
  }
}
/** The volume (or the fixed FAT12/16 root directory) has no room. */
export class FatSpaceError extends FatWriterError {
  constructor(message: string) {
    super(message);
    this.name = "FatSpaceError";
  }
}
/** `contiguous: true` and no free run of clusters is long enough. */
export class FatContiguousError extends FatSpaceError {
  constructor(message: string) {
    super(message);
    this.name = "FatContiguousError";
  }
}

export interface WriteFileOptions {
  attributes?: number;
  mtime?: Date;
  contiguous?: boolean;
  /** With contiguous: the highest-numbered free run that fits, nearest the end of the volume. */
  fromEnd?: boolean;
  /** Clusters not to allocate although the FAT marks them free: runs a chain reaches (the tree walk's kept runs, issue 18). */
  avoid?: ClusterRun[];
}

/** The FAT in memory (copy 0), with the byte range changed since the last flush. */
/**
 * FAT copy 0, read in pages of PAGE_BYTES on demand (a FAT12 FAT, at most 6 KiB, is one page):
 * a FAT32 FAT of a few GiB volume is megabytes, more than the firmware's QuickJS heap. At most
 * CLEAN_PAGES unchanged pages stay cached; changed pages stay until flush() has written them to
 * every copy (nothing reaches the disk before flush, as when the whole FAT was held).
 */
class FatTable {
  private readonly pageBytes: number;
  private readonly pages = new Map<number, Uint8Array>(); // least recently switched to first
  private readonly dirty = new Set<number>();
  private current = -1;
  private bytes: Uint8Array = new Uint8Array(0);
  /** The changed byte span (flush writes its sectors to every copy). */
  dirtyFrom = Infinity;
  dirtyTo = 0;
  constructor(
    readonly type: F.FatType,
    private readonly part: BlockDevice,
    private readonly layout: FatLayout,
  ) {
    const total = layout.fatSectors * layout.bytesPerSector;
    this.pageBytes = type === 12 ? total : Math.min(total, Math.max(PAGE_BYTES, layout.bytesPerSector));
  }
  get totalBytes(): number {
    return this.layout.fatSectors * this.layout.bytesPerSector;
  }
  get endOfChain(): number {
    return this.type === 12 ? 0xfff : this.type === 16 ? 0xffff : 0x0fffffff;
  }
  isEnd(value: number): boolean {
    return value >= (this.type === 12 ? 0xff8 : this.type === 16 ? 0xfff8 : 0x0ffffff8);
  }
  /** Page `index`'s bytes: cached, or read from copy 0 (an unchanged page beyond CLEAN_PAGES is dropped). */
  page(index: number): Uint8Array {
    if (index === this.current) return this.bytes;
    let bytes = this.pages.get(index);
    if (bytes) this.pages.delete(index);
    else {
      const l = this.layout,
        bps = l.bytesPerSector;
      bytes = new Uint8Array(Math.min(this.pageBytes, this.totalBytes - index * this.pageBytes));
      this.part.read(l.reservedSectors + (index * this.pageBytes) / bps, bytes.length / bps, bytes, 0);
      let clean = 0;
      for (const k of this.pages.keys()) if (!this.dirty.has(k)) clean++;
      for (const k of this.pages.keys()) {
        if (clean < CLEAN_PAGES) break;
        if (!this.dirty.has(k)) {
          this.pages.delete(k);
          clean--;
        }
      }
    }
    this.pages.set(index, bytes);
    this.current = index;
    this.bytes = bytes;
    return bytes;
  }
  /** The byte offset of entry n (FAT12: of the 16-bit word holding it). */
  private offset(n: number): number {
    return this.type === 32 ? n * 4 : this.type === 16 ? n * 2 : n + (n >> 1);
  }
  get(n: number): number {
    const at = this.offset(n),
      b = this.page(Math.floor(at / this.pageBytes)),
      i = at % this.pageBytes;
    if (this.type === 32) return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) & 0x0fffffff;
    const w = b[i] | (b[i + 1] << 8);
    return this.type === 16 ? w : n & 1 ? w >> 4 : w & 0xfff;
  }
  set(n: number, value: number): void {
    const at = this.offset(n),
      index = Math.floor(at / this.pageBytes),
      b = this.page(index),
      i = at % this.pageBytes;
    if (this.type === 32) {
      b[i] = value & 0xff;
      b[i + 1] = (value >> 8) & 0xff;
      b[i + 2] = (value >> 16) & 0xff;
      b[i + 3] = (b[i + 3] & 0xf0) | ((value >> 24) & 0x0f);
    } else if (this.type === 16) {
      b[i] = value & 0xff;
      b[i + 1] = (value >> 8) & 0xff;
    } else if (n & 1) {
      b[i] = (b[i] & 0x0f) | ((value & 0x0f) << 4);
      b[i + 1] = (value >> 4) & 0xff;
    } else {
      b[i] = value & 0xff;
      b[i + 1] = (b[i + 1] & 0xf0) | ((value >> 8) & 0x0f);
    }
    this.dirty.add(index);
    this.dirtyFrom = Math.min(this.dirtyFrom, at);
    this.dirtyTo = Math.max(this.dirtyTo, at + (this.type === 32 ? 4 : 2));
  }
  /** Every sector of the table is written to every copy at the next flush (copies made to agree). */
  markAllDirty(): void {
    this.dirtyFrom = 0;
    this.dirtyTo = this.totalBytes;
  }
  /**
   * Writes the changed span's sectors to every copy, copy after copy (copy 0 first), page by page
   * (pages not cached are read from copy 0, which holds them unchanged); then every page is clean.
   */
  flush(): void {
    if (this.dirtyTo <= this.dirtyFrom) return;
    const l = this.layout,
      bps = l.bytesPerSector;
    const from = Math.floor(this.dirtyFrom / bps) * bps,
      to = Math.ceil(this.dirtyTo / bps) * bps;
    for (let copy = 0; copy < l.fatCount; copy++) {
      for (let index = Math.floor(from / this.pageBytes); index * this.pageBytes < to; index++) {
        const base = index * this.pageBytes,
          b = this.page(index);
        const a = Math.max(from, base),
          z = Math.min(to, base + b.length);
        this.part.write(l.reservedSectors + copy * l.fatSectors + a / bps, (z - a) / bps, b, a - base);
      }
    }
    this.dirty.clear();
    this.dirtyFrom = Infinity;
    this.dirtyTo = 0;
  }
}

/** A loaded directory: the FAT12/16 fixed root (clusters empty) or a cluster chain. */
interface Dir {
  firstCluster: number;
  clusters: number[];
  bytes: Uint8Array;
}

const MAX_DIR_BYTES = 65536 * F.DIR_ENTRY_BYTES; // the spec's limit: 65536 entries
const PAGE_BYTES = 32768; // FatTable's page (a multiple of every sector size FAT allows)
const CLEAN_PAGES = 4; // unchanged FAT pages kept cached

export class FatWriter {
  readonly layout: FatLayout;
  private readonly fat: FatTable;
  private freeCount: number;
  private nextFree: number;
  private readonly dirs = new Map<number, Dir>();
  private readonly rootKey: number;

  constructor(readonly part: BlockDevice) {
    const boot = new Uint8Array(part.sectorSize);
    part.read(0, 1, boot, 0);
    this.layout = F.decodeBootSector(boot);
    const l = this.layout;
    if (l.bytesPerSector !== part.sectorSize)
      throw new FatWriterError(
        `${part.name}: BPB_BytsPerSec ${l.bytesPerSector} differs from the device's ${part.sectorSize}-byte sectors`,
      );
    this.fat = new FatTable(l.fatType, part, l);
    this.freeCount = 0;
    for (let c = 2; c < l.clusterCount + 2; c++) if (this.fat.get(c) === 0) this.freeCount++;
    this.nextFree = this.readNextFreeHint();
    this.rootKey = l.fatType === 32 ? l.rootCluster : 0;
  }

  private get maxCluster(): number {
    return this.layout.clusterCount + 1;
  }

  private readNextFreeHint(): number {
    const l = this.layout;
    if (l.fatType !== 32 || l.fsInfoSector === 0 || l.fsInfoSector >= l.reservedSectors) return 2;
    const s = new Uint8Array(l.bytesPerSector);
    this.part.read(l.fsInfoSector, 1, s, 0);
    const hint = new DataView(s.buffer).getUint32(F.FSI_Nxt_Free, true);
    return hint >= 2 && hint <= this.maxCluster ? hint : 2;
  }

  // ---- clusters -------------------------------------------------------------------------

  private clusterLba(cluster: number): number {
    return this.layout.firstDataSector + (cluster - 2) * this.layout.sectorsPerCluster;
  }

  /** First fit from the next-free hint, wrapping once; `contiguous`: one run or FatContiguousError. */
  /** Clusters the next allocation leaves alone although they read free (WriteFileOptions.avoid), sorted by start. */
  private avoid: ClusterRun[] = [];

  /** Whether cluster c may be allocated: free in the FAT, and not one a chain still reaches. */
  private isFree(c: number): boolean {
    if (this.fat.get(c) !== 0) return false;
    // the last avoided run starting at or before c (binary search: the allocators ask of every cluster)
    let lo = 0,
      hi = this.avoid.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.avoid[mid].start <= c) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi < 0 || c >= this.avoid[hi].start + this.avoid[hi].length;
  }

  private allocate(count: number, contiguous: boolean, fromEnd = false): number[] {
    if (count === 0) return [];
    if (count > this.freeCount)
      throw new FatSpaceError(`${this.part.name}: ${count} clusters needed, ${this.freeCount} free`);
    const clusters = contiguous ? (fromEnd ? this.findRunFromEnd(count) : this.findRun(count)) : this.findAny(count);
    this.linkChain(clusters);
    const last = clusters[clusters.length - 1];
    this.nextFree = last + 1 > this.maxCluster ? 2 : last + 1;
    return clusters;
  }

  private findAny(count: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.layout.clusterCount && out.length < count; i++) {
      const c = 2 + ((this.nextFree - 2 + i) % this.layout.clusterCount);
      if (this.isFree(c)) out.push(c);
    }
    return out;
  }

  private findRun(count: number): number[] {
    let largest = 0;
    for (const [from, to] of [
      [this.nextFree, this.maxCluster],
      [2, Math.min(this.maxCluster, this.nextFree + count - 2)],
    ]) {
      let runStart = from,
        runLength = 0;
      for (let c = from; c <= to; c++) {
        if (!this.isFree(c)) {
          runLength = 0;
          runStart = c + 1;
          continue;
        }
        runLength++;
        largest = Math.max(largest, runLength);
        if (runLength === count) return Array.from({ length: count }, (_, i) => runStart + i);
      }
    }
    throw new FatContiguousError(
      `${this.part.name}: no run of ${count} free clusters (${count * this.layout.clusterBytes} bytes) from cluster ${this.nextFree}; ` +
        `the longest is ${largest} clusters, ${this.freeCount} free in all`,
    );
  }

  private findRunFromEnd(count: number): number[] {
    let runLength = 0,
      largest = 0;
    for (let c = this.maxCluster; c >= 2; c--) {
      if (!this.isFree(c)) {
        runLength = 0;
        continue;
      }
      runLength++;
      largest = Math.max(largest, runLength);
      if (runLength === count) return Array.from({ length: count }, (_, i) => c + i);
    }
    throw new FatContiguousError(
      `${this.part.name}: no run of ${count} free clusters (${count * this.layout.clusterBytes} bytes); ` +
        `the longest is ${largest} clusters, ${this.freeCount} free in all`,
    );
  }

  private chain(first: number): number[] {
    const out: number[] = [];
    for (let c = first; c >= 2 && c <= this.maxCluster && !this.fat.isEnd(c); c = this.fat.get(c)) {
      if (out.length > this.layout.clusterCount)
        throw new FatWriterError(`${this.part.name}: the cluster chain from ${first} loops`);
      out.push(c);
    }
    return out;
  }

  private release(first: number): void {
    for (const c of this.chain(first)) {
      this.fat.set(c, 0);
      this.freeCount++;
    }
  }

  /** Links free clusters into one chain ending in end-of-chain (they leave the free count). */
  private linkChain(chain: number[]): void {
    chain.forEach((c, i) => this.fat.set(c, i + 1 < chain.length ? chain[i + 1] : this.fat.endOfChain));
    this.freeCount -= chain.length;
  }

  /** Writes `bytes` over the clusters of `chain`, one write per run of consecutive clusters, the tail zero-padded. */
  private writeClusters(chain: number[], bytes: Uint8Array): void {
    const { clusterBytes, sectorsPerCluster, bytesPerSector } = this.layout;
    for (let i = 0; i < chain.length; ) {
      let run = 1;
      while (i + run < chain.length && chain[i + run] === chain[i] + run) run++;
      const from = i * clusterBytes,
        lba = this.clusterLba(chain[i]);
      const fullSectors = Math.min(
        run * sectorsPerCluster,
        Math.floor(Math.max(0, bytes.length - from) / bytesPerSector),
      );
      if (fullSectors > 0) this.part.write(lba, fullSectors, bytes, from);
      const restSectors = run * sectorsPerCluster - fullSectors;
      if (restSectors > 0) {
        const tail = new Uint8Array(restSectors * bytesPerSector);
        const tailFrom = from + fullSectors * bytesPerSector;
        if (tailFrom < bytes.length) tail.set(bytes.subarray(tailFrom, Math.min(bytes.length, tailFrom + tail.length)));
        this.part.write(lba + fullSectors, restSectors, tail, 0);
      }
      i += run;
    }
  }

  // ---- directories ----------------------------------------------------------------------

  private loadDir(firstCluster: number): Dir {
    const cached = this.dirs.get(firstCluster);
    if (cached) return cached;
    const l = this.layout;
    let dir: Dir;
    if (firstCluster === 0) {
      dir = { firstCluster, clusters: [], bytes: new Uint8Array(l.rootDirSectors * l.bytesPerSector) };
      this.part.read(l.reservedSectors + l.fatCount * l.fatSectors, l.rootDirSectors, dir.bytes, 0);
    } else {
      const clusters = this.chain(firstCluster);
      dir = { firstCluster, clusters, bytes: new Uint8Array(clusters.length * l.clusterBytes) };
      clusters.forEach((c, i) =>
        this.part.read(this.clusterLba(c), l.sectorsPerCluster, dir.bytes, i * l.clusterBytes),
      );
    }
    this.dirs.set(firstCluster, dir);
    return dir;
  }

  /** Writes back the sectors (fixed root) or clusters holding slots [fromSlot, toSlot). */
  private saveSlots(dir: Dir, fromSlot: number, toSlot: number): void {
    const l = this.layout;
    const unit = dir.clusters.length === 0 ? l.bytesPerSector : l.clusterBytes;
    const firstUnit = Math.floor((fromSlot * F.DIR_ENTRY_BYTES) / unit),
      lastUnit = Math.floor((toSlot * F.DIR_ENTRY_BYTES - 1) / unit);
    if (dir.clusters.length === 0) {
      const rootLba = l.reservedSectors + l.fatCount * l.fatSectors;
      this.part.write(rootLba + firstUnit, lastUnit - firstUnit + 1, dir.bytes, firstUnit * unit);
      return;
    }
    for (let u = firstUnit; u <= lastUnit; u++)
      this.part.write(this.clusterLba(dir.clusters[u]), l.sectorsPerCluster, dir.bytes, u * unit);
  }

  /** Slots for `count` entries, growing a cluster directory by a zeroed cluster when full. */
  private reserveSlots(dir: Dir, count: number, dirName: string): number {
    for (;;) {
      const slot = findFreeSlots(dir.bytes, count);
      if (slot >= 0) return slot;
      if (dir.clusters.length === 0) {
        throw new FatSpaceError(
          `${this.part.name}: the root directory is full (${this.layout.rootEntryCount} entries; ${count} more needed)`,
        );
      }
      if (dir.bytes.length + this.layout.clusterBytes > MAX_DIR_BYTES) {
        throw new FatSpaceError(`${this.part.name}: directory "${dirName}" would pass the 65536-entry limit`);
      }
      const [added] = this.allocate(1, false);
      this.fat.set(dir.clusters[dir.clusters.length - 1], added);
      dir.clusters.push(added);
      const grown = new Uint8Array(dir.bytes.length + this.layout.clusterBytes);
      grown.set(dir.bytes);
      dir.bytes = grown;
      this.writeClusters([added], new Uint8Array(0));
    }
  }

  /** Adds a name's entries (long-name entries when it does not fit 8.3, then the short entry). */
  private addEntry(
    dir: Dir,
    dirName: string,
    name: string,
    attr: number,
    firstCluster: number,
    size: number,
    date: Date,
  ): void {
    const short = shortNameFor(name, takenShortNames(dir.bytes));
    const entries = [...lfnEntries(name, short), encodeShortEntry(short, attr, firstCluster, size, date)];
    const slot = this.reserveSlots(dir, entries.length, dirName);
    entries.forEach((e, i) => dir.bytes.set(e, (slot + i) * F.DIR_ENTRY_BYTES));
    this.saveSlots(dir, slot, slot + entries.length);
  }

  private lookup(dir: Dir, name: string): DirRecord | undefined {
    const wanted = name.toUpperCase();
    return parseDirectory(dir.bytes).find((r) => r.longName.toUpperCase() === wanted || r.shortName === wanted);
  }

  private resolveDir(components: string[], create: boolean): Dir {
    let dir = this.loadDir(this.rootKey);
    components.forEach((name, i) => {
      const where = "\\" + components.slice(0, i).join("\\");
      let rec = this.lookup(dir, name);
      if (!rec && create) rec = this.makeDir(dir, where, name);
      if (!rec) throw new FatWriterError(`${this.part.name}: no directory "${name}" in "${where}"`);
      if (!(rec.attr & F.ATTR_DIRECTORY))
        throw new FatWriterError(`${this.part.name}: "${name}" in "${where}" is a file, not a directory`);
      dir = this.loadDir(rec.firstCluster);
    });
    return dir;
  }

  private makeDir(parent: Dir, parentName: string, name: string): DirRecord {
    const [cluster] = this.allocate(1, false);
    const bytes = new Uint8Array(this.layout.clusterBytes);
    const parentCluster = parent.firstCluster === this.rootKey ? 0 : parent.firstCluster;
    bytes.set(F.encodeDotEntry(".", cluster, F.DEFAULT_DATE), 0);
    bytes.set(F.encodeDotEntry("..", parentCluster, F.DEFAULT_DATE), F.DIR_ENTRY_BYTES);
    this.writeClusters([cluster], bytes);
    this.dirs.set(cluster, { firstCluster: cluster, clusters: [cluster], bytes });
    this.addEntry(parent, parentName, name, F.ATTR_DIRECTORY, cluster, 0, F.DEFAULT_DATE);
    const rec = this.lookup(parent, name);
    if (!rec) throw new FatWriterError(`${this.part.name}: directory "${name}" was not found after it was made`);
    return rec;
  }

  // ---- the API --------------------------------------------------------------------------

  /** Makes a directory and any missing parents; an existing directory is left as it is. */
  mkdir(path: string): void {
    this.resolveDir(splitPath(path), true);
  }

  /** Writes (or replaces) a file; its directory must exist. Returns where the data went. */
  writeFile(
    path: string,
    data: Uint8Array,
    options: WriteFileOptions = {},
  ): { firstCluster: number; clusterCount: number } {
    return this.placeFile(path, data.length, options, data);
  }

  /**
   * Makes a new file of `size` bytes whose clusters are allocated but not written (they keep
   * what they held): a preallocated file, usually `contiguous`. An existing name is refused.
   */
  reserveFile(
    path: string,
    size: number,
    options: WriteFileOptions = {},
  ): { firstCluster: number; clusterCount: number } {
    return this.placeFile(path, size, options);
  }

  private placeFile(
    path: string,
    size: number,
    options: WriteFileOptions,
    data?: Uint8Array,
  ): { firstCluster: number; clusterCount: number } {
    const components = splitPath(path);
    const name = components.pop();
    if (name === undefined) throw new FatWriterError(`"${path}" names the root directory, not a file`);
    const attr = options.attributes ?? F.ATTR_ARCHIVE;
    if (attr & (F.ATTR_DIRECTORY | F.ATTR_VOLUME_ID) || attr > 0x3f)
      throw new FatWriterError(
        `file attributes 0x${attr.toString(16)} may use only read-only, hidden, system and archive`,
      );
    if (size > 0xffffffff)
      throw new FatWriterError(`"${path}" is ${size} bytes, more than a FAT file holds (4 GiB - 1)`);
    const dir = this.resolveDir(components, false);
    const existing = this.lookup(dir, name);
    if (existing && existing.attr & F.ATTR_DIRECTORY)
      throw new FatWriterError(`${this.part.name}: "${path}" is a directory`);
    if (existing && !data) throw new FatWriterError(`${this.part.name}: "${path}" exists already`);
    const oldChain = existing && existing.firstCluster >= 2 ? this.chain(existing.firstCluster) : [];
    if (oldChain.length > 0) this.release(existing!.firstCluster);
    let clusters: number[];
    this.avoid = [...(options.avoid ?? [])].sort((a, b) => a.start - b.start);
    try {
      clusters = this.allocate(
        Math.ceil(size / this.layout.clusterBytes),
        options.contiguous ?? false,
        options.fromEnd ?? false,
      );
    } catch (e) {
      this.linkChain(oldChain); // a refused replacement leaves the old file as it was
      throw e;
    } finally {
      this.avoid = [];
    }
    if (data) this.writeClusters(clusters, data);
    const first = clusters[0] ?? 0,
      date = options.mtime ?? F.DEFAULT_DATE;
    if (existing) {
      dir.bytes.set(
        encodeShortEntry(existing.short11, attr, first, size, date),
        existing.shortSlot * F.DIR_ENTRY_BYTES,
      );
      this.saveSlots(dir, existing.shortSlot, existing.shortSlot + 1);
    } else {
      this.addEntry(dir, "\\" + components.join("\\"), name, attr, first, size, date);
    }
    return { firstCluster: first, clusterCount: clusters.length };
  }

  /** Removes a file, or an empty directory. */
  remove(path: string): void {
    const components = splitPath(path);
    const name = components.pop();
    if (name === undefined) throw new FatWriterError("the root directory cannot be removed");
    const dir = this.resolveDir(components, false);
    const rec = this.lookup(dir, name);
    if (!rec) throw new FatWriterError(`${this.part.name}: no file or directory "${path}"`);
    if (rec.attr & F.ATTR_DIRECTORY) {
      const live = parseDirectory(this.loadDir(rec.firstCluster).bytes).length;
      if (live > 0) throw new FatWriterError(`${this.part.name}: directory "${path}" is not empty (${live} entries)`);
      this.dirs.delete(rec.firstCluster);
    }
    if (rec.firstCluster >= 2) this.release(rec.firstCluster);
    for (let s = rec.firstSlot; s <= rec.shortSlot; s++) dir.bytes[s * F.DIR_ENTRY_BYTES] = DELETED_MARK;
    this.saveSlots(dir, rec.firstSlot, rec.shortSlot + 1);
  }

  /** Writes the changed FAT sectors to every copy, FSInfo (FAT32), and flushes the device. */
  flush(): void {
    const l = this.layout;
    this.fat.flush();
    if (l.fatType === 32 && l.fsInfoSector > 0 && l.fsInfoSector < l.reservedSectors) {
      const fsInfo = F.encodeFsInfo(l.bytesPerSector, this.freeCount, this.nextFree);
      this.part.write(l.fsInfoSector, 1, fsInfo, 0);
      const backup = l.backupBootSector + l.fsInfoSector;
      if (l.backupBootSector > 0 && backup < l.reservedSectors) this.part.write(backup, 1, fsInfo, 0);
    }
    this.part.flush();
  }

  /**
   * Frees every allocated entry among clusters [first, first + count) (bad-cluster marks stay):
   * the clusters of a replaced ghost that no file uses, partly freed (a FAT12 entry even half
   * written) when a switch was cut off. The next flush writes every FAT copy (made to agree with
   * this one) and FSInfo's free count from this FAT. Returns the clusters freed.
   */
  freeRange(first: number, count: number): number {
    const t = this.fat.type,
      bad = t === 12 ? 0xff7 : t === 16 ? 0xfff7 : 0x0ffffff7;
    let freed = 0;
    for (let c = first; c < first + count; c++) {
      const v = this.fat.get(c);
      if (v === 0 || v === bad) continue;
      this.fat.set(c, 0);
      this.freeCount++;
      freed++;
    }
    this.fat.markAllDirty();
    return freed;
  }

  /** Free clusters as the in-memory FAT counts them. */
  get freeClusters(): number {
    return this.freeCount;
  }
}

// ---- names -------------------------------------------------------------------------------

/** Characters a short name may hold besides A-Z and 0-9 (spec section 6.1). */
const SHORT_EXTRA = "$%'-_@~`!(){}^#&";
const isShortChar = (ch: string) => (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || SHORT_EXTRA.includes(ch);
const LONG_FORBIDDEN = /[\x00-\x1f"*/:<>?\\|]/;

/** DIR_Name when `name` is exactly an uppercase 8.3 name (then it gets no long-name entries). */
export function exactShortName(name: string): string | undefined {
  const m = /^([^.]{1,8})(?:\.([^.]{1,3}))?$/.exec(name);
  if (!m || ![...m[1], ...(m[2] ?? "")].every(isShortChar)) return undefined;
  return m[1].padEnd(8, " ") + (m[2] ?? "").padEnd(3, " ");
}

/**
 * The short name for a new entry: the name itself when it is 8.3, else the uppercase basis
 * (spaces and dots dropped, other illegal characters as "_"), plain when that is lossless and
 * free, otherwise with a numeric tail ~1, ~2, ... that no entry in the directory has.
 */
export function shortNameFor(name: string, taken: Set<string>): string {
  if (name.length > 255 || LONG_FORBIDDEN.test(name) || /[. ]$/.test(name) || name.trim() === "") {
    throw new FatWriterError(
      `"${name}" is not a valid FAT long name (1-255 characters, none of "*/:<>?\\| or controls, no trailing dot or space)`,
    );
  }
  const exact = exactShortName(name);
  if (exact) return exact;
  const upper = name.toUpperCase().replace(/^[. ]+/, "");
  const dot = upper.lastIndexOf(".");
  const clean = (s: string) => [...s.replace(/[ .]/g, "")].map((ch) => (isShortChar(ch) ? ch : "_")).join("");
  const rawBase = dot >= 0 ? upper.slice(0, dot) : upper,
    rawExt = dot >= 0 ? upper.slice(dot + 1) : "";
  const base = clean(rawBase) || "_",
    ext = clean(rawExt);
  const lossless = base === rawBase && ext === rawExt && upper === name.toUpperCase();
  const plain = lossless ? exactShortName(ext ? `${base}.${ext}` : base) : undefined;
  if (plain && !taken.has(plain)) return plain;
  for (let n = 1; n < 1000000; n++) {
    const tail = `~${n}`;
    const candidate = (base.slice(0, 8 - tail.length) + tail).padEnd(8, " ") + ext.slice(0, 3).padEnd(3, " ");
    if (!taken.has(candidate)) return candidate;
  }
  throw new FatWriterError(`no free short name for "${name}"`);
}

/** "\\A\\b/c" -> ["A", "b", "c"]; "." and ".." are refused. */
function splitPath(path: string): string[] {
  const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
  for (const p of parts)
    if (p === "." || p === "..") throw new FatWriterError(`path "${path}": "." and ".." are not supported`);
  return parts;
}
