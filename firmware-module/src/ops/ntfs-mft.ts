// NTFS on the host side: walks the MFT to find the files an image leaves out (docs/image-format.md
// section 11.1): pagefile.sys, swapfile.sys and hiberfil.sys in the root directory, and the files
// that `--exclude` patterns (or a profile's exclude list) name anywhere in the tree. Their
// clusters stay allocated in $Bitmap and in their MFT records (the restored volume is the same
// consistent volume, ntfsfix and chkdsk agree), but are not stored and not written: kind-2
// source patches leave them out of the bitmap. hiberfil.sys's first cluster is the exception:
// it is stored as zeros (a kind-0 patch), so that no stale hibernation image is ever resumed.
//
// Everything read from the disk is checked before it is used: an offset or a length that
// reaches outside its record, its attribute or the volume is an NtfsError naming the record and
// the values, never a RangeError.

import { PATCH_MAX, PatchKind } from "./abi";
import { fromUtf16le, latin1 } from "./bytes";
import { BlockDevice, readBytes } from "./devices";
import { ClusterbackError } from "./errors";
import { ExclusionError, matcher, Patch } from "./exclusions";

export class NtfsError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "NtfsError";
  }
}

export const NTFS_LEFT_OUT = ["pagefile.sys", "swapfile.sys", "hiberfil.sys"];

export interface Run {
  vcn: number;
  lcn: number;
  length: number;
}
export interface NtfsGeometry {
  bytesPerSector: number;
  clusterBytes: number;
  mftLcn: number;
  recordBytes: number;
  clusterCount: number;
}

// MFT record header (FILE_RECORD_SEGMENT_HEADER)
const REC_MAGIC = 0x454c4946; // "FILE"
const REC_UsaOffset = 4; // u16
const REC_UsaCount = 6; // u16
const REC_FirstAttribute = 20; // u16
const REC_Flags = 22; // u16, bit 0: in use
const REC_BytesInUse = 24; // u32
const REC_BaseRecord = 32; // u64, 0 in a base record
const REC_HEADER_MIN = 24; // an attribute starts after this
const USA_STRIDE = 512; // the update sequence covers the last u16 of every 512 bytes
// attribute header
const ATTR_Length = 4; // u32
const ATTR_NonResident = 8; // u8
const ATTR_NameLength = 9; // u8, UTF-16 units
const ATTR_NameOffset = 10; // u16
const ATTR_ValueLength = 16; // u32 (resident)
const ATTR_ValueOffset = 20; // u16 (resident)
const ATTR_LowestVcn = 16; // u64 (non-resident)
const ATTR_RunsOffset = 32; // u16 (non-resident)
const ATTR_DataSize = 48; // u64 (non-resident)
const ATTR_RESIDENT_MIN = 24; // bytes of a resident attribute's header
const ATTR_NONRESIDENT_MIN = 64; // ... of a non-resident one, through its initialized size
const ATTR_END = 0xffffffff;
const ATTRS_MAX = 256;
const TYPE_ATTRIBUTE_LIST = 0x20;
const TYPE_FILE_NAME = 0x30;
const TYPE_DATA = 0x80;
// $FILE_NAME value
const FN_Parent = 0; // u64, file reference of the parent directory
const FN_NameLength = 64; // u8, UTF-16 units
const FN_Namespace = 65; // u8: 0 POSIX, 1 Win32, 2 DOS (the short name), 3 Win32 and DOS in one
const FN_Name = 66;
const NS_DOS = 2;
const REC_FLAG_DIRECTORY = 2; // REC_Flags bit 1: the record is a directory's
const EXTEND_DIRECTORY = 11; // $Extend: its files ($ObjId, $Quota, $Reparse, ...) are the volume's own
const PATH_DEPTH_MAX = 256; // parents followed to the root at most (a loop ends there)
// attribute list entry
const AL_Type = 0,
  AL_Length = 4,
  AL_NameLength = 6,
  AL_LowestVcn = 8,
  AL_Reference = 16;
