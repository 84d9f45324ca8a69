// The operations on a partition, an image and a partition table that the printer and the CLI
// share: the partition table, a volume's geometry and notices, an image's header, what a
// restore or verify found different, and the ghost backup job. Portable: no Node, no I/O of
// their own besides the block devices and the core they are given.
import { FsType, FsTypeText, PARAMS_BYTES, Param } from "./abi";
import { clusterOwners, describeUnreadable, nameSourceReadError, ReadFailureTrap, readUnreadable } from "./bad-sectors";
import { crc32, fromHex, fromUtf8, latin1, utf8 } from "./bytes";
import { Core, NO_DEVICE, RunOptions, Slot } from "./core";
import { fatDamageNotices } from "./damage";
import { BlockDevice } from "./devices";
import { ClusterbackError, DeviceError, isoSeconds, UsageError } from "./errors";
import {
  applyPatches,
  ExcludedFile,
  ExclusionError,
  loadPatches,
  PATCH_MAX,
  Patch,
  planExclusions,
} from "./exclusions";
import { ClusterRun, planExfatExclusions } from "./exfat-dir";
import { FatSpaceError } from "./fat-writer";
import * as G from "./ghost";
import { isNtfsBoot, planNtfsExclusions } from "./ntfs-mft";
import { describeProblems, ENTRY_SLOTS, EntrySlot, GUID_BYTES, Scheme, tableWarnings } from "./partition-table";
import { describeMark, readRestoreMark } from "./restore-mark";
import { walkTree } from "./tree-walk";

/** The volume results (probeVolume), kept across the scan that follows. */
const VOLUME_SLOTS = (Object.keys(Slot) as (keyof typeof Slot)[]).filter((k) => k.startsWith("vol"));
/** File-system names by the core's FsType. */
export const FS_NAMES: Readonly<Record<number, string>> = FsTypeText;
export interface PartitionEntry {
  number: number;
  scheme: "mbr" | "gpt";
  type: number;
  typeGuid?: string;
  startLba: number;
  sectorCount: number;
  /** What is wrong with this entry (bad, or sharing sectors with another): it is listed, and refused when chosen. */
  problem?: string;
}

export interface PartitionTable {
  scheme: "mbr" | "gpt";
  sectorSize: number;
  partitions: PartitionEntry[];
  /** What is wrong with the table as a whole, yet read past (the backup GPT in use, an EBR chain cut short). */
  warnings: string[];
}
export function guidString(b: Uint8Array): string {
  const h = (i: number, n: number, rev: boolean) => {
    const s = Array.from(b.subarray(i, i + n));
    return (rev ? s.reverse() : s).map((x) => x.toString(16).padStart(2, "0")).join("");
  };
  return `${h(0, 4, true)}-${h(4, 2, true)}-${h(6, 2, true)}-${h(8, 2, false)}-${h(10, 6, false)}`.toUpperCase();
}
export function readPartitionTable(core: Core, disk: BlockDevice): PartitionTable {
  const h = core.attach(disk);
  try {
    const count = core.check(core.exports.scanPartitions(h, disk.sectorSize, disk.sectorCount));
    const res = core.results();
    const scheme = res[Slot.partScheme] === Scheme.gpt ? "gpt" : "mbr";
    const partitions: PartitionEntry[] = [];
    for (let i = 0; i < count; i++) {
      const s = Slot.partFirst + i * ENTRY_SLOTS;
      const e: PartitionEntry = {
        number: res[s + EntrySlot.number],
        scheme,
        type: res[s + EntrySlot.type],
        startLba: res[s + EntrySlot.start],
        sectorCount: res[s + EntrySlot.sectors],
      };
      if (scheme === "gpt") e.typeGuid = guidString(core.resultBytes(s + EntrySlot.guid, GUID_BYTES));
      partitions.push(e);
    }
    describeProblems(res, partitions);
    return { scheme, sectorSize: disk.sectorSize, partitions, warnings: tableWarnings(res, scheme, disk.sectorCount) };
  } finally {
    core.detach(h);
  }
}
export interface VolumeInfo {
  fsType: string;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  reservedSectors: number;
  fatCount: number;
  fatSectors: number;
  rootEntries: number;
  totalSectors: number;
  firstDataSector: number;
  clusterCount: number;
  rootCluster: number;
  usedClusters: number;
  badClusters: number;
  freeClusters: number;
  usedBytes: number;
  imageBytes: number;
  notices: string[];
}

