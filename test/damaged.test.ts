// Volumes as printers leave them: dirty, FAT copies that disagree, chains pointing nowhere,
// bad clusters. They are imaged faithfully and restored to exactly that state; the tool
// says what it noticed.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { buildMiniFat, MiniFat, writeMiniFatFile } from "./helpers/mini-fat";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-damaged-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core();

function roundTrip(t: Tap.Test, name: string, vol: MiniFat): api.BackupResult {
  const src = path.join(tmp, `${name}.img`),
    img = path.join(tmp, `${name}.cbi`),
    dst = path.join(tmp, `${name}.out`);
  fs.writeFileSync(src, vol.bytes);
  const b = api.backup(core, src, { overwrite: true, image: img });
  fs.writeFileSync(dst, Buffer.alloc(vol.bytes.length));
  api.restore(core, img, dst);
  t.ok(fs.readFileSync(dst).equals(Buffer.from(vol.bytes)), `${name}: restored byte for byte`);
  return b;
}

function fatEntryOffset(vol: MiniFat, copy: number, cluster: number): number {
  return (vol.reservedSectors + copy * vol.fatSectors) * vol.bytesPerSector + cluster * 2;
}

t.test("a dirty FAT16 volume (boot sector flag and FAT[1] clean bit)", async (t) => {
  const vol = buildMiniFat({ fsType: 16 });
  vol.bytes[37] |= 1;
  for (const copy of [0, 1]) vol.bytes[fatEntryOffset(vol, copy, 1) + 1] &= 0x7f; // clear bit 15
  const b = roundTrip(t, "dirty", vol);
  t.match(b.notices.join("\n"), /marked dirty/);
  t.equal(api.readImageInfo(core, path.join(tmp, "dirty.cbi")).sourceDirty, true, "the header records it");
});

t.test("FAT copies that disagree: clusters either copy claims are kept", async (t) => {
  const vol = buildMiniFat({ fsType: 16 });
  // copy 1 alone claims cluster 500 (with data), copy 0 alone claims cluster 600
  const dv = new DataView(vol.bytes.buffer);
  dv.setUint16(fatEntryOffset(vol, 1, 500), 0xffff, true);
  dv.setUint16(fatEntryOffset(vol, 0, 600), 0xffff, true);
  for (const c of [500, 600])
    vol.bytes.fill(c & 0xff || 1, (vol.firstDataSector + (c - 2) * 4) * 512, (vol.firstDataSector + (c - 1) * 4) * 512);
  const b = roundTrip(t, "mismatch", vol);
  t.equal(b.imageClusters, vol.allocated.length + 2, "both clusters stored");
  t.match(b.notices.join("\n"), /FAT copies differ in 2 entries/);
});

t.test("entries pointing outside the volume, and bad clusters", async (t) => {
  const vol = buildMiniFat({ fsType: 16, bad: [700, 701] });
  const dv = new DataView(vol.bytes.buffer);
  for (const copy of [0, 1]) dv.setUint16(fatEntryOffset(vol, copy, 800), 0xff00, true); // past the last cluster
  vol.bytes.fill(9, (vol.firstDataSector + (800 - 2) * 4) * 512, (vol.firstDataSector + (801 - 2) * 4) * 512);
  // a bad cluster holds garbage that must not be read or stored
  vol.bytes.fill(0xbd, (vol.firstDataSector + (700 - 2) * 4) * 512, (vol.firstDataSector + (702 - 2) * 4) * 512);
  const src = path.join(tmp, "bad.img"),
    img = path.join(tmp, "bad.cbi"),
    dst = path.join(tmp, "bad.out");
  fs.writeFileSync(src, vol.bytes);
  const b = api.backup(core, src, { overwrite: true, image: img });
  t.equal(b.imageClusters, vol.allocated.length + 1, "the out-of-range chain's cluster is stored, bad ones are not");
  t.match(b.notices.join("\n"), /1 FAT entries point outside the volume/);
  t.match(b.notices.join("\n"), /2 clusters are marked bad/);
  fs.writeFileSync(dst, Buffer.alloc(vol.bytes.length));
  api.restore(core, img, dst);
  const out = fs.readFileSync(dst);
  const badAt = (vol.firstDataSector + (700 - 2) * 4) * 512;
  t.ok(
    out.subarray(badAt, badAt + 2 * 2048).every((x) => x === 0),
    "bad clusters were not copied",
  );
  out.set(vol.bytes.subarray(badAt, badAt + 2 * 2048), badAt);
  t.ok(out.equals(Buffer.from(vol.bytes)), "everything else is byte for byte, the bad marks included");
});

t.test("FAT12 and FAT32 in-memory volumes round-trip; FSInfo mismatch is noticed", async (t) => {
  roundTrip(t, "fat12", buildMiniFat({ fsType: 12 }));
  const v32 = buildMiniFat({ fsType: 32 });
  const fsinfo = new DataView(v32.bytes.buffer, 512, 512);
  fsinfo.setUint32(0, 0x41615252, true);
  fsinfo.setUint32(484, 0x61417272, true);
  fsinfo.setUint32(488, 12345, true);
  const b = roundTrip(t, "fat32", v32);
  t.match(b.notices.join("\n"), /FSInfo free count 12345 differs from the FAT's/);
  const v32big = buildMiniFat({ fsType: 32, bytesPerSector: 4096, sectorsPerCluster: 1, totalSectors: 70000 });
  roundTrip(t, "fat32-4k", v32big);
});

t.test("a FAT32 volume past one bitmap window (more than 2^20 clusters), as sparse files", async (t) => {
  // clusters on both sides of the 1 Mi-cluster bitmap window and of FAT windows (65536 entries)
  const chains = [[2], [65535, 65536, 65537], [1048574, 1048575, 1048576, 1048577], [1048580], [1100000, 3, 1100001]];
  const src = path.join(tmp, "big.img"),
    img = path.join(tmp, "big.cbi"),
    dst = path.join(tmp, "big.out");
  const vol = writeMiniFatFile(src, { fsType: 32, sectorsPerCluster: 1, totalSectors: 1_120_000, chains });
  t.ok(vol.clusterCount > 1_100_001, `${vol.clusterCount} clusters`);
  const b = api.backup(core, src, { overwrite: true, image: img });
  t.equal(b.imageClusters, 12);
  fs.writeFileSync(dst, "");
  fs.truncateSync(dst, fs.statSync(src).size);
  api.restore(core, img, dst);
  const a = fs.readFileSync(src),
    r = fs.readFileSync(dst);
  t.ok(a.equals(r), "restored byte for byte across the window boundaries");
});

t.test(
  "a FAT32 layout with fewer than 65525 clusters (mkfs.fat -F 32 makes these) is imaged as FAT32, with a notice",
  async (t) => {
    const vol = buildMiniFat({ fsType: 32, sectorsPerCluster: 1, totalSectors: 40000 });
    t.ok(vol.clusterCount < 65525, `${vol.clusterCount} clusters`);
    const b = roundTrip(t, "small32", vol);
    t.equal(b.fsType, "FAT32");
    t.match(b.notices.join("\n"), /FAT32 layout with only \d+ clusters/);
  },
);