const AL_ENTRY_MIN = 26;
const RECORD_NUMBER_MASK = 0xffffffffffffn; // a file reference's low 48 bits
const ROOT_DIRECTORY = 5;
const FIRST_USER_RECORD = 16;
const RECORD_BYTES_MIN = 512,
  RECORD_BYTES_MAX = 64 << 10;
const LIST_BYTES_MAX = 16 << 20; // an attribute list's value, read whole

export function isNtfsBoot(b: Uint8Array): boolean {
  return latin1(b.subarray(3, 11)) === "NTFS    ";
}

export function ntfsGeometry(boot: Uint8Array): NtfsGeometry {
  const v = new DataView(boot.buffer, boot.byteOffset, 512);
  const bps = v.getUint16(11, true),
    raw = boot[13];
  const spc = raw <= 0x80 ? raw : 2 ** (256 - raw);
  const cb = bps * spc;
  const cpr = v.getInt8(64);
  return {
    bytesPerSector: bps,
    clusterBytes: cb,
    mftLcn: Number(v.getBigUint64(48, true)),
    recordBytes: cpr > 0 ? cpr * cb : 2 ** -cpr,
    clusterCount: spc ? Math.floor(Number(v.getBigUint64(40, true)) / spc) : 0,
  };
}

const isPow2 = (x: number) => Number.isSafeInteger(x) && x > 0 && (x & (x - 1)) === 0;

/** The geometry a reader can trust: sizes in range, the MFT inside the volume, the device's sector size. */
function checkGeometry(g: NtfsGeometry, part: BlockDevice): void {
  const bad = (what: string) => new NtfsError(`${part.name}: NTFS boot sector: ${what}`);
  if (g.bytesPerSector !== part.sectorSize)
    throw bad(`${g.bytesPerSector} bytes per sector, the device has ${part.sectorSize}`);
  if (!isPow2(g.clusterBytes)) throw bad(`a cluster of ${g.clusterBytes} bytes is not a power of two`);
  if (!isPow2(g.recordBytes) || g.recordBytes < RECORD_BYTES_MIN || g.recordBytes > RECORD_BYTES_MAX)
    throw bad(
      `MFT records of ${g.recordBytes} bytes, not a power of two from ${RECORD_BYTES_MIN} to ${RECORD_BYTES_MAX}`,
    );
  if (!Number.isSafeInteger(g.mftLcn) || g.mftLcn >= g.clusterCount)
    throw bad(`the MFT at cluster ${g.mftLcn} is outside the volume's ${g.clusterCount} clusters`);
}

export interface Attribute {
  type: number;
  name: string;
  at: number;
  length: number;
  resident: boolean;
}

/** An MFT record with its number, and checked views of its bytes. */
export class MftRecord {
  readonly v: DataView;
  constructor(
    readonly n: number,
    readonly bytes: Uint8Array,
  ) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  fail(what: string): NtfsError {
    return new NtfsError(`MFT record ${this.n}: ${what}`);
  }

  /** Throws unless [at, at + length) lies inside [from, to) (the record by default). */
  within(
    what: string,
    at: number,
    length: number,
    from = 0,
    to = this.bytes.length,
    inside = `the record (${this.bytes.length} bytes)`,
  ): void {
    if (Number.isSafeInteger(at) && Number.isSafeInteger(length) && length >= 0 && at >= from && at + length <= to)
      return;
    throw this.fail(`${what} at offset ${at}, ${length} bytes, lies outside ${inside}`);
  }

  u16(at: number): number {
    return this.v.getUint16(at, true);
  }
  u32(at: number): number {
    return this.v.getUint32(at, true);
  }
  u64(at: number): bigint {
    return this.v.getBigUint64(at, true);
  }

  /** A u64 as a safe integer, or a named error. */
  count(what: string, at: number): number {
    const x = this.u64(at);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail(`${what} is ${x}, beyond what can be addressed`);
    return Number(x);
  }

  /** [a.at + offset, + length) inside attribute a, or a named error. */
  inAttribute(a: Attribute, what: string, offset: number, length: number): number {
    this.within(
      what,
      a.at + offset,
      length,
      a.at,
      a.at + a.length,
      `its attribute 0x${a.type.toString(16)} (offset ${a.at}, ${a.length} bytes)`,
    );
    return a.at + offset;
  }

