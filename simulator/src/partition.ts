// The simulator's partitioner: writes an MBR (primaries, and logical partitions in an
// extended partition's EBR chain, numbered from 5 as Linux does) or a GPT (protective MBR,
// primary header and entries at LBA 1, backup entries and header at the end of the disk).
// Placement is pure (placeMbr/placeGpt); writePartitionTable encodes and writes it.

import { crc32 } from "../../firmware-module/src/ops/bytes";
import { ClusterbackError } from "../../firmware-module/src/ops/errors";
import { BlockDevice } from "../../host-shim/src/native/devices";
import { splitmix32 } from "./content";

export interface PartitionSpec {
  sectorCount: number;
  /** MBR partition type byte (0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, ...); unused on GPT. */
  mbrType: number;
  /** GPT partition type GUID; default basic data (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7). */
  gptType?: string;
  /** GPT partition name (at most 36 UTF-16 code units). */
  name?: string;
}

export interface PlacedPartition {
  number: number;
  startLba: number;
  sectorCount: number;
}

export interface PartitionTableOptions {
  /** Partition starts are aligned to this many bytes (default 1 MiB). */
  alignBytes?: number;
  /** Seeds the disk signature (MBR) and disk/partition GUIDs (GPT). */
  seed?: number;
}

/** The partitions do not fit the disk, or a spec is invalid. */
export class PartitionLayoutError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "PartitionLayoutError";
  }
}

export const GPT_BASIC_DATA = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

// MBR and EBR (sizeof = 512 in a sector of any size; signature 0x55 0xAA at 510)
const MBR_DiskSignature = 440; // disk signature (u32)
const MBR_PartTable = 446; // 4 entries of 16 bytes
const PTE_Status = 0; // 0x80 bootable, 0x00 not (u8)
const PTE_ChsFirst = 1; // CHS of the first sector (3 bytes)
const PTE_Type = 4; // partition type (u8)
const PTE_ChsLast = 5; // CHS of the last sector (3 bytes)
const PTE_StartLba = 8; // first sector, relative as the table says (u32)
const PTE_SizeLba = 12; // sector count (u32)
const PTE_Size = 16;
const MBR_Signature = 510; // 0xAA55 (u16)
const TYPE_EXTENDED_LBA = 0x0f;
const TYPE_EXTENDED_CHS = 0x05; // the link entry of an EBR
const TYPE_GPT_PROTECTIVE = 0xee;
const MAX_U32 = 0xffffffff;

// GPT header (UEFI spec 5.3.2; sizeof = 92, rest of the sector zero)
const GPT_Signature = 0; // "EFI PART" (8 bytes)
const GPT_Revision = 8; // 0x00010000 (u32)
const GPT_HeaderSize = 12; // 92 (u32)
const GPT_HeaderCrc32 = 16; // CRC32 of the header with this field zero (u32)
const GPT_MyLba = 24; // LBA of this header (u64)
const GPT_AlternateLba = 32; // LBA of the other header (u64)
const GPT_FirstUsableLba = 40; // u64
const GPT_LastUsableLba = 48; // u64, inclusive
const GPT_DiskGuid = 56; // 16 bytes
const GPT_EntriesLba = 72; // u64
const GPT_EntryCount = 80; // u32
const GPT_EntrySize = 84; // u32
const GPT_EntriesCrc32 = 88; // u32
const GPT_HEADER_BYTES = 92;
// GPT partition entry (UEFI spec 5.3.3; sizeof = 128)
const GPTE_TypeGuid = 0; // 16 bytes
const GPTE_UniqueGuid = 16; // 16 bytes
const GPTE_FirstLba = 32; // u64
const GPTE_LastLba = 40; // u64, inclusive
const GPTE_Name = 56; // 36 UTF-16LE code units
const GPT_ENTRY_COUNT = 128;
const GPT_ENTRY_BYTES = 128;

/** GUID text to its on-disk bytes (first three fields little-endian, the rest as written). */
export function guidBytes(text: string): Uint8Array {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text);
  if (!m) throw new PartitionLayoutError(`GPT type "${text}" is not a GUID like ${GPT_BASIC_DATA}`);
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, parseInt(m[1], 16), true);
  dv.setUint16(4, parseInt(m[2], 16), true);
  dv.setUint16(6, parseInt(m[3], 16), true);
  const tail = m[4] + m[5];
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(tail.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A version-4 style GUID from the PRNG (deterministic for a seed). */
function randomGuid(next: () => number): Uint8Array {
  const out = new Uint8Array(16);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) dv.setUint32(4 * i, next(), true);
  out[7] = (out[7] & 0x0f) | 0x40; // version 4 (the high nibble of the third field, stored LE)
  out[8] = (out[8] & 0x3f) | 0x80; // variant 10
  return out;
}

