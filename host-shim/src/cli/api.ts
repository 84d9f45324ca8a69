// The host-side operations behind the CLI (and the tests): open a partition of a disk or a
// partition file, and run info, backup, restore and verify jobs on the wasm core.
import * as fs from "node:fs";
import * as path from "node:path";
import { IO_BYTES } from "../../../firmware-module/src/ops/abi";
import { nameSourceReadError, ReadFailureTrap, readUnreadable } from "../../../firmware-module/src/ops/bad-sectors";
import {
  ClusterbackError,
  CoreError,
  ImageError,
  UsageError,
  VolumeError,
} from "../../../firmware-module/src/ops/errors";
import { ExcludedFile, ExclusionError, loadPatches, PATCH_MAX } from "../../../firmware-module/src/ops/exclusions";
import * as G from "../../../firmware-module/src/ops/ghost";
import { refuseBadEntry } from "../../../firmware-module/src/ops/partition-table";
import { describeMark, RestoreMark, readRestoreMark } from "../../../firmware-module/src/ops/restore-mark";
import { walkTree } from "../../../firmware-module/src/ops/tree-walk";
import {
  backupNotices,
  Comparison,
  comparison,
  describeMismatch,
  GhostBackupJob,
  ImageInfo,
  imageHeader,
  imageNameBytes,
  PartitionEntry,
  PartitionTable,
  planVolumeExclusions,
  readPartitionTable,
  setImageParams,
  VolumeInfo,
  volumeInfo,
} from "../../../firmware-module/src/ops/volume";
import { Core, NO_DEVICE, RestoreFlag, RunOptions, Slot } from "../native/core";
import { BlockDevice, FileDevice, PartitionView, WriteGuard } from "../native/devices";
import { describe, Endpoint, Extent, exclusiveDiskKey, narrow, refuseOverlap, requireSeekable } from "./endpoints";
import {
  checkImageOutput,
  ImageOutput,
  openImageInput,
  openImageOutput,
  removeStalePartials,
  spoolStream,
} from "./image-io";
import { JobLocks } from "./locks";
import {
  checkRead,
  DigestingReader,
  DigestingWriter,
  generateKeys,
  readPrivateKey,
  readPublicKey,
  SignatureGate,
  signatureInfo,
  threadHash,
  writeSignature,
} from "./signing";

export { generateKeys, readPublicKey };

import { imageLengthOf, keyIdText, SignatureFields, TrustPolicy } from "../../../firmware-module/src/ops/signature";

// The operations the printer shares with the CLI are portable (firmware-module/src/ops/volume.ts).
export {
  Comparison,
  comparison,
  describeMismatch,
  FS_NAMES,
  GhostBackupJob,
  GhostJobOptions,
  ImageInfo,
  imageHeader,
  imageInfoFromResults,
  PartitionEntry,
  PartitionTable,
  readPartitionTable,
  setImageParams,
  VolumeInfo,
  volumeInfo,
} from "../../../firmware-module/src/ops/volume";

const IMAGE_MAGIC = "CBIMAGE1";

export interface OpenOptions {
  /** 1-based partition number, as the partition table numbers it; absent: the file is the partition. */
  partition?: number;
  writable?: boolean;
  /** Sector size of a disk (default: detected). */
  sectorSize?: number;
  /** Open a block device with O_EXCL (refused while mounted or held by another job). */
  exclusive?: boolean;
}

export interface OpenedPartition {
  /** The partition: LBA 0 is its first sector. */
  device: BlockDevice;
  file: FileDevice;
  entry?: PartitionEntry;
  table?: PartitionTable;
  close(): void;
}

