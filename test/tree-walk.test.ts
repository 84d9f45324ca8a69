// Issue 18, exFAT: the backup walks the directory tree in the core (as-core/assembly/exfat/
// walk.ts) and keeps every cluster the tree reaches that the allocation bitmap marks free. The
// committed fixtures (mkfs.exfat + the simulator's writer, test/fixtures/exfat/make.sh) are
// damaged here the way the issue found them: the bit of the root directory's cluster, of a
// subdirectory's, of a file's data cleared. Each backup then says what it kept, by name, and the
// restore brings those clusters back byte for byte (with the tools: fsck.exfat -n clean). Hostile
// trees (a directory that contains itself, chains out of the heap, random bytes) end in notices,
// never in a trap or a hang.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { ClusterbackError } from "../firmware-module/src/ops/errors";
import { type ExfatFile, ExfatTree } from "../firmware-module/src/ops/exfat-dir";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import { walkTree } from "../firmware-module/src/ops/tree-walk";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { RamDevice } from "../host-shim/src/native/devices";
import { readExfatGeometry } from "../simulator/src/exfat-writer";
import { fixtures, fixtureDir as volumesDir } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-walk-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const fixtureDir = path.join(__dirname, "fixtures", "exfat");
const hasFsck = spawnSync("sh", ["-c", "command -v fsck.exfat"]).status === 0;
let serial = 0;

function fixture(name: string): Uint8Array {
  return new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, name))));
}

/** The root directory's entries that matter here: the bitmap's first cluster, and each file entry set's stream. */
function rootEntries(b: Uint8Array) {
  const g = readExfatGeometry(b);
  const at = (c: number) => (g.clusterHeapOffset + (c - 2) * g.sectorsPerCluster) * g.bytesPerSector;
  const v = new DataView(b.buffer, b.byteOffset);
  const root = at(g.rootCluster);
  let bitmap = 0;
  const streams: Array<{ directory: boolean; stream: number; first: number; length: number }> = [];
  for (let i = 0; i < g.clusterBytes; i += 32) {
    const type = b[root + i];
    if (type === 0) break;
    if (type === 0x81) bitmap = v.getUint32(root + i + 20, true);
    if (type === 0x85 && b[root + i + 32] === 0xc0)
      streams.push({
        directory: (v.getUint16(root + i + 4, true) & 0x10) !== 0,
        stream: root + i + 32,
        first: v.getUint32(root + i + 32 + 20, true),
        length: Number(v.getBigUint64(root + i + 32 + 24, true)),
      });
  }
  return { g, at, bitmap, streams };
}

/** Clears cluster c's bit in the allocation bitmap (as a damaged volume has it). */
function clearBit(b: Uint8Array, c: number): void {
  const { at, bitmap } = rootEntries(b);
  const byte = at(bitmap) + ((c - 2) >> 3);
  b[byte] &= ~(1 << ((c - 2) & 7));
}

function file(bytes: Uint8Array, name: string): string {
  const f = path.join(tmp, `${serial++}-${name}`);
  fs.writeFileSync(f, bytes);
  return f;
}

function walk(bytes: Uint8Array) {
  const dev = new RamDevice(512, bytes); // (the walk only reads)
  const h = core.attach(dev);
  try {
    return walkTree(core, h, dev, 0);
  } finally {
    core.detach(h);
  }
}

/**
 * WALK_FUZZ_CASES (default 100,000) walks of `src` with 1 to `maxFlips` random bytes changed, each
 * at the offset `where` draws (xorshift from `seed`): every walk ends with a result or a named
 * error (ClusterbackError), never a trap or another exception.
 */
