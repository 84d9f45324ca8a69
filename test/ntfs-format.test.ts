// The portable NTFS formatter (firmware-module/src/ops/ntfs-format.ts): on 512- and 4096-byte
// sectors and clusters of 512 B to 64 KiB, the project's MFT reader reads what it makes and the
// backup/restore round trip gives it back byte for byte; with ntfs-3g installed, ntfsfix -n,
// ntfsinfo, ntfsls and ntfsresize (cluster accounting against $Bitmap) accept it, ntfscp writes
// a file into it that ntfscat reads back, and its layout agrees with mkntfs's for the same size
// (cluster count, $MFT and $MFTMirr clusters). Sizes it cannot format are refused by name.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { sameBytes } from "../firmware-module/src/ops/bytes";
import { BlockDevice, RamDevice } from "../firmware-module/src/ops/devices";
import {
  attrDefTable,
  collateFileNames,
  formatNtfs,
  layoutNtfs,
  type NtfsLayout,
  ntfsUpcaseTable,
} from "../firmware-module/src/ops/ntfs-format";
import { MftReader } from "../firmware-module/src/ops/ntfs-mft";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { DiskFile } from "../host-shim/src/native/devices";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-nf-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const MiB = 1 << 20;
const have = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const tools = ["ntfsfix", "ntfsinfo", "ntfsls", "ntfsresize", "ntfscp", "ntfscat"].every(have);
const hasMkntfs = have("mkntfs");
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const SYSTEM_NAMES = [
  "$AttrDef",
  "$BadClus",
  "$Bitmap",
  "$Boot",
  "$Extend",
  "$LogFile",
  "$MFT",
  "$MFTMirr",
  "$Secure",
  "$UpCase",
  "$Volume",
  ".",
];

function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The first lines of a tool's output, for a failure's message. */
const brief = (out: string) => out.trim().split("\n").slice(0, 6).join(" | ");

function ntfsChecks(t: Tap.Test, img: string, l: NtfsLayout, what: string): void {
  const fix = run("ntfsfix", ["-n", img]);
  t.equal(fix.status, 0, `ntfsfix -n exits 0 ${what}: ${brief(fix.out)}`);
  t.match(fix.out, /processed successfully/, `ntfsfix: processed successfully ${what}`);
  const resize = run("ntfsresize", ["-i", "-f", "-n", img]);
  t.equal(resize.status, 0, `ntfsresize -i: no error ${what}: ${brief(resize.out.replace(/.*\r/g, ""))}`);
  t.notMatch(
    resize.out,
    /accounting failed|mismatch|inconsistent|error/i,
    `ntfsresize: cluster accounting agrees ${what}`,
  );
}

/** The files of the MFT reader's view: records in use with their $DATA runs. */
/** The clusters $Bitmap marks in use, read through the project's MFT reader. */
function markedClusters(dev: BlockDevice): number[] {
  const mft = new MftReader(dev);
  const bitmap = mft.readRuns(mft.dataRuns(6, mft.record(6)!), 0, Math.ceil(mft.g.clusterCount / 8));
  const out: number[] = [];
  for (let c = 0; c < mft.g.clusterCount; c++) if (bitmap[c >> 3] & (1 << (c & 7))) out.push(c);
  return out;
}

function readBack(bytes: Uint8Array, ss: number) {
  const mft = new MftReader(new RamDevice(ss, bytes));
  const marked = markedClusters(new RamDevice(ss, bytes)).length;
  const inUse: number[] = [];
  for (let n = 0; n < mft.records; n++) if (mft.record(n)) inUse.push(n);
  return { mft, marked, inUse };
}

