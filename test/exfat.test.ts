// exFAT (issue 7): round trips of volumes made by mkfs.exfat (exfatprogs) and filled by the
// simulator's exFAT writer (contiguous files without a FAT chain, fragmented files with one,
// nested directories, long names). Node-only: the committed fixtures (test/fixtures/exfat,
// made by make.sh) restore byte-identical into a blank target, and onto a target full of
// garbage the restore compares clean; crafted boot sectors are refused by name with nothing
// written. With the tools (CI): fresh volumes across cluster sizes, fsck.exfat -n clean on
// source and restored volume, and the used-cluster count equal to the volume's own bitmap.

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { VolumeError } from "../firmware-module/src/ops/errors";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { FileDevice } from "../host-shim/src/native/devices";
import { ExfatWriter, readExfatGeometry } from "../simulator/src/exfat-writer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-exfat-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const fixtureDir = path.join(__dirname, "fixtures", "exfat");
const fixtures = fs
  .readdirSync(fixtureDir)
  .filter((f) => f.endsWith(".img.gz"))
  .sort();
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

function unpack(name: string): string {
  const out = path.join(tmp, name.replace(/\.gz$/, ""));
  fs.writeFileSync(out, zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, name))));
  return out;
}

/** The clusters the volume's own allocation bitmap marks (read here independently of the core). */
function bitmapClusters(b: Uint8Array): number[] {
  const g = readExfatGeometry(b);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lba = (c: number) => g.clusterHeapOffset + (c - 2) * g.sectorsPerCluster;
  const rootAt = lba(g.rootCluster) * g.bytesPerSector;
  let first = 0,
    len = 0;
  for (let i = 0; i < g.clusterBytes; i += 32)
    if (b[rootAt + i] === 0x81) {
      first = v.getUint32(rootAt + i + 20, true);
      len = Number(v.getBigUint64(rootAt + i + 24, true));
      break;
    }
  const bm = b.subarray(lba(first) * g.bytesPerSector, lba(first) * g.bytesPerSector + len);
  const out: number[] = [];
  for (let c = 0; c < g.clusterCount; c++) if (bm[c >> 3] & (1 << (c & 7))) out.push(c + 2);
  return out;
}

t.test("committed exFAT fixtures: info, backup, restore into a blank target byte-identical", async (t) => {
  t.ok(fixtures.length >= 3, `${fixtures.length} fixtures`);
  for (const name of fixtures) {
    await t.test(name, async (t) => {
      const src = unpack(name),
        image = path.join(tmp, "x.cbi"),
        dst = path.join(tmp, "x.out");
      const bytes = fs.readFileSync(src);
      const info = api.info(core, src);
      t.equal(info.volume?.fsType, "exFAT");
      const used = bitmapClusters(bytes);
      t.equal(info.volume?.usedClusters, used.length, `used clusters = the volume's own bitmap (${used.length})`);
      const r = api.backup(core, src, { overwrite: true, image });
      t.equal(r.fsType, "exFAT");
      t.equal(r.imageClusters, used.length);
      const header = api.readImageInfo(core, image);
      t.same(
        [header.fsType, header.version, header.imageClusters],
        ["exFAT", "1.2", used.length],
        "the image header names exFAT",
      );
      fs.writeFileSync(dst, "");
      fs.truncateSync(dst, bytes.length);
      const rr = api.restore(core, image, dst);
      t.equal(rr.verified, true, "restored and read back");
      t.equal(
        sha(fs.readFileSync(dst)),
        sha(bytes),
        "the restored volume is byte-identical (its free clusters were zero, as mkfs.exfat left them)",
      );
      t.equal(api.verify(core, image, { against: dst }).ok, true, "verify --against");
      t.equal(sha(fs.readFileSync(src)), sha(bytes), "the source is not written");
    });
  }
});

