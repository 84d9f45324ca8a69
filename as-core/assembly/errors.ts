// Core result codes (FatFs FRESULT style). Each failure records one code and up to four
// numeric values; the host turns them into a message that names those values
// (host-shim/src/errors.ts keeps the message table, in the same order).
//
// Device result codes are negative numbers returned by the imports; a failing device call
// is reported as E_DEVICE with the device's code, handle, LBA and sector count.

export const OK: i32 = 0;
export const E_DEVICE: i32 = 1;            // a device read/write/flush failed (code, dev, lba, count)
export const E_MBR_SIGNATURE: i32 = 2;     // sector 0 has no 0x55AA signature (found)
export const E_PART_RANGE: i32 = 3;        // partition extends past the disk (number, start, size, diskSectors)
export const E_EBR_CHAIN: i32 = 4;         // extended partition chain loops or leaves its container (lba)
export const E_GPT_HEADER: i32 = 5;        // GPT header invalid (what, value)
export const E_GPT_CRC: i32 = 6;           // GPT header or entry array CRC mismatch (stored, computed)
export const E_BS_SIGNATURE: i32 = 7;      // boot sector lacks 0x55AA (found)
export const E_BS_JUMP: i32 = 8;           // BS_jmpBoot is not a jump (byte0)
export const E_BPB_BYTSPERSEC: i32 = 9;    // BPB_BytsPerSec not 512..4096 power of two (value)
export const E_BPB_SECPERCLUS: i32 = 10;   // BPB_SecPerClus not a power of two 1..128 (value)
export const E_BPB_RSVDSECCNT: i32 = 11;   // BPB_RsvdSecCnt is 0 (value)
export const E_BPB_NUMFATS: i32 = 12;      // BPB_NumFATs is 0 (value)
export const E_BPB_ROOTENTCNT: i32 = 13;   // BPB_RootEntCnt wrong for the type (value, type)
export const E_BPB_TOTSEC: i32 = 14;       // total sectors zero or beyond the partition (totSec, partSectors)
export const E_BPB_FATSZ: i32 = 15;        // FAT size zero or too small for the clusters (fatSz, needed)
export const E_BPB_MEDIA: i32 = 16;        // BPB_Media invalid (value)
export const E_NO_DATA_AREA: i32 = 17;     // system area reaches past the volume (firstData, totSec)
export const E_FAT_TYPE_LAYOUT: i32 = 18;  // BPB layout contradicts the type given by the cluster count (clusters, fatSz16)
export const E_BPB_ROOTCLUS: i32 = 19;     // BPB_RootClus outside the data area (value, maxCluster)
export const E_BPB_FSVER: i32 = 20;        // BPB_FSVer not 0.0 (value)
export const E_SECTOR_SIZE: i32 = 21;      // device sector size differs from BPB_BytsPerSec (device, bpb)
export const E_IMG_MAGIC: i32 = 22;        // not a clusterback image (first 4 bytes)
export const E_IMG_VERSION: i32 = 23;      // unsupported major version (major, minor)
export const E_IMG_HEADER_CHECK: i32 = 24; // header check mismatch (stored hi, stored lo, computed hi, computed lo)
export const E_IMG_HEADER_FIELD: i32 = 25; // header field out of range or inconsistent (field id, value, expected)
export const E_IMG_BITMAP_CHECK: i32 = 26; // bitmap check mismatch
export const E_IMG_BITMAP_COUNT: i32 = 27; // bitmap holds a different number of set bits (found, header)
export const E_IMG_META_CHECK: i32 = 28;   // metadata check mismatch
export const E_IMG_COMMIT: i32 = 29;       // commit record missing or invalid (what, value)
export const E_IMG_BLOCK_TABLE: i32 = 30;  // block table invalid (block, what, value)
export const E_IMG_CLUSTER_CHECK: i32 = 31;// cluster data check mismatch (block, cluster, stored, computed)
export const E_IMG_CHAIN: i32 = 32;        // block chain check differs from the commit record
export const E_TARGET_SMALL: i32 = 33;     // target smaller than the source partition (target, needed)
export const E_TARGET_SECTOR: i32 = 34;    // target sector size differs from the image's (target, image)
export const E_IMG_TRUNCATED: i32 = 35;    // image shorter than its header says (imageSectors, needed)
export const E_STATE: i32 = 36;            // engine called in the wrong state (state)
export const E_BPB_FSINFO: i32 = 37;       // BPB_FSInfo or BPB_BkBootSec outside the reserved area (field, value)
export const E_CLUSTER_SIZE: i32 = 38;     // cluster size beyond what the core supports (bytes, max)
export const E_NOT_FAT: i32 = 39;          // no FAT boot record: not a FAT volume (detail)
export const E_IMG_GHOST_OVERLAP: i32 = 40;// image stores a cluster inside its own ghost extent (block, cluster, ghost first cluster, ghost clusters)
export const E_GHOST_EXTENT: i32 = 41;     // backup: the ghost extent is not whole clusters of the data area (start, sectors, data start, sectors per cluster)
export const E_EXFAT_FIELD: i32 = 42;      // exFAT boot sector field out of range (field id, value, expected)
export const E_NTFS_FIELD: i32 = 44;       // NTFS boot sector field out of range (field id, value, expected)
export const E_NTFS_MFT: i32 = 45;         // an MFT record or attribute the scan needs is damaged (what, record, value)
export const E_EXFAT_BITMAP: i32 = 43;     // exFAT allocation bitmap not found or unreadable (what, value, limit)
export const E_IMG_META_CHANGED: i32 = 46; // restore: a metadata chunk read for writing differs from the check pass's read (chunk, section byte, stored, computed)
export const E_IMG_META_SIZE: i32 = 47;    // restore: metadata section larger than the chunk checks cover (bytes, limit)

export class Failure {
  code: i32 = 0;
  v0: f64 = 0;
  v1: f64 = 0;
  v2: f64 = 0;
  v3: f64 = 0;
}

export const failure = new Failure();

// Records a failure and returns its negated code, so that callers can `return fail(...)`.
export function fail(code: i32, v0: f64 = 0, v1: f64 = 0, v2: f64 = 0, v3: f64 = 0): i32 {
  failure.code = code;
  failure.v0 = v0;
  failure.v1 = v1;
  failure.v2 = v2;
  failure.v3 = v3;
  return -code;
}
