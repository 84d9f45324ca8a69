// The image protects itself: a single flipped bit anywhere (header, bitmap, metadata, block
// data, block table, commit record) is found by verify and refused by restore; a truncated
// image, a foreign file, a too-small target and a bad partition number each give a clear,
// named error, and the target's bytes are left exactly as they were.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { buildMiniFat } from "./helpers/mini-fat";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-integrity-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core();

function caught(fn: () => unknown): Error & { codeName?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got none");
}

const vol = buildMiniFat({ fsType: 16 });
const src = path.join(tmp, "src.img");
fs.writeFileSync(src, vol.bytes);
const image = path.join(tmp, "good.cbi");
const backed = api.backup(core, src, { overwrite: true, image, name: "integrity" });

t.test("round trip of an in-memory FAT16 volume is exact", async (t) => {
  t.equal(backed.imageClusters, vol.allocated.length, "every allocated cluster is stored");
  const dst = path.join(tmp, "rt.img");
  fs.writeFileSync(dst, Buffer.alloc(vol.bytes.length));
  const r = api.restore(core, image, dst);
  t.equal(r.verified, true);
  t.ok(
    Buffer.compare(fs.readFileSync(dst), Buffer.from(vol.bytes)) === 0,
    "restored volume is byte-identical (free clusters were zero in both)",
  );
  t.equal(api.verify(core, image, { against: dst }).ok, true);
});

// A target filled with a pattern, to see that nothing is written to it.
function patternedTarget(name: string, bytes = vol.bytes.length): { file: string; before: Buffer } {
  const file = path.join(tmp, name);
  const before = Buffer.alloc(bytes, 0xa5);
  fs.writeFileSync(file, before);
  return { file, before };
}

const img = fs.readFileSync(image);
const hdr = new DataView(img.buffer, img.byteOffset, 512);
const u64 = (o: number) => Number(hdr.getBigUint64(o, true));
const bitmapOffset = u64(184),
  metaOffset = u64(200),
  dataOffset = u64(216),
  commitOffset = u64(232);
const clusterBytes = hdr.getUint32(104, true);
const perBlock = hdr.getUint32(172, true);
const firstTable = dataOffset + Math.min(perBlock, backed.imageClusters) * clusterBytes;

const flips: [string, number, RegExp][] = [
  ["header magic", 0, /E_IMG_MAGIC/],
  ["header name", 20, /E_IMG_HEADER_CHECK/],
  ["header image cluster count", 88, /E_IMG_HEADER_CHECK/],
  ["header reserved byte", 300, /E_IMG_HEADER_CHECK/],
  ["header check field", 506, /E_IMG_HEADER_CHECK/],
  ["bitmap, a set bit", bitmapOffset + 0, /E_IMG_BITMAP/],
  ["bitmap, a clear bit", bitmapOffset + 100, /E_IMG_BITMAP/],
  ["bitmap padding", metaOffset - 1, /E_IMG_BITMAP/],
  ["metadata boot sector", metaOffset + 11, /E_IMG_META_CHECK/],
  ["metadata FAT", metaOffset + 512 + 9, /E_IMG_META_CHECK/],
  ["first cluster's data", dataOffset + 5, /E_IMG_CLUSTER_CHECK/],
  [
    "last cluster's data",
    dataOffset + (backed.imageClusters - 1) * clusterBytes + clusterBytes - 1,
    /E_IMG_CLUSTER_CHECK/,
  ],
  ["block table magic", firstTable, /E_IMG_BLOCK_TABLE/],
  ["block table cluster check", firstTable + 40, /E_IMG_BLOCK_TABLE/],
  ["block table padding", firstTable + 200, /E_IMG_BLOCK_TABLE/],
  ["commit magic", commitOffset, /E_IMG_COMMIT/],
  ["commit chain check", commitOffset + 33, /E_IMG_COMMIT/],
  ["commit reserved byte", commitOffset + 100, /E_IMG_COMMIT/],
  ["commit check field", commitOffset + 510, /E_IMG_COMMIT/],
];

for (const [what, offset, code] of flips) {
  for (const bit of [0, 7]) {
    t.test(`flipped bit ${bit} in ${what} (byte ${offset})`, async (t) => {
      const bad = Buffer.from(img);
      bad[offset] ^= 1 << bit;
      const file = path.join(tmp, `flip-${offset}-${bit}.cbi`);
      fs.writeFileSync(file, bad);
      const ve = caught(() => api.verify(core, file));
      t.match(ve.name, /ImageError/, "verify names an image error");
      t.match((ve as { codeName?: string }).codeName ?? "", code, `verify: ${ve.message}`);
      const target = patternedTarget(`flip-target-${offset}-${bit}.img`);
      const re = caught(() => api.restore(core, file, target.file));
      t.match((re as { codeName?: string }).codeName ?? "", code, `restore refuses: ${re.message}`);
      t.ok(fs.readFileSync(target.file).equals(target.before), "the target is unchanged");
    });
  }
}

