// Allocation checked against the directory tree at a backup (issue 18): the core walks the
// volume's tree (as-core treeWalk: FAT12/16/32, exFAT, NTFS) and every run of clusters the tree reaches but
// the file system marks free becomes a KEEP patch, so that the backup copies it; the backup says
// what it kept, by structure, and what to run. Portable: the firmware and the CLI share it.
import {
  FsType,
  PATCH_BYTES,
  PATCH_MAX,
  PatchField,
  PatchKind,
  Slot,
  WALK_CROSS_WINDOWS_MAX,
  WALK_LISTED,
  WalkKind,
} from "./abi";
import { Core } from "./core";
import { BlockDevice } from "./devices";
import type { ClusterRun } from "./exfat-dir";

export interface KeptRun {
  firstCluster: number;
  clusters: number;
  kind: "root directory" | "directory" | "file" | "allocation bitmap" | "up-case table" | "allocation" | "system file";
  /** NTFS: the MFT record it belongs to. */
  record?: number;
}

export interface TreeWalk {
  /** Patches in the core's area after the walk: the host's own, then the KEEP patches (give it to setPatches). */
  patchCount: number;
  keptClusters: number;
  keptRuns: number;
  directories: number;
  files: number;
  /** The first WALK_LISTED kept runs. */
  listed: KeptRun[];
  /** exFAT, NTFS: clusters reached a second time (by another file or structure, or by the same one twice). */
  crossLinked: number;
  crossRuns: number;
  /** The first WALK_LISTED cross-linked runs, each named by what reached it the second time. */
  crossListed: KeptRun[];
  /** Clusters past the windows checked for cross-links (0: the whole volume was checked). */
  crossUnchecked: number;
  notices: string[];
  /** Every run kept (from the core's KEEP patches; not only the first WALK_LISTED): first cluster and length. */
  keptRunList: ClusterRun[];
}

const KIND_NAMES: Record<number, KeptRun["kind"]> = {
  [WalkKind.root]: "root directory",
  [WalkKind.directory]: "directory",
  [WalkKind.file]: "file",
  [WalkKind.bitmap]: "allocation bitmap",
  [WalkKind.upcase]: "up-case table",
  [WalkKind.other]: "allocation",
  [WalkKind.system]: "system file",
};

/**
 * Walks the tree of the volume behind `handle` (attached `device`), its KEEP patches added after
 * the `firstPatch` the host loaded, and says what it found.
 */
