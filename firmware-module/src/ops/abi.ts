// The core's contract for the Node host: generated from as-core/contract/core-abi.json by as-core/contract/generate.js: do not edit.
// docs/core-abi.md explains every name.
/* eslint-disable */

/** Pages (64 KiB) of the memory the host creates: initial = maximum. */
export const MEMORY_PAGES = 64;
/** f64 slots at resultPtr(). */
export const RESULT_SLOTS = 512;
/** RESULT_SLOTS * 8. */
export const RESULT_BYTES = 4096;
/** Bytes at paramsPtr(). */
export const PARAMS_BYTES = 512;
/** Cluster bytes in one image block, at most (so the largest cluster the core images is 1 MiB). */
export const BLOCK_DATA_MAX = 1048576;
/** A block table's bytes, at most (32 + 4 * 2048 + 8, rounded up). */
export const TABLE_MAX = 16384;
/** Bytes of each block buffer (io, io2): BLOCK_DATA_MAX + TABLE_MAX. */
export const IO_BYTES = 1064960;
/** Source patches the core holds. */
export const PATCH_MAX = 2048;
/** Bytes of one source patch. */
export const PATCH_BYTES = 24;
/** PATCH_MAX * PATCH_BYTES. */
export const PATCH_AREA_BYTES = 49152;
/** A device handle that names no device: verifyBegin's target when the image is checked alone. */
export const NO_DEVICE = 4294967295;
/** Unreadable clusters listed one by one in the unreadable results. */
export const UNREADABLE_LISTED = 24;
/** Partition entries scanPartitions lists. */
export const PART_ENTRIES_MAX = 60;
/** checkOf hashes at most this many bytes in one call (a multiple of 64). */
export const CHECK_INPUT_MAX = 512;
/** A step's I/O budget the Node host uses (32 MiB); any positive number works, smaller means more frequent progress and cancel points. */
export const STEP_BUDGET_DEFAULT = 33554432;
/** An image device's sector size: images are read and written in 512-byte sectors, whatever the partition's. */
export const IMAGE_SECTOR = 512;
/** FAT entries fatCheck covers in one call, at most. */
export const FAT_CHECK_MAX = 65536;
/** Bytes of the claimed buffer: FAT_CHECK_MAX bits. */
export const CLAIMED_BYTES = 8192;
/** The first handle of the core's own layers (layerOpen): handles LAYER_FIRST..LAYER_FIRST + LAYERS_MAX - 1 name layers, and a host's device handles must stay below LAYER_FIRST (and above 0). */
export const LAYER_FIRST = 65536;
/** Layers open at once, at most. */
export const LAYERS_MAX = 64;
/** A scanMagic magic's length: the first at paramsPtr(), the second at paramsPtr() + SCAN_MAGIC_BYTES. */
export const SCAN_MAGIC_BYTES = 8;
/** Directory levels treeWalk descends, at most (the root is level 1). */
export const WALK_DEPTH_MAX = 64;
/** Kept runs, and cross-linked runs, treeWalk lists in its results. */
export const WALK_LISTED = 6;
/** Windows of 1 Mi clusters (the bitmap buffer, BITMAP_WINDOW_BYTES) treeWalk checks for cross-links, at most: the tree is walked once per window, so a volume of up to 16 Mi clusters is checked whole; clusters past them are counted in walk crossUnchecked. */
export const WALK_CROSS_WINDOWS_MAX = 16;

/** Byte offsets (and lengths) in the params area. */
export const Param = {
  /** UTF-8 name stored in the image header, zero-padded. */
  imageName: { offset: 0, length: 64 },
  /** GPT partition type GUID in on-disk byte order (zero for MBR). */
  partTypeGuid: { offset: 64, length: 16 },
  /** Ghost backup: the first sector of the image's own extent inside the partition (0: not a ghost). */
  ghostStart: { offset: 80, type: "f64" },
  /** Ghost backup: the extent's sector count (0: not a ghost). */
  ghostSectors: { offset: 88, type: "f64" },
} as const;

/** Byte offsets in a source patch (PATCH_BYTES). */
export const PatchField = {
  /** f64: Partition byte of the first byte patched (kind ZERO, MASK); first cluster (kind LEAVE_OUT). */
  byteOffset: 0,
  /** u32: Bytes patched (ZERO: any; MASK: 1..4); clusters (LEAVE_OUT). */
  length: 8,
  /** u32: PatchKind. */
  kind: 12,
  /** u32: MASK: the new bits. */
  value: 16,
  /** u32: MASK: which bits change. */
  mask: 20,
} as const;

/** Result slot phase during a job. */
export const Phase = {
  /** backup: the allocation tables into the bitmap section */
  scan: 1,
  /** backup: the system area into the metadata section */
  metaCopy: 2,
  /** backup: allocated clusters into blocks */
  dataCopy: 3,
  /** restore, verify */
  checkHeader: 4,
  /** restore, verify */
  checkBitmap: 5,
  /** restore, verify */
  checkMeta: 6,
  /** restore, verify */
  checkCommit: 7,
  /** restore: blocks to the target; verify: blocks checked */
  data: 8,
  /** restore: metadata to the target, boot sector last; verify against a partition: compared */
  meta: 9,
  /** the job is over */
  done: 10,
} as const;
export const PhaseText: Readonly<Record<number, string>> = {
  1: "scanning FAT",
  2: "copying metadata",
  3: "copying clusters",
  4: "checking header",
  5: "checking bitmap",
  6: "checking metadata",
  7: "checking commit",
  8: "clusters",
  9: "metadata",
  10: "done",
};

/** File-system type, in volume and image results and in the image header. */
export const FsType = {
  /** E_BPB_ROOTENTCNT: the count fills no whole sectors, whatever the type */
  none: 0,
  fat12: 1,
  fat16: 2,
  fat32: 3,
  exfat: 4,
  ntfs: 5,
} as const;
export const FsTypeText: Readonly<Record<number, string>> = {
  0: "no type",
  1: "FAT12",
  2: "FAT16",
  3: "FAT32",
  4: "exFAT",
  5: "NTFS",
};

/** restoreBegin's flags. */
export const RestoreFlag = {
  /** Read every written cluster and the metadata back and compare them with the image (mismatches in the progress results). */
  readBack: 1,
  /** Write every cluster, instead of reading the target first and writing only what differs. */
  full: 2,
  /** Read the image once, strictly front to back (but for re-reads of the header and bitmap, [0, MetaOffset)), for an image that comes from a stream: the mark first, metadata and blocks written as they are read and checked, the target's boot sector held in the core until the commit record and the chain have passed. Any failure leaves the mark. */
  onePass: 4,
} as const;

/** backupBeginFlags' flags. */
export const BackupFlag = {
  /** A cluster the source cannot read (DeviceCode IO) is stored as zeros with the unreadable mark (image format 5.1) instead of failing the backup; header flag bit 1 is set; the unreadable results list them. */
  recordUnreadable: 1,
} as const;

