// FAT boot sector (BPB) field offsets, named as in Microsoft's FAT specification
// ("Microsoft Extensible Firmware Initiative FAT32 File System Specification", 1.03), section 3.
// Common part (all FAT types):
export const BS_jmpBoot: usize = 0; // jump instruction (3 bytes): EB xx 90 or E9 xx xx
export const BPB_BytsPerSec: usize = 11; // bytes per sector (u16): 512, 1024, 2048 or 4096
export const BPB_SecPerClus: usize = 13; // sectors per cluster (u8): power of two, 1..128
export const BPB_RsvdSecCnt: usize = 14; // reserved sectors from the volume start (u16), >= 1
export const BPB_NumFATs: usize = 16; // number of FAT copies (u8), >= 1
export const BPB_RootEntCnt: usize = 17; // FAT12/16 root directory entries (u16); 0 on FAT32
export const BPB_TotSec16: usize = 19; // total sectors (u16), 0 if BPB_TotSec32 is used
export const BPB_Media: usize = 21; // media descriptor (u8): 0xF0, 0xF8..0xFF
export const BPB_FATSz16: usize = 22; // sectors per FAT (u16) on FAT12/16; 0 on FAT32
export const BPB_TotSec32: usize = 32; // total sectors (u32)
// FAT12/16 extended BPB:
export const BS16_Reserved1: usize = 37; // bit 0: volume dirty (set by Linux/Windows while mounted)
// FAT32 extended BPB:
export const BPB_FATSz32: usize = 36; // sectors per FAT (u32)
export const BPB_ExtFlags: usize = 40; // mirroring flags (u16)
export const BPB_FSVer: usize = 42; // version (u16), must be 0.0
export const BPB_RootClus: usize = 44; // first cluster of the root directory (u32)
export const BPB_FSInfo: usize = 48; // FSInfo sector in the reserved area (u16)
export const BPB_BkBootSec: usize = 50; // backup boot sector in the reserved area (u16)
export const BS32_Reserved1: usize = 65; // bit 0: volume dirty
export const BS_Signature: usize = 510; // 0x55 0xAA (u16 0xAA55), also on >512-byte sectors
// sizeof = BPB_BytsPerSec; the structure itself occupies 90 bytes, signature at 510

// FSInfo sector (FAT32), spec section 5
export const FSI_LeadSig: usize = 0; // 0x41615252 (u32)
export const FSI_StrucSig: usize = 484; // 0x61417272 (u32)
export const FSI_Free_Count: usize = 488; // last known free cluster count (u32), 0xFFFFFFFF = unknown

// FAT types, decided by the cluster count alone (spec section 3.5); FS_* in the contract
import { FS_FAT12, FS_FAT16, FS_FAT32 } from "../abi";

export { FS_FAT12, FS_FAT16, FS_FAT32 };
export const FAT12_MAX_CLUSTERS: u32 = 4084; // fewer than 4085 clusters: FAT12
export const FAT16_MAX_CLUSTERS: u32 = 65524; // fewer than 65525: FAT16; otherwise FAT32
export const FAT32_MAX_CLUSTERS: u32 = 0x0ffffff5; // clusters 2 .. 0x0FFFFFF6; higher values are marks
