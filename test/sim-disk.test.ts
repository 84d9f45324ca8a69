// The simulator's own disk builder (simulator/src: partition, fat-format, fat-writer, content):
// disks built in memory with Node alone, MBR (with logical partitions) and GPT, 512- and
// 4096-byte sectors, FAT12/16/32, checked with clusterback's own parser (readPartitionTable,
// api.info). When the real tools are installed they are the oracles as well: sfdisk/sgdisk/fdisk
// agree with the table, fsck.fat -n is clean on every partition, and every file mcopy extracts
// is byte-identical to what FatWriter wrote (long names, nested and grown directories, a file
// over many clusters, a contiguous file, removed files absent).

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { FatFormatError, FatLayout, fatTypeOf, formatFat, parseDirectory } from "../firmware-module/src/ops/fat-format";
import { FatTables } from "../firmware-module/src/ops/fat-tables";
import {
  FatContiguousError,
  FatSpaceError,
  FatWriter,
  FatWriterError,
  shortNameFor,
} from "../firmware-module/src/ops/fat-writer";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { PartitionView, RamDevice } from "../host-shim/src/native/devices";
import { firmwareTree, treeDirectories } from "../simulator/src/content";
import {
  GPT_BASIC_DATA,
  PartitionLayoutError,
  PartitionSpec,
  PlacedPartition,
  writePartitionTable,
} from "../simulator/src/partition";

const MiB = 1 << 20;
const haveTools = ["fsck.fat", "mcopy", "sfdisk", "sgdisk", "fdisk"].every(
  (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0,
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-simdisk-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core();

function sh(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, MTOOLS_SKIP_CHECK: "1", TZ: "UTC", LC_ALL: "C" },
  });
  return { code: r.status ?? -1, out: (r.stdout ?? "") + (r.stderr ?? "") };
}
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

/** Writes bytes to a sparse file (only the non-zero MiB chunks). */
function writeSparse(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.ftruncateSync(fd, bytes.length);
    const zeros = Buffer.alloc(MiB);
    for (let at = 0; at < bytes.length; at += MiB) {
      const chunk = bytes.subarray(at, Math.min(bytes.length, at + MiB));
      if (Buffer.compare(chunk, zeros.subarray(0, chunk.length)) !== 0) fs.writeSync(fd, chunk, 0, chunk.length, at);
    }
  } finally {
    fs.closeSync(fd);
  }
}

const rel = (p: string) => p.split(/[\\/]/).filter(Boolean).join("/");
const fill = (n: number, seed: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
};

interface Populated {
  files: Map<string, Uint8Array>;
  contiguous: { firstCluster: number; clusterCount: number };
  big: { firstCluster: number; clusterCount: number };
}

/** Fills a volume: the firmware tree, nested and grown directories, a big, a contiguous, an empty, a hidden, a replaced and removed files. */
function populate(w: FatWriter, seed: number, budget: number): Populated {
  const files = new Map<string, Uint8Array>();
  const put = (p: string, data: Uint8Array, o = {}) => {
    files.set(rel(p), data);
    return w.writeFile(p, data, o);
  };
  const tree = firmwareTree(seed, budget);
  for (const d of treeDirectories(tree)) w.mkdir(d);
  let contiguous = { firstCluster: 0, clusterCount: 0 };
  for (const f of tree) {
    const r = put(f.path, f.data(), { contiguous: f.path.endsWith("BOOT.BIN") });
    if (f.path.endsWith("BOOT.BIN")) contiguous = r;
  }
  w.mkdir("/Spool/Held Jobs");
  for (let k = 0; k < 60; k++) put(`\\Spool\\print job ${k} (copy).prn`, fill(100 + k * 37, k));
  for (let k = 0; k < 60; k += 3) {
    w.remove(`\\Spool\\print job ${k} (copy).prn`);
    files.delete(`Spool/print job ${k} (copy).prn`);
  }
  const big = put("\\Spool\\Held Jobs\\big spanning job.prn", fill(40 * w.layout.clusterBytes + 123, seed));
  put("\\CONFIG\\settings.xml", new TextEncoder().encode(`<settings seed="${seed}"/>\n`));
  put("\\EMPTY.DAT", new Uint8Array(0));
  put("\\Hidden Service Key.bin", fill(777, 3), { attributes: 0x03 });
  w.remove("\\LOG\\ERRORS.LOG");
  files.delete("LOG/ERRORS.LOG");
  w.mkdir("\\Trash\\Sub");
  w.remove("\\Trash\\Sub");
  w.flush();
  return { files, contiguous, big };
}

