// The exFAT formatter (the simulator's, as fat-format.ts is for FAT): lays out an exFAT volume
// on a partition and writes its main and backup boot regions (boot sector, eight extended boot
// sectors, OEM parameters, the boot checksum sector), the FAT, the allocation bitmap, the
// up-case table and a root directory holding the volume label, bitmap and up-case entries.
// Field names follow Microsoft's exFAT specification (sections 3 and 7); the layout is pure,
// formatExfat writes. Checked by fsck.exfat -n in the tests.
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";
import { EXFAT_ENTRY, EXFAT_EOC } from "./exfat-dir";

// Main boot sector (section 3.1)
export const EB_JumpBoot = 0; // EB 76 90 (3 bytes)
export const EB_FileSystemName = 3; // "EXFAT   " (8 bytes)
export const EB_MustBeZero = 11; // 53 bytes of zeros (where a FAT BPB would be)
export const EB_PartitionOffset = 64; // sectors before the volume on the disk (u64)
export const EB_VolumeLength = 72; // sectors (u64)
export const EB_FatOffset = 80; // first sector of the FAT (u32)
export const EB_FatLength = 84; // sectors per FAT (u32)
export const EB_ClusterHeapOffset = 88; // first sector of cluster 2 (u32)
export const EB_ClusterCount = 92; // clusters in the heap (u32)
export const EB_FirstClusterOfRootDirectory = 96; // u32
export const EB_VolumeSerialNumber = 100; // u32
export const EB_FileSystemRevision = 104; // u16: 0x0100 (1.00)
export const EB_VolumeFlags = 106; // u16: ActiveFat, VolumeDirty, MediaFailure (not in the checksum)
export const EB_BytesPerSectorShift = 108; // u8: 9..12
export const EB_SectorsPerClusterShift = 109; // u8: cluster = 2^shift sectors, at most 32 MiB
export const EB_NumberOfFats = 110; // u8: 1 (2 with TexFAT)
export const EB_DriveSelect = 111; // u8: 0x80
export const EB_PercentInUse = 112; // u8: 0..100, 0xFF unknown (not in the checksum)
export const EB_BootCode = 120; // 390 bytes
export const EB_BootSignature = 510; // 0xAA55 (u16)
/** Extended boot sectors end in this u32 (section 3.2.2). */
export const EXTENDED_BOOT_SIGNATURE = 0xaa550000;
/** The boot region: boot sector, 8 extended boot sectors, OEM parameters, reserved, checksum (section 3). */
export const BOOT_REGION_SECTORS = 12;
export const BOOT_CHECKSUM_SECTOR = 11;

// Root directory entries (section 7)
const ENTRY_BITMAP = 0x81; // allocation bitmap: FirstCluster at 20 (u32), DataLength at 24 (u64)
const ENTRY_UPCASE = 0x82; // up-case table: TableChecksum at 4 (u32), FirstCluster at 20, DataLength at 24
const ENTRY_LABEL = 0x83; // volume label: CharacterCount at 1, VolumeLabel (11 UTF-16 characters) at 2
const DE_FirstCluster = 20;
const DE_DataLength = 24;
const UPCASE_TableChecksum = 4;
const LABEL_CharacterCount = 1;
const LABEL_VolumeLabel = 2;
const LABEL_MAX = 11;
const MEDIA_FAT_ENTRY = 0xfffffff8; // FAT entry 0 (section 4.1)
const CLUSTER_BYTES_MAX = 32 << 20;
const CLUSTER_COUNT_MAX = 0xfffffff5;
/** Where the FAT and the heap start: on 1 MiB boundaries of the partition (as mkfs.exfat aligns them). */
const ALIGN_BYTES = 1 << 20;

export class ExfatFormatError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "ExfatFormatError";
  }
}

export interface ExfatFormatOptions {
  clusterBytes: number;
  label?: string;
  volumeId: number;
  /** Sectors before the partition on its disk (PartitionOffset). */
  hiddenSectors: number;
}

export interface ExfatLayout {
  bytesPerSector: number;
  sectorsPerCluster: number;
  volumeLength: number;
  fatOffset: number;
  fatLength: number;
  clusterHeapOffset: number;
  clusterCount: number;
  bitmapCluster: number;
  bitmapBytes: number;
  upcaseCluster: number;
  upcaseBytes: number;
  rootCluster: number;
  /** Clusters the bitmap, the up-case table and the root directory take. */
  usedClusters: number;
}

/** The 32-bit rotating checksum of the boot region and the up-case table (sections 3.4 and 7.2.2); `skip(i)` leaves byte i out. */
export function exfatChecksum32(bytes: Uint8Array, skip: (i: number) => boolean = () => false, start = 0): number {
  let h = start >>> 0;
  for (let i = 0; i < bytes.length; i++) if (!skip(i)) h = (((h & 1) << 31) | (h >>> 1)) + bytes[i];
  return h >>> 0;
}

