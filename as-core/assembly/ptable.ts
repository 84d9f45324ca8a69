// Partition tables: MBR (primary entries, logical partitions in an extended partition's EBR
// chain) and GPT (protective MBR, primary header at LBA 1, the backup header at the disk's last
// LBA when the primary or its entry array fails, as fdisk and sgdisk do).
//
// One bad entry does not make the table unusable: every entry is listed with its problem (P_*),
// if it has one, and the host refuses that entry alone when it is chosen. Two entries that share
// a sector both get P_OVERLAP, naming each other; the others stay usable. Results (the host's
// names are in host-shim/src/native/core.ts Slot and firmware-module/src/ops/partition-table.ts):
//   SLOT_SCHEME (1 MBR, 2 GPT), SLOT_COUNT (entries listed),
//   SLOT_WARNING: a warning about the table (W_*), with a code in SLOT_WARNING_CODE and four
//   values from SLOT_WARNING_VALUES,
//   entry i at SLOT_ENTRIES + ENTRY_SLOTS * i: number (1-based, as the table numbers it), type
//   byte (MBR), start LBA, sector count, (GPT) the type GUID's bytes as two u64 halves, the
//   problem (P_*) and the value that goes with it,
//   from SLOT_EXTRA: MBR: the extended partition's number, start and sectors (0: none); GPT:
//   the LBA of the header in use, its first and last usable LBA.

import * as A from "./abi";
import {
  ENTRY_SLOTS,
  ENTRY_GUID as F_GUID,
  ENTRY_NUMBER as F_NUMBER,
  ENTRY_PROBLEM as F_PROBLEM,
  ENTRY_PROBLEM_VALUE as F_PROBLEM_VALUE,
  ENTRY_SECTORS as F_SECTORS,
  ENTRY_START as F_START,
  ENTRY_TYPE as F_TYPE,
  GC_ENTRIES,
  GC_HEADER,
  GH_ENTRIES_LBA,
  GH_ENTRY_COUNT,
  GH_ENTRY_SIZE,
  GH_HEADER_SIZE,
  GH_MY_LBA,
  GH_SIGNATURE,
  P_NONE,
  P_OUTSIDE_USABLE,
  P_OVER_TABLE,
  P_OVERLAP,
  P_PAST_DISK,
  P_PAST_EXTENDED,
  P_REVERSED,
  P_SECTOR_ZERO,
  SCHEME_GPT,
  SCHEME_MBR,
  W_EBR_CHAIN,
  W_EXTENDED_BAD,
  W_GPT_BACKUP,
} from "./abi";
import { E_DEVICE, E_EBR_CHAIN, E_GPT_CRC, E_GPT_HEADER, E_MBR_SIGNATURE, fail, failure } from "./errors";
import { crc32, crc32Update } from "./hash";
import { ld8, ld16, ld32, ld64 } from "./io";
import { buf, clearResults, getResult, setResult } from "./mem";
import { readSectors } from "./patch";

// MBR layout (sizeof = 512; signature 0x55 0xAA at 510)
const MBR_PartTable: usize = 446; // 4 entries of 16 bytes
const PTE_Bytes: u32 = 16;
const PTE_Type: usize = 4; // partition type (u8)
const PTE_StartLba: usize = 8; // first sector (u32)
const PTE_SizeLba: usize = 12; // sector count (u32)
const MBR_Signature: usize = 510; // 0xAA55 (u16)
const MBR_SIGNATURE: u32 = 0xaa55;
const TYPE_GPT_PROTECTIVE: u32 = 0xee;