interface PartCfg {
  mib: number;
  clusterBytes: number;
  fatType?: 12 | 16 | 32;
  expect: string;
  mbrType: number;
  name?: string;
}
interface DiskCfg {
  name: string;
  scheme: "mbr" | "gpt";
  sectorSize: number;
  parts: PartCfg[];
}

interface Built {
  disk: RamDevice;
  placed: PlacedPartition[];
  layouts: FatLayout[];
  writers: FatWriter[];
  populated: Populated[];
  specs: PartitionSpec[];
}

function build(cfg: DiskCfg, seed = 7): Built {
  const ss = cfg.sectorSize;
  const diskMiB = 2 + cfg.parts.reduce((a, p) => a + p.mib + 1, 0);
  const disk = new RamDevice(ss, (diskMiB * MiB) / ss, cfg.name);
  const specs: PartitionSpec[] = cfg.parts.map((p) => ({
    sectorCount: (p.mib * MiB) / ss,
    mbrType: p.mbrType,
    name: p.name,
  }));
  const placed = writePartitionTable(disk, cfg.scheme, specs, { seed });
  const layouts: FatLayout[] = [],
    writers: FatWriter[] = [],
    populated: Populated[] = [];
  cfg.parts.forEach((p, i) => {
    const view = new PartitionView(disk, placed[i].startLba, placed[i].sectorCount);
    layouts.push(
      formatFat(view, {
        fatType: p.fatType,
        clusterBytes: p.clusterBytes,
        label: `PART${i + 1}`,
        hiddenSectors: placed[i].startLba,
      }),
    );
    const w = new FatWriter(view);
    populated.push(populate(w, seed * 100 + i, Math.min(MiB, Math.floor(p.mib * MiB * 0.25))));
    writers.push(w);
  });
  return { disk, placed, layouts, writers, populated, specs };
}

const disks: DiskCfg[] = [
  {
    name: "mbr-512",
    scheme: "mbr",
    sectorSize: 512,
    parts: [
      { mib: 4, clusterBytes: 2048, expect: "FAT12", mbrType: 0x01 },
      { mib: 32, clusterBytes: 2048, expect: "FAT16", mbrType: 0x06 },
      { mib: 36, clusterBytes: 512, expect: "FAT32", mbrType: 0x0c },
    ],
  },
  {
    name: "mbr-logical-512",
    scheme: "mbr",
    sectorSize: 512,
    parts: [
      { mib: 2, clusterBytes: 1024, expect: "FAT12", mbrType: 0x01 },
      { mib: 4, clusterBytes: 512, expect: "FAT16", mbrType: 0x04, fatType: 16 },
      { mib: 2, clusterBytes: 2048, expect: "FAT12", mbrType: 0x01, fatType: 12 },
      { mib: 3, clusterBytes: 1024, expect: "FAT12", mbrType: 0x01 },
      { mib: 4, clusterBytes: 512, expect: "FAT16", mbrType: 0x0e },
      { mib: 2, clusterBytes: 4096, expect: "FAT12", mbrType: 0x01 },
    ],
  },
  {
    name: "gpt-512",
    scheme: "gpt",
    sectorSize: 512,
    parts: [
      { mib: 24, clusterBytes: 4096, expect: "FAT16", mbrType: 0x0e, name: "system" },
      { mib: 40, clusterBytes: 512, expect: "FAT32", mbrType: 0x0c, fatType: 32, name: "recovery" },
      { mib: 4, clusterBytes: 4096, expect: "FAT12", mbrType: 0x01, name: "spool" },
    ],
  },
  {
    name: "mbr-4096",
    scheme: "mbr",
    sectorSize: 4096,
    parts: [
      { mib: 8, clusterBytes: 4096, expect: "FAT12", mbrType: 0x01 },
      { mib: 40, clusterBytes: 4096, expect: "FAT16", mbrType: 0x0e },
    ],
  },
  {
    name: "gpt-4096",
    scheme: "gpt",
    sectorSize: 4096,
    parts: [
      { mib: 264, clusterBytes: 4096, expect: "FAT32", mbrType: 0x0c, name: "system" },
      { mib: 4, clusterBytes: 8192, expect: "FAT12", mbrType: 0x01, name: "config" },
    ],
  },
];