/** Notices about a volume's state: it is imaged as it is, but the user should know. */
function notices(res: Float64Array): string[] {
  const out: string[] = [];
  if (res[Slot.scanDirty] || res[Slot.scanDirtyBoot])
    out.push("volume is marked dirty (not cleanly unmounted): imaged as it is");
  if (res[Slot.scanIoError]) out.push("FAT[1] records a disk I/O error");
  if (res[Slot.scanExfatChecksumBad])
    out.push("the exFAT boot region's checksum sector does not match its sectors: imaged as it is");
  if (res[Slot.scanExfatUpcase] === 1)
    out.push("the exFAT up-case table's checksum does not match its directory entry: imaged as it is");
  if (res[Slot.scanExfatUpcase] === 2) out.push("the exFAT root directory has no up-case table entry: imaged as it is");
  if (res[Slot.scanSmallFat32])
    out.push(
      `FAT32 layout with only ${res[Slot.volClusterCount]} clusters (fewer than 65525, as mkfs.fat allows): imaged as FAT32`,
    );
  if (res[Slot.scanMismatched] > 0)
    out.push(`FAT copies differ in ${res[Slot.scanMismatched]} entries: clusters either copy uses are kept`);
  if (res[Slot.scanInvalid] > 0) out.push(`${res[Slot.scanInvalid]} FAT entries point outside the volume`);
  if (res[Slot.scanBad] > 0)
    out.push(`${res[Slot.scanBad]} clusters are marked bad: they stay marked and are not read`);
  const free = res[Slot.volClusterCount] - res[Slot.scanAllocated] - res[Slot.scanBad];
  // a count larger than the volume is told by fatDamageNotices, as one no driver believes
  if (
    res[Slot.scanFsInfoFree] >= 0 &&
    res[Slot.scanFsInfoFree] !== free &&
    res[Slot.scanFsInfoFree] <= res[Slot.volClusterCount]
  ) {
    out.push(`FSInfo free count ${res[Slot.scanFsInfoFree]} differs from the FAT's ${free}`);
  }
  return out;
}

/** cachedWindows: the FAT windows the damage walk keeps (DamageOptions). */
export function volumeInfo(
  core: Core,
  device: BlockDevice,
  options: RunOptions & { cachedWindows?: number } = {},
): VolumeInfo {
  const h = core.attach(device);
  try {
    core.check(core.exports.probeVolume(h, device.sectorSize, device.sectorCount));
    const geo = core.results(); // a copy: the scan below overwrites the slots
    core.check(core.exports.scanBegin(h, device.sectorSize, device.sectorCount));
    core.run(options);
    const res = core.results();
    for (const key of VOLUME_SLOTS) res[Slot[key]] = geo[Slot[key]];
    const used = res[Slot.scanAllocated];
    const vol: VolumeInfo = {
      fsType: FS_NAMES[res[Slot.volFsType]],
      bytesPerSector: res[Slot.volBytesPerSector],
      sectorsPerCluster: res[Slot.volSectorsPerCluster],
      clusterBytes: res[Slot.volClusterBytes],
      reservedSectors: res[Slot.volReserved],
      fatCount: res[Slot.volFatCount],
      fatSectors: res[Slot.volFatSectors],
      rootEntries: res[Slot.volRootEntries],
      totalSectors: res[Slot.volTotalSectors],
      firstDataSector: res[Slot.volFirstData],
      clusterCount: res[Slot.volClusterCount],
      rootCluster: res[Slot.volRootCluster],
      usedClusters: used,
      badClusters: res[Slot.scanBad],
      freeClusters: res[Slot.volClusterCount] - used - res[Slot.scanBad],
      usedBytes: res[Slot.volFirstData] * res[Slot.volBytesPerSector] + used * res[Slot.volClusterBytes],
      imageBytes: res[Slot.scanImageLength],
      notices: notices(res),
    };
    // FAT12/16/32: loops, cross-links, directory loops and FSInfo, from a bounded walk of the tree (it probes the volume again: the results above are taken)
    if (res[Slot.volFsType] <= FsType.fat32)
      vol.notices.push(
        ...fatDamageNotices(core, device, { freeClusters: vol.freeClusters, cachedWindows: options.cachedWindows }),
      );
    return vol;
  } finally {
    core.detach(h);
  }
}

