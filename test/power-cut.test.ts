// Power cut after every write (littlefs's emulated-disk test, on a whole printer): a restore of
// a wiped system partition, and a backup, are cut off after write 0, 1, 2, ... (some writes
// torn at sector granularity); the printer is then rebooted (a fresh firmware in QuickJS on what
// reached the disk), and its boot must end with a bit-exact, checked result every time.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { ImageStore } from "../firmware-module/src/ops/image-store";
import { PrinterHost } from "../firmware-module/src/ops/printer-host";
import { Slot } from "../host-shim/src/native/core";
import { bundlePath } from "../host-shim/src/native/core-files";
import { PartitionView, RamDevice } from "../host-shim/src/native/devices";
import { FaultDevice, PowerCutError } from "../host-shim/src/native/fault-device";
import { loadQuickJS } from "../host-shim/src/native/quickjs-engine";
import { Firmware } from "../host-shim/src/native/quickjs-host";
import { SimPrinter } from "../simulator/src/printer";
import { systemRange, tinyPrinter } from "./helpers/tiny-printer";

const hasFsck = (() => {
  try {
    execFileSync("fsck.fat", ["--help"], { stdio: "ignore" });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ENOENT";
  }
})();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-powercut-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The partition equals the image in `slot`: every stored cluster and the metadata area. */
function exact(p: SimPrinter, host: PrinterHost, slot: number): { mismatches: number; metadataDiffers: boolean } {
  host.beginVerify({ slot, against: p.layout.system });
  while (!host.step(64 << 20).done) {
    /* steps */
  }
  const r = p.core.results();
  const out = { mismatches: r[Slot.mismatches], metadataDiffers: r[Slot.metaMismatch] === 1 };
  host.cancel(); // verify results were read: release the job without its own check
  return out;
}