function fuzzWalk(
  t: Tap.Test,
  src: Uint8Array,
  seed: number,
  maxFlips: number,
  what: string,
  where: (rnd: () => number) => number,
): void {
  let x = seed;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const cases = Number(process.env.WALK_FUZZ_CASES || 100000);
  let results = 0,
    errors = 0;
  const b = Uint8Array.from(src);
  const t0 = performance.now();
  for (let k = 0; k < cases; k++) {
    const undo: Array<[number, number]> = [];
    for (let i = 1 + Math.floor(rnd() * maxFlips); i > 0; i--) {
      const at = where(rnd);
      undo.push([at, b[at]]);
      b[at] = Math.floor(rnd() * 256);
    }
    try {
      walk(b);
      results++;
    } catch (err) {
      if (!(err instanceof ClusterbackError)) throw err; // a trap or a bug, not a named error
      errors++;
    }
    for (const [at, old] of undo.reverse()) b[at] = old;
  }
  t.equal(
    results + errors,
    cases,
    `${cases} damaged ${what}: ${results} walked, ${errors} refused by name, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

function fsckClean(f: string): { ok: boolean; out: string } {
  const r = spawnSync("fsck.exfat", ["-n", f], { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

for (const name of ["exfat-4k.img.gz", "exfat-512.img.gz", "exfat-32k.img.gz"]) {
  t.test(`${name}: an intact tree keeps nothing; every directory and file is walked`, async (t) => {
    const b = fixture(name);
    const w = walk(b);
    t.equal(w.keptClusters, 0, "nothing reached is marked free");
    t.same(w.notices, [], "no notice");
    // make.sh's volumes: 4 directories (the root included) and 16 files, as fsck.exfat counts them,
    // and the allocation bitmap and up-case table besides
    t.equal(w.directories, 4, "4 directories");
    t.equal(w.files, 16 + 2, "16 files, the bitmap and the up-case table");
    if (hasFsck) t.match(fsckClean(file(b, "intact.img")).out, /directories 4, files 16/, "fsck.exfat counts the same");
  });

  for (const damage of ["root directory", "directory", "file"] as const) {
    t.test(`${name}: the ${damage}'s cluster marked free is kept, named, and restored`, async (t) => {
      const src = fixture(name);
      const e = rootEntries(src);
      const cluster =
        damage === "root directory"
          ? e.g.rootCluster
          : e.streams.find((s) => s.directory === (damage === "directory") && s.first >= 2 && s.length > 0)!.first;
      const damaged = Uint8Array.from(src);
      clearBit(damaged, cluster);
      const intactImage = file(new Uint8Array(0), "intact.cbi");
      fs.rmSync(intactImage);
      const intact = api.backup(core, file(src, "src.img"), { image: intactImage });
      const image = path.join(tmp, `${serial++}-damaged.cbi`);
      const damagedFile = file(damaged, "damaged.img");
      const r = api.backup(core, damagedFile, { image });
      t.equal(r.imageClusters, intact.imageClusters, "the image holds every cluster the intact volume's does");
      t.match(
        r.notices.join("\n"),
        new RegExp(
          `1 cluster that the directory tree reaches is marked free in the allocation bitmap: ${damage} at cluster ${cluster};.*fsck\\.exfat`,
        ),
        "the backup names what it kept and what to run",
      );
      t.match(
        api.info(core, damagedFile).volume?.notices.join("\n") ?? "",
        new RegExp(`${damage} at cluster ${cluster}; a backup copies it all the same`),
        "info reports it too",
      );
      const target = file(new Uint8Array(src.length), "target.img");
      t.equal(api.restore(core, image, target).verified, true, "the restore's verify walks the restored tree too");
      const out = fs.readFileSync(target);
      const at = e.at(cluster);
      t.ok(
        Buffer.from(out.subarray(at, at + e.g.clusterBytes)).equals(src.subarray(at, at + e.g.clusterBytes)),
        `cluster ${cluster} is back, byte for byte`,
      );
      t.equal(api.verify(core, image, { against: target }).ok, true, "verify --against agrees");
      if (hasFsck) {
        // the restored volume is the damaged source, the kept cluster included: fsck.exfat finds
        // the same (the bitmap's error, nothing lost), and repairs it the same
        const said = (f: string) => fsckClean(f).out.split(f).join("VOLUME");
        const source = file(damaged, "source.img");
        t.equal(said(target), said(source), `fsck.exfat -n says of the restored volume what it says of the source`);
        for (const f of [target, source]) spawnSync("fsck.exfat", ["-y", f], { encoding: "utf8" });
        const repaired = fsckClean(target);
        t.ok(repaired.ok, `after fsck.exfat -y, the restored volume is clean: ${repaired.out.split("\n").at(-1)}`);
        t.ok(fs.readFileSync(target).equals(fs.readFileSync(source)), "and equals the source repaired the same way");
      }
    });
  }
}

