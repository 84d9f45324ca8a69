#!/usr/bin/env node
// Issue 18's target: the walk against the allocation costs at most 10% of a backup's time on a
// volume with 100,000 files, on each file system. exFAT: a 1 GiB volume made by mkfs.exfat (4 KiB
// clusters) and filled by the simulator's exFAT writer, checked with fsck.exfat -n. FAT32: a 1 GiB
// volume made by mkfs.fat -F 32 (4 KiB clusters) and filled by the firmware's FatWriter, checked
// with fsck.fat -n. Both hold 100,000 files of 1,500 bytes in 100 directories of 1,000 (under 10
// top directories); cached in BENCH_DIR (default /tmp). Timed in this process, 5 interleaved
// rounds, medians: the core's treeWalk alone (through firmware-module/src/ops/tree-walk.ts), and
// the CLI's backup (api.backup, its own seconds; it includes one walk). NTFS: mkntfs -Q (4 KiB
// clusters), filled through an ntfs-3g FUSE mount (skipped where the machine cannot mount one),
// checked with ntfsfix -n. Writes docs/bench-walk.md (WALK_DOC= for none).
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync, spawnSync } = require("node:child_process");

const root = path.join(__dirname, "..", "..");
const dist = path.join(root, "dist");
const api = require(path.join(dist, "host-shim", "src", "cli", "api"));
const { Core } = require(path.join(dist, "host-shim", "src", "native", "core"));
const { FileDevice } = require(path.join(dist, "host-shim", "src", "native", "devices"));
const { walkTree } = require(path.join(dist, "firmware-module", "src", "ops", "tree-walk"));
const { ExfatWriter } = require(path.join(dist, "simulator", "src", "exfat-writer"));
const { FatWriter } = require(path.join(dist, "firmware-module", "src", "ops", "fat-writer"));
const DOC = process.env.WALK_DOC === undefined ? path.join(root, "docs", "bench-walk.md") : process.env.WALK_DOC;
const FILES = 100000,
  PER_DIR = 1000,
  ROUNDS = Number(process.env.ROUNDS || 5),
  TARGET = 0.1;

const has = (tools) => spawnSync("sh", ["-c", tools.map((t) => `command -v ${t}`).join(" && ")]).status === 0;

/** A 1 GiB volume of FILES files made by mkfs (then filled by `Writer`, checked by fsck), cached. */
function volume(kind, mkfs, fsck, Writer) {
  const dir = process.env.BENCH_DIR || os.tmpdir();
  const vol = path.join(dir, `clusterback-walk-${kind}-${FILES}.img`);
  if (fs.existsSync(vol)) return vol;
  const tmp = `${vol}.partial`;
  fs.writeFileSync(tmp, "");
  fs.truncateSync(tmp, 1 << 30);
  execFileSync(mkfs[0], [...mkfs.slice(1), tmp], { stdio: "ignore" });
  const dev = new FileDevice(tmp, { writable: true, sectorSize: 512 });
  const w = new Writer(dev);
  const body = new Uint8Array(1500).fill(0x41);
  for (let d = 0; d < FILES / PER_DIR; d++) {
    const top = `\\T${Math.floor(d / 10)}`;
    if (kind === "exfat") {
      if (d % 10 === 0) w.mkdir(top, 2);
      w.mkdir(`${top}\\D${d}`, Math.ceil((PER_DIR * 96) / 4096) + 1);
    } else {
      if (d % 10 === 0) w.mkdir(top);
      w.mkdir(`${top}\\D${d}`);
    }
    for (let i = 0; i < PER_DIR; i++) w.writeFile(`${top}\\D${d}\\file ${i}.txt`, body);
  }
  w.flush();
  dev.close();
  execFileSync(fsck[0], [...fsck.slice(1), tmp], { stdio: "ignore" });
  fs.renameSync(tmp, vol);
  return vol;
}

const med = (x) => x.slice().sort((a, b) => a - b)[x.length >> 1];

/** The NTFS volume: mkntfs, then the same tree written through an ntfs-3g mount; undefined when it cannot be mounted. */
function ntfsVolume() {
  const dir = process.env.BENCH_DIR || os.tmpdir();
  const vol = path.join(dir, `clusterback-walk-ntfs-${FILES}.img`);
  if (fs.existsSync(vol)) return vol;
  const tmp = `${vol}.partial`,
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), "cb-walk-mnt-"));
  fs.writeFileSync(tmp, "");
  fs.truncateSync(tmp, 1 << 30);
  execFileSync("mkntfs", ["-F", "-Q", "-q", "-c", "4096", tmp], { stdio: "ignore" });
  if (spawnSync("ntfs-3g", [tmp, mnt], { stdio: "ignore", timeout: 30000 }).status !== 0) {
    fs.rmSync(tmp, { force: true });
    fs.rmSync(mnt, { recursive: true, force: true });
    return undefined;
  }
  try {
    const body = Buffer.alloc(1500, 0x41);
    for (let d = 0; d < FILES / PER_DIR; d++) {
      const sub = path.join(mnt, `T${Math.floor(d / 10)}`, `D${d}`);
      fs.mkdirSync(sub, { recursive: true });
      for (let i = 0; i < PER_DIR; i++) fs.writeFileSync(path.join(sub, `file ${i}.txt`), body);
    }
  } finally {
    spawnSync("umount", [mnt], { stdio: "ignore" });
    fs.rmSync(mnt, { recursive: true, force: true });
  }
  execFileSync("ntfsfix", ["-n", tmp], { stdio: "ignore" });
  fs.renameSync(tmp, vol);
  return vol;
}

