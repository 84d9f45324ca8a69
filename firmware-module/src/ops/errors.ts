// Two closed sets of result codes (FatFs DRESULT / FRESULT style), each mapped to an Error
// subclass with `name` set, and messages that carry the values involved.

import {
  BitmapCountWhat,
  CommitWhatText,
  CoreCodeName,
  coreCodes,
  ExfatBitmapWhat,
  ExfatField,
  ExfatFieldText,
  FAT_CHECK_MAX,
  FsInfoField,
  FsTypeText,
  GptCrcWhat,
  GptHeaderFieldText,
  HeaderField,
  HeaderFieldText,
  LayerKind,
  LayerWhatText,
  NtfsField,
  NtfsFieldText,
  NtfsMftWhatText,
  TableWhatText,
} from "./abi";
import { ClusterbackError, DeviceCode, DeviceError, deviceCodeNames } from "./device-errors";

export * from "./device-errors";

export class WriteGuardError extends DeviceError {
  constructor(message: string) {
    super(DeviceCode.guard, message);
    this.name = "WriteGuardError";
  }
}

/** Another job (or a mount) holds what this job would read or write. */
export class LockError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "LockError";
  }
}

/** The partition asked for has a bad partition-table entry (its `problem`): it is not used. */
export class PartitionEntryError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "PartitionEntryError";
  }
}

/** A failed core job: `code` is the core's result code (as-core/assembly/errors.ts). */
export class CoreError extends ClusterbackError {
  readonly code: number;
  readonly codeName: string;
  readonly values: number[];
  constructor(code: number, values: number[]) {
    const info = coreCodes[code];
    super(info ? coreMessages[info.name](values) : `core failure ${code} (${values.join(", ")})`);
    this.name = "CoreError";
    this.code = code;
    this.codeName = info ? info.name : `E_${code}`;
    this.values = values;
  }
}

/** The image failed a check: it is damaged, truncated or not an image. */
export class ImageError extends CoreError {
  constructor(code: number, values: number[]) {
    super(code, values);
    this.name = "ImageError";
  }
}

/** The volume's boot record or partition table failed validation. */
export class VolumeError extends CoreError {
  constructor(code: number, values: number[]) {
    super(code, values);
    this.name = "VolumeError";
  }
}