function checkWithCore(t: Tap.Test, cfg: DiskCfg, b: Built, file: string): void {
  const table = api.readPartitionTable(core, b.disk);
  t.equal(table.scheme, cfg.scheme, "readPartitionTable: scheme");
  t.same(
    table.partitions.map((p) => [p.number, p.startLba, p.sectorCount]),
    b.placed.map((p) => [p.number, p.startLba, p.sectorCount]),
    "readPartitionTable: numbers, starts and sizes",
  );
  if (cfg.scheme === "gpt")
    t.ok(
      table.partitions.every((p) => p.typeGuid === GPT_BASIC_DATA),
      "GPT type GUIDs",
    );
  const align = MiB / cfg.sectorSize;
  t.ok(
    b.placed.every((p) => p.startLba % align === 0),
    "every start 1 MiB aligned",
  );
  cfg.parts.forEach((p, i) => {
    const l = b.layouts[i];
    const v = api.info(core, file, { partition: b.placed[i].number }).volume!;
    t.equal(v.fsType, p.expect, `partition ${b.placed[i].number}: ${p.expect}`);
    t.same(
      [
        v.bytesPerSector,
        v.clusterBytes,
        v.reservedSectors,
        v.fatCount,
        v.fatSectors,
        v.clusterCount,
        v.firstDataSector,
        v.totalSectors,
      ],
      [
        l.bytesPerSector,
        l.clusterBytes,
        l.reservedSectors,
        l.fatCount,
        l.fatSectors,
        l.clusterCount,
        l.firstDataSector,
        l.totalSectors,
      ],
      `partition ${b.placed[i].number}: geometry`,
    );
    t.equal(
      v.usedClusters,
      l.clusterCount - b.writers[i].freeClusters,
      `partition ${b.placed[i].number}: ${v.usedClusters} used clusters`,
    );
    t.same(v.notices, [], `partition ${b.placed[i].number}: no notices (FAT copies equal, FSInfo right, clean)`);
    const fat = new FatTables(new PartitionView(b.disk, b.placed[i].startLba, b.placed[i].sectorCount), core);
    const c = b.populated[i].contiguous;
    const chain = fat.entries(0, c.firstCluster, c.clusterCount);
    t.ok(
      chain.every((e, k) => (k + 1 < c.clusterCount ? e === c.firstCluster + k + 1 : e >= 0xff8)),
      `partition ${b.placed[i].number}: contiguous file is one run of ${c.clusterCount} clusters`,
    );
  });
}

function checkWithTools(t: Tap.Test, cfg: DiskCfg, b: Built, file: string): void {
  const want = b.placed.map((p) => [p.number, p.startLba, p.sectorCount]);
  if (cfg.sectorSize === 512) {
    const j = JSON.parse(sh("sfdisk", ["--json", file]).out).partitiontable;
    t.equal(j.label, cfg.scheme === "gpt" ? "gpt" : "dos", "sfdisk: label");
    const got = j.partitions
      .filter((p: { type: string }) => p.type !== "f")
      .map((p: { node: string; start: number; size: number }) => [Number(/(\d+)$/.exec(p.node)![1]), p.start, p.size]);
    t.same(got, want, "sfdisk --json: numbers, starts and sizes");
    t.match(sh("sfdisk", ["-V", file]).out, /No errors detected/, "sfdisk -V: no errors");
    if (cfg.scheme === "gpt") {
      const v = sh("sgdisk", ["-v", file]);
      t.match(v.out, /No problems found/, "sgdisk -v: no problems");
    }
  }
  const fd = sh("fdisk", ["-b", String(cfg.sectorSize), "-l", "-o", "Device,Start,Sectors", file]);
  t.notMatch(fd.out, /corrupt|invalid|mismatch|does not|overlap/i, `fdisk -b ${cfg.sectorSize} -l: no complaints`);
  const rows = [...fd.out.matchAll(/^\S+?(\d+)\s+(\d+)\s+(\d+)\s*$/gm)].map((m) => [
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
  ]);
  const hasExtended = cfg.scheme === "mbr" && b.placed.some((p) => p.number >= 5);
  t.same(
    rows.filter((r) => !(hasExtended && r[0] === 4)),
    want,
    `fdisk -b ${cfg.sectorSize}: starts and sizes (the extended partition aside)`,
  );
  b.placed.forEach((p, i) => {
    const start = p.startLba * cfg.sectorSize,
      bytes = p.sectorCount * cfg.sectorSize;
    const partFile = path.join(tmp, `${cfg.name}-p${p.number}.img`);
    writeSparse(partFile, b.disk.bytes.subarray(start, start + bytes));
    const f = sh("fsck.fat", ["-n", partFile]);
    t.equal(f.code, 0, `fsck.fat -n clean on partition ${p.number}${f.code ? ": " + f.out : ""}`);
    const used = b.layouts[i].clusterCount - b.writers[i].freeClusters;
    t.match(
      f.out,
      new RegExp(` ${used}/${b.layouts[i].clusterCount} clusters`),
      `fsck.fat counts ${used} used clusters`,
    );
    t.equal(f.out.trim().split("\n").length, 2, "fsck.fat reports nothing but its summary");
    fs.rmSync(partFile);
    const expected = shaMap(b.populated[i].files);
    t.same(
      mcopyTree(`${file}@@${start}`),
      expected,
      `partition ${p.number}: all ${Object.keys(expected).length} files mcopy extracts are byte-identical`,
    );
  });
}