// GPT header layout (UEFI spec 5.3.2)
const GPT_Signature: usize = 0; // "EFI PART" (u64)
const GPT_HeaderSize: usize = 12; // u32, 92..sector size
const GPT_HeaderCrc: usize = 16; // u32, CRC32 of the header with this field zero
const GPT_MyLba: usize = 24; // u64, the LBA of this header
const GPT_FirstUsable: usize = 40; // u64
const GPT_LastUsable: usize = 48; // u64, inclusive
const GPT_EntriesLba: usize = 72; // u64
const GPT_EntryCount: usize = 80; // u32
const GPT_EntrySize: usize = 84; // u32, 128 * 2^n
const GPT_EntriesCrc: usize = 88; // u32
const GPTE_TypeGuid: usize = 0; // 16 bytes
const GPTE_FirstLba: usize = 32; // u64
const GPTE_LastLba: usize = 40; // u64, inclusive
const GPT_SIGNATURE: u64 = 0x5452415020494645;
const GPT_HEADER_MIN: u32 = 92;
const GPT_ENTRY_MIN: u32 = 128;
const GPT_ENTRIES_MAX: u32 = 1024;
const GPT_PRIMARY_LBA: f64 = 1;
// The results, the entry problems (P_*), the warnings (W_*), the schemes and the first values of
// E_GPT_HEADER (GH_*) and E_GPT_CRC (GC_*) are declared in the contract (abi.ts).
const SLOT_SCHEME = A.SLOT_PART_SCHEME;
const SLOT_COUNT = A.SLOT_PART_COUNT;
const SLOT_WARNING = A.SLOT_PART_WARNING;
const SLOT_WARNING_CODE = A.SLOT_PART_WARNING_CODE;
const SLOT_WARNING_VALUES = A.SLOT_PART_WARNING_VALUES;
const SLOT_ENTRIES = A.SLOT_PART_FIRST;
const SLOT_EXTRA = A.SLOT_PART_EXT_NUMBER; // three: extNumber/gptHeaderLba, extStart/gptFirstUsable, extSectors/gptLastUsable
const MAX_PARTITIONS = A.PART_ENTRIES_MAX;
const MAX_LOGICAL: u32 = 128;

function isExtended(t: u32): bool {
  return t == 0x05 || t == 0x0f || t == 0x85;
}

function readSector(dev: u32, lba: f64): i32 {
  const r = readSectors(dev, lba, 1, buf.scratch);
  return r < 0 ? fail(E_DEVICE, r, dev, lba, 1) : 0;
}

function entrySlot(i: u32, field: u32): u32 {
  return SLOT_ENTRIES + i * ENTRY_SLOTS + field;
}

function setWarning(kind: u32, code: f64, v0: f64, v1: f64, v2: f64, v3: f64): void {
  setResult(SLOT_WARNING, kind);
  setResult(SLOT_WARNING_CODE, code);
  setResult(SLOT_WARNING_VALUES, v0);
  setResult(SLOT_WARNING_VALUES + 1, v1);
  setResult(SLOT_WARNING_VALUES + 2, v2);
  setResult(SLOT_WARNING_VALUES + 3, v3);
}

function setExtra(a: f64, b: f64, c: f64): void {
  setResult(SLOT_EXTRA, a);
  setResult(SLOT_EXTRA + 1, b);
  setResult(SLOT_EXTRA + 2, c);
}

let found: u32 = 0;
let problemValue: f64 = 0; // the value that goes with the problem the last *Problem() call found

// Entry i gets this problem unless it already has one (its first problem is the one reported).
function markProblem(i: u32, problem: u32, value: f64): void {
  if (getResult(entrySlot(i, F_PROBLEM)) != <f64>P_NONE) return;
  setResult(entrySlot(i, F_PROBLEM), problem);
  setResult(entrySlot(i, F_PROBLEM_VALUE), value);
}

function shareSectors(aStart: f64, aSize: f64, bStart: f64, bSize: f64): bool {
  return aSize > 0 && bSize > 0 && aStart < bStart + bSize && bStart < aStart + aSize;
}

// An extent (entry `self`, or -1 for one that is not listed) against every entry listed so far:
// both sides of an overlap are marked, each naming the other.
function markOverlaps(number: u32, start: f64, size: f64, self: i32): void {
  for (let i: u32 = 0; i < found; i++) {
    if (<i32>i == self) continue;
    if (!shareSectors(start, size, getResult(entrySlot(i, F_START)), getResult(entrySlot(i, F_SECTORS)))) continue;
    markProblem(i, P_OVERLAP, number);
    if (self >= 0) markProblem(<u32>self, P_OVERLAP, getResult(entrySlot(i, F_NUMBER)));
  }
}

