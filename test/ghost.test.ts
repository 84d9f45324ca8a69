// The ghost image (issue 6, docs/image-format.md section 12): the image of a FAT partition
// kept inside that partition as a hidden, system, read-only, contiguous file (\RECOVERY.CBI):
// backupGhost, restoreGhost, verifyGhost, info --ghost, on partition files and on partitions of
// MBR/GPT disks, with exclusions, replacement, leftovers, bad input, power cuts, and the CLI.
// Oracles, in order of independence:
// - the real tools, where installed (CI installs them; skipped cleanly on a Node-only machine):
//   fsck.fat -n clean before and after every backup and restore; mattrib shows R, S and H on the
//   ghost; mdir -a lists it and plain mdir does not; every file mcopy extracts is byte-identical
//   to what was copied in; mcopy of the ghost itself gives the image header, the locator, and
//   the very bytes of the extent the backup reported (so its chain is one run);
// - whole-file byte comparisons: after the first MiB of a partition is destroyed, the restore
//   gives back the partition exactly as it was right after the backup (free clusters that were
//   destroyed stay zero: a restore writes the system area and the stored clusters only); the
//   bytes of a disk outside the restored partition are never touched; a refused operation
//   writes nothing at all;
// - the committed fixtures' sha256 of every file (test/fixtures/volumes/index.json), read back
//   with FatReader, and FatReader's check (chains, cross-links, lost clusters, FAT copies,
//   FSInfo's free count); the header check recomputed by hand (CBH-64, section 7) to craft a
//   ghost the core must refuse;
// - power cut after every write of a ghost backup that replaces an old ghost (FaultDevice, torn
//   and not): after the reboot a valid ghost is found, a restore from it gives exactly the old or
//   the new state (never the old after the new), and a ghost backup straight after the reboot
//   succeeds and leaves a consistent volume.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import { FatWriter } from "../firmware-module/src/ops/fat-writer";
import * as G from "../firmware-module/src/ops/ghost";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { FileDevice, RamDevice } from "../host-shim/src/native/devices";
import { FaultDevice } from "../host-shim/src/native/fault-device";
import {
  extentOf,
  Fixture,
  fixtures,
  mustMatch,
  mustMatchOn,
  differingRanges as rangesDiffering,
  unpack,
} from "./helpers/fixtures";
import { ghostJob } from "./helpers/ghost-job";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-ghost-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const hasFsck = has("fsck.fat");
const hasMtools = ["mcopy", "mdir", "mattrib", "mmd", "mdel"].every(has);
const haveTools = has("mkfs.fat") && hasFsck && hasMtools;
const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const MiB = 1 << 20;
/** The assertions the helpers use (any test's t). */
type Asserts = Pick<typeof t, "ok" | "equal" | "notMatch">;

// ---- helpers ------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): { code: number; out: string; stdout: Buffer } {
  const r = spawnSync(cmd, args, {
    env: { ...process.env, MTOOLS_SKIP_CHECK: "1", TZ: "UTC", LC_ALL: "C" },
    maxBuffer: 1 << 30,
  });
  const stdout = r.stdout ?? Buffer.alloc(0);
  return {
    code: r.status ?? -1,
    out: stdout.toString("latin1") + (r.stderr ?? Buffer.alloc(0)).toString("latin1"),
    stdout,
  };
}

/** Deterministic bytes: SHA-256 in counter mode over a label. */
function bytesOf(label: string, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, at = 0; at < n; i++, at += 32)
    crypto.createHash("sha256").update(`${label}/${i}`).digest().copy(out, at);
  return out;
}

/** A fresh copy of a committed fixture in its own directory. */
function fixtureCopy(name: string): { file: string; f: Fixture } {
  const f = fixtures.find((x) => x.file === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return { file: unpack(f, fs.mkdtempSync(path.join(tmp, "fx-"))), f };
}

/** The boot sector's geometry, read by hand (not by the code under test). */
function bpb(b: Uint8Array): { ss: number; spc: number; firstDataSector: number; clusterBytes: number } {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  const ss = v.getUint16(11, true),
    spc = b[13],
    reserved = v.getUint16(14, true),
    fats = b[16],
    rootEntries = v.getUint16(17, true);
  const fatSectors = v.getUint16(22, true) || v.getUint32(36, true);
  const rootSectors = Math.ceil((rootEntries * 32) / ss);
  return { ss, spc, firstDataSector: reserved + fats * fatSectors + rootSectors, clusterBytes: ss * spc };
}

function readerOf(bytes: Uint8Array, ss?: number): FatReader {
  return new FatReader(new RamDevice(ss ?? bytes[11] | (bytes[12] << 8), bytes), core);
}

/** sha256 of every file, "Dir/Sub/name" as index.json names them; the ghost and its temporary file left out. */
function filesOf(reader: FatReader): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Array<{ p: string; e: Parameters<FatReader["sha256"]>[0] }> = [];
  reader.walk((e) => {
    if (!e.isDirectory) entries.push({ p: e.path.slice(1).replace(/\\/g, "/"), e });
  });
  for (const { p, e } of entries) {
    if (p === "RECOVERY.CBI" || p === "CBGHOST.TMP") continue;
    out[p] = reader.sha256(e);
  }
  return Object.fromEntries(Object.entries(out).sort());
}

