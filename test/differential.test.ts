// Differential restore: the target is read first and only what differs is written. A volume
// with 1% of its clusters damaged costs at most 2% of its used bytes in writes; an interrupted
// restore, run again from the CLI, finishes cheaply; the "restore in progress" mark is shown by
// info and refused by backup.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { FatTables } from "../firmware-module/src/ops/fat-tables";
import * as api from "../host-shim/src/cli/api";
import { Core, Slot } from "../host-shim/src/native/core";
import { FileDevice, RamDevice } from "../host-shim/src/native/devices";
import { FaultDevice, PowerCutError } from "../host-shim/src/native/fault-device";
import { splitmix32 } from "../simulator/src/content";
import { systemRange, tinyPrinter } from "./helpers/tiny-printer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-diff-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const core = new Core({ backgroundWrites: false });

/** The tiny printer's system partition as a partition image file, and its image. */
function volumeAndImage(): {
  vol: string;
  img: string;
  bytes: Buffer;
  used: number;
  allocated: number[];
  geometry: FatTables["geometry"];
} {
  const { p, ram } = tinyPrinter();
  const [a, b] = systemRange(p);
  const bytes = Buffer.from(ram.bytes.subarray(a, b));
  const vol = path.join(tmp, "system.img"),
    img = path.join(tmp, "system.cbi");
  fs.writeFileSync(vol, bytes);
  const r = api.backup(core, vol, { overwrite: true, image: img });
  const tables = new FatTables(new RamDevice(512, new Uint8Array(bytes)), core);
  const allocated: number[] = [];
  for (let c = 2; c < tables.entryCount; c += 65536) {
    const e = tables.entries(0, c, Math.min(65536, tables.entryCount - c));
    e.forEach((v, i) => {
      if (v !== 0 && v < 0x0ffffff7 && !(tables.geometry.fsType === 2 && v === 0xfff7)) allocated.push(c + i);
    });
  }
  return { vol, img, bytes, used: r.usedBytes, allocated, geometry: tables.geometry };
}

const base = volumeAndImage();

t.test(
  "1% of the clusters damaged: the restore writes at most 2% of the used bytes, and the result is exact",
  async (t) => {
    const target = path.join(tmp, "damaged.img");
    const damaged = Buffer.from(base.bytes);
    const rnd = splitmix32(5);
    const g = base.geometry;
    const count = Math.ceil(base.allocated.length / 100);
    const hit = new Set<number>();
    while (hit.size < count) hit.add(base.allocated[rnd() % base.allocated.length]);
    for (const c of hit) {
      const at = (g.firstDataSector + (c - 2) * (g.clusterBytes / g.bytesPerSector)) * g.bytesPerSector;
      for (let k = 0; k < g.clusterBytes; k++) damaged[at + k] = rnd() & 0xff;
    }
    fs.writeFileSync(target, damaged);
    const r = api.restore(core, base.img, target);
    t.ok(
      r.bytesWritten <= 0.02 * base.used,
      `${count} of ${base.allocated.length} clusters damaged: ${r.bytesWritten} bytes written, ${((100 * r.bytesWritten) / base.used).toFixed(2)}% of ${base.used} used bytes (at most 2%)`,
    );
    t.ok(r.bytesWritten >= count * g.clusterBytes, "every damaged cluster was written");
    t.equal(
      r.bytesCompared,
      r.imageClusters * g.clusterBytes + g.firstDataSector * 512,
      "the whole used area was read and compared once, while the image was checked (docs/image-format.md 10.2)",
    );
    t.equal(r.mode, "compare");
    t.equal(r.verified, true, "read back and verified");
    t.ok(fs.readFileSync(target).equals(base.bytes), "the partition is byte-identical to the source");
    // --full writes everything
    fs.writeFileSync(target, damaged);
    const full = api.restore(core, base.img, target, { full: true });
    t.ok(full.bytesWritten >= base.used, `--full writes ${full.bytesWritten} bytes (the used area and more)`);
    t.equal(full.bytesCompared, 0, "and reads nothing to compare");
    t.ok(fs.readFileSync(target).equals(base.bytes));
    // an intact partition: nothing is written, not even the mark
    const before = fs.statSync(target).mtimeMs;
    const again = api.restore(core, base.img, target);
    t.equal(again.bytesWritten, 0, "restoring an intact partition writes nothing");
    t.equal(again.bytesRead, base.used, "and reads the used area once");
    t.equal(again.verified, true, "and it is verified: every stored cluster and the metadata compared equal");
    t.equal(fs.statSync(target).mtimeMs, before, "the target file was not written");
  },
);

t.test("an interrupted restore: info shows the mark, backup refuses, the same command finishes it", async (t) => {
  const zeroed = new Uint8Array(base.bytes.length);
  const ram = new RamDevice(512, zeroed);
  const fault = new FaultDevice(ram, { powerCutAfterWrites: 300 });
  const img = new FileDevice(base.img, { sectorSize: 512 });
  const hi = core.attach(img),
    ht = core.attach(fault);
  core.check(core.exports.restoreBegin(hi, img.sectorCount, ht, 512, fault.sectorCount, 1));
  t.throws(() => core.run(), PowerCutError, "the power goes after write 300");
  core.detach(hi);
  core.detach(ht);
  img.close();
  const target = path.join(tmp, "interrupted.img");
  fs.writeFileSync(target, ram.bytes);
  const info = spawnSync(process.execPath, [cli, "info", target, "--json"], { encoding: "utf8" });
  t.equal(info.status, 0);
  const j = JSON.parse(info.stdout);
  t.match(
    j.volumeError,
    /restore from image "system" .* was interrupted here: run the same restore again/,
    "info names the interrupted restore",
  );
  const bk = spawnSync(process.execPath, [cli, "backup", target, "--image", path.join(tmp, "x.cbi")], {
    encoding: "utf8",
  });
  t.equal(bk.status, 1, "backup of a half-restored partition is refused");
  t.match(bk.stderr, /not backed up: a restore from image "system"/);
  t.notOk(fs.existsSync(path.join(tmp, "x.cbi")), "and no image is written");
  const rs = spawnSync(process.execPath, [cli, "restore", base.img, target], { encoding: "utf8" });
  t.equal(rs.status, 0, rs.stderr);
  t.match(rs.stdout, /finishing an interrupted restore/);
  t.ok(
    fs
      .readFileSync(target)
      .subarray(0, base.geometry.firstDataSector * 512)
      .equals(base.bytes.subarray(0, base.geometry.firstDataSector * 512)),
    "the metadata area is the source's",
  );
  const v = api.verify(core, base.img, { against: target });
  t.equal(v.ok, true, "every stored cluster matches");
  t.ok(core.results()[Slot.mismatches] === 0);
});