const hex = (v: number, width = 2) => "0x" + (v >>> 0).toString(16).toUpperCase().padStart(width, "0");
const check = (hi: number, lo: number) => hex(hi, 8) + hex(lo, 8).slice(2);
/** E_IMG_HEADER_FIELD's text: the field, its value, and what it should be. */
function headerFieldMessage(v: number[]): string {
  if (v[0] === HeaderField.ghost)
    return `image header's ghost extent (sector ${v[1]}, ${v[2]} sectors) is not whole clusters inside the partition's data area`;
  if (v[0] === HeaderField.tail)
    return `image header's metadata tail (sector ${v[1]}, ${v[2]} sectors) is not after the last cluster inside the partition, or longer than 2048 sectors`;
  if (v[0] === HeaderField.reserved) return "image header's reserved bytes (288..503) are not zero";
  const name = HeaderFieldText[v[0]] ?? `number ${v[0]}`;
  if (v[0] === HeaderField.bits && v[1] === v[2])
    return `image header field "${name}" is ${v[1]}, more than the 268435456 (2^28) an image holds`;
  return `image header field "${name}" is ${v[1]}, expected ${v[2]}`;
}
/** The Node host's words for each core code (the contract's message, said more fully); every code has one. */
export const coreMessages: Record<CoreCodeName, (v: number[]) => string> = {
  E_DEVICE: (v) => `device ${v[1]} failed (${deviceCodeNames[-v[0]] ?? v[0]}) at LBA ${v[2]}, ${v[3]} sectors`,
  E_MBR_SIGNATURE: (v) => `no partition table: sector 0 ends in ${hex(v[0], 4)}, not 0xAA55`,
  E_PART_RANGE: (v) =>
    `partition ${v[0]} (start ${v[1]}, ${v[2]} sectors) reaches past the end of its container (${v[3]} sectors)`,
  E_EBR_CHAIN: (v) =>
    `extended partition chain is broken at LBA ${v[0]} (extended partition at ${v[1]}, ${v[2]} sectors)`,
  E_GPT_HEADER: (v) =>
    `GPT header${v[2] ? ` at LBA ${v[2]}` : ""} invalid: ${GptHeaderFieldText[v[0]] ?? "field"} is ${v[1]}`,
  E_GPT_CRC: (v) =>
    `GPT ${v[0] === GptCrcWhat.header ? "header" : "partition entry array"} CRC32 is ${hex(v[1], 8)}, computed ${hex(v[2], 8)}${v[3] ? ` (${v[0] === GptCrcWhat.header ? "" : "named by "}the header at LBA ${v[3]})` : ""}`,
  E_BS_SIGNATURE: (v) => `boot sector signature is ${hex(v[0], 4)}, not 0xAA55`,
  E_BS_JUMP: (v) => `boot sector does not start with a jump instruction (BS_jmpBoot[0] = ${hex(v[0])})`,
  E_BPB_BYTSPERSEC: (v) => `BPB_BytsPerSec is ${v[0]}, not 512, 1024, 2048 or 4096`,
  E_BPB_SECPERCLUS: (v) => `BPB_SecPerClus is ${v[0]}, not a power of two from 1 to 128`,
  E_BPB_RSVDSECCNT: (v) => `BPB_RsvdSecCnt is ${v[0]}, must be at least 1`,
  E_BPB_NUMFATS: (v) => `BPB_NumFATs is ${v[0]}, must be at least 1`,
  E_BPB_ROOTENTCNT: (v) =>
    v[1] === 0
      ? `BPB_RootEntCnt ${v[0]} does not fill whole sectors`
      : `BPB_RootEntCnt is ${v[0]}, wrong for ${FsTypeText[v[1]]}`,
  E_BPB_TOTSEC: (v) => `total sectors ${v[0]} is zero or larger than the partition (${v[1]} sectors)`,
  E_BPB_FATSZ: (v) => `FAT size ${v[0]} sectors is too small: ${v[1]} needed for the cluster count`,
  E_BPB_MEDIA: (v) => `BPB_Media is ${hex(v[0])}, not 0xF0 or 0xF8..0xFF`,
  E_NO_DATA_AREA: (v) => `system area (${v[0]} sectors) leaves no data area in ${v[1]} sectors`,
  E_FAT_TYPE_LAYOUT: (v) => `BPB layout (BPB_FATSz16 = ${v[1]}) contradicts the FAT type of ${v[0]} clusters`,
  E_BPB_ROOTCLUS: (v) => `BPB_RootClus is ${v[0]}, outside clusters 2..${v[1]}`,
  E_BPB_FSVER: (v) => `BPB_FSVer is ${hex(v[0], 4)}, not 0.0`,
  E_SECTOR_SIZE: (v) => `device sector size ${v[0]} differs from the boot record's ${v[1]} bytes per sector`,
  E_IMG_MAGIC: (v) => `not a clusterback image (starts with ${hex(v[0], 8)} ${hex(v[1], 8)})`,
  E_IMG_VERSION: (v) => `image format version ${v[0]}.${v[1]} is not supported (this build reads 1.x)`,
  E_IMG_HEADER_CHECK: (v) =>
    `image header check is ${check(v[0], v[1])}, computed ${check(v[2], v[3])}: the header is damaged`,
  E_IMG_HEADER_FIELD: headerFieldMessage,
  E_IMG_BITMAP_CHECK: (v) =>
    `image bitmap check is ${check(v[0], v[1])}, computed ${check(v[2], v[3])}: the bitmap is damaged`,
  E_IMG_BITMAP_COUNT: (v) =>
    v[0] === BitmapCountWhat.pastEnd
      ? `image bitmap has a bit set past its end (bit ${v[1]})`
      : v[0] === BitmapCountWhat.reserved
        ? "image bitmap marks reserved clusters 0 or 1"
        : `image bitmap marks ${v[0]} clusters, header says ${v[1]}`,
  E_IMG_META_CHECK: (v) =>
    `image metadata check is ${check(v[0], v[1])}, computed ${check(v[2], v[3])}: the metadata is damaged`,
  E_IMG_COMMIT: (v) => `image commit record ${CommitWhatText[v[0]] ?? "is invalid"} (${hex(v[1], 8)})`,
  E_IMG_BLOCK_TABLE: (v) => `image block ${v[0]}: table ${TableWhatText[v[1]] ?? "field"} is wrong (${v[2]})`,
  E_IMG_CLUSTER_CHECK: (v) =>
    `image block ${v[0]}: cluster ${v[1]} check is ${hex(v[2], 8)}, computed ${hex(v[3], 8)}: the data is damaged`,
  E_IMG_CHAIN: (v) => `image block chain check ${hex(v[1], 8)} differs from the commit record's ${hex(v[0], 8)}`,
  E_TARGET_SMALL: (v) => `target has ${v[0]} sectors, the image needs ${v[1]}`,
  E_TARGET_SECTOR: (v) => `target sector size ${v[0]} differs from the image's ${v[1]}`,
  E_IMG_TRUNCATED: (v) => `image is ${v[0]} bytes, its header needs ${v[1]}: it is truncated`,
  E_STATE: (v) => `engine called in the wrong state (${v[0]})`,
  E_BPB_FSINFO: (v) =>
    `${v[0] === FsInfoField.fsinfo ? "BPB_FSInfo" : "BPB_BkBootSec"} is ${v[1]}, outside the reserved area`,
  E_CLUSTER_SIZE: (v) => `cluster size ${v[0]} bytes is larger than ${v[1]}`,
  E_NOT_FAT: (v) => `no FAT boot record (signature ${hex(v[0], 4)}, first byte ${hex(v[1])})`,
  E_IMG_GHOST_OVERLAP: (v) =>
    `image block ${v[0]} stores cluster ${v[1]}, inside the image's own extent (clusters ${v[2]}..${v[2] + v[3] - 1}): the image is crafted or damaged`,
  E_EXFAT_FIELD: (v) =>
    `exFAT boot sector: ${ExfatFieldText[v[0]] ?? `field ${v[0]}`} is ${v[1]}, expected ${v[0] === ExfatField.mustBeZero ? "zero" : v[2]}`,
  E_EXFAT_BITMAP: (v) =>
    v[0] === ExfatBitmapWhat.notFound
      ? `exFAT root directory has no allocation bitmap entry (looked through ${v[1]} clusters${v[2] ? `; the chain goes on to ${v[2]}` : ""})`
      : v[0] === ExfatBitmapWhat.firstCluster
        ? `exFAT allocation bitmap starts at cluster ${v[1]}, outside clusters 2..${v[2]}`
        : v[0] === ExfatBitmapWhat.tooShort
          ? `exFAT allocation bitmap is ${v[1]} bytes, the volume's clusters need ${v[2]}`
          : `exFAT allocation bitmap's FAT chain breaks after ${v[1]} clusters (next entry ${v[2]})`,
  E_NTFS_FIELD: (v) =>
    `NTFS boot sector: ${NtfsFieldText[v[0]] ?? `field ${v[0]}`} is ${v[1]}${v[0] === NtfsField.zero ? "" : `, expected ${v[0] === NtfsField.mft || v[0] === NtfsField.mftmirr ? `below the cluster count ${v[2]}` : v[2]}`}`,
  E_NTFS_MFT: (v) => `NTFS MFT record ${v[1]}: ${NtfsMftWhatText[v[0]] ?? "damaged"} (${v[2]})`,
  E_IMG_META_CHANGED: (v) =>
    `image metadata chunk ${v[0]} (section bytes ${v[1]}..) changed after the check pass (check ${hex(v[2], 8)}, now ${hex(v[3], 8)}): the image was modified during the restore; nothing of that chunk was written, the target keeps its restore mark`,
  E_IMG_META_SIZE: (v) =>
    `image metadata section is ${v[0]} bytes: a two-pass restore checks at most ${v[1]} again chunk by chunk (a one-pass restore has no such limit)`,
  E_FAT_CHECK_RANGE: (v) =>
    v[3] >= 1 && v[3] <= 3
      ? `fatCheck of entries ${v[0]}..${v[0] + v[1] - 1} (${v[1]}) is outside the ${v[2]} entries of the ${FsTypeText[v[3]]} FAT or over ${FAT_CHECK_MAX} at once`
      : `fatCheck needs a FAT volume; this one is ${FsTypeText[v[3]] ?? `of type ${v[3]}`}`,
  E_LAYER: (v) =>
    `core layer ${v[1] || "(new)"} of kind ${Object.entries(LayerKind).find(([, k]) => k === v[2])?.[0] ?? v[2]}: ${LayerWhatText[v[0]] ?? `reason ${v[0]}`} (${v[3]})`,
  E_SCAN_RANGE: (v) =>
    `scanMagic of bytes ${v[0]}..${v[1]} with ${v[2]}-byte sectors: the bounds must be multiples of 512 in order and the sector size 512..4096, a power of two`,
  E_GHOST_EXTENT: (v) =>
    `ghost extent at sector ${v[0]}, ${v[1]} sectors, is not whole clusters of the data area (which starts at sector ${v[2]}, ${v[3]} sectors per cluster)`,
};

const kindOf = (code: number): string | undefined => coreCodes[code]?.kind;

export function coreError(code: number, values: number[]): CoreError {
  if (kindOf(code) === "image") return new ImageError(code, values);
  if (kindOf(code) === "volume") return new VolumeError(code, values);
  return new CoreError(code, values);
}

/** Seconds since 1970 as ISO 8601, or "<n> s after 1970" when a (crafted) value is past what a date can show. */
export function isoSeconds(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isFinite(d.getTime()) ? d.toISOString() : `${seconds} s after 1970-01-01 (not a valid date)`;
}
