// A read-only FAT directory-tree reader and health check (the firmware's boot-time check):
// walks the tree, finds files by path, streams and hashes their contents, and reports
// structural damage the way fsck.fat -n would notice it, without ever writing. FAT entries
// come through FatTables in cached windows (the volume must not change under a reader);
// the pure decoding (directory entries, chains, FSInfo) lives in fat-dir.ts.

import { FsType } from "./abi";
import { Core, Slot } from "./core";
import { BlockDevice } from "./devices";
import { ClusterbackError, DeviceError } from "./errors";
import {
  ATTR_DIRECTORY,
  ChainFault,
  ChainRules,
  ChainTrace,
  ClusterBitmap,
  DIR_ENTRY_BYTES,
  DirRecord,
  decodeDirectory,
  decodeFsInfo,
  FsInfoFields,
  fsInfoFields,
  MAX_DIR_ENTRIES,
  nameMatches,
  RunSink,
  traceChain,
} from "./fat-dir";
import { FatTables } from "./fat-tables";
import { newSha256, SectorRun } from "./platform";

/** A file or directory of the volume: its directory record's fields (name, shortName, attributes, ...), and where it is. */
export interface FatEntry
  extends Pick<DirRecord, "name" | "shortName" | "attributes" | "isDirectory" | "firstCluster" | "size" | "modified"> {
  /** "\\FIRMWARE\\MAIN.BIN" style, long names where present; the root is "\\". */
  path: string;
  /** Index of its short entry in its parent directory (32-byte entries from the directory's start); absent for the root. */
  entryIndex?: number;
}

export type ProblemKind =
  | "boot"
  | "fat-copies"
  | "fsinfo"
  | "loop"
  | "cross-link"
  | "out-of-range"
  | "bad-cluster-in-file"
  | "size-mismatch"
  | "bad-name"
  | "dir-unreadable"
  | "lost-clusters";
export interface Problem {
  kind: ProblemKind;
  path?: string;
  cluster?: number;
  detail: string;
  /** A "loop" in a chain: `cluster` points back to `backTo`; the chain has `distinct` clusters; whether it is a directory's. */
  chainLoop?: { backTo: number; distinct: number; directory: boolean };
  /** A "loop" in the tree: the directory `path` is this ancestor of itself (`cluster`, the ancestor's first cluster). */
  ancestor?: string;
  /** A "cross-link": the other files and directories whose chains hold `cluster`, and how many of `path`'s clusters were claimed before. */
  sharedWith?: string[];
  sharedClusters?: number;
}

/** A path that does not resolve, or a chain that cannot be followed (loop, out of range, too short). */
export class FatReadError extends ClusterbackError {
  constructor(
    message: string,
    readonly path?: string,
    readonly cluster?: number,
  ) {
    super(message);
    this.name = "FatReadError";
  }
}

export interface WalkOptions {
  maxDepth?: number;
  maxEntries?: number;
  /** check() and checkTree(): also given every file and directory the walk meets. */
  visit?: (e: FatEntry) => void;
}
export interface CheckResult {
  problems: Problem[];
  files: number;
  directories: number;
  usedClusters: number;
}
export interface TreeCheckOptions extends WalkOptions {
  /** Steps at most, over both walks: a FAT entry looked up, a window of FAT entries read (WINDOW_STEPS), a directory entry read. */
  maxSteps?: number;
  /** Directory records held at once at most (those of the directories being walked, one per level). */
  maxHeld?: number;
}
export interface TreeCheck {
  problems: Problem[];
  files: number;
  directories: number;
  /** Every cluster a walked chain holds. */
  used: ClusterBitmap;
  /** Why the walk stopped before the end of the tree (a bound), if it did. */
  stopped?: string;
}

const FAT_WINDOW_ENTRIES = 16384; // entries read at once (64 KiB for FAT32)
/** Windows a reader keeps by default (256 KiB at most: the firmware runs in a QuickJS heap of 1 MiB); a host with the memory may give more (FatReader's third argument). */
export const CACHED_WINDOWS = 4;
const READ_CHUNK_BYTES = 1 << 20; // readFile hands out at most this much per chunk
const DEFAULT_MAX_DEPTH = 32;
const DEFAULT_MAX_ENTRIES = 1 << 20;
/** What reading one window of FAT entries counts against TreeCheckOptions.maxSteps: a step per entry decoded. */
export const WINDOW_STEPS = FAT_WINDOW_ENTRIES;

