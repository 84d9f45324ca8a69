// The host-side FAT tree reader and health check (firmware-module/src/ops/fat-reader.ts): every committed
// fixture partition read back to the file set and sha256 sums mcopy extracted (index.json),
// lookups by long and short names, check() clean on clean volumes; then crafted damage on
// in-memory copies (loops, out-of-range entries, cross-links, wrong sizes, differing FAT copies,
// lost chains, bad clusters, bad names, directory loops), each named by kind, path and cluster,
// with fsck.fat -n as the oracle that the damage is real (skipped without dosfstools).

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import * as zlib from "node:zlib";
import t from "tap";
import { VolumeError } from "../firmware-module/src/ops/errors";
import { decodeDirectory, shortNameChecksum } from "../firmware-module/src/ops/fat-dir";
import { FatEntry, FatReadError, FatReader, Problem } from "../firmware-module/src/ops/fat-reader";
import { readPartitionTable, volumeInfo } from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { BlockDevice, DeviceWrapper, FileDevice, PartitionView, RamDevice } from "../host-shim/src/native/devices";
import { Fixture, fixtureDir, fixtures } from "./helpers/fixtures";

const core = new Core();
/** The fixtures the damage cases start from: one per FAT type. */
const damageBases = ["fat12-floppy.img.gz", "fat16-2k.img.gz", "fat32-512.img.gz"];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-fatreader-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const haveFsck = spawnSync("sh", ["-c", "command -v fsck.fat"]).status === 0;

const normal = (p: string) =>
  p
    .replace(/[\\/]+/g, "/")
    .replace(/^\//, "")
    .toUpperCase();
const kindsOf = (problems: Problem[]) => problems.map((p) => p.kind).sort();
/** Fixtures whose check() must report something, and what (make.sh made them so on purpose). */
const expectedDamage: Record<string, RegExp> = { "fat16-dirty.img.gz": /dirty/ };

const unpacked = new Map<string, Uint8Array>();
/** A fixture's bytes; the small ones the damage cases reuse are kept (gunzip is the slow part here). */
function gunzip(f: Fixture): Uint8Array {
  const kept = unpacked.get(f.file);
  if (kept) return kept;
  const bytes = new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, f.file))));
  if (damageBases.includes(f.file)) unpacked.set(f.file, bytes);
  return bytes;
}

/**
 * A fixture unpacked to a file (streamed: far faster than one large buffer for the 300 MB one)
 * and every partition of it as a block device (disk fixtures through PartitionView).
 */
async function partitionsOf(
  f: Fixture,
): Promise<{ file: FileDevice; parts: Array<{ label: string; device: BlockDevice; files: Record<string, string> }> }> {
  const out = path.join(tmp, f.file.replace(/\.gz$/, ""));
  await pipeline(
    fs.createReadStream(path.join(fixtureDir, f.file)),
    zlib.createGunzip({ chunkSize: 1 << 20 }),
    fs.createWriteStream(out),
  );
  const head = Buffer.alloc(512);
  const fd = fs.openSync(out, "r");
  fs.readSync(fd, head, 0, 512, 0);
  fs.closeSync(fd);
  const file = new FileDevice(out, { sectorSize: f.kind === "partition" ? head.readUInt16LE(11) : 512 });
  const table = f.kind === "disk" ? readPartitionTable(core, file) : undefined;
  const parts = f.partitions.map((p) => {
    if (p.number === null) return { label: f.file, device: file as BlockDevice, files: p.files };
    const e = table?.partitions.find((x) => x.number === p.number);
    if (!e) throw new Error(`${f.file} has no partition ${p.number}`);
    return {
      label: `${f.file} partition ${p.number}`,
      device: new PartitionView(file, e.startLba, e.sectorCount),
      files: p.files,
    };
  });
  return { file, parts };
}

