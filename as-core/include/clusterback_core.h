/* The clusterback core's contract for a C host: generated from as-core/contract/core-abi.json by as-core/contract/generate.js: do not edit. */
/* docs/core-abi.md explains every name. */
#ifndef CLUSTERBACK_CORE_H
#define CLUSTERBACK_CORE_H

#include <stdint.h>

#define CB_ABI_VERSION 1
#define CB_MEMORY_PAGES 64

#define CB_RESULT_SLOTS 512u /* f64 slots at resultPtr(). */
#define CB_RESULT_BYTES 4096u /* RESULT_SLOTS * 8. */
#define CB_PARAMS_BYTES 512u /* Bytes at paramsPtr(). */
#define CB_BLOCK_DATA_MAX 1048576u /* Cluster bytes in one image block, at most (so the largest cluster the core images is 1 MiB). */
#define CB_TABLE_MAX 16384u /* A block table's bytes, at most (32 + 4 * 2048 + 8, rounded up). */
#define CB_IO_BYTES 1064960u /* Bytes of each block buffer (io, io2): BLOCK_DATA_MAX + TABLE_MAX. */
#define CB_PATCH_MAX 2048u /* Source patches the core holds. */
#define CB_PATCH_BYTES 24u /* Bytes of one source patch. */
#define CB_PATCH_AREA_BYTES 49152u /* PATCH_MAX * PATCH_BYTES. */
#define CB_NO_DEVICE 4294967295u /* A device handle that names no device: verifyBegin's target when the image is checked alone. */
#define CB_UNREADABLE_LISTED 24u /* Unreadable clusters listed one by one in the unreadable results. */
#define CB_PART_ENTRIES_MAX 60u /* Partition entries scanPartitions lists. */
#define CB_CHECK_INPUT_MAX 512u /* checkOf hashes at most this many bytes in one call (a multiple of 64). */
#define CB_STEP_BUDGET_DEFAULT 33554432u /* A step's I/O budget the Node host uses (32 MiB); any positive number works, smaller means more frequent progress and cancel points. */
#define CB_IMAGE_SECTOR 512u /* An image device's sector size: images are read and written in 512-byte sectors, whatever the partition's. */
#define CB_FAT_CHECK_MAX 65536u /* FAT entries fatCheck covers in one call, at most. */
#define CB_CLAIMED_BYTES 8192u /* Bytes of the claimed buffer: FAT_CHECK_MAX bits. */
#define CB_LAYER_FIRST 65536u /* The first handle of the core's own layers (layerOpen): handles LAYER_FIRST..LAYER_FIRST + LAYERS_MAX - 1 name layers, and a host's device handles must stay below LAYER_FIRST (and above 0). */
#define CB_LAYERS_MAX 64u /* Layers open at once, at most. */
#define CB_SCAN_MAGIC_BYTES 8u /* A scanMagic magic's length: the first at paramsPtr(), the second at paramsPtr() + SCAN_MAGIC_BYTES. */
#define CB_WALK_DEPTH_MAX 64u /* Directory levels treeWalk descends, at most (the root is level 1). */
#define CB_WALK_LISTED 6u /* Kept runs, and cross-linked runs, treeWalk lists in its results. */
#define CB_WALK_CROSS_WINDOWS_MAX 16u /* Windows of 1 Mi clusters (the bitmap buffer, BITMAP_WINDOW_BYTES) treeWalk checks for cross-links, at most: the tree is walked once per window, so a volume of up to 16 Mi clusters is checked whole; clusters past them are counted in walk crossUnchecked. */

/* params: byte offsets at paramsPtr() */
#define CB_PARAM_IMAGE_NAME 0
#define CB_PARAM_IMAGE_NAME_BYTES 64
#define CB_PARAM_PART_TYPE_GUID 64
#define CB_PARAM_PART_TYPE_GUID_BYTES 16
#define CB_PARAM_GHOST_START 80 /* f64 */
#define CB_PARAM_GHOST_SECTORS 88 /* f64 */

/* a source patch: byte offsets in its CB_PATCH_BYTES */
#define CB_PATCH_AT_BYTE_OFFSET 0 /* f64 */
#define CB_PATCH_AT_LENGTH 8 /* u32 */
#define CB_PATCH_AT_KIND 12 /* u32 */
#define CB_PATCH_AT_VALUE 16 /* u32 */
#define CB_PATCH_AT_MASK 20 /* u32 */