/** Thrown out of a walk when it has looked up TreeCheckOptions.maxSteps FAT entries. */
class StepLimit extends Error {}

/** A directory on the way down from the root, to find one that leads back to it. */
interface Ancestor {
  cluster: number;
  path: string;
}

interface WalkContext {
  visit?: (e: FatEntry) => void;
  problems: Problem[];
  maxDepth: number;
  maxEntries: number;
  entries: number;
  /** First clusters of the directories walked so far: one reached again by another path is not walked twice. */
  walkedDirs: Set<number>;
  files: number;
  directories: number;
  stopped: boolean;
  /** Check mode: clusters claimed so far, and chains that met a claimed cluster. */
  used?: ClusterBitmap;
  crossLinks?: Array<{ path: string; cluster: number; shared: number }>;
  /** Called with every run of every chain followed (the cross-link naming pass). */
  onRun?: (path: string, start: number, length: number) => void;
  /** Records of the directories being walked, and the most allowed. */
  held: number;
  maxHeld: number;
  /** Why a bound stopped the walk. */
  stoppedBy?: string;
}

export class FatReader {
  readonly tables: FatTables;
  private readonly fsType: number;
  private readonly maxCluster: number;
  private readonly sectorsPerCluster: number;
  private readonly rootDirLba: number;
  private readonly rootDirSectors: number;
  private readonly fsInfoSector: number;
  private readonly backupBootSector: number;
  private readonly dirtyBoot: boolean;
  private readonly media: number;
  private readonly root: FatEntry;
  private winFirst = 0;
  private win: Uint32Array | Uint16Array = new Uint32Array(0);
  /** Windows read so far, by first entry, least recently used first. */
  private readonly windows = new Map<number, Uint32Array | Uint16Array>();
  /** The windows a reader of CACHED_WINDOWS would hold, least recently used first (what a bounded check is charged for). */
  private readonly charged = new Set<number>();
  /** FAT lookups so far, and the most a bounded check allows. */
  private steps = 0;
  private stepLimit = Infinity;

  /** cachedWindows: FAT windows kept (default CACHED_WINDOWS); as many as the FAT has read it once, whatever the walk's order. */
  constructor(
    readonly device: BlockDevice,
    core: Core,
    private readonly cachedWindows = CACHED_WINDOWS,
  ) {
    this.tables = new FatTables(device, core); // throws the core's VolumeError on a bad boot record
    const r = core.results(),
      g = this.tables.geometry; // the probe's result slots, still current
    this.fsType = g.fsType;
    this.maxCluster = g.clusterCount + 1;
    this.sectorsPerCluster = g.clusterBytes / g.bytesPerSector;
    this.rootDirLba = g.reservedSectors + g.fatCount * g.fatSectors;
    this.rootDirSectors = r[Slot.volRootDirSectors];
    this.fsInfoSector = r[Slot.volFsInfo];
    this.backupBootSector = r[Slot.volBackupBoot];
    this.dirtyBoot = r[Slot.volDirtyBoot] === 1;
    this.media = r[Slot.volMedia];
    this.root = {
      path: "\\",
      name: "\\",
      shortName: "",
      attributes: ATTR_DIRECTORY,
      isDirectory: true,
      firstCluster: this.fsType === FsType.fat32 ? r[Slot.volRootCluster] : 0,
      size: 0,
      modified: new Date(Date.UTC(1980, 0, 1)),
    };
  }

  // ---- paths ----

  /** Case-insensitive, long or short names, "\\" or "/" separators; "\\" is the root. */
  lookup(path: string): FatEntry | undefined {
    let current = this.root;
    for (const component of path.split(/[\\/]+/).filter((c) => c.length > 0)) {
      if (!current.isDirectory) return undefined;
      const record = this.readDirStrict(current).find((r) => !r.dot && nameMatches(r, component));
      if (!record) return undefined;
      current = childEntry(current.path, record);
    }
    return current;
  }

