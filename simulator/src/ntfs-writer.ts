// The simulator's NTFS writer (as exfat-writer.ts is for exFAT): directories and files on an
// NTFS volume, through the portable NTFS primitives (firmware-module/src/ops/ntfs-volume.ts): a
// base MFT record per file or directory (the MFT grown when it is full), $DATA resident in the
// record when it is small, else one run of clusters taken from the top of the volume (the MFT
// zone after the MFT stays free for it to grow into), and the name inserted into its directory's
// $I30 index, which grows: a full $INDEX_ROOT moves down into an index block, a full block is
// split. Checked by ntfsfix, ntfsresize, ntfsls and ntfscat in the tests. It writes a volume
// that nothing else is using; it is not made to survive a power cut.

import { BlockDevice, writeBytes } from "../../firmware-module/src/ops/devices";
import { ClusterbackError } from "../../firmware-module/src/ops/errors";
import { decodeRuns } from "../../firmware-module/src/ops/ntfs-mft";
import {
  align8,
  encodeRuns,
  I30,
  IE_FLAGS,
  IE_KEY,
  IE_KEY_LENGTH,
  IE_LAST,
  IE_LENGTH,
  IE_SUBNODE,
  IH_ALLOCATED,
  IH_ENTRIES,
  IH_LENGTH,
  INDX_HEADER,
  INDX_USA,
  IndexEntry,
  IndexNode,
  NtfsVolume,
  put16,
  put32,
  put64,
  REC_BYTES_IN_USE,
  REC_NEXT_ATTR_ID,
  STRIDE,
  Struct,
  TYPE_BITMAP,
  TYPE_INDEX_ALLOCATION,
  u16,
  u32,
} from "../../firmware-module/src/ops/ntfs-volume";

export class NtfsWriterError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "NtfsWriterError";
  }
}

/** Files this small live in their MFT record. */
const RESIDENT_MAX = 512;
const ATTRIBUTE_ARCHIVE = 0x20;

export class NtfsWriter {
  constructor(
    readonly part: BlockDevice,
    readonly mtime = new Date(Date.UTC(2026, 0, 1)),
  ) {}

