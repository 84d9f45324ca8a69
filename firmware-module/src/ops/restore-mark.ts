// The "restore in progress" mark (docs/image-format.md, section 10): while a restore runs, the
// target partition's first sector holds it instead of the boot sector, so that no driver mounts
// a half-restored volume. Whoever finds it knows which image to finish the restore from.

import { fromUtf8, latin1 } from "./bytes";
import { Core } from "./core";
import { BlockDevice } from "./devices";
import { isoSeconds } from "./errors";

export interface RestoreMark {
  /** The image's HeaderCheck, as 16 hex digits. */
  headerCheck: string;
  /** The image's creation time (ISO 8601) and name. */
  created: string;
  name: string;
}

const MAGIC = "CBRESTOR";
const SEED_MARK = 5;

/** The mark in `partition`'s first sector, or undefined when there is none (or it fails its check). */
export function readRestoreMark(core: Core, partition: BlockDevice): RestoreMark | undefined {
  if (partition.sectorCount < 1) return undefined;
  const sector = new Uint8Array(partition.sectorSize);
  partition.read(0, 1, sector, 0);
  if (latin1(sector.subarray(0, 8)) !== MAGIC) return undefined;
  const v = new DataView(sector.buffer);
  const stored = v.getBigUint64(504, true).toString(16).padStart(16, "0");
  const record = sector.slice(0, 512);
  record.fill(0, 504, 512);
  if (core.checkOf(record, SEED_MARK) !== stored) return undefined;
  const name = fromUtf8(sector.subarray(32, 96)).replace(/\0+$/, "");
  return {
    headerCheck: v.getBigUint64(16, true).toString(16).padStart(16, "0"),
    created: isoSeconds(Number(v.getBigUint64(24, true))),
    name,
  };
}

export function describeMark(m: RestoreMark): string {
  return `a restore from image "${m.name}" (created ${m.created}) was interrupted here: run the same restore again to finish it`;
}
