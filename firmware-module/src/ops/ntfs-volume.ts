// NTFS changed in place, for the ghost (ghost-ntfs.ts) and the simulator's writer: MFT records
// and index blocks read and written with their update sequences, the $I30 index searched and
// changed by the volume's file-name collation, $Bitmap and $MFT's bitmap, new records (the MFT
// grown when it is full). Every structure read from the disk is checked before it is used: what
// does not fit is an NtfsError naming the record or block and the values.

import { PatchKind } from "./abi";
import { fromUtf16le, latin1 } from "./bytes";
import { BlockDevice, readBytes, writeBytes } from "./devices";
import { Patch } from "./exclusions";
import { ClusterRun } from "./exfat-dir";
import { GhostError, GhostExtent, GhostSpaceError } from "./ghost-common";
import { Attribute, attributes, decodeRuns, MftReader, MftRecord, NtfsError, Run } from "./ntfs-mft";

export const STRIDE = 512; // the update sequence protects the last u16 of every 512 bytes
export const REC_ROOT = 5;
export const REC_UPCASE = 10;
export const REC_FIRST_FREE = 24; // records 16-23 are reserved for the volume's own files
export const TYPE_STANDARD_INFORMATION = 0x10;
export const TYPE_FILE_NAME = 0x30;
export const TYPE_DATA = 0x80;
export const TYPE_INDEX_ROOT = 0x90;
export const TYPE_INDEX_ALLOCATION = 0xa0;
export const TYPE_BITMAP = 0xb0;
export const ATTR_END = 0xffffffff;
export const I30 = "$I30";
export const REC_SEQUENCE = 16; // u16
export const REC_LINKS = 18; // u16
export const REC_FIRST_ATTR = 20; // u16
export const REC_FLAGS = 22; // u16: 1 in use, 2 directory
export const REC_IN_USE = 1;
export const REC_BYTES_IN_USE = 24; // u32
export const REC_BYTES_ALLOCATED = 28; // u32
export const REC_NEXT_ATTR_ID = 40; // u16
export const REC_NUMBER = 44; // u32 (NTFS 3.1)
export const REC_USA = 48; // where this module puts the update sequence array
// index header (in $INDEX_ROOT's value at 16, in an index block at 24); offsets from the header
export const IH_ENTRIES = 0,
  IH_LENGTH = 4,
  IH_ALLOCATED = 8;
export const IR_BLOCK_BYTES = 8; // $INDEX_ROOT value: u32 bytes per index block
export const IR_HEADER = 16;
export const INDX_HEADER = 24;
export const INDX_MAGIC = "INDX";
export const INDX_USA = 40; // where a new index block's update sequence array goes
// index entry
export const IE_LENGTH = 8,
  IE_KEY_LENGTH = 10,
  IE_FLAGS = 12,
  IE_KEY = 16;
export const IE_SUBNODE = 1,
  IE_LAST = 2;
// $FILE_NAME value
export const FN_PARENT = 0,
  FN_ALLOCATED = 40,
  FN_SIZE = 48,
  FN_FLAGS = 56,
  FN_NAME_LENGTH = 64,
  FN_NAMESPACE = 65,
  FN_NAME = 66;
export const NS_WIN32_AND_DOS = 3;
export const NS_POSIX = 0;
export const FN_DIRECTORY = 0x10000000; // $FILE_NAME flags: the file has an $I30 index
export const REC_DIRECTORY = 2;
export const COLLATION_FILE_NAME = 1;
export const SI_BYTES = 72; // $STANDARD_INFORMATION of NTFS 3.x
export const SI_ATTRIBUTES = 32,
  SI_SECURITY_ID = 52;
export const NT_EPOCH_MS = 11644473600000; // 1601 to 1970
export const DEPTH_MAX = 32; // index levels followed at most
export const RECORD_MASK = 0xffffffffffffn;

export const align8 = (x: number) => (x + 7) & ~7;
export const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
export const u32 = (b: Uint8Array, at: number) => (u16(b, at) + u16(b, at + 2) * 65536) >>> 0;
export const put16 = (b: Uint8Array, at: number, x: number) =>
  new DataView(b.buffer, b.byteOffset).setUint16(at, x, true);
export const put32 = (b: Uint8Array, at: number, x: number) =>
  new DataView(b.buffer, b.byteOffset).setUint32(at, x, true);
export const put64 = (b: Uint8Array, at: number, x: bigint) =>
  new DataView(b.buffer, b.byteOffset).setBigUint64(at, x, true);
export const get64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);

export function isNtfs(part: BlockDevice): boolean {
  const boot = new Uint8Array(Math.max(part.sectorSize, 512));
  try {
    part.read(0, 1, boot, 0);
  } catch {
    return false;
  }
  return latin1(boot.subarray(3, 11)) === "NTFS    ";
}

/** A structure protected by an update sequence (an MFT record, an index block): its bytes with the sequence applied, and where they lie. */
export class Struct {
  constructor(
    readonly vol: NtfsVolume,
    readonly what: string,
    /** the bytes with the update sequence applied */
    readonly bytes: Uint8Array,
    /** the data runs it lies in, and its offset in them */
    readonly runs: Run[],
    readonly offset: number,
  ) {}

  /** The partition byte of the structure's stored byte `at`. */
  disk(at: number): number {
    const cb = this.vol.g.clusterBytes;
    const pos = this.offset + at,
      vcn = Math.floor(pos / cb);
    const r = this.runs.find((x) => x.vcn <= vcn && vcn < x.vcn + x.length && x.lcn >= 0);
    if (!r) throw new NtfsError(`${this.vol.part.name}: ${this.what}: byte ${at} is not in its runs`);
    return (r.lcn + vcn - r.vcn) * cb + (pos % cb);
  }

  /** Where byte `at` is stored: the last two bytes of each stride are kept in the update sequence array. */
  stored(at: number): number {
    if (at % STRIDE < STRIDE - 2) return at;
    return u16(this.bytes, 4) + 2 * (Math.floor(at / STRIDE) + 1) + (at % STRIDE) - (STRIDE - 2);
  }

