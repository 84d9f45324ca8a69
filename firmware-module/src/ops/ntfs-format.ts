// The NTFS formatter (as exfat-format.ts is for exFAT): lays out an empty NTFS 3.1 volume on a
// partition, as `mkntfs -f` (the quick format) does, and writes its boot file and backup boot
// sector, the MFT (system files 0-15, reserved records 16-23, $Quota, $ObjId and $Reparse at
// 24-26) and its mirror, an empty $LogFile, $AttrDef, the root directory's index, $Bitmap,
// $BadClus, $Secure and $UpCase. Field names follow the NTFS documentation (the Linux-NTFS
// project's "NTFS Documentation" and ntfs-3g's layout.h names); where mkntfs makes a choice the
// format leaves open (where the MFT and the metadata go, the $LogFile size) this makes the same
// one so that a volume of the same size has the same cluster count, $MFT and $MFTMirr clusters.
// The layout is pure (layoutNtfs); formatNtfs writes. Checked by ntfsfix, ntfsinfo, ntfsresize,
// ntfscp and ntfscat in the tests.
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";

// Boot sector (NTFS Documentation, "$Boot"; the BIOS parameter block)
export const BS_Jump = 0; // EB 52 90 (3 bytes)
export const BS_OemId = 3; // "NTFS    " (8 bytes)
export const BPB_BytesPerSector = 11; // u16
export const BPB_SectorsPerCluster = 13; // u8: 1..128
export const BPB_Media = 21; // u8: 0xF8 (fixed disk)
export const BPB_SectorsPerTrack = 24; // u16 (only the boot code uses it)
export const BPB_Heads = 26; // u16
export const BPB_HiddenSectors = 28; // u32: sectors before the partition on its disk
export const BPB_DriveAndSignature = 36; // u32: drive 0x80, extended boot signature 0x80
export const BPB_TotalSectors = 40; // u64: the volume's sectors; the backup boot sector follows them
export const BPB_MftLcn = 48; // u64: first cluster of $MFT
export const BPB_MftMirrLcn = 56; // u64: first cluster of $MFTMirr
export const BPB_ClustersPerMftRecord = 64; // s8: clusters, or -log2(bytes) when a record is smaller than a cluster
export const BPB_ClustersPerIndexBlock = 68; // s8: the same for index blocks
export const BPB_SerialNumber = 72; // u64
export const BPB_Checksum = 80; // u32: 0 (unused)
export const BS_BootCode = 84; // boot code: here a halt loop, the volume is not bootable
export const BS_Signature = 510; // 0xAA55 (u16)
/** $Boot: the boot sector and the (absent) boot loader, 8 KiB. */
export const BOOT_FILE_BYTES = 8192;

// MFT record header (FILE_RECORD_SEGMENT_HEADER; NTFS 3.1)
const MFT_Magic = 0; // "FILE" (u32)
const MFT_UsaOffset = 4; // u16: 48
const MFT_UsaCount = 6; // u16: 1 + record bytes / 512
const MFT_SequenceNumber = 16; // u16
const MFT_LinkCount = 18; // u16: file names in directories
const MFT_AttrsOffset = 20; // u16: the first attribute
const MFT_Flags = 22; // u16: IN_USE 1, DIRECTORY 2, IS_4 4, VIEW_INDEX 8
const MFT_BytesInUse = 24; // u32
const MFT_BytesAllocated = 28; // u32: the record size
const MFT_NextAttrInstance = 40; // u16
const MFT_RecordNumber = 44; // u32 (3.1)
const MFT_USA = 48; // the update sequence array
const REC_IN_USE = 1;
const REC_DIRECTORY = 2;
const REC_IS_4 = 4; // set by Windows (and mkntfs) on the files in $Extend
const REC_VIEW_INDEX = 8;
// INDX block header (INDEX_BLOCK)
const INDX_UsaOffset = 4; // u16: 40
const INDX_UsaCount = 6; // u16
const INDX_Vcn = 16; // u64
const INDX_Header = 24; // the INDEX_HEADER
const INDX_USA = 40;
/** Update sequences protect the last u16 of every 512 bytes, whatever the sector size. */
const USA_STRIDE = 512;
const USN = 1; // the update sequence number written

// Attribute header (ATTR_RECORD)
const ATTR_Type = 0; // u32
const ATTR_Length = 4; // u32
const ATTR_NonResident = 8; // u8
const ATTR_NameLength = 9; // u8: UTF-16 units
const ATTR_NameOffset = 10; // u16
const ATTR_Instance = 14; // u16
const ATTR_ValueLength = 16; // u32 (resident)
const ATTR_ValueOffset = 20; // u16 (resident)
const ATTR_ResidentFlags = 22; // u8: 1 = indexed (a $FILE_NAME)
const ATTR_RESIDENT_HEADER = 24;
const ATTR_LowestVcn = 16; // u64 (non-resident)
const ATTR_HighestVcn = 24; // u64
const ATTR_RunsOffset = 32; // u16
const ATTR_AllocatedSize = 40; // u64
const ATTR_DataSize = 48; // u64
const ATTR_InitializedSize = 56; // u64
const ATTR_NONRESIDENT_HEADER = 64;
const ATTR_END = 0xffffffff;
// attribute types
const AT_STANDARD_INFORMATION = 0x10;
const AT_FILE_NAME = 0x30;
const AT_VOLUME_NAME = 0x60;
const AT_VOLUME_INFORMATION = 0x70;
const AT_DATA = 0x80;
const AT_INDEX_ROOT = 0x90;
const AT_INDEX_ALLOCATION = 0xa0;
const AT_BITMAP = 0xb0;

// $STANDARD_INFORMATION (NTFS 3.x: 72 bytes)
const SI_CreationTime = 0; // u64, 100 ns since 1601 (and LastWriteTime 8, ChangeTime 16, LastAccessTime 24)
const SI_FileAttributes = 32; // u32
const SI_SecurityId = 52; // u32: the descriptor in $Secure
const SI_BYTES = 72;
// $FILE_NAME
const FN_ParentReference = 0; // u64
const FN_CreationTime = 8; // u64 (four times, as in $STANDARD_INFORMATION)
const FN_AllocatedSize = 40; // u64
const FN_DataSize = 48; // u64
const FN_FileAttributes = 56; // u32
const FN_NameLength = 64; // u8
const FN_Namespace = 65; // u8: 3 = Win32 and DOS
const FN_Name = 66;
const FILE_ATTRIBUTE_HIDDEN = 0x02;
const FILE_ATTRIBUTE_SYSTEM = 0x04;
const FILE_ATTRIBUTE_ARCHIVE = 0x20;
const DUP_FILE_NAME_INDEX_PRESENT = 0x10000000; // a directory
const DUP_VIEW_INDEX_PRESENT = 0x20000000;
const SYSTEM_FILE = FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM;
// $VOLUME_INFORMATION
const VI_MajorVersion = 8; // u8: 3
const VI_MinorVersion = 9; // u8: 1
const VI_BYTES = 12;
const LABEL_MAX = 128; // UTF-16 units ($AttrDef: $VOLUME_NAME at most 0x100 bytes)

