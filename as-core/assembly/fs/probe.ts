// The one place that picks a file system: by the boot sector when probing a volume, by the type
// number when reading an image's header. Everything else goes through the FileSystem it returns.

import * as E from "../errors";
import { fail } from "../errors";
import { exfatFs } from "../exfat/fs";
import { FS_EXFAT } from "../exfat/layout";
import { fatFs } from "../fat/fs";
import { FS_FAT12, FS_FAT16, FS_FAT32 } from "../fat/layout";
import { buf } from "../mem";
import { ntfsFs } from "../ntfs/fs";
import { FS_NTFS } from "../ntfs/volume";
import { readSectors } from "../patch";
import { FileSystem } from "./filesystem";
import { volume } from "./volume";

// Reads sector 0 of the volume on `dev` (sectors of deviceSectorSize) and probes it as exFAT,
// NTFS or FAT, in that order, into `volume`. partSectors: the volume's extent in device sectors.
// Returns 0 or a negative code.
export function probe(dev: u32, deviceSectorSize: u32, partSectors: f64): i32 {
  const r = readSectors(dev, 0, 1, buf.scratch);
  if (r < 0) return fail(E.E_DEVICE, r, dev, 0, 1);
  if (exfatFs.recognizes(buf.scratch)) return exfatFs.probe(buf.scratch, deviceSectorSize, partSectors, volume);
  if (ntfsFs.recognizes(buf.scratch)) return ntfsFs.probe(buf.scratch, deviceSectorSize, partSectors, volume);
  return fatFs.probe(buf.scratch, deviceSectorSize, partSectors, volume);
}

// The file system of type number fsType (an image header's FsType), or null.
export function fileSystemOf(fsType: u32): FileSystem | null {
  if (fsType == FS_FAT12 || fsType == FS_FAT16 || fsType == FS_FAT32) return fatFs;
  if (fsType == FS_EXFAT) return exfatFs;
  if (fsType == FS_NTFS) return ntfsFs;
  return null;
}

// The file system of the volume probe() last found.
export function mounted(): FileSystem {
  return fileSystemOf(volume.fsType)!;
}