  /** The patches that make bytes [at, at + value.length) read as `value` on the disk, leaving the update sequence as it is. */
  patches(at: number, value: Uint8Array): Patch[] {
    const out: Patch[] = [];
    for (let i = 0; i < value.length; i++) {
      const byteOffset = this.disk(this.stored(at + i));
      const last = out[out.length - 1];
      if (last && last.length < 4 && last.byteOffset + last.length === byteOffset) {
        last.value = (last.value! | (value[i] << (8 * last.length))) >>> 0;
        last.mask = (last.mask! | (0xff << (8 * last.length))) >>> 0;
        last.length++;
      } else out.push({ byteOffset, length: 1, kind: PatchKind.mask, value: value[i], mask: 0xff });
    }
    return out;
  }

  /** The structure as it is to be stored, with a new update sequence number: the pieces to write, each within a cluster. */
  plan(keepUsn = false): Array<{ disk: number; bytes: Uint8Array }> {
    const raw = this.bytes.slice();
    const usa = u16(raw, 4),
      count = u16(raw, 6);
    const usn = keepUsn ? u16(raw, usa) : (u16(raw, usa) % 0xffff) + 1;
    put16(raw, usa, usn);
    for (let i = 1; i < count; i++) {
      raw[usa + 2 * i] = raw[i * STRIDE - 2];
      raw[usa + 2 * i + 1] = raw[i * STRIDE - 1];
      put16(raw, i * STRIDE - 2, usn);
    }
    this.bytes.set(raw.subarray(usa, usa + 2 * count), usa);
    const out: Array<{ disk: number; bytes: Uint8Array }> = [];
    const cb = this.vol.g.clusterBytes;
    for (let at = 0; at < raw.length; ) {
      const take = Math.min(raw.length - at, cb - ((this.offset + at) % cb));
      out.push({ disk: this.disk(at), bytes: raw.subarray(at, at + take) });
      at += take;
    }
    return out;
  }

  /**
   * Writes the whole structure with a new update sequence number. With `journal` (a partition
   * byte in the ghost's own clusters), the write is first recorded there and the record cleared
   * after: a write torn by a power cut is finished by the next backup (replayNtfsJournals).
   */
  write(journal?: number): void {
    const pieces = this.plan();
    this.writePieces(pieces, journal);
  }

  /**
   * Writes a record over one whose update sequence number it keeps, a sector at a time from its
   * last: until its first sector (magic, flags) is written, the slot reads as the record it was.
   */
  writeOver(onlyChanged = false): void {
    const ss = this.vol.part.sectorSize;
    const sectors: Array<{ disk: number; bytes: Uint8Array }> = [];
    for (const p of this.plan(true))
      for (let at = 0; at < p.bytes.length; ) {
        const take = Math.min(p.bytes.length - at, ss - ((p.disk + at) % ss));
        const x = { disk: p.disk + at, bytes: p.bytes.subarray(at, at + take) };
        const now = onlyChanged ? readBytes(this.vol.part, x.disk, take) : undefined;
        if (!now || now.some((b, i) => b !== x.bytes[i])) sectors.push(x);
        at += take;
      }
    for (const x of sectors.reverse()) {
      writeBytes(this.vol.part, x.disk, x.bytes);
      this.vol.part.flush();
    }
  }

  private writePieces(pieces: Array<{ disk: number; bytes: Uint8Array }>, journal?: number): void {
    if (journal !== undefined) {
      writeBytes(this.vol.part, journal, encodeJournal(pieces, this.vol.part.sectorSize));
      this.vol.part.flush();
    }
    for (const p of pieces) writeBytes(this.vol.part, p.disk, p.bytes);
    if (journal !== undefined) {
      this.vol.part.flush();
      writeBytes(this.vol.part, journal, new Uint8Array(this.vol.part.sectorSize));
    }
  }
}

export const JOURNAL_MAGIC = "CBNTFSJ1";

/** A journal of one structure's write: magic, u32 pieces, then each piece's u64 partition byte, u32 length and bytes; whole sectors. */
export function encodeJournal(pieces: Array<{ disk: number; bytes: Uint8Array }>, sectorSize: number): Uint8Array {
  const total = 12 + pieces.reduce((a, p) => a + 12 + p.bytes.length, 0);
  const out = new Uint8Array(Math.ceil(total / sectorSize) * sectorSize);
  for (let i = 0; i < 8; i++) out[i] = JOURNAL_MAGIC.charCodeAt(i);
  put32(out, 8, pieces.length);
  let at = 12;
  for (const p of pieces) {
    put64(out, at, BigInt(p.disk));
    put32(out, at + 8, p.bytes.length);
    out.set(p.bytes, at + 12);
    at += 12 + p.bytes.length;
  }
  return out;
}

/** Whether stored bytes fail their update sequence (a torn write). */
export function torn(raw: Uint8Array): boolean {
  const usa = u16(raw, 4),
    count = u16(raw, 6);
  if (usa + 2 * count > raw.length || count !== raw.length / STRIDE + 1) return true;
  for (let i = 1; i < count; i++) if (u16(raw, i * STRIDE - 2) !== u16(raw, usa)) return true;
  return false;
}

export interface IndexNode {
  s: Struct;
  /** offset of the index header */
  header: number;
  /** the $INDEX_ROOT attribute, when the node is the root */
  root?: Attribute;
  vcn?: number;
}

export interface IndexEntry {
  at: number;
  length: number;
  flags: number;
  ref: bigint;
  name: string;
  subnode?: number;
}

/** An NTFS volume for the ghost's few changes. */
export class NtfsVolume {
  readonly mft: MftReader;
  readonly g: MftReader["g"];
  private readonly upcase = new Map<number, number>();
  private upcaseRuns?: Run[];