// Lists an entry (the first MAX_PARTITIONS only; the others are still checked for overlaps).
function addEntry(number: u32, type: u32, start: f64, size: f64, problem: u32, value: f64, g0: u64, g1: u64): void {
  if (found >= MAX_PARTITIONS) {
    markOverlaps(number, start, size, -1);
    return;
  }
  const i = found++;
  setResult(entrySlot(i, F_NUMBER), number);
  setResult(entrySlot(i, F_TYPE), type);
  setResult(entrySlot(i, F_START), start);
  setResult(entrySlot(i, F_SECTORS), size);
  // GUID halves go in as raw bits so the host can read them as two u64
  store<u64>(buf.result + ((<usize>entrySlot(i, F_GUID)) << 3), g0);
  store<u64>(buf.result + ((<usize>entrySlot(i, F_GUID + 1)) << 3), g1);
  markProblem(i, problem, value);
  setResult(SLOT_COUNT, found);
  markOverlaps(number, start, size, <i32>i);
}

// An MBR entry's extent against the disk.
function rangeProblem(start: f64, size: f64, diskSectors: f64): u32 {
  problemValue = diskSectors;
  if (start == 0) return P_SECTOR_ZERO;
  return start + size > diskSectors ? P_PAST_DISK : P_NONE;
}

// Scans the table of a whole disk. Returns the partition count, or a negative code.
export function scanPartitions(dev: u32, sectorSize: u32, diskSectors: f64): i32 {
  clearResults();
  found = 0;
  const r = readSector(dev, 0);
  if (r < 0) return r;
  const sig = ld16(buf.scratch + MBR_Signature);
  if (sig != MBR_SIGNATURE) return fail(E_MBR_SIGNATURE, sig);
  for (let i: u32 = 0; i < 4; i++) {
    if (ld8(buf.scratch + MBR_PartTable + i * PTE_Bytes + PTE_Type) == TYPE_GPT_PROTECTIVE)
      return scanGpt(dev, sectorSize, diskSectors);
  }
  return scanMbr(dev, diskSectors);
}

// The four primary entries (sector 0 in buf.scratch), then the extended partition's logical ones.
function scanMbr(dev: u32, diskSectors: f64): i32 {
  setResult(SLOT_SCHEME, SCHEME_MBR);
  let ext: u32 = 0,
    extStart: f64 = 0,
    extSize: f64 = 0;
  for (let i: u32 = 0; i < 4; i++) {
    const e = buf.scratch + MBR_PartTable + i * PTE_Bytes;
    const type = ld8(e + PTE_Type);
    if (type == 0) continue;
    const start = <f64>ld32(e + PTE_StartLba),
      size = <f64>ld32(e + PTE_SizeLba);
    if (isExtended(type)) {
      if (ext == 0) {
        ext = i + 1;
        extStart = start;
        extSize = size;
      }
      continue;
    }
    const problem = rangeProblem(start, size, diskSectors);
    addEntry(i + 1, type, start, size, problem, problemValue, 0, 0);
  }
  if (ext == 0) return <i32>found;
  setExtra(ext, extStart, extSize);
  const problem = rangeProblem(extStart, extSize, diskSectors);
  if (problem != P_NONE) {
    setWarning(W_EXTENDED_BAD, problem, problemValue, 0, 0, 0);
    return <i32>found;
  }
  markOverlaps(ext, extStart, extSize, -1); // a primary partition inside the extended one
  return scanLogical(dev, extStart, extSize);
}

// The chain breaks at `lba`: the logical partitions read so far stay, a warning says so.
function chainBroken(lba: f64, extStart: f64, extSize: f64): i32 {
  setWarning(W_EBR_CHAIN, E_EBR_CHAIN, lba, extStart, extSize, 0);
  return <i32>found;
}

// A logical partition that covers this EBR (an earlier one reaching over it).
function markEbrCovered(ebr: f64): void {
  for (let i: u32 = 0; i < found; i++) {
    const start = getResult(entrySlot(i, F_START));
    if (start <= ebr && ebr < start + getResult(entrySlot(i, F_SECTORS))) markProblem(i, P_OVER_TABLE, ebr);
  }
}

// A logical partition's extent (relative to its EBR) against its EBR and its extended partition.
function logicalProblem(ebr: f64, rel: f64, size: f64, extEnd: f64): u32 {
  problemValue = ebr;
  if (rel == 0) return P_OVER_TABLE;
  problemValue = extEnd;
  return ebr + rel + size > extEnd ? P_PAST_EXTENDED : P_NONE;
}