function walkFiles(reader: FatReader): { files: Map<string, FatEntry>; problems: Problem[]; paths: string[] } {
  const files = new Map<string, FatEntry>(),
    paths: string[] = [];
  const problems = reader.walk((e) => {
    paths.push(e.path);
    if (!e.isDirectory) files.set(normal(e.path), e);
  });
  return { files, problems, paths };
}

for (const f of fixtures) {
  t.test(`fixture ${f.file}`, async (t) => {
    const { file, parts } = await partitionsOf(f);
    t.teardown(() => {
      file.close();
      fs.rmSync(file.filePath);
    });
    for (const part of parts) {
      const reader = new FatReader(part.device, core);
      const { files, problems } = walkFiles(reader);
      t.same(problems, [], `${part.label}: walk finds nothing wrong`);
      const want = Object.keys(part.files).map(normal).sort();
      t.same([...files.keys()].sort(), want, `${part.label}: exactly the ${want.length} files mcopy extracted`);
      let hashed = 0;
      for (const [p, sum] of Object.entries(part.files)) {
        const e = files.get(normal(p));
        if (e && reader.sha256(e) === sum) hashed++;
        else t.fail(`${part.label}: ${p} sha256 differs`);
      }
      t.equal(hashed, want.length, `${part.label}: every sha256 matches`);
      const result = reader.check();
      t.comment(`${part.label}: check() ${JSON.stringify(result)}`);
      if (expectedDamage[f.file]) {
        t.ok(
          result.problems.length > 0 &&
            result.problems.every((p) => p.kind === "boot" && expectedDamage[f.file].test(p.detail)),
          `${part.label}: only the deliberate damage is reported`,
        );
      } else {
        t.same(result.problems, [], `${part.label}: check() reports no problems`);
      }
      t.equal(result.files, want.length, `${part.label}: check() counts the files`);
      t.equal(result.directories, 4, `${part.label}: and the 4 directories`);
      t.equal(
        result.usedClusters,
        volumeInfo(core, part.device).usedClusters,
        `${part.label}: used clusters agree with the core's scan`,
      );
      lookups(t, reader, part.label, Object.keys(part.files));
    }
  });
}

function lookups(t: Tap.Test, reader: FatReader, label: string, files: string[]): void {
  const font = reader.lookup("/Firmware/Fonts and Forms/Helvetica Bold Oblique.ttf");
  t.ok(font, `${label}: lookup by long names with /`);
  if (!font) return;
  t.equal(font.path, "\\Firmware\\Fonts and Forms\\Helvetica Bold Oblique.ttf");
  t.match(font.shortName, /^HELVET~\d\.TTF$/);
  t.ok(font.modified.getUTCFullYear() >= 2023 && !font.isDirectory && font.size === 40000, `${label}: entry fields`);
  const fontsDir = reader.list("\\Firmware").find((e) => e.name === "Fonts and Forms");
  t.ok(fontsDir?.isDirectory, `${label}: list shows the subdirectory`);
  const byShort = reader.lookup(`\\FIRMWARE\\${fontsDir?.shortName}\\${font.shortName}`);
  t.equal(byShort?.firstCluster, font.firstCluster, `${label}: lookup by short names`);
  t.equal(
    reader.lookup("\\firmware\\FONTS AND FORMS\\helvetica BOLD oblique.TTF")?.firstCluster,
    font.firstCluster,
    `${label}: lookup in other case`,
  );
  t.equal(reader.lookup("readme.txt")?.name, "README.TXT", `${label}: an 8.3-only name`);
  t.equal(reader.lookup("\\Settings.d\\NETWORK.CONF")?.size, 700);
  t.equal(reader.lookup("\\Jobs\\nope.prn"), undefined, `${label}: a missing name`);
  t.equal(reader.lookup("\\README.TXT\\x"), undefined, `${label}: below a file`);
  const top = [...new Set(files.map((p) => p.split("/")[0]))].sort();
  t.same(
    reader
      .list("\\")
      .map((e) => e.name)
      .sort(),
    top,
    `${label}: root listing (no volume label, no dots)`,
  );
  t.notOk(
    reader.list("/Jobs").some((e) => e.name === "." || e.name === ".."),
    `${label}: no dot entries listed`,
  );
  t.throws(() => reader.list("\\Nope"), { name: "FatReadError", message: /no such file or directory: \\Nope/ });
  t.throws(() => reader.list("\\README.TXT"), { name: "FatReadError", message: /not a directory: \\README\.TXT/ });
}