/* Phase: Result slot phase during a job. */
#define CB_PH_SCAN 1
#define CB_PH_META_COPY 2
#define CB_PH_DATA_COPY 3
#define CB_PH_CHECK_HEADER 4
#define CB_PH_CHECK_BITMAP 5
#define CB_PH_CHECK_META 6
#define CB_PH_CHECK_COMMIT 7
#define CB_PH_DATA 8
#define CB_PH_META 9
#define CB_PH_DONE 10

/* FsType: File-system type, in volume and image results and in the image header. */
#define CB_FS_NONE 0
#define CB_FS_FAT12 1
#define CB_FS_FAT16 2
#define CB_FS_FAT32 3
#define CB_FS_EXFAT 4
#define CB_FS_NTFS 5

/* RestoreFlag: restoreBegin's flags. */
#define CB_RESTORE_READ_BACK 1
#define CB_RESTORE_FULL 2
#define CB_RESTORE_ONE_PASS 4

/* BackupFlag: backupBeginFlags' flags. */
#define CB_BACKUP_RECORD_UNREADABLE 1

/* DeviceCode: What a dev.* import returns, negated (-1 .. -6). The core reports a failed call as E_DEVICE with the code and the call's handle, LBA and count. */
#define CB_DEV_IO 1
#define CB_DEV_RANGE 2
#define CB_DEV_GUARD 3
#define CB_DEV_READONLY 4
#define CB_DEV_SHORT 5
#define CB_DEV_CLOSED 6

/* PatchKind: A source patch's kind. */
#define CB_PATCH_ZERO 0
#define CB_PATCH_MASK 1
#define CB_PATCH_LEAVE_OUT 2
#define CB_PATCH_KEEP 3

/* PartScheme: The partition table found. */
#define CB_SCHEME_MBR 1
#define CB_SCHEME_GPT 2

/* PartProblem: A partition entry's problem; problemValue says more. An entry with a problem is listed, and refused only when chosen. */
#define CB_P_NONE 0
#define CB_P_SECTOR_ZERO 1
#define CB_P_PAST_DISK 2
#define CB_P_PAST_EXTENDED 3
#define CB_P_OVER_TABLE 4
#define CB_P_OUTSIDE_USABLE 5
#define CB_P_REVERSED 6
#define CB_P_OVERLAP 7

/* PartWarning: A warning about the table as a whole, with a code and four values. */
#define CB_W_NONE 0
#define CB_W_GPT_BACKUP 1
#define CB_W_EXTENDED_BAD 2
#define CB_W_EBR_CHAIN 3

/* HeaderField: E_IMG_HEADER_FIELD's first value: the image header field found wrong. */
#define CB_HF_HEADER_LENGTH 1
#define CB_HF_SECTOR 2
#define CB_HF_CLUSTER 3
#define CB_HF_FSTYPE 4
#define CB_HF_BITS 5
#define CB_HF_IMAGE_CLUSTERS 6
#define CB_HF_PER_BLOCK 7
#define CB_HF_OFFSETS 8
#define CB_HF_DATA_START 9
#define CB_HF_META 10
#define CB_HF_RESERVED 11
#define CB_HF_FIRST_CLUSTER 12
#define CB_HF_GHOST 13
#define CB_HF_TAIL 14

/* CommitWhat: E_IMG_COMMIT's first value. */
#define CB_CW_MAGIC 1
#define CB_CW_CHECK 2
#define CB_CW_HEADER 3
#define CB_CW_BLOCKS 4
#define CB_CW_CLUSTERS 5
#define CB_CW_LENGTH 6
#define CB_CW_RESERVED 7

/* TableWhat: E_IMG_BLOCK_TABLE's second value: the block table field found wrong. */
#define CB_TW_MAGIC 1
#define CB_TW_CLUSTERS 2
#define CB_TW_INDEX 3
#define CB_TW_CHECK 4
#define CB_TW_FIRST 5

/* BitmapCountWhat: E_IMG_BITMAP_COUNT's first value when it is not a count. */
#define CB_BC_PAST_END -1
#define CB_BC_RESERVED -2

/* GptHeaderField: E_GPT_HEADER's first value. */
#define CB_GH_SIGNATURE 1
#define CB_GH_HEADER_SIZE 2
#define CB_GH_ENTRY_SIZE 3
#define CB_GH_ENTRY_COUNT 4
#define CB_GH_ENTRIES_LBA 5
#define CB_GH_MY_LBA 6

/* GptCrcWhat: E_GPT_CRC's first value. */
#define CB_GC_HEADER 1
#define CB_GC_ENTRIES 2

