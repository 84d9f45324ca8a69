#!/usr/bin/env node
// npm run demo: a simulated printer from the default device profile (or the one named on the
// command line), from the factory line to a repair at boot:
//   1. the factory line lays out the disk and provisions the factory image;
//   2. the printer boots (the firmware module in QuickJS checks its system partition);
//   3. a user prints and changes settings: the next boot changes nothing;
//   4. the system partition is damaged (several kinds, one after the other): each boot
//      detects it, restores from the newest good image, and verifies;
//   5. a technician backs up and verifies from the front panel's service menu;
// then it says what happened. Everything runs on a sparse disk file in a temporary folder.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const dist = path.join(__dirname, "..", "dist");
const { loadProfile } = require(path.join(dist, "device-profiles", "src", "load"));
const sim = require(path.join(dist, "simulator", "src", "printer"));
const { injectDamage } = require(path.join(dist, "simulator", "src", "damage"));
const { menuSession, showFrame } = require(path.join(dist, "simulator", "src", "session"));

const id = process.argv[2] || "office-laser-emmc8g";
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const say = (s = "") => console.log(s);
const heading = (s) => say(`\n== ${s} ${"=".repeat(Math.max(0, 70 - s.length))}`);

function panel(lines) {
  const w = lines[0].length;
  return [`  +${"-".repeat(w)}+`, ...lines.map((l) => `  |${l}|`), `  +${"-".repeat(w)}+`].join("\n");
}

/** The boot progress as the printer's panel shows it: a bar line per step. */
function progressPrinter(columns) {
  let t0 = Date.now();
  return (p) => {
    if (p.bytesDone === 0) t0 = Date.now();
    const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
    const width = Math.max(10, columns - 12);
    const fill = Math.round(frac * width);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    say(`     ${p.kind.padEnd(7)} [${"#".repeat(fill)}${".".repeat(width - fill)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${(p.bytesDone / 1e6 / secs).toFixed(0).padStart(5)} MB/s  ${p.phase}`);
  };
}

async function main() {
  const profile = loadProfile(id);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clusterback-demo-"));
  const story = [];
  try {
    heading(`1. factory line: ${profile.model}`);
    const t0 = Date.now();
    const p = sim.buildPrinter(profile, path.join(dir, "disk.img"));
    say(`   disk: ${profile.disk.media}, ${mb(profile.disk.sizeBytes)}, ${profile.disk.sectorBytes}-byte sectors, ${profile.partitionTable.toUpperCase()}`);
    for (const [i, part] of profile.partitions.entries()) {
      const pl = p.placed[i];
      say(`   partition ${pl.number}: ${part.role.padEnd(8)} ${part.name.padEnd(9)} ${part.fs.padEnd(5)} ${String(part.sizeMiB).padStart(7)} MiB at LBA ${pl.startLba}`);
    }
    say(`   system partition filled with ${p.files.length} firmware files (${mb(p.files.reduce((a, f) => a + f.size, 0))}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const fac = sim.provisionFactory(p);
    say(`   factory image ${fac.ghost ? `in the ghost file ${fac.ghost} of the system partition` : `in slot ${fac.slot}`}: ${mb(fac.imageBytes)}, manifest of ${fac.manifestFiles} critical files`);
    story.push(`factory image provisioned (${mb(fac.imageBytes)})`);

    const fw = await sim.startFirmware(p, { onProgress: progressPrinter(profile.panel.columns), log: (s) => say(`   firmware: ${s}`) });
    try {
      heading("2. first boot");
      let r = fw.call("boot");
      story.push(`first boot: ${r.action === "none" ? "healthy, nothing done" : r.action}`);

      heading("3. a day of printing: new jobs, changed settings");
      const w = sim.systemWriter(p);
      w.writeFile("\\JOBS\\Quarterly report.prn", new TextEncoder().encode("%!PS-Adobe-3.0\n".repeat(20000)));
      w.writeFile("\\CONFIG\\network.xml", new TextEncoder().encode("<network dhcp='off' address='10.1.2.3'/>\n"));
      w.flush();
      p.clock.now += 8 * 3600e3;
      r = fw.call("boot");
      say(`   boot: ${r.action === "none" ? "healthy: user changes are not damage, nothing restored" : r.action}`);
      story.push(`boot after ordinary use: ${r.action === "none" ? "nothing restored" : r.action}`);

      heading("4. damage, detected and repaired at boot");
      const kinds = ["zero-boot-sector", "zero-first-mib", "damaged-fat", "corrupt-file", "delete-critical-file", "random-sectors"];
      for (const [i, kind] of kinds.entries()) {
        const d = injectDamage(p.core, sim.systemPartition(p), kind, ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"], 100 + i);
        say(`\n   damage: ${d.detail}`);
        p.clock.now += 3600e3;
        const b = fw.call("boot");
        const verified = b.after && b.after.ok;
        say(`   => ${b.action}${verified ? ", verified healthy" : ""} in ${b.seconds.toFixed(2)} s`);
        story.push(`${kind}: ${b.before.restoreNeeded ? "detected" : "NOT detected"}, ${b.action}${verified ? ", verified" : ""}`);
      }

      heading(`5. service menu on the ${profile.panel.rows}x${profile.panel.columns} panel: back up now, then verify images`);
      const frames = menuSession(fw, ["ok", "ok", "wait", "ok", "down", "down", "down", "ok", "wait"]);
      for (const f of frames.filter((x) => ["open", "ok", "progress", "wait"].includes(x.step))) {
        say(`   after "${f.step}":`);
        say(panel(f.lines));
      }
      const images = fw.call("listImages");
      story.push(`service menu: ${images.length} images now (${images.map((i) => `${i.kind} "${i.name}"`).join(", ")}), all verified`);
      say(`\n   QuickJS heap ${fw.heapUsed()} B (budget ${profile.budgets.quickjsHeapBytes}), wasm memory ${p.core.memoryBytes} B (budget ${profile.budgets.wasmMemoryBytes}), ${fw.calls} host calls in all`);
    } finally {
      fw.dispose();
      p.close();
    }
    heading("what happened");
    for (const s of story) say(`   - ${s}`);
    const failed = story.filter((s) => /NOT detected|failed|no-image/.test(s));
    if (failed.length) {
      say(`\n   ${failed.length} step(s) went wrong`);
      process.exitCode = 1;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`demo failed: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
