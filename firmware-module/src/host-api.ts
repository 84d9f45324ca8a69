// The firmware's host API: generated from firmware-module/contract/host-api.json by firmware-module/contract/generate.js: do not edit.
// docs/host-api.md is the integrator's reference.

import type { Profile } from "../../device-profiles/src/profile";
export type { Profile };

/** One entry of the disk's partition table. */
export interface PartitionEntry {
  /** 1-based, as the table numbers it (MBR: 1-4 primary, 5 up logical). */
  number: number;
  scheme: "mbr" | "gpt";
  /** MBR type byte (0 on GPT). */
  type: number;
  /** GPT only: the type GUID, upper-case 8-4-4-4-12 text. */
  typeGuid?: string;
  /** First sector, in the disk's sectors. */
  startLba: number;
  /** Length, in the disk's sectors. */
  sectorCount: number;
  /** What is wrong with this entry (bad, or sharing sectors with another): listed, and refused when chosen. */
  problem?: string;
}

/** The disk's partition table, read once when the host starts (the core's scanPartitions, docs/core-abi.md). */
export interface PartitionTable {
  scheme: "mbr" | "gpt";
  /** The disk's sector size in bytes: 512 or 4096. */
  sectorSize: number;
  partitions: PartitionEntry[];
  /** What is wrong with the table as a whole, yet read past (the backup GPT in use, an EBR chain cut short). */
  warnings: string[];
}

/** What the image's header says (docs/image-format.md), after its header and bitmap checked. */
export interface ImageHeader {
  /** The image's name (UTF-8, at most 64 bytes). */
  name: string;
  /** Image format version, "1.<minor>". */
  version: string;
  /** FsType text of core-abi.json: FAT12, FAT16, FAT32, exFAT, NTFS. */
  fsType: string;
  partitionClusters: number;
  /** Clusters stored in the image. */
  imageClusters: number;
  bitmapBits: number;
  clusterBytes: number;
  /** The source partition's sector size: a restore target must have it. */
  sectorBytes: number;
  /** MBR type byte of the source (0 on GPT). */
  partitionType: number;
  /** GPT type GUID of the source, when it had one. */
  partitionTypeGuid?: string;
  /** The source's first LBA on its disk. */
  partitionStart: number;
  partitionSectors: number;
  /** ISO 8601, UTC. */
  created: string;
  imageBytes: number;
  blocks: number;
  /** The source volume's dirty flag was set at backup time. */
  sourceDirty: boolean;
  /** A ghost image: its own extent inside the partition it backs up (partition sectors). */
  ghost?: { startSector: number; sectors: number };
}

/** One valid image: the store's slot entry (docs/recovery-store.md), and the header's information or the reason it could not be read. On a ghost printer (profile imageLocation "ghost") there is at most one, slot 0. */
export interface ImageEntry {
  /** 0 is the factory slot. */
  slot: number;
  /** listImages lists valid slots only (a slot table also knows empty and writing). */
  state: "valid";
  kind: "factory" | "backup";
  /** The store's commit counter when the image was committed (ghost: its creation time, s). */
  commit: number;
  imageBytes: number;
  /** Seconds since 1970 (UTC). */
  created: number;
  /** CRC-32 of the image's first sector as the slot table recorded it (0 on a ghost printer). */
  headerCrc: number;
  /** Byte offset of the manifest in the slot. */
  manifestOffset: number;
  manifestBytes: number;
  manifestCrc: number;
  /** The partition the image was taken from. */
  sourcePartition: number;
  name: string;
  /** The image's HeaderCheck, 16 hex digits: what a restore mark names. */
  headerCheck?: string;
  image?: ImageHeader;
  /** Present instead of image and headerCheck when the image's header or bitmap did not check. */
  error?: string;
}

/** One thing wrong with the partition. */
export interface HealthProblem {
  kind: "restore-in-progress" | "boot" | "dir-unreadable" | "critical-file" | "fat-copies" | "fsinfo" | "loop" | "cross-link" | "out-of-range" | "bad-cluster-in-file" | "size-mismatch" | "bad-name" | "lost-clusters";
  /** fatal: the partition must be restored; minor (fsinfo, lost-clusters): what an unclean shutdown leaves, never a reason to restore. */
  severity: "fatal" | "minor";
  /** A sentence for a log or a panel. */
  detail: string;
  /** The file or directory concerned, DOS style (\FIRMWARE\MAIN.BIN). */
  path?: string;
}