/* FsInfoField: E_BPB_FSINFO's first value. */
#define CB_FI_FSINFO 1
#define CB_FI_BACKUP_BOOT 2

/* ExfatField: E_EXFAT_FIELD's first value. */
#define CB_XF_MUST_BE_ZERO 1
#define CB_XF_SECTOR_SHIFT 2
#define CB_XF_CLUSTER_SHIFT 3
#define CB_XF_FATS 4
#define CB_XF_FAT_OFFSET 5
#define CB_XF_FAT_LENGTH 6
#define CB_XF_HEAP_OFFSET 7
#define CB_XF_CLUSTER_COUNT 8
#define CB_XF_ROOT 9
#define CB_XF_REVISION 10
#define CB_XF_JUMP 11

/* ExfatBitmapWhat: E_EXFAT_BITMAP's first value. */
#define CB_XB_NOT_FOUND 1
#define CB_XB_FIRST_CLUSTER 2
#define CB_XB_TOO_SHORT 3
#define CB_XB_CHAIN 4

/* NtfsField: E_NTFS_FIELD's first value. */
#define CB_NF_JUMP 1
#define CB_NF_SECTOR 2
#define CB_NF_CLUSTER 3
#define CB_NF_ZERO 4
#define CB_NF_MFT 5
#define CB_NF_MFTMIRR 6
#define CB_NF_RECORD 7

/* NtfsMftWhat: E_NTFS_MFT's first value. */
#define CB_NM_MAGIC 1
#define CB_NM_FIXUP 2
#define CB_NM_ATTRIBUTE 3
#define CB_NM_NO_DATA 4
#define CB_NM_RUNS 5
#define CB_NM_TOO_MANY_RUNS 6
#define CB_NM_LIST 7
#define CB_NM_SHORT 8
#define CB_NM_OUTSIDE 9

/* ExfatUpcase: The scan result exfatUpcase. */
#define CB_XU_OK 0
#define CB_XU_CHECKSUM_BAD 1
#define CB_XU_MISSING 2

/* LayerKind: layerOpen's kinds: a device the core builds over another (a host device or a layer) and reaches through it, so that the host implements sector I/O on its devices and nothing else. Arguments a..d of layerOpen, by kind. */
#define CB_LK_WINDOW 1
#define CB_LK_GUARD 2
#define CB_LK_TRAP 3
#define CB_LK_SECTORS512 4

/* LayerStat: layerStat's figures. */
#define CB_LS_READ 0
#define CB_LS_WRITTEN 1
#define CB_LS_FAIL_LBA 2
#define CB_LS_FAIL_COUNT 3

/* LayerWhat: The value what of E_LAYER. */
#define CB_LW_KIND 1
#define CB_LW_PARENT 2
#define CB_LW_FULL 3
#define CB_LW_SIZE 4
#define CB_LW_NOT_OPEN 5
#define CB_LW_BUSY 6

/* WalkKind: What treeWalk found a kept run in (the walk's list of runs reached by the directory tree but marked free). */
#define CB_WALK_ROOT 1
#define CB_WALK_DIRECTORY 2
#define CB_WALK_FILE 3
#define CB_WALK_BITMAP 4
#define CB_WALK_UPCASE 5
#define CB_WALK_OTHER 6
#define CB_WALK_SYSTEM 7

/* result slots (double), progress: Written by every step of a job (backup, scan, restore, verify). */
#define CB_SLOT_PHASE 0
#define CB_SLOT_BYTES_DONE 1
#define CB_SLOT_BYTES_TOTAL 2
#define CB_SLOT_CLUSTERS_DONE 3
#define CB_SLOT_BLOCK 4
#define CB_SLOT_MISMATCHES 5
#define CB_SLOT_FIRST_MISMATCH 6
#define CB_SLOT_META_MISMATCH 7
#define CB_SLOT_TARGET_BYTES_READ 36
#define CB_SLOT_TARGET_BYTES_WRITTEN 37

/* result slots (double), partitionTable: After scanPartitions. */
#define CB_SLOT_PART_SCHEME 0
#define CB_SLOT_PART_COUNT 1
#define CB_SLOT_PART_WARNING 2
#define CB_SLOT_PART_WARNING_CODE 3
#define CB_SLOT_PART_WARNING_VALUES 4 /* 4 slots */
#define CB_SLOT_PART_FIRST 8
#define CB_SLOT_PART_EXT_NUMBER 488
#define CB_SLOT_PART_EXT_START 489
#define CB_SLOT_PART_EXT_SECTORS 490
#define CB_SLOT_PART_GPT_HEADER_LBA 488
#define CB_SLOT_PART_GPT_FIRST_USABLE 489
#define CB_SLOT_PART_GPT_LAST_USABLE 490

