// The partition table's problems and warnings as the core reports them (as-core/assembly/ptable.ts),
// in words: an entry that is bad or shares sectors with another gets `problem` (shown by info,
// refused when that partition is chosen; the others stay usable), and the table gets `warnings`
// (the backup GPT in use, logical partitions that could not be read).

import { coreCodes, ENTRY_SLOTS, EntrySlot, PartProblem as Problem, PartWarning as TableWarning } from "./abi";
import { Slot } from "./core";
import { coreMessages, PartitionEntryError } from "./errors";
import type { PartitionEntry } from "./volume";

/** The partition-table results' enumerations and an entry's slots: declared in the contract (as-core/contract/core-abi.json). */
export {
  ENTRY_SLOTS,
  EntrySlot,
  PartProblem as Problem,
  PartScheme as Scheme,
  PartWarning as TableWarning,
} from "./abi";
/** Bytes of a GPT type GUID. */
export const GUID_BYTES = 16;

const extentOf = (number: number, start: number, sectors: number) =>
  `partition ${number} (start ${start}, ${sectors} sectors)`;

/** The extended partition (MBR), when the table has one. */
function extendedOf(
  res: Float64Array,
  scheme: "mbr" | "gpt",
): { number: number; start: number; sectors: number } | undefined {
  const number = res[Slot.partExtNumber];
  return scheme === "mbr" && number > 0
    ? { number, start: res[Slot.partExtStart], sectors: res[Slot.partExtSectors] }
    : undefined;
}

/** The entry that shares sectors with this one, named with its extent. */
function overlapPartner(other: number, partitions: PartitionEntry[], res: Float64Array, scheme: "mbr" | "gpt"): string {
  const p = partitions.find((x) => x.number === other);
  if (p) return `overlaps ${extentOf(p.number, p.startLba, p.sectorCount)}`;
  const ext = extendedOf(res, scheme);
  if (ext?.number === other) return `overlaps the extended partition, ${extentOf(ext.number, ext.start, ext.sectors)}`;
  return `overlaps partition ${other} (an entry past the ${partitions.length} listed)`;
}

function problemText(
  code: number,
  value: number,
  res: Float64Array,
  partitions: PartitionEntry[],
  scheme: "mbr" | "gpt",
): string {
  switch (code) {
    case Problem.sectorZero:
      return `starts at sector 0, over the partition table itself (${scheme === "gpt" ? "the protective MBR" : "the MBR"})`;
    case Problem.pastDisk:
      return `reaches past the end of the disk (${value} sectors)`;
    case Problem.pastExtended:
      return `reaches past the end of its extended partition (whose last sector is LBA ${value - 1})`;
    case Problem.overTable:
      return `covers LBA ${value}, a sector of the partition table itself (${scheme === "gpt" ? "a GPT header or entry array" : "an EBR"})`;
    case Problem.outsideUsable:
      return `lies outside the GPT's usable sectors ${res[Slot.partGptFirstUsable]}..${res[Slot.partGptLastUsable]}`;
    case Problem.reversed:
      return `ends at LBA ${value}, before its start`;
    case Problem.overlap:
      return overlapPartner(value, partitions, res, scheme);
    default:
      return `has problem ${code} (${value})`;
  }
}

/** Sets `problem` on the entries the core found something wrong with. */
export function describeProblems(res: Float64Array, partitions: PartitionEntry[]): void {
  partitions.forEach((p, i) => {
    const s = Slot.partFirst + ENTRY_SLOTS * i;
    const code = res[s + EntrySlot.problem];
    if (code !== Problem.none)
      p.problem = problemText(code, res[s + EntrySlot.problemValue], res, partitions, p.scheme);
  });
}

/** The table's warning, in words (none: an empty list). */
export function tableWarnings(res: Float64Array, scheme: "mbr" | "gpt", diskSectors: number): string[] {
  const kind = res[Slot.partWarning],
    code = res[Slot.partWarningCode];
  const values = Array.from(res.subarray(Slot.partWarningValues, Slot.partWarningValues + 4));
  const why = (c: number) =>
    coreCodes[c] ? coreMessages[coreCodes[c].name](values) : `core failure ${c} (${values.join(", ")})`;
  const ext = extendedOf(res, scheme);
  switch (kind) {
    case TableWarning.none:
      return [];
    case TableWarning.gptBackup:
      return [
        `the primary GPT is damaged: ${why(code)}; the backup GPT header at LBA ${res[Slot.partGptHeaderLba]} (the last sector of the ${diskSectors}) and its entry array are used, as fdisk and sgdisk do`,
      ];
    case TableWarning.extendedBad:
      return [
        `the extended ${ext ? extentOf(ext.number, ext.start, ext.sectors) : "partition"} ${problemText(code, values[0], res, [], scheme)}: its logical partitions are not read`,
      ];
    case TableWarning.ebrChain:
      return [`${why(code)}: the logical partitions after it are not read`];
    default:
      return [`table warning ${kind} (${code})`];
  }
}

/** Refuses a partition whose entry has a problem, naming the entry and the problem. */
export function refuseBadEntry(entry: PartitionEntry, where: string): void {
  if (!entry.problem) return;
  throw new PartitionEntryError(
    `${where}: ${extentOf(entry.number, entry.startLba, entry.sectorCount)} is not used: its ${entry.scheme.toUpperCase()} entry ${entry.problem}`,
  );
}