export interface ImageInfo {
  name: string;
  version: string;
  fsType: string;
  partitionClusters: number;
  imageClusters: number;
  bitmapBits: number;
  clusterBytes: number;
  sectorBytes: number;
  partitionType: number;
  partitionTypeGuid?: string;
  partitionStart: number;
  partitionSectors: number;
  created: string;
  imageBytes: number;
  blocks: number;
  sourceDirty: boolean;
  /** A ghost image: its own extent in the partition it backs up (partition sectors). */
  ghost?: { startSector: number; sectors: number };
}

export function imageInfoFromResults(core: Core): ImageInfo {
  const res = core.results();
  const name = fromUtf8(core.resultBytes(Slot.imgName, Param.imageName.length)).replace(/\0+$/, "");
  const guidBytes = core.resultBytes(Slot.imgGuid, 16);
  return {
    name,
    version: `1.${res[Slot.imgVersionMinor]}`,
    fsType: FS_NAMES[res[Slot.imgFsType]],
    partitionClusters: res[Slot.imgPartClusters],
    imageClusters: res[Slot.imgImageClusters],
    bitmapBits: res[Slot.imgBitmapBits],
    clusterBytes: res[Slot.imgClusterBytes],
    sectorBytes: res[Slot.imgSectorBytes],
    partitionType: res[Slot.imgPartType],
    partitionTypeGuid: guidBytes.some((b) => b !== 0) ? guidString(guidBytes) : undefined,
    partitionStart: res[Slot.imgPartStart],
    partitionSectors: res[Slot.imgPartSectors],
    created: isoSeconds(res[Slot.imgCreated]),
    imageBytes: res[Slot.imgLength],
    blocks: res[Slot.imgBlocks],
    sourceDirty: (res[Slot.imgFlags] & 1) !== 0,
    ghost:
      res[Slot.imgGhostSectors] > 0
        ? { startSector: res[Slot.imgGhostStart], sectors: res[Slot.imgGhostSectors] }
        : undefined,
  };
}
/** Reads and validates the header of the image on `img` (512-byte sectors), not its contents. */
export function imageHeader(core: Core, img: BlockDevice): ImageInfo {
  const h = core.attach(img);
  try {
    core.check(core.exports.verifyBegin(h, img.sectorCount, NO_DEVICE, 0, 0));
    return imageInfoFromResults(core);
  } finally {
    core.detach(h);
  }
}
/** An image name as the header stores it: UTF-8, at most 64 bytes (more is a usage error). */
export function imageNameBytes(name: string): Uint8Array {
  const b = utf8(name);
  if (b.length > 64)
    throw new UsageError(`image name "${name}" is ${b.length} bytes of UTF-8; at most 64 fit in the header`);
  return b;
}

/** A finished backup's notices: the volume's, and the clusters recorded unreadable with the files they belong to. */
export function backupNotices(
  core: Core,
  device: BlockDevice,
  vol: VolumeInfo,
  unreadable: { count: number; clusters: number[] },
  source: string,
): string[] {
  const notices = [...vol.notices];
  if (unreadable.count > 0)
    notices.push(
      describeUnreadable({ count: unreadable.count, listed: clusterOwners(core, device, unreadable.clusters) }, source),
    );
  return notices;
}

/**
 * What a backup puts in the image header besides the volume's own fields: the name (at most 64
 * bytes are kept), the GPT type GUID, and a ghost image's own extent.
 */
export function setImageParams(core: Core, nameBytes: Uint8Array, typeGuid?: string, ghost?: G.GhostExtent): void {
  const params = new Uint8Array(PARAMS_BYTES);
  params.set(nameBytes.subarray(0, Param.imageName.length), Param.imageName.offset);
  if (typeGuid) params.set(guidBytes(typeGuid), Param.partTypeGuid.offset);
  if (ghost) {
    const v = new DataView(params.buffer);
    v.setFloat64(Param.ghostStart.offset, ghost.startSector, true);
    v.setFloat64(Param.ghostSectors.offset, ghost.sectors, true);
  }
  core.setParams(params);
}

function guidBytes(guid: string): Uint8Array {
  const hex = guid.replace(/-/g, "");
  const b = fromHex(hex);
  const swap = (i: number, n: number) => b.subarray(i, i + n).reverse();
  swap(0, 4);
  swap(4, 2);
  swap(6, 2);
  return b;
}
export interface Comparison {
  mismatchedClusters: number;
  firstMismatchCluster?: number;
  metadataDiffers: boolean;
  ok: boolean;
  /** The partition matches the image but its tree cannot be walked as a file system (issue 18): why. */
  unwalkable?: string;
}