for (const [ss, cb, mib] of [
  [512, 4096, 64],
  [512, 512, 16],
  [512, 65536, 200],
  [4096, 4096, 64],
  [4096, 8192, 32],
] as const) {
  t.test(`${mib} MiB, ${ss}-byte sectors, ${cb}-byte clusters`, async (t) => {
    const bytes = new Uint8Array(mib * MiB).fill(0xa5); // not a blank disk: the formatter writes what the volume needs
    const dev = new RamDevice(ss, bytes, "vol");
    const l = formatNtfs(dev, { clusterBytes: cb, label: "PRINTER" });
    const sectors = dev.sectorCount;
    t.equal(l.totalSectors, sectors - 1, "the volume leaves the last sector to the backup boot sector");
    t.equal(l.clusterCount, Math.floor(((sectors - 1) * ss) / cb), "clusters");
    t.equal(l.recordBytes, ss === 4096 ? 4096 : 1024, "MFT records of 1 KiB (4 KiB on 4096-byte sectors)");
    t.ok(
      sameBytes(bytes.subarray((sectors - 1) * ss), bytes.subarray(0, ss)),
      "the backup boot sector equals the boot sector",
    );
    const mftAt = l.mft.lcn * cb,
      mirrAt = l.mftMirr.lcn * cb;
    t.ok(
      sameBytes(
        bytes.subarray(mirrAt, mirrAt + l.mirrorRecords * l.recordBytes),
        bytes.subarray(mftAt, mftAt + l.mirrorRecords * l.recordBytes),
      ),
      `$MFTMirr holds the first ${l.mirrorRecords} records`,
    );

    // the project's own reader
    const { mft, marked, inUse } = readBack(bytes, ss);
    t.same(
      [mft.g.clusterBytes, mft.g.mftLcn, mft.g.recordBytes, mft.g.clusterCount],
      [cb, l.mft.lcn, l.recordBytes, l.clusterCount],
      "MftReader: the geometry",
    );
    t.equal(mft.records, l.mftRecords, "MftReader: $MFT's records");
    t.same(inUse, [...Array(16).keys(), 24, 25, 26], "records 0-15 and 24-26 in use");
    t.equal(marked, l.usedClusters, `$Bitmap marks the ${l.usedClusters} clusters of the metadata`);
    t.same(mft.dataRuns(8, mft.record(8)!), [], "$BadClus's unnamed $DATA is empty (the sparse $Bad stream is named)");

    const img = path.join(tmp, `fmt-${ss}-${cb}.img`);
    fs.writeFileSync(img, bytes);
    const payload = crypto.randomBytes(3 * cb + 12345);
    if (tools) {
      ntfsChecks(t, img, l, "when empty");
      const info = run("ntfsinfo", ["-m", img]);
      t.equal(info.status, 0, `ntfsinfo -m reads it: ${brief(info.out)}`);
      t.match(info.out, /Volume Version: 3\.1/, "ntfsinfo: NTFS 3.1");
      t.match(info.out, /Volume Name: PRINTER/, "ntfsinfo: the label");
      t.match(info.out, new RegExp(`Cluster Size: ${cb}\\b`), "ntfsinfo: the cluster size");
      t.match(info.out, new RegExp(`Volume Size in Clusters: ${l.clusterCount}\\b`), "ntfsinfo: the cluster count");
      const ls = run("ntfsls", ["-a", "-s", img]);
      t.equal(ls.status, 0, "ntfsls -a -s");
      t.same(
        ls.out.split("\n").filter((s) => s),
        [".", "..", ...SYSTEM_NAMES.filter((n) => n !== ".")],
        "ntfsls: every system file, in collation order (ntfsls lists . and .. first)",
      );
      const src = path.join(tmp, "payload.bin");
      fs.writeFileSync(src, payload);
      const cp = run("ntfscp", ["-f", img, src, "Firmware Update.bin"]);
      t.equal(cp.status, 0, `ntfscp writes a file: ${brief(cp.out)}`);
      const cp2 = run("ntfscp", ["-f", img, src, "aaa.txt"]);
      t.equal(cp2.status, 0, "ntfscp writes a second one");
      // enough names to split the root's index block and grow $MFT past its 27 records
      const small = path.join(tmp, "small.bin");
      fs.writeFileSync(small, crypto.randomBytes(1500));
      const failed: string[] = [];
      for (let i = 0; i < 30; i++) {
        const name = `print job ${i} with a long name (copy ${30 - i}).prn`;
        if (run("ntfscp", ["-f", img, small, name]).status !== 0) failed.push(name);
      }
      t.same(failed, [], "ntfscp writes 30 more");
      const listed = run("ntfsls", [img])
        .out.split("\n")
        .filter((x) => x);
      t.equal(listed.length, 32, "ntfsls lists the 32 files");
      const extend = run("ntfsls", ["-a", "-s", "-p", "/$Extend", img]);
      t.same(
        extend.out.split("\n").filter((x) => x.startsWith("$")),
        ["$ObjId", "$Quota", "$Reparse"],
        "$Extend holds $ObjId, $Quota and $Reparse",
      );
      ntfsChecks(t, img, l, "with files");
      const cat = spawnSync("ntfscat", [img, "Firmware Update.bin"], { maxBuffer: 64 * MiB });
      t.equal(sha(cat.stdout), sha(payload), "ntfscat reads the file back identical");
    }

    // backup and restore of the volume (with the files when ntfscp put them there)
    const image = path.join(tmp, "fmt.cbi"),
      blank = path.join(tmp, "blank.out");
    const r = api.backup(core, img, { overwrite: true, image });
    t.ok(r.imageClusters > 0, `backup stored ${r.imageClusters} clusters`);
    fs.writeFileSync(blank, "");
    fs.truncateSync(blank, bytes.length);
    t.equal(api.restore(core, image, blank).verified, true, "restored into a blank target, read back");
    // compared cluster by cluster (reading 200 MiB twice would take seconds)
    const source = new DiskFile(img, { sectorSize: ss }),
      restored = new DiskFile(blank, { sectorSize: ss });
    const kept = markedClusters(source);
    const clusterOf = (dev: BlockDevice, c: number) => {
      const b = new Uint8Array(cb);
      dev.read((c * cb) / ss, cb / ss, b, 0);
      return b;
    };
    const differing = kept.filter((c) => !sameBytes(clusterOf(source, c), clusterOf(restored, c)));
    t.same(differing, [], `the ${kept.length} clusters $Bitmap marks equal the source's`);
    const lastSector = (dev: BlockDevice) => {
      const b = new Uint8Array(ss);
      dev.read(dev.sectorCount - 1, 1, b, 0);
      return b;
    };
    t.ok(sameBytes(lastSector(source), lastSector(restored)), "the backup boot sector too");
    source.close();
    restored.close();
    if (tools) {
      const fix = run("ntfsfix", ["-n", blank]);
      t.match(fix.out, /processed successfully/, "ntfsfix -n clean after the restore");
      const cat = spawnSync("ntfscat", [blank, "Firmware Update.bin"], { maxBuffer: 64 * MiB });
      t.equal(sha(cat.stdout), sha(payload), "ntfscat reads the file from the restored volume");
    }

    // mkntfs's layout for the same size
    if (hasMkntfs) {
      const ref = path.join(tmp, "ref.img");
      fs.writeFileSync(ref, "");
      fs.truncateSync(ref, mib * MiB);
      const mk = run("mkntfs", ["-f", "-q", "-F", "-s", `${ss}`, "-c", `${cb}`, "-p", "0", "-H", "0", "-S", "0", ref]);
      t.equal(mk.status, 0, `mkntfs: ${brief(mk.out)}`);
      const refDev = new DiskFile(ref, { sectorSize: ss });
      const theirs = new MftReader(refDev);
      t.equal(l.clusterCount, theirs.g.clusterCount, "the same cluster count as mkntfs");
      t.equal(l.mft.lcn, theirs.g.mftLcn, "$MFT at mkntfs's cluster");
      t.equal(l.mftRecords, theirs.records, "as many MFT records as mkntfs");
      t.same(
        theirs.dataRuns(1, theirs.record(1)!).map((x) => [x.lcn, x.length]),
        [[l.mftMirr.lcn, l.mftMirr.clusters]],
        "$MFTMirr where mkntfs puts it",
      );
      t.same(
        theirs.dataRuns(2, theirs.record(2)!).map((x) => [x.lcn, x.length]),
        [[l.logFile.lcn, l.logFile.clusters]],
        "$LogFile where and as long as mkntfs's",
      );
      refDev.close();
    }
  });
}