t.test(
  "exFAT restore onto a target full of garbage: every allocated cluster and the metadata equal the source",
  async (t) => {
    const src = unpack(fixtures[0]),
      image = path.join(tmp, "g.cbi"),
      dst = path.join(tmp, "g.out");
    const bytes = fs.readFileSync(src);
    api.backup(core, src, { overwrite: true, image });
    fs.writeFileSync(dst, crypto.randomBytes(bytes.length));
    t.equal(api.restore(core, image, dst).verified, true);
    const out = fs.readFileSync(dst),
      g = readExfatGeometry(bytes),
      ss = g.bytesPerSector;
    t.equal(
      Buffer.compare(out.subarray(0, g.clusterHeapOffset * ss), bytes.subarray(0, g.clusterHeapOffset * ss)),
      0,
      "boot regions and FAT identical",
    );
    const differing = bitmapClusters(bytes).filter((c) => {
      const at = (g.clusterHeapOffset + (c - 2) * g.sectorsPerCluster) * ss;
      return Buffer.compare(out.subarray(at, at + g.clusterBytes), bytes.subarray(at, at + g.clusterBytes)) !== 0;
    });
    t.same(differing, [], "every allocated cluster identical");
    // a second restore writes nothing but the restore mark and the boot sector (differential)
    const again = api.restore(core, image, dst);
    t.ok(again.bytesWritten <= 2 * ss, `second restore wrote ${again.bytesWritten} bytes`);
  },
);

t.test("crafted exFAT boot sectors and directories: refused by name, nothing written", async (t) => {
  const src = unpack(fixtures[0]);
  const good = fs.readFileSync(src);
  const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
    [
      "MustBeZero not zero",
      (b) => {
        b[20] = 1;
      },
      /MustBeZero \(bytes 11..63\) is 1, expected zero/,
    ],
    [
      "BytesPerSectorShift 13",
      (b) => {
        b[108] = 13;
      },
      /BytesPerSectorShift is 13/,
    ],
    [
      "SectorsPerClusterShift past 25 - 9",
      (b) => {
        b[109] = 17;
      },
      /SectorsPerClusterShift is 17, expected 16/,
    ],
    [
      "three FATs",
      (b) => {
        b[110] = 3;
      },
      /NumberOfFats is 3/,
    ],
    [
      "FatOffset inside the boot regions",
      (b) => {
        b.writeUInt32LE(12, 80);
      },
      /FatOffset is 12, expected 24/,
    ],
    [
      "cluster heap past the volume",
      (b) => {
        b.writeUInt32LE(b.readUInt32LE(92) * 4, 92);
      },
      /ClusterCount is \d+, expected \d+/,
    ],
    [
      "root directory outside the heap",
      (b) => {
        b.writeUInt32LE(0xffffff, 96);
      },
      /FirstClusterOfRootDirectory is 16777215/,
    ],
    [
      "revision 2.0",
      (b) => {
        b.writeUInt16LE(0x200, 104);
      },
      /FileSystemRevision is 512/,
    ],
    [
      "volume longer than the partition",
      (b) => {
        b.writeBigUInt64LE(BigInt(b.length), 72);
      },
      /total sectors \d+ is zero or larger than the partition/,
    ],
    [
      "no allocation bitmap entry",
      (b) => {
        const g = readExfatGeometry(b);
        const at = (g.clusterHeapOffset + (g.rootCluster - 2) * g.sectorsPerCluster) * g.bytesPerSector;
        for (let i = 0; i < g.clusterBytes; i += 32) if (b[at + i] === 0x81) b[at + i] = 0x01;
      },
      /no allocation bitmap entry/,
    ],
  ];
  for (const [what, mutate, message] of cases) {
    const bad = Buffer.from(good);
    mutate(bad);
    const file = path.join(tmp, "bad.img");
    fs.writeFileSync(file, bad);
    const e = (() => {
      try {
        api.backup(core, file, { overwrite: true, image: path.join(tmp, "bad.cbi") });
      } catch (err) {
        return err as Error;
      }
    })();
    t.ok(e instanceof VolumeError, `${what}: a VolumeError`);
    t.match(e?.message ?? "", message, `${what}: ${e?.message}`);
    t.notOk(fs.existsSync(path.join(tmp, "bad.cbi")), `${what}: no image left behind`);
    t.ok(fs.readFileSync(file).equals(bad), `${what}: the source is not written`);
  }
  // a damaged boot-region checksum is imaged as it is, with a notice
  const flipped = Buffer.from(good);
  flipped[512 + 100] ^= 0xff; // an extended boot sector's boot code: covered by the checksum
  const f = path.join(tmp, "sum.img");
  fs.writeFileSync(f, flipped);
  t.match(api.info(core, f).volume?.notices ?? [], [/checksum sector does not match/], "checksum mismatch noticed");
});

