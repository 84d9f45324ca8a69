// The simulator's exFAT file writer: directories and files on a volume mkfs.exfat made (the
// Linux kernel driver or a FUSE mount is not needed, and exfatprogs has no tool that adds
// files). Files are contiguous (NoFatChain, FAT entries left 0, as Windows writes them) or,
// when asked, fragmented with a FAT chain; the allocation bitmap is kept right. Checked by
// fsck.exfat in the tests. ASCII names only (the up-case of an ASCII name is its upper case).

import { ClusterbackError } from "../../firmware-module/src/ops/errors";
import { ExfatGeometry, nameHash, readExfatGeometry, setChecksum } from "../../firmware-module/src/ops/exfat-dir";
import { BlockDevice } from "../../host-shim/src/native/devices";

export { type ExfatGeometry, nameHash, readExfatGeometry, setChecksum };

export class ExfatWriterError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "ExfatWriterError";
  }
}

const EOC = 0xffffffff;
const ENTRY = 32;
const DEFAULT_TIME = ((2026 - 1980) << 25) | (1 << 21) | (1 << 16); // 2026-01-01 00:00:00

interface Dir {
  clusters: number[];
  bytes: Uint8Array;
}

export class ExfatWriter {
  readonly g: ExfatGeometry;
  private readonly fat: DataView;
  private readonly fatBytes: Uint8Array;
  private readonly bitmap: Uint8Array;
  private readonly bitmapCluster: number;
  private readonly dirs = new Map<number, Dir>();
  private next = 2;

  constructor(readonly part: BlockDevice) {
    const boot = new Uint8Array(part.sectorSize);
    part.read(0, 1, boot, 0);
    this.g = readExfatGeometry(boot);
    const g = this.g;
    if (g.bytesPerSector !== part.sectorSize)
      throw new ExfatWriterError(
        `${part.name}: BytesPerSectorShift says ${g.bytesPerSector}-byte sectors, the device has ${part.sectorSize}`,
      );
    this.fatBytes = new Uint8Array(g.fatLength * g.bytesPerSector);
    part.read(g.fatOffset, g.fatLength, this.fatBytes, 0);
    this.fat = new DataView(this.fatBytes.buffer);
    const root = this.loadDir(g.rootCluster, this.chain(g.rootCluster));
    let bm: { cluster: number; bytes: number } | undefined;
    for (let at = 0; at < root.bytes.length; at += ENTRY)
      if (root.bytes[at] === 0x81) {
        const v = new DataView(root.bytes.buffer, at, ENTRY);
        bm = { cluster: v.getUint32(20, true), bytes: Number(v.getBigUint64(24, true)) };
        break;
      }
    if (!bm) throw new ExfatWriterError(`${part.name}: the root directory has no allocation bitmap entry`);
    this.bitmapCluster = bm.cluster;
    this.bitmap = this.readClusters(this.chain(bm.cluster), bm.bytes);
  }

  private lba(c: number): number {
    return this.g.clusterHeapOffset + (c - 2) * this.g.sectorsPerCluster;
  }
  private fatGet(c: number): number {
    return this.fat.getUint32(c * 4, true);
  }
  private fatSet(c: number, v: number): void {
    this.fat.setUint32(c * 4, v >>> 0, true);
  }
  private used(c: number): boolean {
    return (this.bitmap[(c - 2) >> 3] & (1 << ((c - 2) & 7))) !== 0;
  }
  private mark(c: number): void {
    this.bitmap[(c - 2) >> 3] |= 1 << ((c - 2) & 7);
  }

  private chain(first: number): number[] {
    const out: number[] = [];
    for (let c = first; c >= 2 && c < this.g.clusterCount + 2; c = this.fatGet(c)) {
      out.push(c);
      if (out.length > this.g.clusterCount)
        throw new ExfatWriterError(`${this.part.name}: the FAT chain from ${first} loops`);
    }
    return out;
  }

