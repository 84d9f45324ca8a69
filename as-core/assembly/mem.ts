// The core's whole working memory: fixed buffers allocated once by init(), never grown.
// Bound (docs/image-format.md, "Memory"): the sum below plus the static data, under 4 MiB,
// whatever the size of the volume.
//
// Blocks alternate between io and io2. A host may let a write from one of them complete in
// the background; the core touches a buffer again only through a read import into it (which
// the host makes wait for the writes still using that memory) or after one.

import {
  BLOCK_DATA_MAX,
  CLAIMED_BYTES,
  IO_BYTES,
  PARAMS_BYTES,
  PATCH_AREA_BYTES,
  RESULT_BYTES,
  WALK_DEPTH_MAX,
} from "./abi";

export { BLOCK_DATA_MAX, IO_BYTES, PATCH_BYTES, PATCH_MAX, RESULT_SLOTS, TABLE_MAX } from "./abi";

export const FAT_WINDOW_BYTES: u32 = 256 << 10; // FAT entries read per window, per FAT copy
export const AUX_BYTES: u32 = 2 * FAT_WINDOW_BYTES; // two FAT windows, or a run read back for comparison
export const BITMAP_WINDOW_BYTES: u32 = 128 << 10; // 1 Mi clusters of the allocation bitmap
export const SCRATCH_BYTES: u32 = 8192; // one record sector (up to 4096) and a copy
export const NTFS_BYTES: u32 = 64 << 10; // an MFT record, an attribute list, the $MFT and $Bitmap run lists
export const META_CHUNK_BYTES: u32 = BLOCK_DATA_MAX; // metadata a restore reads, checks and writes at a time (fits in io)
export const META_CHUNKS_MAX: u32 = 4096; // chunk checks a restore keeps: a metadata section of up to 4 GiB
export const META_CHECKS_BYTES: u32 = META_CHUNKS_MAX * 4; // one CBH-32 per chunk
export const BOUNCE_BYTES: u32 = 4096; // the largest sector a SECTORS512 layer views
export const BOOT_SECTOR_BYTES: u32 = 4096; // one-pass restore: the target's sector 0, held until the very end
export const DIFF_ENTRIES: u32 = 4096; // compare-first restore: stretches of differing clusters listed (engine/diff.ts)
export const DIFF_BYTES: u32 = DIFF_ENTRIES * 24;
export const META_DIFFERS_BYTES: u32 = META_CHUNKS_MAX / 8; // compare-first restore: one bit per metadata chunk that differs

export class Buffers {
  io: usize = 0; // IO_BYTES: a block (or a metadata chunk)
  io2: usize = 0; // IO_BYTES: the next block, while the host may still be writing the last one
  aux: usize = 0; // AUX_BYTES: FAT windows (fatA, fatB) or target data compared with a block
  fatA: usize = 0;
  fatB: usize = 0;
  bitmap: usize = 0;
  scratch: usize = 0;
  chain: usize = 0;
  result: usize = 0;
  params: usize = 0; // PARAMS_BYTES the host fills before a backup (PARAM_*)
  ntfs: usize = 0; // NTFS_BYTES (ntfs/volume.ts)
  patches: usize = 0; // PATCH_AREA_BYTES: patches applied to what a backup reads from its source (patch.ts)
  metaChecks: usize = 0; // META_CHECKS_BYTES: restore, the check of each metadata chunk as the check pass read it
  headerName: usize = 0; // 64 bytes: restore/verify, the header's name (the restore mark copies it)
  bootSector: usize = 0; // BOOT_SECTOR_BYTES: one-pass restore, the boot sector, written last of all
  claimed: usize = 0; // CLAIMED_BYTES: fatCheck, the clusters the host's directory walk reached
  bounce: usize = 0; // BOUNCE_BYTES: a partial parent sector of a 512-byte view (layers.ts)
  diffs: usize = 0; // DIFF_BYTES: compare-first restore, the stretches that differ (engine/diff.ts)
  metaDiffers: usize = 0; // META_DIFFERS_BYTES: compare-first restore, the metadata chunks that differ
  diffRecord: usize = 0; // 64 bytes: a block's index and table check, as the write pass's chain takes it
  markSector: usize = 0; // BOOT_SECTOR_BYTES: the restore mark, as written (and compared with what is read back)
  walkStack: usize = 0; // WALK_DEPTH_MAX frames of 40 bytes: treeWalk's directories (exfat/walk.ts)
}

export const buf = new Buffers();

export function initBuffers(): void {
  if (buf.io != 0) return;
  // the buffers the host reads a device into start on a 4096-byte boundary (a host may read them
  // with O_DIRECT, which needs that)
  buf.io = alignedAlloc(IO_BYTES);
  buf.io2 = alignedAlloc(IO_BYTES);
  buf.aux = alignedAlloc(AUX_BYTES);
  buf.fatA = buf.aux;
  buf.fatB = buf.aux + FAT_WINDOW_BYTES;
  buf.bitmap = heap.alloc(BITMAP_WINDOW_BYTES);
  buf.scratch = heap.alloc(SCRATCH_BYTES);
  buf.chain = heap.alloc(64);
  buf.result = heap.alloc(RESULT_BYTES);
  buf.params = heap.alloc(PARAMS_BYTES);
  buf.patches = heap.alloc(PATCH_AREA_BYTES);
  buf.ntfs = heap.alloc(NTFS_BYTES);
  buf.metaChecks = heap.alloc(META_CHECKS_BYTES);
  buf.bootSector = heap.alloc(BOOT_SECTOR_BYTES);
  buf.headerName = heap.alloc(64);
  buf.claimed = heap.alloc(CLAIMED_BYTES);
  buf.bounce = heap.alloc(BOUNCE_BYTES);
  buf.diffs = heap.alloc(DIFF_BYTES);
  buf.metaDiffers = heap.alloc(META_DIFFERS_BYTES);
  buf.diffRecord = heap.alloc(64);
  buf.markSector = heap.alloc(BOOT_SECTOR_BYTES);
  buf.walkStack = heap.alloc(WALK_DEPTH_MAX * 40);
}

function alignedAlloc(bytes: u32): usize {
  return (heap.alloc(bytes + 4095) + 4095) & ~(<usize>4095);
}

// The I/O buffer of block k.
export function blockBuffer(k: f64): usize {
  return (<u64>k & 1) == 0 ? buf.io : buf.io2;
}

export function setResult(slot: u32, v: f64): void {
  store<f64>(buf.result + ((<usize>slot) << 3), v);
}
export function getResult(slot: u32): f64 {
  return load<f64>(buf.result + ((<usize>slot) << 3));
}
export function clearResults(): void {
  memory.fill(buf.result, 0, RESULT_BYTES);
}