/** An interrupted restore's mark (docs/image-format.md section 10): which image to finish it from. */
export interface RestoreMark {
  /** The image's HeaderCheck, 16 hex digits (ImageEntry.headerCheck). */
  headerCheck: string;
  /** The image's creation time, ISO 8601. */
  created: string;
  name: string;
}

/** The health of a FAT partition: boot record, FAT copies, FSInfo, the directory walk, and the files of the manifest kept with the newest valid image taken from that partition (size and SHA-256). No problem: ok. A restore mark on the partition: only that problem, and restoreInProgress. */
export interface HealthReport {
  /** No problem at all. */
  ok: boolean;
  /** A fatal problem was found. */
  restoreNeeded: boolean;
  /** Not bounded in number today (one per damaged chain or file). */
  problems: HealthProblem[];
  /** Files the directory walk reached. */
  files: number;
  /** Files in the manifest checked against (0: no image of this partition, or its manifest unreadable). */
  manifestFiles: number;
  restoreInProgress?: RestoreMark;
}

/** begin("backup", ...). */
export interface BackupParams {
  /** The partition to back up. */
  partition: number;
  /** The store's slot to write (default: the store picks an empty slot, else the oldest backup; never the only good image). Ignored on a ghost printer. */
  slot?: number;
  /** A factory image (slot 0; a ghost marked factory). */
  factory?: boolean;
  /** The image's name (default "factory" or "backup-<ISO time>"). */
  name?: string;
}

/** begin("restore", ...). */
export interface RestoreParams {
  slot: number;
  /** The target partition (a ghost image restores the system partition only). */
  partition: number;
  /** Read every written cluster back (default true). */
  verify?: boolean;
  /** Write every cluster, even those that already match (default false: differential). */
  full?: boolean;
}

/** begin("verify", ...). */
export interface VerifyParams {
  slot: number;
  /** Also compare this partition with the image. */
  against?: number;
}

/** begin's parameters: BackupParams, RestoreParams or VerifyParams, as kind says (the shapes overlap: kind, not the object, decides). */
export type JobParams = BackupParams | RestoreParams | VerifyParams;

/** A backup: the slot it writes. A restore or verify: {}. */
export interface BeginResult {
  slot?: number;
}

/** The job's progress after one step. */
export interface StepResult {
  /** The last step: call finish(). */
  done: boolean;
  /** The core's phase, in words (the text of core-abi.json's Phase enum; "?" for a value the host does not know). */
  phase: "scanning FAT" | "copying metadata" | "copying clusters" | "checking header" | "checking bitmap" | "checking metadata" | "checking commit" | "clusters" | "metadata" | "done" | "?";
  bytesDone: number;
  /** May grow while a backup scans. */
  bytesTotal: number;
}

/** finish() of a backup: the image is committed. */
export interface BackupResult {
  kind: "backup";
  slot: number;
  name: string;
  imageBytes: number;
  /** Files in the manifest kept with the image. */
  manifestFiles: number;
  /** Files left out (the profile's exclude). */
  excludedFiles: number;
  /** The store's commit counter (ghost: the creation time, s). */
  commit: number;
  /** Ghost printers: the ghost file's path. */
  ghost?: string;
}

/** finish() of a restore or verify that found no difference. */
export interface CompareResult {
  kind: "restore" | "verify";
  slot: number;
  /** The slot's name ("" on a ghost printer today). */
  name: string;
  /** Clusters processed. */
  clusters: number;
  /** Bytes written to the target (a differential restore writes only what differs; verify: 0). */
  bytesWritten: number;
  /** Bytes of the target read (compared or read back). */
  bytesRead: number;
}

/** finish()'s result, by the job's kind. */
export type JobResult = BackupResult | CompareResult;