export function walkTree(
  core: Core,
  handle: number,
  device: BlockDevice,
  firstPatch: number,
  /** backup: the notices say the clusters are copied; info: that a backup copies them. */
  purpose: "backup" | "info" = "backup",
): TreeWalk {
  const patchCount = core.exports.treeWalk(handle, device.sectorSize, device.sectorCount, firstPatch);
  core.check(patchCount);
  const r = core.results();
  const runs = (count: number, first: number): KeptRun[] => {
    const out: KeptRun[] = [];
    for (let i = 0; i < Math.min(count, WALK_LISTED); i++) {
      const s = first + 4 * i;
      out.push({
        firstCluster: r[s],
        clusters: r[s + 1],
        kind: KIND_NAMES[r[s + 2]] ?? "allocation",
        record: r[s + 3] >= 0 ? r[s + 3] : undefined,
      });
    }
    return out;
  };
  const listed = runs(r[Slot.walkListed], Slot.walkList);
  const crossListed = runs(r[Slot.walkCrossListed], Slot.walkCrossList);
  const walk: TreeWalk = {
    patchCount,
    keptClusters: r[Slot.walkKeptClusters],
    keptRuns: r[Slot.walkKeptRuns],
    directories: r[Slot.walkDirectories],
    files: r[Slot.walkFiles],
    listed,
    crossLinked: r[Slot.walkCrossLinked],
    crossRuns: r[Slot.walkCrossRuns],
    crossListed,
    crossUnchecked: r[Slot.walkCrossUnchecked],
    notices: [],
    keptRunList: keptRuns(core, firstPatch, patchCount),
  };
  const exfat = r[Slot.volFsType] === FsType.exfat;
  const ntfs = r[Slot.volFsType] === FsType.ntfs;
  const fsck = exfat ? "fsck.exfat" : ntfs ? "chkdsk /f (or ntfsfix)" : "fsck.fat";
  const bitmap = ntfs ? "$Bitmap" : exfat ? "the allocation bitmap" : "the FAT";
  const name = (list: KeptRun[], total: number): string =>
    list
      .map(
        (k) =>
          `${k.kind}${k.record !== undefined ? ` (MFT record ${k.record})` : ""} at cluster ${k.firstCluster}${k.clusters > 1 ? ` (${k.clusters} clusters)` : ""}`,
      )
      .join(", ") + (total > list.length ? ` and ${total - list.length} more runs` : "");
  if (walk.keptClusters > 0) {
    const where = name(listed, walk.keptRuns);
    walk.notices.push(
      `${walk.keptClusters} cluster${walk.keptClusters === 1 ? "" : "s"} that ${ntfs ? `MFT records in use reach` : "the directory tree reaches"} ${walk.keptClusters === 1 ? "is" : "are"} marked free in ${bitmap}: ${where}; ${purpose === "backup" ? "copied into the image all the same" : `a backup copies ${walk.keptClusters === 1 ? "it" : "them"} all the same`}. Run ${fsck} on the source to repair ${exfat || ntfs ? "its bitmap" : "its chains"}`,
    );
  }
  if (walk.crossLinked > 0)
    walk.notices.push(
      `${walk.crossLinked} cluster${walk.crossLinked === 1 ? " is" : "s are"} cross-linked (reached by more than one file or structure, or twice by one): ${name(crossListed, walk.crossRuns)}, each named by what reached it the second time; ${purpose === "backup" ? "copied once, as the volume holds them" : "a backup copies them once, as the volume holds them"}, but at most one of the files that share them is intact. Run ${fsck} on the source`,
    );
  if (walk.crossUnchecked > 0)
    walk.notices.push(
      `${walk.crossUnchecked} clusters past the first ${WALK_CROSS_WINDOWS_MAX} Mi were not checked for cross-links (the walk checks ${WALK_CROSS_WINDOWS_MAX} windows of 1 Mi clusters)`,
    );
  if (r[Slot.walkPatchesFull])
    walk.notices.push(
      `more runs reached but marked free than the core keeps (${PATCH_MAX} patches in all): those past it are not in the image; run ${fsck} first`,
    );
  // FAT: chains that end early or loop, and directory loops, are named by path by the damage
  // walk (damage.ts), which every FAT backup and info runs; the counts here would say it twice
  const fat = !exfat && !ntfs;
  if (r[Slot.walkBadChains] && !fat)
    walk.notices.push(
      `${r[Slot.walkBadChains]} chains or extents leave the cluster heap or end before their length: copied as far as they go; run ${fsck}`,
    );
  if (r[Slot.walkTooDeep] && !fat)
    walk.notices.push(
      ntfs
        ? `${r[Slot.walkTooDeep]} MFT records in use could not be read (their update sequence or attributes are damaged): what they reach is copied only if $Bitmap marks it in use; run ${fsck}`
        : `${r[Slot.walkTooDeep]} directories were not walked (deeper than the walk goes, or the tree loops): what they reach is copied only if the bitmap marks it in use`,
    );
  if (r[Slot.walkBitmapUnchecked] && exfat)
    walk.notices.push("the allocation bitmap is not contiguous: the tree was not checked against it");
  return walk;
}

/** The KEEP patches the walk added after `firstPatch`, as runs of clusters. */
function keptRuns(core: Core, firstPatch: number, patchCount: number): ClusterRun[] {
  const out: ClusterRun[] = [];
  if (patchCount <= firstPatch) return out;
  const b = core.readPatches(firstPatch, patchCount - firstPatch);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = 0; at < b.length; at += PATCH_BYTES)
    if (v.getUint32(at + PatchField.kind, true) === PatchKind.keep)
      out.push({
        start: v.getFloat64(at + PatchField.byteOffset, true),
        length: v.getUint32(at + PatchField.length, true),
      });
  return out;
}
