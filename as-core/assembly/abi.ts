// The core's contract: generated from as-core/contract/core-abi.json by as-core/contract/generate.js: do not edit.
// docs/core-abi.md explains every name.

// constants
export const RESULT_SLOTS: u32 = 512; // f64 slots at resultPtr().
export const RESULT_BYTES: u32 = 4096; // RESULT_SLOTS * 8.
export const PARAMS_BYTES: u32 = 512; // Bytes at paramsPtr().
export const BLOCK_DATA_MAX: u32 = 1048576; // Cluster bytes in one image block, at most (so the largest cluster the core images is 1 MiB).
export const TABLE_MAX: u32 = 16384; // A block table's bytes, at most (32 + 4 * 2048 + 8, rounded up).
export const IO_BYTES: u32 = 1064960; // Bytes of each block buffer (io, io2): BLOCK_DATA_MAX + TABLE_MAX.
export const PATCH_MAX: u32 = 2048; // Source patches the core holds.
export const PATCH_BYTES: u32 = 24; // Bytes of one source patch.
export const PATCH_AREA_BYTES: u32 = 49152; // PATCH_MAX * PATCH_BYTES.
export const NO_DEVICE: u32 = 4294967295; // A device handle that names no device: verifyBegin's target when the image is checked alone.
export const UNREADABLE_LISTED: u32 = 24; // Unreadable clusters listed one by one in the unreadable results.
export const PART_ENTRIES_MAX: u32 = 60; // Partition entries scanPartitions lists.
export const CHECK_INPUT_MAX: u32 = 512; // checkOf hashes at most this many bytes in one call (a multiple of 64).
export const STEP_BUDGET_DEFAULT: u32 = 33554432; // A step's I/O budget the Node host uses (32 MiB); any positive number works, smaller means more frequent progress and cancel points.
export const IMAGE_SECTOR: u32 = 512; // An image device's sector size: images are read and written in 512-byte sectors, whatever the partition's.
export const FAT_CHECK_MAX: u32 = 65536; // FAT entries fatCheck covers in one call, at most.
export const CLAIMED_BYTES: u32 = 8192; // Bytes of the claimed buffer: FAT_CHECK_MAX bits.
export const LAYER_FIRST: u32 = 65536; // The first handle of the core's own layers (layerOpen): handles LAYER_FIRST..LAYER_FIRST + LAYERS_MAX - 1 name layers, and a host's device handles must stay below LAYER_FIRST (and above 0).
export const LAYERS_MAX: u32 = 64; // Layers open at once, at most.
export const SCAN_MAGIC_BYTES: u32 = 8; // A scanMagic magic's length: the first at paramsPtr(), the second at paramsPtr() + SCAN_MAGIC_BYTES.
export const WALK_DEPTH_MAX: u32 = 64; // Directory levels treeWalk descends, at most (the root is level 1).
export const WALK_LISTED: u32 = 6; // Kept runs, and cross-linked runs, treeWalk lists in its results.
export const WALK_CROSS_WINDOWS_MAX: u32 = 16; // Windows of 1 Mi clusters (the bitmap buffer, BITMAP_WINDOW_BYTES) treeWalk checks for cross-links, at most: the tree is walked once per window, so a volume of up to 16 Mi clusters is checked whole; clusters past them are counted in walk crossUnchecked.

// params: byte offsets at paramsPtr()
export const PARAM_IMAGE_NAME: usize = 0; export const PARAM_IMAGE_NAME_BYTES: u32 = 64;
export const PARAM_PART_TYPE_GUID: usize = 64; export const PARAM_PART_TYPE_GUID_BYTES: u32 = 16;
export const PARAM_GHOST_START: usize = 80;
export const PARAM_GHOST_SECTORS: usize = 88;

// a source patch: byte offsets in its PATCH_BYTES
export const PATCH_AT_BYTE_OFFSET: usize = 0;
export const PATCH_AT_LENGTH: usize = 8;
export const PATCH_AT_KIND: usize = 12;
export const PATCH_AT_VALUE: usize = 16;
export const PATCH_AT_MASK: usize = 20;

