// Scripted service-menu sessions on simulated printers: the firmware's menu in QuickJS, driven by
// keys, renders to each profile's panel, asks before anything destructive, shows progress,
// cancels only where that is safe, and reports results in words.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { injectDamage } from "../simulator/src/damage";
import { buildPrinter, provisionFactory, startFirmware, systemPartition } from "../simulator/src/printer";
import { Frame, menuSession, showFrame } from "../simulator/src/session";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-menu-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const text = (f: Frame) => f.lines.join(" ").replace(/\s+/g, " ");

for (const id of ["office-laser-emmc8g", "compact-sd4g"]) {
  t.test(`${id}: restore factory from the panel after damage`, async (t) => {
    const profile = loadProfile(id);
    const p = buildPrinter(profile, path.join(tmp, `${id}.img`));
    provisionFactory(p);
    const fw = await startFirmware(p);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 5);
    t.equal((fw.call("health") as { restoreNeeded: boolean }).restoreNeeded, true, "damaged");
    // to "Restore factory" (second item), decline once, then confirm
    const frames = menuSession(fw, ["down", "ok", "back", "ok", "ok", "wait", "ok"]);
    for (const f of frames) {
      t.ok(
        f.lines.length === profile.panel.rows &&
          f.lines.every((l) => l.length === profile.panel.columns && /^[\x20-\x7e]*$/.test(l)),
        `${f.step}: ${profile.panel.rows}x${profile.panel.columns} ASCII\n${showFrame(f)}`,
      );
    }
    const keyed = frames.filter((f) => f.step !== "progress");
    t.same(
      keyed.map((f) => f.state),
      ["menu", "menu", "confirm", "menu", "confirm", "running", "result", "menu"],
      "menu -> confirm -> (back) menu -> confirm -> running -> result -> menu",
    );
    t.match(text(keyed[2]), /Restore factory\?/, "the confirmation asks first");
    t.match(text(keyed[5]), /%/, "the progress screen shows a percentage");
    t.match(text(keyed[6]), /Restored from/, "the result says it in words");
    t.equal((fw.call("health") as { restoreNeeded: boolean; ok: boolean }).ok, true, "healthy again");
  });
}

t.test("back up now, cancelled from the panel: the earlier images stay; verify and image info", async (t) => {
  const p = buildPrinter(loadProfile("office-laser-emmc8g"), path.join(tmp, "cancel.img"));
  provisionFactory(p);
  const fw = await startFirmware(p);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const imagesBefore = fw.call("listImages");
  // ok (confirm screen), ok (start), one step of the backup, back (cancel while it runs), then let it end
  const frames = menuSession(fw, ["ok", "ok", "tick", "back", "wait"]);
  t.match(text(frames.find((f) => f.step === "tick")!), /Backup +[1-9]\d?%/, "the backup is under way");
  t.match(text(frames.find((f) => f.step === "back")!), /Cancelling/, "the panel says it is cancelling");
  t.match(text(frames[frames.length - 1]), /cancelled/i, "and then that it was cancelled");
  t.same(fw.call("listImages"), imagesBefore, "the factory image is still there, unchanged");
  // a real backup now, then verify both images, then image info
  const more = menuSession(fw, ["ok", "ok", "wait", "ok", "down", "down", "down", "ok", "wait"]);
  t.match(text(more.filter((f) => f.step === "wait")[0]), /Backup complete/, "backup done");
  t.match(text(more[more.length - 1]), /OK/, "verify reports the images OK");
  const info = menuSession(fw, ["back", "down", "down", "down", "down", "ok"]);
  t.equal(info[info.length - 1].state, "info");
  t.match(text(info[info.length - 1]), /Slot/, "image information on the panel");
});

t.test(
  "compact-sd4g (ghost, 2x16): Back up now warns that the factory image is replaced, in full, before it starts",
  async (t) => {
    const p = buildPrinter(loadProfile("compact-sd4g"), path.join(tmp, "ghost-warn.img"));
    provisionFactory(p);
    const fw = await startFirmware(p);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    const before = fw.call("listImages") as Array<{ kind: string }>;
    t.same(
      before.map((i) => i.kind),
      ["factory"],
      "the ghost holds the factory image",
    );
    // ok: the question; ok: the warning on a screen of its own; back: nothing happens
    const asked = menuSession(fw, ["ok", "ok", "back"]);
    t.same(
      asked.map((f) => f.state),
      ["menu", "confirm", "confirm", "menu"],
    );
    t.same(
      asked[2].lines,
      ["Factory image is", "replaced. OK?   "],
      "the whole warning on the 2x16 panel, no scroll marker",
    );
    t.same(fw.call("listImages"), before, "declined at the warning: the factory image stays");
    // ok, ok, ok: the backup runs and replaces it
    const done = menuSession(fw, ["ok", "ok", "ok", "wait"]);
    t.match(text(done[done.length - 1]), /Backup complete/);
    const after = fw.call("listImages") as Array<{ kind: string }>;
    t.same(
      after.map((i) => i.kind),
      ["backup"],
      "the factory image was replaced, as the panel said",
    );
    // the next backup replaces a backup: the usual confirmation, no warning
    const next = menuSession(fw, ["ok", "ok", "wait"]);
    t.same(
      next.map((f) => f.state).filter((s, i, a) => s !== a[i - 1]),
      ["menu", "confirm", "running", "result"],
      "no warning once the ghost holds a backup",
    );
    t.equal(next[1].selected, "Back up now", "the frames say which item is selected");
  },
);

t.test("a printer whose disk takes the profile's time: the panel fills in the rate and the time left", async (t) => {
  const p = buildPrinter(loadProfile("office-laser-emmc8g"), path.join(tmp, "timed.img"), { diskTiming: true });
  provisionFactory(p);
  const fw = await startFirmware(p);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const t0 = p.clock.now;
  const frames = menuSession(fw, ["ok", "ok", "wait"]);
  const progress = frames.filter((f) => f.step === "progress");
  t.ok(progress.length >= 2, `${progress.length} progress frames, one per step`);
  t.ok(
    progress.every((f) => /\d+(\.\d)? MB\/s {1,2}\d+:\d\d left/.test(text(f))),
    `every step shows MB/s and time left:\n${progress.map(showFrame).join("\n")}`,
  );
  // 52.7 MB read at 150 MB/s and written at 40 MB/s: over a second of the printer's time
  t.ok(p.clock.now - t0 > 1000, `the printer's clock moved ${((p.clock.now - t0) / 1000).toFixed(2)} s`);
});