function shaMap(files: Map<string, Uint8Array>): Record<string, string> {
  return Object.fromEntries([...files.entries()].map(([k, v]) => [k, sha(v)]).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

function mcopyTree(spec: string): Record<string, string> {
  const dir = path.join(tmp, "out");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  const r = sh("mcopy", ["-s", "-n", "-p", "-i", spec, "::/", dir]);
  if (r.code !== 0) throw new Error(`mcopy failed: ${r.out}`);
  const out: [string, string][] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push([path.relative(dir, p), sha(fs.readFileSync(p))]);
    }
  };
  walk(dir);
  return Object.fromEntries(out.sort((a, b) => (a[0] < b[0] ? -1 : 1)));
}

for (const cfg of disks) {
  t.test(`${cfg.name}: ${cfg.parts.map((p) => `${p.expect} ${p.mib} MiB/${p.clusterBytes}`).join(", ")}`, async (t) => {
    const b = build(cfg);
    const file = path.join(tmp, `${cfg.name}.img`);
    writeSparse(file, b.disk.bytes);
    checkWithCore(t, cfg, b, file);
    if (haveTools) checkWithTools(t, cfg, b, file);
    else t.skip("sfdisk, sgdisk, fdisk, fsck.fat and mtools are not installed (CI installs them)");
    fs.rmSync(file);
  });
}

t.test(
  "deterministic: the same calls give a byte-identical disk; another seed changes only the GUIDs and IDs",
  async (t) => {
    const cfg = disks[2];
    const a = build(cfg, 11),
      b = build(cfg, 11);
    t.equal(Buffer.compare(a.disk.bytes, b.disk.bytes), 0, "same seed, same bytes");
    const d1 = new RamDevice(512, 8192),
      d2 = new RamDevice(512, 8192);
    writePartitionTable(d1, "gpt", [{ sectorCount: 2048, mbrType: 1 }], { seed: 1 });
    writePartitionTable(d2, "gpt", [{ sectorCount: 2048, mbrType: 1 }], { seed: 2 });
    t.not(sha(d1.bytes.subarray(512, 1024)), sha(d2.bytes.subarray(512, 1024)), "another seed, another disk GUID");
  },
);

t.test("partition tables: logical numbering, placement and named errors", async (t) => {
  const disk = new RamDevice(512, 64 * 2048);
  const specs = Array.from({ length: 7 }, () => ({ sectorCount: 4096, mbrType: 0x06 }));
  const placed = writePartitionTable(disk, "mbr", specs, { alignBytes: 4096 });
  t.same(
    placed.map((p) => p.number),
    [1, 2, 3, 5, 6, 7, 8],
    "3 primaries, then logicals numbered from 5",
  );
  t.same(
    api.readPartitionTable(core, disk).partitions.map((p) => [p.number, p.startLba]),
    placed.map((p) => [p.number, p.startLba]),
    "the core follows the EBR chain",
  );
  t.ok(
    placed.every((p) => p.startLba % 8 === 0),
    "4 KiB alignment",
  );
  const err = (f: () => void) => {
    try {
      f();
    } catch (e) {
      return e as Error;
    }
    return undefined;
  };
  const big = err(() => writePartitionTable(new RamDevice(512, 8192), "gpt", [{ sectorCount: 8192, mbrType: 1 }]));
  t.ok(big instanceof PartitionLayoutError, "too big: PartitionLayoutError");
  t.equal(big?.name, "PartitionLayoutError");
  t.match(big?.message, /8192 sectors from LBA 2048.*last usable LBA 8158.*8192 sectors of 512 bytes/, big?.message);
  t.match(
    err(() => writePartitionTable(disk, "mbr", [{ sectorCount: 10, mbrType: 0x0f }]))?.message,
    /MBR type 15 is not a data partition type/,
  );
  t.match(
    err(() => writePartitionTable(disk, "gpt", [{ sectorCount: 10, mbrType: 1, gptType: "nope" }]))?.message,
    /GPT type "nope" is not a GUID/,
  );
  t.match(err(() => writePartitionTable(new RamDevice(4096, 6), "gpt", []))?.message, /too small for a GPT/);
});

