// The FAT formatter (the simulator's; the writer shares its codecs): lays out a FAT12, FAT16 or FAT32 volume on a partition and
// writes its boot sector (and, on FAT32, FSInfo and the backup boot sector), both FATs, the
// empty root directory and the volume label. Layout and encoding are pure; formatFat writes.
// Field names follow Microsoft's FAT specification (FAT32 File System Specification 1.03).
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";

// Boot sector and BPB, common part (spec section 3.1)
export const BS_jmpBoot = 0; // jump instruction (3 bytes): EB 3C 90 (FAT12/16), EB 58 90 (FAT32)
export const BS_OEMName = 3; // 8 bytes, informational
export const BPB_BytsPerSec = 11; // bytes per sector (u16): 512, 1024, 2048 or 4096
export const BPB_SecPerClus = 13; // sectors per cluster (u8): power of two, 1..128
export const BPB_RsvdSecCnt = 14; // reserved sectors from the volume start (u16), >= 1
export const BPB_NumFATs = 16; // FAT copies (u8)
export const BPB_RootEntCnt = 17; // FAT12/16 root directory entries (u16); 0 on FAT32
export const BPB_TotSec16 = 19; // total sectors (u16) when below 65536, else 0
export const BPB_Media = 21; // media descriptor (u8), 0xF8 fixed disk
export const BPB_FATSz16 = 22; // sectors per FAT (u16) on FAT12/16; 0 on FAT32
export const BPB_SecPerTrk = 24; // sectors per track (u16), for INT 13h only
export const BPB_NumHeads = 26; // heads (u16), for INT 13h only
export const BPB_HiddSec = 28; // sectors before the volume on the disk (u32)
export const BPB_TotSec32 = 32; // total sectors (u32) when BPB_TotSec16 is 0
// FAT12/16 extended BPB (section 3.2)
export const BS_DrvNum = 36; // INT 13h drive number (u8), 0x80
export const BS_Reserved1 = 37; // bit 0: volume dirty (u8)
export const BS_BootSig = 38; // 0x29: the next three fields are present (u8)
export const BS_VolID = 39; // volume serial number (u32)
export const BS_VolLab = 43; // volume label (11 bytes), "NO NAME    " when none
export const BS_FilSysType = 54; // "FAT12   " or "FAT16   " (8 bytes), informational
// FAT32 extended BPB (section 3.3)
export const BPB_FATSz32 = 36; // sectors per FAT (u32)
export const BPB_ExtFlags = 40; // mirroring flags (u16): 0 = all FATs mirrored
export const BPB_FSVer = 42; // version (u16): 0.0
export const BPB_RootClus = 44; // first cluster of the root directory (u32)
export const BPB_FSInfo = 48; // FSInfo sector in the reserved area (u16)
export const BPB_BkBootSec = 50; // backup boot sector in the reserved area (u16)
export const BS32_DrvNum = 64; // u8
export const BS32_Reserved1 = 65; // bit 0: volume dirty (u8)
export const BS32_BootSig = 66; // 0x29 (u8)
export const BS32_VolID = 67; // u32
export const BS32_VolLab = 71; // 11 bytes
export const BS32_FilSysType = 82; // "FAT32   " (8 bytes)
export const BS_Signature = 510; // 0xAA55 (u16)
// sizeof = BPB_BytsPerSec; the fields above occupy 90 bytes, boot code follows, signature at 510

// FSInfo sector (FAT32, section 5)
export const FSI_LeadSig = 0; // 0x41615252 (u32)
export const FSI_StrucSig = 484; // 0x61417272 (u32)
export const FSI_Free_Count = 488; // free clusters (u32), 0xFFFFFFFF = unknown
export const FSI_Nxt_Free = 492; // where to start looking for a free cluster (u32), 0xFFFFFFFF = unknown
export const FSI_TrailSig = 508; // 0xAA550000 (u32)
export const FSI_LEAD = 0x41615252,
  FSI_STRUC = 0x61417272,
  FSI_TRAIL = 0xaa550000;