t.test("the up-case table, the collation and $AttrDef", (t) => {
  const up = ntfsUpcaseTable();
  t.equal(up.length, 0x10000, "64 Ki entries");
  for (let c = 0x61; c <= 0x7a; c++) t.equal(up[c], c - 0x20);
  t.equal(up[0x30], 0x30, "digits kept");
  t.equal(up[0xe9], 0xc9, "é to É");
  t.equal(up[0x3c9], 0x3a9, "ω to Ω");
  t.equal(up[0xb5], 0xb5, "µ kept (its upper case is Greek Μ, whose lower case is μ)");
  t.equal(up[0x131], 0x131, "dotless ı kept, as Windows does");
  t.equal(up[0xdf], 0xdf, "ß kept (upper case SS is two characters)");
  t.ok(collateFileNames("$MFT", "$MFTMirr", up) < 0, "a prefix first");
  t.ok(collateFileNames("$BadClus", "$Bitmap", up) < 0, "case-insensitive: A before i");
  t.ok(collateFileNames("abc", "ABD", up) < 0);
  t.ok(collateFileNames("ABC", "abc", up) < 0, "equal up-cased: then as written");
  t.ok(collateFileNames("$Volume", ".", up) < 0, "$ (0x24) before . (0x2e)");
  if (hasMkntfs) {
    const ref = path.join(tmp, "up.img");
    fs.writeFileSync(ref, "");
    fs.truncateSync(ref, 8 * MiB);
    t.equal(run("mkntfs", ["-f", "-q", "-F", ref]).status, 0);
    const bytes = new Uint8Array(fs.readFileSync(ref));
    const mft = new MftReader(new RamDevice(512, bytes));
    const read = (n: number, size: number) => mft.readRuns(mft.dataRuns(n, mft.record(n)!), 0, size);
    const theirs = read(10, 0x20000);
    const tv = new DataView(theirs.buffer, theirs.byteOffset);
    let differ = 0,
      asciiDiffer = 0;
    for (let c = 0; c < 0x10000; c++)
      if (tv.getUint16(2 * c, true) !== up[c]) {
        differ++;
        if (c < 0x80) asciiDiffer++;
      }
    t.equal(asciiDiffer, 0, "ASCII maps as in mkntfs's table");
    t.ok(differ < 300, `${differ} of 65536 entries differ from mkntfs's (characters newer Unicode versions case)`);
    t.ok(sameBytes(read(4, 2560), attrDefTable()), "$AttrDef equals mkntfs's");
  }
  t.end();
});