/** fsck.fat -n on the bytes of a partition. */
function fsck(bytes: Uint8Array): { code: number; out: string } {
  const file = path.join(tmp, "fsck.part");
  fs.writeFileSync(file, bytes);
  try {
    const r = sh("fsck.fat", ["-n", file]);
    return { code: r.code, out: r.out.split(file).join("VOLUME").trim() };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function fsckFile(file: string): { code: number; out: string } {
  const r = sh("fsck.fat", ["-n", file]);
  return { code: r.code, out: r.out.split(file).join("VOLUME").trim() };
}

function fsckClean(t: Asserts, bytes: Uint8Array, what: string): void {
  if (!hasFsck) return;
  const r = fsck(bytes);
  t.equal(r.code, 0, `fsck.fat -n clean ${what}${r.code ? ": " + r.out : ""}`);
}

/** The error `fn` throws (a test failure when it throws none). */
function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return new Error("no error was thrown");
}

/**
 * What a partition must hold after a restore from the image taken when it held `after`, once
 * the bytes [from, to) were destroyed: `after`, except that the destroyed bytes outside the
 * system area and the allocated clusters are zero (a restore writes neither free clusters nor
 * anything else).
 */
function expectedAfterDestroy(
  after: Buffer,
  partStart: number,
  partBytes: number,
  ss: number,
  from: number,
  to: number,
): Buffer {
  const exp = Buffer.from(after);
  exp.fill(0, from, to);
  for (const [s0, e0] of mustMatch(core, after.subarray(partStart, partStart + partBytes), ss)) {
    const s = Math.max(partStart + s0, from),
      e = Math.min(partStart + e0, to);
    if (e > s) after.copy(exp, s, s, e);
  }
  return exp;
}

/** Byte offset of the first difference, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return -1;
  for (let at = 0; at < a.length; at += 65536) {
    const x = Buffer.from(a.buffer, a.byteOffset + at, Math.min(65536, a.length - at)),
      y = Buffer.from(b.buffer, b.byteOffset + at, Math.min(65536, b.length - at));
    if (!x.equals(y)) {
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return at + i;
    }
  }
  return -1;
}

/** The first byte at which two files differ, or -1; read 1 MiB at a time (the 300 MiB volume is never held whole). */
function fileFirstDiff(a: string, b: string): number {
  const fa = fs.openSync(a, "r"),
    fb = fs.openSync(b, "r");
  try {
    const sa = fs.fstatSync(fa).size,
      sb = fs.fstatSync(fb).size;
    if (sa !== sb) return Math.min(sa, sb);
    const x = Buffer.alloc(MiB),
      y = Buffer.alloc(MiB);
    for (let at = 0; at < sa; at += MiB) {
      const n = fs.readSync(fa, x, 0, MiB, at);
      fs.readSync(fb, y, 0, MiB, at);
      if (!x.subarray(0, n).equals(y.subarray(0, n))) return at + firstDiff(x.subarray(0, n), y.subarray(0, n));
    }
    return -1;
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/**
 * The system area and every allocated cluster of partition file `a` (fixtures.mustMatch): how
 * many of these ranges differ in file `b` (read range by range, not the whole 300 MiB volume).
 */
function differingRanges(a: string, b: string, ss: number): number {
  const dev = new FileDevice(a, { sectorSize: ss });
  let ranges: [number, number][];
  try {
    ranges = mustMatchOn(core, dev);
  } finally {
    dev.close();
  }
  return rangesDiffering(a, b, ranges);
}

/** A FatReader over a partition file (only the sectors it needs are read); closed after `fn`. */
function withReader<T>(file: string, fn: (r: FatReader) => T, ss = 512): T {
  const dev = new FileDevice(file, { sectorSize: ss });
  try {
    return fn(new FatReader(dev, core));
  } finally {
    dev.close();
  }
}

/** Makes `file` equal `base` again, rewriting only the MiBs that differ. */
function resetTo(file: string, base: Buffer): void {
  const fd = fs.openSync(file, "r+");
  try {
    const x = Buffer.alloc(MiB);
    for (let at = 0; at < base.length; at += MiB) {
      const n = Math.min(MiB, base.length - at);
      fs.readSync(fd, x, 0, n, at);
      if (!x.subarray(0, n).equals(base.subarray(at, at + n))) fs.writeSync(fd, base, at, n, at);
    }
  } finally {
    fs.closeSync(fd);
  }
}

// ---- 1. a matrix of volumes the real tools made, checked by the real tools ---------------------

/** A directory tree with long names, nested directories and random contents, copied in with mtools. */
function populate(img: string, seed: string, withDeleted: boolean): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const add = (p: string, n: number) => files.set(p, bytesOf(`${seed}${p}`, n));
  add("/README.TXT", 700);
  add("/A long file name in the root.bin", 5000);
  for (let i = 0; i < 6; i++)
    add(`/Jobs/print job ${i} with a long name.prn`, ((i * 7919 + seed.length * 131) % 20000) + 1);
  add("/Jobs/SHORT1.PRN", 300);
  add("/Firmware/Fonts and Forms/Helvetica Bold Oblique.ttf", 70000);
  add("/Firmware/MAIN.BIN", 40000);
  add("/Settings.d/network.conf", 333);
  const mk = sh("mmd", ["-i", img, "::/Jobs", "::/Firmware", "::/Firmware/Fonts and Forms", "::/Settings.d"]);
  if (mk.code !== 0) throw new Error(`mmd failed: ${mk.out}`);
  const stage = fs.mkdtempSync(path.join(tmp, "stage-"));
  const put = (p: string, data: Buffer) => {
    const local = path.join(stage, "f");
    fs.writeFileSync(local, data);
    const r = sh("mcopy", ["-o", "-i", img, local, `::${p}`]);
    if (r.code !== 0) throw new Error(`mcopy ${p} failed: ${r.out}`);
  };
  if (withDeleted) put("/deleted.tmp", bytesOf(`${seed}/deleted`, 9000));
  for (const [p, data] of files) put(p, data);
  if (withDeleted) sh("mdel", ["-i", img, "::/deleted.tmp"]);
  fs.rmSync(stage, { recursive: true, force: true });
  return files;
}

/** Files whose mcopy extract differs from `files` (spec: a file, or file@@offset). */
function mcopyDiffers(spec: string, files: Map<string, Buffer>): string[] {
  const bad: string[] = [];
  for (const [p, data] of files) {
    const r = sh("mcopy", ["-n", "-i", spec, `::${p}`, "-"]);
    if (r.code !== 0 || !r.stdout.equals(data))
      bad.push(`${p} (${r.code !== 0 ? r.out.trim() : `${r.stdout.length} bytes, ${data.length} expected`})`);
  }
  return bad;
}

function mkvol(name: string, fat: number, ss: number, mib: number, spc?: number): string {
  const img = path.join(tmp, name);
  fs.rmSync(img, { force: true });
  fs.writeFileSync(img, "");
  fs.truncateSync(img, mib * MiB);
  const r = sh("mkfs.fat", ["-F", String(fat), "-S", String(ss), ...(spc ? ["-s", String(spc)] : []), img]);
  if (r.code !== 0) throw new Error(`mkfs.fat -F ${fat} -S ${ss} refused ${mib} MiB: ${r.out}`);
  return img;
}

/** The tool checks of a ghost made on a partition file: attributes, listing, its bytes. */
function toolChecks(t: Asserts, img: string, g: { startSector: number; sectors: number }, ss: number): void {
  const attr = sh("mattrib", ["-i", img, "::/RECOVERY.CBI"]);
  const flags = attr.out.slice(0, Math.max(0, attr.out.indexOf("::/")));
  t.ok(
    attr.code === 0 && /R/.test(flags) && /S/.test(flags) && /H/.test(flags),
    `mattrib shows R, S and H (${attr.out.trim()})`,
  );
  const all = sh("mdir", ["-a", "-i", img, "::/"]).out,
    plain = sh("mdir", ["-i", img, "::/"]).out;
  t.equal((all.match(/^RECOVERY\s+CBI\b/gm) ?? []).length, 1, "mdir -a lists RECOVERY.CBI once");
  t.notMatch(all, /CBGHOST\s+TMP/, "mdir -a lists no CBGHOST.TMP");
  t.notMatch(plain, /RECOVERY\s+CBI/, "plain mdir does not list it (hidden)");
  const ghost = sh("mcopy", ["-n", "-i", img, "::/RECOVERY.CBI", "-"]).stdout;
  t.equal(ghost.length, g.sectors * ss, "the file is as long as the reported extent");
  t.equal(ghost.toString("latin1", 0, 8), "CBIMAGE1", "it begins with the image header");
  t.equal(
    ghost.toString("latin1", ghost.length - 512, ghost.length - 504),
    "CBGHOSTL",
    "its last 512 bytes are the locator",
  );
  const fd = fs.openSync(img, "r");
  const there = Buffer.alloc(ghost.length);
  fs.readSync(fd, there, 0, there.length, g.startSector * ss);
  fs.closeSync(fd);
  t.ok(there.equals(ghost), "mtools reads the file from exactly the extent the backup reported (one contiguous run)");
}

if (!haveTools) {
  t.test(
    "real tools matrix",
    { skip: "mkfs.fat, fsck.fat and mtools are not installed (CI installs them)" },
    async () => {},
  );
} else {
  const matrix: Array<[fat: number, ss: number, mib: number, spc?: number]> = [
    [12, 512, 8],
    [12, 4096, 8, 1],
    [16, 512, 16],
    [16, 4096, 32, 1],
    [32, 512, 40],
    [32, 4096, 300, 1],
  ];
  for (const [fat, ss, mib, spc] of matrix) {
    t.test(
      `mkfs.fat -F ${fat} -S ${ss} on ${mib} MiB: backupGhost, damage, restoreGhost twice, checked by fsck.fat and mtools`,
      async (t) => {
        const img = mkvol(`m${fat}-${ss}.img`, fat, ss, mib, spc);
        const files = populate(img, `m${fat}/${ss}`, true);
        t.equal(api.info(core, img).volume?.fsType, `FAT${fat}`);
        t.equal(fsckFile(img).code, 0, "fsck.fat -n clean before");
        const r = api.backupGhost(core, img, { created: new Date(Date.UTC(2026, 0, 2)) });
        t.match(r.ghost, { path: "\\RECOVERY.CBI", replaced: false, leftover: "none" });
        t.ok(
          r.imageClusters > 0 && r.ghost.sectors * ss >= r.imageBytes + 512,
          `${r.imageClusters} clusters, ${r.imageBytes} bytes in a ${r.ghost.sectors * ss}-byte file`,
        );
        const fk = fsckFile(img);
        t.equal(fk.code, 0, `fsck.fat -n clean after the backup${fk.code ? ": " + fk.out : ""}`);
        toolChecks(t, img, r.ghost, ss);
        t.same(mcopyDiffers(img, files), [], "every file mcopy extracts is identical after the backup");
        const afterBackup = img + ".after-backup";
        fs.copyFileSync(img, afterBackup);
        const head = Buffer.alloc(512);
        const hfd = fs.openSync(img, "r");
        fs.readSync(hfd, head, 0, 512, 0);
        fs.closeSync(hfd);
        const geo = bpb(head);
        // damage: two files overwritten with other contents, one deleted, one added, and random
        // bytes over the start of the data area (directories and files), none inside the ghost
        const stage = path.join(tmp, "d");
        fs.writeFileSync(stage, bytesOf("other", 50000));
        t.equal(sh("mcopy", ["-o", "-i", img, stage, "::/Firmware/MAIN.BIN"]).code, 0);
        t.equal(sh("mcopy", ["-o", "-i", img, stage, "::/Jobs/print job 2 with a long name.prn"]).code, 0);
        t.equal(sh("mcopy", ["-i", img, stage, "::/NEWFILE.BIN"]).code, 0);
        t.equal(sh("mdel", ["-i", img, "::/Settings.d/network.conf"]).code, 0);
        const junkAt = geo.firstDataSector * ss,
          junk = bytesOf(`junk${fat}/${ss}`, Math.min(96 * 1024, r.ghost.startSector * ss - junkAt));
        t.ok(junkAt + junk.length <= r.ghost.startSector * ss, "the garbage lies outside the ghost's extent");
        const fd = fs.openSync(img, "r+");
        fs.writeSync(fd, junk, 0, junk.length, junkAt);
        fs.closeSync(fd);
        const v0 = api.verifyGhost(core, img);
        t.equal(
          v0.ok,
          false,
          `verifyGhost finds the damage (${v0.mismatchedClusters} clusters differ, metadata ${v0.metadataDiffers ? "differs" : "same"})`,
        );
        const rr = api.restoreGhost(core, img);
        t.equal(rr.verified, true, `restored (ghost found by ${rr.ghost.foundBy}) and read back`);
        t.same(mcopyDiffers(img, files), [], "every file identical again (mcopy)");
        t.not(sh("mcopy", ["-n", "-i", img, "::/NEWFILE.BIN", "-"]).code, 0, "the file added after the backup is gone");
        const fk2 = fsckFile(img);
        t.equal(fk2.code, 0, `fsck.fat -n clean after the restore${fk2.code ? ": " + fk2.out : ""}`);
        const v = api.verifyGhost(core, img);
        t.ok(
          v.ok && v.ghost.foundBy === "directory",
          `verifyGhost ok, found through the directory (${v.mismatchedClusters} differ)`,
        );
        toolChecks(t, img, r.ghost, ss);
        const restored = img + ".restored";
        fs.copyFileSync(img, restored);
        t.equal(
          differingRanges(afterBackup, img, ss),
          0,
          "system area and every allocated cluster identical to right after the backup",
        );
        // a second restore in a row: nothing differs, so next to nothing is written
        const rr2 = api.restoreGhost(core, img);
        t.ok(
          rr2.verified && rr2.bytesWritten <= 2 * ss,
          `the second restore writes ${rr2.bytesWritten} bytes (the restore mark and the boot sector at most)`,
        );
        t.equal(fileFirstDiff(restored, img), -1, "and leaves the volume byte-identical");
        t.same(mcopyDiffers(img, files), [], "every file still identical (mcopy)");
        t.equal(fsckFile(img).code, 0, "fsck.fat -n still clean");
        for (const f of [img, afterBackup, restored]) fs.rmSync(f, { force: true });
      },
    );
  }
}

// ---- 2. the first MiB destroyed: found by the locator, restored byte-identically -----------------

for (const name of ["fat32-512.img.gz", "fat16-4kn.img.gz"]) {
  t.test(
    `${name}: first MiB zeroed; info --ghost finds it by the locator; restoreGhost gives back the partition exactly`,
    async (t) => {
      const { file, f } = fixtureCopy(name);
      const p = f.partitions[0];
      const r = api.backupGhost(core, file);
      const after = fs.readFileSync(file);
      const ss = bpb(after).ss;
      t.same(filesOf(readerOf(after)), p.files, "every file as recorded in index.json after the backup");
      const destroyed = Buffer.from(after);
      destroyed.fill(0, 0, MiB);
      fs.writeFileSync(file, destroyed);
      const inf = api.info(core, file, { ghost: true });
      t.ok(inf.volumeError, `the volume is unreadable: ${inf.volumeError}`);
      t.match(
        inf.ghost,
        { foundBy: "locator", startSector: r.ghost.startSector, sectors: r.ghost.sectors, sectorBytes: ss },
        "info with ghost finds it by the locator, naming the real sector size",
      );
      t.throws(
        () => api.info(core, file, {}),
        { name: "VolumeError" },
        "without ghost: true, info does not search: the volume is simply unreadable",
      );
      const rr = api.restoreGhost(core, file);
      t.equal(rr.ghost.foundBy, "locator");
      t.equal(rr.verified, true);
      const restored = fs.readFileSync(file);
      const exp = expectedAfterDestroy(after, 0, after.length, ss, 0, MiB);
      t.equal(
        firstDiff(restored, exp),
        -1,
        "the partition is byte-identical to right after the backup (destroyed free clusters stay zero)",
      );
      const reader = readerOf(restored);
      t.same(reader.check().problems, [], "FatReader check clean");
      t.same(filesOf(reader), p.files, "every file's sha256 as in index.json");
      fsckClean(t, restored, "after the restore");
      t.equal(api.info(core, file).ghost?.foundBy, "directory", "the ghost is in its directory again");
    },
  );
}

if (!haveTools) {
  t.test(
    "first MiB zeroed on volumes mkfs.fat made",
    { skip: "mkfs.fat, fsck.fat and mtools are not installed (CI installs them)" },
    async () => {},
  );
} else {
  for (const [fat, ss, mib, spc] of [
    [32, 512, 40, 0],
    [16, 4096, 32, 1],
    [12, 4096, 8, 1],
  ] as const) {
    t.test(
      `mkfs.fat -F ${fat} -S ${ss}: first MiB zeroed, restoreGhost is byte-identical to the copy taken after the backup`,
      async (t) => {
        const img = mkvol(`z${fat}-${ss}.img`, fat, ss, mib, spc || undefined);
        const files = populate(img, `z${fat}/${ss}`, false); // no deleted files: every free cluster is zero
        const r = api.backupGhost(core, img);
        const copy = fs.readFileSync(img);
        const b = Buffer.from(copy);
        b.fill(0, 0, MiB);
        fs.writeFileSync(img, b);
        const inf = api.info(core, img, { ghost: true });
        t.match(inf.ghost, { foundBy: "locator", startSector: r.ghost.startSector, sectorBytes: ss });
        const rr = api.restoreGhost(core, img);
        t.ok(rr.verified && rr.ghost.foundBy === "locator");
        t.equal(
          firstDiff(fs.readFileSync(img), copy),
          -1,
          "the whole partition file equals the copy made just after the backup",
        );
        t.equal(fsckFile(img).code, 0, "fsck.fat -n clean");
        t.same(mcopyDiffers(img, files), [], "every file identical (mcopy)");
        fs.rmSync(img, { force: true });
      },
    );
  }
}

// ---- 3. replacing the ghost; leftovers of an interrupted backup --------------------------------

t.test(
  "a second backupGhost replaces the first: one ghost, no CBGHOST.TMP, free count right, restore gives the second state",
  async (t) => {
    const { file, f } = fixtureCopy("fat32-512.img.gz");
    const r1 = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 0, 1)) });
    t.equal(r1.ghost.replaced, false);
    const stateA = filesOf(readerOf(fs.readFileSync(file)));
    t.same(stateA, f.partitions[0].files);
    // change files between the backups
    const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
    const w = new FatWriter(dev);
    w.writeFile("\\Jobs\\a new job with a long name.prn", bytesOf("new job", 30000));
    w.writeFile("\\Settings.d\\network.conf", bytesOf("new conf", 2000));
    w.remove("\\README.TXT");
    w.flush();
    dev.close();
    const stateB = filesOf(readerOf(fs.readFileSync(file)));
    t.not(JSON.stringify(stateB), JSON.stringify(stateA), "the files changed");
    const r2 = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 0, 2)) });
    t.match(r2.ghost, { replaced: true, leftover: "none", path: "\\RECOVERY.CBI" });
    t.ok(
      r2.ghost.startSector + r2.ghost.sectors <= r1.ghost.startSector ||
        r1.ghost.startSector + r1.ghost.sectors <= r2.ghost.startSector,
      "the new ghost was made beside the old one",
    );
    let bytes = fs.readFileSync(file);
    const reader = readerOf(bytes);
    const root = reader.list("\\").map((e) => e.shortName);
    t.equal(root.filter((n) => n === "RECOVERY.CBI").length, 1, "one RECOVERY.CBI");
    t.notOk(root.includes("CBGHOST.TMP"), "no CBGHOST.TMP");
    t.equal(reader.lookup("\\RECOVERY.CBI")!.attributes & 0x07, 0x07, "read-only, hidden, system");
    t.same(
      reader.check().problems,
      [],
      "FatReader check clean: the old ghost's clusters are free, FSInfo's free count matches the FAT",
    );
    const old = bytes.subarray(r1.ghost.startSector * 512, (r1.ghost.startSector + r1.ghost.sectors) * 512);
    t.ok(
      old.subarray(0, 512).every((x) => x === 0) && old.subarray(old.length - 512).every((x) => x === 0),
      "the old ghost's header and locator are zeroed: no search finds it again",
    );
    const vol = api.info(core, file).volume!;
    t.same(vol.notices, [], "info has nothing to notice (no FSInfo disagreement)");
    if (hasFsck) {
      const fk = fsckFile(file);
      t.equal(fk.code, 0, `fsck.fat -n clean${fk.code ? ": " + fk.out : ""}`);
      const m = /(\d+)\/(\d+) clusters/.exec(fk.out);
      t.ok(
        m && Number(m[1]) === vol.usedClusters && Number(m[2]) - Number(m[1]) === vol.freeClusters,
        `fsck.fat counts ${m?.[1]} of ${m?.[2]} clusters used; info ${vol.usedClusters} used, ${vol.freeClusters} free`,
      );
    }
    if (hasMtools) {
      const all = sh("mdir", ["-a", "-i", file, "::/"]).out;
      t.equal((all.match(/^RECOVERY\s+CBI\b/gm) ?? []).length, 1, "mdir -a: one RECOVERY.CBI");
      t.notMatch(all, /CBGHOST\s+TMP/, "mdir -a: no CBGHOST.TMP");
    }
    // damage and restore: the second state comes back
    bytes = Buffer.from(bytes);
    bytes.fill(0, 0, MiB);
    fs.writeFileSync(file, bytes);
    const rr = api.restoreGhost(core, file);
    t.equal(rr.ghost.startSector, r2.ghost.startSector, "the restore uses the second ghost");
    const restored = readerOf(fs.readFileSync(file));
    t.same(filesOf(restored), stateB, "the restore gives the second state");
    t.same(restored.check().problems, []);
    fsckClean(t, fs.readFileSync(file), "after the restore");
    // a third backup can take the space the first one freed
    const r3 = api.backupGhost(core, file);
    t.match(r3.ghost, { replaced: true, leftover: "none" });
    t.same(readerOf(fs.readFileSync(file)).check().problems, []);
    t.ok(api.verifyGhost(core, file).ok);
  },
);

