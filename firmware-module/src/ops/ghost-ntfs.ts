// The ghost image on NTFS (docs/image-format.md 12.6): the same image, locator, switch and search
// as on FAT (ghost.ts), through NTFS's MFT, $Bitmap and the directory's $I30 index.
//
// NTFS keeps a directory's names sorted in a B-tree, so a rename moves an entry; the switch here
// does not rename. The new image's file is an MFT record of its own that already carries the
// ghost's name, and the switch points the ghost's index entry at it:
//
// - Made: an MFT record (read-only, hidden, system; one $FILE_NAME in the Win32-and-DOS
//   namespace; a non-resident $DATA of one run of clusters as near the end of the volume as it
//   fits), written first; then its bit in $MFT's $BITMAP, then its clusters' bits in $Bitmap.
//   When the directory has no ghost yet, an index entry is inserted for it at once (in the leaf
//   where it sorts: an index block or the directory's $INDEX_ROOT, never split or grown); when it
//   has one, the new record is not in the index (an orphan) until the switch.
// - Switched: the ghost's index entry (its file reference and the sizes of its $FILE_NAME copy)
//   rewritten in place to name the new record, one sector when the entry's reference does not
//   cross one; then the old record's $Bitmap bits cleared, its $MFT bitmap bit, and last its
//   in-use flag, so that while any of it is left the old record is an orphan the next backup finds.
// - Settled: orphans with the ghost's name in its directory are what an interrupted backup left:
//   the old ghost when the locator says the switch was done, else the unfinished new one. Both
//   are freed the same way.
// - Found: through the index by name (upper-cased by the volume's $UpCase), or by the search.

import { latin1 } from "./bytes";
import { BlockDevice, readBytes, writeBytes } from "./devices";
import { applyPatches, Patch } from "./exclusions";
import { ClusterRun } from "./exfat-dir";
import { GhostError, GhostExtent } from "./ghost-common";
import {
  get64,
  JOURNAL_MAGIC,
  NtfsVolume,
  put16,
  REC_FLAGS,
  REC_IN_USE,
  RECORD_MASK,
  Struct,
  TYPE_DATA,
  torn,
  u16,
  u32,
} from "./ntfs-volume";

export { isNtfs, NtfsVolume } from "./ntfs-volume";

function leafName(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf("\\");
  return { parent: path.slice(0, i) || "\\", name: path.slice(i + 1) };
}

/** The directory record of a ghost path, and the ghost's name in it. */
function placeOf(vol: NtfsVolume, path: string): { dir: number; name: string } {
  const { parent, name } = leafName(path);
  const dir = vol.lookup(parent);
  if (dir === undefined) throw vol.fail(`no directory ${parent} for ${path}`);
  return { dir, name };
}

/** The record the index names for `path`, and the records in use with its name in its directory that the index does not name (orphans: what a cut-off backup left). */
function ghostRecords(
  vol: NtfsVolume,
  path: string,
): { dir: number; name: string; indexed?: number; orphans: number[] } {
  const { dir, name } = placeOf(vol, path);
  const f = vol.find(dir, name);
  const indexed = f.found ? Number(f.entry.ref & RECORD_MASK) : undefined;
  return { dir, name, indexed, orphans: vol.named(dir, name).filter((n) => n !== indexed) };
}

/**
 * Makes the ghost's new file for `path` (docs 12.6): an MFT record of `bytes` (whole clusters) in
 * one run near the end of the volume, read-only, hidden, system; indexed at once when the
 * directory has no ghost yet, else an orphan until the switch.
 */
export function reserveNtfsFile(
  part: BlockDevice,
  path: string,
  bytes: number,
  attributes: number,
  mtime: Date,
  avoid: ClusterRun[] = [],
): void {
  let vol = new NtfsVolume(part);
  const { dir, name } = placeOf(vol, path);
  const indexNow = !vol.find(dir, name).found;
  const cb = vol.g.clusterBytes,
    count = Math.ceil(bytes / cb);
  if (count === 0) throw vol.fail(`a ghost of ${bytes} bytes`);
  const slot = vol.recordSlot(avoid);
  const n = slot.n;
  const lcn = vol.freeRun(count, [...avoid, ...slot.clusters]);
  const old = slot.commit ? undefined : vol.record(n);
  const { rec, fn, sequence } = vol.fileRecord({
    n,
    old,
    dir,
    name,
    attributes,
    content: { lcn, clusters: count, size: count * cb },
    mtime,
  });
  const rb = vol.g.recordBytes;
  // the record first: cut off after it, it is an orphan the next backup frees; then its bits
  new Struct(vol, `MFT record ${n}`, rec, slot.runs, n * rb).writeOver();
  part.flush();
  if (slot.commit) {
    slot.commit(); // the MFT grows by the record just written
    part.flush();
    vol = new NtfsVolume(part);
  }
  vol.setBits(vol.mftBitmapRuns(), n, 1, true);
  vol.setBits(vol.bitmapRuns(), lcn, count, true);
  part.flush();
  if (indexNow) {
    try {
      vol.insert(dir, name, BigInt(n) | (BigInt(sequence) << 48n), fn, lcn * cb);
    } catch (e) {
      freeRecord(vol, n); // no room in the index: nothing is left behind
      throw e;
    }
    part.flush();
  }
}