// Phase: Result slot phase during a job.
export const PH_SCAN: u32 = 1;
export const PH_META_COPY: u32 = 2;
export const PH_DATA_COPY: u32 = 3;
export const PH_CHECK_HEADER: u32 = 4;
export const PH_CHECK_BITMAP: u32 = 5;
export const PH_CHECK_META: u32 = 6;
export const PH_CHECK_COMMIT: u32 = 7;
export const PH_DATA: u32 = 8;
export const PH_META: u32 = 9;
export const PH_DONE: u32 = 10;

// FsType: File-system type, in volume and image results and in the image header.
export const FS_NONE: u32 = 0;
export const FS_FAT12: u32 = 1;
export const FS_FAT16: u32 = 2;
export const FS_FAT32: u32 = 3;
export const FS_EXFAT: u32 = 4;
export const FS_NTFS: u32 = 5;

// RestoreFlag: restoreBegin's flags.
export const RESTORE_READ_BACK: u32 = 1;
export const RESTORE_FULL: u32 = 2;
export const RESTORE_ONE_PASS: u32 = 4;

// BackupFlag: backupBeginFlags' flags.
export const BACKUP_RECORD_UNREADABLE: u32 = 1;

// DeviceCode: What a dev.* import returns, negated (-1 .. -6). The core reports a failed call as E_DEVICE with the code and the call's handle, LBA and count.
export const DEV_IO: i32 = 1;
export const DEV_RANGE: i32 = 2;
export const DEV_GUARD: i32 = 3;
export const DEV_READONLY: i32 = 4;
export const DEV_SHORT: i32 = 5;
export const DEV_CLOSED: i32 = 6;

// PatchKind: A source patch's kind.
export const PATCH_ZERO: u32 = 0;
export const PATCH_MASK: u32 = 1;
export const PATCH_LEAVE_OUT: u32 = 2;
export const PATCH_KEEP: u32 = 3;

// PartScheme: The partition table found.
export const SCHEME_MBR: u32 = 1;
export const SCHEME_GPT: u32 = 2;

// PartProblem: A partition entry's problem; problemValue says more. An entry with a problem is listed, and refused only when chosen.
export const P_NONE: u32 = 0;
export const P_SECTOR_ZERO: u32 = 1;
export const P_PAST_DISK: u32 = 2;
export const P_PAST_EXTENDED: u32 = 3;
export const P_OVER_TABLE: u32 = 4;
export const P_OUTSIDE_USABLE: u32 = 5;
export const P_REVERSED: u32 = 6;
export const P_OVERLAP: u32 = 7;

// PartWarning: A warning about the table as a whole, with a code and four values.
export const W_NONE: u32 = 0;
export const W_GPT_BACKUP: u32 = 1;
export const W_EXTENDED_BAD: u32 = 2;
export const W_EBR_CHAIN: u32 = 3;

// HeaderField: E_IMG_HEADER_FIELD's first value: the image header field found wrong.
export const HF_HEADER_LENGTH: f64 = 1;
export const HF_SECTOR: f64 = 2;
export const HF_CLUSTER: f64 = 3;
export const HF_FSTYPE: f64 = 4;
export const HF_BITS: f64 = 5;
export const HF_IMAGE_CLUSTERS: f64 = 6;
export const HF_PER_BLOCK: f64 = 7;
export const HF_OFFSETS: f64 = 8;
export const HF_DATA_START: f64 = 9;
export const HF_META: f64 = 10;
export const HF_RESERVED: f64 = 11;
export const HF_FIRST_CLUSTER: f64 = 12;
export const HF_GHOST: f64 = 13;
export const HF_TAIL: f64 = 14;

// CommitWhat: E_IMG_COMMIT's first value.
export const CW_MAGIC: f64 = 1;
export const CW_CHECK: f64 = 2;
export const CW_HEADER: f64 = 3;
export const CW_BLOCKS: f64 = 4;
export const CW_CLUSTERS: f64 = 5;
export const CW_LENGTH: f64 = 6;
export const CW_RESERVED: f64 = 7;