  private readClusters(clusters: number[], bytes: number): Uint8Array {
    const cb = this.g.clusterBytes,
      out = new Uint8Array(clusters.length * cb);
    clusters.forEach((c, i) => this.part.read(this.lba(c), this.g.sectorsPerCluster, out, i * cb));
    return out.subarray(0, bytes);
  }

  private loadDir(key: number, clusters: number[]): Dir {
    const d = { clusters, bytes: this.readClusters(clusters, clusters.length * this.g.clusterBytes) };
    this.dirs.set(key, d);
    return d;
  }

  /** `count` free clusters: one run (contiguous) or every other free cluster (fragmented). */
  private allocate(count: number, fragmented: boolean): number[] {
    const out: number[] = [];
    let skip = false;
    for (let c = this.next; c < this.g.clusterCount + 2 && out.length < count; c++) {
      if (this.used(c)) {
        if (!fragmented) out.length = 0;
        continue;
      }
      if (fragmented && skip) {
        skip = false;
        continue;
      }
      if (!fragmented && out.length && out[out.length - 1] !== c - 1) out.length = 0;
      out.push(c);
      skip = true;
    }
    if (out.length < count)
      throw new ExfatWriterError(`${this.part.name}: no room for ${count} clusters${fragmented ? "" : " in one run"}`);
    for (const c of out) this.mark(c);
    this.next = out[out.length - 1] + 1;
    return out;
  }

  private link(clusters: number[]): void {
    clusters.forEach((c, i) => this.fatSet(c, i + 1 < clusters.length ? clusters[i + 1] : EOC));
  }

  private writeData(clusters: number[], data: Uint8Array): void {
    const cb = this.g.clusterBytes;
    clusters.forEach((c, i) => {
      const chunk = new Uint8Array(cb);
      chunk.set(data.subarray(i * cb, Math.min(data.length, (i + 1) * cb)));
      this.part.write(this.lba(c), this.g.sectorsPerCluster, chunk, 0);
    });
  }

  private resolve(components: string[]): Dir {
    let dir = this.dirs.get(this.g.rootCluster)!;
    for (const name of components) {
      const e = this.find(dir, name);
      if (!e || !(e.attributes & 0x10)) throw new ExfatWriterError(`${this.part.name}: no directory "${name}"`);
      dir =
        this.dirs.get(e.firstCluster) ??
        this.loadDir(
          e.firstCluster,
          e.noFatChain
            ? Array.from({ length: e.length / this.g.clusterBytes }, (_, i) => e.firstCluster + i)
            : this.chain(e.firstCluster),
        );
    }
    return dir;
  }

  private find(
    dir: Dir,
    name: string,
  ): { attributes: number; firstCluster: number; length: number; noFatChain: boolean } | undefined {
    const b = dir.bytes,
      v = new DataView(b.buffer, b.byteOffset, b.length);
    for (let at = 0; at + ENTRY <= b.length; at += ENTRY) {
      if (b[at] === 0) break;
      if (b[at] !== 0x85) continue;
      const secondaries = b[at + 1];
      const stream = at + ENTRY,
        nameLength = b[stream + 3];
      let got = "";
      for (let k = 0; k < secondaries - 1; k++)
        got += Buffer.from(b.subarray(stream + ENTRY * (k + 1) + 2, stream + ENTRY * (k + 2))).toString("utf16le");
      if (got.slice(0, nameLength).toUpperCase() !== name.toUpperCase()) continue;
      return {
        attributes: v.getUint16(at + 4, true),
        firstCluster: v.getUint32(stream + 20, true),
        length: Number(v.getBigUint64(stream + 24, true)),
        noFatChain: (b[stream + 1] & 2) !== 0,
      };
    }
    return undefined;
  }