// ---- crafted damage ----

/** An editable copy of a fixture volume, with the FAT and directory-entry pokes the cases need. */
class Volume {
  readonly reader: FatReader;
  private readonly dv: DataView;
  /** [offset, length] of every write, so that a case can be undone without copying the whole volume. */
  private readonly touched: Array<[number, number]> = [];
  constructor(
    readonly bytes: Uint8Array,
    readonly sectorSize: number,
  ) {
    this.reader = new FatReader(new RamDevice(sectorSize, bytes), core);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  poke(at: number, bytes: Uint8Array): void {
    this.touched.push([at, bytes.length]);
    this.bytes.set(bytes, at);
  }
  u16(at: number, value: number): void {
    this.touched.push([at, 2]);
    this.dv.setUint16(at, value, true);
  }
  u32(at: number, value: number): void {
    this.touched.push([at, 4]);
    this.dv.setUint32(at, value, true);
  }
  /** Puts back every byte written, from `clean`. */
  undo(clean: Uint8Array): void {
    for (const [at, length] of this.touched) this.bytes.set(clean.subarray(at, at + length), at);
    this.touched.length = 0;
  }
  get g() {
    return this.reader.tables.geometry;
  }
  get fat32() {
    return this.g.fsType === 3;
  }
  get maxCluster() {
    return this.g.clusterCount + 1;
  }
  get eoc() {
    return [0, 0xfff, 0xffff, 0x0fffffff][this.g.fsType];
  }
  get bad() {
    return [0, 0xff7, 0xfff7, 0x0ffffff7][this.g.fsType];
  }
  entry(p: string): FatEntry {
    const e = this.reader.lookup(p);
    if (!e) throw new Error(`${p} not found`);
    return e;
  }
  clusters(p: string): number[] {
    return this.reader
      .chainRuns(this.entry(p).firstCluster)
      .flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i));
  }
  /** Sets a FAT entry in the given copies (all by default). */
  setFat(cluster: number, value: number, copies = [0, 1]): void {
    const g = this.g,
      dv = this.dv;
    for (const copy of copies) {
      const base = (g.reservedSectors + copy * g.fatSectors) * g.bytesPerSector;
      if (g.fsType === 3) this.u32(base + cluster * 4, (dv.getUint32(base + cluster * 4, true) & 0xf0000000) | value);
      else if (g.fsType === 2) this.u16(base + cluster * 2, value);
      else {
        const at = base + cluster + (cluster >> 1),
          w = dv.getUint16(at, true);
        this.u16(at, cluster & 1 ? (w & 0x000f) | (value << 4) : (w & 0xf000) | value);
      }
    }
  }
  /** Byte offset of the directory entry with this 11-byte short name (exactly one must exist). */
  dirEntry(name11: string): number {
    const want = Buffer.from(name11, "latin1"),
      hits: number[] = [];
    for (let at = 0; at + 32 <= this.bytes.length; at += 32) {
      if (this.bytes[at] === want[0] && Buffer.from(this.bytes.subarray(at, at + 11)).equals(want)) hits.push(at);
    }
    if (hits.length !== 1) throw new Error(`${hits.length} entries named ${name11}`);
    return hits[0];
  }
  setFirstCluster(name11: string, cluster: number): void {
    const at = this.dirEntry(name11);
    this.u16(at + 26, cluster & 0xffff);
    if (this.fat32) this.u16(at + 20, cluster >>> 16);
  }
  /** A fresh reader over the damaged bytes. */
  reread(): FatReader {
    return new FatReader(new RamDevice(this.sectorSize, this.bytes), core);
  }
}

