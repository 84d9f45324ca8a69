// The pure half of fat-reader.ts, apart from its I/O: directory entries decoded into records
// (short 8.3 entries with their long names), cluster chains followed over an entry lookup
// (loops found in constant memory), the FSInfo sector, and the cluster bitmap of a full check.
// Offsets and names as in Microsoft's FAT specification ("FAT: General Overview of On-Disk
// Format": FSInfo section 5, directory entries sections 6 and 7).

// ---- short directory entry (section 6) ----
export const DIR_Name = 0; // 8.3 name (11 bytes), space padded; byte 0 is special
export const DIR_Attr = 11; // attribute byte (u8)
export const DIR_NTRes = 12; // Windows NT case flags (u8): 0x08 base lower case, 0x10 extension lower case
export const DIR_FstClusHI = 20; // first cluster, high 16 bits (u16): FAT32 only
export const DIR_WrtTime = 22; // last write time (u16): hours<<11 | minutes<<5 | seconds/2
export const DIR_WrtDate = 24; // last write date (u16): (year-1980)<<9 | month<<5 | day
export const DIR_FstClusLO = 26; // first cluster, low 16 bits (u16)
export const DIR_FileSize = 28; // size in bytes (u32); 0 for directories
export const DIR_ENTRY_BYTES = 32; // sizeof = 32 (0x20)

// ---- long-name directory entry (section 7) ----
export const LDIR_Ord = 0; // sequence number (u8): 1..20, 0x40 marks the last (first stored) entry
export const LDIR_Name1 = 1; // characters 1-5 (10 bytes, UTF-16LE)
export const LDIR_Attr = 11; // must be ATTR_LONG_NAME (u8)
export const LDIR_Chksum = 13; // checksum of the short name it belongs to (u8)
export const LDIR_Name2 = 14; // characters 6-11 (12 bytes, UTF-16LE)
export const LDIR_Name3 = 28; // characters 12-13 (4 bytes, UTF-16LE)
export const LAST_LONG_ENTRY = 0x40;
const LFN_MAX_ORD = 20; // 13 characters each: 20 x 13 >= 255

// ---- attributes and special first bytes ----
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f; // READ_ONLY | HIDDEN | SYSTEM | VOLUME_ID
export const ATTR_LONG_NAME_MASK = 0x3f;
const NAME_END = 0x00; // this entry and every later one are free
const NAME_DELETED = 0xe5; // this entry is free
const NAME_KANJI_E5 = 0x05; // first character really is 0xE5
const NT_LOWER_BASE = 0x08;
const NT_LOWER_EXT = 0x10;

/** Most entries a directory may hold (the spec caps a directory at 2 MiB). */
export const MAX_DIR_ENTRIES = 65536;

/** One file, directory or dot entry, decoded. */
export interface DirRecord {
  /** Long name if one belongs to it (checksum and sequence valid), else the 8.3 name as mtools shows it. */
  name: string;
  /** "README.TXT": the 8.3 name as stored (upper case). */
  shortName: string;
  attributes: number;
  isDirectory: boolean;
  firstCluster: number;
  size: number;
  modified: Date;
  /** "." or "..". */
  dot: boolean;
  /** Why the stored name is illegal, when it is. */
  nameProblem?: string;
  /** Index of the short entry in the directory (for messages). */
  index: number;
}

// Code page 437, bytes 0x80..0xFF (the OEM code page short names are stored in by default)
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function oemChar(b: number): string {
  return b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
}

/** The checksum a long-name entry carries of its short name (spec section 7.2). */
export function shortNameChecksum(name11: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = ((sum & 1 ? 0x80 : 0) + (sum >> 1) + name11[i]) & 0xff;
  return sum;
}