const haveTools = ["mkfs.exfat", "fsck.exfat"].every(
  (tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0,
);
t.test(
  "fresh mkfs.exfat volumes across cluster sizes, fsck.exfat -n as the oracle",
  { skip: haveTools ? false : "exfatprogs is not installed (CI installs it)" },
  async (t) => {
    const fsck = (file: string) => spawnSync("fsck.exfat", ["-n", file], { encoding: "utf8" });
    const matrix: Array<[string, number, string[]]> = [
      ["512 B clusters", 12, ["-c", "512"]],
      ["4 KiB clusters", 40, ["-c", "4K"]],
      ["32 KiB clusters, packed bitmap", 96, ["-c", "32K", "--pack-bitmap"]],
      ["128 KiB clusters", 300, ["-c", "128K"]],
      ["default", 200, []],
    ];
    let seed = 1;
    for (const [label, mib, args] of matrix) {
      await t.test(label, async (t) => {
        const src = path.join(tmp, "fresh.img"),
          image = path.join(tmp, "fresh.cbi"),
          dst = path.join(tmp, "fresh.out");
        fs.writeFileSync(src, "");
        fs.truncateSync(src, mib << 20);
        t.equal(
          spawnSync("mkfs.exfat", [...args, src], { encoding: "utf8" }).status,
          0,
          `mkfs.exfat ${args.join(" ")}`,
        );
        const dev = new FileDevice(src, { writable: true });
        const w = new ExfatWriter(dev);
        w.mkdir("\\Spool", Math.max(1, Math.ceil(32768 / w.g.clusterBytes)));
        for (let i = 0; i < 40; i++)
          w.writeFile(
            `\\Spool\\print job ${i} (copy).prn`,
            crypto.randomBytes(((i * 7919 + seed * 104729) % 60000) + 1),
            { fragmented: i % 4 === 1 },
          );
        w.writeFile("\\firmware.bin", crypto.randomBytes(300000));
        w.flush();
        dev.close();
        seed++;
        const before = fsck(src);
        t.equal(before.status, 0, `fsck.exfat -n clean on the source${before.status ? ": " + before.stdout : ""}`);
        const r = api.backup(core, src, { overwrite: true, image });
        t.equal(r.imageClusters, bitmapClusters(fs.readFileSync(src)).length, "stored clusters = the bitmap's");
        fs.writeFileSync(dst, crypto.randomBytes(mib << 20));
        t.equal(api.restore(core, image, dst).verified, true);
        const after = fsck(dst);
        t.equal(
          after.status,
          0,
          `fsck.exfat -n clean on the restored volume${after.status ? ": " + after.stdout : ""}`,
        );
        t.match(after.stdout, /clean\. directories \d+, files \d+/);
        t.equal(
          after.stdout.replace(dst, "V"),
          before.stdout.replace(src, "V"),
          "fsck.exfat reports the same directories and files",
        );
        t.equal(api.verify(core, image, { against: dst }).ok, true, "verify --against");
      });
    }
  },
);

t.test("the up-case table: its checksum is checked, a mismatch or a missing entry is a notice", async (t) => {
  const src = unpack(fixtures[0]);
  const good = fs.readFileSync(src);
  t.same(api.info(core, src).volume?.notices, [], "an intact volume: no notice");
  const g = readExfatGeometry(good);
  const rootAt = (g.clusterHeapOffset + (g.rootCluster - 2) * g.sectorsPerCluster) * g.bytesPerSector;
  let entry = -1;
  for (let i = 0; i < g.clusterBytes; i += 32)
    if (good[rootAt + i] === 0x82) {
      entry = rootAt + i;
      break;
    }
  t.ok(entry > 0, "the root directory has an up-case table entry");
  const tableAt = (g.clusterHeapOffset + (good.readUInt32LE(entry + 20) - 2) * g.sectorsPerCluster) * g.bytesPerSector;
  const damaged = Buffer.from(good);
  damaged[tableAt + 100] ^= 0x01;
  const f = path.join(tmp, "upcase.img");
  fs.writeFileSync(f, damaged);
  t.match(api.info(core, f).volume?.notices ?? [], [/up-case table's checksum does not match/]);
  const missing = Buffer.from(good);
  missing[entry] = 0x02; // the entry no longer an up-case table (a deleted entry's type)
  fs.writeFileSync(f, missing);
  t.match(api.info(core, f).volume?.notices ?? [], [/no up-case table entry/]);
  t.equal(
    api.backup(core, f, { overwrite: true, image: path.join(tmp, "upcase.cbi") }).fsType,
    "exFAT",
    "still imaged as it is",
  );
});
