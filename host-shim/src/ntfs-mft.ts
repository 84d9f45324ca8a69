// NTFS on the host side: walks the MFT to find the files an image leaves out (docs/image-format.md
// section 11.1): pagefile.sys, swapfile.sys and hiberfil.sys in the root directory. Their
// clusters stay allocated in $Bitmap and in their MFT records (the restored volume is the same
// consistent volume, ntfsfix and chkdsk agree), but are not stored and not written: kind-2
// source patches leave them out of the bitmap. hiberfil.sys's first cluster is the exception:
// it is stored as zeros (a kind-0 patch), so that no stale hibernation image is ever resumed.
import { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";
import { Patch } from "./exclusions";

export class NtfsError extends ClusterbackError {
  constructor(message: string) { super(message); this.name = "NtfsError"; }
}

export const NTFS_LEFT_OUT = ["pagefile.sys", "swapfile.sys", "hiberfil.sys"];

interface Run { vcn: number; lcn: number; length: number }
export interface NtfsGeometry { bytesPerSector: number; clusterBytes: number; mftLcn: number; recordBytes: number; clusterCount: number }

export function isNtfsBoot(b: Uint8Array): boolean { return Buffer.from(b.subarray(3, 11)).toString("latin1") === "NTFS    "; }

export function ntfsGeometry(boot: Uint8Array): NtfsGeometry {
  const v = new DataView(boot.buffer, boot.byteOffset, 512);
  const bps = v.getUint16(11, true), raw = boot[13];
  const spc = raw <= 0x80 ? raw : 2 ** (256 - raw);
  const cb = bps * spc;
  const cpr = v.getInt8(64);
  return {
    bytesPerSector: bps, clusterBytes: cb, mftLcn: Number(v.getBigUint64(48, true)),
    recordBytes: cpr > 0 ? cpr * cb : 2 ** -cpr, clusterCount: Math.floor(Number(v.getBigUint64(40, true)) / spc),
  };
}

function decodeRuns(rec: Uint8Array, at: number, end: number): Run[] {
  const runs: Run[] = [];
  let p = at + new DataView(rec.buffer, rec.byteOffset).getUint16(at + 32, true);
  let vcn = Number(new DataView(rec.buffer, rec.byteOffset).getBigUint64(at + 16, true)), lcn = 0;
  while (p < end && rec[p] !== 0) {
    const lenBytes = rec[p] & 15, offBytes = rec[p] >> 4;
    if (lenBytes === 0 || lenBytes > 8 || offBytes > 8 || p + 1 + lenBytes + offBytes > end) throw new NtfsError(`malformed data runs (header byte 0x${rec[p].toString(16)})`);
    let length = 0, delta = 0;
    for (let i = 0; i < lenBytes; i++) length += rec[p + 1 + i] * 256 ** i;
    for (let i = 0; i < offBytes; i++) delta += rec[p + 1 + lenBytes + i] * 256 ** i;
    if (offBytes && rec[p + lenBytes + offBytes] >= 0x80) delta -= 256 ** offBytes;
    if (offBytes) lcn += delta;
    runs.push({ vcn, lcn: offBytes ? lcn : -1, length });
    vcn += length;
    p += 1 + lenBytes + offBytes;
  }
  return runs;
}

interface Attribute { type: number; name: string; at: number; length: number; resident: boolean }

function attributes(rec: Uint8Array): Attribute[] {
  const v = new DataView(rec.buffer, rec.byteOffset, rec.length);
  const out: Attribute[] = [];
  let at = v.getUint16(20, true);
  const inUse = Math.min(v.getUint32(24, true), rec.length);
  for (let k = 0; k < 256 && at + 8 <= inUse; k++) {
    const type = v.getUint32(at, true);
    if (type === 0xffffffff) break;
    const length = v.getUint32(at + 4, true);
    if (length < 24 || at + length > inUse) throw new NtfsError(`malformed attribute at offset ${at}`);
    const nameLength = rec[at + 9], nameOffset = v.getUint16(at + 10, true);
    out.push({ type, name: Buffer.from(rec.subarray(at + nameOffset, at + nameOffset + 2 * nameLength)).toString("utf16le"), at, length, resident: rec[at + 8] === 0 });
    at += length;
  }
  return out;
}

/** Reads the MFT of an NTFS partition record by record. */
export class MftReader {
  readonly g: NtfsGeometry;
  private readonly mftRuns: Run[];
  readonly records: number;

  constructor(readonly part: BlockDevice) {
    const boot = new Uint8Array(part.sectorSize);
    part.read(0, 1, boot, 0);
    if (!isNtfsBoot(boot)) throw new NtfsError(`${part.name}: not an NTFS boot sector`);
    this.g = ntfsGeometry(boot);
    const first = new Uint8Array(this.g.recordBytes);
    const lba = (this.g.mftLcn * this.g.clusterBytes) / part.sectorSize;
    part.read(lba, Math.max(1, this.g.recordBytes / part.sectorSize), first, 0);
    this.fixup(first, 0);
    const data = attributes(first).find((a) => a.type === 0x80 && a.name === "" && !a.resident);
    if (!data) throw new NtfsError(`${part.name}: $MFT has no data runs`);
    this.mftRuns = decodeRuns(first, data.at, data.at + data.length);
    this.records = Math.floor(Number(new DataView(first.buffer).getBigUint64(data.at + 48, true)) / this.g.recordBytes);
  }

  private fixup(rec: Uint8Array, n: number): boolean {
    const v = new DataView(rec.buffer, rec.byteOffset, rec.length);
    if (v.getUint32(0, true) !== 0x454c4946) return false; // "FILE"
    const usa = v.getUint16(4, true), count = v.getUint16(6, true);
    if (count !== rec.length / 512 + 1) throw new NtfsError(`MFT record ${n}: update sequence count ${count}`);
    for (let i = 1; i < count; i++) {
      if (v.getUint16(i * 512 - 2, true) !== v.getUint16(usa, true)) throw new NtfsError(`MFT record ${n}: update sequence does not match (a torn write)`);
      v.setUint16(i * 512 - 2, v.getUint16(usa + 2 * i, true), true);
    }
    return true;
  }

  /** Bytes [offset, offset + bytes) of data described by runs. */
  readRuns(runs: Run[], offset: number, bytes: number): Uint8Array {
    const cb = this.g.clusterBytes, ss = this.part.sectorSize, out = new Uint8Array(bytes);
    for (let done = 0; done < bytes;) {
      const at = offset + done, vcn = Math.floor(at / cb);
      const r = runs.find((x) => x.vcn <= vcn && vcn < x.vcn + x.length);
      if (!r) throw new NtfsError(`${this.part.name}: data at byte ${at} is not in its runs`);
      const take = Math.min(bytes - done, (r.vcn + r.length) * cb - at);
      if (r.lcn >= 0) {
        const byte = (r.lcn + vcn - r.vcn) * cb + (at % cb);
        const first = Math.floor(byte / ss), n = Math.ceil((byte + take) / ss) - first;
        const tmp = new Uint8Array(n * ss);
        this.part.read(first, n, tmp, 0);
        out.set(tmp.subarray(byte - first * ss, byte - first * ss + take), done);
      }
      done += take;
    }
    return out;
  }

  /** Record n with its update sequence applied, or undefined when it is not a FILE record in use. */
  record(n: number): Uint8Array | undefined {
    const rec = this.readRuns(this.mftRuns, n * this.g.recordBytes, this.g.recordBytes);
    if (!this.fixup(rec, n)) return undefined;
    return (new DataView(rec.buffer).getUint16(22, true) & 1) ? rec : undefined;
  }

  /** The unnamed $DATA runs of a base record, gathered through its attribute list if it has one. */
  dataRuns(n: number, rec: Uint8Array): Run[] {
    const attrs = attributes(rec);
    const list = attrs.find((a) => a.type === 0x20);
    if (!list) {
      const d = attrs.find((a) => a.type === 0x80 && a.name === "" && !a.resident);
      return d ? decodeRuns(rec, d.at, d.at + d.length) : [];
    }
    const v = new DataView(rec.buffer, rec.byteOffset, rec.length);
    let value: Uint8Array;
    if (list.resident) value = rec.subarray(list.at + v.getUint16(list.at + 20, true), list.at + v.getUint16(list.at + 20, true) + v.getUint32(list.at + 16, true));
    else value = this.readRuns(decodeRuns(rec, list.at, list.at + list.length), 0, Number(v.getBigUint64(list.at + 48, true)));
    const lv = new DataView(value.buffer, value.byteOffset, value.length);
    const runs: Run[] = [];
    for (let e = 0; e + 26 <= value.length;) {
      const len = lv.getUint16(e + 4, true);
      if (len < 26) throw new NtfsError(`MFT record ${n}: malformed attribute list`);
      if (lv.getUint32(e, true) === 0x80 && value[e + 6] === 0) {
        const ref = Number(lv.getBigUint64(e + 16, true) & 0xffffffffffffn), vcn = Number(lv.getBigUint64(e + 8, true));
        const ext = ref === n ? rec : this.record(ref);
        if (!ext) throw new NtfsError(`MFT record ${n}: its attribute list names record ${ref}, which is not in use`);
        const d = attributes(ext).find((a) => a.type === 0x80 && a.name === "" && !a.resident && Number(new DataView(ext.buffer, ext.byteOffset).getBigUint64(a.at + 16, true)) === vcn);
        if (d) runs.push(...decodeRuns(ext, d.at, d.at + d.length));
      }
      e += len;
    }
    return runs;
  }

  /** Base records of files in the root directory (parent record 5) whose name is one of `names` (any case). */
  findInRoot(names: string[]): Array<{ record: number; name: string; size: number; runs: Run[] }> {
    const wanted = new Set(names.map((x) => x.toLowerCase()));
    const out: Array<{ record: number; name: string; size: number; runs: Run[] }> = [];
    for (let n = 16; n < this.records; n++) {
      const rec = this.record(n);
      if (!rec) continue;
      const v = new DataView(rec.buffer, rec.byteOffset, rec.length);
      if (v.getBigUint64(32, true) !== 0n) continue; // an extension record
      for (const a of attributes(rec)) {
        if (a.type !== 0x30 || !a.resident) continue;
        const val = a.at + v.getUint16(a.at + 20, true);
        const parent = Number(v.getBigUint64(val, true) & 0xffffffffffffn);
        const name = Buffer.from(rec.subarray(val + 66, val + 66 + 2 * rec[val + 64])).toString("utf16le");
        if (parent !== 5 || !wanted.has(name.toLowerCase())) continue;
        const runs = this.dataRuns(n, rec);
        const data = attributes(rec).find((x) => x.type === 0x80 && x.name === "");
        const size = data && !data.resident ? Number(v.getBigUint64(data.at + 48, true)) : 0;
        out.push({ record: n, name, size, runs });
        break;
      }
    }
    return out;
  }
}

/** The source patches that leave the page and hibernation files out of an NTFS backup. */
export function planNtfsExclusions(part: BlockDevice): { patches: Patch[]; files: Array<{ path: string; size: number; clusters: number }> } {
  const mft = new MftReader(part);
  const patches: Patch[] = [];
  const files: Array<{ path: string; size: number; clusters: number }> = [];
  for (const f of mft.findInRoot(NTFS_LEFT_OUT)) {
    let runs = f.runs.filter((r) => r.lcn >= 0 && r.length > 0);
    let clusters = runs.reduce((a, r) => a + r.length, 0);
    if (f.name.toLowerCase() === "hiberfil.sys" && runs.length > 0) {
      // its first cluster is stored, as zeros: a restored volume never holds a stale hibernation image
      const first = runs[0];
      patches.push({ byteOffset: first.lcn * mft.g.clusterBytes, length: mft.g.clusterBytes, kind: 0 });
      runs = [{ ...first, lcn: first.lcn + 1, length: first.length - 1 }, ...runs.slice(1)].filter((r) => r.length > 0);
      clusters -= 1;
    }
    for (const r of runs) {
      for (let start = r.lcn, left = r.length; left > 0;) {
        const n = Math.min(left, 0xffffffff);
        patches.push({ byteOffset: start, length: n, kind: 2 });
        start += n; left -= n;
      }
    }
    files.push({ path: `\\${f.name}`, size: f.size, clusters });
  }
  return { patches, files };
}