t.test("format: FAT type by cluster count, contradictions refused with the values", async (t) => {
  const part = (mib: number, ss = 512) => new RamDevice(ss, (mib * MiB) / ss, `${mib}MiB`);
  for (const [mib, cb, want] of [
    [2, 512, 12],
    [8, 512, 16],
    [64, 32768, 12],
    [64, 512, 32],
    [128, 4096, 16],
  ] as const) {
    const l = formatFat(part(mib), { clusterBytes: cb });
    t.equal(l.fatType, want, `${mib} MiB with ${cb}-byte clusters: FAT${want} (${l.clusterCount} clusters)`);
    t.equal(fatTypeOf(l.clusterCount), l.fatType);
  }
  const e = (f: () => void) => {
    try {
      f();
    } catch (x) {
      return x as Error;
    }
    return undefined;
  };
  const c32 = e(() => formatFat(part(16), { fatType: 32, clusterBytes: 4096 }));
  t.ok(c32 instanceof FatFormatError, "FAT32 on 4096 clusters: FatFormatError");
  t.match(
    c32?.message,
    /FAT32 is contradicted by the cluster count.*FAT32 layout gives \d+ clusters.*FAT32 65525/,
    c32?.message,
  );
  t.match(e(() => formatFat(part(64), { fatType: 12, clusterBytes: 512 }))?.message, /FAT12 is contradicted/);
  t.match(e(() => formatFat(part(4), { clusterBytes: 3072 }))?.message, /cluster size 3072 bytes is not 1\.\.128/);
  t.match(
    e(() => formatFat(part(4), { clusterBytes: 512, label: "way too long label" }))?.message,
    /volume label "way too long label"/,
  );
  const l4k = formatFat(part(8, 4096), { clusterBytes: 4096, label: "printer" });
  t.same(
    [l4k.fatType, l4k.bytesPerSector, l4k.rootDirSectors, l4k.label],
    [12, 4096, 4, "PRINTER    "],
    "4096-byte sectors: 512 root entries in 4 sectors",
  );
});

