// One small interface per file system (CONVENTIONS.md 12): probe (boot record -> parameters), the
// metadata extents (what a backup stores as metadata and a restore writes back), and the bitmap
// scan (the allocation bitmap, one window at a time). FAT (fat/fs.ts), exFAT (exfat/fs.ts) and
// NTFS (ntfs/fs.ts) each implement it; fs/probe.ts is the one place that picks among them. Each
// keeps its own fields in its own record; what they all have is the common Volume (fs/volume.ts).

import { ScanState } from "./scan";
import { Volume } from "./volume";

// The metadata section's extents in the partition (docs/image-format.md section 4): the head,
// sectors [0, headSectors), which holds the boot sector, and a tail, [tailStart, tailStart +
// tailSectors), 0 sectors when there is none.
export class MetaExtents {
  headSectors: u32 = 0;
  tailStart: f64 = 0;
  tailSectors: f64 = 0;
}

export abstract class FileSystem {
  // --- probe
  // Whether the boot sector at bs carries this file system's signature (nothing checked yet).
  abstract recognizes(bs: usize): bool;
  // Validates the boot sector at bs, one rule per line, into the common record v and the file
  // system's own. partSectors: the partition's extent. 0, or a negative code (fail()).
  abstract probe(bs: usize, deviceSectorSize: u32, partSectors: f64, v: Volume): i32;
  // Its own parameters into the geometry result slots (host-shim/src/native/core.ts Slot.vol*); the
  // common ones are index.ts's, and a slot it does not write stays 0.
  abstract publishGeometry(): void;
  // The boot record marks the volume as not cleanly unmounted.
  abstract bootDirty(): bool;

  // --- metadata extents
  // What a backup of v stores as metadata (partSectors: the partition's extent).
  abstract metadata(v: Volume, partSectors: f64, m: MetaExtents): void;
  // Whether an image header's metadata head (a restore writes it back) has this file system's
  // shape: metaSectors sectors of clusters of spc sectors, from dataStart, partClusters clusters.
  abstract headValid(metaSectors: u32, dataStart: f64, spc: u32, partClusters: f64): bool;
  // Its first cluster number (the bitmap's first bit that stands for a cluster of data).
  abstract firstCluster(): u32;
  // Its largest cluster, in sectors.
  abstract maxSectorsPerCluster(): u32;

  // --- bitmap scan
  // Reads what the scan needs before its first window. Returns the bytes the scan will read
  // (the job's progress total), or a negative code.
  abstract scanBegin(dev: u32, v: Volume): f64;
  // Fills the bitmap window [bitBase, bitBase + windowBits) (buf.bitmap, s.nextEntry == bitBase
  // or inside it) and advances s. Returns the bytes read, or a negative code.
  abstract scanStep(s: ScanState, dev: u32, v: Volume, bitBase: u32, windowBits: u32): i32;
  // The scan found the volume not cleanly unmounted (the boot record, or the FAT's own mark).
  abstract dirty(): bool;
  // Its own scan results into the result slots (host-shim/src/native/core.ts Slot.scan*).
  abstract publishScan(): void;
}

// FAT12/16/32 and exFAT share the layout of their metadata: everything before the cluster heap
// (boot sectors, FATs, and FAT12/16's root directory) is the head, there is no tail, and the
// first cluster is 2. NTFS, whose clusters start at sector 0, has its own.
export abstract class SystemAreaFileSystem extends FileSystem {
  metadata(v: Volume, partSectors: f64, m: MetaExtents): void {
    m.headSectors = v.firstDataSector;
    m.tailStart = 0;
    m.tailSectors = 0;
  }
  headValid(metaSectors: u32, dataStart: f64, spc: u32, partClusters: f64): bool {
    return <f64>metaSectors == dataStart && metaSectors > 0;
  }
  firstCluster(): u32 {
    return 2;
  }
}