t.test("a leftover CBGHOST.TMP (hidden, no image in it) is removed by the next backup", async (t) => {
  for (const withGhost of [false, true]) {
    const { file } = fixtureCopy("fat16-2k.img.gz");
    if (withGhost) api.backupGhost(core, file);
    if (hasMtools) {
      const local = path.join(tmp, "leftover");
      fs.writeFileSync(local, bytesOf("leftover", 20000));
      t.equal(sh("mcopy", ["-i", file, local, "::/CBGHOST.TMP"]).code, 0);
      t.equal(sh("mattrib", ["+h", "+s", "-i", file, "::/CBGHOST.TMP"]).code, 0);
    } else {
      const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
      const w = new FatWriter(dev);
      w.writeFile("\\CBGHOST.TMP", bytesOf("leftover", 20000), { attributes: 0x06 });
      w.flush();
      dev.close();
    }
    const before = readerOf(fs.readFileSync(file));
    t.ok(before.lookup("\\CBGHOST.TMP"), "the leftover is there");
    const r = api.backupGhost(core, file);
    t.match(
      r.ghost,
      { leftover: "removed", replaced: withGhost },
      `leftover removed (${withGhost ? "beside an old ghost" : "no ghost yet"})`,
    );
    const reader = readerOf(fs.readFileSync(file));
    t.equal(reader.lookup("\\CBGHOST.TMP"), undefined, "no CBGHOST.TMP afterwards");
    t.same(reader.check().problems, [], "FatReader check clean (the leftover's clusters are free)");
    t.ok(api.verifyGhost(core, file).ok, "the new ghost verifies");
    if (hasFsck) t.equal(fsckFile(file).code, 0, "fsck.fat -n clean");
    if (hasMtools) t.notMatch(sh("mdir", ["-a", "-i", file, "::/"]).out, /CBGHOST\s+TMP/, "mdir -a: no CBGHOST.TMP");
  }
});