t.test("hostile trees end in notices: a directory that holds itself, chains out of the heap", async (t) => {
  const src = fixture("exfat-4k.img.gz");
  const e = rootEntries(src);
  const dir = e.streams.find((s) => s.directory)!;
  // the subdirectory's stream points at the root: the tree loops
  const loop = Uint8Array.from(src);
  new DataView(loop.buffer).setUint32(dir.stream + 20, e.g.rootCluster, true);
  const w = walk(loop);
  t.match(w.notices.join("\n"), /directories were not walked \(deeper than the walk goes, or the tree loops\)/);
  // a file whose first cluster is past the heap
  const out = Uint8Array.from(src);
  const f = e.streams.find((s) => !s.directory)!;
  new DataView(out.buffer).setUint32(f.stream + 20, 0xfffffff0, true);
  t.match(walk(out).notices.join("\n"), /1 chains or extents leave the cluster heap/);
});

for (const name of ["exfat-4k.img.gz", "exfat-512.img.gz"])
  t.test(`${name}: two files cross-linked are named, copied once, and restored as the volume holds them`, async (t) => {
    const src = fixture(name);
    const e = rootEntries(src);
    const files: ExfatFile[] = [];
    new ExfatTree(new RamDevice(512, Uint8Array.from(src))).walk((f) => {
      if (!f.directory && f.firstCluster >= 2 && f.length > 0) files.push(f);
    });
    const [a, b] = files.map((f) => ({ first: f.firstCluster, length: f.length, stream: f.entryOffsets[1] }));
    // file b's stream points at file a's first cluster (its length kept): the clusters a and b share
    const damaged = Uint8Array.from(src);
    new DataView(damaged.buffer).setUint32(b.stream + 20, a.first, true);
    // (the entry set's checksum is left stale: fsck.exfat's complaint is not what is under test)
    const w = walk(damaged);
    const shared = Math.min(Math.ceil(a.length / e.g.clusterBytes), Math.ceil(b.length / e.g.clusterBytes));
    t.equal(w.crossLinked, shared, `${shared} clusters reached twice`);
    t.equal(w.crossListed[0]?.firstCluster, a.first, "the run starts at the first file's first cluster");
    t.equal(w.crossListed[0]?.kind, "file", "named as a file");
    t.equal(w.crossUnchecked, 0, "the whole volume was checked");
    const image = path.join(tmp, `${serial++}-cross.cbi`);
    const source = file(damaged, "cross.img");
    const r = api.backup(core, source, { image });
    t.match(
      r.notices.join("\n"),
      new RegExp(`${shared} clusters? (is|are) cross-linked .*: file at cluster ${a.first}.*fsck\\.exfat`),
      "the backup names the cross-link and what to run",
    );
    t.match(api.info(core, source).volume?.notices.join("\n") ?? "", /cross-linked/, "info reports it too");
    const target = file(new Uint8Array(damaged.length), "cross-target.img");
    t.equal(api.restore(core, image, target).verified, true, "restored and verified");
    const again = walk(fs.readFileSync(target));
    t.equal(again.crossLinked, shared, "the restored volume holds the same cross-link, nothing else lost");
    t.equal(again.keptClusters, 0, "and nothing reached is marked free");
  });

