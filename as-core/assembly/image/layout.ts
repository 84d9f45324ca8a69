// Image format v1 layout: docs/image-format.md. Every offset cites its section there.
// All multibyte fields are little-endian; the image is addressed in 512-byte image sectors.

export const IMG_SECTOR: u32 = 512;
export const VERSION_MAJOR: u32 = 1;
export const VERSION_MINOR: u32 = 2; // 1.1: header flag bit 1, unreadable clusters (section 5.1); 1.2: the ghost extent (section 12)
export const IMG_MAGIC: u64 = 0x314547414d494243; // "CBIMAGE1": 43 42 49 4D 41 47 45 31

// Section 2, "Header" (one image sector at image offset 0)
export const NAME_BYTES: u32 = 64;
export const GUID_BYTES: u32 = 16;
export const H_Magic: usize = 0; // u64 IMG_MAGIC
export const H_HeaderLength: usize = 8; // u32, 512
export const H_VersionMajor: usize = 12; // u16
export const H_VersionMinor: usize = 14; // u16
export const H_Name: usize = 16; // NAME_BYTES, UTF-8, NUL-padded
export const H_PartClusters: usize = 80; // u64, data clusters in the partition
export const H_ImageClusters: usize = 88; // u64, clusters stored in the image
export const H_BitmapBits: usize = 96; // u64, bits in the bitmap = PartClusters + FirstCluster
export const H_ClusterBytes: usize = 104; // u32
export const H_SectorBytes: usize = 108; // u32, the partition's sector size
export const H_PartType: usize = 112; // u32, MBR partition type byte (0 if none)
export const H_FsType: usize = 116; // u32, FsType (FS_*)
export const H_PartTypeGuid: usize = 120; // GUID_BYTES, GPT type GUID (zero if none)
export const H_PartStart: usize = 136; // u64, first LBA of the partition on its disk (0 if unknown)
export const H_PartSectors: usize = 144; // u64, partition size in its sectors
export const H_CreatedSec: usize = 152; // u64, creation time, seconds since 1970-01-01 UTC
export const H_DataStart: usize = 160; // u64, partition sector of the first bitmap cluster (FAT: cluster 2)
export const H_FirstCluster: usize = 168; // u32, number of the first cluster (FAT: 2)
export const H_ClustersPerBlock: usize = 172; // u32
export const H_Flags: usize = 176; // u32, bit 0: the source was marked dirty; bit 1: unreadable clusters recorded (5.1)
export const H_MetaSectors: usize = 180; // u32, partition sectors of the metadata area
export const H_BitmapOffset: usize = 184; // u64, bytes from image start
export const H_BitmapLength: usize = 192; // u64, bytes (multiple of 512)
export const H_MetaOffset: usize = 200; // u64
export const H_MetaLength: usize = 208; // u64, (MetaSectors + TailSectors) * SectorBytes
export const H_DataOffset: usize = 216; // u64
export const H_BlockCount: usize = 224; // u64
export const H_CommitOffset: usize = 232; // u64, image length = CommitOffset + 512
export const H_BitmapCheck: usize = 240; // u64, CBH-64 of the bitmap section, seed 1
export const H_MetaCheck: usize = 248; // u64, CBH-64 of the metadata section, seed 2
export const H_GhostStart: usize = 256; // u64, partition sector where this image lies inside the partition it backs up (section 12); 0: it does not
export const H_GhostSectors: usize = 264; // u64, sectors of that extent (whole clusters); 0: none
export const H_TailStart: usize = 272; // u64, partition sector of the metadata's tail (NTFS: after the clusters, the backup boot sector); 0: none
export const H_TailSectors: usize = 280; // u64, sectors of the tail (since 1.2)
export const H_Reserved: usize = 288; // zero up to 504
export const H_HeaderCheck: usize = 504; // u64, CBH-64 of the sector with this field zero, seed 0

// Section 4, "Blocks": table after the cluster data of each block
export const T_Magic: usize = 0; // u32 0x54424243 "CBBT"
export const T_ClusterCount: usize = 4; // u32 n
export const T_BlockIndex: usize = 8; // u64
export const T_FirstBit: usize = 16; // u64, bitmap bit of the block's first cluster
export const T_Reserved: usize = 24; // u64, zero
export const T_Checks: usize = 32; // n * u32, CBH-32 of each cluster, seeded by its bit
export const BLOCK_MAGIC: u32 = 0x54424243;

