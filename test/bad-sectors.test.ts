// Bad sectors: a read error on the source of a backup names the file that owns the cluster it
// hit; in record mode the backup stores the cluster as zeros with the unreadable mark
// (docs/image-format.md 5.1) and goes on; a write error on the target of a restore stops it
// at that write. Fixture volumes (mkfs.fat + mtools) behind a FaultDevice, at 512 and 4096-byte
// sectors, FAT16 and FAT32; each case names the fixture, the cluster and the LBA.

import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import {
  backupToDevice,
  clusterOwners,
  describeOwners,
  describeReadError,
  METADATA,
  SourceReadError,
  sectorOwners,
} from "../firmware-module/src/ops/bad-sectors";
import { DeviceCode, DeviceError } from "../firmware-module/src/ops/errors";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import { FatTables } from "../firmware-module/src/ops/fat-tables";
import { volumeInfo } from "../host-shim/src/cli/api";
import { Core, NO_DEVICE } from "../host-shim/src/native/core";
import { BlockDevice, RamDevice } from "../host-shim/src/native/devices";
import { BadSectorError, FaultDevice } from "../host-shim/src/native/fault-device";
import { fixtureDir, mustMatch } from "./helpers/fixtures";

const core = new Core({ backgroundWrites: false });
const RESTORE_READ_BACK_FULL = 3; // restoreBegin flags: read back (1) | write every cluster (2)

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got none");
}

// CBH-32 straight from docs/image-format.md section 7: the oracle for the stored checks.
const IV = [
  0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89, 0x452821e6,
  0x38d01377, 0xbe5466cf, 0x34e90c6c, 0xc0ac29b7, 0xc97c50dd, 0x3f84d5b5, 0xb5470917,
];
const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
function cbh32(bytes: Uint8Array, seed: number): number {
  const s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x846ca68b);
  const lane = IV.map((v) => (s + v) >>> 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; at < bytes.length; at += 64) {
    for (let i = 0; i < 16; i++)
      lane[i] =
        Math.imul(rotl((lane[i] + Math.imul(dv.getUint32(at + 4 * i, true), 0x7feb352d)) >>> 0, 13), 0x9e3779b9) >>> 0;
  }
  let x = bytes.length >>> 0;
  for (let i = 0; i < 16; i++) x = (x + rotl(lane[i], i)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

t.test("the CBH-32 oracle agrees with the core", async (t) => {
  for (const seed of [0, 3, 1500, 2 ** 32 + 7]) {
    const bytes = new Uint8Array(512).map((_, i) => (i * 37 + seed) & 0xff);
    t.equal(cbh32(bytes, seed).toString(16).padStart(8, "0"), core.checkOf(bytes, seed).slice(8), `seed ${seed}`);
  }
});

interface Case {
  fixture: string;
  bytes: Uint8Array;
  ss: number;
  g: FatTables["geometry"];
  spc: number;
  file: { path: string; clusters: number[] };
  dir: { path: string; cluster: number };
  /** The cluster of the file hit, and an LBA in it (its last sector). */
  cluster: number;
  lba: number;
  imageSectors: number;
}

function load(fixture: string): Case {
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, fixture)));
  const ss = bytes[11] | (bytes[12] << 8);
  const dev = new RamDevice(ss, bytes, fixture);
  const reader = new FatReader(dev, core);
  const g = reader.tables.geometry;
  const spc = g.clusterBytes / ss;
  const files: Array<{ path: string; clusters: number[] }> = [];
  let dir = { path: "", cluster: 0 };
  reader.walk((e) => {
    if (e.isDirectory && !dir.path && e.firstCluster >= 2) dir = { path: e.path, cluster: e.firstCluster };
    if (e.isDirectory || e.firstCluster < 2) return;
    const clusters = reader
      .chainRuns(e.firstCluster)
      .flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i));
    files.push({ path: e.path, clusters });
  });
  const file = files.reduce((a, b) => (b.clusters.length > a.clusters.length ? b : a));
  const cluster = file.clusters[Math.floor(file.clusters.length / 2)];
  const lba = g.firstDataSector + (cluster - 2) * spc + spc - 1;
  const imageSectors = volumeInfo(core, dev).imageBytes / 512;
  return { fixture, bytes, ss, g, spc, file, dir, cluster, lba, imageSectors };
}

/** The source behind a fault device, with a bad read sector at `bad` (none when undefined). */
function faultySource(c: Case, bad?: number): FaultDevice {
  return new FaultDevice(new RamDevice(c.ss, c.bytes, c.fixture), {
    badReadSectors: new Set(bad === undefined ? [] : [bad]),
  });
}