t.test(
  "random bytes in the directories and the FAT: the walk always ends, with a result or a named error",
  async (t) => {
    const src = fixture("exfat-4k.img.gz");
    const e = rootEntries(src);
    const dirs = [e.g.rootCluster, ...e.streams.filter((s) => s.directory).map((s) => s.first)];
    const fat = e.g.fatOffset * e.g.bytesPerSector;
    fuzzWalk(t, src, 0x9e3779b9, 16, "trees", (rnd) => {
      const inFat = rnd() < 0.3;
      const base = inFat ? fat : e.at(dirs[Math.floor(rnd() * dirs.length)]);
      return base + Math.floor(rnd() * (inFat ? 64 * 4 : e.g.clusterBytes));
    });
  },
);

// ---- NTFS: every MFT record in use against $Bitmap ----------------------------------------------

/** Boot-sector figures, MFT records (update sequence applied) and non-resident runs, read here independently of the core. */
function ntfsOf(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset);
  const bps = v.getUint16(11, true),
    cb = bps * b[13];
  const mft = Number(v.getBigInt64(0x30, true)),
    cpr = v.getInt8(0x40);
  const rb = cpr > 0 ? cpr * cb : 2 ** -cpr;
  const record = (n: number): Uint8Array | undefined => {
    const r = Uint8Array.from(b.subarray(mft * cb + n * rb, mft * cb + (n + 1) * rb));
    const rv = new DataView(r.buffer);
    if (rv.getUint32(0, true) !== 0x454c4946 || (rv.getUint16(22, true) & 1) === 0) return undefined;
    const usa = rv.getUint16(4, true),
      count = rv.getUint16(6, true);
    for (let i = 1; i < count; i++) r.set(r.subarray(usa + 2 * i, usa + 2 * i + 2), i * 512 - 2);
    return r;
  };
  const runs = (r: Uint8Array, type: number): Array<[number, number]> => {
    const rv = new DataView(r.buffer);
    for (let off = rv.getUint16(20, true); rv.getUint32(off, true) !== 0xffffffff; off += rv.getUint32(off + 4, true)) {
      if (rv.getUint32(off, true) !== type || r[off + 8] === 0) continue; // (the root's index is named $I30)
      const out: Array<[number, number]> = [];
      let lcn = 0;
      for (let q = off + rv.getUint16(off + 32, true); r[q] !== 0; ) {
        const lb = r[q] & 15,
          ob = r[q] >> 4;
        let length = 0,
          delta = 0;
        for (let i = 0; i < lb; i++) length += r[q + 1 + i] * 256 ** i;
        for (let i = 0; i < ob; i++) delta += r[q + 1 + lb + i] * 256 ** i;
        if (ob > 0 && r[q + lb + ob] >= 0x80) delta -= 256 ** ob;
        lcn += delta;
        if (ob > 0) out.push([lcn, length]);
        q += 1 + lb + ob;
      }
      return out;
    }
    return [];
  };
  /** Clears cluster c's bit in $Bitmap. */
  const clear = (c: number) => {
    let vc = Math.floor(c / 8 / cb);
    for (const [lcn, n] of runs(record(6)!, 0x80)) {
      if (vc < n) {
        b[(lcn + vc) * cb + (Math.floor(c / 8) % cb)] &= ~(1 << (c % 8));
        return;
      }
      vc -= n;
    }
    throw new Error(`cluster ${c} is past $Bitmap`);
  };
  return { cb, rb, record, runs, clear };
}

const hasNtfs3g =
  spawnSync("sh", ["-c", "command -v ntfsls && command -v ntfscat && command -v ntfsresize"]).status === 0;