/** What a dev.* import returns, negated (-1 .. -6). The core reports a failed call as E_DEVICE with the code and the call's handle, LBA and count. */
export const DeviceCode = {
  /** the operating system or the medium reported an I/O error (the only code that makes a cluster unreadable under RECORD_UNREADABLE) */
  io: 1,
  /** the request reaches outside the device */
  range: 2,
  /** the host's write guard refused a sector outside the job's extent */
  guard: 3,
  /** a write to a device opened read-only */
  readonly: 4,
  /** the device returned fewer bytes than asked */
  short: 5,
  /** the handle names no open device (closed, detached or never attached) */
  closed: 6,
} as const;

/** A source patch's kind. */
export const PatchKind = {
  /** the bytes read as zeros */
  zero: 0,
  /** byte = (byte & ~mask) | (value & mask), little-endian over length bytes */
  mask: 1,
  /** not a byte change: clusters [byteOffset, byteOffset + length) are left out of the bitmap (their file stays allocated) */
  leaveOut: 2,
  /** not a byte change: clusters [byteOffset, byteOffset + length) are put in the bitmap (reached by the directory tree but marked free: treeWalk adds them) */
  keep: 3,
} as const;

/** The partition table found. */
export const PartScheme = {
  mbr: 1,
  gpt: 2,
} as const;
export const PartSchemeText: Readonly<Record<number, string>> = {
  1: "mbr",
  2: "gpt",
};

/** A partition entry's problem; problemValue says more. An entry with a problem is listed, and refused only when chosen. */
export const PartProblem = {
  none: 0,
  /** starts at sector 0, over the partition table itself */
  sectorZero: 1,
  /** reaches past the end of the disk (value: the disk's sectors) */
  pastDisk: 2,
  /** a logical partition reaches past its extended partition (value: the extended partition's end LBA) */
  pastExtended: 3,
  /** covers a sector of the table: an EBR, a GPT header or entry array (value: that LBA) */
  overTable: 4,
  /** GPT: outside the header's usable LBAs (extra results) */
  outsideUsable: 5,
  /** GPT: ends before it starts (value: its last LBA; sectors is given as 0) */
  reversed: 6,
  /** shares sectors with another entry (value: that entry's number) */
  overlap: 7,
} as const;

/** A warning about the table as a whole, with a code and four values. */
export const PartWarning = {
  none: 0,
  /** the primary GPT failed (code: its error code, values: its values): the backup GPT is used */
  gptBackup: 1,
  /** the extended partition's entry has a problem (code: PartProblem, value 0: its value): no logical partition is read */
  extendedBad: 2,
  /** the EBR chain breaks (code: E_EBR_CHAIN, values: its values): the logical partitions after it are not read */
  ebrChain: 3,
} as const;

/** E_IMG_HEADER_FIELD's first value: the image header field found wrong. */
export const HeaderField = {
  headerLength: 1,
  sector: 2,
  cluster: 3,
  fstype: 4,
  bits: 5,
  imageClusters: 6,
  perBlock: 7,
  offsets: 8,
  dataStart: 9,
  meta: 10,
  reserved: 11,
  firstCluster: 12,
  ghost: 13,
  tail: 14,
} as const;
export const HeaderFieldText: Readonly<Record<number, string>> = {
  1: "header length",
  2: "sector size",
  3: "cluster size",
  4: "file-system type",
  5: "bitmap bit count",
  6: "image cluster count",
  7: "clusters per block",
  8: "section offsets",
  9: "data area end",
  10: "metadata size",
  11: "reserved bytes",
  12: "first cluster number",
  13: "ghost extent",
  14: "metadata tail (start, sectors)",
};

/** E_IMG_COMMIT's first value. */
export const CommitWhat = {
  magic: 1,
  check: 2,
  header: 3,
  blocks: 4,
  clusters: 5,
  length: 6,
  reserved: 7,
} as const;
export const CommitWhatText: Readonly<Record<number, string>> = {
  1: "has no commit magic (the backup did not finish)",
  2: "fails its check",
  3: "belongs to another header",
  4: "names another block count",
  5: "names another cluster count",
  6: "names another image length",
  7: "has non-zero reserved bytes",
};

/** E_IMG_BLOCK_TABLE's second value: the block table field found wrong. */
export const TableWhat = {
  magic: 1,
  clusters: 2,
  index: 3,
  check: 4,
  first: 5,
} as const;
export const TableWhatText: Readonly<Record<number, string>> = {
  1: "magic",
  2: "cluster count",
  3: "block index",
  4: "check",
  5: "first cluster",
};

/** E_IMG_BITMAP_COUNT's first value when it is not a count. */
export const BitmapCountWhat = {
  pastEnd: -1,
  reserved: -2,
} as const;
export const BitmapCountWhatText: Readonly<Record<number, string>> = {
  [-1]: "a bit set past the bitmap's end (second value: the bit)",
  [-2]: "reserved clusters 0 or 1 marked (second value: the bit)",
};

/** E_GPT_HEADER's first value. */
export const GptHeaderField = {
  signature: 1,
  headerSize: 2,
  entrySize: 3,
  entryCount: 4,
  entriesLba: 5,
  myLba: 6,
} as const;
export const GptHeaderFieldText: Readonly<Record<number, string>> = {
  1: "signature",
  2: "header size",
  3: "entry size",
  4: "entry count",
  5: "entry array LBA",
  6: "its own LBA (MyLBA)",
};

/** E_GPT_CRC's first value. */
export const GptCrcWhat = {
  header: 1,
  entries: 2,
} as const;
export const GptCrcWhatText: Readonly<Record<number, string>> = {
  1: "header",
  2: "partition entry array",
};

/** E_BPB_FSINFO's first value. */
export const FsInfoField = {
  fsinfo: 1,
  backupBoot: 2,
} as const;
export const FsInfoFieldText: Readonly<Record<number, string>> = {
  1: "BPB_FSInfo",
  2: "BPB_BkBootSec",
};

/** E_EXFAT_FIELD's first value. */
export const ExfatField = {
  mustBeZero: 1,
  sectorShift: 2,
  clusterShift: 3,
  fats: 4,
  fatOffset: 5,
  fatLength: 6,
  heapOffset: 7,
  clusterCount: 8,
  root: 9,
  revision: 10,
  jump: 11,
} as const;
export const ExfatFieldText: Readonly<Record<number, string>> = {
  1: "MustBeZero (bytes 11..63)",
  2: "BytesPerSectorShift",
  3: "SectorsPerClusterShift",
  4: "NumberOfFats",
  5: "FatOffset",
  6: "FatLength",
  7: "ClusterHeapOffset",
  8: "ClusterCount",
  9: "FirstClusterOfRootDirectory",
  10: "FileSystemRevision",
  11: "JumpBoot",
};

/** E_EXFAT_BITMAP's first value. */
export const ExfatBitmapWhat = {
  notFound: 1,
  firstCluster: 2,
  tooShort: 3,
  chain: 4,
} as const;
export const ExfatBitmapWhatText: Readonly<Record<number, string>> = {
  1: "no allocation bitmap entry in the root directory (clusters looked through, next entry)",
  2: "the bitmap's first cluster is outside the heap (cluster, last cluster)",
  3: "the bitmap is shorter than the cluster count needs (bytes, needed)",
  4: "the bitmap's FAT chain breaks (clusters followed, next entry)",
};