function alignUp(lba: number, align: number): number {
  return Math.ceil(lba / align) * align;
}

function alignSectors(disk: BlockDevice, alignBytes: number): number {
  if (
    !Number.isInteger(alignBytes) ||
    alignBytes < 0 ||
    (alignBytes >= disk.sectorSize && alignBytes % disk.sectorSize !== 0)
  ) {
    throw new PartitionLayoutError(`alignBytes ${alignBytes} is not a whole number of ${disk.sectorSize}-byte sectors`);
  }
  return Math.max(1, alignBytes / disk.sectorSize);
}

function checkSpec(p: PartitionSpec, index: number, scheme: "mbr" | "gpt"): void {
  if (!Number.isSafeInteger(p.sectorCount) || p.sectorCount < 1) {
    throw new PartitionLayoutError(
      `partition spec ${index}: sectorCount ${p.sectorCount} is not a whole number from 1 up`,
    );
  }
  if (scheme === "gpt") {
    guidBytes(p.gptType ?? GPT_BASIC_DATA); // throws on a malformed GUID
    if ((p.name ?? "").length > 36)
      throw new PartitionLayoutError(
        `partition spec ${index}: GPT name "${p.name}" has ${p.name!.length} characters, at most 36 fit`,
      );
    return;
  }
  const extended = p.mbrType === 0x05 || p.mbrType === 0x0f || p.mbrType === 0x85;
  if (
    !Number.isInteger(p.mbrType) ||
    p.mbrType < 1 ||
    p.mbrType > 255 ||
    extended ||
    p.mbrType === TYPE_GPT_PROTECTIVE
  ) {
    throw new PartitionLayoutError(
      `partition spec ${index}: MBR type ${p.mbrType} is not a data partition type (1..255, not 0x05, 0x0F, 0x85 or 0xEE)`,
    );
  }
}

function fitError(
  disk: BlockDevice,
  index: number,
  start: number,
  count: number,
  lastUsable: number,
): PartitionLayoutError {
  return new PartitionLayoutError(
    `partition spec ${index} (${count} sectors from LBA ${start}) ends at LBA ${start + count - 1}, ` +
      `past the last usable LBA ${lastUsable} of ${disk.name} (${disk.sectorCount} sectors of ${disk.sectorSize} bytes)`,
  );
}

interface MbrPlan {
  primaries: { number: number; type: number; start: number; count: number }[];
  extended?: { start: number; count: number };
  logicals: { number: number; type: number; ebr: number; start: number; count: number }[];
}

/** Where each partition goes on an MBR disk: 1-4 primary, or 1-3 primary + extended 4 + logicals 5... */
export function placeMbr(disk: BlockDevice, parts: PartitionSpec[], align: number): MbrPlan {
  const lastUsable = Math.min(disk.sectorCount, MAX_U32) - 1;
  const primaryCount = parts.length > 4 ? 3 : parts.length;
  const plan: MbrPlan = { primaries: [], logicals: [] };
  let cursor = 1;
  parts.forEach((p, i) => {
    checkSpec(p, i, "mbr");
    if (i < primaryCount) {
      const start = alignUp(cursor, align);
      if (start + p.sectorCount - 1 > lastUsable) throw fitError(disk, i, start, p.sectorCount, lastUsable);
      plan.primaries.push({ number: i + 1, type: p.mbrType, start, count: p.sectorCount });
      cursor = start + p.sectorCount;
      return;
    }
    const ebr = alignUp(cursor, align);
    const start = alignUp(ebr + 1, align);
    if (start + p.sectorCount - 1 > lastUsable) throw fitError(disk, i, start, p.sectorCount, lastUsable);
    plan.logicals.push({ number: 5 + i - primaryCount, type: p.mbrType, ebr, start, count: p.sectorCount });
    cursor = start + p.sectorCount;
  });
  if (plan.logicals.length > 0) {
    const first = plan.logicals[0].ebr;
    plan.extended = { start: first, count: cursor - first };
  }
  return plan;
}

/** CHS of an LBA with 255 heads and 63 sectors per track (1023/254/63 past the CHS limit). */
function chsBytes(lba: number): [number, number, number] {
  const cylinder = Math.floor(lba / (255 * 63));
  if (cylinder > 1023) return [254, 0xff, 0xff];
  const head = Math.floor(lba / 63) % 255,
    sector = (lba % 63) + 1;
  return [head, sector | ((cylinder >> 2) & 0xc0), cylinder & 0xff];
}