/** Every file ntfsls lists in the root, with ntfscat's bytes of it. */
function ntfsFiles(f: string): Map<string, string> {
  const out = new Map<string, string>();
  const names = spawnSync("ntfsls", ["-f", f], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  for (const name of names) {
    const cat = spawnSync("ntfscat", ["-f", f, name]);
    out.set(
      name,
      cat.status === 0
        ? require("node:crypto").createHash("sha256").update(cat.stdout).digest("hex")
        : `unreadable (${cat.status})`,
    );
  }
  return out;
}

for (const name of ["ntfs-4k.img.gz", "ntfs-512.img.gz"]) {
  t.test(`${name}: an intact volume keeps nothing`, async (t) => {
    const w = walk(new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", name)))));
    t.equal(w.keptClusters, 0, "every run of every record in use is marked in $Bitmap");
    t.same(w.notices, []);
    t.ok(w.files > 16, `${w.files} files and ${w.directories} directories walked`);
  });

  const cases: Array<[string, number, number, RegExp]> = [
    ["the root directory's index block", 5, 0xa0, /root directory \(MFT record 5\)/],
    ["$MFT's own first cluster", 0, 0x80, /system file \(MFT record 0\)/],
  ];
  for (const [what, rec, type, named] of cases)
    t.test(`${name}: ${what} marked free in $Bitmap is kept, named, and restored`, async (t) => {
      const src = new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", name))));
      const n = ntfsOf(src);
      const [[cluster]] = n.runs(n.record(rec)!, type);
      const damaged = Uint8Array.from(src);
      ntfsOf(damaged).clear(cluster);
      const image = path.join(tmp, `${serial++}-ntfs.cbi`);
      const source = file(damaged, "ntfs-damaged.img");
      const r = api.backup(core, source, { image });
      t.match(r.notices.join("\n"), named, "the backup names what it kept");
      t.match(api.info(core, source).volume?.notices.join("\n") ?? "", named, "info reports it too");
      t.match(r.notices.join("\n"), new RegExp(`at cluster ${cluster}.*chkdsk`), "its cluster, and what to run");
      const target = file(new Uint8Array(src.length), "ntfs-target.img");
      api.restore(core, image, target);
      const out = fs.readFileSync(target);
      t.ok(
        Buffer.from(out.subarray(cluster * n.cb, (cluster + 1) * n.cb)).equals(
          src.subarray(cluster * n.cb, (cluster + 1) * n.cb),
        ),
        `cluster ${cluster} is back, byte for byte`,
      );
      if (hasNtfs3g) {
        const before = ntfsFiles(source),
          after = ntfsFiles(target);
        t.ok(before.size >= 8, `ntfsls lists ${before.size} names in the damaged source's root`);
        t.same(
          [...after],
          [...before],
          "every name ntfsls lists, with ntfscat's bytes, is the same on the restored volume",
        );
        const resize = (f: string) => spawnSync("ntfsresize", ["-i", "-f", "-n", f], { encoding: "utf8" });
        t.equal(
          resize(target).status,
          resize(source).status,
          "ntfsresize -i -f judges the restored volume as the source",
        );
      }
    });
}

for (const name of ["ntfs-4k.img.gz", "ntfs-512.img.gz"])
  t.test(`${name}: $MFTMirr's run pointed at $MFT's clusters is named as cross-linked`, async (t) => {
    const src = new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", name))));
    const n = ntfsOf(src);
    const v = new DataView(src.buffer);
    const mftAt = Number(v.getBigInt64(0x30, true)) * n.cb;
    const [[mftLcn, mftLength]] = n.runs(n.record(0)!, 0x80);
    const [[mirrLcn, mirrLength]] = n.runs(n.record(1)!, 0x80);
    // record 1's first mapping pair: its LCN field rewritten in place to $MFT's first cluster
    const r1 = n.record(1)!;
    const rv = new DataView(r1.buffer);
    let off = rv.getUint16(20, true);
    while (rv.getUint32(off, true) !== 0x80) off += rv.getUint32(off + 4, true);
    const q = off + rv.getUint16(off + 32, true);
    const lb = r1[q] & 15,
      ob = r1[q] >> 4;
    t.ok(mftLcn < 2 ** (8 * ob - 1), `$MFT's cluster ${mftLcn} fits the pair's ${ob} offset bytes`);
    const damaged = Uint8Array.from(src);
    for (let i = 0; i < ob; i++) {
      const at = q + 1 + lb + i;
      t.not(at % 512, 510, "not under the update sequence");
      damaged[mftAt + n.rb + at] = Math.floor(mftLcn / 256 ** i) & 255;
    }
    t.same(
      ntfsOf(damaged).runs(ntfsOf(damaged).record(1)!, 0x80)[0],
      [mftLcn, mirrLength],
      "the mirror now points at $MFT",
    );
    t.not(mirrLcn, mftLcn);
    const w = walk(damaged);
    t.equal(w.crossLinked, Math.min(mftLength, mirrLength), "the clusters both reach");
    t.match(
      w.notices.join("\n"),
      new RegExp(`cross-linked .*: system file \\(MFT record 1\\) at cluster ${mftLcn}.*chkdsk`),
      "named by the record that reached them the second time",
    );
    const image = path.join(tmp, `${serial++}-ntfs-cross.cbi`);
    const intact = api.backup(core, file(src, "ntfs-intact.img"), { image: `${image}.intact` });
    const r = api.backup(core, file(damaged, "ntfs-cross.img"), { image });
    t.equal(r.imageClusters, intact.imageClusters, "every cluster $Bitmap marks is in the image all the same");
    t.match(r.notices.join("\n"), /cross-linked/, "the backup says it");
  });

t.test("NTFS: random bytes in the MFT records: the walk always ends, with a result or a named error", async (t) => {
  const src = new Uint8Array(
    zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", "ntfs-4k.img.gz"))),
  );
  const n = ntfsOf(src);
  const v = new DataView(src.buffer);
  const mftAt = Number(v.getBigInt64(0x30, true)) * n.cb;
  fuzzWalk(t, src, 0x2545f491, 8, "MFTs", (rnd) => mftAt + Math.floor(rnd() * 40) * n.rb + Math.floor(rnd() * n.rb));
});

// ---- FAT12/16/32: every chain the tree reaches against the FAT ----------------------------------

/** The BPB's figures, and FAT entries read and written in every copy (independently of the core). */
function fatOf(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset);
  const bps = v.getUint16(11, true),
    spc = b[13],
    reserved = v.getUint16(14, true),
    copies = b[16],
    rootEntries = v.getUint16(17, true);
  const fatSectors = v.getUint16(22, true) || v.getUint32(36, true);
  const total = v.getUint16(19, true) || v.getUint32(32, true);
  const firstData = reserved + copies * fatSectors + Math.ceil((rootEntries * 32) / bps);
  const clusters = Math.floor((total - firstData) / spc);
  const bits = clusters < 4085 ? 12 : clusters < 65525 && rootEntries > 0 ? 16 : 32;
  const fatAt = (copy: number) => (reserved + copy * fatSectors) * bps;
  const get = (n: number) => {
    const at = fatAt(0);
    if (bits === 32) return v.getUint32(at + 4 * n, true) & 0x0fffffff;
    if (bits === 16) return v.getUint16(at + 2 * n, true);
    const w = v.getUint16(at + n + (n >> 1), true);
    return n & 1 ? w >> 4 : w & 0xfff;
  };
  const set = (n: number, value: number) => {
    for (let copy = 0; copy < copies; copy++) {
      const at = fatAt(copy);
      if (bits === 32) v.setUint32(at + 4 * n, (v.getUint32(at + 4 * n, true) & 0xf0000000) | value, true);
      else if (bits === 16) v.setUint16(at + 2 * n, value, true);
      else {
        const w = v.getUint16(at + n + (n >> 1), true);
        v.setUint16(at + n + (n >> 1), n & 1 ? (w & 0x000f) | (value << 4) : (w & 0xf000) | value, true);
      }
    }
  };
  const clusterAt = (c: number) => (firstData + (c - 2) * spc) * bps;
  return { bps, cb: bps * spc, bits, fatAt, get, set, clusterAt, rootCluster: bits === 32 ? v.getUint32(44, true) : 0 };
}

const hasMtools = spawnSync("sh", ["-c", "command -v mdir && command -v mtype && command -v fsck.fat"]).status === 0;

/** What mtools reads of a FAT volume: the recursive listing, and each fixture file's bytes (or mtype's refusal). */
function mtoolsView(f: string, files: string[]): string[] {
  const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
  const run = (args: string[]) => {
    const r = spawnSync(args[0], args.slice(1), { env, maxBuffer: 1 << 26 });
    return `${r.status} ${require("node:crypto").createHash("sha256").update(r.stdout).digest("hex")}`;
  };
  return [
    spawnSync("mdir", ["-/", "-a", "-i", f, "::"], { env, encoding: "utf8" }).stdout.split(f).join("VOLUME"),
    ...files.map((name) => `${name}: ${run(["mtype", "-i", f, `::/${name}`])}`),
  ];
}

function fatFixture(name: string): { bytes: Uint8Array; files: string[] } {
  const fx = fixtures.find((f) => f.file === name)!;
  return {
    bytes: new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(volumesDir, name)))),
    files: Object.keys(fx.partitions[0].files),
  };
}