/** E_NTFS_FIELD's first value. */
export const NtfsField = {
  jump: 1,
  sector: 2,
  cluster: 3,
  zero: 4,
  mft: 5,
  mftmirr: 6,
  record: 7,
} as const;
export const NtfsFieldText: Readonly<Record<number, string>> = {
  1: "jump instruction",
  2: "bytes per sector",
  3: "sectors per cluster",
  4: "a field that must be zero (reserved sectors, FATs, root entries, 16/32-bit sector counts, sectors per FAT) is not zero",
  5: "MFT cluster",
  6: "MFT mirror cluster",
  7: "clusters per MFT record",
};

/** E_NTFS_MFT's first value. */
export const NtfsMftWhat = {
  magic: 1,
  fixup: 2,
  attribute: 3,
  noData: 4,
  runs: 5,
  tooManyRuns: 6,
  list: 7,
  short: 8,
  outside: 9,
} as const;
export const NtfsMftWhatText: Readonly<Record<number, string>> = {
  1: "not a FILE record in use",
  2: "update sequence does not match (a torn write)",
  3: "attribute list of the record is malformed",
  4: "has no unnamed $DATA attribute",
  5: "data runs are malformed",
  6: "has more data runs than the core holds",
  7: "attribute list is malformed or too long",
  8: "data is shorter than needed",
  9: "data runs point outside the volume",
};

/** The scan result exfatUpcase. */
export const ExfatUpcase = {
  ok: 0,
  checksumBad: 1,
  missing: 2,
} as const;
export const ExfatUpcaseText: Readonly<Record<number, string>> = {
  0: "the up-case table's checksum matches (or not exFAT)",
  1: "the up-case table's checksum does not match its directory entry",
  2: "the root directory has no up-case table entry",
};

/** layerOpen's kinds: a device the core builds over another (a host device or a layer) and reaches through it, so that the host implements sector I/O on its devices and nothing else. Arguments a..d of layerOpen, by kind. */
export const LayerKind = {
  /** a partition: LBA 0 is the parent's LBA a, and it has b sectors (a request past them fails RANGE) */
  window: 1,
  /** the write guard: a write must lie within the parent's LBAs a..a + b - 1 and, when d > 0, outside c..c + d - 1 (a ghost image's own extent), else it fails GUARD and reaches nothing; reads pass. Counts the sectors read and written through it */
  guard: 2,
  /** a backup source: passes everything, and remembers its last read that failed IO (LBA and sector count, in its own LBAs) */
  trap: 3,
  /** the parent's sectors (a bytes each: 512..4096, a multiple of 512; b of them) seen as 512-byte ones (an image slot on a 4Kn disk): a request past the b parent sectors fails RANGE before any I/O; partial parent sectors are read, modified and written whole */
  sectors512: 4,
} as const;

/** layerStat's figures. */
export const LayerStat = {
  /** GUARD: sectors read through it */
  read: 0,
  /** GUARD: sectors written through it */
  written: 1,
  /** TRAP: the first LBA of the last read that failed IO */
  failLba: 2,
  /** TRAP: its sector count (0: no read failed) */
  failCount: 3,
} as const;

/** The value what of E_LAYER. */
export const LayerWhat = {
  kind: 1,
  parent: 2,
  full: 3,
  size: 4,
  notOpen: 5,
  busy: 6,
} as const;
export const LayerWhatText: Readonly<Record<number, string>> = {
  1: "no such layer kind",
  2: "the parent is neither a host device handle (1..LAYER_FIRST - 1) nor an open layer",
  3: "LAYERS_MAX layers are open",
  4: "a size or extent is not a whole number in range (SECTORS512: a sector size of 512..4096, a multiple of 512)",
  5: "the handle names no open layer",
  6: "a layer is still open over it",
};

/** What treeWalk found a kept run in (the walk's list of runs reached by the directory tree but marked free). */
export const WalkKind = {
  /** the root directory */
  root: 1,
  /** a directory (NTFS: its index, $INDEX_ALLOCATION) */
  directory: 2,
  /** a file's data ($DATA) */
  file: 3,
  /** the allocation bitmap */
  bitmap: 4,
  /** the up-case table */
  upcase: 5,
  /** another allocation (exFAT: a vendor entry's clusters; NTFS: a non-resident attribute other than $DATA and $INDEX_ALLOCATION) */
  other: 6,
  /** an NTFS system file's data ($MFT, $LogFile, $Secure and the other records below 16) */
  system: 7,
} as const;

/** Result slots (f64 at resultPtr()): each record's fields by name. */
export const Slot = {
  // progress: Written by every step of a job (backup, scan, restore, verify).
  phase: 0,
  bytesDone: 1,
  bytesTotal: 2,
  clustersDone: 3,
  block: 4,
  mismatches: 5,
  firstMismatch: 6,
  metaMismatch: 7,
  targetBytesRead: 36,
  targetBytesWritten: 37,
  // partitionTable: After scanPartitions.
  partScheme: 0,
  partCount: 1,
  partWarning: 2,
  partWarningCode: 3,
  partWarningValues: 4,
  partFirst: 8,
  partExtNumber: 488,
  partExtStart: 489,
  partExtSectors: 490,
  partGptHeaderLba: 488,
  partGptFirstUsable: 489,
  partGptLastUsable: 490,
  // volume: After probeVolume (and still there after a scanBegin job). Fields a file system does not have are 0 (exFAT fills the nearest equivalents: reserved = FatOffset, fatCount and fatSectors its FATs, rootCluster, dirtyBoot = VolumeDirty; NTFS fills media only).
  volFsType: 40,
  volBytesPerSector: 41,
  volSectorsPerCluster: 42,
  volClusterBytes: 43,
  volReserved: 44,
  volFatCount: 45,
  volFatSectors: 46,
  volRootEntries: 47,
  volTotalSectors: 48,
  volFirstData: 49,
  volClusterCount: 50,
  volRootCluster: 51,
  volFsInfo: 52,
  volBackupBoot: 53,
  volDirtyBoot: 54,
  volMedia: 55,
  volRootDirSectors: 56,
  volSmallFat32: 57,
  // scan: After a scanBegin job or a backup's scan phase.
  scanAllocated: 60,
  scanBad: 61,
  scanMismatched: 62,
  scanInvalid: 63,
  scanDirty: 64,
  scanIoError: 65,
  scanFsInfoFree: 66,
  scanDirtyBoot: 67,
  scanImageLength: 68,
  scanSmallFat32: 69,
  scanGhostLeftOut: 98,
  scanExfatChecksumBad: 102,
  scanExfatUpcase: 103,
  // unreadable: A backup with RECORD_UNREADABLE, or a restore/verify of an image that records unreadable clusters.
  unreadableCount: 70,
  unreadableFirst: 71,
  unreadableList: 72,
  // image: The image header, after a restore or verify has checked it (from phase CHECK_BITMAP on).
  imgPartClusters: 10,
  imgImageClusters: 11,
  imgBitmapBits: 12,
  imgClusterBytes: 13,
  imgSectorBytes: 14,
  imgPartType: 15,
  imgFsType: 16,
  imgPartStart: 17,
  imgPartSectors: 18,
  imgCreated: 19,
  imgLength: 20,
  imgBlocks: 21,
  imgFlags: 22,
  imgDataStart: 23,
  imgMetaSectors: 24,
  imgName: 25,
  imgGuid: 33,
  imgGhostStart: 96,
  imgGhostSectors: 97,
  imgVersionMinor: 99,
  // check: After checkOf.
  checkDigest: 100,
  // fatCheck: After fatCheck: counts over its window of entries.
  fckDiffering: 110,
  fckFirstDiffering: 111,
  fckFree: 112,
  fckAllocated: 113,
  fckLost: 114,
  fckFirstLost: 115,
  fckBad: 116,
  // magicScan: After scanMagic found one (result 1).
  magicAt: 120,
  // treeWalk: After treeWalk.
  walkKeptClusters: 130,
  walkKeptRuns: 131,
  walkDirectories: 132,
  walkFiles: 133,
  walkBadChains: 134,
  walkTooDeep: 135,
  walkPatchesFull: 136,
  walkBitmapUnchecked: 137,
  walkListed: 138,
  walkList: 140,
  walkCrossLinked: 164,
  walkCrossRuns: 165,
  walkCrossUnchecked: 166,
  walkCrossListed: 167,
  walkCrossList: 168,
} as const;