t.test("the same options give the same bytes; another date does not", (t) => {
  const a = new Uint8Array(8 * MiB),
    b = new Uint8Array(8 * MiB),
    c = new Uint8Array(8 * MiB);
  formatNtfs(new RamDevice(512, a, "a"), { serialNumber: 7n });
  formatNtfs(new RamDevice(512, b, "b"), { serialNumber: 7n });
  formatNtfs(new RamDevice(512, c, "c"), { serialNumber: 7n, date: new Date(Date.UTC(2024, 5, 1)) });
  t.equal(sha(a), sha(b), "reproducible");
  t.not(sha(a), sha(c), "the date is written");
  t.equal(new DataView(a.buffer).getBigUint64(72, true), 7n, "the serial number");
  t.end();
});

t.test("what cannot be formatted is refused by name", (t) => {
  t.throws(() => layoutNtfs(2048, 512, 3000), /power of two .* not 3000 bytes/);
  t.throws(() => layoutNtfs(2048, 512, 256), /from the sector size \(512\) to 64 KiB, not 256/);
  t.throws(() => layoutNtfs(2048, 4096, 2048), /from the sector size \(4096\) to 64 KiB, not 2048/);
  t.throws(() => layoutNtfs(2048, 512, 131072), /not 131072 bytes/);
  t.throws(() => layoutNtfs(4096, 1024, 4096), /512- or 4096-byte sectors, not 1024/);
  t.throws(
    () => formatNtfs(new RamDevice(512, new Uint8Array(MiB), "tiny"), { clusterBytes: 4096 }),
    /tiny: 2048 sectors of 512 bytes make 255 clusters of 4096 bytes, too few: the metadata after the MFT zone ends at cluster 135, past \$MFTMirr at the middle \(127\)/,
  );
  t.throws(
    () => formatNtfs(new RamDevice(512, new Uint8Array(8 * MiB), "p3"), { label: "x".repeat(129) }),
    /p3: the volume label "x+" has 129 UTF-16 units; NTFS holds at most 128/,
  );
  t.end();
});