  /** A resident attribute's value. */
  value(a: Attribute, what: string): Uint8Array {
    const at = this.inAttribute(
      a,
      `${what} value`,
      this.u16(a.at + ATTR_ValueOffset),
      this.u32(a.at + ATTR_ValueLength),
    );
    return this.bytes.subarray(at, at + this.u32(a.at + ATTR_ValueLength));
  }
}

function attributeAt(r: MftRecord, at: number, inUse: number): Attribute {
  const type = r.u32(at),
    length = r.u32(at + ATTR_Length);
  const resident = r.bytes[at + ATTR_NonResident] === 0;
  const min = resident ? ATTR_RESIDENT_MIN : ATTR_NONRESIDENT_MIN;
  if (length < min)
    throw r.fail(
      `attribute 0x${type.toString(16)} at offset ${at} is ${length} bytes, shorter than its ${min}-byte header`,
    );
  r.within(`attribute 0x${type.toString(16)}`, at, length, 0, inUse, `the bytes in use (${inUse})`);
  const a: Attribute = { type, name: "", at, length, resident };
  const nameAt = r.inAttribute(a, "attribute name", r.u16(at + ATTR_NameOffset), 2 * r.bytes[at + ATTR_NameLength]);
  a.name = fromUtf16le(r.bytes.subarray(nameAt, nameAt + 2 * r.bytes[at + ATTR_NameLength]));
  return a;
}

export function attributes(r: MftRecord): Attribute[] {
  const out: Attribute[] = [];
  const inUse = Math.min(r.u32(REC_BytesInUse), r.bytes.length);
  let at = r.u16(REC_FirstAttribute);
  if (at < REC_HEADER_MIN) throw r.fail(`first attribute at offset ${at}, inside the record header`);
  for (let k = 0; k < ATTRS_MAX && at + 8 <= inUse; k++) {
    if (r.u32(at) === ATTR_END) break;
    const a = attributeAt(r, at, inUse);
    out.push(a);
    at += a.length;
  }
  return out;
}

/** A data-run list (mapping pairs) of a non-resident attribute, every run inside the volume. */
export function decodeRuns(r: MftRecord, a: Attribute, clusterCount: number): Run[] {
  const runs: Run[] = [];
  const end = a.at + a.length;
  let p = r.inAttribute(a, "data runs", r.u16(a.at + ATTR_RunsOffset), 0);
  let vcn = r.count("lowest VCN", a.at + ATTR_LowestVcn),
    lcn = 0;
  while (p < end && r.bytes[p] !== 0) {
    const lenBytes = r.bytes[p] & 15,
      offBytes = r.bytes[p] >> 4;
    if (lenBytes === 0 || lenBytes > 8 || offBytes > 8 || p + 1 + lenBytes + offBytes > end)
      throw r.fail(`malformed data runs at offset ${p} (header byte 0x${r.bytes[p].toString(16)})`);
    const length = runNumber(r.bytes, p + 1, lenBytes, false),
      delta = runNumber(r.bytes, p + 1 + lenBytes, offBytes, true);
    lcn += delta;
    if (offBytes && (!Number.isSafeInteger(lcn + length) || lcn < 0 || lcn + length > clusterCount))
      throw r.fail(
        `a data run at offset ${p} covers clusters ${lcn}..${lcn + length - 1}, outside the volume's ${clusterCount} clusters`,
      );
    if (!Number.isSafeInteger(vcn + length)) throw r.fail(`a data run at offset ${p} is ${length} clusters long`);
    runs.push({ vcn, lcn: offBytes ? lcn : -1, length });
    vcn += length;
    p += 1 + lenBytes + offBytes;
  }
  return runs;
}

/** A little-endian number of `n` bytes (the last one signed when `signed`). */
function runNumber(b: Uint8Array, at: number, n: number, signed: boolean): number {
  let x = 0;
  for (let i = 0; i < n; i++) x += b[at + i] * 256 ** i;
  return signed && n > 0 && b[at + n - 1] >= 0x80 ? x - 256 ** n : x;
}