  list(dirPath: string): FatEntry[] {
    const dir = this.lookup(dirPath);
    if (!dir) throw new FatReadError(`no such file or directory: ${dirPath}`, dirPath);
    if (!dir.isDirectory) throw new FatReadError(`not a directory: ${dir.path}`, dir.path);
    return this.readDirStrict(dir)
      .filter((r) => !r.dot)
      .map((r) => childEntry(dir.path, r));
  }

  private readDirStrict(dir: FatEntry): DirRecord[] {
    return this.readDir(dir, (p) => {
      throw new FatReadError(p.detail, p.path, p.cluster);
    }).records;
  }

  // ---- chains ----

  /**
   * The chain rules for fat-dir's tracers, made for each trace: a reader that kept a closure over
   * itself would be a reference cycle, which QuickJS (reference counting, and a cycle collector
   * that runs only now and then) frees late, with the reader's FAT windows.
   */
  private get rules(): ChainRules {
    return {
      next: (c) => this.next(c),
      maxCluster: this.maxCluster,
      eocMin: [0, 0xff8, 0xfff8, 0x0ffffff8][this.fsType],
      badMark: [0, 0xff7, 0xfff7, 0x0ffffff7][this.fsType],
      contiguous: (c, max) => this.contiguous(c, max),
    };
  }

  /** ChainRules.contiguous over the cached windows, counted against a bounded check's steps like next(). */
  private contiguous(c: number, max: number): number {
    let k = 0;
    while (k < max && c < this.maxCluster) {
      if (c < this.winFirst || c >= this.winFirst + this.win.length) this.switchWindow(c);
      const w = this.win,
        base = this.winFirst;
      const end = Math.min(base + w.length, c + max - k, this.maxCluster);
      let x = c;
      while (x < end && (w[x - base] & 0x0fffffff) === x + 1) x++;
      k += x - c;
      if (x < end || x === c) break;
      c = x;
    }
    this.spend(k);
    return k;
  }

  /** FAT copy 0's entry for a cluster, through the cached windows; counted against a bounded check's steps. */
  private next(cluster: number): number {
    if (++this.steps > this.stepLimit) throw new StepLimit();
    if (cluster < this.winFirst || cluster >= this.winFirst + this.win.length) this.switchWindow(cluster);
    return this.win[cluster - this.winFirst] & 0x0fffffff; // FAT32's top 4 bits are reserved (a no-op for FAT12/16)
  }

  /** Counts `steps` more against a bounded check's limit. */
  private spend(steps: number): void {
    this.steps += steps;
    if (this.steps > this.stepLimit) throw new StepLimit();
  }

  /** Makes the window holding `cluster` current: from the cache (the least recently used one is dropped when full), else read. */
  private switchWindow(cluster: number): void {
    const first = cluster - (cluster % FAT_WINDOW_ENTRIES);
    // a bounded check is charged for the windows a reader of CACHED_WINDOWS would read, whatever
    // this one keeps: its results do not depend on the host's memory
    if (this.charged.has(first)) this.charged.delete(first);
    else {
      this.steps += WINDOW_STEPS;
      if (this.charged.size >= CACHED_WINDOWS) this.charged.delete(this.charged.keys().next().value!);
    }
    this.charged.add(first);
    let win = this.windows.get(first);
    if (win) {
      this.windows.delete(first);
    } else {
      win = this.tables.window(0, first, Math.min(FAT_WINDOW_ENTRIES, this.tables.entryCount - first));
      if (this.windows.size >= this.cachedWindows) this.windows.delete(this.windows.keys().next().value!);
    }
    this.windows.set(first, win);
    this.winFirst = first;
    this.win = win;
  }

  /** Runs of contiguous clusters of a chain. Throws FatReadError on a loop, an entry out of range or a bad cluster. */
  chainRuns(firstCluster: number, maxClusters = this.maxCluster - 1): Array<{ start: number; length: number }> {
    const runs: Array<{ start: number; length: number }> = [];
    const t = traceChain(this.rules, firstCluster, maxClusters, (start, length) => runs.push({ start, length }));
    if (t.fault) throw new FatReadError(t.fault.detail, undefined, t.fault.cluster);
    return runs;
  }

