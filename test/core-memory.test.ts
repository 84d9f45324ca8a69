// A core that lives for months (issue 13 item 4): one Core instance runs a long mix of jobs and its
// memory does not grow. The core's memory is sized once (asconfig.json: initial = maximum) and its
// runtime is AssemblyScript's stub (a bump allocator that never frees), so any allocation made per
// job would creep towards the end of memory and trap there (`unreachable`): before this test, an
// exFAT scan allocated a ChainReader each time and one instance trapped after about 40,000 scans.
//
// How growth is seen: the memory is zero-filled, and the stub allocator writes each new object's
// header (non-zero) past every buffer allocated before it. So the highest non-zero byte of memory
// (the high-water mark) after the first round of jobs is where it stays, unless something is
// allocated per job. The first round runs every kind of job once, so that what the core
// allocates once, lazily (the CRC table on the first GPT read), is in place before the mark is taken.
//
// EXFAT_SCANS (default 100000) sets the number of exFAT probe + scan jobs.

import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { Core, NO_DEVICE, Slot } from "../host-shim/src/native/core";
import { BlockDevice, RamDevice } from "../host-shim/src/native/devices";

const EXFAT_SCANS = Number(process.env.EXFAT_SCANS ?? 100000);
const ROUNDS = 1000; // rounds of FAT and NTFS scans, backups, verifies and a restore, between the exFAT scans

const fixture = (dir: string, name: string) =>
  zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", dir, name)));
const sectorSizeOf = (b: Uint8Array, fallback: number) => b[11] | (b[12] << 8) || fallback;

const core = new Core({ backgroundWrites: false });
const memory = core.wasm.memory;

/** Address one past the highest non-zero byte of the core's memory. */
function highWater(): number {
  const words = new Uint32Array(memory.buffer);
  let i = words.length - 1;
  while (i >= 0 && words[i] === 0) i--;
  return (i + 1) * 4;
}

function volume(dir: string, name: string): RamDevice {
  const b = fixture(dir, name);
  // exFAT keeps its sector size as a shift at byte 108; FAT and NTFS as a u16 at byte 11
  const ss = dir === "exfat" ? 1 << b[108] : sectorSizeOf(b, 512);
  return new RamDevice(ss, new Uint8Array(b));
}

const exfatVol = volume("exfat", "exfat-512.img.gz");
const fatVol = volume("volumes", "fat12-floppy.img.gz");
const fat32Vol = volume("volumes", "fat32-512.img.gz");
const ntfsVol = volume("ntfs", "ntfs-512.img.gz");
const gptDisk = new RamDevice(512, new Uint8Array(fixture("volumes", "disk-gpt.img.gz")));

function withDevice<T>(d: BlockDevice, fn: (h: number) => T): T {
  const h = core.attach(d);
  try {
    return fn(h);
  } finally {
    core.detach(h);
  }
}

/** probeVolume + scanBegin + steps; returns the allocated-cluster count. */
function scan(d: BlockDevice): number {
  return withDevice(d, (h) => {
    core.check(core.exports.probeVolume(h, d.sectorSize, d.sectorCount));
    core.check(core.exports.scanBegin(h, d.sectorSize, d.sectorCount));
    core.run();
    return core.results()[Slot.scanAllocated];
  });
}

/** A backup of d into a RAM image (sized by a scan), then a verify of the image alone. */
function backupAndVerify(d: BlockDevice): RamDevice {
  const imageBytes = withDevice(d, (h) => {
    core.check(core.exports.scanBegin(h, d.sectorSize, d.sectorCount));
    core.run();
    return core.results()[Slot.scanImageLength];
  });
  const img = new RamDevice(512, Math.ceil(imageBytes / 512));
  withDevice(d, (hs) =>
    withDevice(img, (hi) => {
      core.setParams();
      core.check(core.exports.backupBeginFlags(hs, d.sectorSize, d.sectorCount, hi, 0, 0, 1700000000, 0));
      core.run();
    }),
  );
  withDevice(img, (hi) => {
    core.check(core.exports.verifyBegin(hi, img.sectorCount, NO_DEVICE, 0, 0));
    core.run();
  });
  return img;
}

function restore(img: RamDevice, like: BlockDevice): void {
  const target = new RamDevice(like.sectorSize, like.sectorCount);
  withDevice(img, (hi) =>
    withDevice(target, (ht) => {
      core.check(core.exports.restoreBegin(hi, img.sectorCount, ht, target.sectorSize, target.sectorCount, 0));
      core.run();
    }),
  );
}

function partitions(): void {
  withDevice(gptDisk, (h) => core.check(core.exports.scanPartitions(h, 512, gptDisk.sectorCount)));
}

/** One of every job: the round that fixes the high-water mark. */
function everyJob(): void {
  partitions();
  for (const d of [exfatVol, fatVol, fat32Vol, ntfsVol]) restore(backupAndVerify(d), d);
  scan(exfatVol);
  scan(fatVol);
  scan(fat32Vol);
  scan(ntfsVol);
}

t.test(`one core: ${EXFAT_SCANS} exFAT scans and ${ROUNDS} rounds of FAT and NTFS jobs, memory does not grow`, (t) => {
  const t0 = performance.now(),
    bytes = memory.buffer.byteLength;
  everyJob();
  const mark = highWater();
  const expected = [scan(exfatVol), scan(fatVol), scan(ntfsVol)];
  t.ok(
    expected.every((n) => n > 0),
    `allocated clusters: exFAT ${expected[0]}, FAT ${expected[1]}, NTFS ${expected[2]}`,
  );
  const perRound = Math.ceil(EXFAT_SCANS / ROUNDS);
  let exfatScans = 0,
    others = 0,
    wrong = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < perRound && exfatScans < EXFAT_SCANS; i++, exfatScans++)
      if (scan(exfatVol) !== expected[0]) wrong++;
    if (scan(fatVol) !== expected[1]) wrong++;
    if (scan(ntfsVol) !== expected[2]) wrong++;
    scan(fat32Vol);
    partitions();
    others += 4;
    if (round % 10 === 0) {
      for (const d of [fatVol, exfatVol, ntfsVol]) restore(backupAndVerify(d), d);
      others += 9;
    } else {
      backupAndVerify(round % 3 === 0 ? exfatVol : round % 3 === 1 ? fatVol : ntfsVol);
      others += 2;
    }
    if (highWater() !== mark) break;
  }
  t.equal(exfatScans, EXFAT_SCANS, `${exfatScans} exFAT scans and ${others} other jobs ran without a trap`);
  t.equal(wrong, 0, "every scan found the same allocated clusters");
  t.equal(highWater(), mark, `the memory's high-water mark stayed at ${mark} bytes of ${memory.buffer.byteLength}`);
  t.equal(memory.buffer.byteLength, bytes, "the memory did not grow");
  t.comment(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t.end();
});