/** Bytes a short name may not contain (spec section 6.1), besides those below 0x20. */
const SHORT_ILLEGAL = new Set([
  0x22, 0x2a, 0x2b, 0x2c, 0x2e, 0x2f, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x5b, 0x5c, 0x5d, 0x7c, 0x7f,
]);
/** Characters a long name may not contain (spec section 7.1), besides those below 0x20. */
const LONG_ILLEGAL = /["*/:<>?\\|\u0000-\u001f]/;

function hexByte(b: number): string {
  return "0x" + b.toString(16).toUpperCase().padStart(2, "0");
}

/** Why an 11-byte short name is illegal, or undefined. */
export function shortNameProblem(name11: Uint8Array): string | undefined {
  if (name11[0] === 0x20) return "short name starts with a space";
  for (let i = 0; i < 11; i++) {
    const b = name11[i];
    if (i === 0 && b === NAME_KANJI_E5) continue;
    if (b < 0x20 || SHORT_ILLEGAL.has(b)) return `short name has illegal byte ${hexByte(b)} at position ${i}`;
    if (b >= 0x61 && b <= 0x7a) return `short name has lower-case letter '${String.fromCharCode(b)}' at position ${i}`;
  }
  return undefined;
}

/** Why a long name is illegal, or undefined. */
export function longNameProblem(name: string): string | undefined {
  const bad = LONG_ILLEGAL.exec(name);
  if (bad)
    return `long name has illegal character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  if (name === "." || name === "..") return `long name is "${name}"`;
  if (name.length === 0) return "long name is empty";
  return undefined;
}

function trimmed(bytes: Uint8Array, from: number, to: number, lower: boolean): string {
  let end = to;
  while (end > from && bytes[end - 1] === 0x20) end--;
  let s = "";
  for (let i = from; i < end; i++) s += oemChar(i === 0 && bytes[i] === NAME_KANJI_E5 ? NAME_DELETED : bytes[i]);
  return lower ? s.toLowerCase() : s;
}

/** "README.TXT" from the 11 stored bytes; with case flags, as mtools shows it ("readme.txt"). */
export function formatShortName(name11: Uint8Array, ntRes = 0): string {
  const base = trimmed(name11, 0, 8, (ntRes & NT_LOWER_BASE) !== 0);
  const ext = trimmed(name11, 8, 11, (ntRes & NT_LOWER_EXT) !== 0);
  return ext ? `${base}.${ext}` : base;
}

/** DIR_WrtDate/DIR_WrtTime as a UTC date (FAT stores local time without a zone; read as UTC). */
export function fatTimestamp(date: number, time: number): Date {
  const month = Math.max(1, (date >> 5) & 0x0f),
    day = Math.max(1, date & 0x1f);
  return new Date(Date.UTC(1980 + (date >> 9), month - 1, day, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2));
}

/** Long-name entries collected so far, waiting for their short entry. */
interface PendingLongName {
  checksum: number;
  expectOrd: number; // the ordinal the next long entry must have (0: the short entry is next)
  parts: string[]; // parts[ord - 1]
}

/** The characters of the long-name entry at byte `at` of the directory `view`, up to a NUL. */
function longNamePart(view: DataView, at: number): string {
  let s = "";
  const ranges: Array<[number, number]> = [
    [LDIR_Name1, 5],
    [LDIR_Name2, 6],
    [LDIR_Name3, 2],
  ];
  for (const [field, chars] of ranges) {
    for (let k = 0; k < chars; k++) {
      const u = view.getUint16(at + field + 2 * k, true);
      if (u === 0x0000) return s;
      s += String.fromCharCode(u);
    }
  }
  return s;
}

/** Takes one long-name entry into `pending`; returns the new pending state (undefined: orphaned, dropped). */
function takeLongEntry(view: DataView, at: number, pending: PendingLongName | undefined): PendingLongName | undefined {
  const entry = new Uint8Array(view.buffer, view.byteOffset + at, DIR_ENTRY_BYTES);
  const ordByte = entry[LDIR_Ord],
    ord = ordByte & ~LAST_LONG_ENTRY & 0xff,
    checksum = entry[LDIR_Chksum];
  if (ord < 1 || ord > LFN_MAX_ORD) return undefined;
  if (ordByte & LAST_LONG_ENTRY) {
    // starts a new name: whatever was pending is orphaned (as a real driver drops it)
    const fresh: PendingLongName = { checksum, expectOrd: ord - 1, parts: new Array<string>(ord) };
    fresh.parts[ord - 1] = longNamePart(view, at);
    return fresh;
  }
  if (!pending || ord !== pending.expectOrd || checksum !== pending.checksum) return undefined;
  pending.parts[ord - 1] = longNamePart(view, at);
  pending.expectOrd = ord - 1;
  return pending;
}

/**
 * Decodes a directory's bytes (whole entries; a trailing partial entry is ignored). Stops at
 * the end marker (first byte 0x00); skips deleted entries and volume labels; returns "." and
 * ".." flagged `dot`. A long name is used only when its entries are in sequence and carry the
 * short name's checksum; otherwise it is ignored, as a real driver ignores orphaned entries.
 * `fat32`: whether DIR_FstClusHI is part of the cluster number.
 */
export function decodeDirectory(bytes: Uint8Array, fat32: boolean): DirRecord[] {
  const out: DirRecord[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.min(Math.floor(bytes.length / DIR_ENTRY_BYTES), MAX_DIR_ENTRIES);
  let pending: PendingLongName | undefined;
  for (let i = 0; i < count; i++) {
    const at = i * DIR_ENTRY_BYTES;
    const entry = bytes.subarray(at, at + DIR_ENTRY_BYTES);
    const first = entry[DIR_Name],
      attr = entry[DIR_Attr];
    if (first === NAME_END) break;
    if (first === NAME_DELETED) {
      pending = undefined;
      continue;
    }
    if ((attr & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME) {
      pending = takeLongEntry(view, at, pending);
      continue;
    }
    const longName =
      pending && pending.expectOrd === 0 && pending.checksum === shortNameChecksum(entry.subarray(0, 11))
        ? pending.parts.join("")
        : undefined;
    pending = undefined;
    if (attr & ATTR_VOLUME_ID) continue; // the volume label (or a malformed entry a driver skips too)
    out.push(decodeShortEntry(entry, view, at, i, fat32, longName));
  }
  return out;
}

function decodeShortEntry(
  entry: Uint8Array,
  view: DataView,
  at: number,
  index: number,
  fat32: boolean,
  longName: string | undefined,
): DirRecord {
  const name11 = entry.subarray(0, 11),
    attr = entry[DIR_Attr];
  // "." and "..": dots, then spaces
  const dots = name11[0] === 0x2e ? (name11[1] === 0x2e ? 2 : 1) : 0;
  let dot = dots > 0;
  for (let i = dots; dot && i < 11; i++) dot = name11[i] === 0x20;
  const hi = fat32 ? view.getUint16(at + DIR_FstClusHI, true) : 0;
  const shortName = dot ? ".".repeat(dots) : formatShortName(name11);
  const ntRes = entry[DIR_NTRes] & (NT_LOWER_BASE | NT_LOWER_EXT);
  const record: DirRecord = {
    name: dot ? shortName : (longName ?? (ntRes ? formatShortName(name11, ntRes) : shortName)),
    shortName,
    attributes: attr,
    isDirectory: (attr & ATTR_DIRECTORY) !== 0,
    firstCluster: hi * 0x10000 + view.getUint16(at + DIR_FstClusLO, true),
    size: view.getUint32(at + DIR_FileSize, true),
    modified: fatTimestamp(view.getUint16(at + DIR_WrtDate, true), view.getUint16(at + DIR_WrtTime, true)),
    dot,
    index,
  };
  if (!dot) {
    const problem = shortNameProblem(name11) ?? (longName !== undefined ? longNameProblem(longName) : undefined);
    if (problem) record.nameProblem = problem;
  }
  return record;
}

/** Whether a path component names a record: long or short name, case-insensitive. */
export function nameMatches(record: DirRecord, component: string): boolean {
  const want = component.toUpperCase();
  return record.name.toUpperCase() === want || record.shortName.toUpperCase() === want;
}

// ---- cluster chains ----

/** How to follow chains on one volume: FAT copy 0's entry for a cluster, and the value ranges. */
export interface ChainRules {
  next(cluster: number): number;
  /** Highest data cluster (clusterCount + 1). */
  maxCluster: number;
  /** Entries at or above this end a chain (0xFF8, 0xFFF8, 0x0FFFFFF8). */
  eocMin: number;
  /** The bad-cluster mark (0xFF7, 0xFFF7, 0x0FFFFFF7). */
  badMark: number;
  /**
   * Optional, for speed: how many of the clusters c, c + 1, ... (at most max) each have the next
   * one as their entry (a contiguous stretch, every link within the volume), looked up in one
   * tight loop instead of one next() each.
   */
  contiguous?(c: number, max: number): number;
}
export interface ChainFault {
  kind: "loop" | "out-of-range" | "bad-cluster-in-file";
  cluster: number;
  detail: string;
  /** Loops: distinct clusters in the chain. */
  uniqueClusters?: number;
  /** Loops: the cluster that `cluster` points back to, where the chain closes. */
  backTo?: number;
}
export interface ChainTrace {
  clusters: number;
  truncated: boolean;
  fault?: ChainFault;
}
export type RunSink = (start: number, length: number) => void;

/**
 * Follows a chain for at most `limit` clusters, handing `sink` runs of contiguous clusters in
 * chain order (the last one too when a fault ends the chain; after a loop, only the chain's
 * distinct clusters). Loops are found with Brent's method, in constant memory. More clusters
 * than the volume has (limit >= maxCluster - 1) can only be a loop.
 */
export function traceChain(rules: ChainRules, first: number, limit: number, sink: RunSink): ChainTrace {
  const result: ChainTrace = { clusters: 0, truncated: false };
  if (first < 2 || first > rules.maxCluster) {
    result.fault = {
      kind: "out-of-range",
      cluster: first,
      detail: `first cluster ${first} is outside the data clusters 2..${rules.maxCluster}`,
    };
    return result;
  }
  let cluster = first,
    runStart = first,
    runLength = 0,
    tortoise = first,
    power = 1,
    steps = 0,
    sunk = 0;
  const emit = (length: number) => {
    if (length > 0) {
      sink(runStart, length);
      sunk += length;
    }
  };
  for (;;) {
    result.clusters++;
    if (cluster === runStart + runLength) runLength++;
    else {
      emit(runLength);
      runStart = cluster;
      runLength = 1;
    }
    const next = rules.next(cluster);
    if (next >= rules.eocMin) break;
    result.fault = badLink(rules, cluster, next);
    if (result.fault) break;
    if (next === tortoise || (result.clusters >= limit && limit >= rules.maxCluster - 1)) {
      result.fault = describeLoop(rules, first);
      emit(Math.min(runLength, (result.fault.uniqueClusters ?? 0) - sunk)); // the runs so far may already repeat some
      return result;
    }
    if (result.clusters >= limit) {
      result.truncated = true;
      break;
    }
    if (++steps === power) {
      tortoise = next;
      power *= 2;
      steps = 0;
    }
    cluster = next;
    if (rules.contiguous && cluster === runStart + runLength) {
      // a contiguous stretch, counted at once: the walk lands on its last cluster, which the loop
      // then takes as usual. Brent's bookkeeping moves exactly as the one-step loop would move it
      // (so a loop is found at the same step); never past the tortoise (the loop check must meet
      // it) nor to the limit (the loop takes the last cluster before it).
      let k = rules.contiguous(cluster, limit - result.clusters - 1);
      if (tortoise > cluster && tortoise <= cluster + k) k = tortoise - cluster - 1;
      result.clusters += k;
      runLength += k;
      while (k > 0) {
        const toTeleport = power - steps;
        if (toTeleport > k) {
          steps += k;
          cluster += k;
          break;
        }
        cluster += toTeleport;
        k -= toTeleport;
        tortoise = cluster;
        power *= 2;
        steps = 0;
      }
    }
  }
  emit(runLength);
  return result;
}

/** Why `next`, the entry of a cluster in a chain, cannot continue it; or undefined. */
function badLink(rules: ChainRules, cluster: number, next: number): ChainFault | undefined {
  if (next === rules.badMark)
    return { kind: "bad-cluster-in-file", cluster, detail: `cluster ${cluster} is in a chain but marked bad` };
  if (next === 0) return { kind: "out-of-range", cluster, detail: `cluster ${cluster} is in a chain but marked free` };
  if (next < 2 || next > rules.maxCluster) {
    return {
      kind: "out-of-range",
      cluster,
      detail: `cluster ${cluster} points to ${next}, outside the data clusters 2..${rules.maxCluster}`,
    };
  }
  return undefined;
}

/** A chain known to loop: where it closes. Brent's method for the cycle length, then two pointers for its start. */
function describeLoop(rules: ChainRules, first: number): ChainFault {
  let tortoise = first,
    hare = rules.next(first),
    power = 1,
    cycle = 1;
  while (tortoise !== hare) {
    if (power === cycle) {
      tortoise = hare;
      power *= 2;
      cycle = 0;
    }
    hare = rules.next(hare);
    cycle++;
  }
  let behind = first,
    ahead = first,
    beforeAhead = first,
    lead = 0;
  for (let i = 0; i < cycle; i++) {
    beforeAhead = ahead;
    ahead = rules.next(ahead);
  }
  while (behind !== ahead) {
    behind = rules.next(behind);
    beforeAhead = ahead;
    ahead = rules.next(ahead);
    lead++;
  }
  return {
    kind: "loop",
    cluster: beforeAhead,
    uniqueClusters: lead + cycle,
    backTo: behind,
    detail: `chain from cluster ${first} loops: cluster ${beforeAhead} points back to cluster ${behind} (${lead + cycle} distinct clusters)`,
  };
}

/** One bit per FAT entry. Its size is bounded by the volume (2^28 clusters: 32 MiB), which a full check accepts. */
export class ClusterBitmap {
  private readonly bits: Uint8Array;
  constructor(entryCount: number) {
    this.bits = new Uint8Array(Math.ceil(entryCount / 8));
  }
  has(cluster: number): boolean {
    return (this.bits[cluster >>> 3] & (1 << (cluster & 7))) !== 0;
  }
  /** The bytes holding bits first .. first + count - 1 (first a multiple of 8): bit i of them is cluster first + i. */
  window(first: number, count: number): Uint8Array {
    if (first % 8 !== 0) throw new RangeError(`a bitmap window starts at a multiple of 8, not ${first}`);
    return this.bits.subarray(first >>> 3, (first + count + 7) >>> 3);
  }
  /** Sets the bit; returns whether it was set before. */
  testAndSet(cluster: number): boolean {
    const was = this.has(cluster);
    this.bits[cluster >>> 3] |= 1 << (cluster & 7);
    return was;
  }
}

// ---- FSInfo sector (FAT32; spec section 5) ----
export const FSI_LeadSig = 0; // 0x41615252 (u32)
export const FSI_StrucSig = 484; // 0x61417272 (u32)
export const FSI_Free_Count = 488; // free clusters (u32), 0xFFFFFFFF unknown
export const FSI_Nxt_Free = 492; // where to look for a free cluster (u32), 0xFFFFFFFF unknown
export const FSI_TrailSig = 508; // 0xAA550000 (u32)
export const FSI_UNKNOWN = 0xffffffff;

export const FSI_LEAD = 0x41615252;
export const FSI_STRUC = 0x61417272;
export const FSI_TRAIL = 0xaa550000;

/** An FSInfo sector's fields as stored, signatures included, whatever they hold. */
export interface FsInfoFields {
  lead: number;
  struc: number;
  trail: number;
  freeCount: number;
  nextFree: number;
}

export function fsInfoFields(sector: Uint8Array): FsInfoFields {
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  return {
    lead: view.getUint32(FSI_LeadSig, true),
    struc: view.getUint32(FSI_StrucSig, true),
    trail: view.getUint32(FSI_TrailSig, true),
    freeCount: view.getUint32(FSI_Free_Count, true),
    nextFree: view.getUint32(FSI_Nxt_Free, true),
  };
}

/** The FSInfo fields (undefined where "unknown"), or undefined when a signature is wrong. */
export function decodeFsInfo(sector: Uint8Array): { freeCount?: number; nextFree?: number } | undefined {
  const f = fsInfoFields(sector);
  if (f.lead !== FSI_LEAD || f.struc !== FSI_STRUC || f.trail !== FSI_TRAIL) return undefined;
  return {
    freeCount: f.freeCount === FSI_UNKNOWN ? undefined : f.freeCount,
    nextFree: f.nextFree === FSI_UNKNOWN ? undefined : f.nextFree,
  };
}
