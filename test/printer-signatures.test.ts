// A printer that trusts only signed images (issue 15, item 3): its profile names the factory's
// public key and requires a signature for boot-time restores. The firmware in QuickJS checks each
// candidate's signature through the host (SHA-256 of the slot's sectors, Ed25519) before a restore
// may write it: a newer unsigned image, and a signed one changed after signing with every check
// recomputed, are skipped, said so, and the factory image is restored; with a minimum security
// version above the factory image's, no image is left and the boot says so, writing nothing.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { PrinterHost } from "../firmware-module/src/ops/printer-host";
import { signDevice } from "../host-shim/src/cli/signing";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { injectDamage } from "../simulator/src/damage";
import {
  buildPrinter,
  FACTORY_KEY,
  provisionFactory,
  SimPrinter,
  startFirmware,
  systemPartition,
} from "../simulator/src/printer";
import { forgeCluster, layout } from "./helpers/image-forge";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-psig-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Boot {
  action: string;
  image?: { slot: number; name: string };
  tried: Array<{ slot: number; name: string; error: string }>;
  lines: string[];
}

async function signedPrinter(name: string, minSecurityVersion = 0) {
  const profile = loadProfile("office-laser-emmc8g");
  profile.security = { ...profile.security!, requireSignature: true, minSecurityVersion };
  profile.firmware.fillMiB = 8;
  const p = buildPrinter(profile, path.join(tmp, `${name}.img`));
  provisionFactory(p); // signed by the simulator's factory key
  const fw = await startFirmware(p);
  return { p, fw };
}

/** SHA-256 of the system partition's first 64 MiB: its boot sector (where a restore's mark goes first), FATs, root and first clusters. */
function systemHash(p: SimPrinter): string {
  const part = systemPartition(p);
  const n = Math.min(part.sectorCount, (64 << 20) / part.sectorSize);
  const b = new Uint8Array(n * part.sectorSize);
  part.read(0, n, b, 0);
  return crypto.createHash("sha256").update(b).digest("hex");
}

t.test(
  "the printer's own backup, signed by its device key, is restored; a newer unsigned one is skipped",
  async (t) => {
    const { p, fw } = await signedPrinter("unsigned");
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    p.clock.now += 3600e3;
    const own = fw.call("backup", { name: "own backup" }) as { slot: number };
    // a newer image the device did not sign: made by the Node side, which holds no device key
    p.clock.now += 3600e3;
    const node = new PrinterHost(p.core, p.disk, p.layout, () => p.clock.now);
    const { slot } = node.beginBackup({ partition: p.layout.system, name: "unsigned newer" });
    while (!node.step(64 << 20).done) {
      /* steps */
    }
    node.finish();
    injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 5);
    // a reboot: the firmware reads the store afresh
    const fw2 = await startFirmware(p);
    t.teardown(() => fw2.dispose());
    const r = fw2.call("boot") as Boot;
    t.equal(r.action, "restored");
    t.equal(r.tried[0]?.slot, slot, "the newest image was tried first");
    t.match(r.tried[0]?.error, /not restored: .*is not signed/, "and refused: unsigned");
    t.equal(r.image?.slot, own.slot, "the printer's own backup is restored");
    t.ok(
      r.lines.some((l) => /"own backup" is signed by trusted key [0-9a-f]{32}/.test(l)),
      "its device-key signature is reported",
    );
  },
);

t.test("a signed image changed after signing (every check recomputed) is skipped", async (t) => {
  const { p, fw } = await signedPrinter("forged");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  p.clock.now += 3600e3;
  const b = fw.call("backup", { name: "signed then forged" }) as { slot: number };
  // the Node side's own view of the store (the firmware's is in QuickJS)
  const dev = new PrinterHost(p.core, p.disk, p.layout, () => p.clock.now).imageDeviceOf(b.slot);
  signDevice(p.core, dev, FACTORY_KEY); // legitimately signed by the factory...
  // ...then an attacker with write access to the recovery partition changes a cluster and reseals
  const head = new Uint8Array(512);
  dev.read(0, 1, head, 0);
  const g = layout(head);
  const bytes = new Uint8Array(g.length);
  dev.read(0, g.length / 512, bytes, 0);
  const forged = forgeCluster(bytes, 0, new Uint8Array(g.clusterBytes).fill(0xcc));
  dev.write(0, g.length / 512, forged, 0);
  t.doesNotThrow(() => fw.call("verify", { image: b.slot }), "the forged image passes every check of its own");
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 6);
  const r = fw.call("boot") as Boot;
  t.equal(r.action, "restored");
  t.equal(r.image?.slot, 0, "the factory image is restored instead");
  t.match(r.tried[0]?.error, /do not match what key [0-9a-f]{32} signed/, "the forgery is named");
});

t.test("no image at the minimum security version: nothing is restored, and the boot says so", async (t) => {
  const { p, fw } = await signedPrinter("rollback", 1);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 7);
  const before = systemHash(p);
  const r = fw.call("boot") as Boot;
  t.equal(r.action, "restore-failed");
  t.match(r.tried[0]?.error, /security version 0, below the minimum 1/);
  t.match(r.lines.at(-1), /restore failed: .*below the minimum 1/, "the last line says why");
  t.equal(systemHash(p), before, "the system partition is as it was (no restore mark)");
});

t.test("a ghost printer: its one image is checked too; a forged ghost restores nothing", async (t) => {
  const profile = loadProfile("compact-sd4g");
  t.equal(profile.security?.requireSignature, true, "compact-sd4g requires signatures");
  profile.firmware.fillMiB = 8;
  const p = buildPrinter(profile, path.join(tmp, "ghost.img"));
  provisionFactory(p); // the factory line signs the ghost image
  const fw = await startFirmware(p);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 8);
  const r = fw.call("boot") as Boot;
  t.equal(r.action, "restored", "the signed ghost is restored");
  t.ok(r.lines.some((l) => /is signed by trusted key/.test(l)));
  // the printer's own ghost backup is signed by its device key, and restored as well
  p.clock.now += 3600e3;
  fw.call("backup", {});
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 9);
  t.equal((fw.call("boot") as Boot).action, "restored", "its own backup, device-signed, is restored");
  // an attacker reseals a changed ghost: it passes its checks, and is refused
  const dev = new PrinterHost(p.core, p.disk, p.layout, () => p.clock.now).imageDeviceOf(0);
  const head = new Uint8Array(512);
  dev.read(0, 1, head, 0);
  const g = layout(head);
  const bytes = new Uint8Array(g.length);
  dev.read(0, g.length / 512, bytes, 0);
  dev.write(0, g.length / 512, forgeCluster(bytes, 0, new Uint8Array(g.clusterBytes).fill(0xdd)), 0);
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 10);
  const fw2 = await startFirmware(p);
  t.teardown(() => fw2.dispose());
  const before = systemHash(p);
  const bad = fw2.call("boot") as Boot;
  t.equal(bad.action, "restore-failed", "the forged ghost is not restored");
  t.match(bad.tried[0]?.error, /do not match what key [0-9a-f]{32} signed/);
  t.equal(systemHash(p), before, "and nothing was written");
});
