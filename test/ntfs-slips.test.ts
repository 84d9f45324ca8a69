// NTFS slips (issue 12, item 8), with Node alone on the committed fixtures:
// - firmware-module/src/ops/ntfs-mft.ts: every offset and length it reads from an MFT record, crafted to
//   point outside its record, its attribute or the volume (the $FILE_NAME value, its name,
//   attribute lengths and names, the update sequence array, data runs and their clusters, an
//   attribute list and the records it names), gives an NtfsError naming the record and the
//   values, through api.backup and the CLI (one line, --json), never a RangeError; and a sweep
//   that sets every byte of the page file's record and of $MFT's record 0 to a few values finds
//   no other error than a named one;
// - the ghost extent (docs/image-format.md 2.1 rule 11, section 12) counted in clusters as each
//   file system numbers them: an image file whose header names as its own extent a stored
//   cluster is refused by restore before anything is written (the target's sha256 unchanged),
//   and the cluster just after it, not stored, is accepted (the restore runs and verifies), on
//   NTFS (clusters from 0 at sector 0), FAT32 and exFAT (from 2 at the data area); on NTFS an
//   extent over the boot file's clusters (the metadata head) is refused by rule 11 itself.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { MftReader, planNtfsExclusions } from "../firmware-module/src/ops/ntfs-mft";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { RamDevice } from "../host-shim/src/native/devices";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-ntfs-slips-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const fixtures = path.join(__dirname, "fixtures");
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const gunzip = (rel: string) => zlib.gunzipSync(fs.readFileSync(path.join(fixtures, rel)));

// ---- an MFT record on disk, edited as NTFS stores it --------------------------------------

const USA_STRIDE = 512;
const ATTR_LENGTH = 4,
  ATTR_NAME_LENGTH = 9,
  ATTR_NAME_OFFSET = 10,
  ATTR_VALUE_LENGTH = 16,
  ATTR_VALUE_OFFSET = 20,
  ATTR_RUNS_OFFSET = 32,
  ATTR_DATA_SIZE = 48;
const REC_USA_OFFSET = 4,
  REC_FIRST_ATTRIBUTE = 20,
  REC_BYTES_IN_USE = 24;

/** Record n of a volume image: its place on disk, and writes that keep its update sequence right. */
class DiskRecord {
  readonly at: number;
  readonly fixed: Buffer; // the record with its update sequence applied (as a reader sees it)
  constructor(
    readonly disk: Buffer,
    readonly n: number,
  ) {
    const mft = new MftReader(new RamDevice(512, disk));
    this.at = mft.g.mftLcn * mft.g.clusterBytes + n * mft.g.recordBytes;
    if (this.disk.toString("latin1", this.at, this.at + 4) !== "FILE" || this.disk.readUInt32LE(this.at + 44) !== n)
      throw new Error(`record ${n} is not in the MFT's first run`);
    this.fixed = Buffer.from(mft.record(n)!);
  }
  /** Sets bytes [off, off + bytes.length) of the record as a reader will see them. */
  set(off: number, bytes: Uint8Array): void {
    const usa = this.disk.readUInt16LE(this.at + REC_USA_OFFSET);
    bytes.forEach((b, k) => {
      const pos = off + k,
        inStride = pos % USA_STRIDE;
      // the last two bytes of every 512 hold the update sequence number; theirs are in the array
      const where =
        inStride >= USA_STRIDE - 2 ? usa + 2 * (Math.floor(pos / USA_STRIDE) + 1) + inStride - (USA_STRIDE - 2) : pos;
      this.disk[this.at + where] = b;
      this.fixed[pos] = b;
    });
  }
  u16(off: number, v: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.set(off, b);
  }
  u32(off: number, v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.set(off, b);
  }
  u64(off: number, v: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    this.set(off, b);
  }
  /** Offsets of its attributes of a type. */
  attributes(type: number): number[] {
    const out: number[] = [];
    for (
      let a = this.fixed.readUInt16LE(REC_FIRST_ATTRIBUTE);
      this.fixed.readUInt32LE(a) !== 0xffffffff;
      a += this.fixed.readUInt32LE(a + ATTR_LENGTH)
    ) {
      if (this.fixed.readUInt32LE(a) === type) out.push(a);
    }
    return out;
  }
  /** The end marker's offset (where an attribute can be appended). */
  end(): number {
    let a = this.fixed.readUInt16LE(REC_FIRST_ATTRIBUTE);
    while (this.fixed.readUInt32LE(a) !== 0xffffffff) a += this.fixed.readUInt32LE(a + ATTR_LENGTH);
    return a;
  }
}