  /** trace(), claiming clusters in check mode and telling the naming pass. */
  private traceTracked(
    path: string,
    first: number,
    limit: number,
    ctx: WalkContext,
    sink?: RunSink,
  ): ChainTrace & { firstShared: number } {
    let shared = 0,
      firstShared = -1;
    const t = traceChain(this.rules, first, limit, (start, length) => {
      sink?.(start, length);
      ctx.onRun?.(path, start, length);
      if (!ctx.used) return;
      for (let c = start; c < start + length; c++) {
        if (ctx.used.testAndSet(c) && shared++ === 0) firstShared = c;
      }
    });
    // a loop revisits its own clusters: that is reported as the loop, not as a cross-link
    if (shared === 0 || t.fault?.kind === "loop") return { ...t, firstShared: -1 };
    ctx.crossLinks?.push({ path, cluster: firstShared, shared });
    return { ...t, firstShared };
  }

  // ---- directories ----

  /** A directory's records; faults go to `report` (which may throw). */
  private readDir(
    dir: FatEntry,
    report: (p: Problem) => void,
    ctx?: WalkContext,
  ): { records: DirRecord[]; shared: boolean } {
    const g = this.tables.geometry;
    try {
      if (dir.path === "\\" && this.fsType !== 3) {
        const bytes = new Uint8Array(this.rootDirSectors * g.bytesPerSector);
        this.device.read(this.rootDirLba, this.rootDirSectors, bytes, 0);
        return { records: decodeDirectory(bytes, false), shared: false };
      }
      if (dir.firstCluster === 0) {
        report({
          kind: "dir-unreadable",
          path: dir.path,
          cluster: 0,
          detail: `directory ${dir.path} has first cluster 0`,
        });
        return { records: [], shared: false };
      }
      const runs: Array<[number, number]> = [];
      const limit = Math.ceil((MAX_DIR_ENTRIES * DIR_ENTRY_BYTES) / g.clusterBytes);
      const sink: RunSink = (start, length) => runs.push([start, length]);
      const t = ctx
        ? this.traceTracked(dir.path, dir.firstCluster, limit, ctx, sink)
        : { ...traceChain(this.rules, dir.firstCluster, limit, sink), firstShared: -1 };
      if (t.fault)
        report({
          kind: t.fault.kind,
          path: dir.path,
          cluster: t.fault.cluster,
          detail: `directory ${dir.path}: ${t.fault.detail}`,
          ...loopOf(t.fault, true),
        });
      if (t.truncated)
        report({
          kind: "dir-unreadable",
          path: dir.path,
          cluster: dir.firstCluster,
          detail: `directory ${dir.path} is longer than ${MAX_DIR_ENTRIES} entries; read the first ${limit} clusters only`,
        });
      const clusters = t.fault?.uniqueClusters ?? t.clusters;
      this.spend((clusters * g.clusterBytes) / DIR_ENTRY_BYTES); // a step per entry read and decoded
      // claimed from its first cluster by a chain seen before: the same directory twice, walked once
      return {
        records: decodeDirectory(this.readRuns(runs, clusters), this.fsType === FsType.fat32),
        shared: t.firstShared === dir.firstCluster,
      };
    } catch (e) {
      if (!(e instanceof DeviceError)) throw e;
      report({
        kind: "dir-unreadable",
        path: dir.path,
        cluster: dir.firstCluster,
        detail: `directory ${dir.path} cannot be read: ${e.message}`,
      });
      return { records: [], shared: false };
    }
  }

  /** The first `clusters` clusters of `runs`, read whole runs at a time (directories are small). */
  private readRuns(runs: Array<[number, number]>, clusters: number): Uint8Array {
    const g = this.tables.geometry;
    const out = new Uint8Array(clusters * g.clusterBytes);
    let at = 0;
    for (const [start, length] of runs) {
      const take = Math.min(length, clusters - at / g.clusterBytes);
      if (take <= 0) break;
      this.device.read(this.clusterLba(start), take * this.sectorsPerCluster, out, at);
      at += take * g.clusterBytes;
    }
    return out.subarray(0, at);
  }

