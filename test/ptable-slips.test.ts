// Partition-table slips (issue 12, item 7), through the real CLI on the committed disks
// (test/fixtures/volumes: disk-mbr.img, partitions 1, 2, extended 3 holding logical 5 and 6;
// disk-gpt.img, partitions 1 and 2), damaged here:
// - overlapping entries (primary and primary, logical and logical, primary over the extended
//   partition): info lists every partition and names both sides; a restore into one of them is
//   refused (exit 1, one line naming both entries' numbers, starts and sector counts) with the
//   whole disk's sha256 unchanged; a restore into a partition outside the overlap works;
// - one bad entry (starting at sector 0, reaching past the end of the disk): listed with its
//   problem, refused when chosen, and a restore into another partition changes that
//   partition's range and nothing else (the sha256 of every other range unchanged);
// - a GPT whose primary header or primary entry array fails its CRC: the backup header at the
//   disk's last LBA is used, info warns and lists the partitions, a restore into partition N
//   writes only that range; both headers bad: refused by name, as before;
// - the core's answers on crafted tables (RamDevice): every problem code, the warnings.
// Oracles, where installed (skipped otherwise): sgdisk -p and sfdisk -d list the same
// partitions (numbers, starts, ends) as info on the same damaged disk.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { PartitionTable, readPartitionTable } from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { RamDevice } from "../host-shim/src/native/devices";
import { fixtureDir } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-ptable-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const core = new Core({ backgroundWrites: false });
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const SS = 512;
const MBR_TABLE = 446,
  PTE = 16,
  PTE_TYPE = 4,
  PTE_START = 8,
  PTE_SIZE = 12;
const GPT_HEADER_CRC = 16,
  GPT_DISK_GUID = 56,
  GPT_ENTRIES_CRC = 88,
  GPT_HEADER_BYTES = 92;
const GPTE_BYTES = 128,
  GPTE_FIRST = 32,
  GPTE_LAST = 40,
  GPT_ENTRIES = 128;
const BASIC_DATA = Buffer.from("A2A0D0EBE5B9334487C068B6B72699C7", "hex");