// INDEX_ROOT, INDEX_HEADER, INDEX_ENTRY
const IR_Type = 0; // u32: the attribute indexed ($FILE_NAME), 0 for a view index
const IR_Collation = 4; // u32
const IR_IndexBlockSize = 8; // u32
const IR_ClustersPerIndexBlock = 12; // u8: clusters, or 512-byte blocks when the block is smaller than a cluster
const IR_Header = 16;
const IH_EntriesOffset = 0; // u32, from the INDEX_HEADER
const IH_IndexLength = 4; // u32
const IH_AllocatedSize = 8; // u32
const IH_Flags = 12; // u8: 1 = LARGE_INDEX (root) or INDEX_NODE (block)
const IH_BYTES = 16;
const IE_FileReference = 0; // u64 ($I30); a view index has DataOffset u16 at 0, DataLength u16 at 2
const IE_DataOffset = 0;
const IE_DataLength = 2;
const IE_Length = 8; // u16
const IE_KeyLength = 10; // u16
const IE_Flags = 12; // u16: 1 = has a sub-node (its VCN is the entry's last 8 bytes), 2 = last entry
const IE_Key = 16;
const IE_NODE = 1;
const IE_END = 2;
const COLLATION_FILE_NAME = 1;
const COLLATION_NTOFS_ULONG = 0x10;
const COLLATION_NTOFS_SID = 0x11;
const COLLATION_NTOFS_SECURITY_HASH = 0x12;
const COLLATION_NTOFS_ULONGS = 0x13;

// $Secure:$SDS entries (SECURITY_DESCRIPTOR_HEADER), mirrored 256 KiB further on
const SDS_Hash = 0; // u32
const SDS_SecurityId = 4; // u32
const SDS_Offset = 8; // u64: of this header in the stream
const SDS_Length = 16; // u32: header and descriptor
const SDS_HEADER = 20;
const SDS_MIRROR = 0x40000;
const SDS_ALIGN = 16;
const SECURITY_ID_SYSTEM = 0x100; // the system files' descriptor
const SECURITY_ID_ROOT = 0x101; // the root directory's

// System files (their MFT record numbers)
const FILE_MFT = 0;
const FILE_MFTMirr = 1;
const FILE_LogFile = 2;
const FILE_Volume = 3;
const FILE_AttrDef = 4;
const FILE_root = 5;
const FILE_Bitmap = 6;
const FILE_Boot = 7;
const FILE_BadClus = 8;
const FILE_Secure = 9;
const FILE_UpCase = 10;
const FILE_Extend = 11;
const FILE_reserved12 = 12; // 12-15: reserved, in use, no name
const FILE_first_user = 16; // 16-23: unused FILE records
const FILE_Quota = 24;
const FILE_ObjId = 25;
const FILE_Reparse = 26;
/** Records mkntfs's $MFT holds: the system files, the reserved ones and the three in $Extend. */
const MFT_RECORDS_MIN = 27;

const SECTOR_SIZES = [512, 4096];
const CLUSTER_BYTES_MIN = 512;
const CLUSTER_BYTES_MAX = 65536;
const CLUSTER_COUNT_MAX = 0xffffffff;
const INDEX_BLOCK_BYTES = 4096;
/** The MFT starts at 16 KiB (or after the boot file and the MFT's bitmap), as mkntfs places it. */
const MFT_START_BYTES = 16384;
const UPCASE_BYTES = 0x10000 * 2;
const MiB = 1 << 20;
const NTFS_EPOCH_MS = 11644473600000; // 1601-01-01 to 1970-01-01
/** The date written when none is given (2020-01-01T00:00:00Z), so that a format is reproducible. */
export const NTFS_FORMAT_DEFAULT_DATE = new Date(Date.UTC(2020, 0, 1));
export const NTFS_FORMAT_DEFAULT_SERIAL = 0x1234_5678_9abc_def0n;

export class NtfsFormatError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "NtfsFormatError";
  }
}

export interface NtfsFormatOptions {
  /** Bytes per cluster: a power of two from the sector size to 64 KiB; by default 4096 (or the sector size), more only past 16 TiB, as mkntfs. */
  clusterBytes?: number;
  label?: string;
  serialNumber?: bigint;
  /** The time stamps of every system file. */
  date?: Date;
  /** Sectors before the partition on its disk (BPB_HiddenSectors). */
  hiddenSectors?: number;
}

/** Where a system file's data lies: `clusters` clusters from `lcn`. */
export interface Extent {
  lcn: number;
  clusters: number;
}

export interface NtfsLayout {
  bytesPerSector: number;
  clusterBytes: number;
  /** The volume's sectors (BPB_TotalSectors): the partition's less the backup boot sector. */
  totalSectors: number;
  clusterCount: number;
  recordBytes: number;
  indexBlockBytes: number;
  mftRecords: number;
  /** Records $MFTMirr holds: 4, or a cluster's worth when a cluster holds more. */
  mirrorRecords: number;
  mftBitmapBytes: number;
  bitmapBytes: number;
  logFileBytes: number;
  sdsBytes: number;
  boot: Extent;
  mftBitmap: Extent;
  mft: Extent;
  /** Clusters ntfs-3g keeps for the MFT to grow into (12.5 %), as mkntfs leaves them. */
  mftZoneEnd: number;
  rootIndex: Extent;
  attrDef: Extent;
  bitmap: Extent;
  sds: Extent;
  upcase: Extent;
  mftMirr: Extent;
  logFile: Extent;
  /** Clusters of the volume $Bitmap marks in use (it also marks the bits past the last cluster). */
  usedClusters: number;
}

/** The default cluster size: 4096 bytes (at least a sector) until the cluster count passes 2^32 - 1. */
export function defaultNtfsClusterBytes(sectorCount: number, bytesPerSector: number): number {
  let cb = Math.max(4096, bytesPerSector);
  while (cb < CLUSTER_BYTES_MAX && Math.floor(((sectorCount - 1) * bytesPerSector) / cb) > CLUSTER_COUNT_MAX) cb *= 2;
  return cb;
}

/** $LogFile's size: 256 KiB to 2 MiB on small volumes, then 1/200 of the volume up to 64 MiB (mkntfs's sizes up to 200 MiB). */
function logFileBytes(volumeBytes: number, clusterBytes: number): number {
  let bytes: number;
  if (volumeBytes < 2 * MiB) bytes = 256 << 10;
  else if (volumeBytes < 4 * MiB) bytes = 512 << 10;
  else if (volumeBytes < 5 * MiB) bytes = MiB;
  else bytes = Math.min(64 * MiB, Math.max(2 * MiB, Math.floor(volumeBytes / 200)));
  return Math.ceil(bytes / clusterBytes) * clusterBytes;
}