function fsckClean(ram: RamDevice, p: SimPrinter): boolean {
  const [a, b] = systemRange(p);
  const file = path.join(tmp, "system.part");
  fs.writeFileSync(file, ram.bytes.subarray(a, b));
  try {
    execFileSync("fsck.fat", ["-n", file], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** A restore (or backup) driven as the firmware drives it, until it ends or the power goes. */
function runUntilCut(host: PrinterHost, begin: () => void): "done" | "cut" {
  try {
    begin();
    while (!host.step(32 << 20).done) {
      /* steps */
    }
    host.finish();
    return "done";
  } catch (e) {
    if (e instanceof PowerCutError || (e as Error).name === "PowerCutError") return "cut";
    throw e;
  }
}

t.test("restore: power cut after every write, then a reboot finishes it bit-exactly", async (t) => {
  const engine = await loadQuickJS();
  const { p, ram } = tinyPrinter();
  const [a, b] = systemRange(p);
  ram.bytes.fill(0, a, b); // a wiped system partition: the restore writes all of it
  const damaged = ram.bytes.slice(a, b);
  // how many writes an uninterrupted restore makes
  const counting = new FaultDevice(ram);
  const ch = new PrinterHost(p.core, counting, p.layout, () => p.clock.now);
  ch.beginRestore({ slot: 0, partition: p.layout.system });
  while (!ch.step(32 << 20).done) {
    /* steps */
  }
  ch.finish();
  const writes = counting.counters.writes;
  t.ok(writes >= 1000, `an uninterrupted restore makes ${writes} writes`);
  let cases = 0,
    failures = 0,
    fscked = 0,
    torn = 0;
  const t0 = performance.now();
  for (let n = 0; n < writes; n++) {
    ram.bytes.set(damaged, a);
    const tear = n % 3; // 0: the cut write reaches nothing; 1, 2: its first sectors do
    if (tear) torn++;
    const fault = new FaultDevice(ram, { powerCutAfterWrites: n, tearSectors: tear });
    const host1 = new PrinterHost(p.core, fault, p.layout, () => p.clock.now);
    const outcome = runUntilCut(host1, () => host1.beginRestore({ slot: 0, partition: p.layout.system }));
    // reboot: power back, a fresh firmware in QuickJS on what reached the disk
    const host2 = new PrinterHost(p.core, ram, p.layout, () => p.clock.now);
    const fw = new Firmware(engine, host2, {
      profile: p.profile,
      heapBytes: p.profile.budgets.quickjsHeapBytes,
      stackBytes: p.profile.budgets.quickjsStackBytes,
      bundle: bundlePath(),
    });
    let report: { action: string; before: { restoreInProgress?: unknown } };
    try {
      report = fw.call("boot") as typeof report;
    } finally {
      fw.dispose();
    }
    const e = exact(p, host2, 0);
    // a cut inside the very last write (the boot sector over the mark) that still got all of it
    // through leaves a finished restore: the boot then rightly finds nothing to do
    const finished = report.action === "restored" || (report.action === "none" && n === writes - 1);
    const ok = outcome === "cut" && finished && e.mismatches === 0 && !e.metadataDiffers;
    cases++;
    if (n % 100 === 0 && hasFsck) {
      fscked++;
      if (!fsckClean(ram, p)) {
        failures++;
        t.fail(`write ${n}: fsck.fat -n finds the restored partition unclean`);
      }
    }
    if (!ok) {
      failures++;
      t.fail(
        `power cut after write ${n} (tear ${tear}): first run ${outcome}, boot ${report.action}, ${e.mismatches} clusters differ, metadata ${e.metadataDiffers ? "differs" : "same"}`,
      );
    }
  }
  t.equal(
    failures,
    0,
    `${cases} power-cut points (${torn} with a torn write), every one restored bit-exactly at the next boot; ${fscked} checked with fsck.fat -n; ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  t.ok(cases >= 1000, `${cases} cases`);
});

t.test(
  "backup: power cut after every write; after the reboot the old or the new image is current and restores exactly",
  async (t) => {
    const { p, ram } = tinyPrinter(400);
    const recovery = p.placed[p.layout.recovery - 1];
    const storeRange: [number, number] = [recovery.startLba * 512, (recovery.startLba + recovery.sectorCount) * 512];
    const before = ram.bytes.slice(storeRange[0], storeRange[1]);
    // a backup into slot 1, counted
    const counting = new FaultDevice(ram);
    const ch = new PrinterHost(p.core, counting, p.layout, () => p.clock.now);
    t.equal(
      runUntilCut(ch, () => ch.beginBackup({ partition: p.layout.system, name: "new" })),
      "done",
    );
    const writes = counting.counters.writes;
    t.ok(writes > 5, `an uninterrupted backup makes ${writes} writes`);
    let oldCurrent = 0,
      newCurrent = 0,
      failures = 0;
    for (let n = 0; n <= writes; n++) {
      for (const tear of [0, 1]) {
        ram.bytes.set(before, storeRange[0]);
        const fault = new FaultDevice(ram, { powerCutAfterWrites: n, tearSectors: tear });
        const h1 = new PrinterHost(p.core, fault, p.layout, () => p.clock.now);
        const outcome = runUntilCut(h1, () => h1.beginBackup({ partition: p.layout.system, name: "new" }));
        // reboot
        const store = ImageStore.open(new PartitionView(ram, recovery.startLba, recovery.sectorCount));
        const images = store.images();
        const newest = images[0];
        const h2 = new PrinterHost(p.core, ram, p.layout, () => p.clock.now);
        const e = exact(p, h2, newest.slot);
        const good =
          images.some((i) => i.kind === "factory") &&
          e.mismatches === 0 &&
          !e.metadataDiffers &&
          (newest.name === "new" ? outcome === "done" || n >= writes - 1 : true);
        if (newest.name === "new") newCurrent++;
        else oldCurrent++;
        if (!good) {
          failures++;
          t.fail(
            `backup cut after write ${n} (tear ${tear}): ${outcome}; current image "${newest.name}" in slot ${newest.slot}; ${e.mismatches} clusters differ`,
          );
        }
      }
    }
    t.equal(
      failures,
      0,
      `${2 * (writes + 1)} cut points: the factory image always survives; ${oldCurrent} times the old image was current, ${newCurrent} times the new one, and it always matched the partition exactly`,
    );
    t.ok(newCurrent >= 2 && oldCurrent >= 2 * writes - 2, "the new image becomes current only with the final commit");
  },
);