/** The first cluster and chain of a path, as the host's own FAT reader (not the core's walk) finds them. */
function fatChain(bytes: Uint8Array, p: string): { first: number; chain: number[]; directory: boolean } {
  const dev = new RamDevice(new DataView(bytes.buffer).getUint16(11, true), bytes);
  const e = new FatReader(dev, core).lookup(p)!;
  const f = fatOf(bytes);
  const chain = [e.firstCluster];
  for (
    let c = f.get(e.firstCluster);
    c >= 2 && c < 0xff7 + (f.bits === 12 ? 0 : f.bits === 16 ? 0xf000 : 0x0ffff000);
    c = f.get(c)
  )
    chain.push(c);
  return { first: e.firstCluster, chain, directory: e.isDirectory };
}

for (const name of ["fat12-floppy.img.gz", "fat16-2k.img.gz", "fat32-512.img.gz"]) {
  t.test(`${name}: an intact tree keeps nothing; the walk counts what the host's reader walks`, async (t) => {
    const { bytes } = fatFixture(name);
    const w = walk(bytes);
    t.equal(w.keptClusters, 0, "every cluster reached is in use in the FAT");
    t.same(w.notices, [], "no notice");
    const dev = new RamDevice(new DataView(bytes.buffer).getUint16(11, true), bytes);
    let dirs = 1,
      files = 0;
    new FatReader(dev, core).walk((e) => {
      if (e.isDirectory) dirs++;
      else files++;
    });
    t.equal(w.directories, dirs, `${dirs} directories, the root included`);
    t.equal(w.files, files, `${files} files`);
  });

  const damages: Array<[string, (b: Uint8Array) => number, RegExp]> = [
    [
      "a directory's cluster",
      (b) => {
        const d = fatChain(b, "Jobs");
        fatOf(b).set(d.first, 0); // the directory's first (only) cluster reads as free
        return d.first;
      },
      /directory at cluster (\d+)/,
    ],
    [
      "a file's first cluster",
      (b) => {
        const f = fatChain(b, "README.TXT");
        fatOf(b).set(f.first, 0);
        return f.first;
      },
      /file at cluster (\d+)/,
    ],
    [
      "the middle of a file's chain",
      (b) => {
        const f = fatChain(b, "Firmware/Fonts and Forms/Helvetica Bold Oblique.ttf");
        fatOf(b).set(f.chain[1], 0); // the second cluster is free: the chain ends there
        return f.chain[1];
      },
      /file at cluster (\d+)/,
    ],
  ];
  for (const [what, damage, named] of damages)
    t.test(`${name}: ${what} marked free in the FAT is kept, named, and restored`, async (t) => {
      const { bytes: src, files } = fatFixture(name);
      const damaged = Uint8Array.from(src);
      const cluster = damage(damaged);
      const f = fatOf(src);
      const image = path.join(tmp, `${serial++}-fat.cbi`);
      const source = file(damaged, "fat-damaged.img");
      const r = api.backup(core, source, { image });
      t.match(
        r.notices.join("\n"),
        new RegExp(
          `1 cluster that the directory tree reaches is marked free in the FAT: .*at cluster ${cluster};.*fsck\\.fat`,
        ),
        "the backup names what it kept and what to run",
      );
      t.equal(named.exec(r.notices.join("\n"))?.[1], String(cluster), "by what it is");
      t.match(
        api.info(core, source).volume?.notices.join("\n") ?? "",
        new RegExp(`at cluster ${cluster}; a backup copies it`),
      );
      const target = file(new Uint8Array(src.length), "fat-target.img");
      t.equal(api.restore(core, image, target).verified, true);
      const out = fs.readFileSync(target);
      const at = f.clusterAt(cluster);
      t.ok(
        Buffer.from(out.subarray(at, at + f.cb)).equals(src.subarray(at, at + f.cb)),
        `cluster ${cluster} is back, byte for byte`,
      );
      if (hasMtools) {
        t.same(
          mtoolsView(target, files),
          mtoolsView(source, files),
          "mdir -/ and mtype of every file read the same on the restored volume",
        );
        const fsck = (x: string) =>
          spawnSync("fsck.fat", ["-n", x], { encoding: "utf8" }).stdout.split(x).join("VOLUME");
        t.equal(fsck(target), fsck(source), "fsck.fat -n says of the restored volume what it says of the source");
      }
    });
}