/** The boot checksum's bytes left out: VolumeFlags and PercentInUse of the boot sector. */
export function bootChecksumSkips(i: number): boolean {
  return i === EB_VolumeFlags || i === EB_VolumeFlags + 1 || i === EB_PercentInUse;
}

/**
 * The up-case table, compressed (section 7.2.5.1): every UTF-16 code unit mapped to the one
 * String.prototype.toUpperCase gives it (itself when that is not one code unit), runs of
 * identity mappings written as 0xFFFF and their length.
 */
export function upcaseTable(): Uint8Array {
  const out: number[] = [];
  let c = 0;
  while (c <= 0xffff) {
    let run = 0;
    while (c + run <= 0xffff && upcaseOf(c + run) === c + run) run++;
    if (run >= 2 || (run === 1 && c === 0xffff)) {
      out.push(0xffff, run);
      c += run;
    } else if (run === 1) {
      out.push(c);
      c++;
    } else {
      out.push(upcaseOf(c));
      c++;
    }
  }
  const bytes = new Uint8Array(out.length * 2);
  const v = new DataView(bytes.buffer);
  out.forEach((u, i) => v.setUint16(2 * i, u, true));
  return bytes;
}

function upcaseOf(c: number): number {
  if (c >= 0xd800 && c <= 0xdfff) return c;
  const u = String.fromCharCode(c).toUpperCase();
  return u.length === 1 ? u.charCodeAt(0) : c;
}

/** The layout of an exFAT volume of `sectorCount` sectors: FAT and heap on 1 MiB (or cluster) boundaries, then bitmap, up-case table, root. */
export function layoutExfat(
  sectorCount: number,
  bytesPerSector: number,
  clusterBytes: number,
  upcaseBytes: number,
  what = "the partition",
): ExfatLayout {
  if (![512, 1024, 2048, 4096].includes(bytesPerSector))
    throw new ExfatFormatError(`${what}: exFAT takes 512- to 4096-byte sectors, not ${bytesPerSector}`);
  if (
    !Number.isInteger(clusterBytes) ||
    clusterBytes < bytesPerSector ||
    clusterBytes > CLUSTER_BYTES_MAX ||
    (clusterBytes & (clusterBytes - 1)) !== 0
  )
    throw new ExfatFormatError(
      `${what}: an exFAT cluster is a power of two from the sector size (${bytesPerSector}) to 32 MiB, not ${clusterBytes} bytes`,
    );
  const spc = clusterBytes / bytesPerSector;
  const align = Math.max(ALIGN_BYTES / bytesPerSector, spc);
  const up = (n: number) => Math.ceil(n / align) * align;
  const fatOffset = up(2 * BOOT_REGION_SECTORS);
  const estimate = Math.floor(Math.max(0, sectorCount - fatOffset) / spc);
  const fatLength = Math.ceil(((estimate + 2) * 4) / bytesPerSector);
  const clusterHeapOffset = up(fatOffset + fatLength);
  const clusterCount = Math.min(CLUSTER_COUNT_MAX, Math.floor(Math.max(0, sectorCount - clusterHeapOffset) / spc));
  const bitmapBytes = Math.ceil(clusterCount / 8);
  const bitmapClusters = Math.ceil(bitmapBytes / clusterBytes),
    upcaseClusters = Math.ceil(upcaseBytes / clusterBytes);
  const usedClusters = bitmapClusters + upcaseClusters + 1;
  if (clusterCount < usedClusters + 1)
    throw new ExfatFormatError(
      `${what}: ${sectorCount} sectors of ${bytesPerSector} bytes leave ${clusterCount} clusters of ${clusterBytes} bytes after the FAT; the bitmap, up-case table and root directory alone take ${usedClusters}`,
    );
  return {
    bytesPerSector,
    sectorsPerCluster: spc,
    volumeLength: sectorCount,
    fatOffset,
    fatLength,
    clusterHeapOffset,
    clusterCount,
    bitmapCluster: 2,
    bitmapBytes,
    upcaseCluster: 2 + bitmapClusters,
    upcaseBytes,
    rootCluster: 2 + bitmapClusters + upcaseClusters,
    usedClusters,
  };
}