/** One entry, at partitionTable.first + 8 * i. */
export const ENTRY_SLOTS = 8;
export const EntrySlot = {
  number: 0,
  type: 1,
  start: 2,
  sectors: 3,
  guid: 4,
  problem: 6,
  problemValue: 7,
} as const;

/** Written by every step of a job (backup, scan, restore, verify). */
export interface ProgressResults {
  phase: number;
  /** bytes of I/O done in this job so far */
  bytesDone: number;
  /** bytes of I/O the job will do (an estimate until the bitmap is read) */
  bytesTotal: number;
  /** clusters copied, checked or written */
  clustersDone: number;
  /** the current image block */
  block: number;
  /** verify against a partition, restore with READ_BACK: clusters that differ */
  mismatches: number;
  /** the first of them (a cluster number) */
  firstMismatch: number;
  /** the metadata differs */
  metaMismatch: boolean;
  /** restore: bytes read from the target to compare (not the read-back) */
  targetBytesRead: number;
  /** restore: bytes written to the target */
  targetBytesWritten: number;
}
export function readProgress(r: Float64Array): ProgressResults {
  return {
    phase: r[0],
    bytesDone: r[1],
    bytesTotal: r[2],
    clustersDone: r[3],
    block: r[4],
    mismatches: r[5],
    firstMismatch: r[6],
    metaMismatch: r[7] === 1,
    targetBytesRead: r[36],
    targetBytesWritten: r[37],
  };
}

/** After scanPartitions. */
export interface PartitionTableResults {
  scheme: number;
  /** entries listed (at most PART_ENTRIES_MAX) */
  count: number;
  warning: number;
  /** see PartWarning */
  warningCode: number;
  /** four values, see PartWarning */
  warningValues: number[];
  /** entry 0's first slot: entry i's fields at first + ENTRY_SLOTS * i (partitionEntry) */
  first: number;
  /** MBR: the extended partition's number (0: none) */
  extNumber: number;
  /** MBR: the extended partition's first LBA */
  extStart: number;
  /** MBR: the extended partition's sectors */
  extSectors: number;
  /** GPT: the LBA of the header in use (1, or the disk's last LBA when the backup is used) */
  gptHeaderLba: number;
  /** GPT: the header's first usable LBA */
  gptFirstUsable: number;
  /** GPT: the header's last usable LBA */
  gptLastUsable: number;
}
export function readPartitionTable(r: Float64Array): PartitionTableResults {
  return {
    scheme: r[0],
    count: r[1],
    warning: r[2],
    warningCode: r[3],
    warningValues: Array.from(r.subarray(4, 4 + 4)),
    first: r[8],
    extNumber: r[488],
    extStart: r[489],
    extSectors: r[490],
    gptHeaderLba: r[488],
    gptFirstUsable: r[489],
    gptLastUsable: r[490],
  };
}

/** One entry, at partitionTable.first + 8 * i. */
export interface PartitionEntryResults {
  /** 1-based, as the table numbers it (logical partitions from 5) */
  number: number;
  /** MBR type byte (GPT: 0xEE) */
  type: number;
  /** first LBA */
  start: number;
  /** sector count */
  sectors: number;
  /** GPT: the type GUID's 16 bytes, on-disk order, raw in the two slots */
  guid: Uint8Array;
  problem: number;
  problemValue: number;
}
export function readPartitionEntry(r: Float64Array, base: number): PartitionEntryResults {
  return {
    number: r[base + 0],
    type: r[base + 1],
    start: r[base + 2],
    sectors: r[base + 3],
    guid: new Uint8Array(r.buffer, r.byteOffset + (base + 4) * 8, 16).slice(),
    problem: r[base + 6],
    problemValue: r[base + 7],
  };
}

/** After probeVolume (and still there after a scanBegin job). Fields a file system does not have are 0 (exFAT fills the nearest equivalents: reserved = FatOffset, fatCount and fatSectors its FATs, rootCluster, dirtyBoot = VolumeDirty; NTFS fills media only). */
export interface VolumeResults {
  fsType: number;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  /** sectors before the first FAT */
  reserved: number;
  fatCount: number;
  /** sectors of one FAT */
  fatSectors: number;
  /** FAT12/16 root directory entries */
  rootEntries: number;
  totalSectors: number;
  /** the sector of cluster FirstCluster */
  firstData: number;
  clusterCount: number;
  rootCluster: number;
  /** FAT32 FSInfo sector */
  fsInfo: number;
  /** FAT32 backup boot sector */
  backupBoot: number;
  dirtyBoot: boolean;
  media: number;
  rootDirSectors: number;
  /** FAT32 layout with fewer than 65525 clusters */
  smallFat32: boolean;
}
export function readVolume(r: Float64Array): VolumeResults {
  return {
    fsType: r[40],
    bytesPerSector: r[41],
    sectorsPerCluster: r[42],
    clusterBytes: r[43],
    reserved: r[44],
    fatCount: r[45],
    fatSectors: r[46],
    rootEntries: r[47],
    totalSectors: r[48],
    firstData: r[49],
    clusterCount: r[50],
    rootCluster: r[51],
    fsInfo: r[52],
    backupBoot: r[53],
    dirtyBoot: r[54] === 1,
    media: r[55],
    rootDirSectors: r[56],
    smallFat32: r[57] === 1,
  };
}

/** After a scanBegin job or a backup's scan phase. */
export interface ScanResults {
  /** clusters the image stores */
  allocated: number;
  /** clusters marked bad */
  bad: number;
  /** FAT entries in which the copies differ */
  mismatched: number;
  /** FAT entries pointing outside the volume */
  invalid: number;
  /** FAT[1]'s clean-shutdown bit is clear */
  dirty: boolean;
  /** FAT[1] records an I/O error */
  ioError: boolean;
  /** FSInfo's free count (-1: none) */
  fsInfoFree: number;
  dirtyBoot: boolean;
  /** bytes the image will have */
  imageLength: number;
  smallFat32: boolean;
  /** clusters of the ghost extent left out */
  ghostLeftOut: number;
  /** the exFAT boot region checksum does not match */
  exfatChecksumBad: boolean;
  exfatUpcase: number;
}
export function readScan(r: Float64Array): ScanResults {
  return {
    allocated: r[60],
    bad: r[61],
    mismatched: r[62],
    invalid: r[63],
    dirty: r[64] === 1,
    ioError: r[65] === 1,
    fsInfoFree: r[66],
    dirtyBoot: r[67] === 1,
    imageLength: r[68],
    smallFat32: r[69] === 1,
    ghostLeftOut: r[98],
    exfatChecksumBad: r[102] === 1,
    exfatUpcase: r[103],
  };
}