// Logical partitions: each EBR holds the partition (relative to this EBR) and a link to the
// next EBR (relative to the extended partition's start). Numbered from 5.
function scanLogical(dev: u32, extStart: f64, extSize: f64): i32 {
  const extEnd = extStart + extSize;
  let ebr = extStart;
  for (let n: u32 = 0; n < MAX_LOGICAL; n++) {
    if (ebr < extStart || ebr >= extEnd) return chainBroken(ebr, extStart, extSize);
    const r = readSector(dev, ebr);
    if (r < 0) return r;
    if (ld16(buf.scratch + MBR_Signature) != MBR_SIGNATURE) return chainBroken(ebr, extStart, extSize);
    markEbrCovered(ebr);
    const e0 = buf.scratch + MBR_PartTable,
      e1 = e0 + <usize>PTE_Bytes;
    const type = ld8(e0 + PTE_Type);
    const nextType = ld8(e1 + PTE_Type),
      nextRel = <f64>ld32(e1 + PTE_StartLba);
    if (type != 0) {
      const rel = <f64>ld32(e0 + PTE_StartLba),
        size = <f64>ld32(e0 + PTE_SizeLba);
      const problem = logicalProblem(ebr, rel, size, extEnd);
      addEntry(5 + n, type, ebr + rel, size, problem, problemValue, 0, 0);
    }
    if (nextType == 0 || nextRel == 0) return <i32>found;
    const next = extStart + nextRel;
    if (next <= ebr) return chainBroken(next, extStart, extSize);
    ebr = next;
  }
  return chainBroken(ebr, extStart, extSize);
}

// ---- GPT ----

class GptHeader {
  lba: f64 = 0; // where this header is: 1 (primary) or the disk's last LBA (backup)
  entriesLba: f64 = 0;
  arraySectors: f64 = 0;
  count: u32 = 0;
  size: u32 = 0;
  entriesCrc: u32 = 0;
  firstUsable: f64 = 0;
  lastUsable: f64 = 0;
}
const gpt = new GptHeader();

function scanGpt(dev: u32, sectorSize: u32, diskSectors: f64): i32 {
  setResult(SLOT_SCHEME, SCHEME_GPT);
  const r = loadGpt(dev, GPT_PRIMARY_LBA, sectorSize, diskSectors);
  if (r < 0) {
    const backupLba = diskSectors - 1;
    if (backupLba <= GPT_PRIMARY_LBA) return r;
    const code = failure.code,
      v0 = failure.v0,
      v1 = failure.v1,
      v2 = failure.v2,
      v3 = failure.v3;
    if (loadGpt(dev, backupLba, sectorSize, diskSectors) < 0) {
      fail(code, v0, v1, v2, v3); // the primary's failure is the one reported
      return r;
    }
    setWarning(W_GPT_BACKUP, code, v0, v1, v2, v3);
  }
  setExtra(gpt.lba, gpt.firstUsable, gpt.lastUsable);
  return listGpt(dev, sectorSize, diskSectors);
}

// A header and its entry array, checked (UEFI spec 5.3.2: signature, header CRC, MyLBA, the
// entry array's CRC).
function loadGpt(dev: u32, lba: f64, sectorSize: u32, diskSectors: f64): i32 {
  const r = readGptHeader(dev, lba, sectorSize, diskSectors);
  return r < 0 ? r : checkGptEntries(dev, sectorSize);
}

function readGptHeader(dev: u32, lba: f64, sectorSize: u32, diskSectors: f64): i32 {
  const r = readSector(dev, lba);
  if (r < 0) return r;
  const h = buf.scratch;
  if (ld64(h + GPT_Signature) != GPT_SIGNATURE) return fail(E_GPT_HEADER, GH_SIGNATURE, <f64>ld32(h), lba);
  const headerSize = ld32(h + GPT_HeaderSize);
  if (headerSize < GPT_HEADER_MIN || headerSize > sectorSize)
    return fail(E_GPT_HEADER, GH_HEADER_SIZE, headerSize, lba);
  const stored = ld32(h + GPT_HeaderCrc);
  store<u32>(h + GPT_HeaderCrc, 0);
  const computed = crc32(h, headerSize);
  if (stored != computed) return fail(E_GPT_CRC, GC_HEADER, stored, computed, lba);
  const myLba = <f64>ld64(h + GPT_MyLba);
  if (myLba != lba) return fail(E_GPT_HEADER, GH_MY_LBA, myLba, lba);
  const size = ld32(h + GPT_EntrySize),
    count = ld32(h + GPT_EntryCount);
  if (size < GPT_ENTRY_MIN || (size & (size - 1)) != 0 || size > sectorSize)
    return fail(E_GPT_HEADER, GH_ENTRY_SIZE, size, lba);
  if (count == 0 || count > GPT_ENTRIES_MAX) return fail(E_GPT_HEADER, GH_ENTRY_COUNT, count, lba);
  const entriesLba = <f64>ld64(h + GPT_EntriesLba);
  const arraySectors = Math.ceil((<f64>count * <f64>size) / <f64>sectorSize);
  if (entriesLba < 2 || entriesLba + arraySectors > diskSectors)
    return fail(E_GPT_HEADER, GH_ENTRIES_LBA, entriesLba, lba);
  gpt.lba = lba;
  gpt.entriesLba = entriesLba;
  gpt.arraySectors = arraySectors;
  gpt.count = count;
  gpt.size = size;
  gpt.entriesCrc = ld32(h + GPT_EntriesCrc);
  gpt.firstUsable = <f64>ld64(h + GPT_FirstUsable);
  gpt.lastUsable = <f64>ld64(h + GPT_LastUsable);
  return 0;
}