const pagefileVolume = gunzip("ntfs/ntfs-pagefile.img.gz");
const pageRecord = new MftReader(new RamDevice(512, pagefileVolume)).findInRoot(["pagefile.sys"])[0].record;
const clusterCount = new MftReader(new RamDevice(512, pagefileVolume)).g.clusterCount;

/** Appends a resident attribute list holding `entries` to the record (before its end marker). */
function appendList(r: DiskRecord, entries: Buffer): void {
  const at = r.end(),
    len = 24 + entries.length;
  const attr = Buffer.alloc(len + 8);
  attr.writeUInt32LE(0x20, 0);
  attr.writeUInt32LE(len, ATTR_LENGTH);
  attr.writeUInt16LE(24, ATTR_NAME_OFFSET);
  attr.writeUInt32LE(entries.length, ATTR_VALUE_LENGTH);
  attr.writeUInt16LE(24, ATTR_VALUE_OFFSET);
  entries.copy(attr, 24);
  attr.writeUInt32LE(0xffffffff, len);
  r.set(at, attr);
  r.u32(REC_BYTES_IN_USE, at + len + 8);
}
function listEntry(type: number, record: number, length = 32): Buffer {
  const e = Buffer.alloc(32);
  e.writeUInt32LE(type, 0);
  e.writeUInt16LE(length, 4);
  e[6] = 0;
  e[7] = 26;
  e.writeBigUInt64LE(BigInt(record), 16);
  return e;
}

/** The first data run's header byte's offset in the page file's $DATA. */
const firstRun = (r: DiskRecord) => {
  const d = r.attributes(0x80)[0];
  return d + r.fixed.readUInt16LE(d + ATTR_RUNS_OFFSET);
};
const lastOffsetByte = (r: DiskRecord) => {
  const p = firstRun(r),
    h = r.fixed[p];
  return p + (h & 15) + (h >> 4);
};