/** Medians over ROUNDS (after a warm-up) of the walk alone and of a backup, on `vol`. */
function measure(core, vol, W) {
  const walkMs = [],
    backupMs = [];
  let counts;
  for (let r = 0; r < ROUNDS + 1; r++) {
    const dev = new FileDevice(vol, {});
    const h = core.attach(dev);
    const t0 = performance.now();
    const w = walkTree(core, h, dev, 0);
    const walked = performance.now() - t0;
    core.detach(h);
    dev.close();
    counts = w;
    const image = path.join(W, "v.cbi");
    fs.rmSync(image, { force: true });
    const b = api.backup(core, vol, { image });
    if (r === 0) continue; // warm-up
    walkMs.push(walked);
    backupMs.push(b.seconds * 1000);
  }
  const walk = med(walkMs),
    backup = med(backupMs);
  return { counts, walk, backup, share: walk / backup };
}

function main() {
  const kinds = [
    ["exfat", "exFAT", ["mkfs.exfat", "-c", "4K"], ["fsck.exfat", "-n"], ExfatWriter, ["mkfs.exfat", "fsck.exfat"]],
    ["fat32", "FAT32", ["mkfs.fat", "-F", "32", "-s", "8"], ["fsck.fat", "-n"], FatWriter, ["mkfs.fat", "fsck.fat"]],
  ];
  const W = fs.mkdtempSync(path.join(fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "cb-walk-"));
  const core = new Core();
  const rows = [];
  try {
    for (const [kind, label, mkfs, fsck, Writer, tools] of kinds) {
      if (!has(tools)) {
        rows.push(`| ${label} | - | - | - | - | - | not measured: ${tools.join(" or ")} is missing |`);
        continue;
      }
      const m = measure(core, volume(kind, mkfs, fsck, Writer), W);
      rows.push(
        `| ${label} | ${m.counts.files} | ${m.counts.directories} | ${m.walk.toFixed(1)} | ${m.backup.toFixed(1)} | ${m.share.toFixed(3)} | ${m.share <= TARGET ? "PASS" : "FAIL"} |`,
      );
    }
    const ntfs = has(["mkntfs", "ntfs-3g", "ntfsfix"]) ? ntfsVolume() : undefined;
    if (ntfs) {
      const m = measure(core, ntfs, W);
      rows.push(
        `| NTFS | ${m.counts.files} | ${m.counts.directories} | ${m.walk.toFixed(1)} | ${m.backup.toFixed(1)} | ${m.share.toFixed(3)} | ${m.share <= TARGET ? "PASS" : "FAIL"} |`,
      );
    } else
      rows.push(
        "| NTFS | - | - | - | - | - | not measured: the volume is filled through an ntfs-3g FUSE mount, which this machine cannot make |",
      );
    const lines = [
      "# Benchmark: the walk against the allocation (issue 18)",
      "",
      "Written by `npm run bench` (`test/bench/walk-bench.js`, which says what is timed). Target: the walk costs at most 10% of a backup's time on a volume with 100,000 files, on each file system.",
      "",
      `${new Date().toISOString().slice(0, 19)}Z; ${os.cpus().length} CPUs; the volumes: 1 GiB, 4 KiB clusters, ${FILES} files of 1,500 bytes in ${FILES / PER_DIR} directories (exFAT: mkfs.exfat, fsck.exfat -n clean; FAT32: mkfs.fat -F 32, fsck.fat -n clean; NTFS: mkntfs -Q, written through ntfs-3g, ntfsfix -n clean), page cache warm; medians of ${ROUNDS} rounds.`,
      "",
      "| file system | files walked | directories | walk ms | backup ms (one walk included) | walk's share | target (at most 0.10) |",
      "|---|---:|---:|---:|---:|---:|---|",
      ...rows,
      "",
      "(files walked: the files, and on exFAT the allocation bitmap and the up-case table; on NTFS every MFT record in use that is not a directory, the system files included. The FAT backup also runs the damage walk of the host, damage.ts, which names loops and cross-links by path; it is part of the backup's time.)",
      "",
    ];
    console.log(rows.join("\n"));
    if (DOC) fs.writeFileSync(DOC, lines.join("\n"));
  } finally {
    core.dispose();
    fs.rmSync(W, { recursive: true, force: true });
  }
}

main();