const FONT = "\\Firmware\\Fonts and Forms\\Helvetica Bold Oblique.ttf",
  CONF = "\\Settings.d\\network.conf";
/** "README  TXT" from "README.TXT". */
const to11 = (shortName: string) => {
  const [base, ext = ""] = shortName.split(".");
  return base.padEnd(8) + ext.padEnd(3);
};
interface DamageCase {
  name: string;
  /** Damages the volume; returns the problem kinds check() must report (the first is the one named) and what it names. */
  damage(v: Volume, t: Tap.Test): { kinds: string[]; path?: string; cluster?: number; detail?: RegExp };
}

const cases: DamageCase[] = [
  {
    name: "a FAT loop",
    damage: (v, t) => {
      const c = v.clusters(FONT);
      v.setFat(c[c.length - 1], c[0]);
      t.throws(() => v.reread().chainRuns(c[0]), {
        name: "FatReadError",
        message: new RegExp(`cluster ${c[c.length - 1]} points back to cluster ${c[0]}`),
      });
      return { kinds: ["loop"], path: FONT, cluster: c[c.length - 1] };
    },
  },
  {
    name: "a cluster pointing out of range",
    damage: (v, t) => {
      const c = v.clusters(FONT);
      v.setFat(c[3], v.maxCluster + 5);
      const r = v.reread();
      t.throws(() => r.chainRuns(c[0]), {
        name: "FatReadError",
        message: new RegExp(`cluster ${c[3]} points to ${v.maxCluster + 5}`),
      });
      t.throws(() => r.sha256(v.entry(FONT)), FatReadError, "reading it fails with a named error");
      return { kinds: ["out-of-range", "lost-clusters"], path: FONT, cluster: c[3] };
    },
  },
  {
    name: "a first cluster out of range",
    damage: (v) => {
      v.setFirstCluster(to11(v.entry(CONF).shortName), v.maxCluster + 100);
      return {
        kinds: ["out-of-range", "lost-clusters"],
        path: CONF,
        cluster: v.maxCluster + 100,
        detail: /first cluster \d+ is outside the data clusters 2\.\.\d+/,
      };
    },
  },
  {
    name: "two files sharing a cluster",
    damage: (v, t) => {
      const readme = v.clusters("\\README.TXT"),
        conf = v.entry(CONF).firstCluster;
      v.setFirstCluster("README  TXT", conf);
      for (const c of readme) v.setFat(c, 0);
      return { kinds: ["cross-link"], path: "\\README.TXT", cluster: conf, detail: /network\.conf/ };
    },
  },
  {
    name: "a file whose size does not match its chain",
    damage: (v, t) => {
      v.u32(v.dirEntry(to11(v.entry(CONF).shortName)) + 28, 5000);
      t.throws(() => v.reread().sha256(v.reread().lookup(CONF)!), {
        name: "FatReadError",
        message: /is 5000 bytes but its chain/,
      });
      return { kinds: ["size-mismatch"], path: CONF, cluster: v.entry(CONF).firstCluster };
    },
  },
  {
    name: "FAT copies that differ",
    damage: (v, t) => {
      v.setFat(v.maxCluster - 3, v.eoc, [1]);
      return { kinds: ["fat-copies"], cluster: v.maxCluster - 3, detail: /differ in 1 entries/ };
    },
  },
  {
    name: "a lost chain",
    damage: (v, t) => {
      const at = v.maxCluster - 10;
      v.setFat(at, at + 1);
      v.setFat(at + 1, v.eoc);
      return { kinds: ["lost-clusters"], cluster: at, detail: /^2 clusters/ };
    },
  },
  {
    name: "a bad cluster inside a file",
    damage: (v, t) => {
      const c = v.clusters(FONT);
      v.setFat(c[2], v.bad);
      return { kinds: ["bad-cluster-in-file", "lost-clusters"], path: FONT, cluster: c[2] };
    },
  },
  {
    name: "an illegal short name",
    damage: (v, t) => {
      v.poke(v.dirEntry("README  TXT"), Buffer.from("READ?E  TXT", "latin1"));
      return { kinds: ["bad-name"], path: "\\READ?E.TXT", detail: /illegal byte 0x3F at position 4/ };
    },
  },
  {
    name: "a directory whose chain loops",
    damage: (v, t) => {
      const c = v.clusters("\\Jobs");
      v.setFat(c[c.length - 1], c[0]);
      const jobs: string[] = [];
      v.reread().walk((e) => {
        if (e.path.startsWith("\\Jobs\\")) jobs.push(e.path);
      });
      t.ok(jobs.length > 0 && new Set(jobs).size === jobs.length, `each of ${jobs.length} jobs listed once`);
      return { kinds: ["loop"], path: "\\Jobs", cluster: c[c.length - 1] };
    },
  },
  {
    name: "a directory that contains itself",
    damage: (v, t) => {
      const firmware = v.entry("\\Firmware").firstCluster;
      v.setFirstCluster(to11(v.entry("\\Firmware\\Fonts and Forms").shortName), firmware);
      return { kinds: ["loop", "lost-clusters"], path: "\\Firmware\\Fonts and Forms", cluster: firmware };
    },
  },
];