function putEntry(
  sector: Uint8Array,
  slot: number,
  type: number,
  relStart: number,
  count: number,
  absStart: number,
): void {
  const at = MBR_PartTable + slot * PTE_Size;
  const dv = new DataView(sector.buffer, sector.byteOffset);
  sector[at + PTE_Status] = 0;
  sector.set(chsBytes(absStart), at + PTE_ChsFirst);
  sector[at + PTE_Type] = type;
  sector.set(chsBytes(absStart + count - 1), at + PTE_ChsLast);
  dv.setUint32(at + PTE_StartLba, relStart, true);
  dv.setUint32(at + PTE_SizeLba, count, true);
}

function emptyTableSector(disk: BlockDevice): Uint8Array {
  const sector = new Uint8Array(disk.sectorSize);
  new DataView(sector.buffer).setUint16(MBR_Signature, 0xaa55, true);
  return sector;
}

function writeMbr(disk: BlockDevice, plan: MbrPlan, diskSignature: number): void {
  const mbr = emptyTableSector(disk);
  new DataView(mbr.buffer).setUint32(MBR_DiskSignature, diskSignature, true);
  plan.primaries.forEach((p, slot) => putEntry(mbr, slot, p.type, p.start, p.count, p.start));
  if (plan.extended) putEntry(mbr, 3, TYPE_EXTENDED_LBA, plan.extended.start, plan.extended.count, plan.extended.start);
  disk.write(0, 1, mbr, 0);
  const extStart = plan.extended?.start ?? 0;
  plan.logicals.forEach((l, i) => {
    const ebr = emptyTableSector(disk);
    putEntry(ebr, 0, l.type, l.start - l.ebr, l.count, l.start);
    const next = plan.logicals[i + 1];
    if (next) putEntry(ebr, 1, TYPE_EXTENDED_CHS, next.ebr - extStart, next.start + next.count - next.ebr, next.ebr);
    disk.write(l.ebr, 1, ebr, 0);
  });
}

interface GptGeometry {
  entrySectors: number;
  firstUsable: number;
  lastUsable: number;
  lastLba: number;
}

function gptGeometry(disk: BlockDevice): GptGeometry {
  const entrySectors = Math.ceil((GPT_ENTRY_COUNT * GPT_ENTRY_BYTES) / disk.sectorSize);
  const lastLba = disk.sectorCount - 1;
  const geo = { entrySectors, firstUsable: 2 + entrySectors, lastUsable: lastLba - entrySectors - 1, lastLba };
  if (geo.lastUsable < geo.firstUsable) {
    throw new PartitionLayoutError(
      `${disk.name} (${disk.sectorCount} sectors) is too small for a GPT (${2 * (entrySectors + 1) + 1} sectors at least)`,
    );
  }
  return geo;
}

/** Where each GPT partition goes, numbered 1.. in the order given. */
export function placeGpt(disk: BlockDevice, parts: PartitionSpec[], align: number): PlacedPartition[] {
  const geo = gptGeometry(disk);
  if (parts.length > GPT_ENTRY_COUNT)
    throw new PartitionLayoutError(`${parts.length} partitions do not fit the ${GPT_ENTRY_COUNT} GPT entries`);
  let cursor = geo.firstUsable;
  return parts.map((p, i) => {
    checkSpec(p, i, "gpt");
    const start = alignUp(cursor, align);
    if (start + p.sectorCount - 1 > geo.lastUsable) throw fitError(disk, i, start, p.sectorCount, geo.lastUsable);
    cursor = start + p.sectorCount;
    return { number: i + 1, startLba: start, sectorCount: p.sectorCount };
  });
}

function gptEntries(parts: PartitionSpec[], placed: PlacedPartition[], next: () => number): Uint8Array {
  const out = new Uint8Array(GPT_ENTRY_COUNT * GPT_ENTRY_BYTES);
  const dv = new DataView(out.buffer);
  placed.forEach((p, i) => {
    const at = i * GPT_ENTRY_BYTES;
    out.set(guidBytes(parts[i].gptType ?? GPT_BASIC_DATA), at + GPTE_TypeGuid);
    out.set(randomGuid(next), at + GPTE_UniqueGuid);
    dv.setBigUint64(at + GPTE_FirstLba, BigInt(p.startLba), true);
    dv.setBigUint64(at + GPTE_LastLba, BigInt(p.startLba + p.sectorCount - 1), true);
    const name = parts[i].name ?? "";
    for (let k = 0; k < name.length; k++) dv.setUint16(at + GPTE_Name + 2 * k, name.charCodeAt(k), true);
  });
  return out;
}