// TableWhat: E_IMG_BLOCK_TABLE's second value: the block table field found wrong.
export const TW_MAGIC: f64 = 1;
export const TW_CLUSTERS: f64 = 2;
export const TW_INDEX: f64 = 3;
export const TW_CHECK: f64 = 4;
export const TW_FIRST: f64 = 5;

// BitmapCountWhat: E_IMG_BITMAP_COUNT's first value when it is not a count.
export const BC_PAST_END: f64 = -1;
export const BC_RESERVED: f64 = -2;

// GptHeaderField: E_GPT_HEADER's first value.
export const GH_SIGNATURE: f64 = 1;
export const GH_HEADER_SIZE: f64 = 2;
export const GH_ENTRY_SIZE: f64 = 3;
export const GH_ENTRY_COUNT: f64 = 4;
export const GH_ENTRIES_LBA: f64 = 5;
export const GH_MY_LBA: f64 = 6;

// GptCrcWhat: E_GPT_CRC's first value.
export const GC_HEADER: f64 = 1;
export const GC_ENTRIES: f64 = 2;

// FsInfoField: E_BPB_FSINFO's first value.
export const FI_FSINFO: f64 = 1;
export const FI_BACKUP_BOOT: f64 = 2;

// ExfatField: E_EXFAT_FIELD's first value.
export const XF_MUST_BE_ZERO: f64 = 1;
export const XF_SECTOR_SHIFT: f64 = 2;
export const XF_CLUSTER_SHIFT: f64 = 3;
export const XF_FATS: f64 = 4;
export const XF_FAT_OFFSET: f64 = 5;
export const XF_FAT_LENGTH: f64 = 6;
export const XF_HEAP_OFFSET: f64 = 7;
export const XF_CLUSTER_COUNT: f64 = 8;
export const XF_ROOT: f64 = 9;
export const XF_REVISION: f64 = 10;
export const XF_JUMP: f64 = 11;

// ExfatBitmapWhat: E_EXFAT_BITMAP's first value.
export const XB_NOT_FOUND: f64 = 1;
export const XB_FIRST_CLUSTER: f64 = 2;
export const XB_TOO_SHORT: f64 = 3;
export const XB_CHAIN: f64 = 4;

// NtfsField: E_NTFS_FIELD's first value.
export const NF_JUMP: f64 = 1;
export const NF_SECTOR: f64 = 2;
export const NF_CLUSTER: f64 = 3;
export const NF_ZERO: f64 = 4;
export const NF_MFT: f64 = 5;
export const NF_MFTMIRR: f64 = 6;
export const NF_RECORD: f64 = 7;

// NtfsMftWhat: E_NTFS_MFT's first value.
export const NM_MAGIC: f64 = 1;
export const NM_FIXUP: f64 = 2;
export const NM_ATTRIBUTE: f64 = 3;
export const NM_NO_DATA: f64 = 4;
export const NM_RUNS: f64 = 5;
export const NM_TOO_MANY_RUNS: f64 = 6;
export const NM_LIST: f64 = 7;
export const NM_SHORT: f64 = 8;
export const NM_OUTSIDE: f64 = 9;

// ExfatUpcase: The scan result exfatUpcase.
export const XU_OK: f64 = 0;
export const XU_CHECKSUM_BAD: f64 = 1;
export const XU_MISSING: f64 = 2;

// LayerKind: layerOpen's kinds: a device the core builds over another (a host device or a layer) and reaches through it, so that the host implements sector I/O on its devices and nothing else. Arguments a..d of layerOpen, by kind.
export const LK_WINDOW: u32 = 1;
export const LK_GUARD: u32 = 2;
export const LK_TRAP: u32 = 3;
export const LK_SECTORS512: u32 = 4;

// LayerStat: layerStat's figures.
export const LS_READ: u32 = 0;
export const LS_WRITTEN: u32 = 1;
export const LS_FAIL_LBA: u32 = 2;
export const LS_FAIL_COUNT: u32 = 3;

// LayerWhat: The value what of E_LAYER.
export const LW_KIND: f64 = 1;
export const LW_PARENT: f64 = 2;
export const LW_FULL: f64 = 3;
export const LW_SIZE: f64 = 4;
export const LW_NOT_OPEN: f64 = 5;
export const LW_BUSY: f64 = 6;