const bases = damageBases.map((file) => fixtures.find((f) => f.file === file)!);

for (const base of bases) {
  // a hang would show as this timeout
  t.test(`crafted damage on ${base.file}`, { timeout: 60_000 }, async (t) => {
    const clean = gunzip(base),
      work = clean.slice();
    const sectorSize = clean[11] | (clean[12] << 8);
    for (const c of cases) {
      const v = new Volume(work, sectorSize);
      try {
        damageCase(t, c, v);
      } finally {
        v.undo(clean);
      }
    }
  });
}

function damageCase(t: Tap.Test, c: DamageCase, v: Volume): void {
  const want = c.damage(v, t);
  const reader = v.reread();
  const started = Date.now();
  let walked: Problem[] = [];
  t.doesNotThrow(() => {
    walked = reader.walk(() => undefined);
  }, `${c.name}: walk does not throw`);
  const result = reader.check();
  t.ok(Date.now() - started < 5000, `${c.name}: walk and check end (${Date.now() - started} ms)`);
  // changing the allocation leaves FSInfo's free count stale on FAT32: that is reported too, and not the point here
  const problems = result.problems.filter((p) => p.kind !== "fsinfo");
  t.same(
    kindsOf(problems),
    [...want.kinds].sort(),
    `${c.name}: check() reports ${want.kinds.join(", ")}: ${problems.map((p) => p.detail).join("; ")}`,
  );
  const main = problems.find((p) => p.kind === want.kinds[0]);
  if (want.path !== undefined) t.equal(main?.path, want.path, `${c.name}: names the path`);
  if (want.cluster !== undefined) t.equal(main?.cluster, want.cluster, `${c.name}: names cluster ${want.cluster}`);
  if (want.detail) t.match(main?.detail, want.detail, `${c.name}: says what`);
  // walk reports what it meets in the tree; copies, cross-links and lost clusters need check()
  const structural = walked.map((p) => p.kind);
  t.ok(
    structural.every((k) => want.kinds.includes(k)),
    `${c.name}: walk reports a subset (${structural.join(", ") || "nothing"})`,
  );
  if (!["fat-copies", "cross-link", "lost-clusters"].includes(want.kinds[0]))
    t.ok(structural.includes(want.kinds[0]), `${c.name}: walk reports ${want.kinds[0]} too`);
  if (haveFsck) fsckReports(t, c.name, v.bytes);
}

function fsckReports(t: Tap.Test, name: string, bytes: Uint8Array): void {
  const file = path.join(tmp, "damaged.img");
  fs.writeFileSync(file, bytes);
  const r = spawnSync("fsck.fat", ["-n", file], { encoding: "utf8" });
  const out = ((r.stdout ?? "") + (r.stderr ?? "")).split(file).join("VOLUME");
  t.not(r.status, 0, `${name}: fsck.fat -n reports it too: ${out.split("\n").slice(1, 4).join(" | ")}`);
}