function gptHeader(
  disk: BlockDevice,
  geo: GptGeometry,
  diskGuid: Uint8Array,
  entriesCrc: number,
  backup: boolean,
): Uint8Array {
  const h = new Uint8Array(disk.sectorSize);
  const dv = new DataView(h.buffer);
  h.set(new TextEncoder().encode("EFI PART"), GPT_Signature);
  dv.setUint32(GPT_Revision, 0x00010000, true);
  dv.setUint32(GPT_HeaderSize, GPT_HEADER_BYTES, true);
  dv.setBigUint64(GPT_MyLba, BigInt(backup ? geo.lastLba : 1), true);
  dv.setBigUint64(GPT_AlternateLba, BigInt(backup ? 1 : geo.lastLba), true);
  dv.setBigUint64(GPT_FirstUsableLba, BigInt(geo.firstUsable), true);
  dv.setBigUint64(GPT_LastUsableLba, BigInt(geo.lastUsable), true);
  h.set(diskGuid, GPT_DiskGuid);
  dv.setBigUint64(GPT_EntriesLba, BigInt(backup ? geo.lastUsable + 1 : 2), true);
  dv.setUint32(GPT_EntryCount, GPT_ENTRY_COUNT, true);
  dv.setUint32(GPT_EntrySize, GPT_ENTRY_BYTES, true);
  dv.setUint32(GPT_EntriesCrc32, entriesCrc, true);
  dv.setUint32(GPT_HeaderCrc32, crc32(h.subarray(0, GPT_HEADER_BYTES)), true);
  return h;
}

function writeGpt(disk: BlockDevice, parts: PartitionSpec[], placed: PlacedPartition[], seed: number): void {
  const geo = gptGeometry(disk);
  const next = splitmix32(seed);
  const diskGuid = randomGuid(next);
  const entries = gptEntries(parts, placed, next);
  const padded = new Uint8Array(geo.entrySectors * disk.sectorSize);
  padded.set(entries);
  const entriesCrc = crc32(entries);
  const mbr = emptyTableSector(disk);
  putEntry(mbr, 0, TYPE_GPT_PROTECTIVE, 1, Math.min(disk.sectorCount - 1, MAX_U32), 1);
  disk.write(0, 1, mbr, 0);
  disk.write(1, 1, gptHeader(disk, geo, diskGuid, entriesCrc, false), 0);
  disk.write(2, geo.entrySectors, padded, 0);
  disk.write(geo.lastUsable + 1, geo.entrySectors, padded, 0);
  disk.write(geo.lastLba, 1, gptHeader(disk, geo, diskGuid, entriesCrc, true), 0);
}

/** Zeroes the sectors between the table and the first partition (stale tables, boot code). */
function clearGap(disk: BlockDevice, firstLba: number, endLba: number): void {
  if (endLba > firstLba)
    disk.write(firstLba, endLba - firstLba, new Uint8Array((endLba - firstLba) * disk.sectorSize), 0);
}

/**
 * Writes a partition table for `parts`, placed in order from the start of the disk, each
 * start aligned to alignBytes. Returns where each partition went, with its number as Linux
 * numbers it (MBR with more than 4: 1-3 primary, 4 the extended partition, 5.. logical).
 */
export function writePartitionTable(
  disk: BlockDevice,
  scheme: "mbr" | "gpt",
  parts: PartitionSpec[],
  options: PartitionTableOptions = {},
): PlacedPartition[] {
  if (scheme !== "mbr" && scheme !== "gpt")
    throw new PartitionLayoutError(`partition table scheme "${scheme}" is not "mbr" or "gpt"`);
  const align = alignSectors(disk, options.alignBytes ?? 1 << 20);
  const seed = options.seed ?? 0;
  if (scheme === "gpt") {
    const placed = placeGpt(disk, parts, align);
    clearGap(disk, 2 + gptGeometry(disk).entrySectors, placed[0]?.startLba ?? 0);
    writeGpt(disk, parts, placed, seed);
    return placed;
  }
  if (disk.sectorCount < 2)
    throw new PartitionLayoutError(`${disk.name} has ${disk.sectorCount} sectors: too small for a partition table`);
  const plan = placeMbr(disk, parts, align);
  clearGap(disk, 1, plan.primaries[0]?.start ?? plan.extended?.start ?? 0);
  writeMbr(disk, plan, splitmix32(seed ^ 0x4d425231)());
  const placed = [...plan.primaries, ...plan.logicals].map((p) => ({
    number: p.number,
    startLba: p.start,
    sectorCount: p.count,
  }));
  return placed;
}