  private addEntrySet(
    dir: Dir,
    name: string,
    attributes: number,
    firstCluster: number,
    length: number,
    validLength: number,
    noFatChain: boolean,
  ): void {
    if (!/^[\x20-\x7e]{1,255}$/.test(name) || /["*/:<>?\\|]/.test(name))
      throw new ExfatWriterError(`"${name}" is not a name this writer makes (ASCII, no "*/:<>?\\|)`);
    const nameEntries = Math.ceil(name.length / 15);
    const set = new Uint8Array(ENTRY * (2 + nameEntries));
    const v = new DataView(set.buffer);
    set[0] = 0x85;
    set[1] = 1 + nameEntries;
    v.setUint16(4, attributes, true);
    for (const off of [8, 12, 16]) v.setUint32(off, DEFAULT_TIME, true);
    set[ENTRY] = 0xc0;
    set[ENTRY + 1] = 1 | (noFatChain ? 2 : 0);
    set[ENTRY + 3] = name.length;
    v.setUint16(ENTRY + 4, nameHash(name), true);
    v.setBigUint64(ENTRY + 8, BigInt(validLength), true);
    v.setUint32(ENTRY + 20, firstCluster, true);
    v.setBigUint64(ENTRY + 24, BigInt(length), true);
    for (let k = 0; k < nameEntries; k++) {
      const at = ENTRY * (2 + k);
      set[at] = 0xc1;
      set.set(Buffer.from(name.slice(k * 15, k * 15 + 15), "utf16le"), at + 2);
    }
    v.setUint16(2, setChecksum(set), true);
    const slot = this.freeSlots(dir, set.length / ENTRY);
    dir.bytes.set(set, slot * ENTRY);
    const cb = this.g.clusterBytes;
    for (let i = Math.floor((slot * ENTRY) / cb); i <= Math.floor((slot * ENTRY + set.length - 1) / cb); i++) {
      this.part.write(this.lba(dir.clusters[i]), this.g.sectorsPerCluster, dir.bytes, i * cb);
    }
  }

  private freeSlots(dir: Dir, n: number): number {
    const b = dir.bytes;
    let run = 0;
    for (let s = 0; s * ENTRY < b.length; s++) {
      if (b[s * ENTRY] < 0x80) {
        if (++run === n) return s - n + 1;
      } else run = 0;
    }
    throw new ExfatWriterError(
      `${this.part.name}: directory full (${b.length / ENTRY} entries; this writer does not grow directories)`,
    );
  }

  /** Makes a directory (its parent must exist) of `clusters` clusters, FAT-chained. */
  mkdir(path: string, clusters = 2): void {
    const parts = path.split(/[\\/]/).filter(Boolean);
    const name = parts.pop()!;
    const parent = this.resolve(parts);
    const cs = this.allocate(clusters, false);
    this.link(cs);
    this.writeData(cs, new Uint8Array(0));
    this.addEntrySet(
      parent,
      name,
      0x10,
      cs[0],
      cs.length * this.g.clusterBytes,
      cs.length * this.g.clusterBytes,
      false,
    );
    this.loadDir(cs[0], cs);
  }

  /** Writes a new file: contiguous without a FAT chain (default), or fragmented with one. */
  writeFile(
    path: string,
    data: Uint8Array,
    options: { fragmented?: boolean } = {},
  ): { firstCluster: number; clusters: number } {
    const parts = path.split(/[\\/]/).filter(Boolean);
    const name = parts.pop()!;
    const dir = this.resolve(parts);
    const n = Math.ceil(data.length / this.g.clusterBytes);
    const cs = n ? this.allocate(n, options.fragmented ?? false) : [];
    if (options.fragmented) this.link(cs);
    this.writeData(cs, data);
    this.addEntrySet(dir, name, 0x20, cs[0] ?? 0, data.length, data.length, !options.fragmented && n > 0);
    return { firstCluster: cs[0] ?? 0, clusters: n };
  }

  /** Writes the FAT (every copy) and the allocation bitmap, and flushes. */
  flush(): void {
    const g = this.g;
    for (let copy = 0; copy < g.fatCount; copy++)
      this.part.write(g.fatOffset + copy * g.fatLength, g.fatLength, this.fatBytes, 0);
    const bm = this.chain(this.bitmapCluster);
    const whole = new Uint8Array(bm.length * g.clusterBytes);
    whole.set(this.bitmap);
    bm.forEach((c, i) => this.part.write(this.lba(c), g.sectorsPerCluster, whole, i * g.clusterBytes));
    this.part.flush();
  }
}
