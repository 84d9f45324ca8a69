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
import { RamDevice } from "../firmware-module/src/ops/devices";
import { buildManifest, checkHealth } from "../firmware-module/src/ops/health";
import { formatNtfs } from "../firmware-module/src/ops/ntfs-format";
import { NtfsVolume } from "../firmware-module/src/ops/ntfs-volume";
import { Core, Slot } from "../host-shim/src/native/core";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { DAMAGE_KINDS, injectDamage } from "../simulator/src/damage";
import { NtfsWriter } from "../simulator/src/ntfs-writer";
import {
  buildPrinter,
  provisionFactory,
  SimPrinter,
  startFirmware,
  systemNtfsWriter,
  systemPartition,
  systemWriter,
} from "../simulator/src/printer";
import { Frame, menuSession } from "../simulator/src/session";
import { copyUsedToSparse } from "./helpers/fixtures";
import { ntfsCheck as ntfsCheckFile } from "./helpers/ntfs";

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
    return ntfsCheckFile(file);
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

t.test(
  "NTFS on 4096-byte sectors (wideformat-hdd4kn made NTFS): boots clean, random sectors found and restored",
  async (t) => {
    const profile = ntfsProfile("wideformat-hdd4kn");
    const p = buildPrinter(profile, path.join(tmp, `${profile.id}.img`));
    provisionFactory(p);
    const fw = await startFirmware(p);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    t.equal(new NtfsVolume(systemPartition(p)).g.bytesPerSector, 4096, "4 KiB sectors");
    const clean = fw.call("boot") as BootResult;
    t.same([clean.action, clean.before.problems], ["none", []], "healthy: left alone");
    injectDamage(p.core, systemPartition(p), "random-sectors", CRITICAL, 9);
    const r = fw.call("boot") as BootResult;
    t.same([r.before.restoreNeeded, r.action, r.after?.problems], [true, "restored", []], "found, restored, healthy");
    if (hasNtfs3g) t.equal(ntfsCheck(p), "", "ntfsfix -n and ntfsresize -i -f clean");
  },
);

t.test("NTFS: the profile's exclusions leave a stored job out; it stays allocated with its size", async (t) => {
  const profile = ntfsProfile("office-laser-emmc8g");
  const p = buildPrinter(profile, path.join(tmp, `${profile.id}-x.img`));
  provisionFactory(p);
  const fw = await startFirmware(p);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const w = systemNtfsWriter(p);
  w.writeFile("\\JOBS\\JOB0001.PRN", new Uint8Array(300000).fill(9));
  w.flush();
  p.clock.now += 3600e3;
  const b = fw.call("backup", { name: "with jobs" }) as { excludedFiles: number };
  t.equal(b.excludedFiles, 1, "the stored job is left out (profile exclude \\JOBS\\*)");
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 3);
  const r = fw.call("boot") as BootResult;
  t.equal(r.action, "restored");
  t.equal(r.image?.name, "with jobs", "from the newest image");
  const vol = new NtfsVolume(systemPartition(p));
  const n = vol.lookup("\\JOBS\\JOB0001.PRN");
  t.ok(n !== undefined, "the job is in its directory");
  t.equal(
    vol.dataRuns(n!).reduce((a, x) => a + x.length, 0),
    Math.ceil(300000 / vol.g.clusterBytes),
    "allocated with its size (its clusters not stored)",
  );
  if (hasNtfs3g) t.equal(ntfsCheck(p), "", "ntfsfix -n and ntfsresize -i -f clean");
});

t.test("NTFS ghost printer: restore factory from the service menu after damage", async (t) => {
  const profile = ntfsProfile("compact-sd4g");
  const p = buildPrinter(profile, path.join(tmp, `${profile.id}-menu.img`));
  provisionFactory(p);
  const fw = await startFirmware(p);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 5);
  t.equal((fw.call("health") as { restoreNeeded: boolean }).restoreNeeded, true, "damaged");
  const text = (f: Frame) => f.lines.join(" ").replace(/\s+/g, " ");
  const keyed = menuSession(fw, ["down", "ok", "ok", "wait", "ok"]).filter((f) => f.step !== "progress");
  t.same(
    keyed.map((f) => f.state),
    ["menu", "menu", "confirm", "running", "result", "menu"],
    "menu -> confirm -> running -> result -> menu",
  );
  t.match(text(keyed[2]), /Restore factory\?/, "the confirmation asks first");
  t.match(text(keyed[4]), /Restored from/, "the result says it in words");
  t.equal((fw.call("health") as { ok: boolean }).ok, true, "healthy again");
  if (hasNtfs3g) t.equal(ntfsCheck(p), "", "ntfsfix -n and ntfsresize -i -f clean");
});

t.test(
  "NTFS health on hostile volumes: 200 corruptions of the boot sector, $MFT and $Bitmap, each a report, never a throw",
  async (t) => {
    const MiB = 1 << 20;
    const clean = new RamDevice(512, new Uint8Array(16 * MiB), "fuzz");
    formatNtfs(clean, { clusterBytes: 4096, label: "FUZZ" });
    const w = new NtfsWriter(clean);
    w.writeFile(
      "\\FIRMWARE\\MAIN.BIN",
      new Uint8Array(20000).map((_, i) => i & 0xff),
    );
    w.writeFile("\\FIRMWARE\\SUB\\ENGINE.BIN", new Uint8Array(9000).fill(3));
    w.writeFile("\\README.TXT", new TextEncoder().encode("hello"));
    w.flush();
    const core = new Core({ backgroundWrites: false });
    const manifest = buildManifest(core, clean, ["\\FIRMWARE\\*"], Date.UTC(2026, 0, 1));
    t.equal(manifest.files.length, 2, "the manifest holds the two firmware files");
    t.same(checkHealth(core, clean, manifest).problems, [], "the clean volume is healthy");
    const vol = new NtfsVolume(clean);
    const mft = vol.mft.mftRuns[0].lcn * 4096;
    const regions = [
      [0, 512],
      [mft, 27 * 1024],
      [vol.dataRuns(6)[0].lcn * 4096, 4096],
    ];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const kinds: Record<string, number> = {};
    let throws = 0;
    for (let i = 0; i < 200; i++) {
      const copy = new RamDevice(512, clean.bytes.slice(), "fuzz");
      const [at, len] = regions[i % regions.length];
      for (let k = 0, n = 1 + rnd(6); k < n; k++) {
        const b = new Uint8Array(512);
        const off = at + rnd(len);
        copy.read(Math.floor(off / 512), 1, b, 0);
        b[off % 512] = rnd(256);
        copy.write(Math.floor(off / 512), 1, b, 0);
      }
      try {
        const r = checkHealth(core, copy, manifest);
        for (const p of r.problems) kinds[p.kind] = (kinds[p.kind] ?? 0) + 1;
      } catch (e) {
        throws++;
        if (throws <= 3) t.fail(`case ${i}: checkHealth threw ${(e as Error).stack}`);
      }
    }
    t.equal(throws, 0, `200 hostile volumes, problems named: ${JSON.stringify(kinds)}`);
  },
);