function readHead(file: FileDevice, bytes: number, at = 0): Uint8Array {
  const buf = new Uint8Array(bytes);
  const fd = fs.openSync(file.filePath, "r");
  try {
    fs.readSync(fd, buf, 0, bytes, at);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** FAT windows (64 KiB each) the CLI's damage walk keeps: 16 MiB, the FAT of a 16 GiB FAT32 volume of 4 KiB clusters, read once. */
const CLI_FAT_WINDOWS = 256;

/** Bytes per sector of a FAT boot sector at `b`, or 0 when it does not look like one. */
function bpbSectorSize(b: Uint8Array): number {
  const bps = b[11] | (b[12] << 8);
  const jumpOk = b[0] === 0xeb || b[0] === 0xe9;
  return jumpOk && b[510] === 0x55 && b[511] === 0xaa && [512, 1024, 2048, 4096].includes(bps) ? bps : 0;
}

function detectDiskSectorSize(file: FileDevice): number {
  const head = readHead(file, 8192);
  const sig = (at: number) => Buffer.from(head.subarray(at, at + 8)).toString("latin1") === "EFI PART";
  if (sig(512)) return 512;
  for (const size of [4096, 2048, 1024]) if (sig(size)) return size;
  // MBR: look for a boot sector at the first partition's start in 512- and 4096-byte units
  const start = new DataView(head.buffer).getUint32(446 + 8, true);
  if (start > 0) {
    for (const size of [512, 4096]) {
      if (bpbSectorSize(readHead(file, 512, start * size)) === size) return size;
    }
  }
  return 512;
}

export function openPartition(core: Core, file: string, options: OpenOptions = {}): OpenedPartition {
  if (options.partition !== undefined && (!Number.isInteger(options.partition) || options.partition < 1)) {
    throw new UsageError(`--partition must be a whole number from 1 up, not ${options.partition}`);
  }
  const probe = new FileDevice(file);
  const isBlock = fs.statSync(file).isBlockDevice();
  let sectorSize = options.sectorSize ?? probe.sectorSize;
  if (!options.sectorSize && !isBlock) {
    sectorSize =
      options.partition === undefined ? bpbSectorSize(readHead(probe, 512)) || 512 : detectDiskSectorSize(probe);
  }
  probe.close();
  const dev = new FileDevice(file, {
    sectorSize,
    writable: options.writable,
    exclusive: options.exclusive ? exclusiveDiskKey(file) : undefined,
  });
  if (options.partition === undefined) {
    return { device: dev, file: dev, close: () => dev.close() };
  }
  try {
    const table = readPartitionTable(core, dev);
    const entry = table.partitions.find((p) => p.number === options.partition);
    if (!entry) {
      const list = table.partitions.map((p) => p.number).join(", ") || "none";
      throw new UsageError(
        `${file} has no partition ${options.partition} (its ${table.scheme.toUpperCase()} partitions: ${list})`,
      );
    }
    refuseBadEntry(entry, file);
    if (entry.sectorCount === 0)
      throw new UsageError(
        `${file} partition ${entry.number} is empty: its ${table.scheme.toUpperCase()} entry (type 0x${entry.type.toString(16)}) gives 0 sectors at LBA ${entry.startLba}`,
      );
    const view = new PartitionView(dev, entry.startLba, entry.sectorCount, `${file} partition ${entry.number}`);
    return { device: view, file: dev, entry, table, close: () => dev.close() };
  } catch (e) {
    dev.close();
    throw e;
  }
}

function openImage(file: string): FileDevice {
  return new FileDevice(file, { sectorSize: 512 });
}

/** Reads and validates an image file's header (not its contents). */
export function readImageInfo(core: Core, imageFile: string): ImageInfo {
  const img = openImage(imageFile);
  try {
    return imageHeader(core, img);
  } finally {
    img.close();
  }
}

export function isImageFile(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const b = Buffer.alloc(8);
    return fs.readSync(fd, b, 0, 8, 0) === 8 && b.toString("latin1") === IMAGE_MAGIC;
  } finally {
    fs.closeSync(fd);
  }
}

export interface InfoResult {
  file: string;
  kind: "image" | "disk" | "partition";
  sizeBytes: number;
  table?: PartitionTable;
  partition?: PartitionEntry;
  volume?: VolumeInfo;
  volumeError?: string;
  image?: ImageInfo;
  restoreInProgress?: RestoreMark;
  /** The partition's ghost image (section 12), found through its directory, or with `ghost` by the search too. */
  ghost?: GhostInfo;
  /** An image's signature (section 14), unchecked; absent: unsigned. */
  signature?: SignatureSummary;
}

export function info(
  core: Core,
  file: string,
  options: OpenOptions & RunOptions & { ghost?: boolean; ghostName?: string } = {},
): InfoResult {
  const e = describe(file);
  if (e.kind === "directory")
    throw new UsageError(`${file} is a directory: info takes a disk, a partition or an image file`);
  if (e.kind === "missing") throw new UsageError(`${file}: no such file`);
  requireSeekable(e, "file to inspect");
  const probe = new FileDevice(file);
  const sizeBytes = probe.byteLength;
  probe.close();
  if (options.partition === undefined && isImageFile(file)) {
    const img = openImage(file);
    try {
      const image = namedImageHeader(core, img, file);
      const found = signatureInfo(core, img, headerBytes(img), file);
      return { file, kind: "image", sizeBytes, image, signature: found && summary(found, false) };
    } finally {
      img.close();
    }
  }
  const part = openPartition(core, file, options);
  try {
    const out: InfoResult = {
      file,
      kind: part.entry ? "disk" : "partition",
      sizeBytes,
      table: part.table,
      partition: part.entry,
    };
    const mark = readRestoreMark(core, part.device);
    if (mark) {
      out.restoreInProgress = mark;
      out.volumeError = describeMark(mark);
      return out;
    }
    try {
      out.volume = volumeInfo(core, part.device, { ...options, cachedWindows: CLI_FAT_WINDOWS });
      out.volume.notices.push(...walkNotices(core, part.device));
      out.ghost = ghostInfo(core, part.device, { ghostName: options.ghostName, search: options.ghost });
    } catch (e) {
      if (e instanceof VolumeError && options.ghost) {
        out.volumeError = e.message;
        out.ghost = ghostInfo(core, part.device, { ghostName: options.ghostName, search: true });
        return out;
      }
      if (!(e instanceof VolumeError) || part.entry) throw explainVolumeError(core, part, file, e);
      // not a FAT volume: maybe a whole disk given without --partition
      let table: PartitionTable | undefined;
      try {
        table = readPartitionTable(core, part.device);
      } catch {
        /* neither */
      }
      if (!table || table.partitions.length === 0) throw explainVolumeError(core, part, file, e);
      out.kind = "disk";
      out.table = table;
      out.volumeError = "this is a disk: choose a partition with --partition N";
    }
    return out;
  } finally {
    part.close();
  }
}

export interface BackupOptions extends OpenOptions, RunOptions {
  image: string;
  /** Stored in the header (64 bytes of UTF-8 at most); default: the image file's base name. */
  name?: string;
  /** Creation time (default now). */
  created?: Date;
  /** A read error on the source: "fail" (default) names the files hit and fails; "record" stores the clusters as unreadable (docs/image-format.md 5.1). */
  unreadable?: "fail" | "record";
  /** Files to leave out (kept as empty files): paths or patterns, long or short names, case-insensitive; a directory means every file below it. */
  exclude?: string[];
  /** Replace an existing image file, or write over a block device that holds an image or a file system. */
  overwrite?: boolean;
  /** Sign the image (docs/image-format.md section 14): the private key's PEM file, and the security version (default 0). */
  sign?: { keyFile: string; securityVersion?: number };
}

/** What a signature says, for results and `info`. */
export interface SignatureSummary {
  /** The signer's key id: the first 16 bytes of SHA-256 of its public key, hex. */
  keyId: string;
  securityVersion: number;
  /** Whether it was checked against a trusted key (verify and restore with a key). */
  checked: boolean;
}
const summary = (f: SignatureFields, checked: boolean): SignatureSummary => ({
  keyId: keyIdText(f.keyId),
  securityVersion: f.securityVersion,
  checked,
});

export interface BackupResult {
  image: string;
  name: string;
  fsType: string;
  partitionClusters: number;
  imageClusters: number;
  clusterBytes: number;
  usedBytes: number;
  imageBytes: number;
  /** Clusters recorded unreadable (unreadable: "record"). */
  unreadableClusters: number;
  /** Files left out (kept empty in the image) and their clusters. */
  excluded: ExcludedFile[];
  seconds: number;
  notices: string[];
  /** The signature written after the image (sign). */
  signature?: SignatureSummary;
}

/**
 * Backs up a partition into an image: a file (written under a temporary name and renamed over
 * `image` only once it is complete and flushed, so a failed backup leaves the previous image
 * where it was), a block device (in place), or a stream (`-`, a FIFO: front to back). See
 * image-io.ts for what each kind of path gets. Nothing is opened for writing until the source
 * and the image are known to be different stores of bytes and both are locked.
 */
export function backup(core: Core, source: string, options: BackupOptions): BackupResult {
  const t0 = performance.now();
  const what = `backup ${source} --image ${options.image}`;
  const src = describe(source),
    out = describe(options.image);
  requireSeekable(src, "backup's source", "; backup reads its source by sector");
  if (out.kind === "file" || out.kind === "block") refuseOverlap(src, src.extent, out, out.extent, what);
  checkImageOutput(out, { overwrite: options.overwrite });
  const locks = new JobLocks("backup");
  try {
    locks.take(src);
    locks.take(out);
    return backupLocked(core, source, src, out, options, t0, what);
  } finally {
    locks.release();
  }
}

function backupLocked(
  core: Core,
  source: string,
  src: Endpoint,
  out: Endpoint,
  options: BackupOptions,
  t0: number,
  what: string,
): BackupResult {
  core.prepareWrites();
  const signingKey = options.sign ? readPrivateKey(options.sign.keyFile) : undefined; // a bad key fails before anything is read
  const securityVersion = options.sign?.securityVersion ?? 0;
  if (!Number.isSafeInteger(securityVersion) || securityVersion < 0)
    throw new UsageError(`--security-version ${securityVersion}: a whole number from 0`);
  const part = openPartition(core, source, { ...options, exclusive: true });
  const where = `${source}${part.entry ? ` partition ${part.entry.number}` : ""}`;
  const trap = new ReadFailureTrap(part.device); // remembers the source's last failed read, to name the files it hit
  const hs = core.attach(trap);
  let hi = 0;
  let output: ImageOutput | undefined;
  try {
    // the image's range may be part of the same disk as the source (a recovery partition): only the partition read must stay clear of it
    refuseOverlap(
      src,
      narrow(
        src.extent,
        (part.entry?.startLba ?? 0) * part.device.sectorSize,
        part.device.sectorCount * part.device.sectorSize,
      ),
      out,
      out.extent,
      what,
    );
    const mark = readRestoreMark(core, part.device);
    if (mark) throw new ClusterbackError(`${where}: not backed up: ${describeMark(mark)}`);
    let vol: VolumeInfo;
    try {
      // the damage walk keeps the whole FAT (up to 16 MiB): it reads each FAT sector once, whatever the tree's order
      vol = volumeInfo(core, trap, { cachedWindows: CLI_FAT_WINDOWS });
    } catch (e) {
      throw explainVolumeError(core, part, source, nameSourceReadError(core, part.device, trap, e));
    }
    checkImageOutput(out, { overwrite: true, expectedBytes: vol.imageBytes });
    const name =
      options.name ??
      (out.kind === "file" || out.kind === "missing"
        ? path.basename(options.image).replace(/\.[^.]*$/, "")
        : vol.fsType.toLowerCase());
    const nameBytes = imageNameBytes(name);
    // NTFS: the page and hibernation files are always left out, and --exclude's files are left
    // out allocated (section 11.1); FAT and exFAT: --exclude's files become empty files (11, 11.3)
    const plan = planVolumeExclusions(core, part.device, options.exclude ?? []);
    if (plan.unmatched.length)
      throw new UsageError(
        `--exclude ${plan.unmatched.map((p) => `"${p}"`).join(", ")}: no such file or directory in ${source}`,
      );
    if (plan.patches.length > PATCH_MAX)
      throw new ExclusionError(
        `leaving out ${plan.files.map((f) => f.path).join(", ")} needs ${plan.patches.length} patches; the core holds ${PATCH_MAX}`,
      );
    const stale =
      out.kind === "file" || out.kind === "missing"
        ? removeStalePartials(out.kind === "file" ? out.resolved : out.arg)
        : [];
    output = openImageOutput(out);
    // signed: the image's SHA-256 is taken from its writes (the core's memory for a deferred one)
    const thread = signingKey ? core.hashThread() : undefined;
    const writer = signingKey
      ? new DigestingWriter(output.device, core.wasm.mem, thread && threadHash(thread))
      : undefined;
    hi = core.attach(writer ?? output.device);
    setImageParams(core, nameBytes, part.entry?.typeGuid);
    const created = Math.floor((options.created ?? new Date()).getTime() / 1000);
    const flags = options.unreadable === "record" ? 1 : 0;
    loadPatches(core, hs, part.device.sectorSize, plan.patches);
    // the tree against the allocation: what it reaches but the file system marks free is kept (issue 18)
    const walk = walkTree(core, hs, part.device, plan.patches.length);
    core.exports.setPatches(hs, part.device.sectorSize, walk.patchCount);
    try {
      core.check(
        core.exports.backupBeginFlags(
          hs,
          part.device.sectorSize,
          part.device.sectorCount,
          hi,
          part.entry?.type ?? 0,
          part.entry?.startLba ?? 0,
          created,
          flags,
        ),
      );
      core.run(options);
    } catch (e) {
      throw nameSourceReadError(core, part.device, trap, e);
    } finally {
      core.exports.setPatches(hs, part.device.sectorSize, 0);
    }
    const res = core.results();
    const imageClusters = res[Slot.scanAllocated];
    const unreadable = readUnreadable(core);
    const notices = [...walk.notices, ...backupNotices(core, part.device, vol, unreadable, source)];
    for (const f of stale) notices.push(`removed ${f}, left by a backup that did not finish`);
    core.detach(hi);
    hi = 0;
    let signature: SignatureSummary | undefined;
    if (writer && signingKey) {
      const header = writer.digest.header ?? new Uint8Array(0);
      const imageLength = imageLengthOf(header);
      signature = summary(
        writeSignature(core, output.device, header, writer.digest.finish(imageLength), signingKey, securityVersion),
        false,
      );
    }
    const imageBytes = output.commit();
    output = undefined;
    return {
      image: options.image,
      name,
      fsType: vol.fsType,
      partitionClusters: vol.clusterCount,
      imageClusters,
      clusterBytes: vol.clusterBytes,
      usedBytes: vol.usedBytes,
      imageBytes,
      unreadableClusters: unreadable.count,
      excluded: plan.files,
      seconds: (performance.now() - t0) / 1000,
      notices,
      signature,
    };
  } catch (e) {
    const removed = output?.abort();
    output = undefined;
    if (removed && e instanceof Error)
      e.message += ` (the partial image ${removed} was removed; ${options.image} is as it was)`;
    throw e;
  } finally {
    core.detach(hs);
    if (hi) core.detach(hi);
    output?.abort();
    part.close();
  }
}

/**
 * A volume that could not be read, said in the user's terms: a disk given without --partition,
 * a blank partition, an NTFS volume whose boot sector is gone but whose backup is there.
 */
export function explainVolumeError(core: Core, part: OpenedPartition, source: string, e: unknown): unknown {
  if (!(e instanceof VolumeError)) return e;
  const dev = part.device,
    where = `${source}${part.entry ? ` partition ${part.entry.number}` : ""}`;
  const first = new Uint8Array(dev.sectorSize);
  try {
    dev.read(0, 1, first, 0);
  } catch {
    return e;
  }
  if (!part.entry) {
    let table: PartitionTable | undefined;
    try {
      table = readPartitionTable(core, dev);
    } catch {
      /* not a disk either */
    }
    if (table && table.partitions.length > 0) {
      // a refusal that --partition resolves (exit 2), as for restore
      return new UsageError(
        `${source} is a disk with ${table.scheme === "mbr" ? "an" : "a"} ${table.scheme.toUpperCase()} partition table (partitions ${table.partitions.map((p) => p.number).join(", ")}): choose one with --partition N`,
      );
    }
  }
  // NTFS keeps a copy of its boot sector in the partition's last sector: a wiped (all-zero) boot sector is said as such
  const last = new Uint8Array(dev.sectorSize);
  let ntfsBackup = false;
  try {
    dev.read(dev.sectorCount - 1, 1, last, 0);
    ntfsBackup = Buffer.from(last.subarray(3, 11)).toString("latin1") === "NTFS    ";
  } catch {
    /* unreadable: no backup to speak of */
  }
  if (ntfsBackup) {
    e.message = `${where}: the boot sector is not a valid boot record (${first.every((b) => b === 0) ? "it is all zeros" : e.message}), but the last sector holds NTFS's backup boot sector: the NTFS boot sector is damaged (ntfsfix can rebuild it from the backup)`;
    return e;
  }
  if (first.every((b) => b === 0)) {
    e.message = `${where} holds no file system: its first sector is all zeros (a blank partition, or its boot sector was wiped; if it kept a ghost image, try --ghost)`;
    return e;
  }
  e.message = `${where}: ${e.message}`;
  return e;
}

export interface RestoreOptions extends OpenOptions, RunOptions {
  /** Read the restored partition back and compare it with the image (default true). */
  verify?: boolean;
  /** Write every cluster (default: read the target first and write only what differs). */
  full?: boolean;
  /** Read the image once, front to back (a stream); the target stays marked until the whole image has checked out. */
  onePass?: boolean;
  /** Write the volume at sector 0 of a target that carries a partition table (the table is lost). */
  wholeDisk?: boolean;
  /** Restore only an image signed by one of these keys, at this security version or above (docs/image-format.md section 14). */
  trust?: TrustPolicy;
}

export interface RestoreResult {
  image: string;
  target: string;
  partition?: number;
  fsType: string;
  /** Clusters the image holds: all of them are on the target now (only those that differed were written). */
  imageClusters: number;
  /** Bytes written to the target (differential: only what differed), counted at the device. */
  bytesWritten: number;
  /** Bytes read from the target, counted at the device: to compare before writing, and to read back what was written. */
  bytesRead: number;
  /** Of those, the bytes read to compare with the image before writing (0 with `full`). */
  bytesCompared: number;
  /** The target held a "restore in progress" mark (an interrupted restore) when this one began. */
  resumed: boolean;
  /** Clusters the image records as unreadable at backup time: written as zeros. */
  unreadableClusters: number;
  verified: boolean;
  seconds: number;
  /** The image's signature: checked with `trust`, else as found (absent: unsigned). */
  signature?: SignatureSummary;
  /**
   * How the target was written (docs/image-format.md 10): "compare" (the image checked and the
   * target compared in one pass, then only what differs written), "full" (checked, then every
   * cluster written), "one-pass" (a stream, or a target holding nothing to protect).
   */
  mode: RestoreMode;
}

export type RestoreMode = "compare" | "full" | "one-pass";

export interface VerifyResult {
  image: string;
  against?: string;
  imageClusters: number;
  mismatchedClusters: number;
  firstMismatchCluster?: number;
  metadataDiffers: boolean;
  ok: boolean;
  /** The partition matches the image but cannot be walked as a file system: why. */
  unwalkable?: string;
  seconds: number;
  /** The image's signature: checked with `trust`, else as found (absent: unsigned). */
  signature?: SignatureSummary;
}

/**
 * Restores a partition from an image (a file, a block device, or a stream: `-` or a FIFO, read
 * in one pass). From a file nothing is written until the image's header, bitmap, metadata and
 * commit record check out; from a stream the target is marked first and stays marked (not
 * mountable) unless the whole image checks out. Refused before anything is opened for writing:
 * an image that is the target (or lives on it) under any name, a target that is a partitioned
 * disk without --partition (or --whole-disk), and a target another job holds.
 */
export function restore(core: Core, imageFile: string, target: string, options: RestoreOptions = {}): RestoreResult {
  const t0 = performance.now();
  const what = `restore ${imageFile} ${target}`;
  const img = describe(imageFile),
    tgt = describe(target);
  if (img.kind === "missing") throw new UsageError(`${imageFile}: no such image file`);
  if (tgt.kind === "missing")
    throw new UsageError(`${target}: no such target (create it, at least as large as the source partition)`);
  requireSeekable(tgt, "restore's target", "; restore writes its target by sector");
  refuseOverlap(img, img.extent, tgt, tgt.kind === "file" ? tgt.extent : undefined, what);
  const locks = new JobLocks("restore");
  try {
    locks.take(img);
    locks.take(tgt);
    core.prepareWrites();
    const opened = openImageInput(img);
    // with trust: the image's SHA-256 taken as the restore reads it
    const thread = options.trust ? core.hashThread() : undefined;
    const reader = options.trust
      ? new DigestingReader(opened.device, thread && threadHash(thread), core.wasm.mem, inBlockBuffers(core))
      : undefined;
    const input = { ...opened, device: reader ?? opened.device };
    try {
      const header = namedImageHeader(core, input.device, imageFile, target);
      // a partition file has no table to tell its sector size, and a blank one no boot sector: take the image's
      const sectorSize =
        options.sectorSize ??
        (options.partition === undefined && tgt.kind !== "block" ? header.sectorBytes : undefined);
      const writes = targetWriteExtent(core, target, tgt, { ...options, sectorSize }, header);
      refuseOverlap(img, img.extent, tgt, writes, what);
      const part = openPartition(core, target, { ...options, sectorSize, writable: true, exclusive: true });
      try {
        // the job may write the source partition's extent of the target, and nothing else
        const guarded = new WriteGuard(part.device, 0, Math.min(part.device.sectorCount, header.partitionSectors));
        const label = imageFile === "-" ? "standard input" : imageFile;
        // a blank target holds nothing to protect: it is written in one pass over the image, every
        // cluster (docs/image-format.md 10.1); not under a signature policy, which is checked
        // before anything is written
        const blank = !options.onePass && !options.full && !input.stream && !options.trust && holdsNothing(part.device);
        const onePass = options.onePass || input.stream || blank;
        // the signature is checked before the first sector reaches the target (one pass: before the boot sector)
        const gate =
          reader && options.trust
            ? new SignatureGate(
                guarded,
                () => checkRead(core, reader, label, options.trust!),
                onePass ? "boot" : "first",
              )
            : undefined;
        const r = runRestore(
          core,
          input.device,
          label,
          part,
          guarded,
          header,
          target,
          { ...options, onePass, full: options.full || blank },
          t0,
          gate,
        );
        const found = gate?.fields ?? signatureInfo(core, opened.device, headerBytes(opened.device), label);
        return { ...r, signature: found && summary(found, gate !== undefined) };
      } finally {
        part.close();
      }
    } finally {
      input.close();
    }
  } finally {
    locks.release();
  }
}

/** A comparison that matched, walked: not ok when the partition's tree cannot be walked as a file system. */
function walked<C extends Comparison>(core: Core, dev: BlockDevice, v: C): C {
  try {
    walkNotices(core, dev);
    return v;
  } catch (e) {
    return { ...v, ok: false, unwalkable: (e as Error).message };
  }
}

/** The notices of a walk of the volume on `dev` against its allocation (FAT12/16/32, exFAT, NTFS), for info. */
function walkNotices(core: Core, dev: BlockDevice): string[] {
  const h = core.attach(dev);
  try {
    return walkTree(core, h, dev, 0, "info").notices;
  } finally {
    core.detach(h);
  }
}

/** Whether a range of the core's memory lies in its block buffers, io and io2 (core-abi.json inFlight). */
function inBlockBuffers(core: Core): (ptr: number, bytes: number) => boolean {
  const io = core.exports.ioPtr(),
    io2 = core.exports.io2Ptr();
  return (p, n) => (p >= io && p + n <= io + IO_BYTES) || (p >= io2 && p + n <= io2 + IO_BYTES);
}

/** Bytes at the start of a target that must be zero for it to count as blank: where file systems and containers keep their first structures (LUKS and XFS at 0, ext at 1 KiB, swap at 4 KiB, ISO 9660 at 32 KiB, btrfs at 64 KiB). */
const BLANK_PROBE_BYTES = 128 << 10;

/**
 * The target is blank: its first BLANK_PROBE_BYTES are zeros, so it holds no volume (of any
 * kind) and no restore mark: nothing a restore must protect. Garbage is not blank: it may be
 * something this tool does not know.
 */
function holdsNothing(dev: BlockDevice): boolean {
  const sectors = Math.min(dev.sectorCount, BLANK_PROBE_BYTES / dev.sectorSize);
  const head = new Uint8Array(sectors * dev.sectorSize);
  dev.read(0, sectors, head, 0);
  return head.every((b) => b === 0);
}

/** The image's header, its errors naming the file (and saying so when the arguments look swapped). */
function namedImageHeader(core: Core, device: BlockDevice, imageFile: string, other?: string): ImageInfo {
  try {
    return imageHeader(core, device);
  } catch (e) {
    if (!(e instanceof ClusterbackError)) throw e;
    const code = (e as { codeName?: string }).codeName;
    const swapped = other !== undefined && code === "E_IMG_MAGIC" && fileStartsWithImage(other);
    // the core counts whole 512-byte sectors: say how many bytes the file really has
    if (code === "E_IMG_TRUNCATED" && device instanceof FileDevice)
      e.message = `image is ${device.byteLength} bytes, its header needs ${(e as unknown as CoreErrorLike).values[1]}: it is truncated`;
    e.message = `${imageFile}: ${e.message}${swapped ? `; ${other} is a clusterback image: the arguments look swapped (restore IMAGE TARGET)` : ""}`;
    // swapped arguments: the command cannot run as typed (exit 2)
    throw swapped ? new UsageError(e.message) : e;
  }
}

interface CoreErrorLike {
  values: number[];
}

function fileStartsWithImage(file: string): boolean {
  try {
    return describe(file).kind === "file" && isImageFile(file);
  } catch {
    return false;
  }
}

/**
 * The byte range of the target that a restore would write, found by reading it (nothing opened
 * for writing). A target with a partition table is refused without --partition or --whole-disk.
 */
function targetWriteExtent(
  core: Core,
  target: string,
  tgt: Endpoint,
  options: RestoreOptions,
  header: ImageInfo,
): Extent | undefined {
  const look = openPartition(core, target, { ...options, writable: false });
  try {
    const ss = look.device.sectorSize;
    if (!look.entry && !options.wholeDisk) refusePartitionedTarget(core, look.device, target, header);
    const start = (look.entry?.startLba ?? 0) * ss;
    return narrow(tgt.extent, start, Math.min(look.device.sectorCount, header.partitionSectors) * ss);
  } finally {
    look.close();
  }
}

/** Refuses a whole disk with a partition table as a restore target, listing its partitions. */
function refusePartitionedTarget(core: Core, dev: BlockDevice, target: string, header: ImageInfo): void {
  const h = core.attach(dev);
  let volume = false;
  try {
    volume = core.exports.probeVolume(h, dev.sectorSize, dev.sectorCount) >= 0;
  } finally {
    core.detach(h);
  }
  if (volume) return;
  let table: PartitionTable | undefined;
  try {
    table = readPartitionTable(core, dev);
  } catch {
    return;
  }
  if (!table || table.partitions.length === 0) return;
  const list = table.partitions.map((p) => `${p.number}: LBA ${p.startLba}, ${p.sectorCount} sectors`).join("; ");
  const from = table.partitions.find((p) => p.startLba === header.partitionStart && header.partitionStart > 0);
  const hint = from
    ? `; the image came from a partition at LBA ${header.partitionStart}, like partition ${from.number} here: --partition ${from.number}`
    : "";
  throw new UsageError(
    `${target} is a disk with ${table.scheme === "mbr" ? "an" : "a"} ${table.scheme.toUpperCase()} partition table (${list}): choose --partition N${hint}, or give --whole-disk to write the volume over the table; nothing was written`,
  );
}

function runRestore(
  core: Core,
  img: BlockDevice,
  imageLabel: string,
  part: OpenedPartition,
  guarded: WriteGuard,
  header: ImageInfo,
  target: string,
  options: RestoreOptions,
  t0: number,
  gate?: SignatureGate,
): RestoreResult {
  const hi = core.attach(img),
    ht = core.attach(gate ?? guarded);
  try {
    const verified = options.verify ?? true;
    const resumed = readRestoreMark(core, part.device) !== undefined;
    try {
      core.check(
        core.exports.restoreBegin(
          hi,
          img.sectorCount * (img.sectorSize / 512),
          ht,
          part.device.sectorSize,
          part.device.sectorCount,
          restoreFlags(verified, options),
        ),
      );
      core.run(options);
      gate?.ensure(); // a restore that wrote nothing (an intact target) is refused all the same
    } catch (e) {
      throw nameJobError(e, imageLabel, `${target}${part.entry ? ` partition ${part.entry.number}` : ""}`);
    }
    const res = core.results();
    const clusters = res[Slot.clustersDone];
    const unreadable = res[Slot.unreadableCount];
    const v = comparison(core);
    // what was written must read back as a file system: its tree walked as a backup walks it (issue 18)
    const w = verified && v.ok ? walked(core, part.device, v) : v;
    if (!w.ok) throw new ClusterbackError(`${target}: restore verification failed: ${describeMismatch(w)}`);
    return {
      image: imageLabel,
      target,
      partition: part.entry?.number,
      fsType: header.fsType,
      imageClusters: clusters,
      bytesWritten: guarded.sectorsWritten * guarded.sectorSize,
      bytesRead: guarded.sectorsRead * guarded.sectorSize,
      bytesCompared: res[Slot.targetBytesRead],
      resumed,
      unreadableClusters: unreadable,
      verified,
      seconds: (performance.now() - t0) / 1000,
      mode: options.onePass ? "one-pass" : options.full ? "full" : "compare",
    };
  } finally {
    core.detach(hi);
    core.detach(ht);
  }
}

/** A core error of a restore or verify, said with the name of what it is about: the image, or the target. */
function nameJobError(e: unknown, imageLabel: string, target?: string): unknown {
  if (e instanceof ImageError) e.message = `${imageLabel}: ${e.message}`;
  else if (target && e instanceof CoreError && (e.codeName === "E_TARGET_SMALL" || e.codeName === "E_TARGET_SECTOR"))
    e.message = `${target}: ${e.message}`;
  return e;
}

function restoreFlags(verified: boolean, options: RestoreOptions): number {
  return (
    (verified ? RestoreFlag.readBack : 0) |
    (options.full ? RestoreFlag.full : 0) |
    (options.onePass ? RestoreFlag.onePass : 0)
  );
}

function runVerify(
  core: Core,
  hi: number,
  img: BlockDevice,
  ht: number,
  against: BlockDevice | undefined,
  options: RunOptions,
): Omit<VerifyResult, "image" | "seconds"> {
  core.check(
    core.exports.verifyBegin(
      hi,
      img.sectorCount,
      against ? ht : NO_DEVICE,
      against?.sectorSize ?? 0,
      against?.sectorCount ?? 0,
    ),
  );
  core.run(options);
  const none = { mismatchedClusters: 0, firstMismatchCluster: undefined, metadataDiffers: false, ok: true };
  const imageClusters = core.results()[Slot.imgImageClusters];
  if (!against) return { imageClusters, ...none };
  // a partition that matches the image must also read back as a file system (issue 18)
  const v = comparison(core);
  return { imageClusters, ...(v.ok ? walked(core, against, v) : v) };
}

export interface VerifyOptions extends OpenOptions, RunOptions {
  /** A partition (file, or disk with `partition`) to compare with the image. */
  against?: string;
  /** Accept only an image signed by one of these keys, at this security version or above. */
  trust?: TrustPolicy;
}

/** Checks every check in an image; with `against`, compares a partition with it. Writes nothing. */
export function verify(core: Core, imageFile: string, options: VerifyOptions = {}): VerifyResult {
  const t0 = performance.now();
  const img = describe(imageFile),
    ag = options.against !== undefined ? describe(options.against) : undefined;
  if (img.kind === "missing") throw new UsageError(`${imageFile}: no such image file`);
  if (ag?.kind === "missing") throw new UsageError(`${options.against}: no such partition or disk to compare against`);
  if (ag) requireSeekable(ag, "partition to compare against");
  return withLocks("verify", [img, ag], () => {
    const opened = openImageInput(img);
    // a stream's header is checked before it is copied to a temporary file (a crafted length is refused first)
    if (opened.stream) {
      try {
        namedImageHeader(core, opened.device, imageFile);
      } catch (e) {
        opened.close();
        throw e;
      }
    }
    const spooled = spoolStream(opened);
    const reader = options.trust ? new DigestingReader(spooled.device) : undefined;
    const input = { ...spooled, device: reader ?? spooled.device };
    let part: OpenedPartition | undefined;
    try {
      const header = namedImageHeader(core, input.device, imageFile);
      const sectorSize =
        options.sectorSize ??
        (ag && options.partition === undefined && ag.kind !== "block" ? header.sectorBytes : undefined);
      part = options.against
        ? openPartition(core, options.against, { ...options, sectorSize, writable: false, exclusive: true })
        : undefined;
      const hi = core.attach(input.device),
        ht = part ? core.attach(part.device) : 0;
      try {
        let v: Omit<VerifyResult, "image" | "seconds">;
        const label = imageFile === "-" ? "standard input" : imageFile;
        try {
          v = runVerify(core, hi, input.device, ht, part?.device, options);
        } catch (e) {
          throw nameJobError(e, label, options.against);
        }
        const found =
          reader && options.trust
            ? checkRead(core, reader, label, options.trust)
            : signatureInfo(core, spooled.device, headerBytes(spooled.device), label);
        return {
          image: label,
          against: options.against,
          ...v,
          seconds: (performance.now() - t0) / 1000,
          signature: found && summary(found, reader !== undefined),
        };
      } finally {
        core.detach(hi);
        if (ht) core.detach(ht);
      }
    } finally {
      input.close();
      part?.close();
    }
  });
}

export interface SignResult {
  image: string;
  imageClusters: number;
  signature: SignatureSummary;
  /** An earlier signature this one replaced. */
  replaced?: SignatureSummary;
  seconds: number;
}

/**
 * Signs an image after the fact (a factory line's signing station): checks the whole image,
 * taking its SHA-256 as the check reads it, then writes the signature section after its commit
 * record (replacing one that is there). The image's own bytes are not rewritten.
 */
export function sign(core: Core, imageFile: string, keyFile: string, securityVersion = 0): SignResult {
  const t0 = performance.now();
  const key = readPrivateKey(keyFile);
  if (!Number.isSafeInteger(securityVersion) || securityVersion < 0)
    throw new UsageError(`--security-version ${securityVersion}: a whole number from 0`);
  const img = describe(imageFile);
  if (img.kind === "missing") throw new UsageError(`${imageFile}: no such image file`);
  if (img.kind !== "file" && img.kind !== "block")
    throw new UsageError(`${imageFile}: sign writes into the image; give a file or a block device, not a stream`);
  return withLocks("sign", [img], () => {
    const device = new FileDevice(imageFile, {
      sectorSize: 512,
      writable: true,
      growable: img.kind === "file",
      exclusive: exclusiveDiskKey(imageFile),
    });
    try {
      const reader = new DigestingReader(device);
      namedImageHeader(core, reader, imageFile);
      const hi = core.attach(reader);
      let v: Omit<VerifyResult, "image" | "seconds">;
      try {
        v = runVerify(core, hi, reader, 0, undefined, {});
      } catch (e) {
        throw nameJobError(e, imageFile);
      } finally {
        core.detach(hi);
      }
      const header = headerBytes(device);
      const imageLength = imageLengthOf(header);
      if (img.kind === "block" && imageLength + 512 > device.sectorCount * 512)
        throw new UsageError(
          `${imageFile}: no room for the signature after the image (${imageLength} of ${device.sectorCount * 512} bytes used)`,
        );
      const before = signatureInfo(core, device, header, imageFile);
      const f = writeSignature(core, device, header, reader.digest.finish(imageLength), key, securityVersion);
      device.flush();
      return {
        image: imageFile,
        imageClusters: v.imageClusters,
        signature: summary(f, false),
        replaced: before && summary(before, false),
        seconds: (performance.now() - t0) / 1000,
      };
    } finally {
      device.close();
    }
  });
}

/** An image's header sector as it is stored. */
function headerBytes(device: BlockDevice): Uint8Array {
  const b = new Uint8Array(512);
  device.read(0, 1, b, 0);
  return b;
}

/** Runs `job` holding the locks of every endpoint given (streams and absent ones need none). */
function withLocks<T>(command: string, endpoints: (Endpoint | undefined)[], job: () => T): T {
  const locks = new JobLocks(command);
  try {
    for (const e of endpoints) if (e) locks.take(e);
    return job();
  } finally {
    locks.release();
  }
}

/** A partition that a ghost job reads and writes in place: a file or block device, locked for the job. */
function ghostEndpoint(target: string): Endpoint {
  const e = describe(target);
  if (e.kind === "missing") throw new UsageError(`${target}: no such partition or disk`);
  requireSeekable(e, "partition");
  return e;
}

// ---- the ghost image (docs/image-format.md section 12, firmware-module/src/ops/ghost.ts) -------------

export interface GhostInfo extends G.FoundGhost {
  image?: ImageInfo;
}

export interface GhostBackupOptions extends OpenOptions, RunOptions {
  /** The ghost file's path in the partition (8.3 names; default \RECOVERY.CBI). */
  ghostName?: string;
  name?: string;
  created?: Date;
  unreadable?: "fail" | "record";
  exclude?: string[];
}

export interface GhostBackupResult extends BackupResult {
  ghost: {
    path: string;
    startSector: number;
    sectors: number;
    replaced: boolean;
    leftover: "none" | "renamed" | "removed" | "switch finished";
  };
}

/** The image length a backup through `patches` would write (a scan, nothing written). */

/**
 * Backs up a FAT, exFAT or NTFS partition into its own ghost file (section 12): a new contiguous hidden,
 * system, read-only file, switched in for the old one only after its image is committed.
 */
export function backupGhost(core: Core, source: string, options: GhostBackupOptions = {}): GhostBackupResult {
  return withLocks("backup --ghost", [ghostEndpoint(source)], () => backupGhostLocked(core, source, options));
}

function backupGhostLocked(core: Core, source: string, options: GhostBackupOptions): GhostBackupResult {
  const t0 = performance.now();
  const part = openPartition(core, source, { ...options, writable: true, exclusive: true });
  const where = `${source}${part.entry ? ` partition ${part.entry.number}` : ""}`;
  try {
    const job = new GhostBackupJob(core, part.device, where, {
      ...options,
      partType: part.entry?.type,
      partStart: part.entry?.startLba,
      typeGuid: part.entry?.typeGuid,
    });
    job.begin();
    try {
      core.run(options);
    } catch (e) {
      job.abandon();
      throw nameSourceReadError(core, part.device, job.trap, e);
    }
    const done = job.finish();
    const notices = [...job.walkNotices, ...backupNotices(core, part.device, job.vol, done.unreadable, source)];
    return {
      image: `${where} ${job.path}`,
      name: job.name,
      fsType: job.vol.fsType,
      partitionClusters: job.vol.clusterCount,
      imageClusters: done.imageClusters,
      clusterBytes: job.vol.clusterBytes,
      usedBytes: job.vol.usedBytes,
      imageBytes: done.imageBytes,
      unreadableClusters: done.unreadable.count,
      excluded: job.excluded,
      seconds: (performance.now() - t0) / 1000,
      notices,
      ghost: {
        path: job.path,
        startSector: job.extent.startSector,
        sectors: job.extent.sectors,
        replaced: job.replaced,
        leftover: job.leftover,
      },
    };
  } finally {
    part.close();
  }
}

/** Opens a partition and finds its ghost image (by directory, else by the search), reopening with the sector size a locator names. */
function openGhost(
  core: Core,
  target: string,
  options: OpenOptions & { ghostName?: string },
): { part: OpenedPartition; ghost: G.FoundGhost; header: ImageInfo } {
  if (!fs.existsSync(target)) throw new UsageError(`${target}: no such partition or disk`);
  let part = openPartition(core, target, { ...options, exclusive: true });
  try {
    let ghost = G.findGhost(core, part.device, { name: options.ghostName });
    if (ghost && ghost.sectorBytes !== part.device.sectorSize) {
      const size = ghost.sectorBytes;
      part.close();
      part = openPartition(core, target, { ...options, sectorSize: size, exclusive: true });
      const ok = G.checkGhost(core, part.device, ghost);
      ghost = ok ? { ...ghost, ...ok, sectorBytes: size } : undefined;
    }
    const where = `${target}${part.entry ? ` partition ${part.entry.number}` : ""}`;
    if (!ghost)
      throw new G.GhostError(
        `${where}: no ghost image: ${G.ghostPath(options.ghostName)} is not in its directory (or the volume cannot be read), and no locator or image header checks anywhere in its ${part.device.sectorCount} sectors`,
      );
    return { part, ghost, header: imageHeader(core, G.ghostDevice(part.device, ghost)) };
  } catch (e) {
    part.close();
    throw e;
  }
}

/** Restores a partition from its own ghost image; the ghost's extent is never written, and stays valid for the next restore. */
export function restoreGhost(
  core: Core,
  target: string,
  options: RestoreOptions & { ghostName?: string } = {},
): RestoreResult & { ghost: G.FoundGhost } {
  return withLocks("restore --ghost", [ghostEndpoint(target)], () => restoreGhostLocked(core, target, options));
}

function restoreGhostLocked(
  core: Core,
  target: string,
  options: RestoreOptions & { ghostName?: string },
): RestoreResult & { ghost: G.FoundGhost } {
  const t0 = performance.now();
  core.prepareWrites();
  const { part, ghost, header } = openGhost(core, target, { ...options, writable: true });
  try {
    const guarded = new WriteGuard(part.device, 0, Math.min(part.device.sectorCount, header.partitionSectors), ghost);
    const label = `${target}${part.entry ? ` partition ${part.entry.number}` : ""} ${ghost.path ?? `ghost at sector ${ghost.startSector}`}`;
    const r = runRestore(core, G.ghostDevice(part.device, ghost), label, part, guarded, header, target, options, t0);
    G.clearSwitchMark(part.device, ghost);
    return { ...r, ghost };
  } finally {
    part.close();
  }
}

/** Checks a partition's ghost image and compares the partition with it. Writes nothing. */
export function verifyGhost(
  core: Core,
  target: string,
  options: OpenOptions & RunOptions & { ghostName?: string } = {},
): VerifyResult & { ghost: G.FoundGhost } {
  return withLocks("verify --ghost", [ghostEndpoint(target)], () => verifyGhostLocked(core, target, options));
}

function verifyGhostLocked(
  core: Core,
  target: string,
  options: OpenOptions & RunOptions & { ghostName?: string },
): VerifyResult & { ghost: G.FoundGhost } {
  const t0 = performance.now();
  const { part, ghost } = openGhost(core, target, { ...options, writable: false });
  const img = G.ghostDevice(part.device, ghost);
  const hi = core.attach(img),
    ht = core.attach(part.device);
  try {
    const v = runVerify(core, hi, img, ht, part.device, options);
    return {
      image: `${target} ${ghost.path ?? `ghost at sector ${ghost.startSector}`}`,
      against: target,
      ...v,
      seconds: (performance.now() - t0) / 1000,
      ghost,
    };
  } finally {
    core.detach(hi);
    core.detach(ht);
    part.close();
  }
}

/** The partition's ghost image for info: by directory, or (search) by the locator search too. */
export function ghostInfo(
  core: Core,
  device: BlockDevice,
  options: { ghostName?: string; search?: boolean } = {},
): GhostInfo | undefined {
  const ghost = G.findGhost(core, device, { name: options.ghostName, search: options.search ?? false });
  if (!ghost) return undefined;
  if (ghost.sectorBytes !== device.sectorSize) return ghost;
  return { ...ghost, image: imageHeader(core, G.ghostDevice(device, ghost)) };
}
