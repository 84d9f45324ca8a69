// Round trips checked by the real tools as oracles (run by CI after it installs them; skipped
// on a machine without them): after every restore `fsck.fat -n` passes (or, for a volume that
// was damaged on purpose, reports exactly what it reported on the source), and every file
// mcopy extracts is byte-identical. Fresh volumes are made here with mkfs.fat across sector
// sizes, cluster sizes and FAT types; the committed fixtures are checked the same way.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { differingRanges, extentOf, fixtures, mustMatchFile, unpack, writeSparse } from "./helpers/fixtures";

const haveTools = ["mkfs.fat", "fsck.fat", "mcopy", "mmd", "mdel"].every(
  (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0,
);
if (!haveTools) {
  t.skip("mkfs.fat, fsck.fat and mtools are not installed (CI installs them)");
} else {
  run();
}

function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    env: { ...process.env, MTOOLS_SKIP_CHECK: "1", TZ: "UTC", ...env },
  });
  return { code: r.status ?? -1, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** sha256 of every file mcopy extracts from a volume (spec: file, or file@@offset). */
function tree(spec: string, dir: string): Record<string, string> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const r = sh("mcopy", ["-s", "-n", "-i", spec, "::/", dir]);
  if (r.code !== 0 && !/No such file|not found/.test(r.out)) throw new Error(`mcopy failed: ${r.out}`);
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return Object.fromEntries(Object.entries(out).sort());
}

/** fsck.fat -n on a partition of a file, its exit code and report without the file name. */
function fsck(file: string, start: number, bytes: number, work: string): { code: number; out: string } {
  let target = file;
  if (start > 0 || bytes !== fs.statSync(file).size) {
    target = path.join(work, "fsck-part.img");
    const fd = fs.openSync(file, "r");
    const b = Buffer.alloc(bytes);
    fs.readSync(fd, b, 0, bytes, start);
    fs.closeSync(fd);
    fs.writeFileSync(target, b);
  }
  const r = sh("fsck.fat", ["-n", target]);
  return { code: r.code, out: r.out.split(target).join("VOLUME") };
}

