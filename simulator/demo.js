#!/usr/bin/env node
// npm run demo: a simulated printer from the default device profile (or the one named on the
// command line), from the factory line to a repair at boot:
//   1. the factory line lays out the disk and provisions the factory image;
//   2. the printer boots (the firmware module in QuickJS checks its system partition);
//   3. a user prints and changes settings: the next boot changes nothing;
//   4. the system partition is damaged (several kinds, one after the other): each boot
//      detects it, restores from the newest good image, and verifies;
//   5. a technician backs up and verifies from the front panel's service menu, shown frame by
//      frame with the key pressed before each;
// then it says what happened. Everything runs on a sparse disk file in a temporary folder.
// The printer's clock runs with real time plus the time its disk would take at the profile's
// read and write speeds and seek time (simulator TimedDevice, device-profiles/src/device-model.ts),
// so the times, rates and "time left" shown are those the profile's printer would show; the demo's own run time is given at the end.
"use strict";

// the build's modules; the demo's files go through the Node host (host-shim), like everything Node-only
const { loadProfile } = require("../dist/host-shim/src/native/load-profile");
const { scratchDir } = require("../dist/host-shim/src/native/file-device");
const sim = require("../dist/simulator/src/printer");
const { modelOfDisk } = require("../dist/device-profiles/src/device-model");
const { injectDamage } = require("../dist/simulator/src/damage");
const { menuSession, caption } = require("../dist/simulator/src/session");

const id = process.argv[2] || "office-laser-emmc8g";
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const say = (s = "") => console.log(s);
const heading = (s) => say(`\n== ${s} ${"=".repeat(Math.max(0, 70 - s.length))}`);

function panel(lines) {
  const w = lines[0].length;
  return [`  +${"-".repeat(w)}+`, ...lines.map((l) => `  |${l}|`), `  +${"-".repeat(w)}+`].join("\n");
}

/**
 * The boot's progress as the printer reports it (host.progress): a bar line per report, the rate
 * between two reports of one job by the printer's clock (a job done in one step has no rate).
 */
function progressPrinter(columns, clock) {
  let last; // the previous report: { kind, bytesDone, at }
  return (p) => {
    const now = clock.now;
    const same = last && last.kind === p.kind && p.bytesDone > last.bytesDone && now > last.at;
    const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
    const width = Math.max(10, columns - 12);
    const fill = Math.round(frac * width);
    const rate = same
      ? `${((p.bytesDone - last.bytesDone) / 1e3 / (now - last.at)).toFixed(1)} MB/s`
      : `${mb(p.bytesDone)} in one step`;
    say(
      `     ${p.kind.padEnd(7)} [${"#".repeat(fill)}${".".repeat(width - fill)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${rate.padStart(9)}  ${p.phase}`,
    );
    last = p.phase === "done" ? undefined : { kind: p.kind, bytesDone: p.bytesDone, at: now };
  };
}

/**
 * On a panel too small for the whole progress screen its lower rows take turns (2 s each):
 * what they show in turn at this point of the job, read by rendering at the following seconds
 * of the printer's clock, which is then set back.
 */
function turns(fw, clock, rows) {
  const t = clock.now,
    seen = [];
  for (let k = 0; k < 8; k++) {
    clock.now = t + k * 2000;
    const text = fw
      .call("menuRender")
      .lines.slice(1)
      .map((l) => l.trim())
      .join(" / ");
    if (!seen.includes(text)) seen.push(text);
  }
  clock.now = t;
  return seen.length > 1
    ? `   (${rows > 2 ? "the rows below the title take" : "the row below the title takes"} turns, 2 s each: ${seen.join(" | ")})`
    : undefined;
}

/**
 * The frames of a menu session worth reading: every key's frame, and of a task's progress
 * frames the first and the last that show a rate (the first and last when none does).
 */