  private clusterLba(cluster: number): number {
    return this.tables.geometry.firstDataSector + (cluster - 2) * this.sectorsPerCluster;
  }

  // ---- walking ----

  /**
   * The whole tree, depth first: `visit` gets every file and directory (not "." and "..", not the
   * volume label), within a bounded depth and entry count. Structural problems met on the way
   * (chains, sizes, names, unreadable directories) are returned, not thrown; cross-links, lost
   * clusters and the FAT copies need check().
   */
  walk(visit: (e: FatEntry) => void, options: WalkOptions = {}): Problem[] {
    const ctx = newContext(options);
    ctx.visit = visit;
    this.walkRoot(ctx);
    return ctx.problems;
  }

  /** The walk from the root, which is the first ancestor (FAT12/16: cluster 0, as a subdirectory entry would name it). */
  private walkRoot(ctx: WalkContext): void {
    this.walkDirectory(this.root, 0, [{ cluster: this.root.firstCluster, path: this.root.path }], ctx);
  }

  private walkDirectory(dir: FatEntry, depth: number, ancestors: Ancestor[], ctx: WalkContext): void {
    const { records, shared } = this.readDir(dir, (p) => ctx.problems.push(p), ctx);
    if (shared) return; // reported as a cross-link; not walked twice
    // without check()'s cluster claims (walk(), the naming pass) the same test, by first cluster:
    // a damaged tree of directories that share children would otherwise multiply the walk
    if (dir.firstCluster >= 2 && ctx.walkedDirs.has(dir.firstCluster)) return;
    ctx.walkedDirs.add(dir.firstCluster);
    ctx.held += records.length;
    try {
      if (ctx.held > ctx.maxHeld) {
        stop(ctx, `more than ${ctx.maxHeld} directory entries held at once, in ${dir.path}`);
        return;
      }
      for (const record of records) {
        if (ctx.stopped) return;
        if (record.dot) continue;
        if (++ctx.entries > ctx.maxEntries) {
          ctx.problems.push({
            kind: "dir-unreadable",
            path: dir.path,
            detail: `walk stopped after ${ctx.maxEntries} entries, in ${dir.path}`,
          });
          stop(ctx, `${ctx.maxEntries} entries walked, in ${dir.path}`);
          return;
        }
        const entry = childEntry(dir.path, record);
        if (record.nameProblem)
          ctx.problems.push({ kind: "bad-name", path: entry.path, detail: `${entry.path}: ${record.nameProblem}` });
        ctx.visit?.(entry);
        if (entry.isDirectory) this.walkSubdirectory(entry, depth, ancestors, ctx);
        else this.checkFile(entry, ctx);
      }
    } finally {
      ctx.held -= records.length;
    }
  }

  private walkSubdirectory(entry: FatEntry, depth: number, ancestors: Ancestor[], ctx: WalkContext): void {
    ctx.directories++;
    if (entry.size !== 0)
      ctx.problems.push({
        kind: "size-mismatch",
        path: entry.path,
        detail: `directory ${entry.path} has size ${entry.size}, not 0`,
      });
    const ancestor = ancestors.find((a) => a.cluster === entry.firstCluster);
    if (ancestor) {
      ctx.problems.push({
        kind: "loop",
        path: entry.path,
        cluster: entry.firstCluster,
        ancestor: ancestor.path,
        detail: `directory ${entry.path} is its own ancestor ${ancestor.path} (cluster ${entry.firstCluster})`,
      });
    } else if (depth + 1 > ctx.maxDepth) {
      ctx.problems.push({
        kind: "dir-unreadable",
        path: entry.path,
        detail: `directory ${entry.path} is nested deeper than ${ctx.maxDepth} levels: not read`,
      });
    } else {
      this.walkDirectory(entry, depth + 1, [...ancestors, { cluster: entry.firstCluster, path: entry.path }], ctx);
    }
  }