const N = pageRecord;
const cases: Array<[string, (r: DiskRecord) => void, RegExp]> = [
  [
    "$FILE_NAME value offset outside the record",
    (r) => r.u16(r.attributes(0x30)[0] + ATTR_VALUE_OFFSET, 0xfff0),
    new RegExp(
      `^MFT record ${N}: \\$FILE_NAME value at offset \\d+, \\d+ bytes, lies outside its attribute 0x30 \\(offset \\d+, \\d+ bytes\\)$`,
    ),
  ],
  [
    "$FILE_NAME value length past its attribute",
    (r) => r.u32(r.attributes(0x30)[0] + ATTR_VALUE_LENGTH, 0x7fffffff),
    new RegExp(
      `^MFT record ${N}: \\$FILE_NAME value at offset \\d+, 2147483647 bytes, lies outside its attribute 0x30`,
    ),
  ],
  [
    "$FILE_NAME name longer than its value",
    (r) => {
      const a = r.attributes(0x30)[0];
      r.set(a + r.fixed.readUInt16LE(a + ATTR_VALUE_OFFSET) + 64, Buffer.from([255]));
    },
    new RegExp(
      `^MFT record ${N}: \\$FILE_NAME's name at offset 66, 510 bytes, lies outside its \\$FILE_NAME value \\(\\d+ bytes\\)$`,
    ),
  ],
  [
    "$FILE_NAME value shorter than its fixed part",
    (r) => r.u32(r.attributes(0x30)[0] + ATTR_VALUE_LENGTH, 40),
    new RegExp(
      `^MFT record ${N}: \\$FILE_NAME's name at offset 66, 0 bytes, lies outside its \\$FILE_NAME value \\(40 bytes\\)$`,
    ),
  ],
  [
    "an attribute's length past the bytes in use",
    (r) => r.u32(r.attributes(0x30)[0] + ATTR_LENGTH, 0x10000),
    new RegExp(
      `^MFT record ${N}: attribute 0x30 at offset \\d+, 65536 bytes, lies outside the bytes in use \\(\\d+\\)$`,
    ),
  ],
  [
    "an attribute shorter than its header",
    (r) => r.u32(r.attributes(0x80)[0] + ATTR_LENGTH, 40),
    new RegExp(`^MFT record ${N}: attribute 0x80 at offset \\d+ is 40 bytes, shorter than its 64-byte header$`),
  ],
  [
    "an attribute's name outside it",
    (r) => r.set(r.attributes(0x80)[0] + ATTR_NAME_LENGTH, Buffer.from([200])),
    new RegExp(`^MFT record ${N}: attribute name at offset \\d+, 400 bytes, lies outside its attribute 0x80`),
  ],
  [
    "the first attribute inside the header",
    (r) => r.u16(REC_FIRST_ATTRIBUTE, 8),
    new RegExp(`^MFT record ${N}: first attribute at offset 8, inside the record header$`),
  ],
  [
    "the update sequence array outside the record",
    (r) => {
      r.disk.writeUInt16LE(0xfff0, r.at + REC_USA_OFFSET);
    },
    new RegExp(
      `^MFT record ${N}: update sequence array at offset 65520, 6 bytes, lies outside the record \\(1024 bytes\\)$`,
    ),
  ],
  [
    "data runs outside their attribute",
    (r) => r.u16(r.attributes(0x80)[0] + ATTR_RUNS_OFFSET, 0xfff0),
    new RegExp(`^MFT record ${N}: data runs at offset \\d+, 0 bytes, lies outside its attribute 0x80`),
  ],
  [
    "a data run past the volume's clusters",
    (r) => r.set(lastOffsetByte(r), Buffer.from([0x7f])),
    new RegExp(
      `^MFT record ${N}: a data run at offset \\d+ covers clusters \\d+\\.\\.\\d+, outside the volume's ${clusterCount} clusters$`,
    ),
  ],
  [
    "a data run before cluster 0",
    (r) => r.set(lastOffsetByte(r), Buffer.from([0x80])),
    new RegExp(`^MFT record ${N}: a data run at offset \\d+ covers clusters -\\d+\\.\\.-?\\d+, outside the volume's`),
  ],
  [
    "a $DATA size beyond what can be addressed",
    (r) => r.u64(r.attributes(0x80)[0] + ATTR_DATA_SIZE, 1n << 62n),
    new RegExp(`^MFT record ${N}: \\$DATA size is ${1n << 62n}, beyond what can be addressed$`),
  ],
  [
    "an attribute list naming a record past the MFT",
    (r) => appendList(r, listEntry(0x80, 999999)),
    new RegExp(`^MFT record ${N}: its attribute list names record 999999, past the MFT's \\d+ records$`),
  ],
  [
    "an attribute list entry shorter than its fixed part",
    (r) => appendList(r, listEntry(0x80, N, 8)),
    new RegExp(`^MFT record ${N}: malformed attribute list: an entry at 0 is 8 bytes$`),
  ],
  [
    "an attribute list's value past its attribute",
    (r) => {
      appendList(r, listEntry(0x80, N));
      r.u32(r.end() - 56 + ATTR_VALUE_LENGTH, 5000);
    },
    new RegExp(`^MFT record ${N}: attribute list value at offset \\d+, 5000 bytes, lies outside its attribute 0x20`),
  ],
];

t.test(
  "MFT records with offsets and lengths out of range: a named error naming the record and the values",
  async (t) => {
    for (const [what, craft, message] of cases) {
      const disk = Buffer.from(pagefileVolume);
      craft(new DiskRecord(disk, N));
      const file = path.join(tmp, "crafted.img");
      fs.writeFileSync(file, disk);
      const e = caught(() => api.backup(core, file, { image: path.join(tmp, "crafted.cbi") }));
      t.equal(e.name, "NtfsError", `${what}: ${e.name}: ${e.message}`);
      t.match(e.message, message, `${what}: names the record and the values`);
      t.notOk(fs.existsSync(path.join(tmp, "crafted.cbi")), `${what}: no image left behind`);
    }
  },
);