/* result slots (double), partitionEntry: One entry, at partitionTable.first + 8 * i. */
#define CB_ENTRY_SLOTS 8
#define CB_ENTRY_NUMBER 0
#define CB_ENTRY_TYPE 1
#define CB_ENTRY_START 2
#define CB_ENTRY_SECTORS 3
#define CB_ENTRY_GUID 4 /* 2 slots */
#define CB_ENTRY_PROBLEM 6
#define CB_ENTRY_PROBLEM_VALUE 7

/* result slots (double), volume: After probeVolume (and still there after a scanBegin job). Fields a file system does not have are 0 (exFAT fills the nearest equivalents: reserved = FatOffset, fatCount and fatSectors its FATs, rootCluster, dirtyBoot = VolumeDirty; NTFS fills media only). */
#define CB_SLOT_VOL_FS_TYPE 40
#define CB_SLOT_VOL_BYTES_PER_SECTOR 41
#define CB_SLOT_VOL_SECTORS_PER_CLUSTER 42
#define CB_SLOT_VOL_CLUSTER_BYTES 43
#define CB_SLOT_VOL_RESERVED 44
#define CB_SLOT_VOL_FAT_COUNT 45
#define CB_SLOT_VOL_FAT_SECTORS 46
#define CB_SLOT_VOL_ROOT_ENTRIES 47
#define CB_SLOT_VOL_TOTAL_SECTORS 48
#define CB_SLOT_VOL_FIRST_DATA 49
#define CB_SLOT_VOL_CLUSTER_COUNT 50
#define CB_SLOT_VOL_ROOT_CLUSTER 51
#define CB_SLOT_VOL_FS_INFO 52
#define CB_SLOT_VOL_BACKUP_BOOT 53
#define CB_SLOT_VOL_DIRTY_BOOT 54
#define CB_SLOT_VOL_MEDIA 55
#define CB_SLOT_VOL_ROOT_DIR_SECTORS 56
#define CB_SLOT_VOL_SMALL_FAT32 57

/* result slots (double), scan: After a scanBegin job or a backup's scan phase. */
#define CB_SLOT_SCAN_ALLOCATED 60
#define CB_SLOT_SCAN_BAD 61
#define CB_SLOT_SCAN_MISMATCHED 62
#define CB_SLOT_SCAN_INVALID 63
#define CB_SLOT_SCAN_DIRTY 64
#define CB_SLOT_SCAN_IO_ERROR 65
#define CB_SLOT_SCAN_FS_INFO_FREE 66
#define CB_SLOT_SCAN_DIRTY_BOOT 67
#define CB_SLOT_SCAN_IMAGE_LENGTH 68
#define CB_SLOT_SCAN_SMALL_FAT32 69
#define CB_SLOT_SCAN_GHOST_LEFT_OUT 98
#define CB_SLOT_SCAN_EXFAT_CHECKSUM_BAD 102
#define CB_SLOT_SCAN_EXFAT_UPCASE 103

/* result slots (double), unreadable: A backup with RECORD_UNREADABLE, or a restore/verify of an image that records unreadable clusters. */
#define CB_SLOT_UNREADABLE_COUNT 70
#define CB_SLOT_UNREADABLE_FIRST 71
#define CB_SLOT_UNREADABLE_LIST 72 /* 24 slots */

/* result slots (double), image: The image header, after a restore or verify has checked it (from phase CHECK_BITMAP on). */
#define CB_SLOT_IMG_PART_CLUSTERS 10
#define CB_SLOT_IMG_IMAGE_CLUSTERS 11
#define CB_SLOT_IMG_BITMAP_BITS 12
#define CB_SLOT_IMG_CLUSTER_BYTES 13
#define CB_SLOT_IMG_SECTOR_BYTES 14
#define CB_SLOT_IMG_PART_TYPE 15
#define CB_SLOT_IMG_FS_TYPE 16
#define CB_SLOT_IMG_PART_START 17
#define CB_SLOT_IMG_PART_SECTORS 18
#define CB_SLOT_IMG_CREATED 19
#define CB_SLOT_IMG_LENGTH 20
#define CB_SLOT_IMG_BLOCKS 21
#define CB_SLOT_IMG_FLAGS 22
#define CB_SLOT_IMG_DATA_START 23
#define CB_SLOT_IMG_META_SECTORS 24
#define CB_SLOT_IMG_NAME 25 /* 8 slots */
#define CB_SLOT_IMG_GUID 33 /* 2 slots */
#define CB_SLOT_IMG_GHOST_START 96
#define CB_SLOT_IMG_GHOST_SECTORS 97
#define CB_SLOT_IMG_VERSION_MINOR 99