t.test("truncated images are refused, target unchanged", async (t) => {
  for (const length of [0, 7, 511, 512, bitmapOffset + 100, dataOffset, commitOffset, commitOffset + 511]) {
    const file = path.join(tmp, `trunc-${length}.cbi`);
    fs.writeFileSync(file, img.subarray(0, length));
    const target = patternedTarget(`trunc-target-${length}.img`);
    const e = caught(() => api.restore(core, file, target.file));
    t.match(e.message, length < 8 ? /not a clusterback image|truncated/ : /truncated/, `${length} bytes: ${e.message}`);
    t.ok(fs.readFileSync(target.file).equals(target.before), "the target is unchanged");
  }
});

t.test("a foreign file is not an image", async (t) => {
  const target = patternedTarget("foreign-target.img");
  for (const [name, bytes] of [
    ["volume", Buffer.from(vol.bytes)],
    ["text", Buffer.from("hello\n".repeat(1000))],
  ] as const) {
    const file = path.join(tmp, `foreign-${name}`);
    fs.writeFileSync(file, bytes);
    const e = caught(() => api.restore(core, file, target.file));
    t.match(e.message, /not a clusterback image \(starts with 0x/, `${name}: ${e.message}`);
    t.match(caught(() => api.verify(core, file)).message, /not a clusterback image/);
  }
  t.ok(fs.readFileSync(target.file).equals(target.before), "the target is unchanged");
  t.match(
    caught(() => api.restore(core, path.join(tmp, "nope.cbi"), target.file)).message,
    /nope\.cbi: no such image file/,
  );
  t.match(caught(() => api.restore(core, image, path.join(tmp, "nope.img"))).message, /nope\.img: no such target/);
});

t.test("a too-small target is refused before anything is written", async (t) => {
  const target = patternedTarget("small.img", vol.bytes.length - 512);
  const e = caught(() => api.restore(core, image, target.file));
  t.match(
    e.message,
    new RegExp(`target has ${vol.bytes.length / 512 - 1} sectors, the image needs ${vol.bytes.length / 512}`),
  );
  t.ok(fs.readFileSync(target.file).equals(target.before), "the target is unchanged");
});

t.test("a bad partition number is a usage error naming the partitions", async (t) => {
  // a disk: MBR with one partition at LBA 2048 holding the volume
  const disk = Buffer.alloc(2048 * 512 + vol.bytes.length);
  const dv = new DataView(disk.buffer);
  disk[446 + 4] = 0x06;
  dv.setUint32(446 + 8, 2048, true);
  dv.setUint32(446 + 12, vol.bytes.length / 512, true);
  dv.setUint16(510, 0xaa55, true);
  Buffer.from(vol.bytes).copy(disk, 2048 * 512);
  const file = path.join(tmp, "disk.img");
  fs.writeFileSync(file, disk);
  for (const n of [2, 5, 0]) {
    const e = caught(() => api.restore(core, image, file, { partition: n }));
    t.match(e.name, "UsageError");
    t.match(
      e.message,
      n === 0
        ? /--partition must be a whole number from 1 up/
        : new RegExp(`has no partition ${n} \\(its MBR partitions: 1\\)`),
    );
  }
  t.ok(fs.readFileSync(file).equals(disk), "the disk is unchanged");
  // an MBR entry with a type but no sectors is named as empty, not read past
  const withEmpty = Buffer.from(disk);
  withEmpty[462 + 4] = 0x0c;
  new DataView(withEmpty.buffer).setUint32(462 + 8, 100, true);
  fs.writeFileSync(file, withEmpty);
  const empty = caught(() => api.restore(core, image, file, { partition: 2 }));
  t.match(empty.name, "UsageError");
  t.match(empty.message, /partition 2 is empty: its MBR entry \(type 0xc\) gives 0 sectors at LBA 100/);
  t.ok(fs.readFileSync(file).equals(withEmpty), "the disk is unchanged");
  fs.writeFileSync(file, disk);
  // partition 1 works, and only its extent is written
  const wiped = Buffer.from(disk);
  wiped.fill(0, 2048 * 512 + 512, 2048 * 512 + 4096);
  fs.writeFileSync(file, wiped);
  api.restore(core, image, file, { partition: 1 });
  t.ok(fs.readFileSync(file).equals(disk), "partition 1 restored, the rest of the disk as it was");
  const info = api.info(core, file, { partition: 1 });
  t.equal(info.volume?.fsType, "FAT16");
  t.equal(info.partition?.startLba, 2048);
});

t.test("an interrupted backup leaves the previous image in place", async (t) => {
  const keep = path.join(tmp, "keep.cbi");
  fs.copyFileSync(image, keep);
  const broken = path.join(tmp, "broken.img");
  const b = Buffer.from(vol.bytes);
  b[11] = 0x33; // BPB_BytsPerSec = 0x233: refused
  fs.writeFileSync(broken, b);
  const e = caught(() => api.backup(core, broken, { overwrite: true, image: keep }));
  t.match(e.message, /BPB_BytsPerSec is 563/);
  t.ok(fs.readFileSync(keep).equals(img), "the previous image is untouched");
  t.same(
    fs.readdirSync(tmp).filter((f) => f.includes(".partial-")),
    [],
    "no partial file is left behind",
  );
});

t.test("the core's memory is fixed: 4 MiB, and no job grows it", async (t) => {
  t.equal(core.memoryBytes, 64 * 65536, "64 pages");
  const fresh = new Core();
  const before = fresh.memoryBytes;
  api.verify(fresh, image, {});
  api.backup(fresh, src, { image: path.join(tmp, "mem.cbi") });
  t.equal(fresh.memoryBytes, before, "unchanged after backup and verify");
});

t.test("the read-back after a restore catches a device that silently dropped a write", async (t) => {
  const { FileDevice, RamDevice } = await import("../host-shim/src/native/devices");
  const { Slot, NO_DEVICE } = await import("../host-shim/src/native/core");
  class Dropping extends RamDevice {
    writes = 0;
    write(lba: number, n: number, src: Uint8Array, off: number): void {
      if (this.writes++ === 1) return; // the second write never reaches the medium
      super.write(lba, n, src, off);
    }
  }
  // several blocks (512 clusters of 2 KiB each), fragmented
  const chain = Array.from({ length: 1500 }, (_, i) => 100 + i * 3);
  const big = buildMiniFat({ fsType: 16, chains: [[2, 3], chain, [9000, 9001]] });
  const bigSrc = path.join(tmp, "blocks.img"),
    bigImg = path.join(tmp, "blocks.cbi"),
    bigDst = path.join(tmp, "blocks.out");
  fs.writeFileSync(bigSrc, big.bytes);
  api.backup(core, bigSrc, { overwrite: true, image: bigImg });
  fs.writeFileSync(bigDst, Buffer.alloc(big.bytes.length));
  t.equal(api.restore(core, bigImg, bigDst).verified, true, "a multi-block restore reads back clean");
  t.ok(fs.readFileSync(bigDst).equals(Buffer.from(big.bytes)));
  const imgDev = new FileDevice(bigImg, { sectorSize: 512 });
  const target = new Dropping(512, big.bytes.length / 512);
  const hi = core.attach(imgDev),
    ht = core.attach(target);
  core.check(core.exports.restoreBegin(hi, imgDev.sectorCount, ht, 512, target.sectorCount, 1));
  core.run();
  t.ok(core.results()[Slot.mismatches] > 0, `${core.results()[Slot.mismatches]} clusters found different`);
  // the boot sector goes last: drop that write, and the metadata read-back notices
  class DropLast extends RamDevice {
    constructor(
      sectorSize: number,
      sectorCount: number,
      private readonly dropLba: number,
    ) {
      super(sectorSize, sectorCount);
    }
    write(lba: number, n: number, src: Uint8Array, off: number): void {
      if (lba === this.dropLba) return;
      super.write(lba, n, src, off);
    }
  }
  const noBoot = new DropLast(512, big.bytes.length / 512, 0);
  const hb = core.attach(noBoot);
  core.check(core.exports.restoreBegin(hi, imgDev.sectorCount, hb, 512, noBoot.sectorCount, 1));
  core.run();
  t.equal(core.results()[Slot.metaMismatch], 1, "a lost boot-sector write is found by the metadata read-back");
  t.equal(core.results()[Slot.mismatches], 0, "and no cluster differs");
  core.detach(hb);
  // the full verify of the image alone still passes: the image is fine, the device is not
  core.check(core.exports.verifyBegin(hi, imgDev.sectorCount, NO_DEVICE, 0, 0));
  core.run();
  core.detach(hi);
  core.detach(ht);
  imgDev.close();
});

t.test("with and without background writes, backup and restore give the same bytes", async (t) => {
  const chain = Array.from({ length: 3000 }, (_, i) => 50 + i * 2);
  const big = buildMiniFat({ fsType: 16, chains: [chain] });
  const s = path.join(tmp, "bg.img");
  fs.writeFileSync(s, big.bytes);
  const outs: Buffer[] = [];
  for (const backgroundWrites of [true, false]) {
    const c = new Core({ backgroundWrites });
    const i = path.join(tmp, `bg-${backgroundWrites}.cbi`),
      d = path.join(tmp, `bg-${backgroundWrites}.out`);
    api.backup(c, s, { image: i, name: "bg", created: new Date(0) });
    fs.writeFileSync(d, Buffer.alloc(big.bytes.length));
    api.restore(c, i, d);
    c.dispose();
    t.ok(fs.readFileSync(d).equals(Buffer.from(big.bytes)), `restored exactly (background writes ${backgroundWrites})`);
    outs.push(fs.readFileSync(i));
  }
  t.ok(outs[0].equals(outs[1]), "the images are byte-identical");
});