t.test("the CLI: one line, and --json, with the named error (no internal error, no stack)", async (t) => {
  const disk = Buffer.from(pagefileVolume);
  const r = new DiskRecord(disk, N);
  r.u16(r.attributes(0x30)[0] + ATTR_VALUE_OFFSET, 0xfff0);
  const file = path.join(tmp, "fn-offset.img");
  fs.writeFileSync(file, disk);
  for (const json of [false, true]) {
    const p = spawnSync(
      process.execPath,
      [cli, "backup", file, "--image", path.join(tmp, "fn.cbi"), ...(json ? ["--json"] : [])],
      { encoding: "utf8" },
    );
    t.equal(p.status, 1, "exit 1");
    t.match(
      p.stderr,
      new RegExp(
        `^clusterback: MFT record ${N}: \\$FILE_NAME value at offset \\d+, \\d+ bytes, lies outside its attribute 0x30 \\(offset \\d+, \\d+ bytes\\)\\n$`,
      ),
      "one line naming the record and the values",
    );
    t.notMatch(p.stderr + p.stdout, /internal error|RangeError| {4}at /, "no internal error, no stack");
    if (json)
      t.match(JSON.parse(p.stdout), {
        ok: false,
        error: "NtfsError",
        message: new RegExp(`^MFT record ${N}: \\$FILE_NAME value at offset \\d+, `),
      });
  }
});

t.test("every byte of the page file's record and of record 0 set to a few values: only named errors", async (t) => {
  const { g } = new MftReader(new RamDevice(512, pagefileVolume));
  const outcomes = new Map<string, number>();
  const disk = Buffer.from(pagefileVolume),
    dev = new RamDevice(512, disk); // one byte changed at a time, then put back
  for (const n of [0, N]) {
    const at = g.mftLcn * g.clusterBytes + n * g.recordBytes;
    for (let off = 0; off < g.recordBytes; off++) {
      const orig = disk[at + off];
      for (const value of [0x00, 0xff, 0x80, orig ^ 0x01]) {
        disk[at + off] = value;
        let name = "ok";
        try {
          planNtfsExclusions(dev);
        } catch (e) {
          name = (e as Error).name;
        }
        outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
        if (name !== "ok" && name !== "NtfsError")
          t.fail(`record ${n}, byte ${off} = 0x${value.toString(16)}: ${name}`);
      }
      disk[at + off] = orig;
    }
  }
  t.comment([...outcomes].map(([k, v]) => `${k} ${v}`).join(", "));
  t.ok((outcomes.get("NtfsError") ?? 0) > 100, "many refused by name");
  t.ok(
    [...outcomes.keys()].every((k) => k === "ok" || k === "NtfsError"),
    "nothing but NtfsError",
  );
});

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return new Error("no error was thrown");
}

// ---- the ghost extent, in clusters as each file system numbers them ------------------------

const H_BITS = 96,
  H_CLUSTER_BYTES = 104,
  H_SECTOR_BYTES = 108,
  H_DATA_START = 160,
  H_FIRST_CLUSTER = 168,
  H_META_SECTORS = 180;
const H_COMMIT_OFFSET = 232,
  H_GHOST_START = 256,
  H_GHOST_SECTORS = 264,
  H_CHECK = 504,
  BITMAP_OFFSET = 512;
const C_HEADER_CHECK = 24,
  SEED_HEADER = 0,
  SEED_COMMIT = 4;

/** CBH-64 of a 512-byte record with its check field (504..511) zero (docs/image-format.md section 7). */
function recordCheck(rec: Buffer, seed: number): bigint {
  const z = Buffer.from(rec.subarray(0, 512));
  z.fill(0, H_CHECK, 512);
  return BigInt("0x" + core.checkOf(z, seed));
}

/** The image with its header naming [first, first + clusters) (bitmap numbering) as its own extent; both checks recomputed. */
function withGhost(image: Buffer, first: number, clusters: number): Buffer {
  const img = Buffer.from(image);
  const spc = img.readUInt32LE(H_CLUSTER_BYTES) / img.readUInt32LE(H_SECTOR_BYTES);
  const start = Number(img.readBigUInt64LE(H_DATA_START)) + (first - img.readUInt32LE(H_FIRST_CLUSTER)) * spc;
  img.writeBigUInt64LE(BigInt(start), H_GHOST_START);
  img.writeBigUInt64LE(BigInt(clusters * spc), H_GHOST_SECTORS);
  img.writeBigUInt64LE(recordCheck(img, SEED_HEADER), H_CHECK);
  const commit = img.subarray(Number(img.readBigUInt64LE(H_COMMIT_OFFSET)));
  img.copy(commit, C_HEADER_CHECK, H_CHECK, H_CHECK + 8); // the commit record names its header by the header's check
  commit.writeBigUInt64LE(recordCheck(commit, SEED_COMMIT), H_CHECK);
  return img;
}