t.test("FSInfo free count that does not match the FAT (FAT32)", async (t) => {
  const v = new Volume(gunzip(bases[2]).slice(), 512);
  v.u32(512 + 488, 12345);
  const problems = v.reread().check().problems;
  t.same(kindsOf(problems), ["fsinfo"]);
  t.match(problems[0].detail, /free count 12345 differs from the FAT's \d+ free clusters/);
  if (haveFsck) fsckReports(t, "FSInfo", v.bytes);
});

t.test("a zeroed boot sector: the constructor throws the core's VolumeError", async (t) => {
  const bytes = gunzip(bases[1]).slice();
  bytes.fill(0, 0, 512);
  t.throws(() => new FatReader(new RamDevice(512, bytes), core), VolumeError);
  t.throws(() => new FatReader(new RamDevice(512, bytes), core), {
    name: "VolumeError",
    codeName: "E_NOT_FAT",
    message: /no FAT boot record/,
  });
});

t.test("walk bounds: depth and entry count", async (t) => {
  const reader = new FatReader(new RamDevice(512, gunzip(bases[0])), core);
  const shallow = reader.walk(() => undefined, { maxDepth: 1 });
  t.same(kindsOf(shallow), ["dir-unreadable"], "a directory below the depth limit is reported, not read");
  t.equal(shallow[0].path, "\\Firmware\\Fonts and Forms");
  let visited = 0;
  const few = reader.walk(
    () => {
      visited++;
    },
    { maxEntries: 3 },
  );
  t.equal(visited, 3, "the walk stops at the entry limit");
  t.equal(few.length, 1, "reported once");
  t.match(few[0].detail, /walk stopped after 3 entries/);
});

/** Passes everything to a RamDevice, recording each read's LBA and sector count. */
class CountingDevice extends DeviceWrapper {
  readonly reads: Array<[number, number]> = [];
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.reads.push([lba, sectorCount]);
    this.inner.read(lba, sectorCount, dst, dstOffset);
  }
}

t.test("readFile reads whole runs of contiguous clusters, in chunks of at most 1 MiB", async (t) => {
  // a 2 MB file in 1000 contiguous 2 KiB clusters, made by pointing README.TXT at a fresh chain
  const v = new Volume(gunzip(bases[1]).slice(), 512),
    g = v.g;
  const first = v.maxCluster - 1100,
    count = 1000,
    size = count * g.clusterBytes - 100;
  for (let i = 0; i < count; i++) v.setFat(first + i, i + 1 < count ? first + i + 1 : v.eoc);
  for (const c of v.clusters("\\README.TXT")) v.setFat(c, 0);
  v.setFirstCluster("README  TXT", first);
  v.u32(v.dirEntry("README  TXT") + 28, size);
  const at = (g.firstDataSector + (first - 2) * (g.clusterBytes / 512)) * 512;
  for (let i = 0; i < size; i++) v.bytes[at + i] = (i * 7 + (i >> 11)) & 0xff;
  const device = new CountingDevice(new RamDevice(512, v.bytes));
  const reader = new FatReader(device, core);
  t.same(reader.check().problems, [], "the crafted volume is consistent");
  const entry = reader.lookup("\\readme.txt")!;
  const chunks: number[] = [];
  device.reads.length = 0;
  reader.readFile(entry, (bytes) => chunks.push(bytes.length));
  t.same(chunks, [1 << 20, size - (1 << 20)], "two chunks: 1 MiB and the rest");
  const dataReads = device.reads.filter(([lba]) => lba >= g.firstDataSector);
  t.same(
    dataReads.map(([, n]) => n),
    [2048, Math.ceil((size - (1 << 20)) / 512)],
    "two reads, not one per sector or cluster",
  );
  const want = crypto
    .createHash("sha256")
    .update(v.bytes.subarray(at, at + size))
    .digest("hex");
  t.equal(reader.sha256(entry), want, "sha256 of the bytes in place");
  t.same(reader.chainRuns(first), [{ start: first, length: count }], "one run");

  // a fragmented file: one data read per run
  const floppy = new CountingDevice(new RamDevice(512, gunzip(bases[0])));
  const r2 = new FatReader(floppy, core);
  const font = r2.lookup(FONT)!;
  const runs = r2.chainRuns(font.firstCluster);
  floppy.reads.length = 0;
  r2.readFile(font, () => undefined);
  t.equal(
    floppy.reads.filter(([lba]) => lba >= r2.tables.geometry.firstDataSector).length,
    runs.length,
    `${runs.length} runs, ${runs.length} reads`,
  );
});

