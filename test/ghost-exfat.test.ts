// Issue 18, item 3: the ghost image on exFAT (docs/image-format.md 12.5). The committed exFAT
// fixtures (mkfs.exfat + test/fixtures/exfat/fill.js) get a ghost: a hidden, system, read-only,
// contiguous (NoFatChain) file in the root, fsck.exfat -n clean; it is found through the
// directory, and by the locator search once the first MiB is zeroed, and restores the volume
// with every file as it was; a second backup replaces it; and a power cut after every write of a
// replacing backup leaves a ghost that the reboot finds and that restores the old or the new
// state, while the next backup settles what was left.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { RamDevice } from "../firmware-module/src/ops/devices";
import { ExfatTree } from "../firmware-module/src/ops/exfat-dir";
import * as G from "../firmware-module/src/ops/ghost";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { FileDevice } from "../host-shim/src/native/devices";
import { FaultDevice } from "../host-shim/src/native/fault-device";
import { ExfatWriter } from "../simulator/src/exfat-writer";
import { ghostJob } from "./helpers/ghost-job";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-gx-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const hasFsck = spawnSync("sh", ["-c", "command -v fsck.exfat"]).status === 0;
const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const MiB = 1 << 20;
let serial = 0;

function fixtureCopy(name: string): string {
  const f = path.join(tmp, `${serial++}-${name.replace(/\.gz$/, "")}`);
  fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "exfat", name))));
  return f;
}

/** Every file but the ghost (and its new file) with its bytes' sha256, read by the portable tree reader; and the clusters in use. */
function state(file: string): { files: Record<string, string>; used: number } {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const tree = new ExfatTree(new RamDevice(2 ** bytes[108], bytes));
  const files: Record<string, string> = {};
  tree.walk((f) => {
    if (f.directory || /^\\(RECOVERY\.CBI|CBGHOST\.TMP)$/i.test(f.path)) return;
    const runs = f.firstCluster >= 2 ? tree.runs(f.firstCluster, f.length, f.noFatChain, f.path) : [];
    const all = Buffer.concat(
      runs.map((r) =>
        bytes.subarray(tree.clusterByte(r.start), tree.clusterByte(r.start) + r.length * tree.g.clusterBytes),
      ),
    );
    files[f.path] = sha256(all.subarray(0, f.length));
  });
  let used = 0;
  for (let c = 0; c < tree.g.clusterCount; c++) used += (bytes[tree.bitmapByte(c >> 3)] >> (c & 7)) & 1;
  return { files, used };
}

function fsck(file: string): { ok: boolean; out: string } {
  const r = spawnSync("fsck.exfat", ["-n", file], { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim().split("\n").at(-1) ?? "" };
}

function ghostEntry(file: string) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const tree = new ExfatTree(new RamDevice(2 ** bytes[108], bytes));
  return { ghost: tree.lookup("\\RECOVERY.CBI"), temp: tree.lookup("\\CBGHOST.TMP") };
}

for (const name of ["exfat-4k.img.gz", "exfat-512.img.gz"]) {
  t.test(
    `${name}: backupGhost makes a hidden, system, read-only, contiguous file; found, verified, restored after the first MiB is zeroed`,
    async (t) => {
      const file = fixtureCopy(name);
      const before = state(file);
      const r = api.backupGhost(core, file);
      t.equal(r.fsType, "exFAT");
      const { ghost } = ghostEntry(file);
      t.ok(ghost, "\\RECOVERY.CBI is in the root");
      t.equal(ghost!.attributes & 0x07, 0x07, "read-only, hidden, system");
      t.ok(ghost!.noFatChain, "one extent (NoFatChain)");
      const after = state(file);
      t.same(after.files, before.files, "every file as it was");
      t.equal(
        after.used,
        before.used + ghost!.length / (2 ** fs.readFileSync(file)[108] * 2 ** fs.readFileSync(file)[109]),
        "the bitmap marks the ghost's clusters, and nothing else changed",
      );
      if (hasFsck) t.ok(fsck(file).ok, `fsck.exfat -n clean with the ghost: ${fsck(file).out}`);
      t.equal(api.info(core, file).ghost?.foundBy, "directory", "info finds it through the directory");
      t.equal(api.verifyGhost(core, file).ok, true, "verify --ghost");
      const copy = fs.readFileSync(file);
      // the first MiB destroyed: boot regions, FAT, bitmap, root directory
      const b = Buffer.from(copy);
      b.fill(0, 0, MiB);
      fs.writeFileSync(file, b);
      const inf = api.info(core, file, { ghost: true });
      t.match(inf.ghost, { foundBy: "locator", startSector: r.ghost.startSector, sectors: r.ghost.sectors });
      const rr = api.restoreGhost(core, file);
      t.ok(rr.verified && rr.ghost.foundBy === "locator", "restored from the ghost the search found, and verified");
      const restored = state(file);
      t.same(restored.files, before.files, "every file as it was");
      if (hasFsck) t.ok(fsck(file).ok, `fsck.exfat -n clean after the restore: ${fsck(file).out}`);
      t.equal(api.info(core, file).ghost?.foundBy, "directory", "the ghost is in its directory again");
      t.equal(api.verifyGhost(core, file).ok, true);
    },
  );
}

