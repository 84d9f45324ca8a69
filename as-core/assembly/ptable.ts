// Partition tables: MBR (primary entries, logical partitions in an extended partition's EBR
// chain) and GPT (protective MBR, primary header at LBA 1). Results go to the result area:
//   slot 0 = scheme (1 MBR, 2 GPT), slot 1 = partition count,
//   entry i at slot 8 + 8*i: number (1-based, as the table numbers it), type byte (MBR),
//   start LBA, sector count, and (GPT) the type GUID's bytes in slots +4..+5 as two u64 halves.
import { ld8, ld16, ld32, ld64 } from "./io";
import { readSectors } from "./patch";
import { fail, E_DEVICE, E_MBR_SIGNATURE, E_PART_RANGE, E_EBR_CHAIN, E_GPT_HEADER, E_GPT_CRC } from "./errors";
import { buf, setResult, clearResults } from "./mem";
import { crc32, crc32Update } from "./hash";

// MBR layout (sizeof = 512; signature 0x55 0xAA at 510)
const MBR_PartTable: usize = 446; // 4 entries of 16 bytes
const PTE_Type: usize = 4;        // partition type (u8)
const PTE_StartLba: usize = 8;    // first sector (u32)
const PTE_SizeLba: usize = 12;    // sector count (u32)
const MBR_Signature: usize = 510; // 0xAA55 (u16)

// GPT header layout (UEFI spec 5.3.2)
const GPT_Signature: usize = 0;     // "EFI PART" (u64)
const GPT_HeaderSize: usize = 12;   // u32, 92..sector size
const GPT_HeaderCrc: usize = 16;    // u32, CRC32 of the header with this field zero
const GPT_EntriesLba: usize = 72;   // u64
const GPT_EntryCount: usize = 80;   // u32
const GPT_EntrySize: usize = 84;    // u32, 128 * 2^n
const GPT_EntriesCrc: usize = 88;   // u32
const GPTE_TypeGuid: usize = 0;     // 16 bytes
const GPTE_FirstLba: usize = 32;    // u64
const GPTE_LastLba: usize = 40;     // u64, inclusive

const MAX_PARTITIONS: u32 = 60;     // result slots: 8 + 8 * 60 < 512
const MAX_LOGICAL: u32 = 128;

function isExtended(t: u32): bool { return t == 0x05 || t == 0x0F || t == 0x85; }

function readSector(dev: u32, lba: f64): i32 {
  const r = readSectors(dev, lba, 1, buf.scratch);
  return r < 0 ? fail(E_DEVICE, r, dev, lba, 1) : 0;
}

let found: u32 = 0;

function addEntry(number: u32, type: u32, start: f64, size: f64, diskSectors: f64, g0: u64, g1: u64): i32 {
  if (start + size > diskSectors || start == 0) return fail(E_PART_RANGE, number, start, size, diskSectors);
  if (found >= MAX_PARTITIONS) return 0;
  const s: u32 = 8 + found * 8;
  setResult(s, number); setResult(s + 1, type); setResult(s + 2, start); setResult(s + 3, size);
  // GUID halves go in as raw bits so the host can read them as two u64
  store<u64>(buf.result + (<usize>(s + 4) << 3), g0);
  store<u64>(buf.result + (<usize>(s + 5) << 3), g1);
  found++;
  setResult(1, found);
  return 0;
}

// Scans the table of a whole disk. Returns the partition count, or a negative code.
export function scanPartitions(dev: u32, sectorSize: u32, diskSectors: f64): i32 {
  clearResults();
  found = 0;
  let r = readSector(dev, 0);
  if (r < 0) return r;
  const sig = ld16(buf.scratch + MBR_Signature);
  if (sig != 0xAA55) return fail(E_MBR_SIGNATURE, sig);
  for (let i: u32 = 0; i < 4; i++) {
    if (ld8(buf.scratch + MBR_PartTable + i * 16 + PTE_Type) == 0xEE) return scanGpt(dev, sectorSize, diskSectors);
  }
  setResult(0, 1);
  let extStart: f64 = 0, extSize: f64 = 0;
  for (let i: u32 = 0; i < 4; i++) {
    const e = buf.scratch + MBR_PartTable + i * 16;
    const type = ld8(e + PTE_Type);
    if (type == 0) continue;
    const start = <f64>ld32(e + PTE_StartLba), size = <f64>ld32(e + PTE_SizeLba);
    if (isExtended(type)) {
      if (start == 0 || start + size > diskSectors) return fail(E_PART_RANGE, i + 1, start, size, diskSectors);
      extStart = start; extSize = size;
      continue;
    }
    r = addEntry(i + 1, type, start, size, diskSectors, 0, 0);
    if (r < 0) return r;
  }
  if (extStart > 0) {
    r = scanLogical(dev, extStart, extSize, diskSectors);
    if (r < 0) return r;
  }
  return <i32>found;
}

