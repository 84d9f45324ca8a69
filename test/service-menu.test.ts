// Scripted service-menu sessions on simulated printers: the firmware's menu in QuickJS, driven by
// keys, renders to each profile's panel, asks before anything destructive, shows progress,
// cancels only where that is safe, and reports results in words.
import t from "tap";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadProfile } from "../device-profiles/src/load";
import { buildPrinter, provisionFactory, startFirmware, systemPartition } from "../simulator/src/printer";
import { injectDamage } from "../simulator/src/damage";
import { menuSession, showFrame, Frame } from "../simulator/src/session";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-menu-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const text = (f: Frame) => f.lines.join(" ").replace(/\s+/g, " ");

for (const id of ["office-laser-emmc8g", "compact-sd4g"]) {
  t.test(`${id}: restore factory from the panel after damage`, async (t) => {
    const profile = loadProfile(id);
    const p = buildPrinter(profile, path.join(tmp, `${id}.img`));
    provisionFactory(p);
    const fw = await startFirmware(p);
    t.teardown(() => { fw.dispose(); p.close(); });
    injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 5);
    t.equal((fw.call("health") as { restoreNeeded: boolean }).restoreNeeded, true, "damaged");
    // to "Restore factory" (second item), decline once, then confirm
    const frames = menuSession(fw, ["down", "ok", "back", "ok", "ok", "wait", "ok"]);
    for (const f of frames) {
      t.ok(f.lines.length === profile.panel.rows && f.lines.every((l) => l.length === profile.panel.columns && /^[\x20-\x7e]*$/.test(l)),
        `${f.step}: ${profile.panel.rows}x${profile.panel.columns} ASCII\n${showFrame(f)}`);
    }
    const keyed = frames.filter((f) => f.step !== "progress");
    t.same(keyed.map((f) => f.state), ["menu", "menu", "confirm", "menu", "confirm", "running", "result", "menu"], "menu -> confirm -> (back) menu -> confirm -> running -> result -> menu");
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
  t.teardown(() => { fw.dispose(); p.close(); });
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