/** The patches that free record n: [its in-use flag], [its $MFT bitmap bit], [its clusters' $Bitmap bits] (applied last to first). */
function freeRecordPatches(vol: NtfsVolume, n: number): { byCopy: Patch[][]; clusters: number } {
  const s = vol.inUseRecord(n);
  const runs = vol.dataRuns(n, s).filter((r) => r.lcn >= 0 && r.length > 0);
  const bitmap = vol.bitmapRuns();
  const bits: Patch[] = [];
  for (const r of runs) bits.push(...vol.clearBitPatches(bitmap, r.lcn, r.length));
  const flag = new Uint8Array(2);
  put16(flag, 0, u16(s.bytes, REC_FLAGS) & ~REC_IN_USE);
  return {
    byCopy: [s.patches(REC_FLAGS, flag), vol.clearBitPatches(vol.mftBitmapRuns(), n, 1), bits],
    clusters: runs.reduce((a, r) => a + r.length, 0),
  };
}

/** Frees record n for real: its clusters' bits, its $MFT bitmap bit, then its in-use flag. */
function freeRecord(vol: NtfsVolume, n: number): void {
  const { byCopy } = freeRecordPatches(vol, n);
  for (const p of [...byCopy].reverse()) {
    applyPatches(vol.part, p);
    vol.part.flush();
  }
}

/** The old ghost's side of a switch (as ghost.ts's OldGhost): its record freed; its index entry stays, repointed by the rename. */
export function planOldNtfsGhost(part: BlockDevice, path: string) {
  const vol = new NtfsVolume(part);
  const g = ghostRecords(vol, path);
  if (g.indexed === undefined) return undefined;
  const s = vol.inUseRecord(g.indexed);
  if (u16(s.bytes, REC_FLAGS) & 2) throw new GhostError(`${path} is a directory, not a ghost image`);
  const { byCopy, clusters } = freeRecordPatches(vol, g.indexed);
  return {
    extent: vol.extent(g.indexed),
    clusters,
    fatPatches: byCopy.flat(),
    fatPatchesByCopy: byCopy,
    dirPatches: [] as Patch[],
  };
}

/** The new file's side of a switch: its extent, and (when it replaces a ghost) the index entry pointed at it. */
export function planNtfsRename(part: BlockDevice, path: string): { extent: GhostExtent; dirPatches: Patch[] } {
  const vol = new NtfsVolume(part);
  const g = ghostRecords(vol, path);
  const n = g.orphans.length > 0 ? Math.max(...g.orphans) : g.indexed;
  if (n === undefined) throw new GhostError(`${path}'s new file is missing: the ghost image's file was not made`);
  const extent = vol.extent(n);
  if (!extent) throw new GhostError(`${path}'s new file (MFT record ${n}) is not one contiguous run of clusters`);
  if (n === g.indexed) return { extent, dirPatches: [] };
  const bytes = (extent.sectors * vol.g.bytesPerSector) as number;
  return { extent, dirPatches: vol.repointPatches(g.dir, g.name, vol.ref(n), bytes, bytes) };
}

/** The ghost's extent through its directory's index, or undefined. */
export function ntfsGhostExtent(part: BlockDevice, path: string): GhostExtent | undefined {
  try {
    const vol = new NtfsVolume(part);
    const n = vol.lookup(path);
    return n === undefined ? undefined : vol.extent(n);
  } catch {
    return undefined;
  }
}

/** Records in use with the ghost's name that its directory's index does not name. */
export function ntfsOrphans(part: BlockDevice, path: string): number[] {
  try {
    return ghostRecords(new NtfsVolume(part), path).orphans;
  } catch {
    return [];
  }
}

