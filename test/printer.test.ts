// The printer, end to end: a disk built from each device profile by the simulator, the factory
// image provisioned, and the firmware module running in a bare QuickJS context: boot on a
// healthy disk changes nothing (user changes included), every kind of injected damage ends in a
// verified restore, budgets hold, and no Node API is reachable from the firmware.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { HOST_FUNCTIONS } from "../firmware-module/src/host-api";
import { isExfat } from "../firmware-module/src/ops/exfat-dir";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import { isNtfs } from "../firmware-module/src/ops/ntfs-volume";
import { Slot } from "../host-shim/src/native/core";
import { listProfiles, loadProfile } from "../host-shim/src/native/load-profile";
import { Firmware } from "../host-shim/src/native/quickjs-host";
import { DAMAGE_KINDS, injectDamage } from "../simulator/src/damage";
import {
  buildPrinter,
  provisionFactory,
  SimPrinter,
  startFirmware,
  systemPartition,
  systemWriter,
} from "../simulator/src/printer";
import { evaluate } from "./helpers/evaluate";
import { copyUsedToSparse } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-printer-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const hasTool = (tool: string) => {
  try {
    execFileSync(tool, ["--help"], { stdio: "ignore" });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && (e as { code?: string }).code !== "ENOENT";
  }
};
const hasFsck = hasTool("fsck.fat"),
  hasFsckExfat = hasTool("fsck.exfat"),
  hasNtfs3g = hasTool("ntfsfix") && hasTool("ntfsresize");

interface Booted {
  p: SimPrinter;
  fw: Firmware;
  progress: unknown[];
}
async function printer(id: string): Promise<Booted> {
  const p = buildPrinter(loadProfile(id), path.join(tmp, `${id}.img`));
  provisionFactory(p);
  const progress: unknown[] = [];
  const fw = await startFirmware(p, { onProgress: (x) => progress.push(x) });
  return { p, fw, progress };
}

/**
 * fsck.fat -n on the system partition, copied out of the disk into a sparse file: its system
 * area (boot sectors, FATs, root directory) and every allocated cluster, which is all fsck.fat -n
 * reads; the free clusters stay holes (dd read the whole partition, 4 GiB on wideformat-hdd4kn).
 */