// WalkKind: What treeWalk found a kept run in (the walk's list of runs reached by the directory tree but marked free).
export const WALK_ROOT: u32 = 1;
export const WALK_DIRECTORY: u32 = 2;
export const WALK_FILE: u32 = 3;
export const WALK_BITMAP: u32 = 4;
export const WALK_UPCASE: u32 = 5;
export const WALK_OTHER: u32 = 6;
export const WALK_SYSTEM: u32 = 7;

// result slots, progress
export const SLOT_PHASE: u32 = 0;
export const SLOT_BYTES_DONE: u32 = 1;
export const SLOT_BYTES_TOTAL: u32 = 2;
export const SLOT_CLUSTERS_DONE: u32 = 3;
export const SLOT_BLOCK: u32 = 4;
export const SLOT_MISMATCHES: u32 = 5;
export const SLOT_FIRST_MISMATCH: u32 = 6;
export const SLOT_META_MISMATCH: u32 = 7;
export const SLOT_TARGET_BYTES_READ: u32 = 36;
export const SLOT_TARGET_BYTES_WRITTEN: u32 = 37;

// result slots, partitionTable
export const SLOT_PART_SCHEME: u32 = 0;
export const SLOT_PART_COUNT: u32 = 1;
export const SLOT_PART_WARNING: u32 = 2;
export const SLOT_PART_WARNING_CODE: u32 = 3;
export const SLOT_PART_WARNING_VALUES: u32 = 4; // 4 slots
export const SLOT_PART_FIRST: u32 = 8;
export const SLOT_PART_EXT_NUMBER: u32 = 488;
export const SLOT_PART_EXT_START: u32 = 489;
export const SLOT_PART_EXT_SECTORS: u32 = 490;
export const SLOT_PART_GPT_HEADER_LBA: u32 = 488;
export const SLOT_PART_GPT_FIRST_USABLE: u32 = 489;
export const SLOT_PART_GPT_LAST_USABLE: u32 = 490;

// result slots, partitionEntry (relative to an entry; ENTRY_SLOTS per entry)
export const ENTRY_SLOTS: u32 = 8;
export const ENTRY_NUMBER: u32 = 0;
export const ENTRY_TYPE: u32 = 1;
export const ENTRY_START: u32 = 2;
export const ENTRY_SECTORS: u32 = 3;
export const ENTRY_GUID: u32 = 4; // 2 slots
export const ENTRY_PROBLEM: u32 = 6;
export const ENTRY_PROBLEM_VALUE: u32 = 7;

// result slots, volume
export const SLOT_VOL_FS_TYPE: u32 = 40;
export const SLOT_VOL_BYTES_PER_SECTOR: u32 = 41;
export const SLOT_VOL_SECTORS_PER_CLUSTER: u32 = 42;
export const SLOT_VOL_CLUSTER_BYTES: u32 = 43;
export const SLOT_VOL_RESERVED: u32 = 44;
export const SLOT_VOL_FAT_COUNT: u32 = 45;
export const SLOT_VOL_FAT_SECTORS: u32 = 46;
export const SLOT_VOL_ROOT_ENTRIES: u32 = 47;
export const SLOT_VOL_TOTAL_SECTORS: u32 = 48;
export const SLOT_VOL_FIRST_DATA: u32 = 49;
export const SLOT_VOL_CLUSTER_COUNT: u32 = 50;
export const SLOT_VOL_ROOT_CLUSTER: u32 = 51;
export const SLOT_VOL_FS_INFO: u32 = 52;
export const SLOT_VOL_BACKUP_BOOT: u32 = 53;
export const SLOT_VOL_DIRTY_BOOT: u32 = 54;
export const SLOT_VOL_MEDIA: u32 = 55;
export const SLOT_VOL_ROOT_DIR_SECTORS: u32 = 56;
export const SLOT_VOL_SMALL_FAT32: u32 = 57;

