// The service PIN on the front panel (issue 15, item 4): backups and restores ask for it, once
// per menu session; the profile holds only its salted PBKDF2-HMAC-SHA256 hash, checked through
// the host; five wrong PINs lock the check for 30 s, each further one doubles the wait; closing
// and opening the menu does not reset the count. Scripted menu sessions through the firmware in
// QuickJS, on every panel size the profiles have.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { buildPrinter, provisionFactory, startFirmware } from "../simulator/src/printer";
import { menuSession, SessionStep } from "../simulator/src/session";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-pin-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PIN = "2468";
const salt = crypto.randomBytes(16);
const pinSpec = {
  digits: 4,
  salt: salt.toString("hex"),
  iterations: 10000,
  hash: crypto.pbkdf2Sync(PIN, salt, 10000, 32, "sha256").toString("hex"),
};
/** The keys that enter a PIN: each digit from 0 by "up" presses, then OK. */
const enter = (pin: string): SessionStep[] =>
  [...pin].flatMap((d) => [...Array<SessionStep>(Number(d)).fill("up"), "ok" as SessionStep]);
const text = (f: { lines: string[] }) => f.lines.join("\n");

for (const id of ["office-laser-emmc8g", "compact-sd4g"]) {
  t.test(`${id}: backups and restores ask for the PIN; five wrong ones lock it`, async (t) => {
    const profile = loadProfile(id);
    profile.service = { pin: pinSpec };
    profile.firmware.fillMiB = 8;
    const p = buildPrinter(profile, path.join(tmp, `${id}.img`));
    provisionFactory(p);
    const fw = await startFirmware(p);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    // "Verify images" (fourth item) needs no PIN
    const verify = menuSession(fw, ["down", "down", "down", "ok"]);
    t.equal(verify.at(-1)?.state, "running", "verify starts without a PIN");
    menuSession(fw, ["wait"]);
    // "Back up now": the PIN first; a wrong one, then the right one, then the confirmation
    // (a ghost printer shows its warning on a screen of its own: a second OK)
    const backup = menuSession(fw, ["ok", ...enter("1111"), ...enter(PIN), "ok", "ok", "wait"]);
    const states = backup.filter((f) => f.step !== "progress").map((f) => f.state);
    t.equal(states[1], "pin", "OK on Back up now asks for the PIN");
    for (const f of backup)
      for (const l of f.lines.filter((x) => x.startsWith("PIN ")))
        t.match(l, /^PIN \**[0-9]?_*\s*$/, "entered digits are shown as *, only the one being chosen as a digit");
    t.match(text(backup[1 + enter("1111").length]), /Wrong( PIN)?, 4 left/, "a wrong PIN: four tries left");
    t.equal(backup[1 + enter("1111").length + enter(PIN).length].state, "confirm", "the right PIN: the confirmation");
    t.match(text(backup.at(-1)!), /Backup complete/, "and the backup runs");
    // a new session asks again; "Restore latest" (third item): five wrong PINs lock the check
    const wrong = [1, 2, 3, 4, 5].flatMap(() => enter("9999"));
    const locked = menuSession(fw, ["down", "down", "ok", ...wrong, ...enter(PIN)]);
    const last = locked.at(-1)!;
    t.equal(last.state, "pin", "the right PIN is not taken while locked");
    t.match(text(last), /Locked(: wait)? 30 ?s/, "locked for 30 s");
    // closing and opening the menu does not reset it
    t.match(
      text(menuSession(fw, ["down", "down", "ok"]).at(-1)!),
      /Locked(: wait)? 30 ?s/,
      "a new session is still locked",
    );
    // after the wait, one more wrong PIN locks for twice as long; the right one works after that wait
    p.clock.now += 31_000;
    t.match(
      text(menuSession(fw, ["down", "down", "ok", ...enter("0000")]).at(-1)!),
      /Locked(: wait)? 60 ?s/,
      "then 60 s",
    );
    p.clock.now += 61_000;
    const ok = menuSession(fw, ["down", "down", "ok", ...enter(PIN)]);
    t.equal(ok.at(-1)?.state, "confirm", "the right PIN after the wait: the confirmation");
    t.match(text(ok.at(-1)!), /Restore latest\?/);
    // BACK takes back a digit, then leaves
    const back = menuSession(fw, ["ok", "up", "ok", "back", "back", "back"]);
    t.same(
      back.map((f) => f.state),
      ["menu", "pin", "pin", "pin", "pin", "menu", "menu"],
      "BACK takes back the digit, then leaves the PIN screen",
    );
  });
}
