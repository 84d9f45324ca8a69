#!/usr/bin/env node
// npm run demo: the main job on a real FAT volume. Takes a volume made with mkfs.fat and
// mtools (a committed fixture), backs it up, damages it the way a power cut or a bad card
// does, notices the damage, restores it, verifies it, and says what happened.
// (Issue 4 turns this into a whole simulated printer booting from a device profile.)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const zlib = require("node:zlib");
const { spawnSync } = require("node:child_process");

const root = path.join(__dirname, "..");
const cli = path.join(root, "dist", "host-shim", "src", "cli.js");
const fixtures = path.join(root, "test", "fixtures", "volumes");

function clusterback(...args) {
  console.log(`\n$ clusterback ${args.map((a) => (path.isAbsolute(a) ? path.basename(a) : a)).join(" ")}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  return r.status;
}

// a FAT32 partition fixture with 512-byte sectors: the printer's system partition
function pickVolume() {
  const names = fs.existsSync(fixtures) ? fs.readdirSync(fixtures).filter((f) => f.endsWith(".img.gz")).sort() : [];
  for (const f of names.sort((a, b) => Number(b.includes("fat32-512")) - Number(a.includes("fat32-512")))) {
    const bytes = zlib.gunzipSync(fs.readFileSync(path.join(fixtures, f)));
    const isFat32Volume = bytes[0] === 0xeb && bytes[510] === 0x55 && bytes[511] === 0xaa && bytes.readUInt16LE(22) === 0 && bytes.readUInt32LE(36) > 0;
    if (isFat32Volume) return { name: f, bytes };
  }
  throw new Error(`no FAT32 volume fixture in ${fixtures}`);
}

function main() {
  if (!fs.existsSync(cli)) {
    const b = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
    if (b.status !== 0) return 1;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "clusterback-demo-"));
  try {
    const vol = pickVolume();
    const system = path.join(work, "system-partition.img");
    const image = path.join(work, "factory.cbi");
    fs.writeFileSync(system, vol.bytes);
    console.log(`clusterback demo: the system partition is ${vol.name} (made with mkfs.fat and mtools), ${vol.bytes.length} bytes`);
    console.log("\n1. The factory line images the system partition.");
    if (clusterback("info", system) !== 0) return 1;
    if (clusterback("backup", system, "--image", image, "--name", "factory") !== 0) return 1;
    if (clusterback("verify", image) !== 0) return 1;

    console.log("\n2. In the field: a power cut tears the boot sector and the first FAT, and a card error hits the data.");
    const fd = fs.openSync(system, "r+");
    const sector = Buffer.alloc(512);
    fs.writeSync(fd, sector, 0, 512, 0);                            // boot sector gone
    const fatStart = vol.bytes.readUInt16LE(14) * vol.bytes.readUInt16LE(11);
    fs.writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, fatStart);  // FAT torn
    const bps = vol.bytes.readUInt16LE(11);
    const dataStart = (vol.bytes.readUInt16LE(14) + vol.bytes[16] * vol.bytes.readUInt32LE(36)) * bps;
    for (let i = 0; i < 8; i++) fs.writeSync(fd, Buffer.alloc(512, 0x5a), 0, 512, dataStart + i * 8192 + 1024); // file data
    fs.closeSync(fd);

    console.log("\n3. At boot the firmware checks the partition: it is damaged.");
    const status = clusterback("info", system);
    console.log(status === 0 ? "(the volume still parses)" : "=> damaged: restore from the factory image");
    clusterback("verify", image, "--against", system);

    console.log("\n4. Restore from the image, then verify.");
    if (clusterback("restore", image, system) !== 0) return 1;
    if (clusterback("verify", image, "--against", system) !== 0) return 1;
    if (clusterback("info", system) !== 0) return 1;

    console.log("\nWhat happened: the partition was imaged, damaged in its boot sector, FAT and data,");
    console.log("found damaged, restored cluster by cluster from the image, and verified against it.");
    return 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = main();