t.test("writer: short names, long names, contiguous runs, space errors", async (t) => {
  const vol = new RamDevice(512, 4096, "small");
  formatFat(vol, { clusterBytes: 512 });
  const w = new FatWriter(vol);
  const taken = new Set<string>();
  for (const [name, short] of [
    ["README.TXT", "README  TXT"],
    ["settings.xml", "SETTINGSXML"],
    ["Helvetica Bold Oblique.ttf", "HELVET~1TTF"],
    ["Helvetica Bold.ttf", "HELVET~2TTF"],
    ["a+b=c;d.txt", "A_B_C_~1TXT"],
    [".profile", "PROFIL~1   "],
    ["Ünïcode.bin", "_N_COD~1BIN"],
  ]) {
    const got = shortNameFor(name, taken);
    t.equal(got, short, `${name} -> ${short}`);
    taken.add(got);
  }
  t.throws(() => shortNameFor("bad:name", taken), FatWriterError);
  w.writeFile("/README.TXT", fill(10, 1));
  w.writeFile("/Helvetica Bold Oblique.ttf", fill(10, 2));
  const recs = parseDirectory(readRoot(vol, w.layout));
  t.same(
    recs.map((r) => [r.longName, r.shortName, r.firstSlot, r.shortSlot]),
    [
      ["README.TXT", "README.TXT", 0, 0],
      ["Helvetica Bold Oblique.ttf", "HELVET~1.TTF", 1, 3],
    ],
    "an 8.3 name takes one entry; a 26-character long name two LFN entries and its short entry",
  );
  // fragment the volume: files of one cluster, every other one removed
  for (let k = 0; k < 200; k++) w.writeFile(`/F${k}.BIN`, fill(512, k));
  for (let k = 0; k < 200; k += 2) w.remove(`/F${k}.BIN`);
  const free = w.freeClusters;
  const tooLong = free - 10;
  const ce = (() => {
    try {
      w.writeFile("/RUN.BIN", fill(tooLong * 512, 9), { contiguous: true });
    } catch (e) {
      return e as Error;
    }
  })();
  t.ok(ce instanceof FatContiguousError, `no run of ${tooLong} clusters: FatContiguousError`);
  t.match(
    ce?.message,
    new RegExp(`no run of ${tooLong} free clusters.*the longest is \\d+ clusters, ${free} free`),
    ce?.message,
  );
  t.equal(w.freeClusters, free, "a refused write allocates nothing");
  const r = w.writeFile("/RUN.BIN", fill(20 * 512, 9), { contiguous: true });
  t.equal(r.clusterCount, 20, "a run that fits is found");
  t.throws(() => w.writeFile("/HUGE.BIN", fill((w.freeClusters + 1) * 512, 1)), FatSpaceError);
  const keep = w.writeFile("/KEEP.BIN", fill(10 * 512, 4)),
    before = w.freeClusters;
  t.throws(
    () => w.writeFile("/KEEP.BIN", fill((before + 11) * 512, 1)),
    FatSpaceError,
    "a replacement that does not fit is refused",
  );
  t.equal(w.freeClusters, before, "and the old file keeps its clusters");
  const again = w.writeFile("/KEEP.BIN", fill(10 * 512, 5));
  t.ok(
    again.clusterCount === keep.clusterCount && w.freeClusters === before,
    "a replacement that fits frees the old clusters and takes as many (first fit from the hint)",
  );
  t.throws(() => w.remove("/NOPE.BIN"), FatWriterError);
  w.mkdir("/D/E");
  t.throws(() => w.remove("/D"), /not empty/);
  for (let k = 0; k < 40; k++) w.writeFile(`/D/grown directory entry ${k}.txt`, fill(k + 1, k));
  w.flush();
  const dFirst = parseDirectory(readRoot(vol, w.layout)).find((r) => r.longName === "D")!.firstCluster;
  const fat = new FatTables(vol, core);
  let dClusters = 0;
  for (let c = dFirst; c < 0xff8 && dClusters < 100; c = fat.entries(0, c, 1)[0]) dClusters++;
  t.ok(dClusters >= 8, `a directory of 40 long names grew over ${dClusters} 512-byte clusters`);
  t.throws(() => w.writeFile("/X/Y.BIN", fill(1, 1)), /no directory "X"/);
  const root = new RamDevice(512, 2048, "root");
  formatFat(root, { clusterBytes: 512 });
  const rw = new FatWriter(root);
  const full = (() => {
    try {
      for (let k = 0; k < 600; k++) rw.writeFile(`/R${k}.DAT`, new Uint8Array(0));
    } catch (e) {
      return e as Error;
    }
  })();
  t.ok(
    full instanceof FatSpaceError && /root directory is full \(512 entries/.test(full.message),
    `fixed root full: ${full?.message}`,
  );
});

function readRoot(dev: RamDevice, l: FatLayout): Uint8Array {
  const at = (l.reservedSectors + l.fatCount * l.fatSectors) * l.bytesPerSector;
  return dev.bytes.subarray(at, at + l.rootDirSectors * l.bytesPerSector);
}

t.test("content: deterministic firmware-like tree of the asked size", async (t) => {
  const a = firmwareTree(5, 4 * MiB),
    b = firmwareTree(5, 4 * MiB),
    c = firmwareTree(6, 4 * MiB);
  t.equal(
    a.reduce((s, f) => s + f.size, 0),
    4 * MiB,
    "sizes sum to totalBytes",
  );
  t.same(
    a.map((f) => sha(f.data())),
    b.map((f) => sha(f.data())),
    "same seed, same bytes",
  );
  t.not(sha(a[0].data()), sha(c[0].data()), "another seed, other bytes");
  t.ok(
    a.every((f) => f.data().length === f.size),
    "data() has the stated size",
  );
  t.same(
    a.filter((f) => f.critical).map((f) => f.path),
    ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\BOOT.BIN", "\\FIRMWARE\\ENGINE.BIN", "\\CONFIG\\settings.xml"],
  );
  t.ok(
    a.some((f) => f.path === "\\FONTS\\Helvetica Bold Oblique.ttf"),
    "long font names",
  );
  t.same(treeDirectories(a).slice(0, 6), ["\\CONFIG", "\\FIRMWARE", "\\FONTS", "\\FORMS", "\\LOG", "\\WEB"]);
});