// ---- 4. exclusions together with the ghost -----------------------------------------------------

t.test(
  "exclude \\Jobs\\*: those files come back empty, everything else identical, the ghost still valid",
  async (t) => {
    const { file, f } = fixtureCopy("fat16-2k.img.gz");
    const p = f.partitions[0];
    const r = api.backupGhost(core, file, { exclude: ["\\Jobs\\*"] });
    const jobs = Object.keys(p.files).filter((x) => x.startsWith("Jobs/"));
    t.same(
      r.excluded.map((e) => e.path.slice(1).replace(/\\/g, "/")).sort(),
      jobs.sort(),
      "exactly the Jobs files are left out",
    );
    const ghostBytes = () => {
      const b = fs.readFileSync(file);
      return b.subarray(r.ghost.startSector * 512, (r.ghost.startSector + r.ghost.sectors) * 512);
    };
    const ghostBefore = Buffer.from(ghostBytes());
    const b = fs.readFileSync(file);
    b.fill(0, 0, 256 * 1024); // boot sector, FATs, root directory and the first clusters
    fs.writeFileSync(file, b);
    const rr = api.restoreGhost(core, file);
    t.equal(rr.verified, true);
    const reader = readerOf(fs.readFileSync(file));
    t.same(reader.check().problems, [], "FatReader check clean");
    for (const [name, hash] of Object.entries(p.files)) {
      const e = reader.lookup(name);
      if (!e) {
        t.fail(`${name} missing`);
        continue;
      }
      if (name.startsWith("Jobs/")) {
        if (e.size !== 0 || e.firstCluster !== 0)
          t.fail(`${name} should be empty: ${e.size} bytes from cluster ${e.firstCluster}`);
      } else if (reader.sha256(e) !== hash) t.fail(`${name} differs`);
    }
    t.pass("the excluded files are there and empty; every other file is byte-identical");
    fsckClean(t, fs.readFileSync(file), "after the restore");
    t.ok(ghostBytes().equals(ghostBefore), "the restore did not touch the ghost's extent");
    const v = api.verifyGhost(core, file);
    t.ok(v.ok && v.ghost.foundBy === "directory", "the ghost is in its directory and the volume matches it");
  },
);