// result slots, scan
export const SLOT_SCAN_ALLOCATED: u32 = 60;
export const SLOT_SCAN_BAD: u32 = 61;
export const SLOT_SCAN_MISMATCHED: u32 = 62;
export const SLOT_SCAN_INVALID: u32 = 63;
export const SLOT_SCAN_DIRTY: u32 = 64;
export const SLOT_SCAN_IO_ERROR: u32 = 65;
export const SLOT_SCAN_FS_INFO_FREE: u32 = 66;
export const SLOT_SCAN_DIRTY_BOOT: u32 = 67;
export const SLOT_SCAN_IMAGE_LENGTH: u32 = 68;
export const SLOT_SCAN_SMALL_FAT32: u32 = 69;
export const SLOT_SCAN_GHOST_LEFT_OUT: u32 = 98;
export const SLOT_SCAN_EXFAT_CHECKSUM_BAD: u32 = 102;
export const SLOT_SCAN_EXFAT_UPCASE: u32 = 103;

// result slots, unreadable
export const SLOT_UNREADABLE_COUNT: u32 = 70;
export const SLOT_UNREADABLE_FIRST: u32 = 71;
export const SLOT_UNREADABLE_LIST: u32 = 72; // 24 slots

// result slots, image
export const SLOT_IMG_PART_CLUSTERS: u32 = 10;
export const SLOT_IMG_IMAGE_CLUSTERS: u32 = 11;
export const SLOT_IMG_BITMAP_BITS: u32 = 12;
export const SLOT_IMG_CLUSTER_BYTES: u32 = 13;
export const SLOT_IMG_SECTOR_BYTES: u32 = 14;
export const SLOT_IMG_PART_TYPE: u32 = 15;
export const SLOT_IMG_FS_TYPE: u32 = 16;
export const SLOT_IMG_PART_START: u32 = 17;
export const SLOT_IMG_PART_SECTORS: u32 = 18;
export const SLOT_IMG_CREATED: u32 = 19;
export const SLOT_IMG_LENGTH: u32 = 20;
export const SLOT_IMG_BLOCKS: u32 = 21;
export const SLOT_IMG_FLAGS: u32 = 22;
export const SLOT_IMG_DATA_START: u32 = 23;
export const SLOT_IMG_META_SECTORS: u32 = 24;
export const SLOT_IMG_NAME: u32 = 25; // 8 slots
export const SLOT_IMG_GUID: u32 = 33; // 2 slots
export const SLOT_IMG_GHOST_START: u32 = 96;
export const SLOT_IMG_GHOST_SECTORS: u32 = 97;
export const SLOT_IMG_VERSION_MINOR: u32 = 99;

// result slots, check
export const SLOT_CHECK_DIGEST: u32 = 100;

// result slots, fatCheck
export const SLOT_FCK_DIFFERING: u32 = 110;
export const SLOT_FCK_FIRST_DIFFERING: u32 = 111;
export const SLOT_FCK_FREE: u32 = 112;
export const SLOT_FCK_ALLOCATED: u32 = 113;
export const SLOT_FCK_LOST: u32 = 114;
export const SLOT_FCK_FIRST_LOST: u32 = 115;
export const SLOT_FCK_BAD: u32 = 116;

// result slots, magicScan
export const SLOT_MAGIC_AT: u32 = 120;

// result slots, treeWalk
export const SLOT_WALK_KEPT_CLUSTERS: u32 = 130;
export const SLOT_WALK_KEPT_RUNS: u32 = 131;
export const SLOT_WALK_DIRECTORIES: u32 = 132;
export const SLOT_WALK_FILES: u32 = 133;
export const SLOT_WALK_BAD_CHAINS: u32 = 134;
export const SLOT_WALK_TOO_DEEP: u32 = 135;
export const SLOT_WALK_PATCHES_FULL: u32 = 136;
export const SLOT_WALK_BITMAP_UNCHECKED: u32 = 137;
export const SLOT_WALK_LISTED: u32 = 138;
export const SLOT_WALK_LIST: u32 = 140; // 24 slots
export const SLOT_WALK_CROSS_LINKED: u32 = 164;
export const SLOT_WALK_CROSS_RUNS: u32 = 165;
export const SLOT_WALK_CROSS_UNCHECKED: u32 = 166;
export const SLOT_WALK_CROSS_LISTED: u32 = 167;
export const SLOT_WALK_CROSS_LIST: u32 = 168; // 24 slots