// Directory entry (section 6; sizeof = 32)
export const DIR_Name = 0; // 8.3 name (11 bytes, space padded)
export const DIR_Attr = 11; // attributes (u8)
export const DIR_NTRes = 12; // 0 (u8)
export const DIR_CrtTimeTenth = 13; // creation time, tenths of a second (u8)
export const DIR_CrtTime = 14; // u16
export const DIR_CrtDate = 16; // u16
export const DIR_LstAccDate = 18; // u16
export const DIR_FstClusHI = 20; // high 16 bits of the first cluster (u16), FAT32
export const DIR_WrtTime = 22; // u16: hour << 11 | minute << 5 | second / 2
export const DIR_WrtDate = 24; // u16: (year - 1980) << 9 | month << 5 | day
export const DIR_FstClusLO = 26; // low 16 bits of the first cluster (u16)
export const DIR_FileSize = 28; // bytes (u32)
export const DIR_ENTRY_BYTES = 32;
export const ATTR_READ_ONLY = 0x01,
  ATTR_HIDDEN = 0x02,
  ATTR_SYSTEM = 0x04,
  ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10,
  ATTR_ARCHIVE = 0x20,
  ATTR_LONG_NAME = 0x0f;

// FAT types by cluster count (section 3.5)
export const FAT12_MAX_CLUSTERS = 4084;
export const FAT16_MAX_CLUSTERS = 65524;
export const FAT32_MAX_CLUSTERS = 0x0ffffff5;
const MEDIA_FIXED = 0xf8;
const BOOT_STUB = [0xfa, 0xf4, 0xeb, 0xfd]; // cli; hlt; jmp $-1: not a bootable volume
export const DEFAULT_DATE = new Date(Date.UTC(2026, 0, 1, 0, 0, 0));

export type FatType = 12 | 16 | 32;

export interface FatLayout {
  fatType: FatType;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  reservedSectors: number;
  fatCount: number;
  fatSectors: number; // per copy
  rootEntryCount: number; // FAT12/16 fixed root; 0 on FAT32
  rootDirSectors: number;
  totalSectors: number;
  firstDataSector: number; // reserved + FATs + fixed root
  clusterCount: number; // data clusters, numbered 2 .. clusterCount + 1
  rootCluster: number; // FAT32; 0 otherwise
  fsInfoSector: number; // FAT32; 0 otherwise
  backupBootSector: number; // FAT32; 0 otherwise
  hiddenSectors: number;
  volumeId: number;
  label: string; // 11 characters, space padded ("NO NAME    " when none)
}

export interface FormatOptions {
  fatType?: FatType;
  clusterBytes: number;
  label?: string;
  volumeId?: number;
  hiddenSectors?: number;
  reservedSectors?: number;
}

/** The volume cannot be laid out as asked (values in the message). */
export class FatFormatError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "FatFormatError";
  }
}

/** The FAT type the spec assigns to a cluster count. */
export function fatTypeOf(clusterCount: number): FatType {
  return clusterCount <= FAT12_MAX_CLUSTERS ? 12 : clusterCount <= FAT16_MAX_CLUSTERS ? 16 : 32;
}

