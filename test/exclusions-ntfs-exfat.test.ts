// Issue 18, item 3: --exclude on NTFS (and exFAT, below). NTFS leaves an excluded file out as it
// leaves out the page file (docs/image-format.md 11.1): allocated in $Bitmap and in its record,
// its size kept, its clusters not stored; after a restore it holds what the target held (zeros
// on a blank target). The fixture ntfs-tree (test/fixtures/ntfs/make.sh: mkntfs, then directories
// and files written through an ntfs-3g mount) has a spool directory; the oracles are ntfsls,
// ntfscat, ntfsfix -n and ntfsresize -i -f, where installed. Slips (a pattern that names nothing,
// the volume's own files) are refused before anything is written.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { RamDevice } from "../firmware-module/src/ops/devices";
import { ExfatTree } from "../firmware-module/src/ops/exfat-dir";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-excl2-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const has = (tools: string[]) => spawnSync("sh", ["-c", tools.map((x) => `command -v ${x}`).join(" && ")]).status === 0;
const hasNtfs3g = has(["ntfsls", "ntfscat", "ntfsfix", "ntfsresize"]);
const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
let serial = 0;

function unpackNtfs(name: string): string {
  const f = path.join(tmp, `${serial++}-${name.replace(/\.gz$/, "")}`);
  fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", name))));
  return f;
}

/** Every file under `dir` (ntfsls -R is not in every ntfs-3g: directories are listed one by one), with ntfscat's sha256 and length. */
function ntfsTree(vol: string, dir = "/"): Map<string, string> {
  const out = new Map<string, string>();
  const ls = spawnSync("ntfsls", ["-f", "-F", "-p", dir, vol], { encoding: "utf8" });
  for (const line of ls.stdout.split("\n").filter(Boolean)) {
    if (line.startsWith("$") || line === "./" || line === "../" || line === "." || line === "..") continue;
    const name = line.replace(/\/$/, "");
    const full = `${dir === "/" ? "" : dir}/${name}`;
    if (line.endsWith("/")) {
      for (const [k, v] of ntfsTree(vol, full)) out.set(k, v);
      continue;
    }
    const cat = spawnSync("ntfscat", ["-f", vol, full], { maxBuffer: 1 << 26 });
    out.set(full, cat.status === 0 ? `${cat.stdout.length} ${sha256(cat.stdout)}` : `unreadable (${cat.status})`);
  }
  return out;
}

const zerosOf = (n: number) => `${n} ${sha256(new Uint8Array(n))}`;