/** What the last restore (with read-back) or verify against a partition found different. */
export function comparison(core: Core): Comparison {
  const res = core.results();
  const mismatched = res[Slot.mismatches],
    metadataDiffers = res[Slot.metaMismatch] === 1;
  return {
    mismatchedClusters: mismatched,
    firstMismatchCluster: mismatched > 0 ? res[Slot.firstMismatch] : undefined,
    metadataDiffers,
    ok: mismatched === 0 && !metadataDiffers,
  };
}

/**
 * What a backup of `dev` leaves out, whatever its file system (docs/image-format.md 11): on NTFS
 * the page and hibernation files always, and the files `patterns` name, left allocated and
 * unstored (11.1); on exFAT (11.3) and FAT (11) the files `patterns` name, read as empty files.
 */
export function planVolumeExclusions(
  core: Core,
  dev: BlockDevice,
  patterns: string[],
  /** skip: paths never excluded (a ghost and its new file); alsoFreed: FAT32's FSInfo count raised by these clusters too. */
  options: { skip?: string[]; alsoFreed?: number } = {},
): { patches: Patch[]; files: ExcludedFile[]; clusters: number; unmatched: string[] } {
  const boot = new Uint8Array(Math.max(dev.sectorSize, 512));
  dev.read(0, 1, boot, 0);
  if (isNtfsBoot(boot)) return planNtfsExclusions(dev, patterns, options);
  if (latin1(boot.subarray(3, 11)) === "EXFAT   ") return planExfatExclusions(dev, patterns, options);
  return planExclusions(core, dev, patterns, options);
}

export function describeMismatch(v: Comparison): string {
  const parts: string[] = [];
  if (v.mismatchedClusters > 0)
    parts.push(`${v.mismatchedClusters} clusters differ from the image (first: cluster ${v.firstMismatchCluster})`);
  if (v.metadataDiffers) parts.push("the metadata area (boot sector, FATs, root directory) differs from the image");
  if (v.unwalkable) parts.push(`it cannot be walked as a file system: ${v.unwalkable}`);
  return parts.join("; ");
}

/**
 * How long an image of `device` with `patches` comes to, what the tree walk keeps included, and
 * the runs it keeps (clusters the tree reaches that the file system marks free: a new file, such
 * as the ghost, must not be put there).
 */
export function scanImageLength(
  core: Core,
  device: BlockDevice,
  patches: Patch[],
): { length: number; kept: ClusterRun[] } {
  const h = core.attach(device);
  try {
    loadPatches(core, h, device.sectorSize, patches);
    // with what the tree reaches but the file system marks free, which the backup keeps too
    const walk = walkTree(core, h, device, patches.length);
    core.exports.setPatches(h, device.sectorSize, walk.patchCount);
    core.check(core.exports.scanBegin(h, device.sectorSize, device.sectorCount));
    core.run({});
    return { length: core.results()[Slot.scanImageLength], kept: walk.keptRunList };
  } finally {
    core.exports.setPatches(h, device.sectorSize, 0);
    core.detach(h);
  }
}

export interface GhostJobOptions {
  ghostName?: string;
  /** The image's name (default: the ghost file's base name). */
  name?: string;
  created?: Date;
  unreadable?: "fail" | "record";
  exclude?: string[];
  /** Exclusion patterns that match nothing are an error (the CLI) or ignored (a profile's). */
  strictExclude?: boolean;
  partType?: number;
  partStart?: number;
  typeGuid?: string;
  /** Stored in the ghost file after the image, named by the locator (the printer's manifest). */
  extra?: Uint8Array;
  /** 1: the factory image (recorded in the locator). */
  kind?: 0 | 1;
  /** Signs the image (its device) before the switch: the signature section goes right after it (docs/image-format.md section 14). */
  sign?: (image: BlockDevice) => void;
}

/**
 * A backup into the partition's own ghost file (section 12), in three calls: begin() makes the
 * new file and starts the core's backup job into it (the caller steps the core), finish()
 * writes the locator and switches the new file in for the old one, abandon() removes the new
 * file when the job does not finish. The old ghost stays valid until the switch.
 */
