// Bad sectors on the source of a backup: which files own the clusters a read error hit, a
// message that names them, and a backup that records unreadable clusters in the image instead
// of failing (docs/image-format.md, section 5.1; the core's backupBeginFlags, bit 0).

import { BackupFlag, PARAMS_BYTES, Param, UNREADABLE_LISTED } from "./abi";
import { utf8 } from "./bytes";
import { Core, RunOptions, Slot } from "./core";
import { BlockDevice, ReadFailure, ReadFailureTrap } from "./devices";
import { ClusterbackError, DeviceCode, DeviceError } from "./errors";
import { FatReadError, FatReader } from "./fat-reader";
import { FatGeometry, FatTables } from "./fat-tables";

/** The read-failure trap is a device (ops/devices.ts); it is named here too, where backups use it. */
export { type ReadFailure, ReadFailureTrap };

/** Result slots a backup fills about unreadable clusters (as-core/assembly/engine/unreadable.ts). */
export const UnreadableSlot = {
  count: Slot.unreadableCount,
  first: Slot.unreadableFirst,
  list: Slot.unreadableList,
  listed: UNREADABLE_LISTED,
} as const;
/** backupBeginFlags bit 0: record unreadable clusters instead of failing. */
export const BACKUP_RECORD_UNREADABLE = BackupFlag.recordUnreadable;
/** Header Flags bit 1: the image records unreadable clusters. */
export const IMAGE_FLAG_UNREADABLE = 2;
/** The path given to LBAs before the data area (boot sector, reserved sectors, FATs, FAT12/16 root directory). */
export const METADATA = "(metadata)";

export interface ClusterOwner {
  cluster: number;
  path: string | null;
}
export interface SectorOwner {
  lba: number;
  cluster: number | null;
  path: string | null;
}

type BackupBeginFlags = (
  src: number,
  sectorBytes: number,
  partSectors: number,
  img: number,
  partType: number,
  partStart: number,
  created: number,
  flags: number,
) => number;

/**
 * The file or directory that owns each cluster ("\\" for the FAT32 root directory), following
 * every chain of the tree; null for a cluster in no file (free, lost, or past a broken chain).
 * A cross-linked cluster is given to the first owner met. Chains that cannot be read are skipped.
 */
export function clusterOwners(core: Core, partition: BlockDevice, clusters: number[]): ClusterOwner[] {
  const wanted = [...new Set(clusters)].sort((a, b) => a - b);
  const owner = new Map<number, string>();
  const reader = new FatReader(partition, core);
  const claim = (path: string, first: number) => {
    if (first < 2 || owner.size === wanted.length) return;
    let runs: Array<{ start: number; length: number }>;
    try {
      runs = reader.chainRuns(first);
    } catch (e) {
      if (e instanceof FatReadError || e instanceof DeviceError) return;
      throw e;
    }
    for (const run of runs) {
      for (let i = lowerBound(wanted, run.start); i < wanted.length && wanted[i] < run.start + run.length; i++) {
        if (!owner.has(wanted[i])) owner.set(wanted[i], path);
      }
    }
  };
  claim("\\", reader.lookup("\\")?.firstCluster ?? 0); // FAT32: the root directory's own chain
  reader.walk((e) => claim(e.path, e.firstCluster));
  return clusters.map((cluster) => ({ cluster, path: owner.get(cluster) ?? null }));
}

/** Owners of partition sectors: "(metadata)" before the data area, the owning file of the cluster after it. */
export function sectorOwners(core: Core, partition: BlockDevice, lbas: number[]): SectorOwner[] {
  const g = new FatTables(partition, core).geometry;
  const clusters = lbas.map((lba) => clusterOf(g, lba));
  const owners = clusterOwners(
    core,
    partition,
    clusters.filter((c): c is number => c !== null),
  );
  const byCluster = new Map(owners.map((o) => [o.cluster, o.path]));
  return lbas.map((lba, i) => {
    const cluster = clusters[i];
    if (lba < g.firstDataSector) return { lba, cluster: null, path: METADATA };
    return { lba, cluster, path: cluster === null ? null : (byCluster.get(cluster) ?? null) };
  });
}

/** The cluster holding a partition sector, or null outside the data area's clusters. */
export function clusterOf(g: FatGeometry, lba: number): number | null {
  if (lba < g.firstDataSector) return null;
  const cluster = 2 + Math.floor((lba - g.firstDataSector) / (g.clusterBytes / g.bytesPerSector));
  return cluster <= g.clusterCount + 1 ? cluster : null;
}