/** What the firmware reports to the host's progress(): the job's kind and its last StepResult's figures. */
export interface Progress {
  kind: "backup" | "restore" | "verify";
  /** StepResult.phase, or "starting" before the first step. */
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}

/** The global `host` the native side installs in QuickJS before the firmware bundle runs. */
export interface HostApi {
  /**
   * Writes one line to the printer's log.
   */
  log(message: string): void;
  /**
   * Wall-clock time: milliseconds since 1970-01-01 UTC, fractions allowed. Used for image names and times, progress pacing (at most one progress() per 100 ms) and the boot report's seconds. Must not go backwards within a job.
   */
  now(): number;
  /**
   * The printer model's device profile, as JSON. The firmware reads roles of partitions (system, recovery, spool), imageLocation and panel from it.
   * @returns JSON: Profile
   */
  profile(): string;
  /**
   * The disk's partition table, as read when the host started.
   * @returns JSON: PartitionTable
   */
  partitions(): string;
  /**
   * The valid images, newest first (recovery-partition printers: in the store's order; ghost printers: the ghost, if one is found), each with its header's information. An image whose header or bitmap fails its check is listed with error instead of image.
   * @returns JSON: ImageEntry[]
   * @throws StoreError, UsageError, DeviceError
   */
  listImages(): string;
  /**
   * The health of a FAT partition, checked against the manifest kept with the newest valid image taken from it (critical files present, same size, same SHA-256).
   * @returns JSON: HealthReport
   * @throws UsageError, PartitionEntryError, StoreError, DeviceError
   */
  health(partition: number): string;
  /**
   * Starts a job: "backup" (BackupParams), "restore" (RestoreParams) or "verify" (VerifyParams). Everything that can refuse the job refuses here, before anything is written (a backup never gives up the only good image). One job at a time.
   * @param paramsJson JSON: JobParams
   * @returns JSON: BeginResult
   * @throws FirmwareError, SyntaxError, JobError, StoreError, UsageError, PartitionEntryError, ExclusionError, VolumeError, ImageError, GhostError, DeviceError
   */
  begin(kind: "backup" | "restore" | "verify", paramsJson: string): string;
  /**
   * Runs the job for about budgetBytes of device I/O (the core's step, docs/core-abi.md) and reports progress. The firmware calls it until done, polling shouldCancel() and reporting progress() between calls.
   * @returns JSON: StepResult
   * @throws JobError, ImageError, VolumeError, CoreError, DeviceError
   */
  step(budgetBytes: number): string;
  /**
   * After the step that said done: commits a backup (the slot table, the manifest; a ghost backup switches the new ghost in) or checks a restore's or verify's comparison. The job is over when it returns or throws.
   * @returns JSON: JobResult
   * @throws JobError, StoreError, GhostError, DeviceError
   */
  finish(): string;
  /**
   * Whether cancelling the running job now leaves everything as it was (a restore that has begun writing does not: it must finish). false without a job.
   */
  cancellable(): boolean;
  /**
   * Ends the running job without finish: a cancelled backup leaves its slot invalid and every other image as it was; a ghost backup's new file is removed. Nothing happens without a job. The firmware calls it only when cancellable() says true.
   * @throws GhostError, DeviceError
   */
  cancel(): void;
  /**
   * The firmware's progress report for whoever watches (the panel, a log, a management interface): at most one per 100 ms of now(), and one at the end of every job.
   * @param json JSON: Progress
   */
  progress(json: string): void;
  /**
   * The host's own cancel request (a key held, a watchdog, a shutdown), polled by the firmware between steps. The firmware cancels only a cancellable job; a restore that has begun writing runs to its end.
   */
  shouldCancel(): boolean;
}

/** What each host function that returns JSON returns, decoded. */
export interface HostJsonResults {
  profile: Profile;
  partitions: PartitionTable;
  listImages: ImageEntry[];
  health: HealthReport;
  begin: BeginResult;
  step: StepResult;
  finish: JobResult;
}

/** The names of the functions, in declaration order. */
export const HOST_FUNCTIONS = ["log","now","profile","partitions","listImages","health","begin","step","finish","cancellable","cancel","progress","shouldCancel"] as const;