/** The layout of an NTFS volume on `sectorCount` sectors, the places mkntfs gives its metadata. */
export function layoutNtfs(
  sectorCount: number,
  bytesPerSector: number,
  clusterBytes: number,
  what = "the partition",
): NtfsLayout {
  if (!SECTOR_SIZES.includes(bytesPerSector))
    throw new NtfsFormatError(`${what}: the NTFS formatter takes 512- or 4096-byte sectors, not ${bytesPerSector}`);
  if (
    !Number.isInteger(clusterBytes) ||
    clusterBytes < Math.max(CLUSTER_BYTES_MIN, bytesPerSector) ||
    clusterBytes > CLUSTER_BYTES_MAX ||
    (clusterBytes & (clusterBytes - 1)) !== 0
  )
    throw new NtfsFormatError(
      `${what}: an NTFS cluster is a power of two from the sector size (${bytesPerSector}) to 64 KiB, not ${clusterBytes} bytes`,
    );
  if (!Number.isSafeInteger(sectorCount) || sectorCount < 2)
    throw new NtfsFormatError(`${what}: ${sectorCount} sectors is not a partition size`);
  const cb = clusterBytes;
  const totalSectors = sectorCount - 1;
  const clusterCount = Math.floor((totalSectors * bytesPerSector) / cb);
  if (clusterCount > CLUSTER_COUNT_MAX)
    throw new NtfsFormatError(
      `${what}: ${sectorCount} sectors of ${bytesPerSector} bytes make ${clusterCount} clusters of ${cb} bytes; NTFS addresses at most ${CLUSTER_COUNT_MAX}`,
    );
  const clustersOf = (bytes: number) => Math.ceil(bytes / cb);
  const recordBytes = Math.max(1024, bytesPerSector);
  const mirrorRecords = Math.max(4, cb / recordBytes);
  const mftRecords = Math.max(MFT_RECORDS_MIN, mirrorRecords);
  const mftBitmapBytes = Math.ceil(mftRecords / 64) * 8;
  const bitmapBytes = Math.ceil(clusterCount / 64) * 8;
  const boot: Extent = { lcn: 0, clusters: clustersOf(BOOT_FILE_BYTES) };
  const mftBitmap: Extent = { lcn: boot.clusters, clusters: clustersOf(mftBitmapBytes) };
  const mftLcn = Math.max(clustersOf(MFT_START_BYTES), mftBitmap.lcn + mftBitmap.clusters);
  const mft: Extent = { lcn: mftLcn, clusters: clustersOf(mftRecords * recordBytes) };
  const mftZoneEnd = Math.max(mftLcn + Math.floor(clusterCount / 8), mft.lcn + mft.clusters);
  // after the MFT zone: the root's index block, $AttrDef, $Bitmap, $Secure:$SDS, $UpCase
  let next = mftZoneEnd;
  const take = (bytes: number): Extent => {
    const e = { lcn: next, clusters: clustersOf(bytes) };
    next += e.clusters;
    return e;
  };
  const rootIndex = take(INDEX_BLOCK_BYTES);
  const attrDef = take(ATTRDEF_BYTES);
  const bitmap = take(bitmapBytes);
  const sdsBytes = SDS_MIRROR + sdsUsedBytes();
  const sds = take(sdsBytes);
  const upcase = take(UPCASE_BYTES);
  // in the middle of the volume: $MFTMirr, then $LogFile
  const log = logFileBytes(totalSectors * bytesPerSector, cb);
  const mftMirr: Extent = { lcn: Math.floor(clusterCount / 2), clusters: clustersOf(mirrorRecords * recordBytes) };
  const logFile: Extent = { lcn: mftMirr.lcn + mftMirr.clusters, clusters: log / cb };
  const size = `${sectorCount} sectors of ${bytesPerSector} bytes make ${clusterCount} clusters of ${cb} bytes`;
  if (next > mftMirr.lcn)
    throw new NtfsFormatError(
      `${what}: ${size}, too few: the metadata after the MFT zone ends at cluster ${next}, past $MFTMirr at the middle (${mftMirr.lcn})`,
    );
  if (logFile.lcn + logFile.clusters > clusterCount)
    throw new NtfsFormatError(
      `${what}: ${size}, too few: $LogFile's ${logFile.clusters} clusters from ${logFile.lcn} end past the volume`,
    );
  const extents = [boot, mftBitmap, mft, rootIndex, attrDef, bitmap, sds, upcase, mftMirr, logFile];
  return {
    bytesPerSector,
    clusterBytes: cb,
    totalSectors,
    clusterCount,
    recordBytes,
    indexBlockBytes: INDEX_BLOCK_BYTES,
    mftRecords,
    mirrorRecords,
    mftBitmapBytes,
    bitmapBytes,
    logFileBytes: log,
    sdsBytes,
    boot,
    mftBitmap,
    mft,
    mftZoneEnd,
    rootIndex,
    attrDef,
    bitmap,
    sds,
    upcase,
    mftMirr,
    logFile,
    usedClusters: extents.reduce((s, e) => s + e.clusters, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// $UpCase and file-name collation

/**
 * The up-case table: for each UTF-16 code unit, the one String.prototype.toUpperCase gives it
 * when that is one code unit whose lower case is the character again (so µ, ı, ſ and the final
 * sigma keep themselves, as in Windows's table), else the character itself.
 */
export function ntfsUpcaseTable(): Uint16Array {
  const table = new Uint16Array(0x10000);
  for (let c = 0; c < 0x10000; c++) {
    table[c] = c;
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const s = String.fromCharCode(c);
    const u = s.toUpperCase();
    if (u.length === 1 && u !== s && u.toLowerCase() === s) table[c] = u.charCodeAt(0);
  }
  return table;
}

/** NTFS file-name collation: names compared up-cased code unit by code unit, then as written. */
export function collateFileNames(a: string, b: string, upcase: Uint16Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = upcase[a.charCodeAt(i)] - upcase[b.charCodeAt(i)];
    if (d !== 0) return d;
  }
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// $AttrDef: the attribute definitions of NTFS 3.1 (ATTR_DEF: name 128 bytes, type at 128,
// display rule 132, collation rule 136, flags 140, minimum size 144 (s64), maximum 152 (s64))

const AD_Type = 128;
const AD_Flags = 140;
const AD_MinSize = 144;
const AD_MaxSize = 152;
const AD_ENTRY = 160;
const ATTR_DEF_INDEXABLE = 0x02;
const ATTR_DEF_RESIDENT = 0x40; // must be resident
const ATTR_DEF_LOG_NONRESIDENT = 0x80;
const ATTR_DEFS: Array<[string, number, number, number, number]> = [
  // name, type, flags, minimum and maximum size (-1: no limit)
  ["$STANDARD_INFORMATION", 0x10, ATTR_DEF_RESIDENT, 0x30, 0x48],
  ["$ATTRIBUTE_LIST", 0x20, ATTR_DEF_LOG_NONRESIDENT, 0, -1],
  ["$FILE_NAME", 0x30, ATTR_DEF_RESIDENT | ATTR_DEF_INDEXABLE, 0x44, 0x242],
  ["$OBJECT_ID", 0x40, ATTR_DEF_RESIDENT, 0, 0x100],
  ["$SECURITY_DESCRIPTOR", 0x50, ATTR_DEF_LOG_NONRESIDENT, 0, -1],
  ["$VOLUME_NAME", 0x60, ATTR_DEF_RESIDENT, 2, 0x100],
  ["$VOLUME_INFORMATION", 0x70, ATTR_DEF_RESIDENT, 0xc, 0xc],
  ["$DATA", 0x80, 0, 0, -1],
  ["$INDEX_ROOT", 0x90, ATTR_DEF_RESIDENT, 0, -1],
  ["$INDEX_ALLOCATION", 0xa0, ATTR_DEF_LOG_NONRESIDENT, 0, -1],
  ["$BITMAP", 0xb0, ATTR_DEF_LOG_NONRESIDENT, 0, -1],
  ["$REPARSE_POINT", 0xc0, ATTR_DEF_LOG_NONRESIDENT, 0, 0x4000],
  ["$EA_INFORMATION", 0xd0, ATTR_DEF_RESIDENT, 8, 8],
  ["$EA", 0xe0, 0, 0, 0x10000],
  ["$LOGGED_UTILITY_STREAM", 0x100, ATTR_DEF_LOG_NONRESIDENT, 0, 0x10000],
];
/** The table with a zeroed entry at its end, as Windows writes it. */
const ATTRDEF_BYTES = (ATTR_DEFS.length + 1) * AD_ENTRY;

export function attrDefTable(): Uint8Array {
  const out = new Uint8Array(ATTRDEF_BYTES);
  const v = new DataView(out.buffer);
  ATTR_DEFS.forEach(([name, type, flags, min, max], i) => {
    const at = i * AD_ENTRY;
    putUtf16(out, at, name);
    v.setUint32(at + AD_Type, type, true);
    v.setUint32(at + AD_Flags, flags, true);
    v.setBigInt64(at + AD_MinSize, BigInt(min), true);
    v.setBigInt64(at + AD_MaxSize, BigInt(max), true);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Security descriptors (self-relative SECURITY_DESCRIPTOR_RELATIVE, revision 1)

const SD_Revision = 0; // u8: 1
const SD_Control = 2; // u16
const SD_Owner = 4; // u32: offset of the owner SID
const SD_Group = 8; // u32
const SD_Dacl = 16; // u32
const SD_HEADER = 20;
const SE_DACL_PRESENT = 0x0004;
const SE_SELF_RELATIVE = 0x8000;
const ACL_REVISION = 2;
const ACCESS_ALLOWED_ACE_TYPE = 0;
const OBJECT_INHERIT_ACE = 0x01;
const CONTAINER_INHERIT_ACE = 0x02;
const FILE_ALL_ACCESS = 0x001f01ff;
const FILE_GENERIC_READ = 0x00120089;
const SID_SYSTEM = [5, 18]; // S-1-5-18 (identifier authority, sub-authorities)
const SID_ADMINISTRATORS = [5, 32, 544]; // S-1-5-32-544
const SID_EVERYONE = [1, 0]; // S-1-1-0

function sid(parts: number[]): number[] {
  const out = [1, parts.length - 1, 0, 0, 0, 0, 0, parts[0]];
  for (const sub of parts.slice(1)) out.push(sub & 0xff, (sub >>> 8) & 0xff, (sub >>> 16) & 0xff, sub >>> 24);
  return out;
}

/** A descriptor owned by the Administrators, granting each [SID, mask, ACE flags] of `aces`. */
function securityDescriptor(aces: Array<[number[], number, number]>): Uint8Array {
  const owner = sid(SID_ADMINISTRATORS),
    group = sid(SID_SYSTEM);
  const aceBytes = aces.map(([who, mask, flags]) => {
    const s = sid(who),
      size = 8 + s.length;
    return [ACCESS_ALLOWED_ACE_TYPE, flags, size & 0xff, size >> 8, ...le32(mask), ...s];
  });
  const aclSize = 8 + aceBytes.reduce((n, a) => n + a.length, 0);
  const acl = [ACL_REVISION, 0, aclSize & 0xff, aclSize >> 8, aces.length, 0, 0, 0, ...aceBytes.flat()];
  const out = new Uint8Array(SD_HEADER + owner.length + group.length + acl.length);
  const v = new DataView(out.buffer);
  out[SD_Revision] = 1;
  v.setUint16(SD_Control, SE_SELF_RELATIVE | SE_DACL_PRESENT, true);
  v.setUint32(SD_Owner, SD_HEADER, true);
  v.setUint32(SD_Group, SD_HEADER + owner.length, true);
  v.setUint32(SD_Dacl, SD_HEADER + owner.length + group.length, true);
  out.set([...owner, ...group, ...acl], SD_HEADER);
  return out;
}

/** The descriptors this formatter puts in $Secure, by security id. */
function descriptors(): Array<[number, Uint8Array]> {
  const both = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE;
  return [
    [
      SECURITY_ID_SYSTEM,
      securityDescriptor([
        [SID_SYSTEM, FILE_GENERIC_READ, 0],
        [SID_ADMINISTRATORS, FILE_GENERIC_READ, 0],
      ]),
    ],
    [
      SECURITY_ID_ROOT,
      securityDescriptor([
        [SID_SYSTEM, FILE_ALL_ACCESS, both],
        [SID_ADMINISTRATORS, FILE_ALL_ACCESS, both],
        [SID_EVERYONE, FILE_ALL_ACCESS, both],
      ]),
    ],
  ];
}

/** The security hash ($SDH's key): each u32 of the descriptor added to the sum rotated left by 3. */
export function securityHash(sd: Uint8Array): number {
  const v = new DataView(sd.buffer, sd.byteOffset, sd.length);
  let h = 0;
  for (let i = 0; i + 4 <= sd.length; i += 4) h = (((h << 3) | (h >>> 29)) + v.getUint32(i, true)) >>> 0;
  return h;
}

interface SdsEntry {
  id: number;
  hash: number;
  offset: number;
  length: number;
}

/** $SDS's first 256 KiB block: each descriptor after its header, on 16-byte boundaries. */
function sdsBlock(): { bytes: Uint8Array; entries: SdsEntry[] } {
  const entries: SdsEntry[] = [];
  const parts: Array<[SdsEntry, Uint8Array]> = [];
  let at = 0;
  for (const [id, sd] of descriptors()) {
    const e = { id, hash: securityHash(sd), offset: at, length: SDS_HEADER + sd.length };
    entries.push(e);
    parts.push([e, sd]);
    at = align(at + e.length, SDS_ALIGN);
  }
  const last = entries[entries.length - 1];
  const bytes = new Uint8Array(last.offset + last.length);
  const v = new DataView(bytes.buffer);
  for (const [e, sd] of parts) {
    v.setUint32(e.offset + SDS_Hash, e.hash, true);
    v.setUint32(e.offset + SDS_SecurityId, e.id, true);
    v.setBigUint64(e.offset + SDS_Offset, BigInt(e.offset), true);
    v.setUint32(e.offset + SDS_Length, e.length, true);
    bytes.set(sd, e.offset + SDS_HEADER);
  }
  return { bytes, entries };
}

function sdsUsedBytes(): number {
  return sdsBlock().bytes.length;
}

// ---------------------------------------------------------------------------------------------
// small encoders

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function le32(x: number): number[] {
  return [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
}

function putUtf16(b: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) {
    b[at + 2 * i] = s.charCodeAt(i) & 0xff;
    b[at + 2 * i + 1] = s.charCodeAt(i) >> 8;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A file reference: record number (48 bits) and sequence number (16 bits). */
function fileRef(record: number, seq: number): bigint {
  return (BigInt(seq) << 48n) | BigInt(record);
}

/** Writes the update sequence array of the structure at [at, at + bytes) and protects its 512-byte blocks. */
export function applyFixups(b: Uint8Array, at: number, bytes: number, usaOffset: number): void {
  const v = new DataView(b.buffer, b.byteOffset);
  v.setUint16(at + usaOffset, USN, true);
  for (let i = 0; i < bytes / USA_STRIDE; i++) {
    const end = at + (i + 1) * USA_STRIDE - 2;
    v.setUint16(at + usaOffset + 2 + 2 * i, v.getUint16(end, true), true);
    v.setUint16(end, USN, true);
  }
}

/** Mapping pairs of one run (`lcn` -1: sparse), signed little-endian numbers in as few bytes as hold them. */
function mappingPairs(lcn: number, clusters: number): Uint8Array {
  const signedBytes = (x: number): number[] => {
    const out: number[] = [];
    let n = BigInt(x);
    for (;;) {
      const byte = Number(n & 0xffn);
      out.push(byte);
      n >>= 8n;
      if ((n === 0n && byte < 0x80) || (n === -1n && byte >= 0x80)) return out;
    }
  };
  const len = signedBytes(clusters),
    off = lcn < 0 ? [] : signedBytes(lcn);
  return Uint8Array.from([(off.length << 4) | len.length, ...len, ...off, 0]);
}

// ---------------------------------------------------------------------------------------------
// MFT records

/** Builds one FILE record: attributes appended in type order, then finish(). */
class RecordBuilder {
  readonly bytes: Uint8Array;
  private readonly v: DataView;
  private at: number;
  private instance = 0;

  constructor(
    recordBytes: number,
    private readonly n: number,
    seq: number,
  ) {
    this.bytes = new Uint8Array(recordBytes);
    this.v = new DataView(this.bytes.buffer);
    const usaCount = recordBytes / USA_STRIDE + 1;
    this.v.setUint32(MFT_Magic, 0x454c4946, true); // "FILE"
    this.v.setUint16(MFT_UsaOffset, MFT_USA, true);
    this.v.setUint16(MFT_UsaCount, usaCount, true);
    this.v.setUint16(MFT_SequenceNumber, seq, true);
    this.at = align(MFT_USA + 2 * usaCount, 8);
    this.v.setUint16(MFT_AttrsOffset, this.at, true);
    this.v.setUint32(MFT_BytesAllocated, recordBytes, true);
    this.v.setUint32(MFT_RecordNumber, n, true);
  }

  private header(type: number, name: string, length: number, nonResident: boolean, nameAt: number): number {
    const at = this.at;
    if (at + length + 8 > this.bytes.length)
      throw new NtfsFormatError(`MFT record ${this.n}: attribute 0x${type.toString(16)} does not fit the record`);
    this.v.setUint32(at + ATTR_Type, type, true);
    this.v.setUint32(at + ATTR_Length, length, true);
    this.bytes[at + ATTR_NonResident] = nonResident ? 1 : 0;
    this.bytes[at + ATTR_NameLength] = name.length;
    this.v.setUint16(at + ATTR_NameOffset, nameAt, true);
    this.v.setUint16(at + ATTR_Instance, this.instance++, true);
    putUtf16(this.bytes, at + nameAt, name);
    this.at += length;
    return at;
  }

  resident(type: number, name: string, value: Uint8Array, indexed = false): this {
    const valueAt = align(ATTR_RESIDENT_HEADER + 2 * name.length, 8);
    const at = this.header(type, name, align(valueAt + value.length, 8), false, ATTR_RESIDENT_HEADER);
    this.v.setUint32(at + ATTR_ValueLength, value.length, true);
    this.v.setUint16(at + ATTR_ValueOffset, valueAt, true);
    this.bytes[at + ATTR_ResidentFlags] = indexed ? 1 : 0;
    this.bytes.set(value, at + valueAt);
    return this;
  }

  /** A non-resident attribute of one run (lcn -1: sparse), `dataBytes` long, initialized to `initBytes`. */
  nonResident(
    type: number,
    name: string,
    run: Extent,
    clusterBytes: number,
    dataBytes: number,
    initBytes = dataBytes,
  ): this {
    const runsAt = align(ATTR_NONRESIDENT_HEADER + 2 * name.length, 8);
    const pairs = mappingPairs(run.lcn, run.clusters);
    const at = this.header(type, name, align(runsAt + pairs.length, 8), true, ATTR_NONRESIDENT_HEADER);
    this.v.setBigUint64(at + ATTR_LowestVcn, 0n, true);
    this.v.setBigUint64(at + ATTR_HighestVcn, BigInt(run.clusters - 1), true);
    this.v.setUint16(at + ATTR_RunsOffset, runsAt, true);
    this.v.setBigUint64(at + ATTR_AllocatedSize, BigInt(run.clusters * clusterBytes), true);
    this.v.setBigUint64(at + ATTR_DataSize, BigInt(dataBytes), true);
    this.v.setBigUint64(at + ATTR_InitializedSize, BigInt(initBytes), true);
    this.bytes.set(pairs, at + runsAt);
    return this;
  }

  /** Ends the attributes and sets the header's flags and link count; fixups are applied with the MFT. */
  finish(flags: number, links: number): Uint8Array {
    this.v.setUint32(this.at, ATTR_END, true);
    this.v.setUint32(MFT_BytesInUse, this.at + 8, true);
    this.v.setUint16(MFT_Flags, flags, true);
    this.v.setUint16(MFT_LinkCount, links, true);
    this.v.setUint16(MFT_NextAttrInstance, this.instance, true);
    return this.bytes;
  }
}

function standardInformation(time: bigint, attributes: number, securityId: number): Uint8Array {
  const out = new Uint8Array(SI_BYTES);
  const v = new DataView(out.buffer);
  for (let k = 0; k < 4; k++) v.setBigUint64(SI_CreationTime + 8 * k, time, true);
  v.setUint32(SI_FileAttributes, attributes, true);
  v.setUint32(SI_SecurityId, securityId, true);
  return out;
}

interface NameOf {
  record: number;
  seq: number;
  name: string;
  parent: bigint;
  allocated: number;
  size: number;
  attributes: number;
}

function fileName(f: NameOf, time: bigint): Uint8Array {
  const out = new Uint8Array(FN_Name + 2 * f.name.length);
  const v = new DataView(out.buffer);
  v.setBigUint64(FN_ParentReference, f.parent, true);
  for (let k = 0; k < 4; k++) v.setBigUint64(FN_CreationTime + 8 * k, time, true);
  v.setBigUint64(FN_AllocatedSize, BigInt(f.allocated), true);
  v.setBigUint64(FN_DataSize, BigInt(f.size), true);
  v.setUint32(FN_FileAttributes, f.attributes, true);
  out[FN_NameLength] = f.name.length;
  out[FN_Namespace] = 3;
  putUtf16(out, FN_Name, f.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// indexes

/** An $I30 entry: the file's reference and its $FILE_NAME value as key. */
function fileNameEntry(ref: bigint, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(IE_Key + align(key.length, 8));
  const v = new DataView(out.buffer);
  v.setBigUint64(IE_FileReference, ref, true);
  v.setUint16(IE_Length, out.length, true);
  v.setUint16(IE_KeyLength, key.length, true);
  out.set(key, IE_Key);
  return out;
}

/** A view index entry ($SDH, $SII): key, then data. */
function viewEntry(key: Uint8Array, data: Uint8Array): Uint8Array {
  const dataAt = IE_Key + key.length;
  const out = new Uint8Array(align(dataAt + data.length, 8));
  const v = new DataView(out.buffer);
  v.setUint16(IE_DataOffset, dataAt, true);
  v.setUint16(IE_DataLength, data.length, true);
  v.setUint16(IE_Length, out.length, true);
  v.setUint16(IE_KeyLength, key.length, true);
  out.set(key, IE_Key);
  out.set(data, dataAt);
  return out;
}

/** The entry that ends a node; with `subVcn`, it points to the index block at that VCN. */
function endEntry(subVcn?: number): Uint8Array {
  const out = new Uint8Array(IE_Key + (subVcn === undefined ? 0 : 8));
  const v = new DataView(out.buffer);
  v.setUint16(IE_Length, out.length, true);
  v.setUint16(IE_Flags, subVcn === undefined ? IE_END : IE_END | IE_NODE, true);
  if (subVcn !== undefined) v.setBigUint64(IE_Key, BigInt(subVcn), true);
  return out;
}

/** An INDEX_HEADER followed by `entries` (the end entry included); `allocated` 0 means just the entries. */
function indexNode(entries: Uint8Array[], flags: number, allocated = 0): Uint8Array {
  const body = concat(entries);
  const out = new Uint8Array(IH_BYTES + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(IH_EntriesOffset, IH_BYTES, true);
  v.setUint32(IH_IndexLength, out.length, true);
  v.setUint32(IH_AllocatedSize, allocated || out.length, true);
  out[IH_Flags] = flags;
  out.set(body, IH_BYTES);
  return out;
}

function indexRoot(l: NtfsLayout, indexed: number, collation: number, node: Uint8Array): Uint8Array {
  const out = new Uint8Array(IR_Header + node.length);
  const v = new DataView(out.buffer);
  v.setUint32(IR_Type, indexed, true);
  v.setUint32(IR_Collation, collation, true);
  v.setUint32(IR_IndexBlockSize, l.indexBlockBytes, true);
  out[IR_ClustersPerIndexBlock] =
    l.indexBlockBytes >= l.clusterBytes ? l.indexBlockBytes / l.clusterBytes : l.indexBlockBytes / USA_STRIDE;
  out.set(node, IR_Header);
  return out;
}

/** The INDX block at VCN 0 holding `entries` (a leaf), with its update sequence applied. */
function indexBlock(l: NtfsLayout, entries: Uint8Array[], what: string): Uint8Array {
  const size = l.indexBlockBytes;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  const usaCount = size / USA_STRIDE + 1;
  const entriesAt = align(INDX_USA + 2 * usaCount, 8);
  const node = indexNode([...entries, endEntry()], 0, size - INDX_Header);
  if (entriesAt + node.length - IH_BYTES > size)
    throw new NtfsFormatError(`${what}: the root directory's entries (${node.length} bytes) overflow an index block`);
  v.setUint32(0, 0x58444e49, true); // "INDX"
  v.setUint16(INDX_UsaOffset, INDX_USA, true);
  v.setUint16(INDX_UsaCount, usaCount, true);
  v.setBigUint64(INDX_Vcn, 0n, true);
  out.set(node.subarray(0, IH_BYTES), INDX_Header);
  out.set(node.subarray(IH_BYTES), entriesAt);
  v.setUint32(INDX_Header + IH_EntriesOffset, entriesAt - INDX_Header, true);
  v.setUint32(INDX_Header + IH_IndexLength, entriesAt - INDX_Header + node.length - IH_BYTES, true);
  applyFixups(out, 0, size, INDX_USA);
  return out;
}

// ---------------------------------------------------------------------------------------------
// the system files

const ROOT_REF = fileRef(FILE_root, FILE_root);
const EXTEND_REF = fileRef(FILE_Extend, FILE_Extend);

/** The named system files: records 0-11 in the root, 24-26 in $Extend. */
function systemNames(l: NtfsLayout): NameOf[] {
  const cb = l.clusterBytes;
  const file = (record: number, name: string, e: Extent | undefined, size: number, extra = 0): NameOf => ({
    record,
    seq: record === FILE_MFT ? 1 : record,
    name,
    parent: ROOT_REF,
    allocated: e ? e.clusters * cb : 0,
    size,
    attributes: SYSTEM_FILE | extra,
  });
  const inExtend = (record: number, name: string): NameOf => ({
    ...file(record, name, undefined, 0, FILE_ATTRIBUTE_ARCHIVE | DUP_VIEW_INDEX_PRESENT),
    seq: 1,
    parent: EXTEND_REF,
  });
  return [
    file(FILE_MFT, "$MFT", l.mft, l.mftRecords * l.recordBytes),
    file(FILE_MFTMirr, "$MFTMirr", l.mftMirr, l.mirrorRecords * l.recordBytes),
    file(FILE_LogFile, "$LogFile", l.logFile, l.logFileBytes),
    file(FILE_Volume, "$Volume", undefined, 0),
    file(FILE_AttrDef, "$AttrDef", l.attrDef, ATTRDEF_BYTES),
    file(FILE_root, ".", undefined, 0, DUP_FILE_NAME_INDEX_PRESENT),
    file(FILE_Bitmap, "$Bitmap", l.bitmap, l.bitmapBytes),
    file(FILE_Boot, "$Boot", l.boot, BOOT_FILE_BYTES),
    file(FILE_BadClus, "$BadClus", undefined, 0),
    file(FILE_Secure, "$Secure", undefined, 0, DUP_VIEW_INDEX_PRESENT),
    file(FILE_UpCase, "$UpCase", l.upcase, UPCASE_BYTES),
    file(FILE_Extend, "$Extend", undefined, 0, DUP_FILE_NAME_INDEX_PRESENT),
    inExtend(FILE_Quota, "$Quota"),
    inExtend(FILE_ObjId, "$ObjId"),
    inExtend(FILE_Reparse, "$Reparse"),
  ];
}

/** $I30 entries of `files`, in file-name collation order. */
function directoryEntries(files: NameOf[], time: bigint, upcase: Uint16Array): Uint8Array[] {
  return [...files]
    .sort((a, b) => collateFileNames(a.name, b.name, upcase))
    .map((f) => fileNameEntry(fileRef(f.record, f.seq), fileName(f, time)));
}

interface Context {
  l: NtfsLayout;
  time: bigint;
  upcase: Uint16Array;
  label: string;
  sds: SdsEntry[];
}

/** $Secure's two indexes: $SDH by (hash, id), $SII by id, each entry's data the $SDS header. */
function secureIndexes(c: Context): [Uint8Array, Uint8Array] {
  const header = (e: SdsEntry) => {
    const b = new Uint8Array(SDS_HEADER);
    const v = new DataView(b.buffer);
    v.setUint32(SDS_Hash, e.hash, true);
    v.setUint32(SDS_SecurityId, e.id, true);
    v.setBigUint64(SDS_Offset, BigInt(e.offset), true);
    v.setUint32(SDS_Length, e.length, true);
    return b;
  };
  const byHash = [...c.sds].sort((a, b) => a.hash - b.hash || a.id - b.id);
  const byId = [...c.sds].sort((a, b) => a.id - b.id);
  const sdh = byHash.map((e) => viewEntry(Uint8Array.from([...le32(e.hash), ...le32(e.id)]), header(e)));
  const sii = byId.map((e) => viewEntry(Uint8Array.from(le32(e.id)), header(e)));
  return [
    indexRoot(c.l, 0, COLLATION_NTOFS_SECURITY_HASH, indexNode([...sdh, endEntry()], 0)),
    indexRoot(c.l, 0, COLLATION_NTOFS_ULONG, indexNode([...sii, endEntry()], 0)),
  ];
}

/** The record of a named system file: $STANDARD_INFORMATION, $FILE_NAME, then its own attributes. */
function namedRecord(c: Context, f: NameOf, add: (r: RecordBuilder) => void): RecordBuilder {
  const r = new RecordBuilder(c.l.recordBytes, f.record, f.seq);
  const securityId = f.record === FILE_root ? SECURITY_ID_ROOT : SECURITY_ID_SYSTEM;
  const siAttributes = f.attributes & ~(DUP_FILE_NAME_INDEX_PRESENT | DUP_VIEW_INDEX_PRESENT);
  r.resident(AT_STANDARD_INFORMATION, "", standardInformation(c.time, siAttributes, securityId));
  r.resident(AT_FILE_NAME, "", fileName(f, c.time), true);
  add(r);
  return r;
}

function emptyIndex(c: Context, collation: number): Uint8Array {
  return indexRoot(c.l, 0, collation, indexNode([endEntry()], 0));
}

/** Every record of $MFT, each with its update sequence applied, in one buffer of the MFT's clusters. */
function buildMft(c: Context): Uint8Array {
  const l = c.l,
    cb = l.clusterBytes,
    rb = l.recordBytes;
  const out = new Uint8Array(l.mft.clusters * cb);
  const names = systemNames(l);
  const byRecord = new Map(names.map((f) => [f.record, f]));
  const put = (n: number, bytes: Uint8Array) => out.set(bytes, n * rb);
  const rec = (n: number, add: (r: RecordBuilder) => void, flags = REC_IN_USE) =>
    put(n, namedRecord(c, byRecord.get(n)!, add).finish(flags, 1));
  const data = (r: RecordBuilder, e: Extent, bytes: number, name = "") => r.nonResident(AT_DATA, name, e, cb, bytes);

  rec(FILE_MFT, (r) => {
    data(r, l.mft, l.mftRecords * rb);
    r.nonResident(AT_BITMAP, "", l.mftBitmap, cb, l.mftBitmapBytes);
  });
  rec(FILE_MFTMirr, (r) => data(r, l.mftMirr, l.mirrorRecords * rb));
  rec(FILE_LogFile, (r) => data(r, l.logFile, l.logFileBytes));
  rec(FILE_Volume, (r) => {
    const name = new Uint8Array(2 * c.label.length);
    putUtf16(name, 0, c.label);
    r.resident(AT_VOLUME_NAME, "", name);
    const info = new Uint8Array(VI_BYTES);
    info[VI_MajorVersion] = 3;
    info[VI_MinorVersion] = 1;
    r.resident(AT_VOLUME_INFORMATION, "", info);
    r.resident(AT_DATA, "", new Uint8Array(0));
  });
  rec(FILE_AttrDef, (r) => data(r, l.attrDef, ATTRDEF_BYTES));
  rec(
    FILE_root,
    (r) => {
      r.resident(AT_INDEX_ROOT, "$I30", indexRoot(l, AT_FILE_NAME, COLLATION_FILE_NAME, indexNode([endEntry(0)], 1)));
      r.nonResident(AT_INDEX_ALLOCATION, "$I30", l.rootIndex, cb, l.indexBlockBytes);
      r.resident(AT_BITMAP, "$I30", Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
    },
    REC_IN_USE | REC_DIRECTORY,
  );
  rec(FILE_Bitmap, (r) => data(r, l.bitmap, l.bitmapBytes));
  rec(FILE_Boot, (r) => data(r, l.boot, BOOT_FILE_BYTES));
  rec(FILE_BadClus, (r) => {
    r.resident(AT_DATA, "", new Uint8Array(0));
    r.nonResident(AT_DATA, "$Bad", { lcn: -1, clusters: l.clusterCount }, cb, l.clusterCount * cb, 0);
  });
  const [sdh, sii] = secureIndexes(c);
  rec(
    FILE_Secure,
    (r) => {
      data(r, l.sds, l.sdsBytes, "$SDS");
      r.resident(AT_INDEX_ROOT, "$SDH", sdh);
      r.resident(AT_INDEX_ROOT, "$SII", sii);
    },
    REC_IN_USE | REC_VIEW_INDEX,
  );
  rec(FILE_UpCase, (r) => data(r, l.upcase, UPCASE_BYTES));
  const extendEntries = directoryEntries(
    names.filter((f) => f.parent === EXTEND_REF),
    c.time,
    c.upcase,
  );
  rec(
    FILE_Extend,
    (r) =>
      r.resident(
        AT_INDEX_ROOT,
        "$I30",
        indexRoot(l, AT_FILE_NAME, COLLATION_FILE_NAME, indexNode([...extendEntries, endEntry()], 0)),
      ),
    REC_IN_USE | REC_DIRECTORY,
  );
  for (let n = FILE_reserved12; n < FILE_first_user; n++) {
    const r = new RecordBuilder(rb, n, n);
    r.resident(AT_STANDARD_INFORMATION, "", standardInformation(c.time, SYSTEM_FILE, SECURITY_ID_SYSTEM));
    r.resident(AT_DATA, "", new Uint8Array(0));
    put(n, r.finish(REC_IN_USE, 0));
  }
  const view = REC_IN_USE | REC_IS_4 | REC_VIEW_INDEX;
  rec(
    FILE_Quota,
    (r) => {
      r.resident(AT_INDEX_ROOT, "$O", emptyIndex(c, COLLATION_NTOFS_SID));
      r.resident(AT_INDEX_ROOT, "$Q", emptyIndex(c, COLLATION_NTOFS_ULONG));
    },
    view,
  );
  rec(FILE_ObjId, (r) => r.resident(AT_INDEX_ROOT, "$O", emptyIndex(c, COLLATION_NTOFS_ULONGS)), view);
  rec(FILE_Reparse, (r) => r.resident(AT_INDEX_ROOT, "$R", emptyIndex(c, COLLATION_NTOFS_ULONGS)), view);
  // the records not in use: 16-23 (kept for $MFT's own extension records) and past 26
  for (let n = FILE_first_user; n < l.mftRecords; n++)
    if (n < FILE_Quota || n > FILE_Reparse) put(n, new RecordBuilder(rb, n, n < FILE_Quota ? n : 1).finish(0, 0));
  for (let n = 0; n < l.mftRecords; n++) applyFixups(out, n * rb, rb, MFT_USA);
  return out;
}

/** $MFT's $BITMAP: records 0-15 and 24-26 in use. */
function mftBitmap(l: NtfsLayout): Uint8Array {
  const out = new Uint8Array(l.mftBitmapBytes);
  for (let n = 0; n < l.mftRecords; n++)
    if (n < FILE_first_user || (n >= FILE_Quota && n <= FILE_Reparse)) out[n >> 3] |= 1 << (n & 7);
  return out;
}

function bootSector(l: NtfsLayout, serial: bigint, hiddenSectors: number): Uint8Array {
  const out = new Uint8Array(BOOT_FILE_BYTES);
  const v = new DataView(out.buffer);
  const shiftOrCount = (bytes: number) =>
    bytes >= l.clusterBytes ? bytes / l.clusterBytes : (256 - Math.log2(bytes)) & 0xff;
  out.set([0xeb, 0x52, 0x90], BS_Jump);
  for (let i = 0; i < 8; i++) out[BS_OemId + i] = "NTFS    ".charCodeAt(i);
  v.setUint16(BPB_BytesPerSector, l.bytesPerSector, true);
  out[BPB_SectorsPerCluster] = l.clusterBytes / l.bytesPerSector;
  out[BPB_Media] = 0xf8;
  v.setUint16(BPB_SectorsPerTrack, 63, true);
  v.setUint16(BPB_Heads, 255, true);
  v.setUint32(BPB_HiddenSectors, hiddenSectors, true);
  v.setUint32(BPB_DriveAndSignature, 0x00800080, true);
  v.setBigUint64(BPB_TotalSectors, BigInt(l.totalSectors), true);
  v.setBigUint64(BPB_MftLcn, BigInt(l.mft.lcn), true);
  v.setBigUint64(BPB_MftMirrLcn, BigInt(l.mftMirr.lcn), true);
  out[BPB_ClustersPerMftRecord] = shiftOrCount(l.recordBytes);
  out[BPB_ClustersPerIndexBlock] = shiftOrCount(l.indexBlockBytes);
  v.setBigUint64(BPB_SerialNumber, serial, true);
  v.setUint32(BPB_Checksum, 0, true);
  out.set([0xf4, 0xeb, 0xfd], BS_BootCode); // hlt; jmp back to the hlt
  v.setUint16(BS_Signature, 0xaa55, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// writing

const CHUNK_BYTES = MiB; // a multiple of every cluster size

/** Writes extent `e` whole, chunk by chunk: `fill(chunk, byteOffset)` fills each zeroed chunk. */
function writeExtent(part: BlockDevice, l: NtfsLayout, e: Extent, fill: (chunk: Uint8Array, at: number) => void): void {
  const ss = l.bytesPerSector,
    bytes = e.clusters * l.clusterBytes;
  const chunk = new Uint8Array(Math.min(CHUNK_BYTES, bytes));
  for (let at = 0; at < bytes; at += chunk.length) {
    const n = Math.min(chunk.length, bytes - at);
    chunk.fill(0);
    fill(chunk.subarray(0, n), at);
    part.write((e.lcn * l.clusterBytes + at) / ss, n / ss, chunk, 0);
  }
}

function writeBytes(part: BlockDevice, l: NtfsLayout, e: Extent, bytes: Uint8Array): void {
  writeExtent(part, l, e, (chunk, at) => chunk.set(bytes.subarray(at, at + chunk.length)));
}

/** $Bitmap's bytes [at, at + chunk.length): the clusters of every extent of the layout marked. */
function fillBitmap(l: NtfsLayout, chunk: Uint8Array, at: number): void {
  const first = at * 8,
    end = Math.min((at + chunk.length) * 8, l.clusterCount);
  // the bits past the last cluster are set: those clusters do not exist (ntfsresize counts them as used)
  for (let c = Math.max(first, l.clusterCount); c < (at + chunk.length) * 8; c++)
    chunk[(c - first) >> 3] |= 1 << (c & 7);
  for (const e of [l.boot, l.mftBitmap, l.mft, l.rootIndex, l.attrDef, l.bitmap, l.sds, l.upcase, l.mftMirr, l.logFile])
    for (let c = Math.max(first, e.lcn); c < Math.min(end, e.lcn + e.clusters); c++)
      chunk[(c - first) >> 3] |= 1 << (c & 7);
}

function ntfsTime(date: Date): bigint {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new NtfsFormatError(`the format date ${String(date)} is not a date`);
  return BigInt(ms + NTFS_EPOCH_MS) * 10000n;
}

/** Formats `part` as an empty NTFS 3.1 volume. Everything the metadata covers is written; free clusters are left as they are. */
export function formatNtfs(part: BlockDevice, options: NtfsFormatOptions = {}): NtfsLayout {
  const ss = part.sectorSize;
  const cb = options.clusterBytes ?? defaultNtfsClusterBytes(part.sectorCount, ss);
  const l = layoutNtfs(part.sectorCount, ss, cb, part.name);
  const label = options.label ?? "";
  if (label.length > LABEL_MAX)
    throw new NtfsFormatError(
      `${part.name}: the volume label "${label}" has ${label.length} UTF-16 units; NTFS holds at most ${LABEL_MAX}`,
    );
  const hidden = options.hiddenSectors ?? 0;
  if (!Number.isInteger(hidden) || hidden < 0 || hidden > 0xffffffff)
    throw new NtfsFormatError(`${part.name}: ${hidden} hidden sectors does not fit the boot sector's u32`);
  const serial = options.serialNumber ?? NTFS_FORMAT_DEFAULT_SERIAL;
  if (serial < 0n || serial >= 1n << 64n)
    throw new NtfsFormatError(`${part.name}: the serial number ${serial} is not a u64`);
  const upcase = ntfsUpcaseTable();
  const time = ntfsTime(options.date ?? NTFS_FORMAT_DEFAULT_DATE);
  const sds = sdsBlock();
  const c: Context = { l, time, upcase, label, sds: sds.entries };
  const mft = buildMft(c);
  const names = systemNames(l).filter((f) => f.parent === ROOT_REF);
  const root = indexBlock(l, directoryEntries(names, time, upcase), part.name);
  const upcaseBytes = new Uint8Array(UPCASE_BYTES);
  const uv = new DataView(upcaseBytes.buffer);
  upcase.forEach((u, i) => uv.setUint16(2 * i, u, true));

  // the metadata, then the boot sectors (a cut-off format is not a volume)
  writeBytes(part, l, l.mftBitmap, mftBitmap(l));
  writeBytes(part, l, l.mft, mft);
  writeBytes(part, l, l.mftMirr, mft.subarray(0, l.mirrorRecords * l.recordBytes));
  writeExtent(part, l, l.logFile, (chunk) => chunk.fill(0xff)); // an empty log: ntfs-3g and Windows take all 0xFF as clean
  writeBytes(part, l, l.rootIndex, root);
  writeBytes(part, l, l.attrDef, attrDefTable());
  writeExtent(part, l, l.bitmap, (chunk, at) => {
    if (at < l.bitmapBytes) fillBitmap(l, chunk.subarray(0, Math.min(chunk.length, l.bitmapBytes - at)), at);
  });
  writeExtent(part, l, l.sds, (chunk, at) => {
    for (const base of [0, SDS_MIRROR]) {
      const from = base - at;
      if (from >= -sds.bytes.length && from < chunk.length)
        chunk.set(
          sds.bytes.subarray(Math.max(0, -from), Math.min(sds.bytes.length, chunk.length - from)),
          Math.max(0, from),
        );
    }
  });
  writeBytes(part, l, l.upcase, upcaseBytes);
  const boot = bootSector(l, serial, hidden);
  part.write(l.totalSectors, 1, boot, 0);
  writeBytes(part, l, l.boot, boot);
  part.flush();
  return l;
}