/** Which part of the system area an LBA before the data area is in. */
function systemArea(g: FatGeometry, lba: number): string {
  if (lba === 0) return "the boot sector";
  if (lba < g.reservedSectors) return "the reserved sectors";
  const fat = Math.floor((lba - g.reservedSectors) / g.fatSectors);
  if (fat < g.fatCount) return `FAT copy ${fat + 1}`;
  return "the root directory";
}

/**
 * A read failure narrowed to the first sector that fails again when read alone (cluster by
 * cluster, then sector by sector); the failure as it was when every sector now reads.
 */
export function pinpoint(partition: BlockDevice, failure: ReadFailure, sectorsPerCluster: number): ReadFailure {
  if (failure.sectorCount <= 1) return failure;
  const sector = new Uint8Array(partition.sectorSize * Math.max(1, sectorsPerCluster));
  const fails = (lba: number, count: number): DeviceError | undefined => {
    try {
      partition.read(lba, count, sector, 0);
      return undefined;
    } catch (e) {
      if (e instanceof DeviceError && e.code === DeviceCode.io) return e;
      throw e;
    }
  };
  const end = failure.lba + failure.sectorCount;
  for (let lba = failure.lba; lba < end; lba += sectorsPerCluster) {
    const n = Math.min(sectorsPerCluster, end - lba);
    if (!fails(lba, n)) continue;
    for (let s = lba; s < lba + n; s++) {
      const error = fails(s, 1);
      if (error) return { lba: s, sectorCount: 1, error };
    }
  }
  return failure;
}

/**
 * "read error at LBA 12345 (cluster 1500) of <device>: cluster 1500 belongs to \FIRMWARE\MAIN.BIN".
 * For a failure not narrowed to one sector, the clusters of the whole request and their owners.
 */
export function describeReadError(
  core: Core,
  partition: BlockDevice,
  failure: ReadFailure,
  deviceName = partition.name,
): string {
  const last = failure.lba + failure.sectorCount - 1;
  const where = failure.sectorCount > 1 ? `LBA ${failure.lba}..${last}` : `LBA ${failure.lba}`;
  let g: FatGeometry;
  try {
    g = new FatTables(partition, core).geometry;
  } catch {
    return `read error at ${where} of ${deviceName}: the volume's boot record cannot be read to name its owner`;
  }
  if (failure.lba < g.firstDataSector)
    return `read error at ${where} of ${deviceName}: ${METADATA} in ${systemArea(g, failure.lba)}`;
  const first = clusterOf(g, failure.lba),
    final = clusterOf(g, last) ?? g.clusterCount + 1;
  if (first === null) return `read error at ${where} of ${deviceName}: past the last cluster, in no file`;
  const clusters = Array.from({ length: final - first + 1 }, (_, i) => first + i);
  let owners: ClusterOwner[];
  try {
    owners = clusterOwners(core, partition, clusters);
  } catch (e) {
    if (!(e instanceof ClusterbackError)) throw e;
    return `read error at ${where} (${span("cluster", first, final)}) of ${deviceName}: the directory tree cannot be read to name the owner (${e.message})`;
  }
  return `read error at ${where} (${span("cluster", first, final)}) of ${deviceName}: ${describeOwners(owners)}`;
}

/** "cluster 1500 belongs to \A; clusters 1501..1503 belong to \B; cluster 1504 is in no file". */
export function describeOwners(owners: ClusterOwner[]): string {
  const groups: Array<{ from: number; to: number; path: string | null }> = [];
  for (const o of owners) {
    const g = groups[groups.length - 1];
    if (g && g.path === o.path && g.to + 1 === o.cluster) g.to = o.cluster;
    else groups.push({ from: o.cluster, to: o.cluster, path: o.path });
  }
  return groups
    .map((g) => {
      const plural = g.to > g.from;
      return `${span("cluster", g.from, g.to)} ${g.path === null ? (plural ? "are" : "is") + " in no file" : (plural ? "belong" : "belongs") + " to " + g.path}`;
    })
    .join("; ");
}

function span(what: string, from: number, to: number): string {
  return from === to ? `${what} ${from}` : `${what}s ${from}..${to}`;
}

/** A read error on the source of a backup, naming the files that own the clusters it hit. */
export class SourceReadError extends DeviceError {
  constructor(
    message: string,
    readonly lba: number,
    readonly sectorCount: number,
    readonly owners: ClusterOwner[],
    readonly cause: DeviceError,
  ) {
    super(DeviceCode.io, message);
    this.name = "SourceReadError";
  }
}

/**
 * The error a failed backup should throw: a SourceReadError naming the owners when `error` is
 * the I/O error of the source read that `trap` saw, else `error` itself.
 */
