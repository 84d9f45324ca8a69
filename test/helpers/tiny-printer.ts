// A small printer for the power-cut and differential tests: a 48 MiB disk in RAM, a FAT16
// system partition whose data is fragmented into many short runs (so that a restore makes
// more than a thousand writes), and a recovery partition with two slots.

import { Profile, validateProfile } from "../../device-profiles/src/profile";
import { RamDevice } from "../../host-shim/src/native/devices";
import { splitmix32 } from "../../simulator/src/content";
import { buildPrinter, provisionFactory, SimPrinter } from "../../simulator/src/printer";

const MiB = 1 << 20;

export function tinyProfile(): Profile {
  return validateProfile(
    {
      id: "tiny-test-printer",
      model: "Test printer with a 48 MiB card",
      disk: { media: "sd", sizeBytes: 48 * MiB, sectorBytes: 512, readMBps: 20, writeMBps: 10 },
      partitionTable: "mbr",
      partitions: [
        { role: "system", name: "SYSTEM", sizeMiB: 16, fs: "fat16", clusterBytes: 2048 },
        { role: "recovery", name: "RECOVERY", sizeMiB: 24, fs: "raw" },
      ],
      imageLocation: { kind: "recovery-partition", slots: 2 },
      exclude: [],
      firmware: { fillMiB: 1, seed: 9, critical: ["\\FIRMWARE\\*", "\\FONTS\\*"] },
      budgets: { wasmMemoryBytes: 4 * MiB, quickjsHeapBytes: 4 * MiB, quickjsStackBytes: 256 * 1024 },
      panel: { rows: 2, columns: 16 },
    },
    "tiny-test-printer",
  );
}

/** Builds the tiny printer in RAM with its factory image; `dataFiles` one-cluster files, every other one deleted. */
export function tinyPrinter(dataFiles = 2400): { p: SimPrinter; ram: RamDevice } {
  const profile = tinyProfile();
  const ram = new RamDevice(512, profile.disk.sizeBytes / 512, "tiny");
  const rnd = splitmix32(77);
  const p = buildPrinter(profile, "", {
    device: ram,
    extra: (w) => {
      w.mkdir("\\DATA");
      for (let i = 0; i < dataFiles; i++) {
        const b = new Uint8Array(1500 + (i % 500));
        for (let k = 0; k < b.length; k++) b[k] = rnd() & 0xff;
        w.writeFile(`\\DATA\\D${String(i).padStart(5, "0")}.BIN`, b);
      }
      for (let i = 0; i < dataFiles; i += 2) w.remove(`\\DATA\\D${String(i).padStart(5, "0")}.BIN`);
    },
  });
  provisionFactory(p);
  return { p, ram };
}

/** The byte range of the system partition on the disk. */
export function systemRange(p: SimPrinter): [number, number] {
  const sys = p.placed[p.layout.system - 1],
    ss = p.disk.sectorSize;
  return [sys.startLba * ss, (sys.startLba + sys.sectorCount) * ss];
}
