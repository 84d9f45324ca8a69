// Issue 18, item 3: device profiles whose system partition is NTFS. The simulator formats it
// with the portable NTFS formatter and fills it with its NTFS writer (ntfsfix -n and ntfsresize
// -i clean); the firmware in QuickJS boots it, checks its health ($MFT and $MFTMirr, the records
// against $Bitmap, the manifest's critical files through the indexes), restores every kind of
// damage from the recovery partition or from the ghost image it keeps in the partition itself,
// and leaves a volume ntfs-3g's tools accept.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { Profile, validateProfile } from "../device-profiles/src/profile";
import { NtfsVolume } from "../firmware-module/src/ops/ntfs-volume";
import { Slot } from "../host-shim/src/native/core";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { DAMAGE_KINDS, injectDamage } from "../simulator/src/damage";
import {
  buildPrinter,
  provisionFactory,
  SimPrinter,
  startFirmware,
  systemNtfsWriter,
  systemPartition,
  systemWriter,
} from "../simulator/src/printer";
import { copyUsedToSparse } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-pn-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const hasNtfs3g =
  spawnSync("sh", ["-c", "command -v ntfsfix && command -v ntfsresize && command -v ntfsls"]).status === 0;
const CRITICAL = ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"];

/** A shipped profile with its file-system partitions made NTFS, validated as a profile file would be. */
function ntfsProfile(id: string): Profile {
  const p = JSON.parse(JSON.stringify(loadProfile(id))) as Profile;
  p.id = `${id}-ntfs`;
  for (const x of p.partitions) if (x.fs !== "raw") x.fs = "ntfs";
  return validateProfile(p, `${p.id} (test)`);
}

/** ntfsfix -n and ntfsresize -i -f on the system partition, copied into a sparse file (what $Bitmap marks, and the metadata): "" when clean. */
function ntfsCheck(p: SimPrinter): string {
  const file = path.join(tmp, "system.part");
  copyUsedToSparse(p.core, systemPartition(p), file);
  try {
    const fix = spawnSync("ntfsfix", ["-n", file], { encoding: "utf8" });
    if (fix.status !== 0 || !/processed successfully/.test(fix.stdout)) return `ntfsfix -n: ${fix.stdout}${fix.stderr}`;
    const rs = spawnSync("ntfsresize", ["-i", "-f", "-n", file], { encoding: "utf8" });
    if (rs.status !== 0 || /error|fail|inconsist/i.test(rs.stdout.replace(/Accounting clusters/g, "") + rs.stderr))
      return `ntfsresize -i -f: ${rs.stdout}${rs.stderr}`;
    return "";
  } finally {
    fs.rmSync(file, { force: true });
  }
}

type BootResult = {
  action: string;
  before: { restoreNeeded: boolean; problems: Array<{ kind: string; detail: string }> };
  after?: { problems: unknown[] };
  image?: { kind: string; slot: number; name: string };
};

for (const id of ["office-laser-emmc8g", "compact-sd4g"])
  t.test(
    `NTFS system partition (${id}: ${id.startsWith("compact") ? "ghost image" : "recovery partition"}): boots clean, every kind of damage detected and restored`,
    async (t) => {
      const profile = ntfsProfile(id);
      const p = buildPrinter(profile, path.join(tmp, `${profile.id}.img`));
      provisionFactory(p);
      const fw = await startFirmware(p);
      t.teardown(() => {
        fw.dispose();
        p.close();
      });
      t.throws(() => systemWriter(p), /system partition is NTFS; use systemNtfsWriter/);
      const vol = new NtfsVolume(systemPartition(p));
      t.ok(vol.lookup("\\FIRMWARE\\MAIN.BIN") !== undefined, "the firmware tree is on NTFS, found through its indexes");
      if (hasNtfs3g)
        t.equal(ntfsCheck(p), "", "ntfsfix -n and ntfsresize -i -f: the simulator's system partition is clean");
      const images = fw.call("listImages") as Array<{ kind: string }>;
      t.same(
        images.map((i) => i.kind),
        ["factory"],
        "the factory image is there",
      );
      const clean = fw.call("boot") as BootResult;
      t.equal(clean.action, "none", "a healthy NTFS system partition is left alone");
      t.same(clean.before.problems, [], "no problems on a fresh printer");
      // ordinary use: a new job
      const w = systemNtfsWriter(p);
      w.writeFile("\\JOBS\\job 0001 quarterly report.prn", new TextEncoder().encode("%!PS job\n".repeat(5000)));
      w.flush();
      const used = fw.call("boot") as BootResult;
      t.same([used.action, used.before.problems], ["none", []], "ordinary use never triggers a restore");
      let seed = 71;
      for (const kind of DAMAGE_KINDS) {
        await t.test(kind, async (t) => {
          const d = injectDamage(p.core, systemPartition(p), kind, CRITICAL, seed++);
          t.ok(d.sectors.length > 0, d.detail);
          const r = fw.call("boot") as BootResult;
          t.equal(r.before.restoreNeeded, true, `the health check finds it: ${r.before.problems[0]?.detail}`);
          t.equal(r.action, "restored");
          t.equal(r.image?.kind, "factory");
          t.same(r.after?.problems, [], "healthy after the restore");
          if (profile.imageLocation.kind === "recovery-partition") {
            p.host.beginVerify({ slot: 0, against: p.layout.system });
            while (!p.host.step(64 << 20).done) {
              /* steps */
            }
            t.equal(p.core.results()[Slot.mismatches], 0, "every stored cluster matches the image");
            p.host.finish();
          }
          if (hasNtfs3g) t.equal(ntfsCheck(p), "", "ntfsfix -n and ntfsresize -i -f clean after the restore");
        });
      }
    },
  );