  private split(path: string): string[] {
    const parts = path.split(/[\\/]/).filter((p) => p.length > 0);
    if (parts.length === 0) throw new NtfsWriterError(`${this.part.name}: "${path}" names no file`);
    for (const p of parts)
      if (p.length > 255 || /[\u0000/\\:*?"<>|]/.test(p))
        throw new NtfsWriterError(`${this.part.name}: "${p}" in ${path} is not a name NTFS takes from this writer`);
    return parts;
  }

  /** Makes directory `path` and the directories above it that are missing. */
  mkdir(path: string): void {
    let at = "";
    for (const p of this.split(path)) {
      const parent = at || "\\";
      at = `${at}\\${p}`;
      const vol = new NtfsVolume(this.part);
      const n = vol.lookup(at);
      if (n !== undefined) {
        const s = vol.inUseRecord(n);
        if ((s.bytes[22] & 2) === 0) throw new NtfsWriterError(`${this.part.name}: ${at} is a file, not a directory`);
        continue;
      }
      this.create(parent, p, { directory: true }, 0);
    }
  }

  /** Writes file `path` (its directory made when missing) with `data`. */
  writeFile(path: string, data: Uint8Array, attributes = ATTRIBUTE_ARCHIVE): void {
    const parts = this.split(path);
    const dir = parts.length > 1 ? `\\${parts.slice(0, -1).join("\\")}` : "\\";
    if (dir !== "\\") this.mkdir(dir);
    const vol = new NtfsVolume(this.part);
    if (vol.lookup(`${dir === "\\" ? "" : dir}\\${parts[parts.length - 1]}`) !== undefined)
      throw new NtfsWriterError(`${this.part.name}: ${path} exists already`);
    if (data.length <= RESIDENT_MAX) {
      this.create(dir, parts[parts.length - 1], { bytes: data }, attributes);
      return;
    }
    const cb = vol.g.clusterBytes,
      clusters = Math.ceil(data.length / cb);
    const lcn = vol.freeRun(clusters, []);
    const padded = new Uint8Array(clusters * cb);
    padded.set(data);
    writeBytes(vol.part, lcn * cb, padded);
    vol.setBits(vol.bitmapRuns(), lcn, clusters, true);
    this.create(dir, parts[parts.length - 1], { lcn, clusters, size: data.length }, attributes);
  }

  /** A record for `name` in directory `dirPath`, its bits set, its name indexed. */
  private create(
    dirPath: string,
    name: string,
    content: { lcn: number; clusters: number; size: number } | { bytes: Uint8Array } | { directory: true },
    attributes: number,
  ): void {
    let vol = new GrowingNtfsVolume(this.part);
    const dir = vol.lookup(dirPath);
    if (dir === undefined) throw new NtfsWriterError(`${this.part.name}: no directory ${dirPath}`);
    const avoid = "lcn" in content ? [{ start: content.lcn, length: content.clusters }] : [];
    const slot = vol.recordSlot(avoid);
    const old = slot.commit ? undefined : vol.record(slot.n);
    const { rec, fn, sequence } = vol.fileRecord({ n: slot.n, old, dir, name, attributes, content, mtime: this.mtime });
    const rb = vol.g.recordBytes;
    new Struct(vol, `MFT record ${slot.n}`, rec, slot.runs, slot.n * rb).writeOver();
    if (slot.commit) {
      slot.commit();
      vol = new GrowingNtfsVolume(this.part);
    }
    vol.setBits(vol.mftBitmapRuns(), slot.n, 1, true);
    vol.insertGrowing(dir, name, BigInt(slot.n) | (BigInt(sequence) << 48n), fn);
  }

  flush(): void {
    this.part.flush();
  }
}

/**
 * The index growth the writer needs and the ghost does not (so it stays out of the firmware
 * bundle): a full $INDEX_ROOT moves its entries down into a new index block (the directory's
 * $INDEX_ALLOCATION and $BITMAP made, or grown by a run), and a full block splits in two, its
 * median moved up, as far up as needed. Not made to survive a power cut.
 */
export class GrowingNtfsVolume extends NtfsVolume {
  /** Inserts an entry where `name` sorts in directory `dir`, growing the index when its leaf is full. */
  insertGrowing(dir: number, name: string, ref: bigint, key: Uint8Array): void {
    const f = this.find(dir, name);
    if (f.found) throw this.fail(`${name} is in directory record ${dir} already`);
    const length = align8(IE_KEY + key.length);
    const entry = new Uint8Array(length);
    put64(entry, 0, ref);
    put16(entry, IE_LENGTH, length);
    put16(entry, IE_KEY_LENGTH, key.length);
    entry.set(key, IE_KEY);
    this.insertInto(dir, f.path, f.node, f.entry.at, entry);
  }

  /** The node's entries as bytes, `entry` put in at `at`. */
  private entryList(node: IndexNode, at: number, entry: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const e of this.entries(node)) {
      if (e.at === at) out.push(entry);
      out.push(node.s.bytes.slice(e.at, e.at + e.length));
    }
    return out;
  }

  /** `entry` into `node` at `at` (`path`: the node's ancestors and the entries descended through). */
  private insertInto(
    dir: number,
    path: Array<{ node: IndexNode; entry: IndexEntry }>,
    node: IndexNode,
    at: number,
    entry: Uint8Array,
  ): void {
    if (node.root) node = this.root(dir); // the record may have changed under it (a block allocated)
    if (this.fits(node, entry.length)) {
      this.place(node, at, entry);
      node.s.write();
      return;
    }
    const blockBytes = this.blockBytes(dir);
    if (node.root) {
      // the root's entries (and the new one) move down into a new block; the root keeps an end
      // entry that points to it (written first, so that the record has room for the index's
      // allocation and bitmap, then pointed at the block)
      const list = this.entryList(node, at, entry);
      const children = (node.s.bytes[node.header + 12] & 1) !== 0;
      this.rootToEnd(node, 0);
      const vcn = this.allocBlock(dir, blockBytes);
      this.newBlock(dir, vcn, blockBytes, list, children).s.write();
      if (vcn !== 0) this.rootToEnd(this.root(dir), vcn);
      return;
    }
    // a full block: split in two by bytes, the median moved up into the parent
    const list = this.entryList(node, at, entry);
    const children = (node.s.bytes[node.header + 12] & 1) !== 0;
    const total = list.reduce((x, e) => x + e.length, 0);
    let m = 0;
    for (let acc = 0; m < list.length - 2 && acc + list[m].length <= total / 2; m++) acc += list[m].length;
    const median = list[m];
    const vcn = this.allocBlock(dir, blockBytes);
    // the left half: the entries below the median, and an end entry that points where the median did
    const leftEnd = new Uint8Array(children ? IE_KEY + 8 : IE_KEY);
    put16(leftEnd, IE_LENGTH, leftEnd.length);
    put16(leftEnd, IE_FLAGS, IE_LAST | (children ? IE_SUBNODE : 0));
    if (children) leftEnd.set(median.subarray(median.length - 8), IE_KEY);
    this.newBlock(dir, vcn, blockBytes, [...list.slice(0, m), leftEnd], children).s.write();
    // the right half stays in the block
    const right = this.block(dir, node.vcn!, blockBytes);
    this.fillBlock(right, list.slice(m + 1), children);
    right.s.write();
    // the median, pointing to the left half, goes into the parent before the entry that led here
    const keyLength = u16(median, IE_KEY_LENGTH);
    const up = new Uint8Array(align8(IE_KEY + keyLength) + 8);
    up.set(median.subarray(0, IE_KEY + keyLength));
    put16(up, IE_LENGTH, up.length);
    put16(up, IE_FLAGS, IE_SUBNODE);
    put64(up, up.length - 8, BigInt(vcn));
    const parent = path[path.length - 1];
    this.insertInto(dir, path.slice(0, -1), parent.node, parent.entry.at, up);
  }

  /** The root's entries replaced by one end entry pointing to the block at `vcn`; written. */
  private rootToEnd(root: IndexNode, vcn: number): void {
    const b = root.s.bytes,
      h = root.header,
      a = root.root!;
    const first = h + u32(b, h + IH_ENTRIES),
      used = u32(b, h + IH_LENGTH);
    const end = new Uint8Array(IE_KEY + 8);
    put16(end, IE_LENGTH, end.length);
    put16(end, IE_FLAGS, IE_SUBNODE | IE_LAST);
    put64(end, IE_KEY, BigInt(vcn));
    const delta = first + end.length - (h + used);
    const inUse = u32(b, REC_BYTES_IN_USE);
    b.copyWithin(h + used + delta, h + used, inUse);
    b.set(end, first);
    if (delta < 0) b.fill(0, inUse + delta, inUse);
    put32(b, a.at + 4, u32(b, a.at + 4) + delta);
    put32(b, a.at + 16, u32(b, a.at + 16) + delta);
    put32(b, h + IH_LENGTH, used + delta);
    put32(b, h + IH_ALLOCATED, used + delta);
    b[h + 12] |= 1; // the root has children
    put32(b, REC_BYTES_IN_USE, inUse + delta);
    root.s.write();
  }

  /** A new INDX block at `vcn` holding `list` (ending in its end entry). */
  private newBlock(dir: number, vcn: number, blockBytes: number, list: Uint8Array[], children: boolean): IndexNode {
    const b = new Uint8Array(blockBytes);
    b.set([0x49, 0x4e, 0x44, 0x58]); // INDX
    const count = blockBytes / STRIDE + 1;
    put16(b, 4, INDX_USA);
    put16(b, 6, count);
    put64(b, 16, BigInt(vcn));
    put32(b, INDX_HEADER + IH_ENTRIES, align8(INDX_USA + 2 * count) - INDX_HEADER);
    put32(b, INDX_HEADER + IH_ALLOCATED, blockBytes - INDX_HEADER);
    const { runs } = this.nonResident(dir, TYPE_INDEX_ALLOCATION, I30);
    const node: IndexNode = {
      s: new Struct(
        this,
        `directory record ${dir}'s index block at VCN ${vcn}`,
        b,
        runs,
        vcn * this.vcnUnit(blockBytes),
      ),
      header: INDX_HEADER,
      vcn,
    };
    this.fillBlock(node, list, children);
    return node;
  }

  /** A block's entries replaced by `list`, its flags and length set. */
  private fillBlock(node: IndexNode, list: Uint8Array[], children: boolean): void {
    const b = node.s.bytes,
      h = node.header;
    let at = h + u32(b, h + IH_ENTRIES);
    const total = list.reduce((x, e) => x + e.length, 0);
    if (at + total > h + u32(b, h + IH_ALLOCATED))
      throw this.fail(`${node.s.what}: ${total} bytes of entries do not fit its ${u32(b, h + IH_ALLOCATED)}`);
    b.fill(0, at, h + u32(b, h + IH_ALLOCATED));
    for (const e of list) {
      b.set(e, at);
      at += e.length;
    }
    put32(b, h + IH_LENGTH, at - h);
    b[h + 12] = children ? 1 : 0;
  }

  private vcnUnit(blockBytes: number): number {
    return blockBytes >= this.g.clusterBytes ? this.g.clusterBytes : STRIDE;
  }

  /**
   * A free index block of directory `dir`: its bit set in the index's $BITMAP, the
   * $INDEX_ALLOCATION grown by a block when every block is in use (or made, with its $BITMAP,
   * when the directory had none); new clusters marked in $Bitmap. Returns its VCN.
   */
  private allocBlock(dir: number, blockBytes: number): number {
    const cb = this.g.clusterBytes,
      unit = this.vcnUnit(blockBytes);
    const s = this.inUseRecord(dir);
    const b = s.bytes;
    const { r, list } = this.attrs(s, dir);
    const ia = list.find((a) => a.type === TYPE_INDEX_ALLOCATION && a.name === I30);
    const bm = list.find((a) => a.type === TYPE_BITMAP && a.name === I30);
    const take = (k: number) => {
      const lcn = this.freeRun(k, []);
      this.setBits(this.bitmapRuns(), lcn, k, true);
      return lcn;
    };
    const k = Math.ceil(blockBytes / cb);
    if (!ia || !bm) {
      if (ia || bm)
        throw this.fail(`directory record ${dir} has an index allocation without its bitmap, or the other way`);
      const lcn = take(k);
      const pairs = encodeRuns([{ vcn: 0, lcn, length: k }]);
      const alloc = new Uint8Array(align8(72 + pairs.length));
      put32(alloc, 0, TYPE_INDEX_ALLOCATION);
      put32(alloc, 4, alloc.length);
      alloc[8] = 1;
      alloc[9] = 4; // "$I30"
      put16(alloc, 10, 64);
      put16(alloc, 14, u16(b, REC_NEXT_ATTR_ID));
      put64(alloc, 24, BigInt(k - 1));
      put16(alloc, 32, 72);
      put64(alloc, 40, BigInt(k * cb));
      put64(alloc, 48, BigInt(blockBytes));
      put64(alloc, 56, BigInt(blockBytes));
      for (let i = 0; i < 4; i++) put16(alloc, 64 + 2 * i, I30.charCodeAt(i));
      alloc.set(pairs, 72);
      const bits = new Uint8Array(40);
      put32(bits, 0, TYPE_BITMAP);
      put32(bits, 4, bits.length);
      bits[9] = 4;
      put16(bits, 10, 24);
      put16(bits, 14, u16(b, REC_NEXT_ATTR_ID) + 1);
      put32(bits, 16, 8);
      put16(bits, 20, 32);
      for (let i = 0; i < 4; i++) put16(bits, 24 + 2 * i, I30.charCodeAt(i));
      bits[32] = 1;
      put16(b, REC_NEXT_ATTR_ID, u16(b, REC_NEXT_ATTR_ID) + 2);
      const before = list.find((a) => a.type > TYPE_BITMAP)?.at ?? u32(b, REC_BYTES_IN_USE) - 8;
      this.insertBytes(s, dir, before, Uint8Array.from([...alloc, ...bits]));
      s.write();
      return 0;
    }
    const bitmap = r.value(bm, "the index's $BITMAP");
    const allocated = r.count("index allocated size", ia.at + 40),
      dataSize = r.count("index data size", ia.at + 48);
    for (let i = 0; i < bitmap.length * 8; i++) {
      if ((bitmap[i >> 3] >> (i & 7)) & 1) continue;
      if ((i + 1) * blockBytes > allocated) break;
      bitmap[i >> 3] |= 1 << (i & 7);
      if ((i + 1) * blockBytes > dataSize) {
        put64(b, ia.at + 48, BigInt((i + 1) * blockBytes));
        put64(b, ia.at + 56, BigInt((i + 1) * blockBytes));
      }
      s.write();
      return (i * blockBytes) / unit;
    }
    // every block in use: the allocation grows by one block's clusters, a run at its end
    const i = Math.ceil(dataSize / blockBytes);
    const runs = decodeRuns(r, ia, this.g.clusterCount);
    const vcnEnd = runs.reduce((x, y) => Math.max(x, y.vcn + y.length), 0);
    const lcn = take(k);
    const pairs = encodeRuns([...runs, { vcn: vcnEnd, lcn, length: k }]);
    const runsAt = u16(b, ia.at + 32);
    const need = align8(runsAt + pairs.length);
    if (need > ia.length) this.insertBytes(s, dir, ia.at + ia.length, new Uint8Array(need - ia.length), ia.at);
    b.fill(0, ia.at + runsAt, ia.at + u32(b, ia.at + 4));
    b.set(pairs, ia.at + runsAt);
    put64(b, ia.at + 24, BigInt(vcnEnd + k - 1));
    put64(b, ia.at + 40, BigInt((vcnEnd + k) * cb));
    put64(b, ia.at + 48, BigInt((i + 1) * blockBytes));
    put64(b, ia.at + 56, BigInt((i + 1) * blockBytes));
    // its bit: the $BITMAP's value grows by 8 bytes when it has none for the block
    const bmNow = this.attrs(s, dir).list.find((a) => a.type === TYPE_BITMAP && a.name === I30)!;
    const valueAt = bmNow.at + u16(b, bmNow.at + 20);
    if (i >= u32(b, bmNow.at + 16) * 8) {
      const grow = 8;
      this.insertBytes(s, dir, valueAt + u32(b, bmNow.at + 16), new Uint8Array(grow), bmNow.at);
      put32(b, bmNow.at + 16, u32(b, bmNow.at + 16) + grow);
    }
    b[valueAt + (i >> 3)] |= 1 << (i & 7);
    s.write();
    return (i * blockBytes) / unit;
  }

  /** Inserts `bytes` at `at` in record `dir`'s bytes (the attributes after it move); `owner`: the attribute that grows by them. */
  private insertBytes(s: Struct, dir: number, at: number, bytes: Uint8Array, owner?: number): void {
    const b = s.bytes;
    const inUse = u32(b, REC_BYTES_IN_USE);
    if (inUse + bytes.length > b.length)
      throw this.fail(
        `directory record ${dir} has no room for ${bytes.length} more bytes (${inUse} of ${b.length} in use; attribute lists are not written)`,
      );
    b.copyWithin(at + bytes.length, at, inUse);
    b.set(bytes, at);
    if (owner !== undefined) put32(b, owner + 4, u32(b, owner + 4) + bytes.length);
    put32(b, REC_BYTES_IN_USE, inUse + bytes.length);
  }
}