/** Formats `part` as exFAT (one FAT, no TexFAT). Everything the volume's structures cover is written; the heap's free clusters are left as they are. */
export function formatExfat(part: BlockDevice, options: ExfatFormatOptions): ExfatLayout {
  const ss = part.sectorSize;
  const upcase = upcaseTable();
  const l = layoutExfat(part.sectorCount, ss, options.clusterBytes, upcase.length, part.name);
  const label = options.label ?? "";
  if (label.length > LABEL_MAX)
    throw new ExfatFormatError(
      `${part.name}: the volume label "${label}" has ${label.length} characters; exFAT holds at most ${LABEL_MAX}`,
    );
  const cb = options.clusterBytes;

  // the boot region, twice
  const region = new Uint8Array(BOOT_REGION_SECTORS * ss);
  const v = new DataView(region.buffer);
  region.set([0xeb, 0x76, 0x90], EB_JumpBoot);
  for (let i = 0; i < 8; i++) region[EB_FileSystemName + i] = "EXFAT   ".charCodeAt(i);
  v.setBigUint64(EB_PartitionOffset, BigInt(options.hiddenSectors), true);
  v.setBigUint64(EB_VolumeLength, BigInt(l.volumeLength), true);
  v.setUint32(EB_FatOffset, l.fatOffset, true);
  v.setUint32(EB_FatLength, l.fatLength, true);
  v.setUint32(EB_ClusterHeapOffset, l.clusterHeapOffset, true);
  v.setUint32(EB_ClusterCount, l.clusterCount, true);
  v.setUint32(EB_FirstClusterOfRootDirectory, l.rootCluster, true);
  v.setUint32(EB_VolumeSerialNumber, options.volumeId >>> 0, true);
  v.setUint16(EB_FileSystemRevision, 0x0100, true);
  region[EB_BytesPerSectorShift] = Math.log2(ss);
  region[EB_SectorsPerClusterShift] = Math.log2(l.sectorsPerCluster);
  region[EB_NumberOfFats] = 1;
  region[EB_DriveSelect] = 0x80;
  region[EB_PercentInUse] = Math.floor((l.usedClusters * 100) / l.clusterCount);
  region.fill(0xf4, EB_BootCode, EB_BootSignature); // hlt: the volume is not bootable
  v.setUint16(EB_BootSignature, 0xaa55, true);
  for (let s = 1; s <= 8; s++) v.setUint32((s + 1) * ss - 4, EXTENDED_BOOT_SIGNATURE, true);
  const sum = exfatChecksum32(region.subarray(0, BOOT_CHECKSUM_SECTOR * ss), bootChecksumSkips);
  for (let at = BOOT_CHECKSUM_SECTOR * ss; at < BOOT_REGION_SECTORS * ss; at += 4) v.setUint32(at, sum, true);

  // the FAT: media entry, end of chain, and the chains of the bitmap, the up-case table and the root
  const fat = new Uint8Array(l.fatLength * ss);
  const fv = new DataView(fat.buffer);
  fv.setUint32(0, MEDIA_FAT_ENTRY, true);
  fv.setUint32(4, EXFAT_EOC, true);
  const chain = (first: number, clusters: number) => {
    for (let c = first; c < first + clusters; c++)
      fv.setUint32(4 * c, c + 1 < first + clusters ? c + 1 : EXFAT_EOC, true);
  };
  chain(l.bitmapCluster, l.upcaseCluster - l.bitmapCluster);
  chain(l.upcaseCluster, l.rootCluster - l.upcaseCluster);
  chain(l.rootCluster, 1);

  // the heap's first clusters: bitmap, up-case table, root directory
  const heap = new Uint8Array((l.rootCluster + 1 - 2) * cb);
  for (let c = 0; c < l.usedClusters; c++) heap[c >> 3] |= 1 << (c & 7);
  heap.set(upcase, (l.upcaseCluster - 2) * cb);
  const root = (l.rootCluster - 2) * cb;
  const rv = new DataView(heap.buffer);
  heap[root] = ENTRY_LABEL;
  heap[root + LABEL_CharacterCount] = label.length;
  for (let i = 0; i < label.length; i++) rv.setUint16(root + LABEL_VolumeLabel + 2 * i, label.charCodeAt(i), true);
  heap[root + EXFAT_ENTRY] = ENTRY_BITMAP;
  rv.setUint32(root + EXFAT_ENTRY + DE_FirstCluster, l.bitmapCluster, true);
  rv.setBigUint64(root + EXFAT_ENTRY + DE_DataLength, BigInt(l.bitmapBytes), true);
  heap[root + 2 * EXFAT_ENTRY] = ENTRY_UPCASE;
  rv.setUint32(root + 2 * EXFAT_ENTRY + UPCASE_TableChecksum, exfatChecksum32(upcase), true);
  rv.setUint32(root + 2 * EXFAT_ENTRY + DE_FirstCluster, l.upcaseCluster, true);
  rv.setBigUint64(root + 2 * EXFAT_ENTRY + DE_DataLength, BigInt(upcase.length), true);

  // written structure by structure, the boot regions last (a cut-off format is not a volume)
  writeChunked(part, l.fatOffset, fat);
  writeChunked(part, l.clusterHeapOffset, heap);
  part.write(BOOT_REGION_SECTORS, BOOT_REGION_SECTORS, region, 0);
  part.write(0, BOOT_REGION_SECTORS, region, 0);
  part.flush();
  return l;
}

function writeChunked(part: BlockDevice, lba: number, bytes: Uint8Array): void {
  const ss = part.sectorSize,
    chunk = Math.max(1, Math.floor((4 << 20) / ss));
  for (let s = 0; s < bytes.length / ss; s += chunk) {
    const n = Math.min(chunk, bytes.length / ss - s);
    part.write(lba + s, n, bytes, s * ss);
  }
}