function fsckClean(p: SimPrinter): string {
  const part = systemPartition(p);
  const file = path.join(tmp, "system.part");
  copyUsedToSparse(p.core, part, file);
  try {
    // an exFAT system partition (kiosk-exfat-emmc4g) is checked by fsck.exfat, whose summary says "files" too;
    // an NTFS one (production-ntfs-ssd16g) by ntfsfix -n, and by ntfsresize -i -f for its cluster accounting
    if (isNtfs(part)) {
      const fix = execFileSync("ntfsfix", ["-n", file], { encoding: "utf8" });
      const rs = execFileSync("ntfsresize", ["-i", "-f", "-n", file], { encoding: "utf8" });
      return /processed successfully/.test(fix) && !/error|fail|inconsist/i.test(rs.replace(/Accounting clusters/g, ""))
        ? "ntfsfix and ntfsresize: no problem found"
        : `${fix}${rs}`;
    }
    return execFileSync(isExfat(part) ? "fsck.exfat" : "fsck.fat", ["-n", file], { encoding: "utf8" });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

for (const id of listProfiles()) {
  t.test(`profile ${id}: boots clean, stays within its budgets`, async (t) => {
    const { p, fw } = await printer(id);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    const images = fw.call("listImages") as Array<{ kind: string; slot: number }>;
    t.equal(images.length, 1, "the factory image is there");
    t.equal(images[0].kind, "factory");
    const r = fw.call("boot") as { action: string; before: { ok: boolean; problems: unknown[] } };
    t.equal(r.action, "none", "a healthy system partition is left alone");
    t.same(r.before.problems, [], "no problems on a fresh printer");
    t.ok(
      fw.heapUsed() <= p.profile.budgets.quickjsHeapBytes,
      `QuickJS heap ${fw.heapUsed()} B within ${p.profile.budgets.quickjsHeapBytes}`,
    );
    t.ok(
      p.core.memoryBytes <= p.profile.budgets.wasmMemoryBytes,
      `wasm memory ${p.core.memoryBytes} B within ${p.profile.budgets.wasmMemoryBytes}`,
    );
    const exfat = isExfat(systemPartition(p)),
      ntfs = isNtfs(systemPartition(p));
    if (ntfs ? hasNtfs3g : exfat ? hasFsckExfat : hasFsck)
      t.match(
        fsckClean(p),
        ntfs ? /no problem found/ : /files/,
        `${ntfs ? "ntfsfix -n and ntfsresize -i -f" : exfat ? "fsck.exfat -n" : "fsck.fat -n"}: the simulator's system partition is clean`,
      );
  });
}

t.test("ordinary use (new jobs, changed settings) never triggers a restore", async (t) => {
  const { p, fw } = await printer("office-laser-emmc8g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const w = systemWriter(p);
  w.writeFile("\\JOBS\\job 0001 quarterly report.prn", new TextEncoder().encode("%!PS job\n".repeat(5000)));
  w.writeFile("\\JOBS\\JOB0002.PRN", new Uint8Array(70000).fill(7));
  w.remove("\\CONFIG\\network.xml");
  w.writeFile("\\CONFIG\\network.xml", new TextEncoder().encode("<network dhcp='off' ip='10.0.0.7'/>"));
  w.flush();
  const before = new FatReader(systemPartition(p), p.core).lookup("\\JOBS\\JOB0002.PRN");
  const r = fw.call("boot") as { action: string; before: { problems: unknown[] } };
  t.equal(r.action, "none", "nothing restored");
  t.same(r.before.problems, [], "no problem reported");
  t.same(new FatReader(systemPartition(p), p.core).lookup("\\JOBS\\JOB0002.PRN"), before, "the new job is still there");
});

t.test("every kind of damage: detected at boot, restored from the factory image, verified", async (t) => {
  const { p, fw, progress } = await printer("office-laser-emmc8g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  let seed = 11;
  for (const kind of DAMAGE_KINDS) {
    await t.test(kind, async (t) => {
      const d = injectDamage(
        p.core,
        systemPartition(p),
        kind,
        ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"],
        seed++,
      );
      t.ok(d.sectors.length > 0, d.detail);
      progress.length = 0;
      const r = fw.call("boot") as {
        action: string;
        before: { restoreNeeded: boolean };
        after?: { ok: boolean; problems: unknown[] };
        image?: { kind: string };
      };
      t.equal(r.before.restoreNeeded, true, "the health check finds the damage");
      t.equal(r.action, "restored");
      t.equal(r.image?.kind, "factory");
      t.same(r.after?.problems, [], "healthy after the restore");
      // (at most one report per 100 ms of the printer's clock; a restore that compares while it
      // checks, docs/image-format.md 10.2, may be done within one)
      const at = progress.at(-1);
      const last = (typeof at === "string" ? JSON.parse(at) : (at ?? {})) as {
        kind?: string;
        bytesDone?: number;
        bytesTotal?: number;
      };
      t.ok(progress.length >= 1, `progress reported (${progress.length} steps)`);
      t.ok(
        last.bytesTotal !== undefined && last.bytesTotal > 0 && last.bytesDone === last.bytesTotal,
        `the last report says the job is done (${last.bytesDone} of ${last.bytesTotal} bytes)`,
      );
      // the partition equals the image, cluster for cluster, and fsck agrees
      p.host.beginVerify({ slot: 0, against: p.layout.system });
      while (!p.host.step(64 << 20).done) {
        /* steps */
      }
      t.equal(p.core.results()[Slot.mismatches], 0, "every stored cluster matches the image");
      p.host.finish();
      if (hasFsck) t.match(fsckClean(p), /files/, "fsck.fat -n clean after the restore");
    });
  }
});

t.test("the firmware runs in a bare QuickJS context: no Node API is reachable", async (t) => {
  const { p, fw } = await printer("office-laser-emmc8g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  for (const name of [
    "require",
    "process",
    "Buffer",
    "module",
    "exports",
    "global",
    "__dirname",
    "setImmediate",
    "WebAssembly",
    "fetch",
    "std",
    "os",
  ]) {
    t.equal(evaluate(fw, `typeof ${name}`), "undefined", `${name} is not defined`);
  }
  t.same(
    evaluate(fw, "Object.keys(host).sort().join(',')"),
    [...HOST_FUNCTIONS].sort().join(","),
    "the host API is exactly the small set a printer's C code provides",
  );
  const bundle = fs.readFileSync(path.join(__dirname, "..", "dist", "firmware", "firmware.js"), "utf8");
  t.notMatch(
    bundle,
    /\brequire\(|\bprocess\.|["'`]node:/,
    "the bundle names no Node module (no require, no process, no node: specifier)",
  );
  // the bundle built without NTFS (for printers with no NTFS partition) holds none of its code
  const nontfs = fs.readFileSync(path.join(__dirname, "..", "dist", "firmware", "firmware-nontfs.js"), "utf8");
  t.notMatch(nontfs, /\brequire\(|\bprocess\.|["'`]node:/, "the bundle without NTFS names no Node module either");
  t.match(bundle, /CBNTFSJ1/, "firmware.js holds the NTFS ghost's code (its journal magic)");
  t.notMatch(nontfs, /CBNTFSJ1|\$INDEX_ROOT|\$MFTMirr/, "firmware-nontfs.js holds no NTFS ghost or health code");
  t.ok(
    nontfs.length < bundle.length - 20000,
    `firmware-nontfs.js is ${nontfs.length} bytes, firmware.js ${bundle.length}`,
  );
  // a restore crosses the host boundary once per step, never once per cluster
  const callsBefore = fw.calls;
  fw.call("restore", { image: 0 });
  const calls = fw.calls - callsBefore;
  const clusters = p.core.results()[Slot.clustersDone];
  // the firmware reads the store and the image headers itself (small reads), but never per cluster
  t.ok(clusters > 1000 && calls < 200 && calls * 20 < clusters, `${calls} host calls for ${clusters} clusters`);
});

t.test(
  "backup, listImages, verify through the firmware API; a cancelled backup keeps the previous images",
  async (t) => {
    let cancel = false;
    const p = buildPrinter(loadProfile("office-laser-emmc8g"), path.join(tmp, "api.img"));
    provisionFactory(p);
    const fw = await startFirmware(p, { shouldCancel: () => cancel });
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    p.clock.now += 86400e3;
    const b = fw.call("backup", { name: "monday" }) as { slot: number; manifestFiles: number };
    t.equal(b.slot, 1, "the first backup goes to a free slot, not over the factory image");
    t.ok(b.manifestFiles > 10, `${b.manifestFiles} files in the manifest`);
    const list = fw.call("listImages") as Array<{ name: string; kind: string }>;
    t.same(
      list.map((i) => i.name),
      ["monday", "office-laser-emmc8g factory"],
      "newest first",
    );
    t.same(fw.call("verify", { image: 1 }), {
      kind: "verify",
      slot: 1,
      name: "monday",
      clusters: (fw.call("listImages") as Array<{ image: { imageClusters: number } }>)[0].image.imageClusters,
      bytesWritten: 0,
      bytesRead: 0,
    });
    cancel = true;
    t.throws(() => fw.call("backup", { name: "tuesday" }), /cancelled/, "cancel between steps");
    cancel = false;
    t.same(
      (fw.call("listImages") as Array<{ name: string }>).map((i) => i.name),
      ["monday", "office-laser-emmc8g factory"],
      "both earlier images still valid",
    );
    t.throws(
      () => fw.call("restore", { image: 2 }),
      /slot 2 holds no valid image/,
      "a slot without a valid image is refused, by name",
    );
  },
);

t.test("the profile's exclusions: stored jobs are left out of a backup and come back empty", async (t) => {
  const { p, fw } = await printer("office-laser-emmc8g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const w = systemWriter(p);
  w.writeFile("\\JOBS\\JOB0001.PRN", new Uint8Array(300000).fill(9));
  w.flush();
  p.clock.now += 3600e3;
  const b = fw.call("backup", { name: "with jobs" }) as { excludedFiles: number };
  t.equal(b.excludedFiles, 1, "the stored job is left out (profile exclude \\JOBS\\*)");
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 3);
  const r = fw.call("boot") as { action: string; image?: { name: string } };
  t.equal(r.action, "restored");
  t.equal(r.image?.name, "with jobs", "from the newest image");
  const job = new FatReader(systemPartition(p), p.core).lookup("\\JOBS\\JOB0001.PRN");
  t.same([job?.size, job?.firstCluster], [0, 0], "the job is there, empty");
  if (hasFsck) t.match(fsckClean(p), /files/, "fsck.fat -n clean");
});

// The ghost image (issue 6): compact-sd4g keeps its one image as \RECOVERY.CBI in the system
// partition itself. Every kind of damage, the first MiB destroyed included, ends in a verified
// restore from it, and the ghost is still there and valid after each one (so the next works too).
t.test("ghost printer: every kind of damage, twice, restored from the ghost it keeps", async (t) => {
  const { p, fw, progress } = await printer("compact-sd4g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const first = fw.call("listImages") as Array<{ slot: number; kind: string; headerCheck: string; name: string }>;
  t.same(
    first.map((i) => [i.slot, i.kind]),
    [[0, "factory"]],
    "one image: the factory ghost, slot 0",
  );
  const ghost = new FatReader(systemPartition(p), p.core).lookup("\\RECOVERY.CBI");
  t.equal(ghost?.attributes, 0x07, "the ghost file is read-only, hidden and system");
  let seed = 31;
  for (const round of [1, 2]) {
    for (const kind of DAMAGE_KINDS) {
      await t.test(`round ${round}: ${kind}`, async (t) => {
        injectDamage(p.core, systemPartition(p), kind, ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"], seed++);
        progress.length = 0;
        const r = fw.call("boot") as {
          action: string;
          before: { restoreNeeded: boolean };
          after?: { problems: unknown[] };
          image?: { kind: string; slot: number };
        };
        t.equal(r.before.restoreNeeded, true, "the health check finds the damage");
        t.equal(r.action, "restored");
        t.same(r.image && [r.image.slot, r.image.kind], [0, "factory"], "from the ghost");
        t.same(r.after?.problems, [], "healthy after the restore");
        const now = fw.call("listImages") as Array<{ headerCheck: string }>;
        t.same(
          now.map((i) => i.headerCheck),
          [first[0].headerCheck],
          "the same ghost image is still there and valid",
        );
        p.host.beginVerify({ slot: 0, against: p.layout.system });
        while (!p.host.step(64 << 20).done) {
          /* steps */
        }
        t.equal(p.core.results()[Slot.mismatches], 0, "every stored cluster matches the image");
        p.host.finish();
        if (hasFsck && (round === 1 || kind === "zero-first-mib"))
          t.match(fsckClean(p), /files/, "fsck.fat -n clean after the restore");
      });
    }
  }
});

t.test("ghost printer: a backup replaces the ghost, a cancelled one leaves it, exclusions apply", async (t) => {
  let cancel = false;
  const p = buildPrinter(loadProfile("compact-sd4g"), path.join(tmp, "ghost-api.img"));
  provisionFactory(p);
  const fw = await startFirmware(p, { shouldCancel: () => cancel });
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const w = systemWriter(p);
  w.mkdir("\\TEMP");
  w.writeFile("\\TEMP\\SCRATCH.BIN", new Uint8Array(200000).fill(5));
  w.writeFile("\\SETTINGS.INI", new TextEncoder().encode("[panel]\ncontrast=7\n"));
  w.flush();
  p.clock.now += 86400e3;
  const b = fw.call("backup", { name: "monday" }) as { slot: number; excludedFiles: number; ghost: string };
  t.same(
    [b.slot, b.ghost, b.excludedFiles],
    [0, "\\RECOVERY.CBI", 1],
    "the ghost is replaced; \\TEMP\\* left out (profile exclude)",
  );
  const list = fw.call("listImages") as Array<{ name: string; kind: string }>;
  t.same(
    list.map((i) => [i.name, i.kind]),
    [["monday", "backup"]],
    "one image, the new one",
  );
  const names = () =>
    new FatReader(systemPartition(p), p.core)
      .list("\\")
      .map((e) => e.name)
      .sort();
  t.notOk(names().includes("CBGHOST.TMP"), "no leftover file");
  cancel = true;
  t.throws(() => fw.call("backup", { name: "tuesday" }), /cancelled/, "cancel between steps");
  cancel = false;
  t.same(
    (fw.call("listImages") as Array<{ name: string }>).map((i) => i.name),
    ["monday"],
    "the earlier ghost is still valid",
  );
  t.notOk(names().includes("CBGHOST.TMP"), "the cancelled backup's file is removed");
  injectDamage(p.core, systemPartition(p), "zero-first-mib", [], 1);
  const r = fw.call("boot") as { action: string; image?: { name: string } };
  t.same(
    [r.action, r.image?.name],
    ["restored", "monday"],
    "restored from the new ghost, found without the file system",
  );
  const reader = new FatReader(systemPartition(p), p.core);
  t.same(reader.lookup("\\SETTINGS.INI")?.size, 19, "the change made before the backup is back");
  t.same(
    [reader.lookup("\\TEMP\\SCRATCH.BIN")?.size, reader.lookup("\\TEMP\\SCRATCH.BIN")?.firstCluster],
    [0, 0],
    "the excluded file is there, empty",
  );
  if (hasFsck) t.match(fsckClean(p), /files/, "fsck.fat -n clean");
});