function run(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const unpack = (name: string) => zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, name)));
function write(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

interface Extent {
  start: number;
  sectors: number;
}
/** sha256 of every range of the disk outside `inside` (before it, after it). */
function outside(disk: Buffer, inside: Extent): string[] {
  return [sha(disk.subarray(0, inside.start * SS)), sha(disk.subarray((inside.start + inside.sectors) * SS))];
}

function setMbrEntry(disk: Buffer, sector: number, slot: number, type: number, start: number, size: number): void {
  const at = sector * SS + MBR_TABLE + slot * PTE;
  disk[at + PTE_TYPE] = type;
  disk.writeUInt32LE(start, at + PTE_START);
  disk.writeUInt32LE(size, at + PTE_SIZE);
}
const mbrEntry = (disk: Buffer, sector: number, slot: number) => {
  const at = sector * SS + MBR_TABLE + slot * PTE;
  return {
    type: disk[at + PTE_TYPE],
    start: disk.readUInt32LE(at + PTE_START),
    size: disk.readUInt32LE(at + PTE_SIZE),
  };
};

// ---- the fixtures and an image of each partition ------------------------------------------

const mbr = unpack("disk-mbr.img.gz");
const gpt = unpack("disk-gpt.img.gz");
const mbrFile = write("mbr.img", mbr),
  gptFile = write("gpt.img", gpt);
const MBR = {
  1: { start: 2048, sectors: 16384 },
  2: { start: 18432, sectors: 8192 },
  5: { start: 28672, sectors: 16384 },
  6: { start: 47104, sectors: 8192 },
} as Record<number, Extent>;
const GPT = { 1: { start: 2048, sectors: 16384 }, 2: { start: 18432, sectors: 16384 } } as Record<number, Extent>;
const EXT_START = 26624; // the extended partition, MBR entry 3
const ebr2 = EXT_START + mbrEntry(mbr, EXT_START, 1).start; // the EBR of logical 6
const images: Record<string, string> = {};
for (const [disk, file, parts] of [
  ["mbr", mbrFile, MBR],
  ["gpt", gptFile, GPT],
] as const) {
  for (const n of Object.keys(parts)) {
    const image = path.join(tmp, `${disk}-p${n}.cbi`);
    api.backup(core, file, { partition: Number(n), image, created: new Date(Date.UTC(2026, 0, 1)) });
    images[`${disk}${n}`] = image;
  }
}

/** The disk with partition n's first sectors after its boot sector scribbled over (a restore has something to write). */
function damaged(disk: Buffer, at: Extent): Buffer {
  const d = Buffer.from(disk);
  d.fill(0xa5, (at.start + 1) * SS, (at.start + 64) * SS);
  return d;
}

/** info --json's table (and exit 0). */
function infoTable(t: Tap.Test, file: string): PartitionTable {
  const r = run("info", file, "--json");
  t.equal(r.code, 0, `info exits 0 ${r.err}`);
  return JSON.parse(r.out).table as PartitionTable;
}

/** The refusal of a restore into partition n: exit 1, one line matching `message`, the disk's bytes unchanged. */
function refused(t: Tap.Test, file: string, image: string, n: number, message: RegExp, json = false): void {
  const before = sha(fs.readFileSync(file));
  const r = run("restore", image, file, "--partition", String(n), ...(json ? ["--json"] : []));
  t.equal(r.code, 1, `restore into partition ${n}: exit 1`);
  t.equal(r.err.trim().split("\n").length, 1, `one line: ${r.err.trim()}`);
  t.match(r.err, message, "naming both entries");
  t.notMatch(r.err, /internal error|RangeError/);
  if (json) t.match(JSON.parse(r.out), { ok: false, error: "PartitionEntryError", message });
  t.equal(sha(fs.readFileSync(file)), before, "the whole disk's sha256 unchanged");
}

/** A restore into partition n that works, and writes that partition's range only. */
function restoredOnly(t: Tap.Test, file: string, image: string, n: number, at: Extent, source: Buffer): void {
  const before = fs.readFileSync(file);
  const r = run("restore", image, file, "--partition", String(n));
  t.equal(r.code, 0, `restore into partition ${n} works ${r.err}`);
  const after = fs.readFileSync(file);
  t.same(outside(after, at), outside(before, at), "every range outside the partition unchanged");
  const inside = (b: Buffer) => sha(b.subarray(at.start * SS, (at.start + at.sectors) * SS));
  t.not(inside(before), inside(source), "(the partition was damaged before)");
  t.equal(inside(after), inside(source), "the partition is the source's again");
}

// ---- the oracles ------------------------------------------------------------------------

/** sgdisk -p's partitions: [number, start, end]. */
function sgdiskList(file: string): number[][] {
  const r = spawnSync("sgdisk", ["-p", file], { encoding: "utf8" });
  return [...r.stdout.matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}
/** sfdisk -d's partitions: [number, start, end]. */
function sfdiskList(file: string): number[][] {
  const r = spawnSync("sfdisk", ["-d", file], { encoding: "utf8" });
  return [...r.stdout.matchAll(/img(\d+) : start=\s*(\d+), size=\s*(\d+), type=(\w+)/g)]
    .filter((m) => !["5", "f", "85"].includes(m[4]))
    .map((m) => [Number(m[1]), Number(m[2]), Number(m[2]) + Number(m[3]) - 1]);
}
const listed = (table: PartitionTable) =>
  table.partitions.map((p) => [p.number, p.startLba, p.startLba + p.sectorCount - 1]);

// ---- overlapping MBR entries ------------------------------------------------------------

t.test("MBR: partition 2 moved over partition 1", async (t) => {
  const disk = Buffer.from(mbr);
  setMbrEntry(disk, 0, 1, 0x01, 16384, 8192); // 16384..24575 overlaps partition 1 (2048..18431)
  const file = write("mbr-overlap.img", disk);
  const table = infoTable(t, file);
  t.same(
    table.partitions.map((p) => p.number),
    [1, 2, 5, 6],
    "info lists every partition",
  );
  t.match(
    table.partitions,
    [
      { number: 1, problem: "overlaps partition 2 (start 16384, 8192 sectors)" },
      { number: 2, startLba: 16384, problem: "overlaps partition 1 (start 2048, 16384 sectors)" },
      { number: 5, problem: undefined },
      { number: 6, problem: undefined },
    ],
    "both sides of the overlap named, the others without a problem",
  );
  const text = run("info", file);
  t.equal(text.code, 0);
  for (const n of [1, 2, 5, 6])
    t.match(
      text.out,
      new RegExp(`^\\s+${n}  start ${table.partitions.find((p) => p.number === n)!.startLba}  sectors`, "m"),
      `info's text lists partition ${n}`,
    );
  const both = /partition 2 \(start 16384, 8192 sectors\).*partition 1 \(start 2048, 16384 sectors\)/;
  refused(
    t,
    file,
    images.mbr2,
    2,
    /^clusterback: .*mbr-overlap\.img: partition 2 \(start 16384, 8192 sectors\) is not used: its MBR entry overlaps partition 1 \(start 2048, 16384 sectors\)\n$/,
  );
  refused(t, file, images.mbr2, 2, both, true);
  refused(
    t,
    file,
    images.mbr1,
    1,
    /partition 1 \(start 2048, 16384 sectors\) is not used: its MBR entry overlaps partition 2 \(start 16384, 8192 sectors\)/,
  );
  const info = run("info", file, "--partition", "1");
  t.equal(info.code, 1, "info --partition 1 is refused too");
  t.match(info.err, /partition 1 .* overlaps partition 2/);
  // a partition outside the overlap stays usable
  fs.writeFileSync(file, damaged(disk, MBR[5]));
  restoredOnly(t, file, images.mbr5, 5, MBR[5], mbr);
  if (has("sfdisk")) t.same(listed(table), sfdiskList(file), "sfdisk -d lists the same partitions");
});

t.test("MBR: logical partitions overlapping each other, and a primary over the extended partition", async (t) => {
  const disk = Buffer.from(mbr);
  // logical 6's EBR moved to 26625, right after the first EBR (the chain still ascends), and its
  // partition to 28772..36963, inside logical 5 (28672..45055)
  const ebr = EXT_START + 1;
  disk.copy(disk, ebr * SS, ebr2 * SS, (ebr2 + 1) * SS);
  setMbrEntry(disk, ebr, 0, 0x01, 28772 - ebr, 8192);
  setMbrEntry(disk, EXT_START, 1, 0x05, ebr - EXT_START, 8192);
  const file = write("mbr-logical.img", disk);
  const table = infoTable(t, file);
  t.match(
    table.partitions,
    [
      { number: 1, problem: undefined },
      { number: 2, problem: undefined },
      { number: 5, problem: "overlaps partition 6 (start 28772, 8192 sectors)" },
      { number: 6, startLba: 28772, problem: "overlaps partition 5 (start 28672, 16384 sectors)" },
    ],
    "both logical partitions name each other",
  );
  refused(
    t,
    file,
    images.mbr6,
    6,
    /partition 6 \(start 28772, 8192 sectors\) is not used: its MBR entry overlaps partition 5 \(start 28672, 16384 sectors\)/,
  );
  refused(
    t,
    file,
    images.mbr5,
    5,
    /partition 5 \(start 28672, 16384 sectors\) is not used: its MBR entry overlaps partition 6 \(start 28772, 8192 sectors\)/,
  );
  fs.writeFileSync(file, damaged(disk, MBR[2]));
  restoredOnly(t, file, images.mbr2, 2, MBR[2], mbr);
  if (has("sfdisk")) t.same(listed(table), sfdiskList(file), "sfdisk -d lists the same partitions");

  // partition 2 grown into the extended partition: it overlaps the extended partition itself, and logical 5
  const d2 = Buffer.from(mbr);
  setMbrEntry(d2, 0, 1, 0x01, 18432, 12000); // 18432..30431: over the extended partition (26624..) and logical 5 (28672..)
  const f2 = write("mbr-into-extended.img", d2);
  const t2 = infoTable(t, f2);
  t.match(t2.partitions, [
    { number: 1, problem: undefined },
    { number: 2, problem: "overlaps the extended partition, partition 3 (start 26624, 55296 sectors)" },
    { number: 5, problem: "overlaps partition 2 (start 18432, 12000 sectors)" },
    { number: 6, problem: undefined },
  ]);
  refused(
    t,
    f2,
    images.mbr2,
    2,
    /partition 2 \(start 18432, 12000 sectors\) is not used: its MBR entry overlaps the extended partition, partition 3 \(start 26624, 55296 sectors\)/,
  );
  refused(
    t,
    f2,
    images.mbr5,
    5,
    /partition 5 \(start 28672, 16384 sectors\) is not used: its MBR entry overlaps partition 2 \(start 18432, 12000 sectors\)/,
  );
  fs.writeFileSync(f2, damaged(d2, MBR[6]));
  restoredOnly(t, f2, images.mbr6, 6, MBR[6], mbr);
  if (has("sfdisk")) t.same(listed(t2), sfdiskList(f2), "sfdisk -d lists the same partitions");
});

// ---- one bad entry ------------------------------------------------------------------------

t.test("MBR: an entry starting at sector 0 is bad, named, refused; the others work", async (t) => {
  const disk = Buffer.from(mbr);
  setMbrEntry(disk, 0, 3, 0x06, 0, 100); // entry 4: sectors 0..99, over the MBR itself
  const file = write("mbr-sector0.img", disk);
  const table = infoTable(t, file);
  t.same(
    table.partitions.map((p) => p.number),
    [1, 2, 4, 5, 6],
    "info lists every partition, the bad one too",
  );
  const p4 = table.partitions.find((p) => p.number === 4)!;
  t.match(p4, {
    startLba: 0,
    sectorCount: 100,
    problem: "starts at sector 0, over the partition table itself (the MBR)",
  });
  t.notMatch(p4.problem!, /past the end/, "not misreported as reaching past the end (it did before)");
  t.ok(
    table.partitions.filter((p) => p.number !== 4).every((p) => !p.problem),
    "the others have no problem",
  );
  refused(
    t,
    file,
    images.mbr1,
    4,
    /partition 4 \(start 0, 100 sectors\) is not used: its MBR entry starts at sector 0, over the partition table itself/,
  );
  fs.writeFileSync(file, damaged(disk, MBR[1]));
  restoredOnly(t, file, images.mbr1, 1, MBR[1], mbr);
  if (has("sfdisk")) t.same(listed(table), sfdiskList(file), "sfdisk -d lists the same partitions");
});

/** The GPT disk with primary entry `index` (0-based) set, both CRCs recomputed. */
function withGptEntry(disk: Buffer, index: number, first: number, last: number): Buffer {
  const d = Buffer.from(disk);
  const at = 2 * SS + index * GPTE_BYTES;
  BASIC_DATA.copy(d, at);
  crypto.randomBytes(16).copy(d, at + 16);
  d.writeBigUInt64LE(BigInt(first), at + GPTE_FIRST);
  d.writeBigUInt64LE(BigInt(last), at + GPTE_LAST);
  d.writeUInt32LE(zlib.crc32(d.subarray(2 * SS, 2 * SS + GPT_ENTRIES * GPTE_BYTES)), SS + GPT_ENTRIES_CRC);
  d.writeUInt32LE(0, SS + GPT_HEADER_CRC);
  d.writeUInt32LE(zlib.crc32(d.subarray(SS, SS + GPT_HEADER_BYTES)), SS + GPT_HEADER_CRC);
  return d;
}

t.test("GPT: an entry reaching past the end of the disk is bad, named, refused; the others work", async (t) => {
  const disk = withGptEntry(gpt, 2, 40000, 60000); // the disk has 49152 sectors
  const file = write("gpt-past-end.img", disk);
  const table = infoTable(t, file);
  t.same(table.warnings, [], "the primary GPT is intact: no warning");
  t.match(table.partitions, [
    { number: 1, problem: undefined },
    { number: 2, problem: undefined },
    { number: 3, startLba: 40000, sectorCount: 20001, problem: "reaches past the end of the disk (49152 sectors)" },
  ]);
  refused(
    t,
    file,
    images.gpt2,
    3,
    /partition 3 \(start 40000, 20001 sectors\) is not used: its GPT entry reaches past the end of the disk \(49152 sectors\)/,
  );
  fs.writeFileSync(file, damaged(disk, GPT[2]));
  restoredOnly(t, file, images.gpt2, 2, GPT[2], gpt);
  if (has("sgdisk")) t.same(listed(table), sgdiskList(file), "sgdisk -p lists the same partitions");
});

// ---- the backup GPT ------------------------------------------------------------------------

for (const [what, at, warning] of [
  [
    "header",
    SS + GPT_DISK_GUID + 3,
    /^the primary GPT is damaged: GPT header CRC32 is 0x[0-9A-F]{8}, computed 0x[0-9A-F]{8} \(the header at LBA 1\); the backup GPT header at LBA 49151 .* are used, as fdisk and sgdisk do$/,
  ],
  [
    "entry array",
    2 * SS + GPTE_FIRST,
    /^the primary GPT is damaged: GPT partition entry array CRC32 is .* \(named by the header at LBA 1\); the backup GPT header at LBA 49151/,
  ],
] as const) {
  t.test(`GPT: the primary ${what} fails its CRC: the backup header and its entry array are used`, async (t) => {
    const disk = Buffer.from(gpt);
    disk[at] ^= 0x40;
    const file = write(`gpt-primary-${what.replace(" ", "-")}.img`, disk);
    const table = infoTable(t, file);
    t.match(table.warnings, [warning], "info warns");
    t.same(
      listed(table),
      [
        [1, 2048, 18431],
        [2, 18432, 34815],
      ],
      "and lists the partitions",
    );
    t.ok(table.partitions.every((p) => !p.problem));
    const text = run("info", file);
    t.equal(text.code, 0, "info (text) exits 0");
    t.match(text.out, /^\s+2 {2}start 18432 {2}sectors 16384/m);
    fs.writeFileSync(file, damaged(disk, GPT[2]));
    restoredOnly(t, file, images.gpt2, 2, GPT[2], gpt);
    t.equal(
      fs.readFileSync(file)[at],
      disk[at],
      "the damaged primary GPT is left as it was (no repair: only partition 2's range is written)",
    );
    if (has("sgdisk")) t.same(listed(table), sgdiskList(file), "sgdisk -p lists the same partitions");
  });
}

t.test("GPT: both headers damaged: refused by name, nothing written", async (t) => {
  const disk = Buffer.from(gpt);
  disk[SS + GPT_DISK_GUID] ^= 1;
  disk[(disk.length / SS - 1) * SS + GPT_DISK_GUID] ^= 1;
  const file = write("gpt-both.img", disk);
  const r = run("info", file, "--partition", "1");
  t.equal(r.code, 1);
  t.match(
    r.err,
    /^clusterback: GPT header CRC32 is 0x[0-9A-F]{8}, computed 0x[0-9A-F]{8} \(the header at LBA 1\)\n$/,
    "the primary's failure is the one named",
  );
  refused(t, file, images.gpt1, 1, /GPT header CRC32/);
});

// ---- the core's answers on crafted tables ---------------------------------------------------

function table(disk: Uint8Array, sectorSize = SS): PartitionTable {
  return readPartitionTable(core, new RamDevice(sectorSize, disk));
}
const _view = (disk: Uint8Array) => Buffer.from(disk.buffer, disk.byteOffset, disk.length);

/** An MBR disk of `sectors` with these primary entries [type, start, size], and EBRs {lba: entries}. */
function mbrDisk(sectors: number, entries: number[][], ebrs: Record<number, number[][]> = {}): Buffer {
  const disk = Buffer.alloc(sectors * SS);
  for (const [lba, list] of [[0, entries], ...Object.entries(ebrs).map(([k, v]) => [Number(k), v])] as Array<
    [number, number[][]]
  >) {
    list.forEach(([type, start, size], i) => setMbrEntry(disk, lba, i, type, start, size));
    disk.writeUInt16LE(0xaa55, lba * SS + 510);
  }
  return disk;
}

t.test("MBR entries: each problem by name, the good entries without one", async (t) => {
  const cases: Array<[string, Buffer, Record<number, RegExp | undefined>, RegExp[]]> = [
    [
      "starts at sector 0",
      mbrDisk(1000, [
        [0x0c, 0, 10],
        [0x0c, 100, 100],
      ]),
      { 1: /^starts at sector 0/, 2: undefined },
      [],
    ],
    [
      "past the end of the disk",
      mbrDisk(1000, [
        [0x0c, 100, 100],
        [0x0c, 900, 101],
      ]),
      { 1: undefined, 2: /^reaches past the end of the disk \(1000 sectors\)$/ },
      [],
    ],
    [
      "an empty entry of 0 sectors overlaps nothing",
      mbrDisk(1000, [
        [0x0c, 100, 100],
        [0x0c, 150, 0],
      ]),
      { 1: undefined, 2: undefined },
      [],
    ],
    [
      "three-way overlap: each names the first it meets",
      mbrDisk(1000, [
        [0x0c, 100, 100],
        [0x0c, 150, 100],
        [0x0c, 180, 10],
      ]),
      {
        1: /^overlaps partition 2 \(start 150, 100 sectors\)$/,
        2: /^overlaps partition 1 \(start 100, 100 sectors\)$/,
        3: /^overlaps partition 1 /,
      },
      [],
    ],
    [
      "a logical partition starting at its own EBR",
      mbrDisk(
        1000,
        [
          [0x0c, 100, 100],
          [0x05, 300, 500],
        ],
        { 300: [[0x0c, 0, 50]] },
      ),
      { 1: undefined, 5: /^covers LBA 300, a sector of the partition table itself \(an EBR\)$/ },
      [],
    ],
    [
      "a logical partition past its extended partition",
      mbrDisk(1000, [[0x05, 300, 500]], { 300: [[0x0c, 10, 500]] }),
      { 5: /^reaches past the end of its extended partition \(whose last sector is LBA 799\)$/ },
      [],
    ],
    [
      "an extended partition past the end of the disk: a warning, no logical partition read",
      mbrDisk(
        1000,
        [
          [0x0c, 100, 100],
          [0x05, 300, 800],
        ],
        { 300: [[0x0c, 10, 50]] },
      ),
      { 1: undefined },
      [
        /^the extended partition 2 \(start 300, 800 sectors\) reaches past the end of the disk \(1000 sectors\): its logical partitions are not read$/,
      ],
    ],
    [
      "an EBR chain that leaves the extended partition: a warning, the logical partitions before it kept",
      mbrDisk(1000, [[0x05, 300, 500]], {
        300: [
          [0x0c, 10, 50],
          [0x05, 600, 50],
        ],
      }),
      { 5: undefined },
      [
        /^extended partition chain is broken at LBA 900 \(extended partition at 300, 500 sectors\): the logical partitions after it are not read$/,
      ],
    ],
    [
      "a logical partition reaching over the next EBR",
      mbrDisk(1000, [[0x05, 300, 500]], {
        300: [
          [0x0c, 10, 200],
          [0x05, 100, 50],
        ],
        400: [[0x0c, 10, 50]],
      }),
      {
        5: /^covers LBA 400, a sector of the partition table itself \(an EBR\)$/,
        6: /^overlaps partition 5 \(start 310, 200 sectors\)$/,
      },
      [],
    ],
    [
      "an EBR without its signature",
      mbrDisk(
        1000,
        [
          [0x0c, 100, 100],
          [0x05, 300, 500],
        ],
        {
          300: [
            [0x0c, 10, 50],
            [0x05, 100, 50],
          ],
        },
      ),
      { 1: undefined, 5: undefined },
      [/^extended partition chain is broken at LBA 400 /],
    ],
  ];
  for (const [what, disk, problems, warnings] of cases) {
    const tab = table(disk);
    t.same(
      tab.partitions.map((p) => p.number),
      Object.keys(problems).map(Number),
      `${what}: every entry listed`,
    );
    for (const p of tab.partitions) {
      if (problems[p.number]) t.match(p.problem, problems[p.number]!, `${what}: partition ${p.number}: ${p.problem}`);
      else t.equal(p.problem, undefined, `${what}: partition ${p.number} has no problem`);
    }
    t.equal(tab.warnings.length, warnings.length, `${what}: ${tab.warnings.length} warnings`);
    warnings.forEach((w, i) => t.match(tab.warnings[i], w));
  }
});

/** A GPT disk of 4096 sectors: entries [first, last] from index 0, a primary and a backup copy. */
function gptDisk(
  entries: Array<[number, number] | undefined>,
  options: { usable?: [number, number]; myLba?: number; count?: number; ss?: number } = {},
): Buffer {
  const ss = options.ss ?? SS,
    sectors = 4096,
    count = options.count ?? GPT_ENTRIES,
    arraySectors = (count * GPTE_BYTES) / ss;
  const disk = Buffer.alloc(sectors * ss);
  setMbrEntry(disk, 0, 0, 0xee, 1, sectors - 1);
  disk.writeUInt16LE(0xaa55, 510);
  const array = Buffer.alloc(count * GPTE_BYTES);
  entries.forEach((e, i) => {
    if (!e) return;
    BASIC_DATA.copy(array, i * GPTE_BYTES);
    array.writeBigUInt64LE(BigInt(e[0]), i * GPTE_BYTES + GPTE_FIRST);
    array.writeBigUInt64LE(BigInt(e[1]), i * GPTE_BYTES + GPTE_LAST);
  });
  const [firstUsable, lastUsable] = options.usable ?? [2 + arraySectors, sectors - 2 - arraySectors];
  for (const [lba, other, arrayLba] of [
    [1, sectors - 1, 2],
    [sectors - 1, 1, sectors - 1 - arraySectors],
  ]) {
    const h = disk.subarray(lba * ss, lba * ss + ss);
    h.write("EFI PART", 0, "latin1");
    h.writeUInt32LE(0x00010000, 8);
    h.writeUInt32LE(GPT_HEADER_BYTES, 12);
    h.writeBigUInt64LE(BigInt(lba === 1 ? (options.myLba ?? 1) : lba), 24);
    h.writeBigUInt64LE(BigInt(other), 32);
    h.writeBigUInt64LE(BigInt(firstUsable), 40);
    h.writeBigUInt64LE(BigInt(lastUsable), 48);
    h.writeBigUInt64LE(BigInt(arrayLba), 72);
    h.writeUInt32LE(count, 80);
    h.writeUInt32LE(GPTE_BYTES, 84);
    h.writeUInt32LE(zlib.crc32(array), GPT_ENTRIES_CRC);
    h.writeUInt32LE(zlib.crc32(h.subarray(0, GPT_HEADER_BYTES)), GPT_HEADER_CRC);
    array.copy(disk, arrayLba * ss);
  }
  return disk;
}

t.test("GPT entries: each problem by name; a wrong MyLBA falls back to the backup", async (t) => {
  const cases: Array<[string, Buffer, Record<number, RegExp | undefined>]> = [
    [
      "starts at sector 0",
      gptDisk([
        [0, 99],
        [100, 199],
      ]),
      { 1: /^starts at sector 0, over the partition table itself \(the protective MBR\)$/, 2: undefined },
    ],
    [
      "over the primary header",
      gptDisk([[1, 99]]),
      { 1: /^covers LBA 1, a sector of the partition table itself \(a GPT header or entry array\)$/ },
    ],
    [
      "ends before it starts",
      gptDisk([
        [300, 299],
        [100, 199],
      ]),
      { 1: /^ends at LBA 299, before its start$/, 2: undefined },
    ],
    [
      "over the primary entry array",
      gptDisk([[20, 199]]),
      { 1: /^covers LBA 20, a sector of the partition table itself \(a GPT header or entry array\)$/ },
    ],
    [
      "over the backup header",
      gptDisk([[3000, 4095]]),
      { 1: /^covers LBA 4095, a sector of the partition table itself/ },
    ],
    [
      "outside the usable LBAs",
      gptDisk(
        [
          [40, 199],
          [3000, 4062],
        ],
        { usable: [64, 3999] },
      ),
      { 1: /^lies outside the GPT's usable sectors 64\.\.3999$/, 2: /^lies outside the GPT's usable sectors/ },
    ],
    [
      "overlapping",
      gptDisk([[100, 199], undefined, [150, 160]]),
      { 1: /^overlaps partition 3 \(start 150, 11 sectors\)$/, 3: /^overlaps partition 1 \(start 100, 100 sectors\)$/ },
    ],
  ];
  for (const [what, disk, problems] of cases) {
    const tab = table(disk);
    t.same(tab.warnings, [], `${what}: no warning`);
    t.same(
      tab.partitions.map((p) => p.number),
      Object.keys(problems).map(Number),
      `${what}: every entry listed`,
    );
    for (const p of tab.partitions) {
      if (problems[p.number]) t.match(p.problem, problems[p.number]!, `${what}: partition ${p.number}: ${p.problem}`);
      else t.equal(p.problem, undefined, `${what}: partition ${p.number} has no problem`);
    }
  }
  const moved = table(gptDisk([[100, 199]], { myLba: 7 }));
  t.match(
    moved.warnings,
    [
      /^the primary GPT is damaged: GPT header at LBA 1 invalid: its own LBA \(MyLBA\) is 7; the backup GPT header at LBA 4095/,
    ],
    "a primary header naming another LBA as its own is not used",
  );
  t.same(listed(moved), [[1, 100, 199]]);
  // 4096-byte sectors: the primary header damaged, the backup at LBA 4095 of 4096-byte sectors
  const big = gptDisk(
    [
      [100, 199],
      [200, 4000],
    ],
    { ss: 4096 },
  );
  big[4096 + GPT_DISK_GUID] ^= 1;
  const t4k = table(big, 4096);
  t.match(t4k.warnings, [/^the primary GPT is damaged: GPT header CRC32 .*; the backup GPT header at LBA 4095 /]);
  t.same(listed(t4k), [
    [1, 100, 199],
    [2, 200, 4000],
  ]);
});

t.test("GPT: an entry past the 60 listed still makes the one it overlaps refused", async (t) => {
  const entries: Array<[number, number]> = [];
  for (let i = 0; i < 61; i++) entries.push([100 + 10 * i, 109 + 10 * i]);
  entries[60] = [100, 100]; // entry 61 overlaps entry 1
  const tab = table(gptDisk(entries));
  t.equal(tab.partitions.length, 60, "the first 60 entries are listed");
  t.equal(tab.partitions[0].problem, "overlaps partition 61 (an entry past the 60 listed)");
  t.ok(
    tab.partitions.slice(1).every((p) => !p.problem),
    "the others have no problem",
  );
});
