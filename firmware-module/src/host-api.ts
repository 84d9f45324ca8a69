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
  kind: "restore-in-progress" | "boot" | "dir-unreadable" | "critical-file" | "fat-copies" | "fsinfo" | "loop" | "cross-link" | "out-of-range" | "bad-cluster-in-file" | "size-mismatch" | "bad-name" | "lost-clusters" | "marked-free" | "set-checksum";
  /** fatal: the partition must be restored; minor (fsinfo, lost-clusters): what an unclean shutdown leaves, never a reason to restore. exFAT adds marked-free (the tree reaches clusters its allocation bitmap marks free) and set-checksum (a file entry set whose SetChecksum does not match). */
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

/** begin("backup", ...). Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
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

/** begin("restore", ...). Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
export interface RestoreParams {
  slot: number;
  /** The target partition (a ghost image restores the system partition only). */
  partition: number;
  /** Read every written cluster back (default true). */
  verify?: boolean;
  /** Write every cluster, even those that already match (default false: differential). */
  full?: boolean;
}

/** begin("verify", ...). Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
export interface VerifyParams {
  slot: number;
  /** Also compare this partition with the image. */
  against?: number;
}

/** begin's parameters: BackupParams, RestoreParams or VerifyParams, as kind says (the shapes overlap: kind, not the object, decides). Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
export type JobParams = BackupParams | RestoreParams | VerifyParams;

/** A backup: the slot it writes. A restore or verify: {}. Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
export interface BeginResult {
  slot?: number;
}

/** The job's progress after one step. Inside the bundle only (its Printer's begin/step/finish, firmware-module/src/api.ts): nothing a native host sends or receives; the native side calls firmware.backup, restore and verify (section 8). */
export interface StepResult {
  /** The last step: call finish(). */
  done: boolean;
  /** The core's phase, in words (the text of core-abi.json's Phase enum; "?" for a value the host does not know). */
  phase: "scanning FAT" | "copying metadata" | "copying clusters" | "checking header" | "checking bitmap" | "checking metadata" | "checking commit" | "clusters" | "metadata" | "done" | "?";
  bytesDone: number;
  /** May grow while a backup scans. */
  bytesTotal: number;
}

/** finish() of a backup: the image is committed. The result of firmware.backup (section 8). */
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
  /** What the backup found wrong with the file system and kept all the same, each in one sentence that names the file or structure and what to run: clusters the directory tree reaches that the FAT or bitmap marks free (copied into the image), cross-linked clusters. Absent when there is nothing to say. */
  notices?: string[];
}

/** finish() of a restore or verify that found no difference. The result of firmware.restore and firmware.verify (section 8). */
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

/** The disk the host opened for the firmware. */
export interface DiskInfo {
  /** Its descriptor (also a core device handle). */
  handle: number;
  /** For messages (a device path, "emmc0"). */
  name: string;
  /** 512 or 4096. */
  sectorSize: number;
  /** The disk's sectors. */
  sectorCount: number;
}

/** A device error as the native side reports it: thrown by a devices function (the error object's name, message and these fields) or returned by coreDeviceError. */
export interface NativeError {
  /** DeviceError, BadSectorError, WriteGuardError, LockError. */
  name: string;
  /** A sentence naming the device and the sectors. */
  message: string;
  /** DeviceCode (docs/core-abi.md): 1 io, 2 range, 3 guard, 4 readonly, 5 short, 6 closed. */
  code: number;
  /** BadSectorError: the device's name. */
  device?: string;
  /** BadSectorError: the failed operation. */
  op?: "read" | "write";
  /** BadSectorError: the first bad sector (the descriptor's LBAs). */
  lba?: number;
  /** BadSectorError: the request's first sector. */
  requestLba?: number;
  /** BadSectorError: the request's length. */
  sectorCount?: number;
}

/** firmware.boot's result: what the boot-time check found and did. */
export interface BootReport {
  /** none: healthy (or only minor notices), nothing written; restored: restored from an image and healthy again; restore-failed: every image tried failed or left it damaged; no-image: damaged, and no image of the partition. */
  action: "none" | "restored" | "restore-failed" | "no-image";
  /** The partition checked: the system partition. */
  partition: number;
  /** The health check before anything was done. */
  before: HealthReport;
  /** The health check after the last restore tried. */
  after?: HealthReport;
  /** The image restored from (the last one tried). */
  image?: { slot: number; name: string; kind: string };
  /** Images that failed, in the order tried. */
  tried: Array<{ slot: number; name: string; error: string }>;
  /** now() at the end minus now() at the start, in seconds. */
  seconds: number;
  /** What the boot said, a line each: the same lines it logged through host.log. */
  lines: string[];
}