/** Reads the MFT of an NTFS partition record by record. */
export class MftReader {
  readonly g: NtfsGeometry;
  readonly mftRuns: Run[];
  readonly records: number;

  constructor(readonly part: BlockDevice) {
    const boot = new Uint8Array(Math.max(part.sectorSize, 512));
    part.read(0, 1, boot, 0);
    if (!isNtfsBoot(boot)) throw new NtfsError(`${part.name}: not an NTFS boot sector`);
    this.g = ntfsGeometry(boot);
    checkGeometry(this.g, part);
    const first = new MftRecord(0, readBytes(this.part, this.g.mftLcn * this.g.clusterBytes, this.g.recordBytes));
    if (!this.fixup(first)) throw first.fail("not a FILE record");
    const data = attributes(first).find((a) => a.type === TYPE_DATA && a.name === "" && !a.resident);
    if (!data) throw new NtfsError(`${part.name}: $MFT has no data runs`);
    this.mftRuns = decodeRuns(first, data, this.g.clusterCount);
    const size = first.count("$MFT's data size", data.at + ATTR_DataSize);
    const held = this.mftRuns.reduce((s, r) => s + r.length, 0) * this.g.clusterBytes;
    if (size > held) throw first.fail(`$MFT's data size ${size} bytes is more than its runs hold (${held} bytes)`);
    this.records = Math.floor(size / this.g.recordBytes);
  }

  /** Applies the update sequence; false when the record is not a FILE record. */
  private fixup(r: MftRecord): boolean {
    if (r.u32(0) !== REC_MAGIC) return false;
    const usa = r.u16(REC_UsaOffset),
      count = r.u16(REC_UsaCount);
    if (count !== r.bytes.length / USA_STRIDE + 1)
      throw r.fail(`update sequence count ${count}, expected ${r.bytes.length / USA_STRIDE + 1}`);
    r.within("update sequence array", usa, 2 * count, REC_UsaCount + 2);
    for (let i = 1; i < count; i++) {
      if (r.u16(i * USA_STRIDE - 2) !== r.u16(usa)) throw r.fail("update sequence does not match (a torn write)");
      r.v.setUint16(i * USA_STRIDE - 2, r.u16(usa + 2 * i), true);
    }
    return true;
  }