/** Where cluster `cluster` and its ClusterChecks entry are in an image (section 5). */
function locate(image: Uint8Array, cluster: number): { data: Uint8Array; check: number } {
  const h = new DataView(image.buffer, image.byteOffset, 512);
  const u64 = (o: number) => Number(h.getBigUint64(o, true));
  const cb = h.getUint32(104, true),
    perBlock = h.getUint32(172, true),
    imageClusters = u64(88);
  let rank = 0;
  for (let bit = 0; bit < cluster; bit++) if (image[512 + (bit >> 3)] & (1 << (bit & 7))) rank++;
  const tableBytes = (n: number) => Math.ceil((32 + 4 * n + 8) / 512) * 512;
  const k = Math.floor(rank / perBlock),
    i = rank % perBlock;
  const n = Math.min(perBlock, imageClusters - k * perBlock);
  const block = u64(216) + k * (perBlock * cb + tableBytes(perBlock));
  const data = image.subarray(block + i * cb, block + (i + 1) * cb);
  const check = new DataView(image.buffer, image.byteOffset + block + n * cb + 32 + 4 * i, 4).getUint32(0, true);
  return { data, check };
}

/** "ok", or the error's name and message. */
function attempt(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

function runJob(begin: () => number): void {
  core.check(begin());
  core.run();
}

function restoreTo(image: BlockDevice, target: BlockDevice): void {
  const hi = core.attach(image),
    ht = core.attach(target);
  try {
    runJob(() =>
      core.exports.restoreBegin(
        hi,
        image.sectorCount,
        ht,
        target.sectorSize,
        target.sectorCount,
        RESTORE_READ_BACK_FULL,
      ),
    );
  } finally {
    core.detach(hi);
    core.detach(ht);
  }
}

function verifyImage(image: BlockDevice): void {
  const hi = core.attach(image);
  try {
    runJob(() => core.exports.verifyBegin(hi, image.sectorCount, NO_DEVICE, 0, 0));
  } finally {
    core.detach(hi);
  }
}

for (const fixture of ["fat16-2k.img.gz", "fat16-4kn.img.gz", "fat32-512.img.gz"]) {
  const c = load(fixture);
  const where = `${fixture}: cluster ${c.cluster} (LBA ${c.lba}) of ${c.file.path}`;

  t.test(`${fixture}: clusterOwners and sectorOwners name files, directories and the system area`, async (t) => {
    const src = new RamDevice(c.ss, c.bytes, fixture);
    const tables = new FatTables(src, core);
    const fat = tables.entries(0, 0, Math.min(65536, tables.entryCount));
    const free = fat.findIndex((e, i) => i >= 2 && e === 0);
    const asked = [c.file.clusters[0], c.cluster, c.file.clusters[c.file.clusters.length - 1], c.dir.cluster, free];
    t.same(clusterOwners(core, src, asked), [
      { cluster: asked[0], path: c.file.path },
      { cluster: asked[1], path: c.file.path },
      { cluster: asked[2], path: c.file.path },
      { cluster: c.dir.cluster, path: c.dir.path },
      { cluster: free, path: null },
    ]);
    const rootOwned = c.g.fsType === 3 ? [{ lba: c.g.firstDataSector, cluster: 2, path: "\\" }] : [];
    t.same(
      sectorOwners(core, src, [0, c.g.firstDataSector - 1, c.lba, ...rootOwned.map((r) => r.lba)]),
      [
        { lba: 0, cluster: null, path: METADATA },
        { lba: c.g.firstDataSector - 1, cluster: null, path: METADATA },
        { lba: c.lba, cluster: c.cluster, path: c.file.path },
        ...rootOwned,
      ],
      "FAT32: the root directory's cluster belongs to \\",
    );
  });

  t.test(`${where}: without record mode the backup fails, naming the file`, async (t) => {
    const image = new RamDevice(512, c.imageSectors, "image");
    const e = caught(() => backupToDevice(core, faultySource(c, c.lba), image)) as SourceReadError;
    t.ok(e instanceof SourceReadError && e instanceof DeviceError, `${e.name}: ${e.message}`);
    t.equal(e.code, DeviceCode.io);
    t.equal(
      e.message,
      `read error at LBA ${c.lba} (cluster ${c.cluster}) of ${fixture}: cluster ${c.cluster} belongs to ${c.file.path}`,
    );
    t.equal(e.lba, c.lba);
    t.same(e.owners, [{ cluster: c.cluster, path: c.file.path }]);
    t.ok(e.cause instanceof BadSectorError, "the device's own error is kept as the cause");
    // the core alone fails as it always did: with the device's error
    const hs = core.attach(faultySource(c, c.lba)),
      hi = core.attach(image);
    try {
      core.setParams();
      const raw = caught(() => runJob(() => core.exports.backupBegin(hs, c.ss, c.bytes.length / c.ss, hi, 0, 0, 0)));
      t.ok(raw instanceof BadSectorError, `the plain backupBegin fails with the device's error: ${raw.message}`);
    } finally {
      core.detach(hs);
      core.detach(hi);
    }
  });

  t.test(`${where}: a device that does not say which sector is narrowed down to it`, async (t) => {
    const faulty = faultySource(c, c.lba);
    // a device like a file: the error names only the request's first LBA
    const opaque: BlockDevice = {
      sectorSize: c.ss,
      sectorCount: faulty.sectorCount,
      name: fixture,
      read: (lba, n, dst, off) => {
        try {
          faulty.read(lba, n, dst, off);
        } catch (_e) {
          throw new DeviceError(DeviceCode.io, `${fixture}: read error at LBA ${lba}: EIO`);
        }
      },
      write: () => {
        throw new Error("not written");
      },
      flush: () => undefined,
      close: () => undefined,
    };
    const e = caught(() => backupToDevice(core, opaque, new RamDevice(512, c.imageSectors))) as SourceReadError;
    t.equal(e.name, "SourceReadError");
    t.equal(
      e.message,
      `read error at LBA ${c.lba} (cluster ${c.cluster}) of ${fixture}: cluster ${c.cluster} belongs to ${c.file.path}`,
    );
    // and described without narrowing: the request's clusters and their owners
    const first = c.file.clusters[0];
    const firstLba = c.g.firstDataSector + (first - 2) * c.spc;
    const msg = describeReadError(core, opaque, {
      lba: firstLba,
      sectorCount: 2 * c.spc,
      error: new DeviceError(DeviceCode.io, "x"),
    });
    t.match(
      msg,
      `read error at LBA ${firstLba}..${firstLba + 2 * c.spc - 1} (clusters ${first}..${first + 1}) of ${fixture}: `,
    );
    t.match(msg, c.file.path);
  });

  t.test(`${fixture}: a read error in the FAT is named as metadata`, async (t) => {
    const bad = c.g.reservedSectors + 1;
    const e = caught(() => backupToDevice(core, faultySource(c, bad), new RamDevice(512, c.imageSectors)));
    t.equal(e.name, "SourceReadError");
    t.equal(e.message, `read error at LBA ${bad} of ${fixture}: ${METADATA} in FAT copy 1`);
  });

  t.test(`${where}: in record mode the backup stores zeros with the unreadable mark`, async (t) => {
    const imageDev = new RamDevice(512, c.imageSectors, "image");
    const r = backupToDevice(core, faultySource(c, c.lba), imageDev, { unreadable: "record", name: "bad" });
    t.equal(r.unreadable.count, 1, "one cluster recorded unreadable");
    t.same(r.unreadable.listed, [{ cluster: c.cluster, path: c.file.path }]);
    t.same(r.notices, [
      `1 cluster of ${fixture} could not be read: stored as zeros, marked unreadable (cluster ${c.cluster} belongs to ${c.file.path})`,
    ]);
    const img = imageDev.bytes;
    const h = new DataView(img.buffer, img.byteOffset, 512);
    t.equal(h.getUint16(14, true), 2, "VersionMinor 2 (this build writes format 1.2)");
    t.equal(h.getUint32(176, true) & 2, 2, "header Flags bit 1");
    const hit = locate(img, c.cluster);
    t.ok(
      hit.data.every((b) => b === 0),
      "the unreadable cluster's bytes are zeros",
    );
    t.equal(
      hit.check,
      ~cbh32(new Uint8Array(c.g.clusterBytes), c.cluster) >>> 0,
      "its check is NOT CBH-32(zeros, cluster)",
    );
    for (const other of c.file.clusters.filter((x) => x !== c.cluster)) {
      const o = locate(img, other);
      const at = (c.g.firstDataSector + (other - 2) * c.spc) * c.ss;
      if (
        Buffer.compare(Buffer.from(o.data), Buffer.from(c.bytes.subarray(at, at + c.g.clusterBytes))) !== 0 ||
        o.check !== cbh32(o.data, other)
      ) {
        t.fail(`cluster ${other} of ${c.file.path} is not stored exactly`);
      }
    }
    t.pass("every other cluster of the file is stored exactly, with its own check");

    const todo = {};
    const verified = attempt(() => verifyImage(imageDev));
    t.equal(verified, "ok", "verify accepts the image (the cluster is a notice, not a failure)", todo);
    const target = new RamDevice(c.ss, c.bytes.length / c.ss, "target");
    const at = (c.g.firstDataSector + (c.cluster - 2) * c.spc) * c.ss;
    target.bytes.fill(0xa5, at, at + c.g.clusterBytes); // what a restore that skipped the cluster would leave
    const restored = attempt(() => restoreTo(imageDev, target));
    t.equal(restored, "ok", "restore accepts the image", todo);
    t.equal(core.results()[70], 1, "the restore counts the cluster recorded unreadable");
    t.equal(core.results()[71], c.cluster, "and names it");
    t.ok(
      target.bytes.subarray(at, at + c.g.clusterBytes).every((b) => b === 0),
      "restore writes zeros for the unreadable cluster",
      todo,
    );
    let differing = 0;
    for (const [from, to] of mustMatch(core, c.bytes, c.ss)) {
      if (from === at) continue;
      if (Buffer.compare(Buffer.from(target.bytes.subarray(from, to)), Buffer.from(c.bytes.subarray(from, to))) !== 0)
        differing++;
    }
    t.equal(differing, 0, "restore writes the system area and every other allocated cluster exactly", todo);
  });

  t.test(`${fixture}: record mode lists every unreadable cluster; errors other than I/O still fail`, async (t) => {
    const i = c.file.clusters.findIndex((x, k) => c.file.clusters[k + 1] === x + 1);
    const pair = [c.file.clusters[i], c.file.clusters[i + 1]];
    const lbas = pair.map((x) => c.g.firstDataSector + (x - 2) * c.spc);
    const source = faultySource(c);
    lbas.forEach((lba) => source.badReadSectors.add(lba));
    const r = backupToDevice(core, source, new RamDevice(512, c.imageSectors), { unreadable: "record" });
    t.equal(r.unreadable.count, 2);
    t.match(
      r.notices[0],
      `2 clusters of ${fixture} could not be read: stored as zeros, marked unreadable (clusters ${pair[0]}..${pair[1]} belong to ${c.file.path})`,
    );
    // a short read is not a bad sector: record mode does not hide it
    const short: BlockDevice = {
      sectorSize: c.ss,
      sectorCount: source.sectorCount,
      name: fixture,
      read: (lba, n, dst, off) => {
        if (lba <= c.lba && c.lba < lba + n)
          throw new DeviceError(DeviceCode.short, `${fixture}: short read at LBA ${lba}`);
        source.inner.read(lba, n, dst, off);
      },
      write: () => {
        throw new Error("not written");
      },
      flush: () => undefined,
      close: () => undefined,
    };
    const e = caught(() => backupToDevice(core, short, new RamDevice(512, c.imageSectors), { unreadable: "record" }));
    t.match(
      e,
      { name: "DeviceError", code: DeviceCode.short },
      `a SHORT device result fails the backup in record mode too: ${e.message}`,
    );
  });

  t.test(`${fixture}: record mode on a healthy volume sets the flag and records nothing`, async (t) => {
    const imageDev = new RamDevice(512, c.imageSectors, "image");
    const r = backupToDevice(core, faultySource(c), imageDev, { unreadable: "record" });
    t.equal(r.unreadable.count, 0);
    t.same(r.notices, []);
    t.equal(
      new DataView(imageDev.bytes.buffer).getUint32(176, true) & 2,
      2,
      "Flags bit 1 says the mode, not that a cluster was lost",
    );
    verifyImage(imageDev);
    t.pass("the image verifies");
  });

  t.test(`${where}: a write error on the target stops the restore at that write`, async (t) => {
    const imageDev = new RamDevice(512, c.imageSectors, "image");
    backupToDevice(core, faultySource(c), imageDev);
    const medium = new RamDevice(c.ss, new Uint8Array(c.bytes.length).fill(0xa5), "target");
    const target = new FaultDevice(medium, { logWrites: true, badWriteSectors: new Set([c.lba]) });
    const e = caught(() => restoreTo(imageDev, target)) as BadSectorError;
    t.ok(e instanceof DeviceError, `${e.name}: ${e.message}`);
    t.equal(e.code, DeviceCode.io);
    t.match(e.message, `target: write error at LBA ${c.lba}`);
    const log = target.writeLog;
    const last = log[log.length - 1];
    t.equal(last.outcome, "failed", "the failed write is the last one the target saw: nothing was written after it");
    t.ok(last.lba <= c.lba && c.lba < last.lba + last.sectorCount, "it is the write holding the bad sector");
    t.same(
      log.slice(0, -1).filter((w) => w.outcome !== "written"),
      [],
      "every write before it went through",
    );
    t.ok(
      medium.bytes.subarray(last.lba * c.ss, (last.lba + last.sectorCount) * c.ss).every((b) => b === 0xa5),
      "nothing of the failed write reached the medium",
    );
    t.equal(target.counters.writes, log.length - 1);
  });
}

t.test("describeOwners groups neighbours with the same owner", async (t) => {
  t.equal(
    describeOwners([
      { cluster: 5, path: "\\A" },
      { cluster: 6, path: "\\A" },
      { cluster: 7, path: null },
      { cluster: 9, path: "\\A" },
      { cluster: 10, path: null },
      { cluster: 11, path: null },
    ]),
    "clusters 5..6 belong to \\A; cluster 7 is in no file; cluster 9 belongs to \\A; clusters 10..11 are in no file",
  );
});