// Section 5, "Commit record"
export const C_Magic: usize = 0; // u64 0x54494D4D4F434243 "CBCOMMIT"
export const C_BlockCount: usize = 8; // u64
export const C_ImageClusters: usize = 16; // u64
export const C_HeaderCheck: usize = 24; // u64, copy of the header's check
export const C_ChainCheck: usize = 32; // u64, CBH-64 of all block table checks in order, seed 3
export const C_ImageLength: usize = 40; // u64, bytes
export const C_CommitCheck: usize = 504; // u64, CBH-64 of the record with this field zero, seed 4
export const COMMIT_MAGIC: u64 = 0x54494d4d4f434243;

// Section 10, "Restore mark": the target partition's first sector while a restore runs
export const M_Magic: usize = 0; // u64 0x524F545345524243 "CBRESTOR"
export const M_Version: usize = 8; // u16, 1
export const M_SectorBytes: usize = 10; // u16, the partition's sector size
export const M_HeaderCheck: usize = 16; // u64, the image's HeaderCheck
export const M_Created: usize = 24; // u64, the image's CreatedSec
export const M_Name: usize = 32; // 64 bytes, the image's name
export const M_MarkCheck: usize = 504; // u64, CBH-64 of the first 512 bytes with this field zero, seed 5
export const MARK_MAGIC: u64 = 0x524f545345524243;

export const SEED_HEADER: u64 = 0;
export const SEED_BITMAP: u64 = 1;
export const SEED_META: u64 = 2;
export const SEED_CHAIN: u64 = 3;
export const SEED_COMMIT: u64 = 4;
export const SEED_MARK: u64 = 5;
export const SEED_TABLE: u64 = 0x100000000; // + block index

export function roundUp(v: f64, unit: f64): f64 {
  return Math.ceil(v / unit) * unit;
}

export function tableBytes(clusterCount: u32): u32 {
  return <u32>roundUp(<f64>(32 + 4 * clusterCount + 8), IMG_SECTOR);
}

// The derived geometry of an image: every offset follows from a few counts.
export class ImageGeometry {
  clusterBytes: u32 = 0;
  clustersPerBlock: u32 = 0;
  bitmapBits: f64 = 0;
  imageClusters: f64 = 0;
  metaBytes: f64 = 0;
  bitmapOffset: f64 = 0;
  bitmapLength: f64 = 0;
  metaOffset: f64 = 0;
  dataOffset: f64 = 0;
  blockCount: f64 = 0;
  commitOffset: f64 = 0;

  compute(clusterBytes: u32, bitmapBits: f64, imageClusters: f64, metaBytes: f64, blockDataMax: u32): void {
    this.clusterBytes = clusterBytes;
    this.clustersPerBlock = min(max(1, blockDataMax / clusterBytes), 2048);
    this.bitmapBits = bitmapBits;
    this.imageClusters = imageClusters;
    this.metaBytes = metaBytes;
    this.bitmapOffset = IMG_SECTOR;
    this.bitmapLength = roundUp(Math.ceil(bitmapBits / 8), IMG_SECTOR);
    this.metaOffset = this.bitmapOffset + this.bitmapLength;
    this.dataOffset = this.metaOffset + roundUp(metaBytes, IMG_SECTOR);
    const cpb = <f64>this.clustersPerBlock;
    const full = Math.floor(imageClusters / cpb);
    const rest = imageClusters - full * cpb;
    this.blockCount = full + (rest > 0 ? 1 : 0);
    let dataBytes = imageClusters * <f64>clusterBytes + full * <f64>tableBytes(this.clustersPerBlock);
    if (rest > 0) dataBytes += <f64>tableBytes(<u32>rest);
    this.commitOffset = this.dataOffset + dataBytes;
  }

  imageLength(): f64 {
    return this.commitOffset + IMG_SECTOR;
  }
  // clusters in block k
  blockClusters(k: f64): u32 {
    const left = this.imageClusters - k * <f64>this.clustersPerBlock;
    return <u32>Math.min(left, <f64>this.clustersPerBlock);
  }
}