  /** Bytes [offset, offset + bytes) of data described by runs. */
  readRuns(runs: Run[], offset: number, bytes: number): Uint8Array {
    const cb = this.g.clusterBytes;
    const held = runs.reduce((s, r) => Math.max(s, r.vcn + r.length), 0) * cb;
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(bytes) ||
      offset < 0 ||
      bytes < 0 ||
      offset + bytes > held
    ) {
      throw new NtfsError(
        `${this.part.name}: data bytes ${offset}..${offset + bytes - 1} are not in its runs (${held} bytes)`,
      );
    }
    const out = new Uint8Array(bytes);
    for (let done = 0; done < bytes; ) {
      const at = offset + done,
        vcn = Math.floor(at / cb);
      const r = runs.find((x) => x.vcn <= vcn && vcn < x.vcn + x.length);
      if (!r) throw new NtfsError(`${this.part.name}: data at byte ${at} is not in its runs`);
      const take = Math.min(bytes - done, (r.vcn + r.length) * cb - at);
      if (r.lcn >= 0) out.set(readBytes(this.part, (r.lcn + vcn - r.vcn) * cb + (at % cb), take), done);
      done += take;
    }
    return out;
  }

  private readRecord(n: number): MftRecord | undefined {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.records)
      throw new NtfsError(`${this.part.name}: MFT record ${n} is past the MFT's ${this.records} records`);
    const r = new MftRecord(n, this.readRuns(this.mftRuns, n * this.g.recordBytes, this.g.recordBytes));
    return this.fixup(r) && r.u16(REC_Flags) & 1 ? r : undefined;
  }

  /** Record n with its update sequence applied, or undefined when it is not a FILE record in use. */
  record(n: number): Uint8Array | undefined {
    return this.readRecord(n)?.bytes;
  }

  /** The unnamed $DATA runs of a base record, gathered through its attribute list if it has one. */
  dataRuns(n: number, rec: Uint8Array): Run[] {
    return this.runsOf(new MftRecord(n, rec));
  }

  private runsOf(r: MftRecord): Run[] {
    const attrs = attributes(r);
    const list = attrs.find((a) => a.type === TYPE_ATTRIBUTE_LIST);
    if (!list) {
      const d = attrs.find((a) => a.type === TYPE_DATA && a.name === "" && !a.resident);
      return d ? decodeRuns(r, d, this.g.clusterCount) : [];
    }
    const value = this.listValue(r, list);
    const runs: Run[] = [];
    const lv = new DataView(value.buffer, value.byteOffset, value.length);
    for (let e = 0; e + AL_ENTRY_MIN <= value.length; ) {
      const len = lv.getUint16(e + AL_Length, true);
      if (len < AL_ENTRY_MIN) throw r.fail(`malformed attribute list: an entry at ${e} is ${len} bytes`);
      if (lv.getUint32(e + AL_Type, true) === TYPE_DATA && value[e + AL_NameLength] === 0) {
        const ref = Number(lv.getBigUint64(e + AL_Reference, true) & RECORD_NUMBER_MASK),
          vcn = lv.getBigUint64(e + AL_LowestVcn, true);
        runs.push(...this.extensionRuns(r, ref, vcn));
      }
      e += len;
    }
    return runs;
  }

  /** An attribute list's value, resident or not. */
  private listValue(r: MftRecord, list: Attribute): Uint8Array {
    if (list.resident) return r.value(list, "attribute list");
    const size = r.count("attribute list size", list.at + ATTR_DataSize);
    if (size > LIST_BYTES_MAX) throw r.fail(`attribute list of ${size} bytes, more than ${LIST_BYTES_MAX}`);
    return this.readRuns(decodeRuns(r, list, this.g.clusterCount), 0, size);
  }

  /** The $DATA runs from `vcn` that the attribute list places in record `ref`. */
  private extensionRuns(base: MftRecord, ref: number, vcn: bigint): Run[] {
    if (ref >= this.records)
      throw base.fail(`its attribute list names record ${ref}, past the MFT's ${this.records} records`);
    const ext = ref === base.n ? base : this.readRecord(ref);
    if (!ext) throw base.fail(`its attribute list names record ${ref}, which is not in use`);
    const d = attributes(ext).find(
      (a) => a.type === TYPE_DATA && a.name === "" && !a.resident && ext.u64(a.at + ATTR_LowestVcn) === vcn,
    );
    return d ? decodeRuns(ext, d, this.g.clusterCount) : [];
  }

  /** The record's name in `parent` (any of its $FILE_NAME attributes), lower case, or undefined. */
  private nameIn(r: MftRecord, parent: number, wanted: Set<string>): string | undefined {
    for (const a of attributes(r)) {
      if (a.type !== TYPE_FILE_NAME || !a.resident) continue;
      const value = r.value(a, "$FILE_NAME");
      const fn = new MftRecord(r.n, value);
      fn.within(
        "$FILE_NAME's name",
        FN_Name,
        value.length < FN_Name ? 0 : 2 * value[FN_NameLength],
        0,
        value.length,
        `its $FILE_NAME value (${value.length} bytes)`,
      );
      const name = fromUtf16le(value.subarray(FN_Name, FN_Name + 2 * value[FN_NameLength]));
      if (Number(fn.u64(FN_Parent) & RECORD_NUMBER_MASK) === parent && wanted.has(name.toLowerCase())) return name;
    }
    return undefined;
  }

  /**
   * Every base record in use from FIRST_USER_RECORD with a name: its parent, its long name
   * (Win32 or POSIX namespace) and short name (DOS namespace; the long one when it has none),
   * and whether it is a directory.
   */
  names(): Map<number, { parent: number; name: string; shortName: string; directory: boolean }> {
    const out = new Map<number, { parent: number; name: string; shortName: string; directory: boolean }>();
    for (let n = FIRST_USER_RECORD; n < this.records; n++) {
      const r = this.readRecord(n);
      if (r?.u64(REC_BaseRecord) !== 0n) continue;
      let name: string | undefined,
        shortName: string | undefined,
        parent = -1;
      for (const a of attributes(r)) {
        if (a.type !== TYPE_FILE_NAME || !a.resident) continue;
        const value = r.value(a, "$FILE_NAME");
        if (value.length < FN_Name || value.length < FN_Name + 2 * value[FN_NameLength])
          throw r.fail(`its $FILE_NAME value (${value.length} bytes) is shorter than its name`);
        const text = fromUtf16le(value.subarray(FN_Name, FN_Name + 2 * value[FN_NameLength]));
        parent = Number(new MftRecord(n, value).u64(FN_Parent) & RECORD_NUMBER_MASK);
        if (value[FN_Namespace] === NS_DOS) shortName = text;
        else name = text;
      }
      if (name === undefined && shortName === undefined) continue;
      out.set(n, {
        parent,
        name: name ?? shortName!,
        shortName: shortName ?? name!,
        directory: (r.u16(REC_Flags) & REC_FLAG_DIRECTORY) !== 0,
      });
    }
    return out;
  }

  /** Base records of files in the root directory (parent record 5) whose name is one of `names` (any case). */
  findInRoot(names: string[]): Array<{ record: number; name: string; size: number; runs: Run[] }> {
    const wanted = new Set(names.map((x) => x.toLowerCase()));
    const out: Array<{ record: number; name: string; size: number; runs: Run[] }> = [];
    for (let n = FIRST_USER_RECORD; n < this.records; n++) {
      const r = this.readRecord(n);
      if (r?.u64(REC_BaseRecord) !== 0n) continue; // not in use, or an extension record
      const name = this.nameIn(r, ROOT_DIRECTORY, wanted);
      if (name === undefined) continue;
      const data = attributes(r).find((x) => x.type === TYPE_DATA && x.name === "");
      const size = data && !data.resident ? r.count("$DATA size", data.at + ATTR_DataSize) : 0;
      out.push({ record: n, name, size, runs: this.runsOf(r) });
    }
    return out;
  }
}