  private checkFile(entry: FatEntry, ctx: WalkContext): void {
    const g = this.tables.geometry;
    const need = Math.ceil(entry.size / g.clusterBytes);
    ctx.files++;
    if (entry.firstCluster === 0) {
      if (need > 0)
        ctx.problems.push({
          kind: "size-mismatch",
          path: entry.path,
          cluster: 0,
          detail: `${entry.path} is ${entry.size} bytes but has no clusters`,
        });
      return;
    }
    const t = this.traceTracked(entry.path, entry.firstCluster, this.maxCluster - 1, ctx);
    if (t.fault) {
      ctx.problems.push({
        kind: t.fault.kind,
        path: entry.path,
        cluster: t.fault.cluster,
        detail: `${entry.path}: ${t.fault.detail}`,
        ...loopOf(t.fault, false),
      });
    } else if (t.clusters !== need) {
      ctx.problems.push({
        kind: "size-mismatch",
        path: entry.path,
        cluster: entry.firstCluster,
        detail: `${entry.path} is ${entry.size} bytes (${need} clusters of ${g.clusterBytes}) but its chain from cluster ${entry.firstCluster} has ${t.clusters}`,
      });
    }
  }

  // ---- contents ----

  /**
   * Streams a file's bytes in chunks of at most 1 MiB, reading whole runs of contiguous clusters
   * at once. A chunk is valid only during its callback. Throws FatReadError on a broken or short
   * chain (after handing out the bytes before the fault).
   */
  readFile(entry: FatEntry, onChunk: (bytes: Uint8Array) => void): void {
    const g = this.tables.geometry;
    const buffer = new Uint8Array(Math.min(READ_CHUNK_BYTES, Math.ceil(entry.size / g.clusterBytes) * g.clusterBytes));
    this.fileRuns(entry, (lba, sectors, bytes) => {
      this.device.read(lba, sectors, buffer, 0);
      onChunk(buffer.subarray(0, bytes));
    });
  }

  /**
   * Where a file's contents lie, in order: `onRun(lba, sectors, bytes)` per piece of at most
   * READ_CHUNK_BYTES, whose first `bytes` bytes are the file's. Reads only the FAT.
   */
  fileRuns(entry: FatEntry, onRun: (lba: number, sectors: number, bytes: number) => void): void {
    if (entry.isDirectory) throw new FatReadError(`${entry.path} is a directory`, entry.path, entry.firstCluster);
    if (entry.size === 0) return;
    const g = this.tables.geometry,
      bps = g.bytesPerSector;
    const need = Math.ceil(entry.size / g.clusterBytes);
    const chunkSectors = Math.max(1, Math.floor(READ_CHUNK_BYTES / bps));
    let remaining = entry.size;
    const t = traceChain(this.rules, entry.firstCluster, need, (start, length) => {
      let lba = this.clusterLba(start);
      let sectors = Math.min(length * this.sectorsPerCluster, Math.ceil(remaining / bps));
      while (sectors > 0) {
        const n = Math.min(sectors, chunkSectors);
        const bytes = Math.min(n * bps, remaining);
        onRun(lba, n, bytes);
        remaining -= bytes;
        lba += n;
        sectors -= n;
      }
    });
    if (t.fault) throw new FatReadError(`${entry.path}: ${t.fault.detail}`, entry.path, t.fault.cluster);
    if (remaining > 0) {
      throw new FatReadError(
        `${entry.path} is ${entry.size} bytes but its chain from cluster ${entry.firstCluster} ends after ${t.clusters} clusters (${entry.size - remaining} bytes)`,
        entry.path,
        entry.firstCluster,
      );
    }
  }

  /**
   * SHA-256 of a file's contents, hex. The platform's hash reads the sectors itself
   * (ops/platform.ts): the contents never pass through the portable side.
   */
  sha256(entry: FatEntry): string {
    const hash = newSha256();
    const runs: SectorRun[] = [];
    this.fileRuns(entry, (lba, sectors, bytes) => runs.push({ lba, sectors, bytes }));
    hash.updateSectors(this.device, runs);
    return hash.digest();
  }

  // ---- the full check ----