function run(): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-tools-"));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const core = new Core();

  // restore a partition file into a zero-filled target of the same size; check with the tools
  function roundTrip(t: Tap.Test, src: string, expectFsckClean = true): void {
    const image = path.join(tmp, "rt.cbi"),
      dst = path.join(tmp, "rt.out");
    const size = fs.statSync(src).size;
    api.backup(core, src, { overwrite: true, image });
    fs.writeFileSync(dst, "");
    fs.truncateSync(dst, size);
    t.equal(api.restore(core, image, dst).verified, true, "restored and read back");
    const a = fsck(src, 0, size, tmp),
      b = fsck(dst, 0, size, tmp);
    if (expectFsckClean) t.equal(b.code, 0, `fsck.fat -n clean on the restored volume${b.code ? ": " + b.out : ""}`);
    t.equal(b.out, a.out, "fsck.fat reports the same on source and restored volume");
    t.same(tree(dst, path.join(tmp, "y")), tree(src, path.join(tmp, "x")), "every file byte-identical (mcopy)");
    // the system area and every allocated cluster, read from both files range by range
    const ranges = mustMatchFile(core, src);
    t.equal(differingRanges(src, dst, ranges), 0, `system area and ${ranges.length - 1} allocated clusters identical`);
  }

  function populate(img: string, seed: number, files: number): void {
    const env = {};
    sh("mmd", ["-i", img, "::/Firmware", "::/Firmware/Fonts and Forms", "::/Spool"], env);
    for (let i = 0; i < files; i++) {
      const f = path.join(tmp, `in${i}`);
      const n = ((i * 7919 + seed * 104729) % 20000) + 1;
      fs.writeFileSync(
        f,
        crypto
          .createHash("sha512")
          .update(`${seed}/${i}`)
          .digest()
          .toString("hex")
          .repeat(Math.ceil(n / 128))
          .slice(0, n),
      );
      sh("mcopy", ["-i", img, f, `::/Spool/print job ${i} (copy).prn`]);
    }
    for (let i = 0; i < files; i += 3) sh("mdel", ["-i", img, `::/Spool/print job ${i} (copy).prn`]);
    const big = path.join(tmp, "big");
    fs.writeFileSync(big, crypto.randomBytes(70000));
    sh("mcopy", ["-i", img, big, "::/Firmware/Fonts and Forms/A Very Long Font File Name.ttf"]);
  }

  const matrix: [fat: number, sector: number, spc: number, mib: number][] = [
    [12, 512, 1, 2],
    [12, 512, 8, 8],
    [12, 4096, 1, 8],
    [12, 512, 128, 32],
    [16, 512, 4, 32],
    [16, 1024, 2, 40],
    [16, 2048, 1, 40],
    [16, 4096, 1, 64],
    [16, 4096, 16, 300],
    [16, 512, 64, 200],
    [32, 512, 1, 40],
    [32, 512, 8, 300],
    [32, 2048, 1, 160],
    [32, 4096, 1, 300],
    [32, 4096, 2, 600],
  ];
  for (const [fat, sector, spc, mib] of matrix) {
    t.test(`mkfs.fat -F ${fat} -S ${sector} -s ${spc} on ${mib} MiB (${sector * spc}-byte clusters)`, async (t) => {
      const img = path.join(tmp, "m.img");
      fs.rmSync(img, { force: true });
      fs.writeFileSync(img, "");
      fs.truncateSync(img, mib << 20);
      const mk = sh("mkfs.fat", ["-F", String(fat), "-S", String(sector), "-s", String(spc), img]);
      if (mk.code !== 0) {
        t.fail(`mkfs.fat refused: ${mk.out}`);
        return;
      }
      populate(img, fat * 1000 + sector + spc, 24);
      t.equal(api.info(core, img).volume?.fsType, `FAT${fat}`);
      roundTrip(t, img);
    });
  }

  t.test("a volume with cross-linked and lost chains is imaged and restored exactly as it was", async (t) => {
    const img = path.join(tmp, "x.img");
    fs.rmSync(img, { force: true });
    fs.writeFileSync(img, "");
    fs.truncateSync(img, 16 << 20);
    sh("mkfs.fat", ["-F", "16", "-s", "4", img]);
    populate(img, 77, 12);
    // cross-link: point the first file chain's first entry into another file's chain; add a lost chain
    const b = fs.readFileSync(img);
    const rsvd = b.readUInt16LE(14),
      fsz = b.readUInt16LE(22),
      bps = b.readUInt16LE(11);
    for (let k = 0; k < 2; k++) {
      const fat = (rsvd + k * fsz) * bps;
      b.writeUInt16LE(b.readUInt16LE(fat + 2 * 12), fat + 2 * 5);
      b.writeUInt16LE(0xffff, fat + 2 * 3000);
    }
    fs.writeFileSync(img, b);
    const before = fsck(img, 0, b.length, tmp);
    t.not(before.code, 0, "fsck.fat -n finds the damage on the source");
    roundTrip(t, img, false);
  });

  for (const f of fixtures) {
    for (const p of f.partitions) {
      t.test(`fixture ${f.file}${p.number ? ` partition ${p.number}` : ""}: fsck.fat and mcopy agree`, async (t) => {
        const src = unpack(f, tmp);
        const original = fs.readFileSync(src);
        const ext = extentOf(core, original, p);
        const opts = p.number ? { partition: p.number } : {};
        const image = path.join(tmp, "fx.cbi");
        api.backup(core, src, { overwrite: true, ...opts, image });
        const target = path.join(tmp, "fx.out");
        const blank = Buffer.from(original);
        blank.fill(0, ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
        writeSparse(target, blank);
        api.restore(core, image, target, opts);
        const start = ext.start * ext.sectorSize,
          bytes = ext.sectors * ext.sectorSize;
        const a = fsck(src, start, bytes, tmp),
          r = fsck(target, start, bytes, tmp);
        t.equal(r.out, a.out, "fsck.fat -n reports the same as on the source");
        if (!f.file.includes("dirty")) t.equal(r.code, 0, "fsck.fat -n clean");
        const spec = p.number ? `${target}@@${start}` : target;
        t.same(tree(spec, path.join(tmp, "fy")), p.files, "every file's sha256 as recorded when the fixture was made");
      });
    }
  }
}