/* result slots (double), check: After checkOf. */
#define CB_SLOT_CHECK_DIGEST 100

/* result slots (double), fatCheck: After fatCheck: counts over its window of entries. */
#define CB_SLOT_FCK_DIFFERING 110
#define CB_SLOT_FCK_FIRST_DIFFERING 111
#define CB_SLOT_FCK_FREE 112
#define CB_SLOT_FCK_ALLOCATED 113
#define CB_SLOT_FCK_LOST 114
#define CB_SLOT_FCK_FIRST_LOST 115
#define CB_SLOT_FCK_BAD 116

/* result slots (double), magicScan: After scanMagic found one (result 1). */
#define CB_SLOT_MAGIC_AT 120

/* result slots (double), treeWalk: After treeWalk. */
#define CB_SLOT_WALK_KEPT_CLUSTERS 130
#define CB_SLOT_WALK_KEPT_RUNS 131
#define CB_SLOT_WALK_DIRECTORIES 132
#define CB_SLOT_WALK_FILES 133
#define CB_SLOT_WALK_BAD_CHAINS 134
#define CB_SLOT_WALK_TOO_DEEP 135
#define CB_SLOT_WALK_PATCHES_FULL 136
#define CB_SLOT_WALK_BITMAP_UNCHECKED 137
#define CB_SLOT_WALK_LISTED 138
#define CB_SLOT_WALK_LIST 140 /* 24 slots */
#define CB_SLOT_WALK_CROSS_LINKED 164
#define CB_SLOT_WALK_CROSS_RUNS 165
#define CB_SLOT_WALK_CROSS_UNCHECKED 166
#define CB_SLOT_WALK_CROSS_LISTED 167
#define CB_SLOT_WALK_CROSS_LIST 168 /* 24 slots */

/* error codes (failureCode) */
#define CB_E_DEVICE 1 /* code, dev, lba, count */
#define CB_E_MBR_SIGNATURE 2 /* found */
#define CB_E_PART_RANGE 3 /* number, start, sectors, containerSectors */
#define CB_E_EBR_CHAIN 4 /* lba, extendedStart, extendedSectors */
#define CB_E_GPT_HEADER 5 /* field, value, lba */
#define CB_E_GPT_CRC 6 /* what, stored, computed, headerLba */
#define CB_E_BS_SIGNATURE 7 /* found */
#define CB_E_BS_JUMP 8 /* byte0 */
#define CB_E_BPB_BYTSPERSEC 9 /* value */
#define CB_E_BPB_SECPERCLUS 10 /* value */
#define CB_E_BPB_RSVDSECCNT 11 /* value */
#define CB_E_BPB_NUMFATS 12 /* value */
#define CB_E_BPB_ROOTENTCNT 13 /* value, fsType */
#define CB_E_BPB_TOTSEC 14 /* totalSectors, partSectors */
#define CB_E_BPB_FATSZ 15 /* fatSectors, needed */
#define CB_E_BPB_MEDIA 16 /* value */
#define CB_E_NO_DATA_AREA 17 /* systemSectors, totalSectors */
#define CB_E_FAT_TYPE_LAYOUT 18 /* clusters, fatSz16 */
#define CB_E_BPB_ROOTCLUS 19 /* value, maxCluster */
#define CB_E_BPB_FSVER 20 /* value */
#define CB_E_SECTOR_SIZE 21 /* device, bootRecord */
#define CB_E_IMG_MAGIC 22 /* first4, next4 */
#define CB_E_IMG_VERSION 23 /* major, minor */
#define CB_E_IMG_HEADER_CHECK 24 /* storedHi, storedLo, computedHi, computedLo */
#define CB_E_IMG_HEADER_FIELD 25 /* field, value, expected */
#define CB_E_IMG_BITMAP_CHECK 26 /* storedHi, storedLo, computedHi, computedLo */
#define CB_E_IMG_BITMAP_COUNT 27 /* found, header */
#define CB_E_IMG_META_CHECK 28 /* storedHi, storedLo, computedHi, computedLo */
#define CB_E_IMG_COMMIT 29 /* what, value */
#define CB_E_IMG_BLOCK_TABLE 30 /* block, what, value */
#define CB_E_IMG_CLUSTER_CHECK 31 /* block, cluster, stored, computed */
#define CB_E_IMG_CHAIN 32 /* commit, computed */
#define CB_E_TARGET_SMALL 33 /* targetSectors, needed */
#define CB_E_TARGET_SECTOR 34 /* target, image */
#define CB_E_IMG_TRUNCATED 35 /* imageBytes, needed */
#define CB_E_STATE 36 /* state */
#define CB_E_BPB_FSINFO 37 /* field, value */
#define CB_E_CLUSTER_SIZE 38 /* bytes, max */
#define CB_E_NOT_FAT 39 /* signature, byte0 */
#define CB_E_IMG_GHOST_OVERLAP 40 /* block, cluster, ghostFirst, ghostClusters */
#define CB_E_GHOST_EXTENT 41 /* start, sectors, dataStart, sectorsPerCluster */
#define CB_E_EXFAT_FIELD 42 /* field, value, expected */
#define CB_E_EXFAT_BITMAP 43 /* what, value, limit */
#define CB_E_NTFS_FIELD 44 /* field, value, expected */
#define CB_E_NTFS_MFT 45 /* what, record, value */
#define CB_E_IMG_META_CHANGED 46 /* chunk, sectionByte, stored, computed */
#define CB_E_IMG_META_SIZE 47 /* bytes, limit */
#define CB_E_FAT_CHECK_RANGE 48 /* first, count, entries, fsType */
#define CB_E_LAYER 49 /* what, handle, kind, value */
#define CB_E_SCAN_RANGE 50 /* stopByte, endByte, sectorBytes, deviceBytes */