t.test(
  "exFAT: a second backupGhost replaces the first: one ghost, no CBGHOST.TMP, the old clusters freed; restore gives the second state",
  async (t) => {
    const file = fixtureCopy("exfat-4k.img.gz");
    const r1 = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 0, 1)) });
    const usedA = state(file).used;
    // the volume changes: a new job
    const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
    const w = new ExfatWriter(dev);
    w.writeFile("\\Jobs\\late job.prn", new Uint8Array(9000).fill(7));
    w.flush();
    dev.close();
    const stateB = state(file);
    const r2 = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 0, 2)) });
    t.equal(r2.ghost.replaced, true, "the old ghost was replaced");
    t.not(r2.ghost.startSector, r1.ghost.startSector, "into a new extent");
    const { ghost, temp } = ghostEntry(file);
    t.ok(ghost && !temp, "one ghost, no CBGHOST.TMP");
    const cs = (sectors: number) => sectors / 8; // 4 KiB clusters of 512-byte sectors
    t.equal(
      state(file).used,
      usedA - cs(r1.ghost.sectors) + cs(r2.ghost.sectors) + 3,
      "the bitmap: the old ghost's clusters freed, the new ghost's and the new job's 3 in use",
    );
    if (hasFsck) t.ok(fsck(file).ok, `fsck.exfat -n clean: ${fsck(file).out}`);
    const found = G.findGhost(core, new FileDevice(file, { sectorSize: 512 }));
    t.equal(found?.startSector, r2.ghost.startSector, "the ghost found is the new one");
    fs.writeFileSync(file, Buffer.alloc(MiB), { flag: "r+" });
    t.ok(api.restoreGhost(core, file).verified);
    t.same(state(file).files, stateB.files, "the second state");
  },
);

t.test("exFAT ghost with --exclude: the excluded file is empty in the image, the ghost never excluded", async (t) => {
  const file = fixtureCopy("exfat-4k.img.gz");
  const before = state(file);
  const r = api.backupGhost(core, file, { exclude: ["\\*.TXT", "\\*"], strictExclude: false });
  t.notOk(
    r.excluded.some((e) => /RECOVERY|CBGHOST/i.test(e.path)),
    "'\\*' names everything but the ghost",
  );
  t.ok(r.excluded.some((e) => e.path === "\\README.TXT"));
  fs.writeFileSync(file, Buffer.alloc(MiB), { flag: "r+" });
  t.ok(api.restoreGhost(core, file).verified);
  const after = state(file);
  t.equal(after.files["\\README.TXT"], sha256(new Uint8Array(0)), "README.TXT restored empty");
  t.equal(after.files["\\Jobs\\empty.prn"], before.files["\\Jobs\\empty.prn"], "an empty file stays empty");
  t.equal(after.files["\\Firmware\\engine firmware image.bin"], sha256(new Uint8Array(0)), "files below the root too");
  t.equal(ghostEntry(file).ghost !== undefined, true, "the ghost is still there");
  if (hasFsck) t.ok(fsck(file).ok, `fsck.exfat -n clean: ${fsck(file).out}`);
});