t.test('an exclusion of everything ("*", "\\\\*", "*.CBI") never excludes the ghost itself', async (t) => {
  const { file } = fixtureCopy("fat16-2k.img.gz");
  const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
  const w = new FatWriter(dev);
  w.writeFile("\\DATA.CBI", bytesOf("data.cbi", 5000));
  w.flush();
  dev.close();
  let prev: api.GhostBackupResult | undefined;
  for (const exclude of [["*"], ["\\*"], ["*.CBI"]]) {
    const r = api.backupGhost(core, file, { exclude });
    const paths = r.excluded.map((e) => e.path.toUpperCase());
    t.notOk(
      paths.some((x) => x.includes("RECOVERY.CBI") || x.includes("CBGHOST.TMP")),
      `exclude ${JSON.stringify(exclude)}: the ghost and its temporary file are not excluded (${paths.length} files are)`,
    );
    t.ok(paths.includes("\\DATA.CBI"), "another .CBI file is");
    t.equal(r.ghost.replaced, prev !== undefined);
    const rr = api.restoreGhost(core, file);
    t.equal(rr.verified, true);
    const reader = readerOf(fs.readFileSync(file));
    t.same(reader.check().problems, []);
    const g = reader.lookup("\\RECOVERY.CBI");
    t.ok(
      g && g.size === r.ghost.sectors * 512 && (g.attributes & 7) === 7,
      "after the restore the ghost file is there, whole, read-only, hidden, system",
    );
    t.equal(reader.lookup("\\DATA.CBI")?.size, 0, "DATA.CBI came back empty");
    const again = api.restoreGhost(core, file);
    t.ok(
      again.verified && again.ghost.foundBy === "directory" && again.ghost.startSector === r.ghost.startSector,
      "and it restores again",
    );
    fsckClean(t, fs.readFileSync(file), `exclude ${JSON.stringify(exclude)}`);
    prev = r;
  }
});

// ---- 5. a partition of a disk --------------------------------------------------------------------

for (const [name, n] of [
  ["disk-gpt.img.gz", 2],
  ["disk-mbr.img.gz", 5],
  ["disk-mbr.img.gz", 1],
] as const) {
  t.test(
    `${name} partition ${n}: backupGhost, the partition's first MiB destroyed, restoreGhost; the rest of the disk untouched`,
    async (t) => {
      const { file, f } = fixtureCopy(name);
      const p = f.partitions.find((x) => x.number === n)!;
      const before = fs.readFileSync(file);
      const ext = extentOf(core, before, p);
      const start = ext.start * ext.sectorSize,
        bytes = ext.sectors * ext.sectorSize,
        end = start + bytes;
      const r = api.backupGhost(core, file, { partition: n });
      t.ok(r.image.includes(`partition ${n}`));
      const after = fs.readFileSync(file);
      t.ok(
        after.subarray(0, start).equals(before.subarray(0, start)) && after.subarray(end).equals(before.subarray(end)),
        "the backup wrote only inside its partition",
      );
      t.same(filesOf(readerOf(after.subarray(start, end), ext.sectorSize)), p.files, "files as recorded in index.json");
      const destroy = Math.min(MiB, bytes / 2);
      const b = Buffer.from(after);
      b.fill(0, start, start + destroy);
      fs.writeFileSync(file, b);
      const inf = api.info(core, file, { partition: n, ghost: true });
      t.match(
        inf.ghost,
        { foundBy: "locator", startSector: r.ghost.startSector },
        "info finds the ghost by the locator",
      );
      const rr = api.restoreGhost(core, file, { partition: n });
      t.ok(rr.verified && rr.partition === n && rr.ghost.foundBy === "locator");
      const restored = fs.readFileSync(file);
      t.ok(
        restored.subarray(0, start).equals(after.subarray(0, start)) &&
          restored.subarray(end).equals(after.subarray(end)),
        "every byte outside the partition (tables, other partitions) untouched",
      );
      t.equal(
        firstDiff(restored, expectedAfterDestroy(after, start, bytes, ext.sectorSize, start, start + destroy)),
        -1,
        "the partition is byte-identical to right after the backup",
      );
      const reader = readerOf(restored.subarray(start, end), ext.sectorSize);
      t.same(reader.check().problems, []);
      t.same(filesOf(reader), p.files);
      fsckClean(t, restored.subarray(start, end), `partition ${n}`);
      t.ok(api.verifyGhost(core, file, { partition: n }).ok, "verifyGhost --partition ok");
    },
  );
}

