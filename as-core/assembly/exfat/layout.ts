// exFAT boot sector field offsets, named as in Microsoft's "exFAT file system specification"
// (2019), section 3.1 (Main Boot Sector), and directory entry types of section 7.
export const EX_JumpBoot: usize = 0; // EB 76 90
export const EX_FileSystemName: usize = 3; // "EXFAT   " (8 bytes)
export const EX_MustBeZero: usize = 11; // 53 bytes of zero (where a FAT BPB would be)
export const EX_PartitionOffset: usize = 64; // u64, informational
export const EX_VolumeLength: usize = 72; // u64, sectors
export const EX_FatOffset: usize = 80; // u32, sectors from the volume start, >= 24
export const EX_FatLength: usize = 84; // u32, sectors per FAT
export const EX_ClusterHeapOffset: usize = 88; // u32, sector of cluster 2
export const EX_ClusterCount: usize = 92; // u32, clusters in the heap
export const EX_FirstClusterOfRootDirectory: usize = 96; // u32
export const EX_FileSystemRevision: usize = 104; // u16, major in the high byte: 1
export const EX_VolumeFlags: usize = 106; // u16: bit 0 ActiveFat, bit 1 VolumeDirty, bit 2 MediaFailure
export const EX_BytesPerSectorShift: usize = 108; // u8, 9..12
export const EX_SectorsPerClusterShift: usize = 109; // u8, at most 25 - BytesPerSectorShift
export const EX_NumberOfFats: usize = 110; // u8, 1 or 2
export const EX_PercentInUse: usize = 112; // u8
export const EX_BootSignature: usize = 510; // 0xAA55

export const BOOT_REGION_SECTORS: u32 = 12; // main boot region: boot sector, 8 extended, OEM, reserved, checksum

import { FS_EXFAT } from "../abi";

export { FS_EXFAT };

// directory entries (32 bytes)
export const DE_TYPE_END: u32 = 0x00;
export const DE_TYPE_BITMAP: u32 = 0x81; // allocation bitmap: 1 BitmapFlags (bit 0: which FAT), 20 FirstCluster u32, 24 DataLength u64
export const DE_BitmapFlags: usize = 1;
export const DE_FirstCluster: usize = 20;
export const DE_DataLength: usize = 24;
export const DE_TYPE_UPCASE: u32 = 0x82; // up-case table: 4 TableChecksum u32, 20 FirstCluster u32, 24 DataLength u64
export const DE_TableChecksum: usize = 4;
export const EXFAT_EOC: u32 = 0xffffffff;
