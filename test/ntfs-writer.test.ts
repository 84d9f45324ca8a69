// The simulator's NTFS writer (simulator/src/ntfs-writer.ts) and the index growth under it
// (firmware-module/src/ops/ntfs-volume.ts): on a fresh mkntfs volume (test/fixtures/ntfs,
// ntfs-fresh.img.gz) it writes a tree of 200 files, resident and not, short and long names, in
// the root and in nested directories: enough to split the root's index block, to move new
// directories' indexes out of their records and split them, and to grow the MFT and its bitmap.
// Every name is found again through the indexes; every file reads back the same through the
// portable MFT reader, and (with ntfs-3g) through ntfsls and ntfscat, with ntfsfix -n and
// ntfsresize -i clean; a backup and restore of the volume gives it back.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { RamDevice } from "../firmware-module/src/ops/devices";
import { NtfsVolume } from "../firmware-module/src/ops/ntfs-volume";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { splitmix32 } from "../simulator/src/content";
import { NtfsWriter, NtfsWriterError } from "../simulator/src/ntfs-writer";
import { hasNtfs3g, ntfscatAll, ntfsFiles } from "./helpers/ntfs";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-nw-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

function fresh(): Uint8Array {
  return new Uint8Array(
    zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", "ntfs-fresh.img.gz"))),
  );
}

t.test("NtfsWriter: 200 files in a growing tree on a fresh mkntfs volume, read back by every reader", async (t) => {
  const bytes = fresh();
  const dev = new RamDevice(512, bytes);
  const w = new NtfsWriter(dev);
  const next = splitmix32(18);
  const want: Record<string, string> = {};
  const dirs = ["", "\\Spool", "\\Spool\\Held Jobs", "\\FONTS", "\\Web UI\\static\\js"];
  for (let i = 0; i < 200; i++) {
    const dir = dirs[i % dirs.length];
    const name = i % 3 === 0 ? `JOB${i}.PRN` : `print job ${i} with a longer name ${next() % 1000}.prn`;
    const size = i % 4 === 0 ? next() % 400 : 600 + (next() % 9000);
    const data = new Uint8Array(size);
    for (let k = 0; k < size; k++) data[k] = (next() >>> 24) & 0xff;
    w.writeFile(`${dir}\\${name}`, data);
    want[`${dir}\\${name}`] = sha256(data);
  }
  // a run of 241 clusters: its length is F1 00 in the mapping pairs (lengths are signed: a lone F1 reads as negative)
  const big = new Uint8Array(241 * 4096 - 100);
  for (let k = 0; k < big.length; k += 4096) big[k] = k >> 12;
  w.writeFile("\\FIRMWARE\\ENGINE.BIN", big);
  want["\\FIRMWARE\\ENGINE.BIN"] = sha256(big);
  w.flush();
  const vol = new NtfsVolume(dev);
  const missing = Object.keys(want).filter((p) => vol.lookup(p) === undefined);
  t.same(missing, [], "every name found again through the indexes");
  t.ok(vol.mft.records > 200, `the MFT grew to ${vol.mft.records} records`);
  t.same(ntfsFiles(bytes).files, want, "every file reads back (portable MFT reader)");
  t.throws(() => w.writeFile(Object.keys(want)[7], new Uint8Array(1)), NtfsWriterError, "an existing name is refused");
  const file = path.join(tmp, "written.img");
  fs.writeFileSync(file, bytes);
  if (hasNtfs3g) {
    const fix = spawnSync("ntfsfix", ["-n", file], { encoding: "utf8" });
    t.match(fix.stdout, /processed successfully/, "ntfsfix -n clean");
    const rs = spawnSync("ntfsresize", ["-i", "-f", "-n", file], { encoding: "utf8" });
    t.notMatch(
      rs.stdout + rs.stderr,
      /error|fail|inconsist/i,
      "ntfsresize -i -f: the cluster accounting agrees with $Bitmap",
    );
    const cat = ntfscatAll(file);
    t.same(
      Object.keys(want).filter((k) => cat[k] !== want[k]),
      [],
      `ntfsls lists and ntfscat reads every file (${Object.keys(cat).length})`,
    );
  }
  // the image of it, restored onto zeros, gives it back
  const image = path.join(tmp, "w.cbi");
  api.backup(core, file, { image });
  const target = path.join(tmp, "target.img");
  fs.writeFileSync(target, Buffer.alloc(bytes.length));
  t.ok(api.restore(core, image, target).verified, "backup and restore verified");
  const back = ntfsFiles(new Uint8Array(fs.readFileSync(target))).files;
  t.same(
    Object.keys(want).filter((k) => back[k] !== want[k]),
    [],
    "every file after the restore",
  );
  t.equal(Object.keys(back).length, Object.keys(want).length, "and no other");
});