/** A backup with RECORD_UNREADABLE, or a restore/verify of an image that records unreadable clusters. */
export interface UnreadableResults {
  /** clusters recorded unreadable */
  count: number;
  /** the first of them, or -1 */
  first: number;
  /** the first UNREADABLE_LISTED of them, ascending */
  list: number[];
}
export function readUnreadable(r: Float64Array): UnreadableResults {
  return {
    count: r[70],
    first: r[71],
    list: Array.from(r.subarray(72, 72 + 24)),
  };
}

/** The image header, after a restore or verify has checked it (from phase CHECK_BITMAP on). */
export interface ImageResults {
  partClusters: number;
  imageClusters: number;
  bitmapBits: number;
  clusterBytes: number;
  sectorBytes: number;
  /** MBR type byte */
  partType: number;
  fsType: number;
  partStart: number;
  partSectors: number;
  /** seconds since 1970 */
  created: number;
  /** image bytes */
  length: number;
  blocks: number;
  /** header flags: bit 0 source dirty, bit 1 records unreadable clusters */
  flags: number;
  dataStart: number;
  metaSectors: number;
  /** the header's name, 64 raw bytes */
  name: Uint8Array;
  /** the partition type GUID, 16 raw bytes */
  guid: Uint8Array;
  ghostStart: number;
  ghostSectors: number;
  versionMinor: number;
}
export function readImage(r: Float64Array): ImageResults {
  return {
    partClusters: r[10],
    imageClusters: r[11],
    bitmapBits: r[12],
    clusterBytes: r[13],
    sectorBytes: r[14],
    partType: r[15],
    fsType: r[16],
    partStart: r[17],
    partSectors: r[18],
    created: r[19],
    length: r[20],
    blocks: r[21],
    flags: r[22],
    dataStart: r[23],
    metaSectors: r[24],
    name: new Uint8Array(r.buffer, r.byteOffset + (25) * 8, 64).slice(),
    guid: new Uint8Array(r.buffer, r.byteOffset + (33) * 8, 16).slice(),
    ghostStart: r[96],
    ghostSectors: r[97],
    versionMinor: r[99],
  };
}

/** After checkOf. */
export interface CheckResults {
  /** CBH-64, raw little-endian u64 bits (not an f64) */
  digest: bigint;
}
export function readCheck(r: Float64Array): CheckResults {
  return {
    digest: new DataView(r.buffer, r.byteOffset + (100) * 8, 8).getBigUint64(0, true),
  };
}

/** After fatCheck: counts over its window of entries. */
export interface FatCheckResults {
  /** entries that differ between copy 0 and another copy (FAT32: the low 28 bits), counted once per other copy */
  differing: number;
  /** the first of them (an entry number), or -1 */
  firstDiffering: number;
  /** clusters (entries 2 and up) free in copy 0 */
  free: number;
  /** clusters neither free nor marked bad in copy 0 */
  allocated: number;
  /** allocated clusters whose claimed bit is clear */
  lost: number;
  /** the first of them (a cluster number), or -1 */
  firstLost: number;
  /** clusters marked bad in copy 0 */
  bad: number;
}
export function readFatCheck(r: Float64Array): FatCheckResults {
  return {
    differing: r[110],
    firstDiffering: r[111],
    free: r[112],
    allocated: r[113],
    lost: r[114],
    firstLost: r[115],
    bad: r[116],
  };
}

/** After scanMagic found one (result 1). */
export interface MagicScanResults {
  /** the byte offset of the match from the device's start (a multiple of 512) */
  at: number;
}
export function readMagicScan(r: Float64Array): MagicScanResults {
  return {
    at: r[120],
  };
}

/** After treeWalk. */
export interface TreeWalkResults {
  /** clusters the directory tree reaches that the allocation bitmap marks free (kept: put in the image) */
  keptClusters: number;
  /** runs of them (KEEP patches added, but for patchesFull) */
  keptRuns: number;
  /** directories walked, the root included */
  directories: number;
  /** files and other allocations walked (the bitmap and up-case table included) */
  files: number;
  /** chains or extents that left the cluster heap, ended early, ran into a bad mark or (FAT) looped (walked as far as they go) */
  badChains: number;
  /** FAT, exFAT: directories not walked (deeper than WALK_DEPTH_MAX, their own ancestor, or more directory clusters read than the volume holds: a loop); NTFS: MFT records in use that could not be read (bad update sequence, attributes past the record) */
  tooDeep: number;
  /** 1: kept runs did not all fit in the patch area (those past PATCH_MAX are counted, not kept) */
  patchesFull: number;
  /** 1: the allocation bitmap could not be read cluster by cluster (exFAT: not contiguous): nothing was checked against it */
  bitmapUnchecked: number;
  /** kept runs listed below (at most WALK_LISTED) */
  listed: number;
  /** the first WALK_LISTED kept runs: first cluster, clusters, WalkKind, and the MFT record (NTFS; -1 on exFAT), for each */
  list: number[];
  /** exFAT, NTFS: clusters reached a second time (by another file, directory or structure, or twice by one): cross-linked; a backup stores them once, as the allocation has them */
  crossLinked: number;
  /** runs of them */
  crossRuns: number;
  /** clusters past the WALK_CROSS_WINDOWS_MAX windows checked for cross-links (0: the whole volume was checked) */
  crossUnchecked: number;
  /** cross-linked runs listed below (at most WALK_LISTED) */
  crossListed: number;
  /** the first WALK_LISTED cross-linked runs: first cluster, clusters, the WalkKind of the second file or structure to reach them, and its MFT record (NTFS; -1 on exFAT), for each */
  crossList: number[];
}
export function readTreeWalk(r: Float64Array): TreeWalkResults {
  return {
    keptClusters: r[130],
    keptRuns: r[131],
    directories: r[132],
    files: r[133],
    badChains: r[134],
    tooDeep: r[135],
    patchesFull: r[136],
    bitmapUnchecked: r[137],
    listed: r[138],
    list: Array.from(r.subarray(140, 140 + 24)),
    crossLinked: r[164],
    crossRuns: r[165],
    crossUnchecked: r[166],
    crossListed: r[167],
    crossList: Array.from(r.subarray(168, 168 + 24)),
  };
}