  constructor(readonly part: BlockDevice) {
    this.mft = new MftReader(part);
    this.g = this.mft.g;
  }

  fail(what: string): GhostError {
    return new GhostError(`${this.part.name}: ${what}`);
  }

  /** A structure read from `runs` at `offset`, its update sequence applied; undefined when its magic is not `magic`. */
  protected structAt(what: string, magic: string, runs: Run[], offset: number, bytes: number): Struct | undefined {
    const b = this.mft.readRuns(runs, offset, bytes).slice();
    if (latin1(b.subarray(0, 4)) !== magic) return undefined;
    const usa = u16(b, 4),
      count = u16(b, 6);
    if (count !== bytes / STRIDE + 1 || usa < 8 || usa + 2 * count > bytes)
      throw new NtfsError(
        `${this.part.name}: ${what}: update sequence of ${count} at ${usa} does not fit its ${bytes} bytes`,
      );
    for (let i = 1; i < count; i++) {
      if (u16(b, i * STRIDE - 2) !== u16(b, usa))
        throw new NtfsError(`${this.part.name}: ${what}: update sequence does not match (a torn write)`);
      b[i * STRIDE - 2] = b[usa + 2 * i];
      b[i * STRIDE - 1] = b[usa + 2 * i + 1];
    }
    return new Struct(this, what, b, runs, offset);
  }