function framesToShow(frames) {
  const out = [];
  for (let i = 0; i < frames.length; ) {
    if (frames[i].step !== "progress") {
      out.push([frames[i], frames[i - 1]]);
      i++;
      continue;
    }
    let j = i;
    while (j < frames.length && frames[j].step === "progress") j++;
    const run = frames.slice(i, j);
    const rated = run
      .map((f, k) => (/\d MB\/s|\d left/.test(f.lines.join(" ") + (f.turns || "")) ? k : -1))
      .filter((k) => k >= 0);
    const picks = [...new Set(rated.length ? [rated[0], rated[rated.length - 1]] : [0, run.length - 1])];
    for (const k of picks) out.push([run[k], k === 0 ? frames[i - 1] : run[k - 1]]);
    if (picks.length < run.length)
      out.push([
        {
          step: "note",
          lines: [],
          note: `(${run.length} steps in all; ${run.length - picks.length} more progress frame${run.length - picks.length === 1 ? "" : "s"} not shown)`,
        },
      ]);
    i = j;
  }
  return out;
}

async function main() {
  const wall0 = Date.now();
  const profile = loadProfile(id);
  const dir = scratchDir("clusterback-demo-");
  const story = [];
  try {
    heading(`1. factory line: ${profile.model}`);
    const t0 = Date.now();
    const p = sim.buildPrinter(profile, `${dir.path}/disk.img`, { diskTiming: true });
    say(
      `   disk: ${profile.disk.media}, ${mb(profile.disk.sizeBytes)}, ${profile.disk.sectorBytes}-byte sectors, ${profile.partitionTable.toUpperCase()}`,
    );
    for (const [i, part] of profile.partitions.entries()) {
      const pl = p.placed[i];
      say(
        `   partition ${pl.number}: ${part.role.padEnd(8)} ${part.name.padEnd(9)} ${part.fs.padEnd(5)} ${String(part.sizeMiB).padStart(7)} MiB at LBA ${pl.startLba}`,
      );
    }
    say(
      `   system partition filled with ${p.files.length} firmware files (${mb(p.files.reduce((a, f) => a + f.size, 0))}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const fac = sim.provisionFactory(p);
    say(
      `   factory image ${fac.ghost ? `in the ghost file ${fac.ghost} of the system partition` : `in slot ${fac.slot}`}: ${mb(fac.imageBytes)}, manifest of ${fac.manifestFiles} critical files`,
    );
    story.push(`factory image provisioned (${mb(fac.imageBytes)})`);

    say(
      `   the printer's clock adds the time its ${profile.disk.media} would take: ${profile.disk.readMBps} MB/s read, ${profile.disk.writeMBps} MB/s write, ${modelOfDisk(profile.disk).accessMs} ms for each seek (device-profiles/src/device-model.ts)`,
    );
    let menuOpen = false; // the panel frames show the menu's own progress; the bar lines are for boots
    const bars = progressPrinter(profile.panel.columns, p.clock);
    const fw = await sim.startFirmware(p, {
      onProgress: (x) => {
        if (!menuOpen) bars(x);
      },
      log: (s) => say(`   firmware: ${s}`),
    });
    try {
      heading("2. first boot");
      let r = fw.call("boot");
      story.push(`first boot: ${r.action === "none" ? "healthy, nothing done" : r.action}`);

      heading("3. a day of printing: new jobs, changed settings");
      // (an exFAT system partition, kiosk-exfat-emmc4g: the simulator's exFAT writer adds files, it does not replace them)
      const sysFs = p.profile.partitions[p.layout.system - 1].fs;
      const exfat = sysFs === "exfat" || sysFs === "ntfs"; // (NTFS: its writer adds files too)
      const w =
        sysFs === "exfat" ? sim.systemExfatWriter(p) : sysFs === "ntfs" ? sim.systemNtfsWriter(p) : sim.systemWriter(p);
      w.writeFile("\\JOBS\\Quarterly report.prn", new TextEncoder().encode("%!PS-Adobe-3.0\n".repeat(20000)));
      w.writeFile(
        exfat ? "\\CONFIG\\network-override.xml" : "\\CONFIG\\network.xml",
        new TextEncoder().encode("<network dhcp='off' address='10.1.2.3'/>\n"),
      );
      w.flush();
      p.clock.now += 8 * 3600e3;
      r = fw.call("boot");
      say(`   boot: ${r.action === "none" ? "healthy: user changes are not damage, nothing restored" : r.action}`);
      story.push(`boot after ordinary use: ${r.action === "none" ? "nothing restored" : r.action}`);

      heading("4. damage, detected and repaired at boot");
      const kinds = [
        "zero-boot-sector",
        "zero-first-mib",
        "damaged-fat",
        "corrupt-file",
        "delete-critical-file",
        "random-sectors",
      ];
      for (const [i, kind] of kinds.entries()) {
        const d = injectDamage(
          p.core,
          sim.systemPartition(p),
          kind,
          ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"],
          100 + i,
        );
        say(`\n   damage: ${d.detail}`);
        p.clock.now += 3600e3;
        const b = fw.call("boot");
        const verified = b.after?.ok;
        say(`   => ${b.action}${verified ? ", verified healthy" : ""} in ${b.seconds.toFixed(2)} s`);
        story.push(
          `${kind}: ${b.before.restoreNeeded ? "detected" : "NOT detected"}, ${b.action}${verified ? ", verified" : ""}`,
        );
      }

      heading(
        `5. service menu on the ${profile.panel.rows}x${profile.panel.columns} panel: back up now, then verify images`,
      );
      const before = fw.call("listImages");
      // "Back up now": ok asks, ok starts; a printer that keeps one image (a ghost) warns first
      // that the factory image is replaced, on a screen of its own when the panel is small
      menuOpen = true;
      const script = ["ok", "ok"];
      if (profile.imageLocation.kind === "ghost") script.push("ok");
      script.push("wait", "ok", "down", "down", "down", "ok", "wait");
      // a 2-row panel shows a wrapped result two lines at a time: scroll through it
      if (profile.panel.rows < 4) script.push("down");
      const frames = menuSession(fw, script, 10000, (f) => {
        if (f.step === "progress" && profile.panel.rows < 4) f.turns = turns(fw, p.clock, profile.panel.rows);
      });
      menuOpen = false;
      for (const [f, prev] of framesToShow(frames)) {
        if (f.step === "note") {
          say(`   ${f.note}`);
          continue;
        }
        say(`   ${caption(f, prev)}:`);
        say(panel(f.lines));
        if (f.step === "progress" && f.turns) say(f.turns);
      }
      const images = fw.call("listImages");
      if (before.some((i) => i.kind === "factory") && !images.some((i) => i.kind === "factory")) {
        say(`\n   the factory image was replaced by the new backup, as the panel warned`);
      }
      story.push(
        `service menu: ${images.length} images now (${images.map((i) => `${i.kind} "${i.name}"`).join(", ")}), all verified`,
      );
      say(
        `\n   QuickJS heap ${fw.heapUsed()} B (budget ${profile.budgets.quickjsHeapBytes}), wasm memory ${p.core.memoryBytes} B (budget ${profile.budgets.wasmMemoryBytes}), ${fw.calls} host calls in all`,
      );
    } finally {
      fw.dispose();
      p.close();
    }
    heading("what happened");
    for (const s of story) say(`   - ${s}`);
    say(`\n   (the demo ran for ${((Date.now() - wall0) / 1000).toFixed(1)} s; the times above are the printer's)`);
    const failed = story.filter((s) => /NOT detected|failed|no-image/.test(s));
    if (failed.length) {
      say(`\n   ${failed.length} step(s) went wrong`);
      process.exitCode = 1;
    }
  } finally {
    dir.remove();
  }
}

main().catch((e) => {
  console.error(`demo failed: ${e?.message ? e.message : e}`);
  process.exit(1);
});