/** Frees the orphans with the ghost's name (what a cut-off backup or switch left); returns how many. */
export function freeNtfsOrphans(part: BlockDevice, path: string): number {
  const vol = new NtfsVolume(part);
  const { orphans } = ghostRecords(vol, path);
  for (const n of orphans) freeRecord(vol, n);
  return orphans.length;
}

/** Removes the ghost's file from its directory's index and frees its record (a first ghost whose backup did not finish). */
export function removeIndexedNtfsGhost(part: BlockDevice, path: string): void {
  const vol = new NtfsVolume(part);
  const { dir, name } = placeOf(vol, path);
  const n = vol.lookup(path);
  if (n === undefined) return;
  const e = vol.extent(n);
  if (vol.remove(dir, name, e && e.startSector * vol.g.bytesPerSector)) {
    part.flush();
    freeRecord(vol, n);
  }
}

/**
 * Finishes the index writes a power cut tore (section 12.6): every record in use named `leaf`
 * whose first cluster holds a journal gets the journal's structure rewritten when what is stored
 * there fails its update sequence, and the journal is cleared. Returns how many were finished.
 */
export function replayNtfsJournals(part: BlockDevice, leaf: string): number {
  // a growth of the MFT cut off after its $Bitmap bits: finished first, so its record is seen
  if (new NtfsVolume(part).resumeGrowth(leaf)) part.flush();
  const vol = new NtfsVolume(part);
  const ss = part.sectorSize;
  let replayed = 0;
  for (const n of vol.named(-1, leaf)) {
    const e = vol.extent(n);
    if (!e) continue;
    const at = e.startSector * ss;
    const head = readBytes(vol.part, at, ss);
    if (latin1(head.subarray(0, 8)) !== JOURNAL_MAGIC) continue;
    const pieces: Array<{ disk: number; bytes: Uint8Array }> = [];
    const count = u32(head, 8);
    let total = 12;
    const whole = () => readBytes(vol.part, at, Math.ceil(total / ss) * ss);
    let j = head;
    for (let i = 0, p = 12; i < count && count < 64; i++) {
      if (p + 12 > j.length) {
        total = p + 12;
        j = whole();
      }
      const disk = Number(get64(j, p)),
        len = u32(j, p + 8);
      if (len > 64 << 10 || disk + len > part.sectorCount * ss) break;
      total = p + 12 + len;
      if (total > j.length) j = whole();
      pieces.push({ disk, bytes: j.slice(p + 12, p + 12 + len) });
      p += 12 + len;
    }
    if (pieces.length === count) {
      const stored = new Uint8Array(pieces.reduce((a, x) => a + x.bytes.length, 0));
      let k = 0;
      for (const x of pieces) {
        stored.set(readBytes(vol.part, x.disk, x.bytes.length), k);
        k += x.bytes.length;
      }
      if (torn(stored)) {
        for (const x of pieces) writeBytes(vol.part, x.disk, x.bytes);
        part.flush();
        replayed++;
      }
    }
    writeBytes(vol.part, at, new Uint8Array(ss));
    part.flush();
  }
  return replayed;
}

/**
 * The copy of $MFT's record 0 in $MFTMirr made equal to it again when a cut fell between the two
 * writes of an MFT that grew (section 12.6): only when they differ within $MFT's $DATA attribute
 * alone. Returns whether it wrote.
 */
export function repairNtfsMirror(part: BlockDevice): boolean {
  const vol = new NtfsVolume(part);
  const main = vol.inUseRecord(0);
  const runs = vol.dataRuns(1);
  const rb = vol.g.recordBytes;
  let mirror: Uint8Array;
  try {
    mirror = vol.mft.readRuns(runs, 0, rb);
  } catch {
    return false;
  }
  const data = vol.attrs(main, 0).list.find((a) => a.type === TYPE_DATA && a.name === "" && !a.resident);
  if (!data) return false;
  const copy = new Struct(vol, "$MFTMirr's record 0", main.bytes.slice(), runs, 0);
  const want = new Uint8Array(rb);
  for (const p of copy.plan(true)) want.set(p.bytes, p.disk - copy.disk(0)); // the mirror's one run
  let differs = false;
  for (let i = 0; i < rb; i++) {
    if (mirror[i] === want[i]) continue;
    if (i < data.at || i >= data.at + data.length) return false; // another difference: not the ghost's
    differs = true;
  }
  if (differs) {
    copy.writeOver(true);
    part.flush();
  }
  return differs;
}