t.test("directory decoding: long names, orphans, case flags, deleted, label, dots, end marker", async (t) => {
  const entries: Uint8Array[] = [];
  const short = (name11: string, attr = 0x20, ntRes = 0, cluster = 9, size = 1) => {
    const e = new Uint8Array(32),
      dv = new DataView(e.buffer);
    e.set(Buffer.from(name11, "latin1"));
    e[11] = attr;
    e[12] = ntRes;
    dv.setUint16(26, cluster, true);
    dv.setUint32(28, size, true);
    dv.setUint16(24, (44 << 9) | (11 << 5) | 14, true);
    dv.setUint16(22, (22 << 11) | (13 << 5) | 10, true);
    entries.push(e);
  };
  /** The long-name entries for `name`, last part first, as a driver stores them; `skip` leaves one ordinal out. */
  const long = (name: string, name11: string, skip = 0) => {
    const sum = shortNameChecksum(Buffer.from(name11, "latin1"));
    const units = [...Array.from(name, (ch) => ch.charCodeAt(0)), 0];
    while (units.length % 13) units.push(0xffff);
    const parts = units.length / 13;
    for (let ord = parts; ord >= 1; ord--) {
      if (ord === skip) continue;
      const e = new Uint8Array(32),
        dv = new DataView(e.buffer);
      e[0] = ord | (ord === parts ? 0x40 : 0);
      e[11] = 0x0f;
      e[13] = sum;
      const chunk = units.slice((ord - 1) * 13, ord * 13);
      [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].forEach((at, k) => dv.setUint16(at, chunk[k], true));
      entries.push(e);
    }
  };
  short(".          ", 0x10);
  short("..         ", 0x10, 0, 0, 0);
  short("FLOPPY     ", 0x08);
  long("Helvetica Bold Oblique.ttf", "HELVET~1TTF");
  short("HELVET~1TTF");
  long("orphan with the wrong checksum.txt", "SOMETHINGEL");
  short("ORPHAN  TXT");
  long("a name missing its middle part.prn", "MISSIN~1PRN", 2);
  short("MISSIN~1PRN");
  short("\u00e5DELETEDTXT");
  short("README  TXT", 0x20, 0x18);
  short("\u0005BC     TXT");
  short("\u0000AFTEREND  ");
  short("NOTSEEN TXT");
  const records = decodeDirectory(Buffer.concat(entries), false);
  t.same(
    records.map((r) => [r.name, r.shortName, r.dot]),
    [
      [".", ".", true],
      ["..", "..", true],
      ["Helvetica Bold Oblique.ttf", "HELVET~1.TTF", false],
      ["ORPHAN.TXT", "ORPHAN.TXT", false],
      ["MISSIN~1.PRN", "MISSIN~1.PRN", false],
      ["readme.txt", "README.TXT", false],
      ["\u03c3BC.TXT", "\u03c3BC.TXT", false],
    ],
    "label, deleted entry and everything after the end marker skipped; orphaned long names dropped",
  );
  t.equal(records[2].modified.toISOString(), "2024-11-14T22:13:20.000Z", "date and time fields, UTC");
  t.equal(records[2].firstCluster, 9);
  t.notOk(
    records.some((r) => r.nameProblem),
    "all names legal",
  );
});