export function nameSourceReadError(
  core: Core,
  partition: BlockDevice,
  trap: ReadFailureTrap,
  error: unknown,
): unknown {
  const f = trap.lastFailure;
  if (!f || f.error !== error) return error;
  let failure = f,
    owners: ClusterOwner[] = [];
  try {
    const g = new FatTables(partition, core).geometry;
    failure = pinpoint(partition, f, g.clusterBytes / g.bytesPerSector);
    const first = clusterOf(g, failure.lba),
      last = clusterOf(g, failure.lba + failure.sectorCount - 1) ?? first;
    if (first !== null && last !== null)
      owners = clusterOwners(
        core,
        partition,
        Array.from({ length: last - first + 1 }, (_, i) => first + i),
      );
  } catch (e) {
    if (!(e instanceof ClusterbackError)) throw e; // the boot record or tree is unreadable too: the message says what it can
  }
  return new SourceReadError(
    describeReadError(core, partition, failure),
    failure.lba,
    failure.sectorCount,
    owners,
    f.error,
  );
}

export interface UnreadableReport {
  /** Clusters recorded unreadable. */
  count: number;
  /** The first of them (at most 24, as the core lists them) with their owners. */
  listed: ClusterOwner[];
}

/** The unreadable clusters a backup job just recorded, read from the result slots. */
export function readUnreadable(core: Core): { count: number; clusters: number[] } {
  const res = core.results();
  const count = res[UnreadableSlot.count];
  const clusters = Array.from(
    { length: Math.min(count, UnreadableSlot.listed) },
    (_, i) => res[UnreadableSlot.list + i],
  );
  return { count, clusters };
}

/** "2 clusters of <device> could not be read: stored as zeros, marked unreadable (clusters 1500..1501 belong to \A)". */
export function describeUnreadable(report: UnreadableReport, deviceName: string): string {
  const what = report.count === 1 ? "1 cluster" : `${report.count} clusters`;
  const more = report.count > report.listed.length ? `; ${report.count - report.listed.length} more not listed` : "";
  return `${what} of ${deviceName} could not be read: stored as zeros, marked unreadable (${describeOwners(report.listed)}${more})`;
}

export interface DeviceBackupOptions extends RunOptions {
  /** "fail" (default): a read error fails the backup, naming the owner; "record": section 5.1. */
  unreadable?: "fail" | "record";
  name?: string;
  created?: Date;
  partType?: number;
  partStart?: number;
  /** GPT partition type GUID, on-disk byte order (16 bytes). */
  typeGuid?: Uint8Array;
}

export interface DeviceBackupResult {
  imageClusters: number;
  unreadable: UnreadableReport;
  notices: string[];
}

/**
 * A backup between two block devices (the image device must hold the whole image: a growable
 * file, or a device of at least the scan's image length). Read errors on the source are named
 * (SourceReadError); with unreadable "record" they are stored as section 5.1 says instead.
 */
export function backupToDevice(
  core: Core,
  source: BlockDevice,
  image: BlockDevice,
  options: DeviceBackupOptions = {},
): DeviceBackupResult {
  const trap = new ReadFailureTrap(source);
  const hs = core.attach(trap),
    hi = core.attach(image);
  try {
    const params = new Uint8Array(PARAMS_BYTES);
    params.set(utf8(options.name ?? "").subarray(0, Param.imageName.length), Param.imageName.offset);
    if (options.typeGuid)
      params.set(options.typeGuid.subarray(0, Param.partTypeGuid.length), Param.partTypeGuid.offset);
    core.setParams(params);
    const created = Math.floor((options.created ?? new Date()).getTime() / 1000);
    const begin = (core.exports as unknown as { backupBeginFlags: BackupBeginFlags }).backupBeginFlags;
    const flags = options.unreadable === "record" ? BACKUP_RECORD_UNREADABLE : 0;
    try {
      core.check(
        begin(
          hs,
          source.sectorSize,
          source.sectorCount,
          hi,
          options.partType ?? 0,
          options.partStart ?? 0,
          created,
          flags,
        ),
      );
      core.run(options);
    } catch (e) {
      throw nameSourceReadError(core, source, trap, e);
    }
    const imageClusters = core.results()[Slot.scanAllocated];
    const found = readUnreadable(core);
    const unreadable: UnreadableReport = {
      count: found.count,
      listed: found.count > 0 ? clusterOwners(core, source, found.clusters) : [],
    };
    const notices = unreadable.count > 0 ? [describeUnreadable(unreadable, source.name)] : [];
    return { imageClusters, unreadable, notices };
  } finally {
    core.detach(hs);
    core.detach(hi);
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