const stored = (img: Buffer, c: number) => (img[BITMAP_OFFSET + (c >> 3)] >> (c & 7)) & 1;

/** The highest stored cluster c with c + 1 and c + 2 not stored (and inside the volume). */
function runEnd(img: Buffer): number {
  const bits = Number(img.readBigUInt64LE(H_BITS));
  for (let c = bits - 3; c >= 0; c--) if (stored(img, c) && !stored(img, c + 1) && !stored(img, c + 2)) return c;
  throw new Error("no stored cluster followed by two free ones");
}

const volumes: Array<[string, Buffer, string]> = [
  ["NTFS (clusters from 0 at sector 0)", gunzip("ntfs/ntfs-4k.img.gz"), "NTFS"],
  ["FAT32 (clusters from 2 at the data area)", gunzip("volumes/fat32-512.img.gz"), "FAT32"],
  ["exFAT (clusters from 2 at the cluster heap)", gunzip("exfat/exfat-4k.img.gz"), "exFAT"],
];

for (const [what, volume, fsType] of volumes) {
  t.test(`the ghost extent on ${what}`, async (t) => {
    const src = path.join(tmp, `ghost-${fsType}.img`),
      imageFile = path.join(tmp, `ghost-${fsType}.cbi`);
    fs.writeFileSync(src, volume);
    t.equal(api.backup(core, src, { image: imageFile }).fsType, fsType);
    const image = fs.readFileSync(imageFile);
    const c = runEnd(image);
    const target = path.join(tmp, "ghost-target.img");
    fs.writeFileSync(target, crypto.randomBytes(volume.length));
    const before = sha(fs.readFileSync(target));
    // over a stored cluster: refused before anything is written
    fs.writeFileSync(imageFile, withGhost(image, c, 1));
    const e = caught(() => api.restore(core, imageFile, target));
    t.equal(e.name, "ImageError", `an extent over stored cluster ${c}: ${e.message}`);
    t.match(
      e.message,
      new RegExp(`stores cluster ${c}, inside the image's own extent \\(clusters ${c}\\.\\.${c}\\)`),
      "naming the cluster, counted as the bitmap counts it",
    );
    t.equal(sha(fs.readFileSync(target)), before, "the target's sha256 unchanged: nothing written");
    // the free cluster right after it: a correct extent, accepted
    fs.writeFileSync(imageFile, withGhost(image, c + 1, 1));
    const r = api.restore(core, imageFile, target);
    t.equal(r.verified, true, `an extent over free cluster ${c + 1}: restored and read back`);
    t.equal(
      api.readImageInfo(core, imageFile).ghost?.sectors,
      image.readUInt32LE(H_CLUSTER_BYTES) / image.readUInt32LE(H_SECTOR_BYTES),
      "the header names the extent",
    );
    if (fsType === "NTFS") {
      // the boot file's clusters (the metadata head) are not data: an extent there breaks rule 11
      const head =
        image.readUInt32LE(H_META_SECTORS) / (image.readUInt32LE(H_CLUSTER_BYTES) / image.readUInt32LE(H_SECTOR_BYTES));
      fs.writeFileSync(target, crypto.randomBytes(volume.length));
      const prior = sha(fs.readFileSync(target));
      fs.writeFileSync(imageFile, withGhost(image, head - 1, 1));
      const h = caught(() => api.restore(core, imageFile, target));
      t.match(
        h.message,
        /image header's ghost extent \(sector \d+, \d+ sectors\) is not whole clusters inside the partition's data area/,
        `an extent over the head's cluster ${head - 1}: ${h.message}`,
      );
      t.equal(sha(fs.readFileSync(target)), prior, "nothing written");
    }
  });
}