/* imports the host provides (module "dev") */
/* env.abort: void (int32_t msg, int32_t file, int32_t line, int32_t column) */
/* dev.read: int32_t (uint32_t dev, double lba, uint32_t sectorCount, uint32_t ptr) */
/* dev.write: int32_t (uint32_t dev, double lba, uint32_t sectorCount, uint32_t ptr) */
/* dev.flush: int32_t (uint32_t dev) */

/* exports */
/* init: void (void) */
/* resultPtr: uint32_t (void) */
/* paramsPtr: uint32_t (void) */
/* ioPtr: uint32_t (void) */
/* io2Ptr: uint32_t (void) */
/* patchesPtr: uint32_t (void) */
/* claimedPtr: uint32_t (void) */
/* failureCode: int32_t (void) */
/* failureValue: double (int32_t i) */
/* setPatches: int32_t (uint32_t dev, uint32_t sectorBytes, uint32_t count) */
/* scanPartitions: int32_t (uint32_t dev, uint32_t sectorBytes, double diskSectors) */
/* probeVolume: int32_t (uint32_t dev, uint32_t sectorBytes, double partSectors) */
/* scanBegin: int32_t (uint32_t dev, uint32_t sectorBytes, double partSectors) */
/* backupBegin: int32_t (uint32_t src, uint32_t sectorBytes, double partSectors, uint32_t img, uint32_t partType, double partStart, double created) */
/* backupBeginFlags: int32_t (uint32_t src, uint32_t sectorBytes, double partSectors, uint32_t img, uint32_t partType, double partStart, double created, uint32_t flags) */
/* restoreBegin: int32_t (uint32_t img, double imageSectors, uint32_t target, uint32_t targetSectorBytes, double targetSectors, uint32_t flags) */
/* verifyBegin: int32_t (uint32_t img, double imageSectors, uint32_t target, uint32_t targetSectorBytes, double targetSectors) */
/* step: int32_t (double budget) */
/* fatCheck: int32_t (uint32_t dev, uint32_t sectorBytes, double partSectors, uint32_t first, uint32_t count) */
/* checkOf: void (uint32_t ptr, uint32_t byteCount, double seed) */
/* layerOpen: int32_t (uint32_t kind, uint32_t parent, double a, double b, double c, double d) */
/* layerClose: int32_t (uint32_t handle) */
/* layerStat: double (uint32_t handle, uint32_t stat) */
/* sectorCopy: int32_t (uint32_t src, double srcLba, uint32_t dst, double dstLba, double count, uint32_t sectorBytes) */
/* scanMagic: int32_t (uint32_t dev, uint32_t sectorBytes, double stopByte, double endByte) */
/* treeWalk: int32_t (uint32_t dev, uint32_t sectorBytes, double partSectors, uint32_t firstPatch) */

#endif