  check(options: WalkOptions = {}): CheckResult {
    const problems = this.bootProblems();
    const tree = this.checkTree(options);
    // the bulk of it in the core: FAT copies compared, copy 0's clusters counted against the walk's
    const fat = this.tables.check(tree.used);
    if (fat.differing > 0) {
      problems.push({
        kind: "fat-copies",
        cluster: fat.firstDiffering,
        detail: `FAT copies differ in ${fat.differing} entries, first at entry ${fat.firstDiffering}`,
      });
    }
    problems.push(...tree.problems);
    if (fat.lost > 0) {
      problems.push({
        kind: "lost-clusters",
        cluster: fat.firstLost,
        detail: `${fat.lost} cluster${fat.lost === 1 ? " is" : "s are"} allocated but in no file or directory, first cluster ${fat.firstLost}`,
      });
    }
    problems.push(...this.fsInfoProblems(fat.free));
    return { problems, files: tree.files, directories: tree.directories, usedClusters: fat.allocated };
  }

  /**
   * check()'s walk of the tree alone, with every cluster claimed (no boot fields, FAT copies,
   * lost clusters or FSInfo): chains that loop, leave the volume or meet a bad cluster, files
   * whose size does not match, cross-links with every chain that holds the shared cluster,
   * directories that are their own ancestors, bad names. Besides check()'s bounds on depth and
   * entries, it may be bounded in FAT lookups (maxSteps: the time a damaged FAT can take, a walk
   * that meets the same long chain again and again included) and in directory records held at
   * once (maxHeld); a bound that stops it leaves the problems found so far and says so in `stopped`.
   */
  checkTree(options: TreeCheckOptions = {}): TreeCheck {
    const ctx = newContext(options);
    ctx.visit = options.visit;
    ctx.used = new ClusterBitmap(this.tables.entryCount);
    ctx.crossLinks = [];
    this.steps = 0;
    this.stepLimit = options.maxSteps ?? Infinity;
    try {
      this.bounded(ctx, () => this.walkRoot(ctx));
      this.nameCrossLinks(ctx.crossLinks, ctx.problems, options);
    } finally {
      this.stepLimit = Infinity;
    }
    return {
      problems: ctx.problems,
      files: ctx.files,
      directories: ctx.directories,
      used: ctx.used,
      stopped: ctx.stoppedBy,
    };
  }

  /** Runs a walk; the step bound ends it (and is told in ctx.stoppedBy) rather than throwing. */
  private bounded(ctx: WalkContext, walk: () => void): void {
    try {
      walk();
    } catch (e) {
      if (!(e instanceof StepLimit)) throw e;
      stop(ctx, `${this.stepLimit} steps (FAT and directory entries read)`);
    }
  }

  /** A second, bitmap-free walk to name every chain holding a cross-linked cluster (as far as the bounds let it go). */
  private nameCrossLinks(
    links: Array<{ path: string; cluster: number; shared: number }>,
    problems: Problem[],
    options: TreeCheckOptions,
  ): void {
    if (links.length === 0) return;
    const owners = new Map<number, string[]>(links.map((l) => [l.cluster, []]));
    const ctx = newContext(options);
    ctx.onRun = (path, start, length) => {
      for (let c = start; c < start + length; c++) owners.get(c)?.push(path);
    };
    this.bounded(ctx, () => this.walkRoot(ctx));
    for (const l of links) {
      const others = [...new Set(owners.get(l.cluster))].filter((p) => p !== l.path);
      problems.push({
        kind: "cross-link",
        path: l.path,
        cluster: l.cluster,
        sharedWith: others,
        sharedClusters: l.shared,
        detail: `cluster ${l.cluster} of ${l.path} is also in ${others.join(", ") || "another chain"} (${l.shared} clusters shared)`,
      });
    }
  }