/** What the service menu shows: the result of every menu function. */
export interface MenuScreen {
  /** running: a task runs, one step per menuTick call (menuKey steps nothing; "back" asks a task that may be cancelled to stop); call menuTick until the state changes. */
  state: "menu" | "confirm" | "running" | "result" | "info" | "pin";
  /** The panel's rows (profile.panel.rows), each exactly profile.panel.columns printable ASCII characters. */
  lines: string[];
  /** The menu item the cursor is on (the one a task belongs to while it asks, runs or reports). */
  selected: string;
}

/** firmware.backup's argument. */
export interface BackupArgs {
  /** The partition to back up (default: the system partition). */
  partition?: number;
  /** The store's slot to write (default: an empty slot, else the oldest backup; never the only good image). Ignored on a ghost printer. */
  slot?: number;
  /** A factory image (slot 0; a ghost marked factory). */
  factory?: boolean;
  /** The image's name (default "factory" or "backup-<ISO time>"). */
  name?: string;
}

/** firmware.restore's argument. Note: the slot is named image here. */
export interface RestoreArgs {
  /** The slot of the image to restore (ImageEntry.slot). */
  image: number;
  /** The target partition (default: the system partition; a ghost image restores the system partition only). */
  partition?: number;
  /** Read every written cluster back (default true). */
  verify?: boolean;
  /** Write every cluster, even those that already match (default false: differential). */
  full?: boolean;
}

/** firmware.verify's argument. */
export interface VerifyArgs {
  /** The slot of the image to check. */
  image: number;
  /** Also compare this partition with the image. */
  against?: number;
}

/** firmware.health's argument. */
export interface HealthArgs {
  /** The partition to check (default: the system partition). */
  partition?: number;
}

/** firmware.menuKey's argument: one key of the panel, as a JSON string: the text `"up"` with its quotes (C: `"\"up\""`), not `up`. */
export type MenuKey = "up" | "down" | "ok" | "back";

/** The most bytes one devRead returns (the firmware splits longer reads). */
export const DEV_READ_MAX_BYTES = 131072;

/** The most bytes one coreRead or coreWrite copies. */
export const CORE_COPY_MAX_BYTES = 65536;

/** The most SHA-256 hashes open at once (sha256Begin refuses more). */
export const SHA256_OPEN_MAX = 8;

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
   * The firmware's progress report for whoever watches (the panel, a log, a management interface): at most one per 100 ms of now(), and one at the end of every job.
   * @param json JSON: Progress
   */
  progress(json: string): void;
  /**
   * The host's own cancel request (a key held, a watchdog, a shutdown), polled by the firmware between steps. The firmware cancels only a cancellable job; a restore that has begun writing runs to its end.
   */
  shouldCancel(): boolean;
  /**
   * The disk the firmware works on, opened by the host before the bundle runs: its descriptor, a name for messages, its sector size and count. The firmware reads the partition table itself (through the core) and reaches every partition, image slot and ghost file through this descriptor: in QuickJS by adding the partition's start, in the core through layers (docs/core-abi.md, layerOpen).
   * @returns JSON: DiskInfo
   */
  disk(): string;
  /**
   * Reads count sectors at lba of the disk for the firmware's own small reads: boot sectors, FAT windows, directories, the store's slot table. Bulk data never comes this way: the core reads it through its imports.
   * @throws DeviceError
   */
  devRead(handle: number, lba: number, count: number): ArrayBuffer;
  /**
   * Writes count sectors at lba of the disk from data (count times the sector size bytes): the firmware's own small writes (the slot table, a manifest, the ghost's directory entries, the restore mark's clearing). The firmware's own write guard (in QuickJS) has checked it before it gets here.
   * @throws DeviceError
   */
  devWrite(handle: number, lba: number, count: number, data: ArrayBuffer): void;
  /**
   * Makes every completed write through this descriptor durable (the disk's cache flush).
   * @throws DeviceError
   */
  devFlush(handle: number): void;
  /**
   * Calls one export of the wasm core (docs/core-abi.md, section 4: init is called by the host before the bundle runs and is refused here; every other export may be called) with numeric arguments and returns its numeric result (0 for an export without one, such as checkOf). During the call the core does its bulk I/O through the descriptors it is given, natively. A negative result is the core's error code: the firmware reads failureCode and failureValue through this function too.
   * @throws UsageError, CoreTrap
   */
  coreCall(name: string, args: number[]): number;
  /**
   * A copy of length bytes of the core's memory at ptr: the result slots, a header, a failure's values. At most CORE_COPY_MAX_BYTES per call.
   * @throws RangeError
   */
  coreRead(ptr: number, length: number): ArrayBuffer;
  /**
   * Copies data into the core's memory at ptr: the params area, source patches, a check's input. At most CORE_COPY_MAX_BYTES per call.
   * @throws RangeError
   */
  coreWrite(ptr: number, data: ArrayBuffer): void;
  /**
   * The device error behind the core's last E_DEVICE failure, as the descriptor's device reported it (name, message, code; a bad sector's LBAs), or null when there is none. Reading it clears it; every coreCall clears it first.
   * @returns JSON: NativeError | null
   */
  coreDeviceError(): string;
  /**
   * Starts a SHA-256 (FIPS 180-4) and returns its id. The manifests' critical files are hashed with it; a printer with a hash engine uses it here.
   * @throws UsageError
   */
  sha256Begin(): number;
  /**
   * Adds data to a hash.
   * @throws UsageError
   */
  sha256Update(id: number, data: ArrayBuffer): void;
  /**
   * Adds the first bytes bytes of sectors sectors at lba of the disk, read natively: a file's contents reach the hash without entering QuickJS.
   * @throws DeviceError, UsageError
   */
  sha256Sectors(id: number, handle: number, lba: number, sectors: number, bytes: number): void;
  /**
   * Ends a hash and returns its digest as 64 lower-case hex digits; the id is free again.
   * @throws UsageError
   */
  sha256End(id: number): string;
  /**
   * Whether signature is the Ed25519 signature (RFC 8032, pure EdDSA) of message by publicKey. The firmware checks an image's signature with it before a boot restore may write that image (docs/image-format.md section 14): the message is 608 bytes, the key one of the profile's trusted keys. A printer with a crypto engine uses it; in software, any RFC 8032 implementation (Monocypher, libsodium's crypto_sign_verify_detached, mbedTLS 3.6+).
   */
  ed25519Verify(publicKey: ArrayBuffer, message: ArrayBuffer, signature: ArrayBuffer): boolean;
  /**
   * The printer's own Ed25519 public key (32 raw bytes), or an empty buffer when the host has no device key. The firmware signs the backups it makes with the device key (deviceSign) and trusts this key besides the profile's, so that a boot restore may take the printer's own backups under a policy that requires signatures (docs/image-format.md section 14).
   */
  devicePublicKey(): ArrayBuffer;
  /**
   * The Ed25519 signature (64 bytes, RFC 8032) of message by the printer's device key. The private key never leaves the host: keep it in a secure element, a TPM or the SoC's key store where there is one. The firmware calls it once per backup, with the 608-byte message of the image's signature section.
   * @throws UsageError
   */
  deviceSign(message: ArrayBuffer): ArrayBuffer;
  /**
   * PBKDF2-HMAC-SHA256 (RFC 8018) of password with salt and iterations, bytes long. The firmware checks the service PIN with it against the profile's salted hash (service.pin); it passes the PIN's digits and forgets them as soon as the call returns. A printer with a crypto engine uses it; in software, mbedTLS's mbedtls_pkcs5_pbkdf2_hmac_ext or OpenSSL's PKCS5_PBKDF2_HMAC.
   * @throws UsageError
   */
  pbkdf2Sha256(password: ArrayBuffer, salt: ArrayBuffer, iterations: number, length: number): ArrayBuffer;
}

