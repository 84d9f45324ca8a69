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
import { attributes, MftReader, MftRecord } from "../firmware-module/src/ops/ntfs-mft";
import { NtfsVolume } from "../firmware-module/src/ops/ntfs-volume";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { splitmix32 } from "../simulator/src/content";
import { NtfsWriter, NtfsWriterError } from "../simulator/src/ntfs-writer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-nw-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const hasNtfs3g =
  spawnSync("sh", ["-c", ["ntfsls", "ntfscat", "ntfsfix", "ntfsresize"].map((x) => `command -v ${x}`).join(" && ")])
    .status === 0;
const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

function fresh(): Uint8Array {
  return new Uint8Array(
    zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "ntfs", "ntfs-fresh.img.gz"))),
  );
}

/** Every user file with its sha256, read by the portable MFT reader. */
function filesOf(bytes: Uint8Array): Record<string, string> {
  const mft = new MftReader(new RamDevice(512, bytes));
  const names = mft.names();
  const pathOf = (n: number, depth = 0): string | undefined => {
    if (n === 5) return "";
    const e = names.get(n);
    if (!e || depth > 64) return undefined;
    const up = pathOf(e.parent, depth + 1);
    return up === undefined ? undefined : `${up}\\${e.name}`;
  };
  const out: Record<string, string> = {};
  for (const [n, e] of names) {
    const p = pathOf(n);
    if (e.directory || p === undefined) continue;
    const rec = mft.record(n)!;
    const r = new MftRecord(n, rec);
    const data = attributes(r).find((a) => a.type === 0x80 && a.name === "")!;
    out[p] = sha256(
      data.resident ? r.value(data, "$DATA") : mft.readRuns(mft.dataRuns(n, rec), 0, r.count("size", data.at + 48)),
    );
  }
  return out;
}

function ntfscatAll(file: string, dir = "/"): Record<string, string> {
  const out: Record<string, string> = {};
  const ls = spawnSync("ntfsls", ["-f", "-F", "-p", dir, file], { encoding: "utf8" });
  for (const line of ls.stdout.split("\n").filter(Boolean)) {
    if (line.startsWith("$") || /^\.\.?\/?$/.test(line)) continue;
    const full = `${dir === "/" ? "" : dir}/${line.replace(/\/$/, "")}`;
    if (line.endsWith("/")) Object.assign(out, ntfscatAll(file, full));
    else {
      const cat = spawnSync("ntfscat", ["-f", file, full], { maxBuffer: 1 << 26 });
      out[full.replace(/\//g, "\\")] = cat.status === 0 ? sha256(cat.stdout) : `unreadable (${cat.status})`;
    }
  }
  return out;
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
  t.same(filesOf(bytes), want, "every file reads back (portable MFT reader)");
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
  const back = filesOf(new Uint8Array(fs.readFileSync(target)));
  t.same(
    Object.keys(want).filter((k) => back[k] !== want[k]),
    [],
    "every file after the restore",
  );
  t.equal(Object.keys(back).length, Object.keys(want).length, "and no other");
});