t.test(
  "exFAT: power cut after every write of a replacing ghost backup; the reboot finds a ghost that restores the old or the new state, and the next backup settles what was left",
  async (t) => {
    const file = fixtureCopy("exfat-4k.img.gz");
    const rA = api.backupGhost(core, file, { created: new Date(Date.UTC(2026, 1, 1)) });
    const stateA = state(file).files;
    const dev = new FileDevice(file, { writable: true, sectorSize: 512 });
    const w = new ExfatWriter(dev);
    w.writeFile("\\Jobs\\late job.prn", new Uint8Array(9000).fill(9));
    w.flush();
    dev.close();
    const base = fs.readFileSync(file);
    const stateB = state(file).files;
    const counting = new FaultDevice(new FileDevice(file, { writable: true, sectorSize: 512 }), { logWrites: true });
    t.equal(ghostJob(core, counting), "done");
    counting.close();
    const writes = counting.counters.writes;
    t.ok(writes >= 5, `an uninterrupted replacing ghost backup makes ${writes} writes`);
    const work = path.join(tmp, "cut.img");
    let oldCount = 0,
      newCount = 0,
      failures = 0;
    const leftovers: Record<string, number> = {};
    let cases = 0;
    for (let n = 0; n <= writes; n++)
      for (const tear of [0, 1]) {
        // a multi-sector write is also cut torn (its first sectors reached the disk)
        if (tear && (n >= writes || counting.writeLog[n].sectorCount < 2)) continue;
        cases++;
        fs.writeFileSync(work, base);
        const fault = new FaultDevice(new FileDevice(work, { writable: true, sectorSize: 512 }), {
          powerCutAfterWrites: n,
          tearSectors: tear,
        });
        ghostJob(core, fault);
        fault.inner.close();
        const probe = new FileDevice(work, { sectorSize: 512 });
        const found = G.findGhost(core, probe);
        probe.close();
        if (!found) {
          failures++;
          t.fail(`cut after write ${n}: no ghost found after the reboot`);
          continue;
        }
        const isOld = found.startSector === rA.ghost.startSector;
        if (isOld) oldCount++;
        else newCount++;
        // a copy gets a ghost backup at once: it settles what was left
        const direct = path.join(tmp, "cut-direct.img");
        fs.copyFileSync(work, direct);
        const d = api.backupGhost(core, direct);
        leftovers[d.ghost.leftover] = (leftovers[d.ghost.leftover] ?? 0) + 1;
        const g = ghostEntry(direct);
        if (
          g.temp ||
          !g.ghost ||
          JSON.stringify(state(direct).files) !== JSON.stringify(stateB) ||
          (hasFsck && !fsck(direct).ok)
        ) {
          failures++;
          t.fail(
            `cut after write ${n}: the next backup left ${g.temp ? "CBGHOST.TMP" : "no temp"}, ${hasFsck ? fsck(direct).out : ""}`,
          );
        }
        // the rebooted volume restored from what was found: the old or the new state, exactly
        const rr = api.restoreGhost(core, work);
        if (rr.ghost.startSector !== found.startSector) {
          failures++;
          t.fail(`cut after write ${n}: restoreGhost took another ghost than findGhost`);
        }
        if (ghostEntry(work).temp || (hasFsck && !fsck(work).ok)) {
          failures++;
          t.fail(`cut after write ${n}: after the restore, CBGHOST.TMP is left or fsck.exfat complains`);
        }
        const got = JSON.stringify(state(work).files);
        if (!rr.verified || got !== JSON.stringify(isOld ? stateA : stateB)) {
          failures++;
          const want = isOld ? stateA : stateB,
            have = JSON.parse(got) as Record<string, string>;
          t.fail(
            `cut after write ${n}: the restore from the ${isOld ? "old" : "new"} ghost gave another state: verified ${rr.verified}; differ: ${Object.keys({ ...want, ...have }).filter((k) => want[k] !== have[k])}`,
          );
        }
      }
    t.equal(
      failures,
      0,
      `${cases} cut points (${writes} writes, multi-sector ones torn too): ${oldCount} restore the old state, ${newCount} the new; the next backup settled them (${JSON.stringify(leftovers)})`,
    );
    t.ok(oldCount > 0 && newCount > 0, "both sides of the switch were cut");
  },
);