/** "HELLO" -> "HELLO      "; throws on characters a label cannot hold. */
function labelField(label: string | undefined): string {
  if (label === undefined || label.trim() === "") return "NO NAME    ";
  const upper = label.toUpperCase();
  if (upper.length > 11 || !/^[A-Z0-9 !#$%&'()\-@^_`{}~]+$/.test(upper)) {
    throw new FatFormatError(
      `volume label "${label}" is not up to 11 characters of A-Z, 0-9, space and !#$%&'()-@^_\`{}~`,
    );
  }
  return upper.padEnd(11, " ");
}

interface LayoutInput {
  sectorSize: number;
  totalSectors: number;
  sectorsPerCluster: number;
  reserved?: number;
}

/** Geometry for one FAT type: the smallest FAT that covers the clusters it leaves. */
function layoutFor(type: FatType, input: LayoutInput): Omit<FatLayout, "hiddenSectors" | "volumeId" | "label"> {
  const { sectorSize, totalSectors, sectorsPerCluster } = input;
  const reservedSectors = input.reserved ?? (type === 32 ? 32 : 1);
  const fatCount = 2;
  const rootEntryCount = type === 32 ? 0 : 512;
  const rootDirSectors = Math.ceil((rootEntryCount * DIR_ENTRY_BYTES) / sectorSize);
  const clustersFor = (fatSectors: number) =>
    Math.floor((totalSectors - reservedSectors - fatCount * fatSectors - rootDirSectors) / sectorsPerCluster);
  const sectorsFor = (clusters: number) => Math.ceil(Math.ceil(((clusters + 2) * type) / 8) / sectorSize);
  let fatSectors = 1;
  for (let guard = 0; guard < 64 && sectorsFor(Math.max(0, clustersFor(fatSectors))) > fatSectors; guard++) {
    fatSectors = sectorsFor(Math.max(0, clustersFor(fatSectors)));
  }
  const firstDataSector = reservedSectors + fatCount * fatSectors + rootDirSectors;
  const clusterCount = clustersFor(fatSectors);
  return {
    fatType: type,
    bytesPerSector: sectorSize,
    sectorsPerCluster,
    clusterBytes: sectorSize * sectorsPerCluster,
    reservedSectors,
    fatCount,
    fatSectors,
    rootEntryCount,
    rootDirSectors,
    totalSectors,
    firstDataSector,
    clusterCount,
    rootCluster: type === 32 ? 2 : 0,
    fsInfoSector: type === 32 ? 1 : 0,
    backupBootSector: type === 32 ? 6 : 0,
  };
}

function checkInputs(part: BlockDevice, options: FormatOptions): LayoutInput {
  const sectorSize = part.sectorSize,
    clusterBytes = options.clusterBytes;
  const spc = clusterBytes / sectorSize;
  if (!Number.isInteger(spc) || spc < 1 || spc > 128 || (spc & (spc - 1)) !== 0) {
    throw new FatFormatError(
      `cluster size ${clusterBytes} bytes is not 1..128 (a power of two) sectors of ${sectorSize} bytes`,
    );
  }
  if (part.sectorCount > 0xffffffff)
    throw new FatFormatError(
      `${part.name} has ${part.sectorCount} sectors, more than a FAT volume can count (2^32 - 1)`,
    );
  const reserved = options.reservedSectors;
  if (
    reserved !== undefined &&
    (!Number.isInteger(reserved) || reserved < 1 || reserved > 0xffff || (options.fatType === 32 && reserved < 8))
  ) {
    throw new FatFormatError(
      `reservedSectors ${reserved} is not 1..65535 (8 at least on FAT32, for FSInfo and the backup boot sector)`,
    );
  }
  return { sectorSize, totalSectors: part.sectorCount, sectorsPerCluster: spc, reserved };
}

/** The layout formatFat would write: type by cluster count when not given, refused when contradicted. */
export function planFat(part: BlockDevice, options: FormatOptions): FatLayout {
  const input = checkInputs(part, options);
  const extra = {
    hiddenSectors: options.hiddenSectors ?? 0,
    volumeId: (options.volumeId ?? defaultVolumeId(input)) >>> 0,
    label: labelField(options.label),
  };
  const candidates = (options.fatType ? [options.fatType] : ([12, 16, 32] as FatType[])).map((t) =>
    layoutFor(t, input),
  );
  const fits = candidates.find(
    (l) => l.clusterCount >= 1 && fatTypeOf(l.clusterCount) === l.fatType && l.clusterCount <= FAT32_MAX_CLUSTERS,
  );
  if (fits && fits.fatType === 32 && fits.reservedSectors < 8) {
    throw new FatFormatError(
      `reservedSectors ${fits.reservedSectors} is too few for FAT32 (8 at least, for FSInfo and the backup boot sector)`,
    );
  }
  if (fits) return { ...fits, ...extra };
  const counts = candidates.map((l) => `FAT${l.fatType} layout gives ${l.clusterCount} clusters`).join(", ");
  const what = options.fatType ? `FAT${options.fatType} is contradicted by the cluster count` : "no FAT type fits";
  throw new FatFormatError(
    `${part.name}: ${what} (${part.sectorCount} sectors of ${input.sectorSize} bytes, ` +
      `${options.clusterBytes}-byte clusters: ${counts}; FAT12 needs 1..4084, FAT16 4085..65524, FAT32 65525..268435445)`,
  );
}

function defaultVolumeId(input: LayoutInput): number {
  return (Math.imul(input.totalSectors ^ 0x5a17c0de, 0x9e3779b1) ^ input.sectorsPerCluster) >>> 0;
}

function ascii(bytes: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
}

/** The boot sector of a layout (one sector). */
export function encodeBootSector(l: FatLayout): Uint8Array {
  const bs = new Uint8Array(l.bytesPerSector);
  const dv = new DataView(bs.buffer);
  const fat32 = l.fatType === 32;
  bs.set([0xeb, fat32 ? 0x58 : 0x3c, 0x90], BS_jmpBoot);
  ascii(bs, BS_OEMName, "MSWIN4.1");
  dv.setUint16(BPB_BytsPerSec, l.bytesPerSector, true);
  bs[BPB_SecPerClus] = l.sectorsPerCluster;
  dv.setUint16(BPB_RsvdSecCnt, l.reservedSectors, true);
  bs[BPB_NumFATs] = l.fatCount;
  dv.setUint16(BPB_RootEntCnt, l.rootEntryCount, true);
  if (!fat32 && l.totalSectors < 0x10000) dv.setUint16(BPB_TotSec16, l.totalSectors, true);
  else dv.setUint32(BPB_TotSec32, l.totalSectors, true);
  bs[BPB_Media] = MEDIA_FIXED;
  if (!fat32) dv.setUint16(BPB_FATSz16, l.fatSectors, true);
  dv.setUint16(BPB_SecPerTrk, 63, true);
  dv.setUint16(BPB_NumHeads, 255, true);
  dv.setUint32(BPB_HiddSec, l.hiddenSectors >>> 0, true);
  const ext = fat32 ? BS32_DrvNum - BS_DrvNum : 0; // the extended fields sit 28 bytes later on FAT32
  if (fat32) {
    dv.setUint32(BPB_FATSz32, l.fatSectors, true);
    dv.setUint16(BPB_ExtFlags, 0, true);
    dv.setUint16(BPB_FSVer, 0, true);
    dv.setUint32(BPB_RootClus, l.rootCluster, true);
    dv.setUint16(BPB_FSInfo, l.fsInfoSector, true);
    dv.setUint16(BPB_BkBootSec, l.backupBootSector, true);
  }
  bs[BS_DrvNum + ext] = 0x80;
  bs[BS_BootSig + ext] = 0x29;
  dv.setUint32(BS_VolID + ext, l.volumeId, true);
  ascii(bs, BS_VolLab + ext, l.label);
  ascii(bs, BS_FilSysType + ext, `FAT${l.fatType}   `);
  bs.set(BOOT_STUB, BS_FilSysType + ext + 8); // where BS_jmpBoot lands (offset 62 or 90)
  dv.setUint16(BS_Signature, 0xaa55, true);
  return bs;
}

/** An FSInfo sector with a free count and next-free hint. */
export function encodeFsInfo(sectorSize: number, freeCount: number, nextFree: number): Uint8Array {
  const s = new Uint8Array(sectorSize);
  const dv = new DataView(s.buffer);
  dv.setUint32(FSI_LeadSig, FSI_LEAD, true);
  dv.setUint32(FSI_StrucSig, FSI_STRUC, true);
  dv.setUint32(FSI_Free_Count, freeCount >>> 0, true);
  dv.setUint32(FSI_Nxt_Free, nextFree >>> 0, true);
  dv.setUint32(FSI_TrailSig, FSI_TRAIL, true);
  return s;
}

/** Reads a layout back from a boot sector this module wrote (or any valid one). */
export function decodeBootSector(bs: Uint8Array): FatLayout {
  const dv = new DataView(bs.buffer, bs.byteOffset, bs.byteLength);
  if (dv.getUint16(BS_Signature, true) !== 0xaa55)
    throw new FatFormatError(`boot sector signature is 0x${dv.getUint16(BS_Signature, true).toString(16)}, not 0xAA55`);
  const bytesPerSector = dv.getUint16(BPB_BytsPerSec, true),
    sectorsPerCluster = bs[BPB_SecPerClus];
  const reservedSectors = dv.getUint16(BPB_RsvdSecCnt, true),
    fatCount = bs[BPB_NumFATs];
  const rootEntryCount = dv.getUint16(BPB_RootEntCnt, true);
  const totalSectors = dv.getUint16(BPB_TotSec16, true) || dv.getUint32(BPB_TotSec32, true);
  const fatSz16 = dv.getUint16(BPB_FATSz16, true);
  const fatSectors = fatSz16 || dv.getUint32(BPB_FATSz32, true);
  if (
    ![512, 1024, 2048, 4096].includes(bytesPerSector) ||
    sectorsPerCluster === 0 ||
    fatCount === 0 ||
    fatSectors === 0
  ) {
    throw new FatFormatError(
      `not a FAT boot sector (BPB_BytsPerSec ${bytesPerSector}, BPB_SecPerClus ${sectorsPerCluster}, BPB_NumFATs ${fatCount}, FAT size ${fatSectors})`,
    );
  }
  const rootDirSectors = Math.ceil((rootEntryCount * DIR_ENTRY_BYTES) / bytesPerSector);
  const firstDataSector = reservedSectors + fatCount * fatSectors + rootDirSectors;
  const clusterCount = Math.floor((totalSectors - firstDataSector) / sectorsPerCluster);
  const fat32 = fatSz16 === 0 && rootEntryCount === 0;
  const ext = fat32 ? BS32_DrvNum - BS_DrvNum : 0;
  return {
    fatType: fat32 ? 32 : fatTypeOf(clusterCount),
    bytesPerSector,
    sectorsPerCluster,
    clusterBytes: bytesPerSector * sectorsPerCluster,
    reservedSectors,
    fatCount,
    fatSectors,
    rootEntryCount,
    rootDirSectors,
    totalSectors,
    firstDataSector,
    clusterCount,
    rootCluster: fat32 ? dv.getUint32(BPB_RootClus, true) : 0,
    fsInfoSector: fat32 ? dv.getUint16(BPB_FSInfo, true) : 0,
    backupBootSector: fat32 ? dv.getUint16(BPB_BkBootSec, true) : 0,
    hiddenSectors: dv.getUint32(BPB_HiddSec, true),
    volumeId: dv.getUint32(BS_VolID + ext, true),
    label: String.fromCharCode(...bs.subarray(BS_VolLab + ext, BS_VolLab + ext + 11)),
  };
}

/** The first sector of a FAT: media byte and end-of-chain marks in entries 0 and 1 (and the FAT32 root's 2). */
function fatHead(l: FatLayout): Uint8Array {
  const s = new Uint8Array(l.bytesPerSector);
  const dv = new DataView(s.buffer);
  if (l.fatType === 12) s.set([MEDIA_FIXED, 0xff, 0xff], 0);
  else if (l.fatType === 16) {
    dv.setUint16(0, 0xff00 | MEDIA_FIXED, true);
    dv.setUint16(2, 0xffff, true);
  } else {
    dv.setUint32(0, 0x0fffff00 | MEDIA_FIXED, true);
    dv.setUint32(4, 0x0fffffff, true);
    dv.setUint32(4 * l.rootCluster, 0x0fffffff, true);
  }
  return s;
}

export function fatDate(d: Date): number {
  return (Math.max(0, d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
}
export function fatTime(d: Date): number {
  return (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
}

const ZERO_CHUNK_BYTES = 1 << 20;

/** Zeroes sectors [lba, lba + count) in writes of up to 1 MiB. */
export function zeroSectors(dev: BlockDevice, lba: number, count: number): void {
  const perChunk = Math.max(1, Math.floor(ZERO_CHUNK_BYTES / dev.sectorSize));
  const zeros = new Uint8Array(Math.min(count, perChunk) * dev.sectorSize);
  for (let done = 0; done < count; done += perChunk) dev.write(lba + done, Math.min(perChunk, count - done), zeros, 0);
}

/**
 * Formats `part` as a FAT volume: zeroes the system area (and the FAT32 root cluster), then
 * writes the boot sector, FSInfo and backup boot sector (FAT32), the FATs and the label.
 */
export function formatFat(part: BlockDevice, options: FormatOptions): FatLayout {
  const l = planFat(part, options);
  const systemSectors = l.firstDataSector + (l.fatType === 32 ? l.sectorsPerCluster : 0);
  zeroSectors(part, 0, systemSectors);
  const boot = encodeBootSector(l);
  part.write(0, 1, boot, 0);
  if (l.fatType === 32) {
    const fsInfo = encodeFsInfo(l.bytesPerSector, l.clusterCount - 1, l.rootCluster + 1);
    part.write(l.fsInfoSector, 1, fsInfo, 0);
    part.write(l.backupBootSector, 1, boot, 0);
    part.write(l.backupBootSector + 1, 1, fsInfo, 0);
  }
  const head = fatHead(l);
  for (let copy = 0; copy < l.fatCount; copy++) part.write(l.reservedSectors + copy * l.fatSectors, 1, head, 0);
  if (l.label !== "NO NAME    ") {
    const rootLba =
      l.fatType === 32
        ? l.firstDataSector + (l.rootCluster - 2) * l.sectorsPerCluster
        : l.reservedSectors + l.fatCount * l.fatSectors;
    const sector = new Uint8Array(l.bytesPerSector);
    sector.set(encodeShortEntry(l.label, ATTR_VOLUME_ID, 0, 0, DEFAULT_DATE), 0);
    part.write(rootLba, 1, sector, 0);
  }
  return l;
}

// ---- directory entries (codec) ------------------------------------------------------------

// Long-name entry (section 7; sizeof = 32): 13 UTF-16 code units in three pieces
export const LDIR_Ord = 0; // sequence number (u8), LAST_LONG_ENTRY on the last piece
export const LDIR_Name1 = 1; // code units 1-5
export const LDIR_Attr = 11; // ATTR_LONG_NAME
export const LDIR_Type = 12; // 0
export const LDIR_Chksum = 13; // checksum of the short name (u8)
export const LDIR_Name2 = 14; // code units 6-11
export const LDIR_FstClusLO = 26; // 0 (u16)
export const LDIR_Name3 = 28; // code units 12-13
export const LAST_LONG_ENTRY = 0x40;
export const DELETED_MARK = 0xe5;
const LFN_PIECES: [number, number][] = [
  [LDIR_Name1, 5],
  [LDIR_Name2, 6],
  [LDIR_Name3, 2],
];

/** The spec's short-name checksum (section 7.2) of an 11-byte DIR_Name. */
export function shortNameChecksum(short11: string): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + short11.charCodeAt(i)) & 0xff;
  return sum;
}

/** A short (8.3) entry: DIR_Name is 11 characters, space padded, already uppercase. */
export function encodeShortEntry(
  short11: string,
  attr: number,
  firstCluster: number,
  size: number,
  date: Date,
): Uint8Array {
  const e = new Uint8Array(DIR_ENTRY_BYTES);
  const dv = new DataView(e.buffer);
  ascii(e, DIR_Name, short11);
  e[DIR_Attr] = attr;
  for (const [time, day] of [
    [DIR_CrtTime, DIR_CrtDate],
    [DIR_WrtTime, DIR_WrtDate],
  ]) {
    dv.setUint16(time, fatTime(date), true);
    dv.setUint16(day, fatDate(date), true);
  }
  dv.setUint16(DIR_LstAccDate, fatDate(date), true);
  dv.setUint16(DIR_FstClusHI, (firstCluster >>> 16) & 0xffff, true);
  dv.setUint16(DIR_FstClusLO, firstCluster & 0xffff, true);
  dv.setUint32(DIR_FileSize, size >>> 0, true);
  return e;
}

/** The "." or ".." entry of a new subdirectory (".." names cluster 0 for the root). */
export function encodeDotEntry(dots: "." | "..", cluster: number, date: Date): Uint8Array {
  return encodeShortEntry(dots.padEnd(11, " "), ATTR_DIRECTORY, cluster, 0, date);
}

/** Long-name entries for `name` in on-disk order (last piece first), or none when short11 is exactly it. */
export function lfnEntries(name: string, short11: string): Uint8Array[] {
  const base = short11.slice(0, 8).trimEnd(),
    ext = short11.slice(8).trimEnd();
  if (name === (ext ? `${base}.${ext}` : base)) return [];
  const count = Math.ceil(name.length / 13),
    checksum = shortNameChecksum(short11);
  const out: Uint8Array[] = [];
  for (let ord = count; ord >= 1; ord--) {
    const e = new Uint8Array(DIR_ENTRY_BYTES);
    const dv = new DataView(e.buffer);
    e[LDIR_Ord] = ord | (ord === count ? LAST_LONG_ENTRY : 0);
    e[LDIR_Attr] = ATTR_LONG_NAME;
    e[LDIR_Chksum] = checksum;
    let i = (ord - 1) * 13;
    for (const [at, units] of LFN_PIECES) {
      for (let k = 0; k < units; k++, i++)
        dv.setUint16(at + 2 * k, i < name.length ? name.charCodeAt(i) : i === name.length ? 0 : 0xffff, true);
    }
    out.push(e);
  }
  return out;
}

export interface DirRecord {
  longName: string; // the long name, or the short one shown as "NAME.EXT"
  shortName: string; // "NAME.EXT"
  short11: string; // DIR_Name as stored
  firstSlot: number; // first entry (its first long-name entry)
  shortSlot: number; // the short entry
  attr: number;
  firstCluster: number;
  size: number;
}

function lfnPiece(e: Uint8Array): string {
  const dv = new DataView(e.buffer, e.byteOffset, DIR_ENTRY_BYTES);
  let text = "";
  for (const [at, units] of LFN_PIECES) {
    for (let k = 0; k < units; k++) {
      const unit = dv.getUint16(at + 2 * k, true);
      if (unit === 0) return text;
      text += String.fromCharCode(unit);
    }
  }
  return text;
}

/** The live entries of a directory (no ".", "..", volume label or deleted entries). */
export function parseDirectory(bytes: Uint8Array): DirRecord[] {
  const out: DirRecord[] = [];
  let lfn: { pieces: string[]; checksum: number; first: number; next: number } | undefined;
  for (let slot = 0; slot * DIR_ENTRY_BYTES < bytes.length; slot++) {
    const e = bytes.subarray(slot * DIR_ENTRY_BYTES, (slot + 1) * DIR_ENTRY_BYTES);
    if (e[0] === 0) break;
    if (e[0] === DELETED_MARK) {
      lfn = undefined;
      continue;
    }
    if ((e[DIR_Attr] & 0x3f) === ATTR_LONG_NAME) {
      const ord = e[LDIR_Ord] & 0x1f;
      if (e[LDIR_Ord] & LAST_LONG_ENTRY) lfn = { pieces: [], checksum: e[LDIR_Chksum], first: slot, next: ord };
      if (!lfn || ord !== lfn.next || ord === 0 || e[LDIR_Chksum] !== lfn.checksum) {
        lfn = undefined;
        continue;
      }
      lfn.pieces[ord - 1] = lfnPiece(e);
      lfn.next = ord - 1;
      continue;
    }
    const short11 = String.fromCharCode(...e.subarray(0, 11));
    const hasLfn = lfn !== undefined && lfn.next === 0 && lfn.checksum === shortNameChecksum(short11);
    const first = hasLfn ? lfn!.first : slot,
      longName = hasLfn ? lfn!.pieces.join("") : "";
    lfn = undefined;
    if (e[DIR_Attr] & ATTR_VOLUME_ID || e[0] === 0x2e) continue;
    const dv = new DataView(e.buffer, e.byteOffset, DIR_ENTRY_BYTES);
    const base = short11.slice(0, 8).trimEnd().replace(/^\x05/, "\xe5"),
      ext = short11.slice(8).trimEnd();
    const shortName = ext ? `${base}.${ext}` : base;
    out.push({
      longName: longName || shortName,
      shortName,
      short11,
      firstSlot: first,
      shortSlot: slot,
      attr: e[DIR_Attr],
      firstCluster: ((dv.getUint16(DIR_FstClusHI, true) << 16) | dv.getUint16(DIR_FstClusLO, true)) >>> 0,
      size: dv.getUint32(DIR_FileSize, true),
    });
  }
  return out;
}

/** DIR_Name of every short entry in a directory (live ones), for unique short names. */
export function takenShortNames(bytes: Uint8Array): Set<string> {
  return new Set(parseDirectory(bytes).map((r) => r.short11));
}

/** The first run of `count` free entries (deleted, or from the end mark on), or -1. */
export function findFreeSlots(bytes: Uint8Array, count: number): number {
  let runStart = 0,
    runLength = 0;
  for (let slot = 0; slot * DIR_ENTRY_BYTES < bytes.length; slot++) {
    const first = bytes[slot * DIR_ENTRY_BYTES];
    if (first !== 0 && first !== DELETED_MARK) {
      runLength = 0;
      runStart = slot + 1;
      continue;
    }
    if (++runLength === count) return runStart;
  }
  return -1;
}