export class GhostBackupJob {
  readonly path: string;
  readonly tempPath: string;
  readonly trap: ReadFailureTrap;
  extent: G.GhostExtent = { startSector: 0, sectors: 0 };
  hs = 0;
  hi = 0;
  leftover: "none" | "renamed" | "removed" | "switch finished" = "none";
  excluded: ExcludedFile[] = [];
  name = "";
  vol!: VolumeInfo;
  private tempMade = false;
  private ntfs = false;
  private renamed = false;
  private switchDir: Patch[] = [];
  private switchFatByCopy: Patch[][] = [];
  private switchFsInfo: Patch[] = [];
  private oldExtent?: G.GhostExtent;
  replaced = false;
  /** The walk of the tree against the allocation (issue 18): what it kept and what it found, said in `notices`. */
  walkNotices: string[] = [];

  constructor(
    readonly core: Core,
    readonly dev: BlockDevice,
    readonly where: string,
    readonly options: GhostJobOptions = {},
  ) {
    this.path = G.ghostPath(options.ghostName);
    this.tempPath = G.tempPathOf(this.path);
    this.trap = new ReadFailureTrap(dev);
  }

  begin(): void {
    const { core, dev, where, options } = this;
    const ss = dev.sectorSize;
    try {
      const mark = readRestoreMark(core, dev);
      if (mark) throw new ClusterbackError(`${where}: not backed up: ${describeMark(mark)}`);
      try {
        this.vol = volumeInfo(core, this.trap, {});
      } catch (e) {
        throw nameSourceReadError(core, dev, this.trap, e);
      }
      const exfat = this.vol.fsType === "exFAT";
      this.ntfs = this.vol.fsType === "NTFS";
      this.leftover = G.settleGhost(core, dev, this.path);
      this.name = options.name ?? this.path.slice(this.path.lastIndexOf("\\") + 1).replace(/\.[^.]*$/, "");
      const nameBytes = imageNameBytes(this.name);
      const skip = [this.path, this.tempPath],
        exclude = options.exclude ?? [];
      // 1. how large: the partition as it will be, the old ghost gone, the exclusions left out
      const oldBefore = G.planOldGhostOn(core, dev, this.path);
      const sizing = planVolumeExclusions(core, dev, exclude, { skip, alsoFreed: oldBefore?.clusters ?? 0 });
      if (sizing.unmatched.length && options.strictExclude !== false)
        throw new UsageError(
          `--exclude ${sizing.unmatched.map((p) => `"${p}"`).join(", ")}: no such file or directory in ${where}`,
        );
      const { length, kept } = scanImageLength(core, dev, [
        ...(oldBefore?.fatPatches ?? []),
        ...(oldBefore?.dirPatches ?? []),
        ...sizing.patches,
      ]);
      const cb = this.vol.clusterBytes,
        extra = options.extra?.length ?? 0;
      // room for a signature section, the extra bytes, the locator, a directory that grows by a cluster when the new entry is added, and that cluster's block table
      const extentBytes = Math.ceil((length + 512 + extra + 1024 + cb + 16384) / cb) * cb;
      if (!exfat && !this.ntfs && extentBytes > 0xffffffff)
        throw new G.GhostError(
          `${where}: the ghost image would be ${extentBytes} bytes; a FAT file holds at most 4 GiB - 1: use a recovery partition or an image file`,
        );
      const created = options.created ?? new Date();
      // 2. the new file
      try {
        G.reserveGhostFile(dev, this.tempPath, extentBytes, created, kept, this.path); // never over clusters a file still reaches
      } catch (e) {
        if (e instanceof FatSpaceError || e instanceof G.GhostSpaceError)
          throw new G.GhostError(
            `${where}: no room for the ghost image: it needs ${extentBytes} bytes (${extentBytes / cb} clusters) in one run, beside the old one, which stays until the new one is complete: ${e.message}`,
          );
        throw e;
      }
      this.tempMade = true;
      // 3. the switch, planned on the partition as it is now
      // (NTFS: a first ghost's new file is in the index now, under the ghost's name: the old one is the one before)
      const old = this.ntfs ? oldBefore : G.planOldGhostOn(core, dev, this.path);
      const rename = G.planRenameOn(core, dev, this.path);
      const freed = old?.clusters ?? 0;
      const plan = planVolumeExclusions(core, dev, exclude, { skip, alsoFreed: freed });
      this.excluded = plan.files;
      this.replaced = old !== undefined;
      this.oldExtent = old?.extent;
      this.switchDir = [...(old?.dirPatches ?? []), ...rename.dirPatches];
      this.switchFatByCopy = old?.fatPatchesByCopy ?? [];
      this.switchFsInfo = G.switchFsInfoOn(core, dev, freed);
      const imagePatches = [...(old?.fatPatches ?? []), ...this.switchDir, ...plan.patches];
      if (imagePatches.length > PATCH_MAX)
        throw new ExclusionError(
          `the ghost backup needs ${imagePatches.length} patches (the old ghost's chain, the exclusions); the core holds ${PATCH_MAX}`,
        );
      // 4. the image job, into the new file
      this.extent = rename.extent;
      this.hs = core.attach(this.trap);
      this.hi = core.attach(G.ghostDevice(dev, this.extent));
      setImageParams(core, nameBytes, options.typeGuid, this.extent);
      loadPatches(core, this.hs, ss, imagePatches);
      // the tree against the allocation, through the switch's and the exclusions' patches: what it
      // reaches but the file system marks free is kept too (issue 18), as in every backup
      const walk = walkTree(core, this.hs, dev, imagePatches.length);
      core.exports.setPatches(this.hs, ss, walk.patchCount);
      this.walkNotices = walk.notices;
      core.check(
        core.exports.backupBeginFlags(
          this.hs,
          ss,
          dev.sectorCount,
          this.hi,
          options.partType ?? 0,
          options.partStart ?? 0,
          Math.floor(created.getTime() / 1000),
          options.unreadable === "record" ? 1 : 0,
        ),
      );
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  /** After the core's job is done: the extra bytes and the locator, then the switch. */
  finish(): { imageBytes: number; imageClusters: number; unreadable: { count: number; clusters: number[] } } {
    const { core, dev, where } = this;
    try {
      core.exports.setPatches(this.hs, dev.sectorSize, 0);
      const res = core.results();
      const imageBytes = res[Slot.scanImageLength],
        imageClusters = res[Slot.scanAllocated];
      const extra = this.options.extra ?? new Uint8Array(0);
      // the extra bytes after one sector kept for the image's signature (section 14)
      const extraOffset = Math.ceil(imageBytes / 512) * 512 + 512;
      if (extraOffset + extra.length + 512 > this.extent.sectors * dev.sectorSize)
        throw new G.GhostError(
          `${where}: the image came to ${imageBytes} bytes (and ${extra.length} more), more than its file's ${this.extent.sectors * dev.sectorSize - 512}: the partition changed during the backup`,
        );
      const unreadable = readUnreadable(core);
      this.options.sign?.(G.ghostDevice(dev, this.extent));
      G.writeExtra(dev, this.extent, extraOffset, extra);
      const fields = {
        kind: this.options.kind ?? 0,
        extraOffset,
        extraBytes: extra.length,
        extraCrc: crc32(extra),
      };
      // the locator names the ghost being replaced until the switch is done (section 12.2)
      G.writeLocator(dev, this.extent, { ...fields, replaced: this.oldExtent });
      dev.flush();
      // the switch: the partition becomes what the image says
      applyPatches(dev, this.switchDir);
      dev.flush();
      this.renamed = true;
      if (this.oldExtent) G.forgetGhost(dev, this.oldExtent);
      // the FAT copies last to first: while the first copy (the one drivers use) still holds the
      // old chain, no driver reuses those clusters, and the next ghost backup finishes the switch
      for (const copy of [...this.switchFatByCopy].reverse()) applyPatches(dev, copy);
      applyPatches(dev, this.switchFsInfo);
      dev.flush();
      if (this.oldExtent) {
        G.writeLocator(dev, this.extent, fields);
        dev.flush();
      }
      return { imageBytes, imageClusters, unreadable };
    } catch (e) {
      if (e instanceof DeviceError) throw nameSourceReadError(core, dev, this.trap, e);
      throw e;
    } finally {
      this.abandon();
    }
  }

  /** Lets go of the core's handles; before the switch, removes the new file. */
  abandon(): void {
    if (this.hs) {
      this.core.exports.setPatches(this.hs, this.dev.sectorSize, 0);
      this.core.detach(this.hs);
      this.hs = 0;
    }
    if (this.hi) {
      this.core.detach(this.hi);
      this.hi = 0;
    }
    if (this.tempMade && !this.renamed) {
      this.tempMade = false;
      try {
        if ((typeof __CB_NTFS__ === "undefined" || __CB_NTFS__) && this.ntfs)
          G.abandonNtfsGhost(this.core, this.dev, this.path);
        else G.removeFile(this.dev, this.tempPath);
      } catch {
        /* the device failed: the next ghost backup removes it */
      }
    }
  }
}