// error codes (failureCode); the values each carries are in docs/core-abi.md
export const E_DEVICE: i32 = 1; // code, dev, lba, count
export const E_MBR_SIGNATURE: i32 = 2; // found
export const E_PART_RANGE: i32 = 3; // number, start, sectors, containerSectors
export const E_EBR_CHAIN: i32 = 4; // lba, extendedStart, extendedSectors
export const E_GPT_HEADER: i32 = 5; // field, value, lba
export const E_GPT_CRC: i32 = 6; // what, stored, computed, headerLba
export const E_BS_SIGNATURE: i32 = 7; // found
export const E_BS_JUMP: i32 = 8; // byte0
export const E_BPB_BYTSPERSEC: i32 = 9; // value
export const E_BPB_SECPERCLUS: i32 = 10; // value
export const E_BPB_RSVDSECCNT: i32 = 11; // value
export const E_BPB_NUMFATS: i32 = 12; // value
export const E_BPB_ROOTENTCNT: i32 = 13; // value, fsType
export const E_BPB_TOTSEC: i32 = 14; // totalSectors, partSectors
export const E_BPB_FATSZ: i32 = 15; // fatSectors, needed
export const E_BPB_MEDIA: i32 = 16; // value
export const E_NO_DATA_AREA: i32 = 17; // systemSectors, totalSectors
export const E_FAT_TYPE_LAYOUT: i32 = 18; // clusters, fatSz16
export const E_BPB_ROOTCLUS: i32 = 19; // value, maxCluster
export const E_BPB_FSVER: i32 = 20; // value
export const E_SECTOR_SIZE: i32 = 21; // device, bootRecord
export const E_IMG_MAGIC: i32 = 22; // first4, next4
export const E_IMG_VERSION: i32 = 23; // major, minor
export const E_IMG_HEADER_CHECK: i32 = 24; // storedHi, storedLo, computedHi, computedLo
export const E_IMG_HEADER_FIELD: i32 = 25; // field, value, expected
export const E_IMG_BITMAP_CHECK: i32 = 26; // storedHi, storedLo, computedHi, computedLo
export const E_IMG_BITMAP_COUNT: i32 = 27; // found, header
export const E_IMG_META_CHECK: i32 = 28; // storedHi, storedLo, computedHi, computedLo
export const E_IMG_COMMIT: i32 = 29; // what, value
export const E_IMG_BLOCK_TABLE: i32 = 30; // block, what, value
export const E_IMG_CLUSTER_CHECK: i32 = 31; // block, cluster, stored, computed
export const E_IMG_CHAIN: i32 = 32; // commit, computed
export const E_TARGET_SMALL: i32 = 33; // targetSectors, needed
export const E_TARGET_SECTOR: i32 = 34; // target, image
export const E_IMG_TRUNCATED: i32 = 35; // imageBytes, needed
export const E_STATE: i32 = 36; // state
export const E_BPB_FSINFO: i32 = 37; // field, value
export const E_CLUSTER_SIZE: i32 = 38; // bytes, max
export const E_NOT_FAT: i32 = 39; // signature, byte0
export const E_IMG_GHOST_OVERLAP: i32 = 40; // block, cluster, ghostFirst, ghostClusters
export const E_GHOST_EXTENT: i32 = 41; // start, sectors, dataStart, sectorsPerCluster
export const E_EXFAT_FIELD: i32 = 42; // field, value, expected
export const E_EXFAT_BITMAP: i32 = 43; // what, value, limit
export const E_NTFS_FIELD: i32 = 44; // field, value, expected
export const E_NTFS_MFT: i32 = 45; // what, record, value
export const E_IMG_META_CHANGED: i32 = 46; // chunk, sectionByte, stored, computed
export const E_IMG_META_SIZE: i32 = 47; // bytes, limit
export const E_FAT_CHECK_RANGE: i32 = 48; // first, count, entries, fsType
export const E_LAYER: i32 = 49; // what, handle, kind, value
export const E_SCAN_RANGE: i32 = 50; // stopByte, endByte, sectorBytes, deviceBytes