/** Record n's unnamed $DATA: its size and runs (none when it is resident). */
function dataOf(mft: MftReader, n: number): { size: number; runs: Run[] } {
  const rec = mft.record(n);
  if (!rec) throw new NtfsError(`MFT record ${n} is not in use`);
  const r = new MftRecord(n, rec);
  const data = attributes(r).find((x) => x.type === TYPE_DATA && x.name === "");
  const size = !data
    ? 0
    : data.resident
      ? r.u32(data.at + ATTR_ValueLength)
      : r.count("$DATA size", data.at + ATTR_DataSize);
  return { size, runs: mft.dataRuns(n, rec) };
}

/**
 * Every file's path (its long names, and its short ones, from the root), in record order; a file
 * whose parents do not lead to the root (orphans, loops) has none. The volume's own files have
 * none either: records below FIRST_USER_RECORD and everything under $Extend.
 */
export function ntfsFilePaths(mft: MftReader): Array<{ record: number; long: string; short: string }> {
  const names = mft.names();
  const paths = new Map<number, { long: string; short: string } | null>([[ROOT_DIRECTORY, { long: "", short: "" }]]);
  const pathOf = (n: number, depth = 0): { long: string; short: string } | null => {
    const known = paths.get(n);
    if (known !== undefined) return known;
    const e = names.get(n);
    const up =
      e && e.parent !== n && e.parent !== EXTEND_DIRECTORY && depth < PATH_DEPTH_MAX
        ? pathOf(e.parent, depth + 1)
        : null;
    const p = e && up ? { long: `${up.long}\\${e.name}`, short: `${up.short}\\${e.shortName}` } : null;
    paths.set(n, p);
    return p;
  };
  const out: Array<{ record: number; long: string; short: string }> = [];
  for (const [n, e] of names) {
    const p = e.directory ? null : pathOf(n);
    if (p) out.push({ record: n, ...p });
  }
  return out;
}

