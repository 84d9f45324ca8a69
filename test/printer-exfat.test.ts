// Issue 18, item 3: device profiles whose system partition is exFAT. The simulator formats it
// with the portable exFAT formatter and fills it with its exFAT writer (fsck.exfat -n clean);
// the firmware in QuickJS boots it, checks its health (boot checksum, entry set checksums, the
// tree against the allocation bitmap, the manifest's critical files), restores every kind of
// damage from the recovery partition or from the ghost image it keeps in the partition itself
// (found by the locator search when the first MiB is gone), applies the profile's exclusions,
// and leaves a volume fsck.exfat accepts.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { Profile, validateProfile } from "../device-profiles/src/profile";
import { RamDevice } from "../firmware-module/src/ops/devices";
import { ExfatTree } from "../firmware-module/src/ops/exfat-dir";
import { formatExfat } from "../firmware-module/src/ops/exfat-format";
import { formatFat } from "../firmware-module/src/ops/fat-format";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import { FatWriter } from "../firmware-module/src/ops/fat-writer";
import * as G from "../firmware-module/src/ops/ghost";
import * as X from "../firmware-module/src/ops/ghost-exfat";
import { buildManifest, checkHealth } from "../firmware-module/src/ops/health";
import { walkTree } from "../firmware-module/src/ops/tree-walk";
import { Core, Slot } from "../host-shim/src/native/core";
import { loadProfile } from "../host-shim/src/native/load-profile";
import { Firmware } from "../host-shim/src/native/quickjs-host";
import { DAMAGE_KINDS, injectDamage } from "../simulator/src/damage";
import { ExfatWriter } from "../simulator/src/exfat-writer";
import {
  buildPrinter,
  provisionFactory,
  SimPrinter,
  startFirmware,
  systemExfatWriter,
  systemPartition,
  systemWriter,
} from "../simulator/src/printer";
import { Frame, menuSession } from "../simulator/src/session";
import { copyUsedToSparse } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-px-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const hasFsck = spawnSync("sh", ["-c", "command -v fsck.exfat"]).status === 0;
const CRITICAL = ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"];

/** A shipped profile with its system partition (and every other FAT partition) made exFAT, validated as a profile file would be. */
function exfatProfile(id: string): Profile {
  const p = JSON.parse(JSON.stringify(loadProfile(id))) as Profile;
  p.id = `${id}-exfat`;
  for (const x of p.partitions) if (x.fs !== "raw") x.fs = "exfat";
  return validateProfile(p, `${p.id} (test)`);
}

interface Booted {
  p: SimPrinter;
  fw: Firmware;
}
async function printer(profile: Profile, options: { shouldCancel?: () => boolean } = {}): Promise<Booted> {
  const p = buildPrinter(profile, path.join(tmp, `${profile.id}.img`));
  provisionFactory(p);
  const fw = await startFirmware(p, options);
  return { p, fw };
}

/**
 * fsck.exfat -n on the system partition, copied into a sparse file: everything before the
 * cluster heap and every cluster the allocation bitmap marks used (mustMatchOn), which is what
 * fsck.exfat -n reads; the free clusters stay holes.
 */