// ---- 6. bad input: refused, nothing written ----------------------------------------------------

t.test("bad input is refused and nothing is written", async (t) => {
  const { file } = fixtureCopy("fat16-2k.img.gz");
  const pristine = fs.readFileSync(file);
  const unchanged = (what: string) =>
    t.equal(firstDiff(fs.readFileSync(file), pristine), -1, `${what}: the volume is unchanged`);

  let e = caught(() => api.backupGhost(core, file, { ghostName: "\\not an 8.3 name.image" }));
  t.ok(e instanceof G.GhostError, `a non-8.3 ghost name: GhostError (${e.message})`);
  t.match(e.message, /not an 8\.3 name\.image/i, "naming it");
  unchanged("a non-8.3 name");

  e = caught(() => api.restoreGhost(core, file));
  t.ok(e instanceof G.GhostError && /no ghost image/.test(e.message), `restoreGhost without a ghost: ${e.message}`);
  unchanged("restoreGhost without a ghost");
  e = caught(() => api.verifyGhost(core, file));
  t.ok(e instanceof G.GhostError, `verifyGhost without a ghost: ${e.message}`);
  t.equal(api.info(core, file, { ghost: true }).ghost, undefined, "info finds no ghost");

  // a volume too full for the ghost
  const full = fixtureCopy("fat16-full.img.gz").file;
  const fullBefore = fs.readFileSync(full);
  const vol = api.info(core, full).volume!;
  e = caught(() => api.backupGhost(core, full));
  t.ok(e instanceof G.GhostError, `a nearly full volume: GhostError (${e.message})`);
  const need = /needs (\d+) bytes/.exec(e.message);
  t.ok(
    need && Number(need[1]) > vol.freeClusters * vol.clusterBytes,
    `it says it needs ${need?.[1]} bytes (${vol.freeClusters * vol.clusterBytes} are free)`,
  );
  t.equal(firstDiff(fs.readFileSync(full), fullBefore), -1, "the full volume is unchanged");

  // free space enough in total but in no run long enough: FRAG.BIN holds 12 of every 16 free
  // clusters (its chain linked by hand) and is excluded, so the image is small
  const frag = fixtureCopy("fat16-2k.img.gz").file;
  const fdev = new FileDevice(frag, { writable: true, sectorSize: 512 });
  const fw = new FatWriter(fdev);
  fw.writeFile("\\FRAG.BIN", bytesOf("frag", 2048));
  fw.flush();
  fdev.close();
  const fb = fs.readFileSync(frag);
  const reserved = fb.readUInt16LE(14),
    fatSectors = fb.readUInt16LE(22),
    fats = fb[16];
  const fgeo = bpb(fb),
    totalSectors = fb.readUInt16LE(19) || fb.readUInt32LE(32);
  const clusters = Math.floor((totalSectors - fgeo.firstDataSector) / fgeo.spc);
  const fatAt = (copy: number, c: number) => (reserved + copy * fatSectors) * 512 + 2 * c;
  const free: number[] = [];
  for (let c = 2; c < clusters + 2; c++) if (fb.readUInt16LE(fatAt(0, c)) === 0) free.push(c);
  const fragEntry = readerOf(fb).lookup("\\FRAG.BIN")!;
  const chain = [fragEntry.firstCluster, ...free.filter((_, i) => i % 16 >= 4)]; // runs of 12, gaps of 4 (few runs: the exclusion's patches fit)
  for (let copy = 0; copy < fats; copy++)
    chain.forEach((c, i) => fb.writeUInt16LE(i + 1 < chain.length ? chain[i + 1] : 0xffff, fatAt(copy, c)));
  fb.writeUInt32LE(
    chain.length * fgeo.clusterBytes,
    (reserved + fats * fatSectors) * 512 + fragEntry.entryIndex! * 32 + 28,
  );
  fs.writeFileSync(frag, fb);
  t.same(
    readerOf(fb).check().problems,
    [],
    `the fragmented volume is consistent (${free.length - chain.length + 1} free clusters, in runs of at most 4)`,
  );
  fsckClean(t, fb, "on the fragmented volume");
  e = caught(() => api.backupGhost(core, frag, { exclude: ["\\FRAG.BIN"] }));
  t.ok(e instanceof G.GhostError, `no contiguous run: GhostError (${e.message})`);
  const need2 = /no room for the ghost image: it needs (\d+) bytes/.exec(e.message);
  t.ok(
    need2 && Number(need2[1]) > fgeo.clusterBytes && Number(need2[1]) % fgeo.clusterBytes === 0,
    `it says it needs ${need2?.[1]} bytes in one run`,
  );
  t.equal(firstDiff(fs.readFileSync(frag), fb), -1, "the fragmented volume is unchanged");

  // a ghost whose header is damaged: not a ghost any more; restore refuses and writes nothing
  const r = api.backupGhost(core, file);
  const good = fs.readFileSync(file);
  const dmg = Buffer.from(good);
  dmg[r.ghost.startSector * 512 + 100] ^= 0x01; // ClusterBytes field, covered by the header check
  fs.writeFileSync(file, dmg);
  e = caught(() => api.restoreGhost(core, file));
  t.ok(e instanceof G.GhostError, `a ghost with one flipped header bit is not restored from: ${e.message}`);
  t.equal(firstDiff(fs.readFileSync(file), dmg), -1, "nothing written");
  fs.writeFileSync(file, good);
});