/**
 * The files that `patterns` name (the one path-pattern language of exclusions.ts: paths or globs,
 * long or short names, any case, a directory naming every file below it), in record order, and
 * the patterns that named nothing. The volume's own files are never named (ntfsFilePaths), nor
 * are `skip`ped paths.
 */
function matchNtfsFiles(
  mft: MftReader,
  patterns: string[],
  skip: string[],
): { files: Array<{ record: number; path: string }>; unmatched: string[] } {
  if (patterns.length === 0) return { files: [], unmatched: [] };
  const match = matcher(patterns);
  const skipped = new Set(skip.map((x) => x.replace(/\//g, "\\").toUpperCase()));
  const used = new Set<number>();
  const files: Array<{ record: number; path: string }> = [];
  for (const p of ntfsFilePaths(mft)) {
    if (skipped.has(p.long.toUpperCase()) || skipped.has(p.short.toUpperCase())) continue;
    const i = match(p.long, p.short);
    if (i < 0) continue;
    used.add(i);
    files.push({ record: p.record, path: p.long });
  }
  return { files, unmatched: patterns.filter((_, i) => !used.has(i)) };
}

/** LEAVE_OUT patches for runs (each at most 2^32 - 1 clusters long). */
function leaveOut(patches: Patch[], runs: Run[]): number {
  let clusters = 0;
  for (const r of runs) {
    if (r.lcn < 0 || r.length <= 0) continue;
    clusters += r.length;
    for (let start = r.lcn, left = r.length; left > 0; ) {
      const n = Math.min(left, 0xffffffff);
      patches.push({ byteOffset: start, length: n, kind: PatchKind.leaveOut });
      start += n;
      left -= n;
    }
  }
  return clusters;
}

/**
 * The source patches that leave out of an NTFS backup the page and hibernation files, and the
 * files `patterns` name (section 11.1): their clusters stay allocated, in $Bitmap and in their
 * records, and are not stored. A file small enough to live in its MFT record (resident) has no
 * clusters to leave out: it is named with 0 clusters, and its bytes stay in the image.
 */
export function planNtfsExclusions(
  part: BlockDevice,
  patterns: string[] = [],
  options: { skip?: string[] } = {},
): {
  patches: Patch[];
  files: Array<{ path: string; size: number; clusters: number }>;
  clusters: number;
  unmatched: string[];
} {
  const mft = new MftReader(part);
  const patches: Patch[] = [];
  const files: Array<{ path: string; size: number; clusters: number }> = [];
  const pagingRecords = new Set<number>();
  for (const f of mft.findInRoot(NTFS_LEFT_OUT)) {
    pagingRecords.add(f.record);
    let runs = f.runs.filter((r) => r.lcn >= 0 && r.length > 0);
    let clusters = runs.reduce((a, r) => a + r.length, 0);
    if (f.name.toLowerCase() === "hiberfil.sys" && runs.length > 0) {
      // its first cluster is stored, as zeros: a restored volume never holds a stale hibernation image
      const first = runs[0];
      patches.push({ byteOffset: first.lcn * mft.g.clusterBytes, length: mft.g.clusterBytes, kind: PatchKind.zero });
      runs = [{ ...first, lcn: first.lcn + 1, length: first.length - 1 }, ...runs.slice(1)].filter((r) => r.length > 0);
      clusters -= 1;
    }
    leaveOut(patches, runs);
    files.push({ path: `\\${f.name}`, size: f.size, clusters });
  }
  const { files: named, unmatched } = matchNtfsFiles(mft, patterns, options.skip ?? []);
  for (const f of named) {
    if (pagingRecords.has(f.record)) continue; // left out already
    const d = dataOf(mft, f.record);
    files.push({ path: f.path, size: d.size, clusters: leaveOut(patches, d.runs) });
  }
  if (patches.length > PATCH_MAX)
    throw new ExclusionError(
      `leaving out ${files.length} files needs ${patches.length} patches (one per run of clusters); the core holds ${PATCH_MAX}: exclude fewer, less fragmented files`,
    );
  return { patches, files, clusters: files.reduce((a, f) => a + f.clusters, 0), unmatched };
}