t.test(
  "NTFS --exclude: spool jobs by glob, any case; left out allocated, named, restored as the target held them",
  async (t) => {
    const vol = unpackNtfs("ntfs-tree.img.gz");
    const before = sha256(fs.readFileSync(vol));
    const full = api.backup(core, vol, { image: path.join(tmp, "full.cbi") });
    const image = path.join(tmp, "spool.cbi");
    const r = api.backup(core, vol, { image, exclude: ["spool/*.prn"] });
    t.same(
      r.excluded.map((e) => e.path).sort(),
      ["\\Spool\\Job 0.PRN", "\\Spool\\Job 1.PRN", "\\Spool\\Job 2.PRN", "\\Spool\\small.prn"],
      "the jobs directly in Spool, by a lower-case glob ('*' stays within a name: Held Jobs is not entered)",
    );
    const small = r.excluded.find((e) => e.path.endsWith("small.prn"))!;
    t.equal(small.clusters, 0, "a file resident in its MFT record has no clusters to leave out");
    const left = r.excluded.reduce((a, e) => a + e.clusters, 0);
    t.ok(left >= 3 * 5, `${left} clusters left out`);
    t.equal(r.imageClusters, full.imageClusters - left, "the image holds exactly those clusters fewer");
    t.equal(sha256(fs.readFileSync(vol)), before, "the source is not written");
    // onto a blank target: the left-out jobs read as zeros, with their sizes; everything else the same
    const blank = path.join(tmp, "blank.out");
    fs.writeFileSync(blank, new Uint8Array(fs.statSync(vol).size));
    t.equal(api.restore(core, image, blank).verified, true);
    // onto the source's own copy (compare-first): the jobs keep what the target held, the originals
    const copy = path.join(tmp, "copy.out");
    fs.copyFileSync(vol, copy);
    t.equal(api.restore(core, image, copy).verified, true);
    t.equal(sha256(fs.readFileSync(copy)), before, "a restore onto the volume itself changes nothing");
    if (!hasNtfs3g) return;
    const src = ntfsTree(vol),
      out = ntfsTree(blank);
    t.ok(src.size >= 7, `ntfsls lists ${src.size} files in the source`);
    for (const [name, sum] of src) {
      const excluded = r.excluded.some((e) => e.path.replace(/\\/g, "/") === name);
      if (excluded && !name.endsWith("small.prn"))
        t.equal(out.get(name), zerosOf(Number(sum.split(" ")[0])), `${name}: its size kept, its clusters zeros`);
      else t.equal(out.get(name), sum, `${name}: the same bytes`);
    }
    t.equal(out.size, src.size, "no name lost or gained");
    t.equal(spawnSync("ntfsfix", ["-n", blank]).status, 0, "ntfsfix -n accepts the restored volume");
    t.equal(
      spawnSync("ntfsresize", ["-i", "-f", "-n", blank]).status,
      spawnSync("ntfsresize", ["-i", "-f", "-n", vol]).status,
      "ntfsresize -i -f judges it as the source",
    );
  },
);

t.test("NTFS --exclude: a directory names every file below it", async (t) => {
  const vol = unpackNtfs("ntfs-tree.img.gz");
  const r = api.backup(core, vol, { image: path.join(tmp, "dir.cbi"), exclude: ["\\SPOOL"] });
  t.same(r.excluded.map((e) => e.path).sort(), [
    "\\Spool\\Held Jobs\\held 1.prn",
    "\\Spool\\Job 0.PRN",
    "\\Spool\\Job 1.PRN",
    "\\Spool\\Job 2.PRN",
    "\\Spool\\small.prn",
  ]);
});

t.test("NTFS --exclude slips: a pattern that names nothing, the volume's own files; nothing written", async (t) => {
  const vol = unpackNtfs("ntfs-tree.img.gz");
  const before = sha256(fs.readFileSync(vol));
  for (const pattern of ["Spool/nope.prn", "$MFT", "$Extend/*", "\\$Bitmap"]) {
    const image = path.join(tmp, `slip-${serial++}.cbi`);
    t.throws(
      () => api.backup(core, vol, { image, exclude: [pattern] }),
      new RegExp(`--exclude "${pattern.replace(/[$\\*]/g, "\\$&")}": no such file or directory in ${vol}`),
      `${pattern}: refused by name`,
    );
    t.notOk(fs.existsSync(image), "no image written");
  }
  t.equal(sha256(fs.readFileSync(vol)), before, "the source is not written");
});

// ---- exFAT: excluded files become empty files ---------------------------------------------------

const hasFsckExfat = has(["fsck.exfat"]);

function unpackExfat(name: string): string {
  const f = path.join(tmp, `${serial++}-${name.replace(/\.gz$/, "")}`);
  fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "exfat", name))));
  return f;
}