// Entry i of the array: reads its sector into buf.scratch when it starts one; its address.
function gptEntry(dev: u32, i: u32, sectorSize: u32): usize {
  const perSector = sectorSize / gpt.size;
  if (i % perSector == 0 && readSector(dev, gpt.entriesLba + <f64>(i / perSector)) < 0) return 0;
  return buf.scratch + <usize>((i % perSector) * gpt.size);
}

// The CRC over the whole entry array, read a sector at a time.
function checkGptEntries(dev: u32, sectorSize: u32): i32 {
  let c: u32 = 0xffffffff;
  for (let i: u32 = 0; i < gpt.count; i++) {
    const e = gptEntry(dev, i, sectorSize);
    if (e == 0) return -failure.code;
    c = crc32Update(c, e, gpt.size);
  }
  c ^= 0xffffffff;
  return c == gpt.entriesCrc ? 0 : fail(E_GPT_CRC, GC_ENTRIES, gpt.entriesCrc, c, gpt.lba);
}

// The first sector of [first, last] that holds the table: the protective MBR, either header,
// the entry array in use; -1 when none.
function tableSectorIn(first: f64, last: f64, diskSectors: f64): f64 {
  if (first <= GPT_PRIMARY_LBA) return first;
  const arrayEnd = gpt.entriesLba + gpt.arraySectors - 1;
  if (first <= arrayEnd && gpt.entriesLba <= last) return Math.max(first, gpt.entriesLba);
  return last >= diskSectors - 1 ? diskSectors - 1 : -1;
}

function usableKnown(diskSectors: f64): bool {
  return gpt.firstUsable > GPT_PRIMARY_LBA && gpt.firstUsable <= gpt.lastUsable && gpt.lastUsable < diskSectors;
}

// A GPT entry's extent [first, last] against the disk and the table's own sectors.
function gptProblem(first: f64, last: f64, diskSectors: f64): u32 {
  problemValue = 0;
  if (first == 0) return P_SECTOR_ZERO;
  problemValue = last;
  if (last < first) return P_REVERSED;
  problemValue = diskSectors;
  if (last >= diskSectors) return P_PAST_DISK;
  problemValue = tableSectorIn(first, last, diskSectors);
  if (problemValue >= 0) return P_OVER_TABLE;
  problemValue = 0;
  return usableKnown(diskSectors) && (first < gpt.firstUsable || last > gpt.lastUsable) ? P_OUTSIDE_USABLE : P_NONE;
}

// Every entry in use, in array order (numbered by their index, from 1).
function listGpt(dev: u32, sectorSize: u32, diskSectors: f64): i32 {
  for (let i: u32 = 0; i < gpt.count; i++) {
    const e = gptEntry(dev, i, sectorSize);
    if (e == 0) return -failure.code;
    const g0 = ld64(e + GPTE_TypeGuid),
      g1 = ld64(e + GPTE_TypeGuid + 8);
    if (g0 == 0 && g1 == 0) continue;
    const first = <f64>ld64(e + GPTE_FirstLba),
      last = <f64>ld64(e + GPTE_LastLba);
    const problem = gptProblem(first, last, diskSectors);
    addEntry(i + 1, 0, first, last < first ? 0 : last - first + 1, problem, problemValue, g0, g1);
  }
  return <i32>found;
}