  /** Dirty flags, FAT[0]'s media byte, and (FAT32) the backup boot sector. */
  private bootProblems(): Problem[] {
    const problems: Problem[] = [];
    const boot = (detail: string) => problems.push({ kind: "boot", detail });
    if (this.dirtyBoot) boot("volume is marked dirty (boot sector BS_Reserved1 bit 0): it was not cleanly unmounted");
    const [fat0, fat1] = this.tables.entries(0, 0, 2);
    if ((fat0 & 0xff) !== this.media)
      boot(`FAT[0] media byte 0x${(fat0 & 0xff).toString(16)} differs from BPB_Media 0x${this.media.toString(16)}`);
    if (this.fsType !== 1) {
      const [clean, noError] = this.fsType === FsType.fat16 ? [0x8000, 0x4000] : [0x08000000, 0x04000000];
      if (!(fat1 & clean)) boot(`FAT[1] clean-shutdown bit is clear (0x${fat1.toString(16)}): the volume is dirty`);
      if (!(fat1 & noError)) boot(`FAT[1] hard-error bit is clear (0x${fat1.toString(16)}): a disk error was met`);
    }
    const g = this.tables.geometry;
    if (this.fsType === FsType.fat32 && this.backupBootSector > 0 && this.backupBootSector < g.reservedSectors) {
      const a = new Uint8Array(g.bytesPerSector),
        b = new Uint8Array(g.bytesPerSector);
      this.device.read(0, 1, a, 0);
      this.device.read(this.backupBootSector, 1, b, 0);
      const at = a.findIndex((x, i) => x !== b[i]);
      if (at >= 0)
        boot(`backup boot sector (sector ${this.backupBootSector}) differs from the boot sector at byte ${at}`);
    }
    return problems;
  }

  /** FAT32: the FSInfo sector's number and its fields as stored; undefined when there is none (FAT12/16, or BPB_FSInfo 0 or outside the reserved sectors). */
  fsInfo(): { sector: number; fields: FsInfoFields; bytes: Uint8Array } | undefined {
    const g = this.tables.geometry;
    if (this.fsType !== 3 || this.fsInfoSector === 0 || this.fsInfoSector >= g.reservedSectors) return undefined;
    const bytes = new Uint8Array(g.bytesPerSector);
    this.device.read(this.fsInfoSector, 1, bytes, 0);
    return { sector: this.fsInfoSector, fields: fsInfoFields(bytes), bytes };
  }

  /** FAT32: FSInfo signatures, and a free count that matches the FAT (or is "unknown"). */
  private fsInfoProblems(freeClusters: number): Problem[] {
    const sector = this.fsInfo()?.bytes;
    if (!sector) return [];
    const info = decodeFsInfo(sector);
    const fsinfo = (detail: string): Problem => ({
      kind: "fsinfo",
      detail: `FSInfo (sector ${this.fsInfoSector}): ${detail}`,
    });
    if (!info) return [fsinfo("signatures are wrong")];
    const problems: Problem[] = [];
    if (info.freeCount !== undefined && info.freeCount !== freeClusters) {
      problems.push(fsinfo(`free count ${info.freeCount} differs from the FAT's ${freeClusters} free clusters`));
    }
    if (info.nextFree !== undefined && (info.nextFree < 2 || info.nextFree > this.maxCluster)) {
      problems.push(fsinfo(`next free cluster ${info.nextFree} is outside 2..${this.maxCluster}`));
    }
    return problems;
  }
}

function newContext(options: TreeCheckOptions): WalkContext {
  return {
    problems: [],
    entries: 0,
    walkedDirs: new Set<number>(),
    files: 0,
    directories: 0,
    stopped: false,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    held: 0,
    maxHeld: options.maxHeld ?? Infinity,
  };
}

function stop(ctx: WalkContext, why: string): void {
  ctx.stopped = true;
  ctx.stoppedBy ??= why;
}

/** A chain fault's loop fields for its Problem. */
function loopOf(fault: ChainFault, directory: boolean): Pick<Problem, "chainLoop"> {
  return fault.kind === "loop"
    ? { chainLoop: { backTo: fault.backTo ?? -1, distinct: fault.uniqueClusters ?? 0, directory } }
    : {};
}

function childEntry(parentPath: string, r: DirRecord): FatEntry {
  return {
    path: parentPath === "\\" ? `\\${r.name}` : `${parentPath}\\${r.name}`,
    name: r.name,
    shortName: r.shortName,
    attributes: r.attributes,
    isDirectory: r.isDirectory,
    firstCluster: r.firstCluster,
    size: r.size,
    modified: r.modified,
    entryIndex: r.index,
  };
}