/** Every file of an exFAT volume with its bytes' sha256 (read by the portable tree reader, independent of the core), and the clusters in use. */
function exfatFiles(vol: string): { files: Map<string, string>; used: number } {
  const bytes = new Uint8Array(fs.readFileSync(vol));
  const dev = new RamDevice(2 ** bytes[108], bytes);
  const tree = new ExfatTree(dev);
  const files = new Map<string, string>();
  tree.walk((f) => {
    if (f.directory) return;
    const runs = tree.runs(f.firstCluster, f.length, f.noFatChain, f.path);
    const parts = runs.map((r) =>
      bytes.subarray(tree.clusterByte(r.start), tree.clusterByte(r.start) + r.length * tree.g.clusterBytes),
    );
    const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    files.set(f.path, `${f.length} ${sha256(all.subarray(0, f.length))}`);
  });
  const bm = tree.runs(tree.bitmap.firstCluster, tree.bitmap.bytes, false, "bitmap")[0];
  let used = 0;
  for (let c = 0; c < tree.g.clusterCount; c++) used += (bytes[tree.clusterByte(bm.start) + (c >> 3)] >> (c & 7)) & 1;
  return { files, used };
}

for (const name of ["exfat-4k.img.gz", "exfat-512.img.gz"]) {
  t.test(
    `${name} --exclude: contiguous and FAT-chained files, by glob and by directory, become empty files`,
    async (t) => {
      const vol = unpackExfat(name);
      const before = sha256(fs.readFileSync(vol));
      const src = exfatFiles(vol);
      const full = api.backup(core, vol, { image: path.join(tmp, `${serial++}-full.cbi`) });
      const image = path.join(tmp, `${serial++}-excl.cbi`);
      // a glob in Jobs (contiguous and fragmented jobs), and a directory by another case (a fragmented font)
      const r = api.backup(core, vol, { image, exclude: ["jobs/JOB 1*.prn", "firmware\\fonts and forms"] });
      const names = r.excluded.map((e) => e.path).sort();
      t.same(
        names,
        [
          "\\Firmware\\Fonts and Forms\\Helvetica Bold Oblique.ttf",
          "\\Jobs\\job 1 with a long name.prn",
          "\\Jobs\\job 10 with a long name.prn",
          "\\Jobs\\job 11 with a long name.prn",
        ],
        "the files the patterns name, in any case",
      );
      const left = r.excluded.reduce((a, e) => a + e.clusters, 0);
      t.equal(r.imageClusters, full.imageClusters - left, `the image holds ${left} clusters fewer`);
      t.equal(sha256(fs.readFileSync(vol)), before, "the source is not written");
      const target = path.join(tmp, `${serial++}-excl.out`);
      fs.writeFileSync(target, new Uint8Array(fs.statSync(vol).size));
      t.equal(api.restore(core, image, target).verified, true, "restored and verified (its tree walked)");
      const out = exfatFiles(target);
      for (const [p, sum] of src.files)
        t.equal(
          out.files.get(p),
          names.includes(p) ? `0 ${sha256(new Uint8Array(0))}` : sum,
          `${p}: ${names.includes(p) ? "empty" : "the same bytes"}`,
        );
      t.equal(out.files.size, src.files.size, "every name kept");
      t.equal(out.used, src.used - left, "the bitmap frees exactly their clusters");
      if (hasFsckExfat) {
        const fsck = spawnSync("fsck.exfat", ["-n", target], { encoding: "utf8" });
        t.equal(fsck.status, 0, `fsck.exfat -n is clean: ${`${fsck.stdout}${fsck.stderr}`.trim().split("\n").at(-1)}`);
      }
      // a restore onto the source itself (compare-first) empties the same files and nothing else
      t.equal(api.restore(core, image, vol).verified, true);
      t.same(exfatFiles(vol).files, out.files, "onto the source: the same volume as onto a blank target");
    },
  );
}

t.test("exFAT --exclude slips: a pattern that names nothing is refused, nothing written", async (t) => {
  const vol = unpackExfat("exfat-4k.img.gz");
  const before = sha256(fs.readFileSync(vol));
  const image = path.join(tmp, "slip.cbi");
  t.throws(
    () => api.backup(core, vol, { image, exclude: ["Jobs/nope*.prn"] }),
    /--exclude "Jobs\/nope\*\.prn": no such file or directory/,
  );
  t.notOk(fs.existsSync(image));
  t.equal(sha256(fs.readFileSync(vol)), before);
});