  /** MFT record n as stored (in use or not), or undefined when it holds no FILE record. */
  record(n: number): Struct | undefined {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.mft.records)
      throw new NtfsError(`${this.part.name}: MFT record ${n} is past the MFT's ${this.mft.records} records`);
    const rb = this.g.recordBytes;
    return this.structAt(`MFT record ${n}`, "FILE", this.mft.mftRuns, n * rb, rb);
  }

  inUseRecord(n: number): Struct {
    const s = this.record(n);
    if (!s || (u16(s.bytes, REC_FLAGS) & REC_IN_USE) === 0)
      throw new NtfsError(`${this.part.name}: MFT record ${n} is not in use`);
    return s;
  }

  attrs(s: Struct, n: number): { r: MftRecord; list: Attribute[] } {
    const r = new MftRecord(n, s.bytes);
    return { r, list: attributes(r) };
  }

  /** The unnamed $DATA runs of record n (one base record: no attribute list). */
  dataRuns(n: number, s = this.inUseRecord(n)): Run[] {
    return this.mft.dataRuns(n, s.bytes);
  }

  /** The attribute `type` named `name` of record n, non-resident: its runs and data size. */
  protected nonResident(n: number, type: number, name: string): { runs: Run[]; size: number } {
    const s = this.inUseRecord(n);
    const { r, list } = this.attrs(s, n);
    const a = list.find((x) => x.type === type && x.name === name);
    if (!a) throw new NtfsError(`${this.part.name}: MFT record ${n} has no attribute 0x${type.toString(16)} ${name}`);
    if (a.resident)
      throw this.fail(
        `MFT record ${n}'s attribute 0x${type.toString(16)} is resident; the ghost changes only a non-resident one`,
      );
    return { runs: decodeRuns(r, a, this.g.clusterCount), size: r.count("data size", a.at + 48) };
  }

  // ---- names, by the volume's $UpCase ---------------------------------------------------------

  upper(c: number): number {
    let u = this.upcase.get(c);
    if (u === undefined) {
      this.upcaseRuns ??= this.dataRuns(REC_UPCASE);
      u = u16(this.mft.readRuns(this.upcaseRuns, 2 * c, 2), 0);
      this.upcase.set(c, u);
    }
    return u;
  }

  /** The file-name collation: upper-cased UTF-16 units, then length. */
  compare(a: string, b: string): number {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = this.upper(a.charCodeAt(i)) - this.upper(b.charCodeAt(i));
      if (d !== 0) return d;
    }
    return a.length - b.length;
  }

  // ---- the $I30 index -------------------------------------------------------------------------

  protected root(dir: number): IndexNode {
    const s = this.inUseRecord(dir);
    const { r, list } = this.attrs(s, dir);
    const a = list.find((x) => x.type === TYPE_INDEX_ROOT && x.name === I30);
    if (!a?.resident) throw this.fail(`MFT record ${dir} is not a directory (no $INDEX_ROOT $I30)`);
    const value = r.value(a, "$INDEX_ROOT");
    return { s, header: value.byteOffset - s.bytes.byteOffset + IR_HEADER, root: a };
  }

  protected block(dir: number, vcn: number, blockBytes: number): IndexNode {
    const { runs } = this.nonResident(dir, TYPE_INDEX_ALLOCATION, I30);
    const unit = blockBytes >= this.g.clusterBytes ? this.g.clusterBytes : STRIDE;
    const s = this.structAt(
      `directory record ${dir}'s index block at VCN ${vcn}`,
      INDX_MAGIC,
      runs,
      vcn * unit,
      blockBytes,
    );
    if (!s) throw this.fail(`directory record ${dir}'s index block at VCN ${vcn} is not an INDX block`);
    return { s, header: INDX_HEADER, vcn };
  }

  protected entries(node: IndexNode): IndexEntry[] {
    const b = node.s.bytes,
      h = node.header;
    const end = h + u32(b, h + IH_LENGTH);
    const out: IndexEntry[] = [];
    for (let at = h + u32(b, h + IH_ENTRIES); at + IE_KEY <= end; ) {
      const length = u16(b, at + IE_LENGTH),
        flags = u16(b, at + IE_FLAGS),
        keyLength = u16(b, at + IE_KEY_LENGTH);
      if (length < IE_KEY || at + length > end || (!(flags & IE_LAST) && keyLength < FN_NAME))
        throw new NtfsError(`${this.part.name}: ${node.s.what}: a malformed index entry at ${at} (${length} bytes)`);
      const key = b.subarray(at + IE_KEY, at + IE_KEY + keyLength);
      const name = flags & IE_LAST ? "" : fromUtf16le(key.subarray(FN_NAME, FN_NAME + 2 * key[FN_NAME_LENGTH]));
      out.push({
        at,
        length,
        flags,
        ref: get64(b, at),
        name,
        subnode: flags & IE_SUBNODE ? Number(get64(b, at + length - 8)) : undefined,
      });
      if (flags & IE_LAST) return out;
      at += length;
    }
    throw new NtfsError(`${this.part.name}: ${node.s.what}: its index has no last entry`);
  }

  /** The entry for `name` in directory `dir`, or the leaf and entry it would go before. */
  find(
    dir: number,
    name: string,
  ): { node: IndexNode; entry: IndexEntry; found: boolean; path: Array<{ node: IndexNode; entry: IndexEntry }> } {
    let node = this.root(dir);
    const blockBytes = u32(node.s.bytes, node.header - IR_HEADER + IR_BLOCK_BYTES);
    const path: Array<{ node: IndexNode; entry: IndexEntry }> = [];
    for (let depth = 0; depth < DEPTH_MAX; depth++) {
      let next: IndexEntry | undefined;
      for (const e of this.entries(node)) {
        const c = e.flags & IE_LAST ? -1 : this.compare(name, e.name);
        if (c === 0) return { node, entry: e, found: true, path };
        if (c < 0) {
          next = e;
          break;
        }
      }
      if (next!.subnode === undefined) return { node, entry: next!, found: false, path };
      path.push({ node, entry: next! });
      node = this.block(dir, next!.subnode, blockBytes);
    }
    throw this.fail(`directory record ${dir}'s index is more than ${DEPTH_MAX} levels deep (a loop)`);
  }

  /** The record of the file or directory at `path` ("\\A\\B"), or undefined. */
  lookup(path: string): number | undefined {
    let n = REC_ROOT;
    for (const part of path.split("\\").filter((x) => x.length > 0)) {
      const f = this.find(n, part);
      if (!f.found) return undefined;
      n = Number(f.entry.ref & RECORD_MASK);
    }
    return n;
  }

  /**
   * Inserts an entry (file reference `ref`, key `key`) where `name` sorts in directory `dir`, in
   * its leaf, which must have room (one structure written, journaled when `journal` names a
   * place). The simulator's writer grows a full index instead (simulator/src/ntfs-writer.ts).
   */
  insert(dir: number, name: string, ref: bigint, key: Uint8Array, journal?: number): void {
    const f = this.find(dir, name);
    if (f.found) throw this.fail(`${name} is in directory record ${dir} already`);
    const length = align8(IE_KEY + key.length);
    const entry = new Uint8Array(length);
    put64(entry, 0, ref);
    put16(entry, IE_LENGTH, length);
    put16(entry, IE_KEY_LENGTH, key.length);
    entry.set(key, IE_KEY);
    const { node } = f,
      b = node.s.bytes,
      h = node.header;
    if (!this.fits(node, length)) {
      if (node.root)
        throw this.fail(
          `directory record ${dir}'s $INDEX_ROOT has no room for ${name} (${u32(b, REC_BYTES_IN_USE)} of ${b.length} bytes in use, the entry is ${length}); the ghost does not move a directory's index out of its record`,
        );
      throw this.fail(
        `directory record ${dir}'s index block at VCN ${node.vcn} is full (${u32(b, h + IH_LENGTH)} of ${u32(b, h + IH_ALLOCATED)} bytes, the entry is ${length}); the ghost does not split an index block: put the ghost in another directory`,
      );
    }
    this.place(node, f.entry.at, entry);
    node.s.write(journal);
  }

  protected fits(node: IndexNode, length: number): boolean {
    const b = node.s.bytes,
      h = node.header;
    if (node.root) return u32(b, REC_BYTES_IN_USE) + length <= b.length;
    return u32(b, h + IH_LENGTH) + length <= u32(b, h + IH_ALLOCATED);
  }

  /** Puts `entry` at `at` in the node's bytes (which fit it), its lengths updated; not written. */
  protected place(node: IndexNode, at: number, entry: Uint8Array): void {
    const b = node.s.bytes,
      h = node.header,
      length = entry.length;
    const used = u32(b, h + IH_LENGTH);
    if (node.root) {
      const inUse = u32(b, REC_BYTES_IN_USE);
      b.copyWithin(at + length, at, inUse);
      const a = node.root.at;
      put32(b, a + 4, u32(b, a + 4) + length); // attribute length
      put32(b, a + 16, u32(b, a + 16) + length); // value length
      put32(b, h + IH_ALLOCATED, u32(b, h + IH_ALLOCATED) + length);
      put32(b, REC_BYTES_IN_USE, inUse + length);
    } else b.copyWithin(at + length, at, h + used);
    b.set(entry, at);
    put32(b, h + IH_LENGTH, used + length);
  }

  blockBytes(dir: number): number {
    const root = this.root(dir);
    return u32(root.s.bytes, root.header - IR_HEADER + IR_BLOCK_BYTES);
  }

  /** Removes `name`'s entry from directory `dir` when it is in a leaf; false when it is not there or not in a leaf. */
  remove(dir: number, name: string, journal?: number): boolean {
    const f = this.find(dir, name);
    if (!f.found || f.entry.subnode !== undefined) return false;
    const { node } = f,
      b = node.s.bytes,
      h = node.header,
      length = f.entry.length;
    const used = u32(b, h + IH_LENGTH);
    if (node.root) {
      const inUse = u32(b, REC_BYTES_IN_USE);
      b.copyWithin(f.entry.at, f.entry.at + length, inUse);
      b.fill(0, inUse - length, inUse);
      const a = node.root.at;
      put32(b, a + 4, u32(b, a + 4) - length);
      put32(b, a + 16, u32(b, a + 16) - length);
      put32(b, h + IH_ALLOCATED, u32(b, h + IH_ALLOCATED) - length);
      put32(b, REC_BYTES_IN_USE, inUse - length);
    } else {
      b.copyWithin(f.entry.at, f.entry.at + length, h + used);
      b.fill(0, h + used - length, h + used);
    }
    put32(b, h + IH_LENGTH, used - length);
    node.s.write(journal);
    return true;
  }

  /** The patches that point `name`'s entry in `dir` at record `n` (`ref`), with its size. */
  repointPatches(dir: number, name: string, ref: bigint, allocated: number, size: number): Patch[] {
    const f = this.find(dir, name);
    if (!f.found) throw this.fail(`${name} is not in directory record ${dir}`);
    const v = new Uint8Array(8);
    put64(v, 0, ref);
    const out = f.node.s.patches(f.entry.at, v);
    put64(v, 0, BigInt(allocated));
    out.push(...f.node.s.patches(f.entry.at + IE_KEY + FN_ALLOCATED, v));
    put64(v, 0, BigInt(size));
    out.push(...f.node.s.patches(f.entry.at + IE_KEY + FN_SIZE, v));
    return out;
  }

  // ---- bitmaps --------------------------------------------------------------------------------

  /** Bit `bit` of the bitmap in `runs`: the partition byte that holds it. */
  private bitByte(runs: Run[], bit: number): number {
    const cb = this.g.clusterBytes,
      byte = Math.floor(bit / 8),
      vcn = Math.floor(byte / cb);
    const r = runs.find((x) => x.vcn <= vcn && vcn < x.vcn + x.length && x.lcn >= 0);
    if (!r) throw new NtfsError(`${this.part.name}: bitmap bit ${bit} is not in its runs`);
    return (r.lcn + vcn - r.vcn) * cb + (byte % cb);
  }

  /** Sets (or clears) bits [first, first + count) of the bitmap in `runs`, sector by sector. */
  setBits(runs: Run[], first: number, count: number, value: boolean): void {
    const ss = this.part.sectorSize;
    let lba = -1,
      sector: Uint8Array | undefined;
    for (let bit = first; bit < first + count; bit++) {
      const at = this.bitByte(runs, bit);
      if (Math.floor(at / ss) !== lba) {
        if (sector) this.part.write(lba, 1, sector, 0);
        lba = Math.floor(at / ss);
        sector = new Uint8Array(ss);
        this.part.read(lba, 1, sector, 0);
      }
      if (value) sector![at % ss] |= 1 << (bit & 7);
      else sector![at % ss] &= ~(1 << (bit & 7));
    }
    if (sector) this.part.write(lba, 1, sector, 0);
  }

  /** The patches that clear bits [first, first + count) of the bitmap in `runs`: whole bytes zeroed, the edges masked. */
  clearBitPatches(runs: Run[], first: number, count: number): Patch[] {
    const out: Patch[] = [];
    for (let bit = first; bit < first + count; ) {
      if ((bit & 7) === 0 && bit + 8 <= first + count) {
        const byteOffset = this.bitByte(runs, bit);
        const last = out[out.length - 1];
        if (last?.kind === PatchKind.zero && last.byteOffset + last.length === byteOffset) last.length++;
        else out.push({ byteOffset, length: 1, kind: PatchKind.zero });
        bit += 8;
        continue;
      }
      let mask = 0;
      const byte = bit >> 3;
      for (; bit < first + count && bit >> 3 === byte; bit++) mask |= 1 << (bit & 7);
      out.push({ byteOffset: this.bitByte(runs, byte * 8), length: 1, kind: PatchKind.mask, value: 0, mask });
    }
    return out;
  }

  bitmapRuns(): Run[] {
    return this.dataRuns(6);
  }

  mftBitmapRuns(): Run[] {
    return this.nonResident(0, TYPE_BITMAP, "").runs;
  }

  // ---- records --------------------------------------------------------------------------------

  /** Every record in use with a $FILE_NAME `name` (any case) in directory `dir` (any directory: -1). */
  named(dir: number, name: string): number[] {
    const out: number[] = [];
    const rb = this.g.recordBytes,
      chunk = Math.max(1, Math.floor((64 << 10) / rb));
    for (let n0 = REC_FIRST_FREE; n0 < this.mft.records; n0 += chunk) {
      const k = Math.min(chunk, this.mft.records - n0);
      const bytes = this.mft.readRuns(this.mft.mftRuns, n0 * rb, k * rb);
      for (let i = 0; i < k; i++) {
        const b = bytes.subarray(i * rb, (i + 1) * rb);
        if (latin1(b.subarray(0, 4)) !== "FILE" || (u16(b, REC_FLAGS) & REC_IN_USE) === 0 || get64(b, 32) !== 0n)
          continue;
        // a quick look for the name before the record is read properly
        let s: Struct | undefined;
        try {
          s = this.record(n0 + i);
        } catch {
          continue; // a torn record is no file of the ghost's
        }
        if (!s) continue;
        let list: Attribute[];
        let r: MftRecord;
        try {
          ({ r, list } = this.attrs(s, n0 + i));
        } catch {
          continue;
        }
        for (const a of list) {
          if (a.type !== TYPE_FILE_NAME || !a.resident) continue;
          const v = r.value(a, "$FILE_NAME");
          if (v.length < FN_NAME + 2 * v[FN_NAME_LENGTH]) continue;
          const nm = fromUtf16le(v.subarray(FN_NAME, FN_NAME + 2 * v[FN_NAME_LENGTH]));
          if ((dir < 0 || Number(get64(v, FN_PARENT) & RECORD_MASK) === dir) && this.compare(nm, name) === 0) {
            out.push(n0 + i);
            break;
          }
        }
      }
    }
    return out;
  }

  /** A file record's one run of clusters as a ghost extent, or undefined. */
  extent(n: number): GhostExtent | undefined {
    let runs: Run[];
    try {
      runs = this.dataRuns(n).filter((r) => r.length > 0);
    } catch {
      return undefined;
    }
    if (runs.length !== 1 || runs[0].lcn < 0) return undefined;
    const spc = this.g.clusterBytes / this.g.bytesPerSector;
    return { startSector: runs[0].lcn * spc, sectors: runs[0].length * spc };
  }

  /** A file reference: the record number and its sequence number. */
  ref(n: number, s = this.inUseRecord(n)): bigint {
    return BigInt(n) | (BigInt(u16(s.bytes, REC_SEQUENCE)) << 48n);
  }

  /**
   * A slot for a new record: the first not in use (its bit clear in $MFT's bitmap, and not in use
   * itself) from REC_FIRST_FREE; else one past the MFT's end, which `commit` (after the record is
   * written there) adds to the MFT: within its allocation, or in the clusters right after its last
   * run, which must be free (section 12.6).
   */
  recordSlot(avoid: ClusterRun[]): { n: number; runs: Run[]; clusters: ClusterRun[]; commit?: () => void } {
    const runs = this.mftBitmapRuns();
    const bytes = this.mft.readRuns(runs, 0, Math.ceil(this.mft.records / 8));
    for (let n = REC_FIRST_FREE; n < this.mft.records; n++) {
      if ((bytes[n >> 3] >> (n & 7)) & 1) continue;
      const s = this.record(n);
      if (!s || (u16(s.bytes, REC_FLAGS) & REC_IN_USE) === 0) return { n, runs: this.mft.mftRuns, clusters: [] };
    }
    return this.growth(avoid, false);
  }

  /**
   * The MFT grown by one record (recordSlot). `resuming`: the clusters after its last run are
   * expected marked already (a growth cut off between its $Bitmap bits and record 0).
   */
  private growth(
    avoid: ClusterRun[],
    resuming: boolean,
  ): { n: number; runs: Run[]; clusters: ClusterRun[]; commit?: () => void } {
    const bitmapBytes = this.nonResident(0, TYPE_BITMAP, "").size;
    const rb = this.g.recordBytes,
      cb = this.g.clusterBytes;
    const n = this.mft.records;
    const cannot = (why: string) =>
      this.fail(`the MFT has no free record among its ${n}, and cannot grow by one: ${why} (use a recovery partition)`);
    const s0 = this.inUseRecord(0);
    const { r, list } = this.attrs(s0, 0);
    // $MFT's $BITMAP grows by 8 bytes inside its allocation when it has no bit for the record
    const bma = list.find((a) => a.type === TYPE_BITMAP && a.name === "" && !a.resident);
    const bitmapGrows = n >= bitmapBytes * 8;
    if (bitmapGrows && (!bma || r.count("$MFT's bitmap allocation", bma.at + 40) < bitmapBytes + 8))
      throw cannot(`$MFT's bitmap (${bitmapBytes} bytes) has no bit for record ${n}, and no room to grow`);
    const data = list.find((a) => a.type === TYPE_DATA && a.name === "" && !a.resident)!;
    const dataSize = r.count("$MFT's data size", data.at + 48),
      allocated = r.count("$MFT's allocated size", data.at + 40);
    if (dataSize !== n * rb) throw cannot(`its data size ${dataSize} is not ${n} records of ${rb} bytes`);
    let mftRuns = this.mft.mftRuns;
    const clusters: ClusterRun[] = [];
    let pairs: Uint8Array | undefined;
    if (dataSize + rb > allocated) {
      const k = Math.ceil(rb / cb);
      const last = mftRuns[mftRuns.length - 1];
      const next = last.lcn + last.length;
      if (last.lcn < 0 || next + k > this.g.clusterCount || (!resuming && !this.clustersFree(next, k, avoid)))
        throw cannot(`the ${k} cluster(s) after its last run (from ${next}) are not free`);
      mftRuns = [...mftRuns.slice(0, -1), { ...last, length: last.length + k }];
      pairs = encodeRuns(mftRuns);
      const room = data.length - u16(s0.bytes, data.at + 32);
      if (pairs.length > room) throw cannot(`its runs would need ${pairs.length} bytes, its attribute holds ${room}`);
      clusters.push({ start: next, length: k });
    }
    const commit = () => {
      for (const c of clusters) this.setBits(this.bitmapRuns(), c.start, c.length, true);
      this.part.flush();
      const b = s0.bytes,
        a = data.at;
      if (bitmapGrows && bma) {
        const bmRuns = decodeRuns(r, bma, this.g.clusterCount);
        for (let i = 0; i < 8; i++) this.setBits(bmRuns, (bitmapBytes + i) * 8, 8, false); // the new bytes, zero
        put64(b, bma.at + 48, BigInt(bitmapBytes + 8));
        put64(b, bma.at + 56, BigInt(bitmapBytes + 8));
      }
      put64(b, a + 48, BigInt(dataSize + rb));
      put64(b, a + 56, BigInt(dataSize + rb));
      if (pairs) {
        const total = mftRuns.reduce((x, y) => Math.max(x, y.vcn + y.length), 0);
        put64(b, a + 24, BigInt(total - 1));
        put64(b, a + 40, BigInt(total * cb));
        const at = a + u16(b, a + 32);
        b.fill(0, at, a + data.length);
        b.set(pairs, at);
      }
      // $MFT's record 0, then its copy in $MFTMirr: the sectors that change, each whole
      s0.writeOver(true);
      new Struct(this, "$MFTMirr's record 0", b, this.dataRuns(1), 0).writeOver(true);
    };
    return { n, runs: mftRuns, clusters, commit };
  }

  /**
   * Finishes a growth of the MFT that a power cut stopped after its new cluster was marked in
   * $Bitmap (section 12.6): the record one past the MFT's end, in that cluster, is in use and
   * named `leaf` (the ghost's new record, written first). Returns whether it finished one.
   */
  resumeGrowth(leaf: string): boolean {
    let plan: { n: number; runs: Run[]; clusters: ClusterRun[]; commit?: () => void };
    try {
      plan = this.growth([], true);
    } catch {
      return false;
    }
    if (plan.clusters.length === 0 || !plan.commit) return false; // inside the allocation: nothing was marked
    if (this.clustersFree(plan.clusters[0].start, plan.clusters[0].length, [])) return false;
    const rb = this.g.recordBytes;
    let rec: Struct | undefined;
    try {
      rec = this.structAt(`MFT record ${plan.n}`, "FILE", plan.runs, plan.n * rb, rb);
    } catch {
      return false;
    }
    if (!rec || (u16(rec.bytes, REC_FLAGS) & REC_IN_USE) === 0) return false;
    const { r, list } = this.attrs(rec, plan.n);
    const named = list.some((a) => {
      if (a.type !== TYPE_FILE_NAME || !a.resident) return false;
      const v = r.value(a, "$FILE_NAME");
      return (
        v.length >= FN_NAME + 2 * v[FN_NAME_LENGTH] &&
        this.compare(fromUtf16le(v.subarray(FN_NAME, FN_NAME + 2 * v[FN_NAME_LENGTH])), leaf) === 0
      );
    });
    if (!named) return false;
    plan.commit();
    this.part.flush();
    return true;
  }

  /**
   * A new base record `n` (written over `old`, whose sequence and update sequence numbers it
   * keeps): $STANDARD_INFORMATION (the directory's security id), one $FILE_NAME in `dir` (Win32
   * and DOS when `name` is an 8.3 name in upper case, else POSIX), and a $DATA of one run, or
   * resident bytes, or (a directory) an empty $I30 index in its $INDEX_ROOT.
   */
  fileRecord(o: {
    n: number;
    old?: Struct;
    dir: number;
    name: string;
    attributes: number;
    content: { lcn: number; clusters: number; size: number } | { bytes: Uint8Array } | { directory: true };
    mtime: Date;
  }): { rec: Uint8Array; fn: Uint8Array; sequence: number } {
    const { n, old, dir, name, content } = o;
    const cb = this.g.clusterBytes,
      rb = this.g.recordBytes;
    const sequence = (old && u16(old.bytes, REC_SEQUENCE)) || 1;
    const t = ntTime(o.mtime);
    const dirRec = this.inUseRecord(dir);
    const { r: dr, list: dl } = this.attrs(dirRec, dir);
    const dsi = dl.find((a) => a.type === TYPE_STANDARD_INFORMATION && a.resident);
    const si = new Uint8Array(SI_BYTES);
    for (const at of [0, 8, 16, 24]) put64(si, at, t);
    put32(si, SI_ATTRIBUTES, o.attributes);
    if (dsi) {
      const v = dr.value(dsi, "$STANDARD_INFORMATION");
      if (v.length >= SI_SECURITY_ID + 4) put32(si, SI_SECURITY_ID, u32(v, SI_SECURITY_ID));
    }
    const directory = "directory" in content;
    const [allocated, size] =
      "lcn" in content
        ? [content.clusters * cb, content.size]
        : "bytes" in content
          ? [align8(content.bytes.length), content.bytes.length]
          : [0, 0];
    const fn = fileName(
      this.ref(dir, dirRec),
      name,
      directory ? o.attributes | FN_DIRECTORY : o.attributes,
      allocated,
      size,
      t,
    );
    fn[FN_NAMESPACE] = /^[A-Z0-9$%'\-_@~`!(){}^#&]{1,8}(\.[A-Z0-9$%'\-_@~`!(){}^#&]{1,3})?$/.test(name)
      ? NS_WIN32_AND_DOS
      : NS_POSIX;
    let third: Uint8Array;
    if ("lcn" in content) {
      const pairs = mappingPairs(content.lcn, content.clusters);
      third = new Uint8Array(align8(64 + pairs.length));
      put32(third, 0, TYPE_DATA);
      put32(third, 4, third.length);
      third[8] = 1; // non-resident
      put16(third, 10, 64);
      put16(third, 14, 2);
      put64(third, 24, BigInt(content.clusters - 1));
      put16(third, 32, 64);
      put64(third, 40, BigInt(content.clusters * cb));
      put64(third, 48, BigInt(content.size));
      put64(third, 56, BigInt(content.size));
      third.set(pairs, 64);
    } else if ("bytes" in content) third = resident(TYPE_DATA, 2, content.bytes, false);
    else {
      // $INDEX_ROOT $I30: indexed attribute $FILE_NAME, file-name collation, the volume's block size, an end entry
      const blockBytes = this.blockBytes(REC_ROOT);
      const v = new Uint8Array(IR_HEADER + 16 + IE_KEY);
      put32(v, 0, TYPE_FILE_NAME);
      put32(v, 4, COLLATION_FILE_NAME);
      put32(v, IR_BLOCK_BYTES, blockBytes);
      v[12] = blockBytes >= cb ? blockBytes / cb : blockBytes / STRIDE;
      put32(v, IR_HEADER + IH_ENTRIES, 16);
      put32(v, IR_HEADER + IH_LENGTH, 16 + IE_KEY);
      put32(v, IR_HEADER + IH_ALLOCATED, 16 + IE_KEY);
      put16(v, IR_HEADER + 16 + IE_LENGTH, IE_KEY);
      put16(v, IR_HEADER + 16 + IE_FLAGS, IE_LAST);
      third = new Uint8Array(align8(32 + v.length));
      put32(third, 0, TYPE_INDEX_ROOT);
      put32(third, 4, third.length);
      third[9] = 4; // "$I30"
      put16(third, 10, 24);
      put16(third, 14, 2);
      put32(third, 16, v.length);
      put16(third, 20, 32);
      for (let i = 0; i < 4; i++) put16(third, 24 + 2 * i, I30.charCodeAt(i));
      third.set(v, 32);
    }
    const rec = new Uint8Array(rb);
    rec.set([0x46, 0x49, 0x4c, 0x45]); // FILE
    put16(rec, 4, REC_USA);
    put16(rec, 6, rb / STRIDE + 1);
    put16(rec, REC_SEQUENCE, sequence);
    put16(rec, REC_LINKS, 1);
    const first = align8(REC_USA + 2 * (rb / STRIDE + 1));
    put16(rec, REC_FIRST_ATTR, first);
    put16(rec, REC_FLAGS, directory ? REC_IN_USE | REC_DIRECTORY : REC_IN_USE);
    put32(rec, REC_BYTES_ALLOCATED, rb);
    put16(rec, REC_NEXT_ATTR_ID, 3);
    put32(rec, REC_NUMBER, n);
    // the update sequence number of the record it is written over, kept (Struct.writeOver)
    put16(rec, REC_USA, old ? u16(old.bytes, u16(old.bytes, 4)) : 1);
    let at = first;
    for (const a of [resident(TYPE_STANDARD_INFORMATION, 0, si, false), resident(TYPE_FILE_NAME, 1, fn, true), third]) {
      if (at + a.length + 8 > rb) throw this.fail(`${name}: its record would need more than ${rb} bytes`);
      rec.set(a, at);
      at += a.length;
    }
    put32(rec, at, ATTR_END);
    put32(rec, REC_BYTES_IN_USE, at + 8);
    return { rec, fn, sequence };
  }

  /** Whether clusters [first, first + count) are free in $Bitmap and not in `avoid`. */
  private clustersFree(first: number, count: number, avoid: ClusterRun[]): boolean {
    if (avoid.some((r) => r.start < first + count && r.start + r.length > first)) return false;
    const b = this.mft.readRuns(this.bitmapRuns(), first >> 3, ((first + count - 1) >> 3) - (first >> 3) + 1);
    for (let c = first; c < first + count; c++) if ((b[(c >> 3) - (first >> 3)] >> (c & 7)) & 1) return false;
    return true;
  }

  /** The highest run of `count` clusters that $Bitmap marks free and `avoid` does not name. */
  freeRun(count: number, avoid: ClusterRun[]): number {
    const runs = this.bitmapRuns();
    const cc = this.g.clusterCount;
    const chunk = 64 << 10; // bytes of the bitmap read at once, from the end
    const sorted = avoid.filter((r) => r.length > 0).sort((a, b) => a.start - b.start);
    const avoided = (c: number) => {
      let lo = 0,
        hi = sorted.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid].start + sorted[mid].length <= c) lo = mid + 1;
        else if (sorted[mid].start > c) hi = mid - 1;
        else return true;
      }
      return false;
    };
    let run = 0;
    for (let endByte = Math.ceil(cc / 8); endByte > 0; endByte -= chunk) {
      const from = Math.max(0, endByte - chunk);
      const b = this.mft.readRuns(runs, from, endByte - from);
      for (let c = Math.min(cc, endByte * 8) - 1; c >= from * 8; c--) {
        const free = ((b[(c >> 3) - from] >> (c & 7)) & 1) === 0 && !avoided(c);
        run = free ? run + 1 : 0;
        if (run === count) return c;
      }
    }
    throw new GhostSpaceError(
      `${this.part.name}: no room for the ghost: it needs ${count} clusters of ${this.g.clusterBytes} bytes in one run that $Bitmap marks free`,
    );
  }
}

export const ntTime = (d: Date) => BigInt(d.getTime() + NT_EPOCH_MS) * 10000n;

/** A resident attribute: header and value. */
export function resident(type: number, id: number, value: Uint8Array, indexed: boolean): Uint8Array {
  const a = new Uint8Array(align8(24 + value.length));
  put32(a, 0, type);
  put32(a, 4, a.length);
  put16(a, 10, 24); // name offset
  put16(a, 14, id);
  put32(a, 16, value.length);
  put16(a, 20, 24);
  a[22] = indexed ? 1 : 0;
  a.set(value, 24);
  return a;
}

/** The mapping pairs of runs (each LCN as a delta from the previous one; a sparse run has none), with the terminator. */
export function encodeRuns(runs: Run[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const r of runs) {
    const one = mappingPairs(r.lcn < 0 ? 0 : r.lcn - prev, r.length);
    if (r.lcn < 0) parts.push(Uint8Array.from([one[0] & 15, ...one.subarray(1, 1 + (one[0] & 15))]));
    else parts.push(one.subarray(0, one.length - 1));
    if (r.lcn >= 0) prev = r.lcn;
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0) + 1);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The mapping pairs of one run. */
export function mappingPairs(lcn: number, length: number): Uint8Array {
  const bytesOf = (x: number, signed: boolean) => {
    const out: number[] = [];
    let v = BigInt(x);
    do {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    } while (
      signed ? !((v === 0n && out[out.length - 1] < 0x80) || (v === -1n && out[out.length - 1] >= 0x80)) : v !== 0n
    );
    return out;
  };
  const l = bytesOf(length, true), // lengths are signed too: 241 is F1 00, not F1
    o = bytesOf(lcn, true);
  return Uint8Array.from([l.length | (o.length << 4), ...l, ...o, 0]);
}

/** $FILE_NAME's value: `name` in `parent` (Win32 and DOS), with the file's attributes and sizes. */
export function fileName(
  parent: bigint,
  name: string,
  attributes: number,
  allocated: number,
  size: number,
  t: bigint,
): Uint8Array {
  const v = new Uint8Array(FN_NAME + 2 * name.length);
  put64(v, FN_PARENT, parent);
  for (const at of [8, 16, 24, 32]) put64(v, at, t);
  put64(v, FN_ALLOCATED, BigInt(allocated));
  put64(v, FN_SIZE, BigInt(size));
  put32(v, FN_FLAGS, attributes);
  v[FN_NAME_LENGTH] = name.length;
  v[FN_NAMESPACE] = NS_WIN32_AND_DOS;
  for (let i = 0; i < name.length; i++) put16(v, FN_NAME + 2 * i, name.charCodeAt(i));
  return v;
}
