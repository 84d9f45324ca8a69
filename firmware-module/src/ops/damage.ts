// Damage in a FAT volume's structure, told as notices (info, backup): the volume is imaged
// exactly as it is, but the user should know. Chains that loop, chains that share clusters
// (cross-links), directories that are their own ancestors, and an FSInfo sector no driver would
// believe (bad signatures, or a free count larger than the volume). The tree is walked by
// FatReader.checkTree (the health check's walk), bounded in steps (FAT and directory entries
// read: a loop or a chain met again and again ends in time) and in directory records held, so
// a damaged volume cannot make it hang or grow; it never fails the caller.

import { Core } from "./core";
import { BlockDevice } from "./devices";
import { FSI_LEAD, FSI_STRUC, FSI_UNKNOWN } from "./fat-dir";
import { FatReader, Problem, TreeCheck } from "./fat-reader";

/** Notices listed of each kind before the rest are counted ("and N more ..."). */
export const NOTICES_PER_KIND = 3;
/** Chains named in one cross-link notice before the rest are counted. */
const NAMES_LISTED = 3;
/** Directory records held at once (one directory per level of the walk) at most. */
const MAX_HELD_RECORDS = 1 << 18;

export interface DamageOptions {
  /** The free clusters the core's scan of the FAT counted (told beside an FSInfo count that cannot be right). */
  freeClusters?: number;
  /** Notices of each kind listed (default NOTICES_PER_KIND). */
  perKind?: number;
  /** Steps the walk may take: FAT entries looked up or read, directory entries read (default: 16 per FAT entry, and 2^24 more). */
  maxSteps?: number;
  /** Files and directories walked at most (default: the reader's, 2^20). */
  maxEntries?: number;
  /** Directory records held at once at most (default 2^18). */
  maxHeld?: number;
  /** FAT windows of 64 KiB the walk keeps (default: the reader's 4, for a QuickJS heap; the CLI keeps the whole FAT, up to 16 MiB). */
  cachedWindows?: number;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
const hex = (n: number) => "0x" + n.toString(16).toUpperCase().padStart(8, "0");

/** "A", "A and B", "A, B and C". */
function listed(items: string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function chainLoopNotice(p: Problem): string {
  const l = p.chainLoop!;
  const what = p.path === "\\" ? "the root directory" : `${l.directory ? "directory " : ""}${p.path}`;
  return `chain of ${what} loops back to cluster ${l.backTo} after ${plural(l.distinct, "cluster")} (cluster ${p.cluster} points back to it)`;
}

function crossLinkNotice(p: Problem): string {
  const names = [p.path!, ...(p.sharedWith?.length ? p.sharedWith : ["another chain"])];
  const n = p.sharedClusters ?? 1;
  const who =
    names.length > NAMES_LISTED + 1
      ? `${names.slice(0, NAMES_LISTED).join(", ")} and ${names.length - NAMES_LISTED} other chains`
      : listed(names);
  return `${who} share cluster ${p.cluster}${n > 1 ? ` (${n} clusters in common)` : ""}`;
}

function ancestorNotice(p: Problem): string {
  return `directory ${p.path} is its own ancestor ${p.ancestor} (cluster ${p.cluster})`;
}

/** Up to `perKind` notices of one kind, then one that counts the rest. */
function capped(
  problems: Problem[],
  say: (p: Problem) => string,
  rest: (n: number) => string,
  perKind: number,
): string[] {
  const out = problems.slice(0, perKind).map(say);
  if (problems.length > perKind) out.push(rest(problems.length - perKind));
  return out;
}

/**
 * The notices of a FAT12/16/32 volume's structural damage, in this order: chains that loop,
 * cross-links, directory loops, FSInfo, and whether a bound cut the walk short. Never throws:
 * a volume the walk cannot read gets a notice saying so.
 */
export function fatDamageNotices(core: Core, device: BlockDevice, options: DamageOptions = {}): string[] {
  let reader: FatReader;
  try {
    reader = new FatReader(device, core, options.cachedWindows);
  } catch (e) {
    return [`the volume was not checked for damage: ${(e as Error).message}`];
  }
  return [...treeNotices(reader, options), ...fsInfoNotices(reader, options)];
}

function treeNotices(reader: FatReader, options: DamageOptions): string[] {
  const perKind = options.perKind ?? NOTICES_PER_KIND;
  let tree: TreeCheck;
  try {
    tree = reader.checkTree({
      maxSteps: options.maxSteps ?? 16 * reader.tables.entryCount + (1 << 24),
      maxEntries: options.maxEntries,
      maxHeld: options.maxHeld ?? MAX_HELD_RECORDS,
    });
  } catch (e) {
    return [`the directory tree was not checked for damage: ${(e as Error).message}`];
  }
  const loops = tree.problems.filter((p) => p.kind === "loop" && p.chainLoop);
  const links = tree.problems.filter((p) => p.kind === "cross-link");
  const dirLoops = tree.problems.filter((p) => p.kind === "loop" && p.ancestor !== undefined);
  const out = [
    ...capped(
      loops,
      chainLoopNotice,
      (n) => (n === 1 ? "and 1 more chain loops back" : `and ${n} more chains loop back`),
      perKind,
    ),
    ...capped(
      links,
      crossLinkNotice,
      (n) => (n === 1 ? "and 1 more chain shares clusters" : `and ${n} more chains share clusters`),
      perKind,
    ),
    ...capped(
      dirLoops,
      ancestorNotice,
      (n) =>
        n === 1 ? "and 1 more directory is its own ancestor" : `and ${n} more directories are their own ancestors`,
      perKind,
    ),
  ];
  if (tree.stopped)
    out.push(
      `the check of the directory tree for damage stopped after ${tree.stopped}: more damage may be left unlisted`,
    );
  return out;
}

/** FAT32: an FSInfo sector with bad signatures, or a free count larger than the volume. */
function fsInfoNotices(reader: FatReader, options: DamageOptions): string[] {
  let fsInfo: ReturnType<FatReader["fsInfo"]>;
  try {
    fsInfo = reader.fsInfo();
  } catch (e) {
    return [`the FSInfo sector was not checked: ${(e as Error).message}`];
  }
  if (!fsInfo) return [];
  const f = fsInfo.fields,
    bad: string[] = [],
    clusterCount = reader.tables.geometry.clusterCount;
  if (f.lead !== FSI_LEAD) bad.push(`lead ${hex(f.lead)}, not ${hex(FSI_LEAD)}`);
  if (f.struc !== FSI_STRUC) bad.push(`struct ${hex(f.struc)}, not ${hex(FSI_STRUC)}`);
  if (bad.length > 0) {
    return [
      `FSInfo sector ${fsInfo.sector} has ${bad.length === 2 ? "no valid signatures" : "a bad signature"} (${bad.join("; ")}): its free count ${hex(f.freeCount)} is ignored`,
    ];
  }
  if (f.freeCount !== FSI_UNKNOWN && f.freeCount > clusterCount) {
    const fat = options.freeClusters === undefined ? "" : ` (the FAT has ${options.freeClusters} free)`;
    return [
      `FSInfo sector ${fsInfo.sector} says ${f.freeCount} clusters are free, more than the volume's ${clusterCount}: its free count is ignored${fat}`,
    ];
  }
  return [];
}