t.test(
  "FAT: hostile trees end: a directory that holds its parent, a chain out of the volume, a chain that loops",
  async (t) => {
    const { bytes: src } = fatFixture("fat32-512.img.gz");
    const f = fatOf(src);
    const jobs = fatChain(src, "Jobs");
    // Jobs' first entry after "." and "..": points at the root directory's cluster
    const loop = Uint8Array.from(src);
    const entry = f.clusterAt(jobs.first) + 2 * 32;
    new DataView(loop.buffer).setUint16(entry + 26, f.rootCluster & 0xffff, true);
    new DataView(loop.buffer).setUint16(entry + 20, f.rootCluster >>> 16, true);
    loop[entry + 11] |= 0x10;
    const w = walk(loop);
    t.equal(w.keptClusters, 0, "the loop keeps nothing");
    t.ok(w.directories >= 2, `and ends (${w.directories} directories walked)`);
    // a file chain that loops back on itself, and one that leaves the volume
    const bad = Uint8Array.from(src);
    const fw = fatChain(bad, "Firmware/Fonts and Forms/Helvetica Bold Oblique.ttf");
    fatOf(bad).set(fw.chain[2], fw.chain[1]);
    const readme = fatChain(bad, "README.TXT");
    new DataView(bad.buffer).setUint16(f.clusterAt(fatChain(bad, "\\").first) + 26, 0xfff0, true);
    t.equal(
      walk(bad).keptClusters,
      0,
      `a loop and a chain out of the volume keep nothing (README.TXT at ${readme.first})`,
    );
  },
);

t.test(
  "FAT: random bytes in the directories and the FAT: the walk always ends, with a result or a named error",
  async (t) => {
    const { bytes: src } = fatFixture("fat32-512.img.gz");
    const f = fatOf(src);
    const dirs = ["\\", "Jobs", "Firmware", "Firmware/Fonts and Forms", "Settings.d"].map(
      (p) => fatChain(src, p).first,
    );
    fuzzWalk(t, src, 0x6c8e9cf5, 16, "FAT trees", (rnd) => {
      const inFat = rnd() < 0.3;
      const base = inFat ? f.fatAt(0) : f.clusterAt(dirs[Math.floor(rnd() * dirs.length)]);
      return base + Math.floor(rnd() * (inFat ? 1024 : f.cb));
    });
  },
);
