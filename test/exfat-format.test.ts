// The portable exFAT formatter (firmware-module/src/ops/exfat-format.ts), which the simulator
// uses for profiles whose partitions are exFAT: fsck.exfat -n accepts what it makes, on 512- and
// 4096-byte sectors and several cluster sizes, empty and after the simulator's writer has put
// directories and files on it; the portable tree reader reads the files back; its layout agrees
// with the exFAT specification's rules; and sizes it cannot format are refused by name.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { RamDevice } from "../firmware-module/src/ops/devices";
import { ExfatTree } from "../firmware-module/src/ops/exfat-dir";
import {
  BOOT_CHECKSUM_SECTOR,
  bootChecksumSkips,
  exfatChecksum32,
  formatExfat,
  layoutExfat,
  upcaseTable,
} from "../firmware-module/src/ops/exfat-format";
import { ExfatWriter } from "../simulator/src/exfat-writer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-xf-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const hasFsck = spawnSync("sh", ["-c", "command -v fsck.exfat"]).status === 0;
const MiB = 1 << 20;

function fsck(bytes: Uint8Array): { ok: boolean; out: string } {
  const f = path.join(tmp, "vol.img");
  fs.writeFileSync(f, bytes);
  const r = spawnSync("fsck.exfat", ["-n", f], { encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

for (const [ss, cb, mib] of [
  [512, 4096, 64],
  [512, 512, 16],
  [512, 32768, 40],
  [4096, 4096, 64],
  [4096, 65536, 96],
] as const) {
  t.test(`${mib} MiB, ${ss}-byte sectors, ${cb}-byte clusters`, (t) => {
    const bytes = new Uint8Array(mib * MiB).fill(0xa5); // not a blank disk: the formatter writes what the volume needs
    const dev = new RamDevice(ss, bytes, "vol");
    const l = formatExfat(dev, { clusterBytes: cb, label: "SYSTEM", volumeId: 0x1234abcd, hiddenSectors: 2048 });
    // the specification's rules (section 3.1)
    t.ok(l.fatOffset >= 24, `FatOffset ${l.fatOffset} past the two boot regions`);
    t.ok(l.clusterHeapOffset >= l.fatOffset + l.fatLength, "the heap starts after the FAT");
    t.ok((l.clusterCount + 2) * 4 <= l.fatLength * ss, "the FAT holds every cluster");
    t.ok(l.clusterHeapOffset + l.clusterCount * l.sectorsPerCluster <= dev.sectorCount, "the heap fits the volume");
    t.ok(
      dev.sectorCount - (l.clusterHeapOffset + l.clusterCount * l.sectorsPerCluster) < l.sectorsPerCluster,
      "less than a cluster is left over at the end",
    );
    const region = bytes.subarray(0, 12 * ss);
    const sum = exfatChecksum32(region.subarray(0, BOOT_CHECKSUM_SECTOR * ss), bootChecksumSkips);
    t.equal(new DataView(region.buffer).getUint32(BOOT_CHECKSUM_SECTOR * ss, true), sum, "the boot checksum");
    t.same(bytes.subarray(12 * ss, 24 * ss), region, "the backup boot region is the same");
    const tree = new ExfatTree(dev);
    t.equal(tree.g.clusterCount, l.clusterCount);
    t.same(tree.bitmap, { firstCluster: l.bitmapCluster, bytes: l.bitmapBytes });
    let used = 0;
    for (let c = 0; c < l.clusterCount; c++) used += (bytes[tree.bitmapByte(c >> 3)] >> (c & 7)) & 1;
    t.equal(used, l.usedClusters, "the bitmap marks the bitmap, the up-case table and the root");
    const names: string[] = [];
    tree.walk((f) => names.push(f.path));
    t.same(names, [], "the root is empty");
    if (hasFsck) {
      const r = fsck(bytes);
      t.ok(r.ok, `fsck.exfat -n clean when empty: ${r.out.trim().split("\n").slice(-2).join(" | ")}`);
    }
    // the simulator's writer on it: directories, a contiguous and a fragmented file
    const w = new ExfatWriter(dev);
    w.mkdir("\\FIRMWARE");
    w.mkdir("\\FIRMWARE\\FONTS");
    const data = new Uint8Array(3 * cb + 17).map((_, i) => (i * 7) & 0xff);
    w.writeFile("\\FIRMWARE\\MAIN.BIN", data);
    w.writeFile("\\FIRMWARE\\FONTS\\Sans Regular.ttf", data.subarray(5), { fragmented: true });
    w.writeFile("\\EMPTY.TXT", new Uint8Array(0));
    w.flush();
    const after = new ExfatTree(dev);
    const files: Record<string, number> = {};
    after.walk((f) => {
      files[f.path] = f.length;
    });
    t.same(files, {
      "\\FIRMWARE": 2 * cb,
      "\\EMPTY.TXT": 0,
      "\\FIRMWARE\\FONTS": 2 * cb,
      "\\FIRMWARE\\MAIN.BIN": data.length,
      "\\FIRMWARE\\FONTS\\Sans Regular.ttf": data.length - 5,
    });
    if (hasFsck) {
      const r = fsck(bytes);
      t.ok(r.ok, `fsck.exfat -n clean with files: ${r.out.trim().split("\n").slice(-2).join(" | ")}`);
    }
    t.end();
  });
}

t.test("the up-case table maps a-z to A-Z and leaves digits; it is compressed", (t) => {
  const table = upcaseTable();
  t.ok(table.length < 8192, `${table.length} bytes (uncompressed: 131072)`);
  // expand it
  const v = new DataView(table.buffer);
  const map: number[] = [];
  for (let i = 0; i < table.length / 2; i++) {
    const u = v.getUint16(2 * i, true);
    if (u === 0xffff) {
      const n = v.getUint16(2 * ++i, true);
      for (let k = 0; k < n; k++) map.push(map.length);
    } else map.push(u);
  }
  t.equal(map.length, 0x10000, "every code unit mapped");
  t.equal(map[0x61], 0x41);
  t.equal(map[0x7a], 0x5a);
  t.equal(map[0x30], 0x30);
  t.equal(map[0xe9], 0xc9, "é to É");
  t.end();
});

t.test("what cannot be formatted is refused by name", (t) => {
  t.throws(() => layoutExfat(2048, 512, 3000), /power of two .* not 3000 bytes/);
  t.throws(() => layoutExfat(2048, 512, 256), /from the sector size \(512\)/);
  t.throws(() => layoutExfat(2100, 512, 4096, 5836, "tiny"), /tiny: 2100 sectors of 512 bytes leave 0 clusters/);
  t.throws(() => layoutExfat(4096, 520, 4096), /512- to 4096-byte sectors, not 520/);
  t.throws(
    () =>
      formatExfat(new RamDevice(512, new Uint8Array(8 * MiB), "p3"), {
        clusterBytes: 4096,
        label: "A VERY LONG LABEL",
        volumeId: 1,
        hiddenSectors: 0,
      }),
    /p3: the volume label "A VERY LONG LABEL" has 17 characters/,
  );
  t.end();
});
