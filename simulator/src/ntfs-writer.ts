// The simulator's NTFS writer (as exfat-writer.ts is for exFAT): directories and files on an
// NTFS volume, through the portable NTFS primitives (firmware-module/src/ops/ntfs-volume.ts): a
// base MFT record per file or directory (the MFT grown when it is full), $DATA resident in the
// record when it is small, else one run of clusters taken from the top of the volume (the MFT
// zone after the MFT stays free for it to grow into), and the name inserted into its directory's
// $I30 index, which grows: a full $INDEX_ROOT moves down into an index block, a full block is
// split. Checked by ntfsfix, ntfsresize, ntfsls and ntfscat in the tests. It writes a volume
// that nothing else is using; it is not made to survive a power cut.

import { BlockDevice } from "../../firmware-module/src/ops/devices";
import { ClusterbackError } from "../../firmware-module/src/ops/errors";
import { NtfsVolume, Struct } from "../../firmware-module/src/ops/ntfs-volume";

export class NtfsWriterError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "NtfsWriterError";
  }
}

/** Files this small live in their MFT record. */
const RESIDENT_MAX = 512;
const ATTRIBUTE_ARCHIVE = 0x20;

export class NtfsWriter {
  constructor(
    readonly part: BlockDevice,
    readonly mtime = new Date(Date.UTC(2026, 0, 1)),
  ) {}

  private split(path: string): string[] {
    const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
    if (parts.length === 0) throw new NtfsWriterError(`${this.part.name}: "${path}" names no file`);
    for (const p of parts)
      if (p.length > 255 || /[\u0000/\\:*?"<>|]/.test(p))
        throw new NtfsWriterError(`${this.part.name}: "${p}" in ${path} is not a name NTFS takes from this writer`);
    return parts;
  }

  /** Makes directory `path` and the directories above it that are missing. */
  mkdir(path: string): void {
    let at = "";
    for (const p of this.split(path)) {
      const parent = at || "\\";
      at = `${at}\\${p}`;
      const vol = new NtfsVolume(this.part);
      const n = vol.lookup(at);
      if (n !== undefined) {
        const s = vol.inUseRecord(n);
        if ((s.bytes[22] & 2) === 0) throw new NtfsWriterError(`${this.part.name}: ${at} is a file, not a directory`);
        continue;
      }
      this.create(parent, p, { directory: true }, 0);
    }
  }

  /** Writes file `path` (its directory made when missing) with `data`. */
  writeFile(path: string, data: Uint8Array, attributes = ATTRIBUTE_ARCHIVE): void {
    const parts = this.split(path);
    const dir = parts.length > 1 ? `\\${parts.slice(0, -1).join("\\")}` : "\\";
    if (dir !== "\\") this.mkdir(dir);
    const vol = new NtfsVolume(this.part);
    if (vol.lookup(`${dir === "\\" ? "" : dir}\\${parts[parts.length - 1]}`) !== undefined)
      throw new NtfsWriterError(`${this.part.name}: ${path} exists already`);
    if (data.length <= RESIDENT_MAX) {
      this.create(dir, parts[parts.length - 1], { bytes: data }, attributes);
      return;
    }
    const cb = vol.g.clusterBytes,
      clusters = Math.ceil(data.length / cb);
    const lcn = vol.freeRun(clusters, []);
    const padded = new Uint8Array(clusters * cb);
    padded.set(data);
    vol.writeBytes(lcn * cb, padded);
    vol.setBits(vol.bitmapRuns(), lcn, clusters, true);
    this.create(dir, parts[parts.length - 1], { lcn, clusters, size: data.length }, attributes);
  }

  /** A record for `name` in directory `dirPath`, its bits set, its name indexed. */
  private create(
    dirPath: string,
    name: string,
    content: { lcn: number; clusters: number; size: number } | { bytes: Uint8Array } | { directory: true },
    attributes: number,
  ): void {
    let vol = new NtfsVolume(this.part);
    const dir = vol.lookup(dirPath);
    if (dir === undefined) throw new NtfsWriterError(`${this.part.name}: no directory ${dirPath}`);
    const avoid = "lcn" in content ? [{ start: content.lcn, length: content.clusters }] : [];
    const slot = vol.recordSlot(avoid);
    const old = slot.commit ? undefined : vol.record(slot.n);
    const { rec, fn, sequence } = vol.fileRecord({ n: slot.n, old, dir, name, attributes, content, mtime: this.mtime });
    const rb = vol.g.recordBytes;
    new Struct(vol, `MFT record ${slot.n}`, rec, slot.runs, slot.n * rb).writeOver();
    if (slot.commit) {
      slot.commit();
      vol = new NtfsVolume(this.part);
    }
    vol.setBits(vol.mftBitmapRuns(), slot.n, 1, true);
    vol.insert(dir, name, BigInt(slot.n) | (BigInt(sequence) << 48n), fn, undefined, true);
  }

  flush(): void {
    this.part.flush();
  }
}