// Logical partitions: each EBR holds the partition (relative to this EBR) and a link to the
// next EBR (relative to the extended partition's start). Numbered from 5.
function scanLogical(dev: u32, extStart: f64, extSize: f64, diskSectors: f64): i32 {
  let ebr = extStart;
  for (let n: u32 = 0; n < MAX_LOGICAL; n++) {
    if (ebr < extStart || ebr >= extStart + extSize) return fail(E_EBR_CHAIN, ebr, extStart, extSize);
    const r = readSector(dev, ebr);
    if (r < 0) return r;
    const sig = ld16(buf.scratch + MBR_Signature);
    if (sig != 0xAA55) return fail(E_EBR_CHAIN, ebr, sig);
    const e0 = buf.scratch + MBR_PartTable, e1 = e0 + 16;
    const type = ld8(e0 + PTE_Type);
    const nextType = ld8(e1 + PTE_Type), nextRel = <f64>ld32(e1 + PTE_StartLba);
    if (type != 0) {
      const start = ebr + <f64>ld32(e0 + PTE_StartLba), size = <f64>ld32(e0 + PTE_SizeLba);
      if (start + size > extStart + extSize) return fail(E_PART_RANGE, 5 + n, start, size, extStart + extSize);
      const a = addEntry(5 + n, type, start, size, diskSectors, 0, 0);
      if (a < 0) return a;
    }
    if (nextType == 0 || nextRel == 0) return 0;
    const next = extStart + nextRel;
    if (next <= ebr) return fail(E_EBR_CHAIN, next, extStart, extSize);
    ebr = next;
  }
  return fail(E_EBR_CHAIN, ebr, extStart, extSize);
}

function scanGpt(dev: u32, sectorSize: u32, diskSectors: f64): i32 {
  setResult(0, 2);
  let r = readSector(dev, 1);
  if (r < 0) return r;
  const h = buf.scratch;
  if (ld64(h + GPT_Signature) != 0x5452415020494645) return fail(E_GPT_HEADER, 1, <f64>ld32(h));
  const headerSize = ld32(h + GPT_HeaderSize);
  if (headerSize < 92 || headerSize > sectorSize) return fail(E_GPT_HEADER, 2, headerSize);
  const stored = ld32(h + GPT_HeaderCrc);
  store<u32>(h + GPT_HeaderCrc, 0);
  const computed = crc32(h, headerSize);
  if (stored != computed) return fail(E_GPT_CRC, 1, stored, computed);
  const entriesLba = <f64>ld64(h + GPT_EntriesLba);
  const count = ld32(h + GPT_EntryCount), size = ld32(h + GPT_EntrySize);
  const entriesCrc = ld32(h + GPT_EntriesCrc);
  if (size < 128 || (size & (size - 1)) != 0 || size > sectorSize) return fail(E_GPT_HEADER, 3, size);
  if (count == 0 || count > 1024) return fail(E_GPT_HEADER, 4, count);
  const arraySectors = (<f64>count * size + sectorSize - 1) / sectorSize;
  if (entriesLba < 2 || entriesLba + Math.floor(arraySectors) > diskSectors) return fail(E_GPT_HEADER, 5, entriesLba);
  // CRC over the whole entry array, read a sector at a time into the scratch buffer
  let c: u32 = 0xFFFFFFFF;
  const perSector = sectorSize / size;
  for (let i: u32 = 0; i < count; i++) {
    if (i % perSector == 0) {
      r = readSector(dev, entriesLba + <f64>(i / perSector));
      if (r < 0) return r;
    }
    const e = buf.scratch + (i % perSector) * size;
    c = crc32Update(c, e, size);
    const g0 = ld64(e + GPTE_TypeGuid), g1 = ld64(e + GPTE_TypeGuid + 8);
    if (g0 == 0 && g1 == 0) continue;
    const first = <f64>ld64(e + GPTE_FirstLba), last = <f64>ld64(e + GPTE_LastLba);
    if (last < first) return fail(E_PART_RANGE, i + 1, first, last - first + 1, diskSectors);
    r = addEntry(i + 1, 0, first, last - first + 1, diskSectors, g0, g1);
    if (r < 0) return r;
  }
  c ^= 0xFFFFFFFF;
  if (c != entriesCrc) return fail(E_GPT_CRC, 2, entriesCrc, c);
  return <i32>found;
}