function fsck(p: SimPrinter): { ok: boolean; out: string } {
  const file = path.join(tmp, "system.part");
  copyUsedToSparse(p.core, systemPartition(p), file);
  try {
    const r = spawnSync("fsck.exfat", ["-n", file], { encoding: "utf8" });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim().split("\n").slice(-1)[0] };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function tree(p: SimPrinter): ExfatTree {
  return new ExfatTree(systemPartition(p));
}

type BootResult = {
  action: string;
  before: { restoreNeeded: boolean; problems: Array<{ kind: string; detail: string }> };
  after?: { problems: unknown[] };
  image?: { kind: string; slot: number; name: string };
};

t.test("exFAT system partition, recovery partition: boots clean, every kind of damage restored", async (t) => {
  const profile = exfatProfile("office-laser-emmc8g");
  const { p, fw } = await printer(profile);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  t.throws(() => systemWriter(p), /system partition is exFAT; use systemExfatWriter/);
  t.equal(tree(p).lookup("\\FIRMWARE\\MAIN.BIN")?.length, p.files[0].size, "the firmware tree is on exFAT");
  if (hasFsck) {
    const r = fsck(p);
    t.ok(r.ok, `fsck.exfat -n: the simulator's system partition is clean (${r.out})`);
  }
  const images = fw.call("listImages") as Array<{ kind: string }>;
  t.same(
    images.map((i) => i.kind),
    ["factory"],
    "the factory image is there",
  );
  const clean = fw.call("boot") as BootResult;
  t.equal(clean.action, "none", "a healthy exFAT system partition is left alone");
  t.same(clean.before.problems, [], "no problems on a fresh printer");
  // ordinary use: a new job
  const w = systemExfatWriter(p);
  w.writeFile("\\JOBS\\job 0001 quarterly report.prn", new TextEncoder().encode("%!PS job\n".repeat(5000)));
  w.flush();
  const used = fw.call("boot") as BootResult;
  t.equal(used.action, "none", "ordinary use never triggers a restore");
  t.same(used.before.problems, [], "no problem reported after a new job");
  let seed = 51;
  for (const kind of DAMAGE_KINDS) {
    await t.test(kind, async (t) => {
      const d = injectDamage(p.core, systemPartition(p), kind, CRITICAL, seed++);
      t.ok(d.sectors.length > 0, d.detail);
      const r = fw.call("boot") as BootResult;
      t.equal(r.before.restoreNeeded, true, `the health check finds it: ${r.before.problems[0]?.detail}`);
      t.equal(r.action, "restored");
      t.equal(r.image?.kind, "factory");
      t.same(r.after?.problems, [], "healthy after the restore");
      p.host.beginVerify({ slot: 0, against: p.layout.system });
      while (!p.host.step(64 << 20).done) {
        /* steps */
      }
      t.equal(p.core.results()[Slot.mismatches], 0, "every stored cluster matches the image");
      p.host.finish();
      if (hasFsck && (kind === "damaged-fat" || kind === "zero-first-mib" || kind === "random-sectors")) {
        const f = fsck(p);
        t.ok(f.ok, `fsck.exfat -n clean after the restore (${f.out})`);
      }
    });
  }
});

t.test("exFAT on 4096-byte sectors (wideformat-hdd4kn made exFAT): boots clean, a damaged file restored", async (t) => {
  const { p, fw } = await printer(exfatProfile("wideformat-hdd4kn"));
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  t.equal(tree(p).g.bytesPerSector, 4096, "4 KiB sectors");
  const clean = fw.call("boot") as BootResult;
  t.same([clean.action, clean.before.problems], ["none", []], "healthy: left alone");
  injectDamage(p.core, systemPartition(p), "random-sectors", CRITICAL, 9);
  const r = fw.call("boot") as BootResult;
  t.same([r.before.restoreNeeded, r.action, r.after?.problems], [true, "restored", []], "found, restored, healthy");
  if (hasFsck) {
    const f = fsck(p);
    t.ok(f.ok, `fsck.exfat -n clean (${f.out})`);
  }
});

/** Clears the allocation bitmap's bits under a file, as a damaged bitmap leaves it (the simulator's damaged-fat on exFAT); returns the file's sha256 and first cluster. */
function clearBits(p: SimPrinter, file: string): { sha: string; first: number } {
  injectDamage(p.core, systemPartition(p), "damaged-fat", [file]);
  return { sha: fileSha(p, file), first: tree(p).lookup(file)!.firstCluster };
}

function fileSha(p: SimPrinter, file: string): string {
  const x = tree(p),
    part = systemPartition(p),
    f = x.lookup(file)!;
  const h = crypto.createHash("sha256");
  let left = f.length;
  for (const r of x.runs(f.firstCluster, f.length, f.noFatChain, f.path)) {
    const b = new Uint8Array(r.length * x.g.clusterBytes);
    part.read(x.g.clusterHeapOffset + (r.start - 2) * x.g.sectorsPerCluster, r.length * x.g.sectorsPerCluster, b, 0);
    h.update(b.subarray(0, Math.min(left, b.length)));
    left -= b.length;
  }
  return h.digest("hex");
}

t.test("exFAT: a printer's backup keeps what the tree reaches but the bitmap marks free, and says so", async (t) => {
  for (const id of ["office-laser-emmc8g", "compact-sd4g"]) {
    await t.test(id, async (t) => {
      const { p, fw } = await printer(exfatProfile(id));
      t.teardown(() => {
        fw.dispose();
        p.close();
      });
      const before = clearBits(p, "\\LOG\\EVENTS.LOG");
      p.clock.now += 3600e3;
      // the core's walk lists the run it keeps (read back from its KEEP patches)
      const part0 = systemPartition(p),
        h = p.core.attach(part0);
      try {
        const w = walkTree(p.core, h, part0, 0, "info");
        const f0 = tree(p).lookup("\\LOG\\EVENTS.LOG")!;
        t.same(
          w.keptRunList,
          [{ start: f0.firstCluster, length: Math.ceil(f0.length / tree(p).g.clusterBytes) }],
          "the walk's kept runs: the file's clusters",
        );
      } finally {
        p.core.detach(h);
      }
      const b = fw.call("backup", { name: "kept" }) as { notices?: string[]; slot: number };
      t.equal(
        fileSha(p, "\\LOG\\EVENTS.LOG"),
        before.sha,
        "the backup wrote nothing over the file (a new ghost avoids it)",
      );
      t.match(
        b.notices?.join(" "),
        new RegExp(
          `clusters? that the directory tree reaches (is|are) marked free in the allocation bitmap: file at cluster ${before.first}.*copied into the image all the same\\. Run fsck\\.exfat`,
        ),
        "the backup names the file's clusters and what to run",
      );
      // the file's clusters are overwritten, then the image is restored over the partition
      const x = tree(p),
        f = x.lookup("\\LOG\\EVENTS.LOG")!,
        part = systemPartition(p);
      part.write(
        x.g.clusterHeapOffset + (f.firstCluster - 2) * x.g.sectorsPerCluster,
        1,
        new Uint8Array(part.sectorSize).fill(0xee),
        0,
      );
      t.not(fileSha(p, "\\LOG\\EVENTS.LOG"), before.sha, "the file is overwritten on the partition");
      fw.call("restore", { image: b.slot });
      t.equal(fileSha(p, "\\LOG\\EVENTS.LOG"), before.sha, "the restore brings its contents back from the image");
    });
  }
});

t.test("a new ghost file never takes clusters the tree reaches that read free (FAT32 and exFAT)", async (t) => {
  const MiB = 1 << 20;
  for (const fsName of ["fat32", "exfat"]) {
    const dev = new RamDevice(512, new Uint8Array(96 * MiB), fsName);
    if (fsName === "exfat") formatExfat(dev, { clusterBytes: 4096, volumeId: 7, hiddenSectors: 0 });
    else formatFat(dev, { fatType: 32, clusterBytes: 512, volumeId: 7 });
    const top = (count: number) => {
      if (fsName === "exfat") {
        const g = new ExfatTree(dev).g;
        return { start: g.clusterCount + 2 - count, length: count };
      }
      const w = new FatWriter(dev);
      const e = w.reserveFile("\\PROBE.BIN", count * 512, { contiguous: true, fromEnd: true });
      w.remove("\\PROBE.BIN");
      w.flush();
      return { start: e.firstCluster, length: count };
    };
    const avoid = top(100); // the volume's last 100 clusters: where a ghost would go first
    G.reserveGhostFile(dev, "\\CBGHOST.TMP", 64 * 4096, new Date(Date.UTC(2026, 0, 1)), [avoid]);
    const ext = fsName === "exfat" ? X.exfatGhostExtent(dev, "\\CBGHOST.TMP") : undefined;
    let first: number, last: number;
    if (ext) {
      const g = new ExfatTree(dev).g;
      first = 2 + (ext.startSector - g.clusterHeapOffset) / g.sectorsPerCluster;
      last = first + ext.sectors / g.sectorsPerCluster - 1;
    } else {
      const reader = new FatReader(dev, new Core({ backgroundWrites: false }));
      const runs = reader.chainRuns(reader.lookup("\\CBGHOST.TMP")!.firstCluster);
      t.equal(runs.length, 1, `${fsName}: contiguous`);
      first = runs[0].start;
      last = runs[0].start + runs[0].length - 1;
    }
    t.ok(
      last < avoid.start,
      `${fsName}: the ghost (clusters ${first}..${last}) is below the run it must avoid (${avoid.start}..${avoid.start + avoid.length - 1})`,
    );
    t.ok(last >= avoid.start - 200, `${fsName}: and right below it (the highest run that fits)`);
  }
});

t.test("exFAT: the health check names what it finds", async (t) => {
  const profile = exfatProfile("office-laser-emmc8g");
  const { p, fw } = await printer(profile);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const kinds = (r: BootResult) => r.before.problems.map((x) => x.kind);
  injectDamage(p.core, systemPartition(p), "damaged-fat", CRITICAL, 1);
  const a = fw.call("boot") as BootResult;
  t.ok(kinds(a).includes("marked-free"), `bitmap bits cleared: ${a.before.problems[0]?.detail}`);
  t.match(
    a.before.problems[0]?.detail,
    /clusters the directory tree reaches are marked free in the allocation bitmap \(file at cluster \d+/,
  );
  injectDamage(p.core, systemPartition(p), "zero-boot-sector", CRITICAL, 1);
  const z = fw.call("boot") as BootResult;
  t.match(
    z.before.problems[0]?.detail,
    /the boot record is not usable: .*; sector 12 holds an exFAT backup boot sector: the main exFAT boot sector is damaged/,
    "a zeroed exFAT boot sector is named as such",
  );
  t.equal(z.action, "restored");
  injectDamage(p.core, systemPartition(p), "fat-copies-disagree", CRITICAL, 1);
  const b = fw.call("boot") as BootResult;
  t.match(b.before.problems[0], {
    kind: "boot",
    detail: /boot region's checksum is 0x[0-9a-f]+; its checksum sector \(sector 11\) says/,
  });
  // a name's entry altered: the set's checksum no longer matches
  const f = tree(p).lookup("\\FIRMWARE\\ENGINE.BIN")!;
  const part = systemPartition(p),
    ss = part.sectorSize;
  const at = f.entryOffsets[2] + 2;
  const sector = new Uint8Array(ss);
  part.read(Math.floor(at / ss), 1, sector, 0);
  sector[at % ss] = "X".charCodeAt(0);
  part.write(Math.floor(at / ss), 1, sector, 0);
  const c = fw.call("boot") as BootResult;
  t.ok(kinds(c).includes("set-checksum"), "an entry set whose checksum does not match");
  t.match(
    c.before.problems.find((x) => x.kind === "set-checksum")?.detail,
    /\\FIRMWARE\\XNGINE\.BIN: its entry set's checksum is 0x[0-9a-f]+; the set says 0x[0-9a-f]+/,
  );
  t.equal(c.action, "restored");
  t.ok(tree(p).lookup("\\FIRMWARE\\ENGINE.BIN"), "the name is back");
});

t.test("exFAT: the profile's exclusions leave stored jobs out, and they come back empty", async (t) => {
  const profile = exfatProfile("office-laser-emmc8g");
  const { p, fw } = await printer(profile);
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const w = systemExfatWriter(p);
  w.writeFile("\\JOBS\\JOB0001.PRN", new Uint8Array(300000).fill(9));
  w.flush();
  p.clock.now += 3600e3;
  const b = fw.call("backup", { name: "with jobs" }) as { excludedFiles: number };
  t.equal(b.excludedFiles, 1, "the stored job is left out (profile exclude \\JOBS\\*)");
  injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 3);
  const r = fw.call("boot") as BootResult;
  t.equal(r.action, "restored");
  t.equal(r.image?.name, "with jobs", "from the newest image");
  const job = tree(p).lookup("\\JOBS\\JOB0001.PRN");
  t.same([job?.length, job?.firstCluster], [0, 0], "the job is there, empty");
  if (hasFsck) {
    const f = fsck(p);
    t.ok(f.ok, `fsck.exfat -n clean (${f.out})`);
  }
});

t.test("exFAT ghost printer: the ghost kept in the system partition restores every kind of damage", async (t) => {
  const profile = exfatProfile("compact-sd4g");
  let cancel = false;
  const { p, fw } = await printer(profile, { shouldCancel: () => cancel });
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const ghost = tree(p).lookup("\\RECOVERY.CBI");
  t.equal(ghost?.attributes, 0x07, "the ghost file is read-only, hidden and system");
  t.equal(ghost?.noFatChain, true, "contiguous (NoFatChain)");
  if (hasFsck) {
    const f = fsck(p);
    t.ok(f.ok, `fsck.exfat -n clean with the ghost (${f.out})`);
  }
  const first = fw.call("listImages") as Array<{ slot: number; kind: string; headerCheck: string }>;
  t.same(
    first.map((i) => [i.slot, i.kind]),
    [[0, "factory"]],
    "one image: the factory ghost",
  );
  t.equal((fw.call("boot") as BootResult).action, "none", "healthy: left alone");
  let seed = 71;
  for (const kind of DAMAGE_KINDS) {
    await t.test(kind, async (t) => {
      injectDamage(p.core, systemPartition(p), kind, CRITICAL, seed++);
      const r = fw.call("boot") as BootResult;
      t.equal(r.before.restoreNeeded, true, `found: ${r.before.problems[0]?.detail}`);
      t.equal(r.action, "restored");
      t.same(r.image && [r.image.slot, r.image.kind], [0, "factory"], "from the ghost");
      t.same(r.after?.problems, [], "healthy after the restore");
      t.same(
        (fw.call("listImages") as Array<{ headerCheck: string }>).map((i) => i.headerCheck),
        [first[0].headerCheck],
        "the same ghost is still there and valid",
      );
    });
  }
  // a backup replaces the ghost; exclusions apply; a cancelled one leaves it
  const w = systemExfatWriter(p);
  w.mkdir("\\TEMP");
  w.writeFile("\\TEMP\\SCRATCH.BIN", new Uint8Array(200000).fill(5));
  w.writeFile("\\SETTINGS.INI", new TextEncoder().encode("[panel]\ncontrast=7\n"));
  w.flush();
  p.clock.now += 86400e3;
  const b = fw.call("backup", { name: "monday" }) as { slot: number; excludedFiles: number; ghost: string };
  t.same([b.slot, b.ghost, b.excludedFiles], [0, "\\RECOVERY.CBI", 1], "the ghost is replaced; \\TEMP\\* left out");
  cancel = true;
  t.throws(() => fw.call("backup", { name: "tuesday" }), /cancelled/, "cancel between steps");
  cancel = false;
  t.same(
    (fw.call("listImages") as Array<{ name: string }>).map((i) => i.name),
    ["monday"],
    "the new ghost is the one image",
  );
  t.notOk(tree(p).lookup("\\CBGHOST.TMP"), "the cancelled backup's file is removed");
  injectDamage(p.core, systemPartition(p), "zero-first-mib", [], 1);
  const r = fw.call("boot") as BootResult;
  t.same(
    [r.action, r.image?.name],
    ["restored", "monday"],
    "restored from the new ghost, found without the file system",
  );
  t.equal(tree(p).lookup("\\SETTINGS.INI")?.length, 19, "the change made before the backup is back");
  const scratch = tree(p).lookup("\\TEMP\\SCRATCH.BIN");
  t.same([scratch?.length, scratch?.firstCluster], [0, 0], "the excluded file is there, empty");
  if (hasFsck) {
    const f = fsck(p);
    t.ok(f.ok, `fsck.exfat -n clean (${f.out})`);
  }
});

t.test("exFAT ghost printer: restore factory from the service menu after damage", async (t) => {
  const profile = exfatProfile("compact-sd4g");
  const { p, fw } = await printer(profile);
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
  if (hasFsck) {
    const f = fsck(p);
    t.ok(f.ok, `fsck.exfat -n clean (${f.out})`);
  }
});

t.test(
  "exFAT health on hostile volumes: 2,000 corruptions of the metadata, each a report, never a throw",
  async (t) => {
    const MiB = 1 << 20;
    const clean = new RamDevice(512, new Uint8Array(8 * MiB), "fuzz");
    formatExfat(clean, { clusterBytes: 4096, label: "FUZZ", volumeId: 3, hiddenSectors: 0 });
    const w = new ExfatWriter(clean);
    w.mkdir("\\FIRMWARE");
    w.mkdir("\\FIRMWARE\\SUB");
    w.writeFile(
      "\\FIRMWARE\\MAIN.BIN",
      new Uint8Array(20000).map((_, i) => i & 0xff),
    );
    w.writeFile("\\FIRMWARE\\SUB\\ENGINE.BIN", new Uint8Array(9000).fill(3), { fragmented: true });
    w.writeFile("\\README.TXT", new TextEncoder().encode("hello"));
    w.flush();
    const core = new Core({ backgroundWrites: false });
    const manifest = buildManifest(core, clean, ["\\FIRMWARE\\*"], Date.UTC(2026, 0, 1));
    t.equal(manifest.files.length, 2, "the manifest holds the two firmware files");
    t.same(checkHealth(core, clean, manifest).problems, [], "the clean volume is healthy");
    // the bytes that describe the volume: boot region, FAT, and the heap's first clusters (bitmap,
    // up-case table, root, the directories and the files)
    const g = new ExfatTree(clean).g;
    const spans = [
      [0, 12 * 512],
      [g.fatOffset * 512, (g.fatOffset + 1) * 512],
      [g.clusterHeapOffset * 512, g.clusterHeapOffset * 512 + 40 * 4096],
    ];
    let seed = 0x2545f491;
    const rnd = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    let thrown = 0,
      fatal = 0;
    const kinds = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const bytes = clean.bytes.slice();
      const [from, to] = spans[rnd() % spans.length];
      for (let k = 1 + (rnd() % 4); k > 0; k--) bytes[from + (rnd() % (to - from))] = rnd() & 0xff;
      try {
        const r = checkHealth(core, new RamDevice(512, bytes, "fuzz"), manifest);
        if (r.restoreNeeded) fatal++;
        for (const p of r.problems) kinds.add(p.kind);
        if (r.problems.some((p) => typeof p.detail !== "string" || p.detail.length === 0)) thrown++;
      } catch {
        thrown++;
      }
    }
    t.equal(thrown, 0, "every case ends in a report with named problems");
    t.ok(fatal > 400, `${fatal} of 2,000 found damaged (kinds: ${[...kinds].sort().join(", ")})`);
  },
);