/** Error codes (failureCode()). */
export const CoreCode = {
  E_DEVICE: 1,
  E_MBR_SIGNATURE: 2,
  E_PART_RANGE: 3,
  E_EBR_CHAIN: 4,
  E_GPT_HEADER: 5,
  E_GPT_CRC: 6,
  E_BS_SIGNATURE: 7,
  E_BS_JUMP: 8,
  E_BPB_BYTSPERSEC: 9,
  E_BPB_SECPERCLUS: 10,
  E_BPB_RSVDSECCNT: 11,
  E_BPB_NUMFATS: 12,
  E_BPB_ROOTENTCNT: 13,
  E_BPB_TOTSEC: 14,
  E_BPB_FATSZ: 15,
  E_BPB_MEDIA: 16,
  E_NO_DATA_AREA: 17,
  E_FAT_TYPE_LAYOUT: 18,
  E_BPB_ROOTCLUS: 19,
  E_BPB_FSVER: 20,
  E_SECTOR_SIZE: 21,
  E_IMG_MAGIC: 22,
  E_IMG_VERSION: 23,
  E_IMG_HEADER_CHECK: 24,
  E_IMG_HEADER_FIELD: 25,
  E_IMG_BITMAP_CHECK: 26,
  E_IMG_BITMAP_COUNT: 27,
  E_IMG_META_CHECK: 28,
  E_IMG_COMMIT: 29,
  E_IMG_BLOCK_TABLE: 30,
  E_IMG_CLUSTER_CHECK: 31,
  E_IMG_CHAIN: 32,
  E_TARGET_SMALL: 33,
  E_TARGET_SECTOR: 34,
  E_IMG_TRUNCATED: 35,
  E_STATE: 36,
  E_BPB_FSINFO: 37,
  E_CLUSTER_SIZE: 38,
  E_NOT_FAT: 39,
  E_IMG_GHOST_OVERLAP: 40,
  E_GHOST_EXTENT: 41,
  E_EXFAT_FIELD: 42,
  E_EXFAT_BITMAP: 43,
  E_NTFS_FIELD: 44,
  E_NTFS_MFT: 45,
  E_IMG_META_CHANGED: 46,
  E_IMG_META_SIZE: 47,
  E_FAT_CHECK_RANGE: 48,
  E_LAYER: 49,
  E_SCAN_RANGE: 50,
} as const;
export type CoreCodeName = keyof typeof CoreCode;
export interface CoreCodeInfo { name: CoreCodeName; kind: string; values: readonly string[]; enums: readonly (string | null)[]; message: string }
/** Each code's kind, the names of its values (and the enum that names a value's meaning), its message template. */
export const coreCodes: Readonly<Record<number, CoreCodeInfo>> = {
  1: { name: "E_DEVICE", kind: "device", values: ["code","dev","lba","count"], enums: [null,null,null,null], message: "device {dev} failed ({code}) at LBA {lba}, {count} sectors" },
  2: { name: "E_MBR_SIGNATURE", kind: "volume", values: ["found"], enums: [null], message: "no partition table: sector 0 ends in {found}, not 0xAA55" },
  3: { name: "E_PART_RANGE", kind: "volume", values: ["number","start","sectors","containerSectors"], enums: [null,null,null,null], message: "partition {number} (start {start}, {sectors} sectors) reaches past the end of its container ({containerSectors} sectors). Not raised by this core: an entry past the disk or its extended partition is listed with PartProblem PAST_DISK or PAST_EXTENDED instead; the code stays reserved" },
  4: { name: "E_EBR_CHAIN", kind: "volume", values: ["lba","extendedStart","extendedSectors"], enums: [null,null,null], message: "extended partition chain is broken at LBA {lba} (extended partition at {extendedStart}, {extendedSectors} sectors). Not a failure of scanPartitions: it is the code of the PartWarning EBR_CHAIN, with these values" },
  5: { name: "E_GPT_HEADER", kind: "volume", values: ["field","value","lba"], enums: ["GptHeaderField",null,null], message: "GPT header at LBA {lba} invalid: {field} is {value}" },
  6: { name: "E_GPT_CRC", kind: "volume", values: ["what","stored","computed","headerLba"], enums: ["GptCrcWhat",null,null,null], message: "GPT {what} CRC32 is {stored}, computed {computed}" },
  7: { name: "E_BS_SIGNATURE", kind: "volume", values: ["found"], enums: [null], message: "boot sector signature is {found}, not 0xAA55" },
  8: { name: "E_BS_JUMP", kind: "volume", values: ["byte0"], enums: [null], message: "boot sector does not start with a jump instruction ({byte0})" },
  9: { name: "E_BPB_BYTSPERSEC", kind: "volume", values: ["value"], enums: [null], message: "BPB_BytsPerSec is {value}, not 512, 1024, 2048 or 4096" },
  10: { name: "E_BPB_SECPERCLUS", kind: "volume", values: ["value"], enums: [null], message: "BPB_SecPerClus is {value}, not a power of two from 1 to 128" },
  11: { name: "E_BPB_RSVDSECCNT", kind: "volume", values: ["value"], enums: [null], message: "BPB_RsvdSecCnt is {value}, must be at least 1" },
  12: { name: "E_BPB_NUMFATS", kind: "volume", values: ["value"], enums: [null], message: "BPB_NumFATs is {value}, must be at least 1" },
  13: { name: "E_BPB_ROOTENTCNT", kind: "volume", values: ["value","fsType"], enums: [null,"FsType"], message: "BPB_RootEntCnt is {value}: wrong for {fsType} (NONE: it does not fill whole sectors)" },
  14: { name: "E_BPB_TOTSEC", kind: "volume", values: ["totalSectors","partSectors"], enums: [null,null], message: "total sectors {totalSectors} is zero or larger than the partition ({partSectors} sectors)" },
  15: { name: "E_BPB_FATSZ", kind: "volume", values: ["fatSectors","needed"], enums: [null,null], message: "FAT size {fatSectors} sectors is too small: {needed} needed for the cluster count" },
  16: { name: "E_BPB_MEDIA", kind: "volume", values: ["value"], enums: [null], message: "BPB_Media is {value}, not 0xF0 or 0xF8..0xFF" },
  17: { name: "E_NO_DATA_AREA", kind: "volume", values: ["systemSectors","totalSectors"], enums: [null,null], message: "system area ({systemSectors} sectors) leaves no data area in {totalSectors} sectors" },
  18: { name: "E_FAT_TYPE_LAYOUT", kind: "volume", values: ["clusters","fatSz16"], enums: [null,null], message: "BPB layout (BPB_FATSz16 = {fatSz16}) contradicts the FAT type of {clusters} clusters" },
  19: { name: "E_BPB_ROOTCLUS", kind: "volume", values: ["value","maxCluster"], enums: [null,null], message: "BPB_RootClus is {value}, outside clusters 2..{maxCluster}" },
  20: { name: "E_BPB_FSVER", kind: "volume", values: ["value"], enums: [null], message: "BPB_FSVer is {value}, not 0.0" },
  21: { name: "E_SECTOR_SIZE", kind: "volume", values: ["device","bootRecord"], enums: [null,null], message: "device sector size {device} differs from the boot record's {bootRecord} bytes per sector" },
  22: { name: "E_IMG_MAGIC", kind: "image", values: ["first4","next4"], enums: [null,null], message: "not a clusterback image (starts with {first4} {next4})" },
  23: { name: "E_IMG_VERSION", kind: "image", values: ["major","minor"], enums: [null,null], message: "image format version {major}.{minor} is not supported (this build reads 1.x)" },
  24: { name: "E_IMG_HEADER_CHECK", kind: "image", values: ["storedHi","storedLo","computedHi","computedLo"], enums: [null,null,null,null], message: "image header check is {storedHi}{storedLo}, computed {computedHi}{computedLo}: the header is damaged" },
  25: { name: "E_IMG_HEADER_FIELD", kind: "image", values: ["field","value","expected"], enums: ["HeaderField",null,null], message: "image header field {field} is {value}, expected {expected}" },
  26: { name: "E_IMG_BITMAP_CHECK", kind: "image", values: ["storedHi","storedLo","computedHi","computedLo"], enums: [null,null,null,null], message: "image bitmap check is {storedHi}{storedLo}, computed {computedHi}{computedLo}: the bitmap is damaged" },
  27: { name: "E_IMG_BITMAP_COUNT", kind: "image", values: ["found","header"], enums: ["BitmapCountWhat",null], message: "image bitmap marks {found} clusters, header says {header} (found < 0: BitmapCountWhat, header: the bit)" },
  28: { name: "E_IMG_META_CHECK", kind: "image", values: ["storedHi","storedLo","computedHi","computedLo"], enums: [null,null,null,null], message: "image metadata check is {storedHi}{storedLo}, computed {computedHi}{computedLo}: the metadata is damaged" },
  29: { name: "E_IMG_COMMIT", kind: "image", values: ["what","value"], enums: ["CommitWhat",null], message: "image commit record {what} ({value})" },
  30: { name: "E_IMG_BLOCK_TABLE", kind: "image", values: ["block","what","value"], enums: [null,"TableWhat",null], message: "image block {block}: table {what} is wrong ({value})" },
  31: { name: "E_IMG_CLUSTER_CHECK", kind: "image", values: ["block","cluster","stored","computed"], enums: [null,null,null,null], message: "image block {block}: cluster {cluster} check is {stored}, computed {computed}: the data is damaged" },
  32: { name: "E_IMG_CHAIN", kind: "image", values: ["commit","computed"], enums: [null,null], message: "image block chain check {computed} differs from the commit record's {commit}" },
  33: { name: "E_TARGET_SMALL", kind: "target", values: ["targetSectors","needed"], enums: [null,null], message: "target has {targetSectors} sectors, the image needs {needed}" },
  34: { name: "E_TARGET_SECTOR", kind: "target", values: ["target","image"], enums: [null,null], message: "target sector size {target} differs from the image's {image}" },
  35: { name: "E_IMG_TRUNCATED", kind: "image", values: ["imageBytes","needed"], enums: [null,null], message: "image is {imageBytes} bytes, its header needs {needed}: it is truncated" },
  36: { name: "E_STATE", kind: "state", values: ["state"], enums: [null], message: "engine called in the wrong state ({state}): step without a job, or a job's step after it ended" },
  37: { name: "E_BPB_FSINFO", kind: "volume", values: ["field","value"], enums: ["FsInfoField",null], message: "{field} is {value}, outside the reserved area" },
  38: { name: "E_CLUSTER_SIZE", kind: "volume", values: ["bytes","max"], enums: [null,null], message: "cluster size {bytes} bytes is larger than {max}" },
  39: { name: "E_NOT_FAT", kind: "volume", values: ["signature","byte0"], enums: [null,null], message: "no FAT, exFAT or NTFS boot record (signature {signature}, first byte {byte0})" },
  40: { name: "E_IMG_GHOST_OVERLAP", kind: "image", values: ["block","cluster","ghostFirst","ghostClusters"], enums: [null,null,null,null], message: "image block {block} stores cluster {cluster}, inside the image's own extent (from cluster {ghostFirst}, {ghostClusters} clusters): the image is crafted or damaged" },
  41: { name: "E_GHOST_EXTENT", kind: "state", values: ["start","sectors","dataStart","sectorsPerCluster"], enums: [null,null,null,null], message: "ghost extent at sector {start}, {sectors} sectors, is not whole clusters of the data area (which starts at sector {dataStart}, {sectorsPerCluster} sectors per cluster)" },
  42: { name: "E_EXFAT_FIELD", kind: "volume", values: ["field","value","expected"], enums: ["ExfatField",null,null], message: "exFAT boot sector: {field} is {value}, expected {expected}" },
  43: { name: "E_EXFAT_BITMAP", kind: "volume", values: ["what","value","limit"], enums: ["ExfatBitmapWhat",null,null], message: "exFAT allocation bitmap: {what} ({value}, {limit})" },
  44: { name: "E_NTFS_FIELD", kind: "volume", values: ["field","value","expected"], enums: ["NtfsField",null,null], message: "NTFS boot sector: {field} is {value}, expected {expected}" },
  45: { name: "E_NTFS_MFT", kind: "volume", values: ["what","record","value"], enums: ["NtfsMftWhat",null,null], message: "NTFS MFT record {record}: {what} ({value})" },
  46: { name: "E_IMG_META_CHANGED", kind: "image", values: ["chunk","sectionByte","stored","computed"], enums: [null,null,null,null], message: "image metadata chunk {chunk} (section bytes {sectionByte}..) changed after the check pass (check {stored}, now {computed}): nothing of that chunk was written, the target keeps its restore mark" },
  47: { name: "E_IMG_META_SIZE", kind: "image", values: ["bytes","limit"], enums: [null,null], message: "image metadata section is {bytes} bytes: a two-pass restore checks at most {limit} again chunk by chunk" },
  48: { name: "E_FAT_CHECK_RANGE", kind: "state", values: ["first","count","entries","fsType"], enums: [null,null,null,"FsType"], message: "fatCheck of entries {first}.. ({count}) is outside the {entries} entries of the FAT, over FAT_CHECK_MAX, or the volume is not FAT ({fsType})" },
  49: { name: "E_LAYER", kind: "state", values: ["what","handle","kind","value"], enums: ["LayerWhat",null,null,null], message: "layer {handle} (kind {kind}): {what} ({value})" },
  50: { name: "E_SCAN_RANGE", kind: "state", values: ["stopByte","endByte","sectorBytes","deviceBytes"], enums: [null,null,null,null], message: "scanMagic of bytes {stopByte}..{endByte} with {sectorBytes}-byte sectors: the bounds are not multiples of 512 in order, or the sector size is not 512..4096 and a power of two" },
};