t.test("a crafted ghost whose header's extent covers stored clusters is refused, nothing written", async (t) => {
  const { file } = fixtureCopy("fat32-512.img.gz");
  const r = api.backupGhost(core, file);
  const b = fs.readFileSync(file);
  const geo = bpb(b),
    ss = geo.ss;
  const g0 = r.ghost.startSector * ss,
    glen = r.ghost.sectors * ss;
  const img = Buffer.from(b.subarray(g0, g0 + glen));
  // the header check, recomputed by hand as the spec says: CBH-64, seed 0, over the header with bytes 504..511 zero
  const headerCheck = (h: Buffer) => {
    const z = Buffer.from(h.subarray(0, 512));
    z.fill(0, 504, 512);
    return BigInt("0x" + core.checkOf(z, 0));
  };
  t.equal(headerCheck(img), img.readBigUInt64LE(504), "the header check recomputed here matches the stored one");
  // the same image, moved to the start of the data area and naming that as its own extent:
  // its bitmap stores clusters 2.. that the new extent covers
  const start = geo.firstDataSector;
  img.writeBigUInt64LE(BigInt(start), 256);
  img.writeBigUInt64LE(BigInt(r.ghost.sectors), 264);
  img.writeBigUInt64LE(headerCheck(img), 504);
  const commitAt = Number(img.readBigUInt64LE(232));
  const commit = img.subarray(commitAt, commitAt + 512);
  t.equal(commit.toString("latin1", 0, 8), "CBCOMMIT");
  img.copy(commit, 24, 504, 512); // the commit record names its header by the header's check
  const z = Buffer.from(commit);
  z.fill(0, 504, 512);
  commit.writeBigUInt64LE(BigInt("0x" + core.checkOf(z, 4)), 504);
  const crafted = Buffer.from(b);
  crafted.fill(0, g0, g0 + 512); // the real ghost's header and locator gone: only the crafted one is found
  crafted.fill(0, g0 + glen - 512, g0 + glen);
  img.copy(crafted, start * ss);
  fs.writeFileSync(file, crafted);
  const found = G.searchGhost(core, new RamDevice(ss, new Uint8Array(crafted)));
  t.match(
    found,
    { startSector: start, foundBy: "search" },
    "the crafted image checks as a ghost at the start of the data area",
  );
  const e = caught(() => api.restoreGhost(core, file));
  t.not(e.message, "no error was thrown", `restoreGhost refuses it: ${e.name}: ${e.message}`);
  t.match(e.message, /stores cluster \d+, inside the image's own extent/, "saying why (E_IMG_GHOST_OVERLAP)");
  t.equal(firstDiff(fs.readFileSync(file), crafted), -1, "nothing written");
});

// ---- 7. power cut at every write of a ghost backup that replaces an old ghost -----------------

/** A ghost backup through the job, as backupGhost runs it, on a device; "cut" when the power went. */

for (const name of ["fat12-floppy.img.gz", "fat32-512.img.gz"]) {
  t.test(
    `${name}: power cut after every write of a replacing ghost backup (torn and not); the reboot finds a ghost that restores the old or the new state exactly`,
    async (t) => {
      const t0 = performance.now();
      const { file } = fixtureCopy(name);
      const rA = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 1, 1)) });
      const stateA = filesOf(readerOf(fs.readFileSync(file)));
      const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
      const w = new FatWriter(dev);
      w.writeFile("\\Jobs\\late job with a long name.prn", bytesOf("late", 9000));
      w.remove("\\README.TXT");
      w.flush();
      dev.close();
      const base = fs.readFileSync(file);
      const stateB = filesOf(readerOf(base));
      // the writes of an uninterrupted backup
      const counting = new FaultDevice(new FileDevice(file, { writable: true, sectorSize: 512 }), { logWrites: true });
      t.equal(ghostJob(core, counting), "done");
      counting.close();
      const writes = counting.counters.writes;
      t.ok(writes >= 5, `an uninterrupted replacing ghost backup makes ${writes} writes`);
      const multi = counting.writeLog.filter((x) => x.sectorCount > 1).length;
      const work = path.join(tmp, "cut.img"),
        direct = path.join(tmp, "cut-direct.img");
      fs.writeFileSync(work, base);
      const copiesDiffer: string[] = [],
        lost: string[] = [],
        otherProblems: string[] = [];
      let failures = 0,
        oldCount = 0,
        newCount = 0,
        cases = 0,
        sawNewAt = -1;
      const leftovers: Record<string, number> = {};
      for (let n = 0; n <= writes; n++) {
        for (const tear of [0, 1]) {
          // a torn single-sector write is the next cut point: only multi-sector writes are torn
          if (tear && (n >= writes || counting.writeLog[n].sectorCount < 2)) continue;
          cases++;
          resetTo(work, base);
          const fault = new FaultDevice(new FileDevice(work, { writable: true, sectorSize: 512 }), {
            powerCutAfterWrites: n,
            tearSectors: tear,
          });
          const outcome = ghostJob(core, fault);
          fault.inner.close();
          const label = `cut after write ${n}${tear ? " (torn)" : ""}`;
          // reboot: what reached the file is all there is
          const probe = new FileDevice(work, { sectorSize: 512 });
          const found = G.findGhost(core, probe);
          probe.close();
          const inf = api.info(core, work, { ghost: true }).ghost;
          if (!found || !inf || inf.startSector !== found.startSector) {
            failures++;
            t.fail(`${label}: ${outcome}; no ghost found after the reboot`);
            continue;
          }
          const isOld = found.startSector === rA.ghost.startSector;
          // one copy of the rebooted volume gets a ghost backup at once, without a restore first
          fs.copyFileSync(work, direct);
          try {
            const d = api.backupGhost(core, direct);
            leftovers[d.ghost.leftover] = (leftovers[d.ghost.leftover] ?? 0) + 1;
            const [files, p, temp] = withReader(
              direct,
              (reader) => [filesOf(reader), reader.check().problems, reader.lookup("\\CBGHOST.TMP")] as const,
            );
            for (const x of p)
              (x.kind === "fat-copies" ? copiesDiffer : x.kind === "lost-clusters" ? lost : otherProblems).push(
                `${n}${tear ? "t" : ""}: ${x.detail}`,
              );
            if (JSON.stringify(files) !== JSON.stringify(stateB) || temp || !api.verifyGhost(core, direct).ok) {
              failures++;
              t.fail(
                `${label}: a backup straight after the reboot left ${temp ? "CBGHOST.TMP, " : ""}files ${JSON.stringify(files) === JSON.stringify(stateB) ? "as they were" : "changed"}, a ghost that does not verify?`,
              );
            }
          } catch (e) {
            failures++;
            t.fail(`${label}: a backup straight after the reboot failed: ${(e as Error).message}`);
          }
          let state: Record<string, string>, problems: unknown[];
          try {
            const rr = api.restoreGhost(core, work);
            if (!rr.verified) throw new Error("not verified");
            [state, problems] = withReader(work, (reader) => {
              const p: unknown[] = reader.check().problems;
              if (reader.lookup("\\CBGHOST.TMP")) p.push("CBGHOST.TMP after the restore");
              return [filesOf(reader), p] as const;
            });
          } catch (e) {
            failures++;
            t.fail(`${label}: restoreGhost failed: ${(e as Error).message}`);
            continue;
          }
          if (hasFsck && cases % 4 === 1) {
            const fk = fsckFile(work);
            if (fk.code !== 0) {
              failures++;
              t.fail(`${label}: fsck.fat -n unclean after the restore: ${fk.out}`);
            }
          }
          const expected = isOld ? stateA : stateB;
          if (JSON.stringify(state) !== JSON.stringify(expected) || problems.length > 0) {
            failures++;
            t.fail(
              `${label}: ${outcome}; the ${isOld ? "old" : "new"} ghost restored ${JSON.stringify(state) === JSON.stringify(expected) ? "its state" : "a state that is neither"}; problems ${JSON.stringify(problems)}`,
            );
            continue;
          }
          if (isOld) {
            oldCount++;
            if (sawNewAt >= 0) {
              failures++;
              t.fail(`${label}: the old ghost is current again after the new one was at write ${sawNewAt}`);
            }
          } else {
            newCount++;
            if (sawNewAt < 0) sawNewAt = n;
          }
          // the next backup on the restored volume succeeds and settles everything
          try {
            const again = api.backupGhost(core, work);
            if (again.ghost.leftover !== "none") {
              failures++;
              t.fail(`${label}: after the restore the next backup still found a leftover (${again.ghost.leftover})`);
            }
            const [p2, temp] = withReader(
              work,
              (reader) => [reader.check().problems, reader.lookup("\\CBGHOST.TMP")] as const,
            );
            if (p2.length || temp || !api.verifyGhost(core, work).ok) {
              failures++;
              t.fail(`${label}: the next backup left ${JSON.stringify(p2)}${temp ? " and CBGHOST.TMP" : ""}`);
            }
          } catch (e) {
            failures++;
            t.fail(`${label}: the next backup failed: ${(e as Error).message}`);
          }
        }
      }
      t.equal(
        failures,
        0,
        `${cases} cut points (${multi} multi-sector writes also torn): after every one a valid ghost was found and restored exactly; ${oldCount} times the old, ${newCount} times the new; a backup straight after the reboot found leftovers ${JSON.stringify(leftovers)}; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      t.ok(oldCount >= 2 && newCount >= 1, "both the old and the new ghost were current at some cut");
      // A ghost backup straight after the reboot (no restore) must leave a consistent volume: a cut
      // inside the switch (section 12.2) leaves the old ghost's clusters lost or the FAT copies
      // disagreeing until then, and the locator's mark makes the next backup finish the switch.
      t.same(otherProblems, [], "no other kind of damage after a cut and the next backup");
      t.same(
        copiesDiffer,
        [],
        "after a cut anywhere and the next ghost backup, the FAT copies agree (cut points listed: write index, t = torn)",
      );
      t.same(lost, [], "after a cut anywhere and the next ghost backup, no clusters are lost");
    },
  );
}

t.test(
  "a power cut during a ghost backup on a volume with no ghost yet: the next backup removes the unfinished CBGHOST.TMP",
  async (t) => {
    const { file } = fixtureCopy("fat16-2k.img.gz");
    const base = fs.readFileSync(file);
    const counting = new FaultDevice(new FileDevice(file, { writable: true, sectorSize: 512 }), { logWrites: true });
    t.equal(ghostJob(core, counting), "done");
    counting.close();
    let removed = 0,
      found = 0,
      tested = 0;
    for (let n = 1; n < counting.counters.writes; n++) {
      fs.writeFileSync(file, base);
      const fault = new FaultDevice(new FileDevice(file, { writable: true, sectorSize: 512 }), {
        powerCutAfterWrites: n,
      });
      if (ghostJob(core, fault) !== "cut") continue;
      fault.inner.close();
      const reader = readerOf(fs.readFileSync(file));
      if (!reader.lookup("\\CBGHOST.TMP")) continue;
      tested++;
      const probe = new FileDevice(file, { sectorSize: 512 });
      if (G.findGhost(core, probe)) found++;
      probe.close();
      const r = api.backupGhost(core, file);
      if (r.ghost.leftover === "removed" || r.ghost.leftover === "renamed") removed++;
      else t.fail(`cut after write ${n}: leftover ${r.ghost.leftover}`);
      const after = readerOf(fs.readFileSync(file));
      if (after.lookup("\\CBGHOST.TMP") || after.check().problems.length)
        t.fail(`cut after write ${n}: ${JSON.stringify(after.check().problems)}`);
    }
    t.ok(tested >= 1, `${tested} cuts left a CBGHOST.TMP (${found} of them already a complete ghost)`);
    t.equal(removed, tested, "the next backup settled every one");
  },
);

// ---- 8. the CLI --------------------------------------------------------------------------------

if (!fs.existsSync(cli)) {
  t.test("CLI", { skip: "dist is not built (npm run build)" }, async () => {});
} else {
  t.test("CLI: backup --ghost, verify --ghost, restore --ghost, info --ghost; usage errors", async (t) => {
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const { file } = fixtureCopy("fat16-2k.img.gz");
    let r = run("backup", file, "--ghost");
    t.equal(r.code, 0, `backup --ghost: exit 0 ${r.err}`);
    t.match(r.out, /RECOVERY\.CBI/);
    r = run("verify", "--ghost", file);
    t.equal(r.code, 0, `verify --ghost: exit 0 ${r.err}`);
    r = run("info", file, "--ghost");
    t.equal(r.code, 0);
    t.ok(
      r.out.split("\n").some((l) => l.startsWith("ghost image")),
      `info --ghost prints a line starting "ghost image"`,
    );
    // damage a stored cluster: verify fails with one line, restore repairs it
    const b = fs.readFileSync(file);
    const geo = bpb(b);
    b.fill(0xa5, geo.firstDataSector * 512, geo.firstDataSector * 512 + 4 * geo.clusterBytes);
    fs.writeFileSync(file, b);
    r = run("verify", "--ghost", file);
    t.equal(r.code, 1, "verify --ghost on a damaged volume: exit 1");
    t.equal(r.err.trim().split("\n").length, 1, "one line on stderr");
    r = run("restore", "--ghost", file);
    t.equal(r.code, 0, `restore --ghost: exit 0 ${r.err}`);
    t.match(r.out, /restored FAT16/);
    t.equal(run("verify", "--ghost", file).code, 0, "verify --ghost after the restore: exit 0");
    // the first MiB gone: info --ghost finds it by the locator, restore --ghost brings it back
    const z = fs.readFileSync(file);
    z.fill(0, 0, MiB);
    fs.writeFileSync(file, z);
    r = run("info", file, "--ghost");
    t.equal(r.code, 0, `info --ghost on a destroyed volume: exit 0 ${r.err}`);
    t.ok(
      r.out.split("\n").some((l) => l.startsWith("ghost image") && /found by locator/.test(l)),
      "info --ghost: found by locator",
    );
    t.equal(run("restore", "--ghost", file).code, 0, "restore --ghost: exit 0");
    t.equal(run("verify", "--ghost", file).code, 0);
    // usage errors and failures: exit code, one line, nothing written
    const now = fs.readFileSync(file);
    const x = path.join(tmp, "x.cbi");
    const cases: Array<[string[], number, RegExp]> = [
      [["backup", file, "--ghost", "--image", x], 2, /--image <file> or --ghost, not both/],
      [["restore", "--ghost", file, file], 2, /restore takes a target/],
      [["verify", "--ghost", file, "--against", file], 2, /--against does not go with it/],
      [["backup", file, "--ghost-name", "\\G.CBI", "--image", x], 2, /--ghost-name goes with --ghost/],
      [["backup", file, "--ghost", "--ghost-name", "\\not an 8.3 name.image"], 1, /not an 8\.3 name/],
    ];
    for (const [args, code, message] of cases) {
      const c = run(...args);
      t.equal(c.code, code, `${args.slice(0, 1).concat(args.slice(2)).join(" ")}: exit ${code}`);
      t.match(c.err, message);
      t.equal(c.err.trim().split("\n").length, 1, "one line on stderr");
    }
    t.notOk(fs.existsSync(x), "no image file was made");
    t.equal(firstDiff(fs.readFileSync(file), now), -1, "the volume is unchanged");
    const bare = fixtureCopy("fat16-2k.img.gz").file;
    const bareBytes = fs.readFileSync(bare);
    r = run("restore", "--ghost", bare);
    t.equal(r.code, 1, "restore --ghost on a volume without a ghost: exit 1");
    t.match(r.err, /no ghost image/);
    t.equal(r.err.trim().split("\n").length, 1, "one line on stderr");
    t.equal(firstDiff(fs.readFileSync(bare), bareBytes), -1, "nothing written");
  });
}