/** What each host function that returns JSON returns, decoded. */
export interface HostJsonResults {
  profile: Profile;
  disk: DiskInfo;
  coreDeviceError: NativeError | null;
}

/** The names of the functions, in declaration order. */
export const HOST_FUNCTIONS = ["log","now","profile","progress","shouldCancel","disk","devRead","devWrite","devFlush","coreCall","coreRead","coreWrite","coreDeviceError","sha256Begin","sha256Update","sha256Sectors","sha256End","ed25519Verify","devicePublicKey","deviceSign","pbkdf2Sha256"] as const;

/** Each function's parameter and result types, as declared (a host converts values by them). */
export const HOST_SIGNATURES: Record<(typeof HOST_FUNCTIONS)[number], { params: readonly string[]; result: string }> = {"log":{"params":["string"],"result":"void"},"now":{"params":[],"result":"f64"},"profile":{"params":[],"result":"json"},"progress":{"params":["json"],"result":"void"},"shouldCancel":{"params":[],"result":"bool"},"disk":{"params":[],"result":"json"},"devRead":{"params":["int","f64","int"],"result":"bytes"},"devWrite":{"params":["int","f64","int","bytes"],"result":"void"},"devFlush":{"params":["int"],"result":"void"},"coreCall":{"params":["string","f64[]"],"result":"f64"},"coreRead":{"params":["int","int"],"result":"bytes"},"coreWrite":{"params":["int","bytes"],"result":"void"},"coreDeviceError":{"params":[],"result":"json"},"sha256Begin":{"params":[],"result":"int"},"sha256Update":{"params":["int","bytes"],"result":"void"},"sha256Sectors":{"params":["int","int","f64","int","f64"],"result":"void"},"sha256End":{"params":["int"],"result":"string"},"ed25519Verify":{"params":["bytes","bytes","bytes"],"result":"bool"},"devicePublicKey":{"params":[],"result":"bytes"},"deviceSign":{"params":["bytes"],"result":"bytes"},"pbkdf2Sha256":{"params":["bytes","bytes","int","int"],"result":"bytes"}};