/** The core's exports, with their parameters as core-abi.json declares them. */
export interface CoreExports {
  /** Allocates the core's buffers. Call once, right after instantiation, before anything else (a second call does nothing). */
  init(): void;
  /** The result slots (buffer result). */
  resultPtr(): number;
  /** The params area (buffer params). */
  paramsPtr(): number;
  /** Block buffer io. */
  ioPtr(): number;
  /** Block buffer io2. */
  io2Ptr(): number;
  /** The source-patch area. */
  patchesPtr(): number;
  /** The claimed buffer (fatCheck). */
  claimedPtr(): number;
  /** After a negative result: the error code (errors), equal to minus that result. */
  failureCode(): number;
  /** After a negative result: the error's value i (0..3), named in errors. */
  failureValue(i: number): number;
  /** Every later read from handle dev sees the first count patches at patchesPtr(), until setPatches(dev, sectorBytes, 0) or the next restoreBegin/verifyBegin. 0, or -1 when count > PATCH_MAX. */
  setPatches(dev: number, sectorBytes: number, count: number): number;
  /** Reads the MBR or GPT of a whole disk. 0, or a negative error code (E_MBR_SIGNATURE: no table; E_GPT_*: neither GPT usable). Synchronous. */
  scanPartitions(dev: number, sectorBytes: number, diskSectors: number): number;
  /** Reads and validates the boot record of the FAT12/16/32, exFAT or NTFS volume on dev. 0 or a negative error code. Synchronous. */
  probeVolume(dev: number, sectorBytes: number, partSectors: number): number;
  /** Starts a scan: what a backup of dev would store, without writing. Then step until 1. */
  scanBegin(dev: number, sectorBytes: number, partSectors: number): number;
  /** backupBeginFlags with flags 0. */
  backupBegin(src: number, sectorBytes: number, partSectors: number, img: number, partType: number, partStart: number, created: number): number;
  /** Starts a backup of the volume on src (sectorBytes, partSectors) into the image device img (512-byte sectors, written from offset 0 front to back but for the header, written last but one, and the commit record). partType: MBR type byte; partStart: the partition's first LBA on its disk; created: seconds since 1970. Fill params first. flags: BackupFlag. Then step until 1. */
  backupBeginFlags(src: number, sectorBytes: number, partSectors: number, img: number, partType: number, partStart: number, created: number, flags: number): number;
  /** Starts a restore of the image on img (imageSectors 512-byte sectors) onto target. flags: RestoreFlag. The image is checked whole (header, bitmap, metadata, commit record, every block) before the first target write, unless ONE_PASS. Then step until 1. Clears the patches. */
  restoreBegin(img: number, imageSectors: number, target: number, targetSectorBytes: number, targetSectors: number, flags: number): number;
  /** Starts a verify of the image; with a target (not NO_DEVICE), also compares the partition with it (mismatches in progress). Call it with target NO_DEVICE first to learn the image's sector size (image.sectorBytes) before opening the target. Then step until 1. */
  verifyBegin(img: number, imageSectors: number, target: number, targetSectorBytes: number, targetSectors: number): number;
  /** Runs the current job for about budget bytes of I/O: 1 = done, 0 = call again, < 0 = failed (failureCode, failureValue). Writes the progress results every time. E_STATE without a job. */
  step(budget: number): number;
  /** Probes the FAT volume on dev, then compares entries first..first + count - 1 (count at most FAT_CHECK_MAX) of every FAT copy with copy 0 and counts copy 0's free, allocated, bad and lost clusters among them, lost meaning allocated with its bit clear in the claimed buffer (which the host fills first). 0 or a negative error code (E_FAT_CHECK_RANGE, E_DEVICE, a boot record's). Synchronous; like probeVolume it resets the probed volume and uses the FAT buffers a job uses: call it between jobs, not between a job's steps. */
  fatCheck(dev: number, sectorBytes: number, partSectors: number, first: number, count: number): number;
  /** CBH-64 of byteCount bytes (a multiple of 64, at most CHECK_INPUT_MAX) at ptr with seed, into check.digest. For tests and tools. */
  checkOf(ptr: number, byteCount: number, seed: number): void;
  /** Opens a layer of kind LayerKind over parent (a host device handle or an open layer) and returns its handle (LAYER_FIRST and up), or -E_LAYER. Any export that takes a device handle takes a layer's; the core resolves it down to the host device and calls dev.* only with host handles. A failure inside a layer is a device failure like the host's: RANGE, GUARD, or the host's own code. */
  layerOpen(kind: number, parent: number, a: number, b: number, c: number, d: number): number;
  /** Closes a layer (its handle may be given out again). 0, or -E_LAYER when it is not open or a layer is still open over it. Closing never touches the host device. */
  layerClose(handle: number): number;
  /** A figure of an open layer (LayerStat), or -1 when the handle names no open layer or the stat is unknown. */
  layerStat(handle: number, stat: number): number;
  /** Copies count sectors of sectorBytes bytes (512..4096, a power of two) from device src at srcLba to device dst at dstLba, through block buffer io, in runs of at most IO_BYTES, front to back (do not overlap them on one device). Either may be a layer. 0, or -E_DEVICE (the first failing call; sectors before it are copied) or -E_LAYER (what SIZE: a bad sector size or count). A way to move sectors between devices without their bytes leaving the core; tests use it to check layers against the host's own devices. Synchronous, between jobs (it uses io). */
  sectorCopy(src: number, srcLba: number, dst: number, dstLba: number, count: number, sectorBytes: number): number;
  /** Searches bytes stopByte..endByte - 1 of dev (sectorBytes-byte sectors; both bounds multiples of 512) backwards from the end, at every 512-byte boundary, for the 8 bytes at paramsPtr() or those at paramsPtr() + 8 (zeros there: only the first), reading up to IO_BYTES at a time into io. 1: found, its offset in magicAt (the last match before endByte); 0: none; or -E_SCAN_RANGE, -E_DEVICE. The ghost image's search (docs/image-format.md 12.3): the partition's bytes stay in the core, the host reads only the matching sector. Synchronous, between jobs (it uses io and the params area); the host bounds each call's span (the firmware scans 64 MiB per call). */
  scanMagic(dev: number, sectorBytes: number, stopByte: number, endByte: number): number;
  /** Walks the volume on dev against its allocation (issue 18). FAT12/16/32: the directory tree on a stack of WALK_DEPTH_MAX directories, every file's chain as far as its size needs and every directory's to its end (at most 65,536 entries), through a cache of FAT windows in aux; a chain that runs into a free entry (a first cluster marked free, or a cluster its predecessor points to whose own entry is 0) has that cluster kept, and ends there. exFAT: the directory tree, every directory, file and allocation entry (bitmap, up-case table, vendor allocations), their FAT chains and NoFatChain extents, on a stack of WALK_DEPTH_MAX directories. NTFS: every MFT record in use (base and extension records, so attribute lists need no following), every non-resident attribute's runs. Each run of clusters reached that the allocation bitmap ($Bitmap) marks free is added as a KEEP patch at patch index firstPatch and after (the host's own patches come first), so that a backup's scan puts it in the image (NTFS: not the boot file's head clusters, which the image keeps as metadata). exFAT and NTFS: every cluster reached is claimed in a window of 1 Mi clusters held in the bitmap buffer (zeroed again before it returns), the tree walked once per window up to WALK_CROSS_WINDOWS_MAX; a cluster claimed twice is cross-linked (walk cross* results; FAT's cross-links are the host's damage walk's). Returns the patch count to give setPatches, or a negative code (the volume's errors, E_DEVICE). Synchronous, between jobs (it uses io, io2, aux and bitmap). */
  treeWalk(dev: number, sectorBytes: number, partSectors: number, firstPatch: number): number;
}

/** The import and export names the module must have. */
export const IMPORTS: readonly (readonly [string, string])[] = [["env","memory"],["env","abort"],["dev","read"],["dev","write"],["dev","flush"]];
export const EXPORTS: readonly string[] = ["init","resultPtr","paramsPtr","ioPtr","io2Ptr","patchesPtr","claimedPtr","failureCode","failureValue","setPatches","scanPartitions","probeVolume","scanBegin","backupBegin","backupBeginFlags","restoreBegin","verifyBegin","step","fatCheck","checkOf","layerOpen","layerClose","layerStat","sectorCopy","scanMagic","treeWalk"];
