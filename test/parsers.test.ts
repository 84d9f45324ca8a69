// Crafted boot sectors and partition tables: every rule gives its own named error with the
// values involved, and never a trap, a hang or a write.

import * as zlib from "node:zlib";
import t from "tap";
import { CoreCode, FAT_CHECK_MAX } from "../firmware-module/src/ops/abi";
import { CoreError } from "../firmware-module/src/ops/errors";
import { ClusterBitmap } from "../firmware-module/src/ops/fat-dir";
import { FatTables } from "../firmware-module/src/ops/fat-tables";
import { readPartitionTable } from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { RamDevice, WriteGuard } from "../host-shim/src/native/devices";
import { buildMiniFat } from "./helpers/mini-fat";

const core = new Core();

function probe(bytes: Uint8Array, sectorSize = 512): CoreError | undefined {
  const dev = new WriteGuard(new RamDevice(sectorSize, bytes), 0, 0); // any write would throw
  const h = core.attach(dev);
  try {
    core.check(core.exports.probeVolume(h, sectorSize, dev.sectorCount));
    core.check(core.exports.scanBegin(h, sectorSize, dev.sectorCount));
    core.run();
    return undefined;
  } catch (e) {
    return e as CoreError;
  } finally {
    core.detach(h);
  }
}

t.test("valid volumes of each type are accepted and typed by cluster count", async (t) => {
  for (const fsType of [12, 16, 32] as const) {
    const v = buildMiniFat({ fsType });
    t.equal(probe(v.bytes), undefined, `FAT${fsType} accepted`);
    const tables = new FatTables(new RamDevice(512, v.bytes), core);
    t.equal(tables.geometry.fsType, { 12: 1, 16: 2, 32: 3 }[fsType]);
    t.equal(tables.geometry.clusterCount, v.clusterCount);
    t.same(tables.compareCopies(), { differing: 0, firstDiffering: -1 });
    t.equal(tables.isAllocated(v.allocated[0]), true);
    t.equal(tables.isAllocated(v.clusterCount), false);
  }
});

t.test("the core's fatCheck counts what the volume holds, and names a window it cannot check", async (t) => {
  for (const fsType of [12, 16, 32] as const) {
    const v = buildMiniFat({ fsType, bad: [60, 61] });
    // copy 1 of the FAT differs in two entries: one allocated in copy 0 is freed there, one free one taken
    const fat1 = (v.reservedSectors + v.fatSectors) * 512;
    const entryByte = (n: number) => (fsType === 32 ? n * 4 : fsType === 16 ? n * 2 : n + (n >> 1));
    v.bytes[fat1 + entryByte(v.allocated[0])] ^= 0x01;
    v.bytes[fat1 + entryByte(70) + 1] ^= 0x10; // FAT12: entry 70's high nibble; FAT16/32: its second byte
    const tables = new FatTables(new RamDevice(512, v.bytes), core);
    const claimed = new ClusterBitmap(tables.entryCount);
    for (const c of v.allocated.slice(1)) claimed.testAndSet(c); // the first is lost
    const c = tables.check(claimed);
    t.same(
      c,
      {
        differing: 2,
        firstDiffering: Math.min(v.allocated[0], 70),
        free: v.clusterCount - v.allocated.length - 2,
        allocated: v.allocated.length,
        lost: 1,
        firstLost: v.allocated[0],
        bad: 2,
      },
      `FAT${fsType}`,
    );
  }
  const v = buildMiniFat({ fsType: 16 });
  const dev = new RamDevice(512, v.bytes);
  const h = core.attach(dev);
  try {
    const over = core.exports.fatCheck(h, 512, dev.sectorCount, 0, FAT_CHECK_MAX + 1);
    t.throws(() => core.check(over), {
      code: CoreCode.E_FAT_CHECK_RANGE,
      message: /65537\) is outside the \d+ entries of the FAT16 FAT or over 65536/,
    });
    const past = core.exports.fatCheck(h, 512, dev.sectorCount, v.clusterCount, 10);
    t.throws(() => core.check(past), {
      code: CoreCode.E_FAT_CHECK_RANGE,
      message: new RegExp(`entries ${v.clusterCount}\\.\\.`),
    });
  } finally {
    core.detach(h);
  }
});

type Mutation = [string, (b: Uint8Array, dv: DataView) => void, string, RegExp];
const mutations: Mutation[] = [
  [
    "no signature",
    (b) => {
      b[510] = 0;
    },
    "E_BS_SIGNATURE",
    /signature is 0xAA00/,
  ],
  [
    "no jump",
    (b) => {
      b[0] = 0x00;
    },
    "E_BS_JUMP",
    /BS_jmpBoot\[0\] = 0x00/,
  ],
  [
    "neither",
    (b) => {
      b[0] = 0;
      b[510] = 0;
    },
    "E_NOT_FAT",
    /no FAT boot record/,
  ],
  ["bytes per sector 1000", (_b, dv) => dv.setUint16(11, 1000, true), "E_BPB_BYTSPERSEC", /BPB_BytsPerSec is 1000/],
  ["bytes per sector 256", (_b, dv) => dv.setUint16(11, 256, true), "E_BPB_BYTSPERSEC", /is 256/],
  [
    "bytes per sector 4096 on a 512 device",
    (_b, dv) => dv.setUint16(11, 4096, true),
    "E_SECTOR_SIZE",
    /device sector size 512 differs from the boot record's 4096/,
  ],
  [
    "sectors per cluster 3",
    (b) => {
      b[13] = 3;
    },
    "E_BPB_SECPERCLUS",
    /BPB_SecPerClus is 3/,
  ],
  [
    "sectors per cluster 0",
    (b) => {
      b[13] = 0;
    },
    "E_BPB_SECPERCLUS",
    /is 0/,
  ],
  ["no reserved sectors", (_b, dv) => dv.setUint16(14, 0, true), "E_BPB_RSVDSECCNT", /BPB_RsvdSecCnt is 0/],
  [
    "no FATs",
    (b) => {
      b[16] = 0;
    },
    "E_BPB_NUMFATS",
    /BPB_NumFATs is 0/,
  ],
  [
    "media 0x12",
    (b) => {
      b[21] = 0x12;
    },
    "E_BPB_MEDIA",
    /BPB_Media is 0x12/,
  ],
  [
    "root entries not filling sectors",
    (_b, dv) => dv.setUint16(17, 17, true),
    "E_BPB_ROOTENTCNT",
    /does not fill whole sectors/,
  ],
  ["no root entries on FAT16", (_b, dv) => dv.setUint16(17, 0, true), "E_BPB_ROOTENTCNT", /wrong for FAT16/],
  [
    "total sectors past the partition",
    (_b, dv) => {
      dv.setUint16(19, 0, true);
      dv.setUint32(32, 999999, true);
    },
    "E_BPB_TOTSEC",
    /total sectors 999999 is zero or larger than the partition \(40960 sectors\)/,
  ],
  [
    "zero total sectors",
    (_b, dv) => {
      dv.setUint32(32, 0, true);
      dv.setUint16(19, 0, true);
    },
    "E_BPB_TOTSEC",
    /total sectors 0/,
  ],
  ["FAT too small", (_b, dv) => dv.setUint16(22, 3, true), "E_BPB_FATSZ", /FAT size 3 sectors is too small/],
  [
    "FAT size zero",
    (_b, dv) => {
      dv.setUint16(22, 0, true);
      dv.setUint32(36, 0, true);
    },
    "E_BPB_FATSZ",
    /FAT size 0 sectors/,
  ],
  ["system area fills the volume", (_b, dv) => dv.setUint16(14, 40950, true), "E_NO_DATA_AREA", /leaves no data area/],
];

for (const [what, mutate, code, message] of mutations) {
  t.test(`crafted FAT16 boot sector: ${what}`, async (t) => {
    const v = buildMiniFat({ fsType: 16 });
    mutate(v.bytes, new DataView(v.bytes.buffer));
    const e = probe(v.bytes);
    t.equal(e?.codeName, code);
    t.match(e?.message ?? "", message);
  });
}

t.test("FAT32 rules", async (t) => {
  const cases: [string, (dv: DataView) => void, string][] = [
    ["root cluster 1", (dv) => dv.setUint32(44, 1, true), "E_BPB_ROOTCLUS"],
    ["root cluster past the end", (dv) => dv.setUint32(44, 0x0ffffff0, true), "E_BPB_ROOTCLUS"],
    ["FSVer 1.0", (dv) => dv.setUint16(42, 0x100, true), "E_BPB_FSVER"],
    ["FSInfo outside the reserved area", (dv) => dv.setUint16(48, 40, true), "E_BPB_FSINFO"],
    ["backup boot sector outside", (dv) => dv.setUint16(50, 32, true), "E_BPB_FSINFO"],
    ["root entries on FAT32", (dv) => dv.setUint16(17, 16, true), "E_BPB_ROOTENTCNT"],
    ["FAT16 layout with FAT32 cluster count", (dv) => dv.setUint16(22, 600, true), "E_FAT_TYPE_LAYOUT"],
  ];
  for (const [what, mutate, code] of cases) {
    const v = buildMiniFat({ fsType: 32 });
    mutate(new DataView(v.bytes.buffer));
    t.equal(probe(v.bytes)?.codeName, code, what);
  }
});

t.test("every single-byte corruption of the BPB is accepted or refused by name, never a trap", async (t) => {
  let refused = 0;
  for (const fsType of [12, 16, 32] as const) {
    // one copy of the volume, one byte changed at a time and put back after each probe (the
    // probe cannot write: a WriteGuard with no room throws on any write), instead of a fresh
    // 20 MiB copy per case
    const base = buildMiniFat({ fsType });
    const full = base.bytes.slice();
    for (let off = 0; off < 90; off++) {
      for (const val of [0x00, 0xff, 0x80, 0x01]) {
        full[off] = val;
        const e = probe(full);
        full[off] = base.bytes[off];
        if (e) {
          refused++;
          if (!(e instanceof CoreError)) t.fail(`offset ${off} = ${val}: ${String(e)}`);
        }
      }
    }
    t.equal(Buffer.compare(full, base.bytes), 0, `FAT${fsType}: the probes left the volume as they found it`);
  }
  t.ok(refused > 50, `${refused} corruptions refused by name`);
});

// ---- partition tables ----

function mbrDisk(
  sectors: number,
  entries: [number, number, number][],
  at = 0,
  disk = new Uint8Array(sectors * 512),
): Uint8Array {
  const dv = new DataView(disk.buffer);
  entries.forEach(([type, start, size], i) => {
    disk[at + 446 + i * 16 + 4] = type;
    dv.setUint32(at + 446 + i * 16 + 8, start, true);
    dv.setUint32(at + 446 + i * 16 + 12, size, true);
  });
  dv.setUint16(at + 510, 0xaa55, true);
  return disk;
}

function table(disk: Uint8Array, sectorSize = 512) {
  return readPartitionTable(core, new RamDevice(sectorSize, disk));
}

t.test("MBR with primary and logical partitions", async (t) => {
  const disk = mbrDisk(10000, [
    [0x0c, 100, 1000],
    [0x05, 2000, 5000],
    [0x06, 8000, 1000],
  ]);
  // EBR chain: logical 5 at 2000+10 (size 500), link to EBR at 2000+1000; logical 6 at 3000+10
  mbrDisk(
    0,
    [
      [0x06, 10, 500],
      [0x05, 1000, 600],
    ],
    2000 * 512,
    disk,
  );
  mbrDisk(0, [[0x0e, 10, 500]], 3000 * 512, disk);
  const tab = table(disk);
  t.equal(tab.scheme, "mbr");
  t.same(
    tab.partitions.map((p) => [p.number, p.type, p.startLba, p.sectorCount]),
    [
      [1, 0x0c, 100, 1000],
      [3, 0x06, 8000, 1000],
      [5, 0x06, 2010, 500],
      [6, 0x0e, 3010, 500],
    ],
  );
});

t.test(
  "crafted MBRs give named errors, or a bad entry and a warning (test/ptable-slips.test.ts has the rest)",
  async (t) => {
    const noSig = new Uint8Array(512 * 100);
    t.match(
      caughtCore(() => table(noSig)),
      { codeName: "E_MBR_SIGNATURE" },
    );
    t.match(table(mbrDisk(100, [[0x0c, 50, 80]])).partitions, [
      { number: 1, startLba: 50, sectorCount: 80, problem: "reaches past the end of the disk (100 sectors)" },
    ]);
    // an EBR that links to itself
    const loop = mbrDisk(10000, [[0x05, 2000, 5000]]);
    mbrDisk(
      0,
      [
        [0x06, 10, 100],
        [0x05, 0, 100],
      ],
      2000 * 512,
      loop,
    );
    const d = new DataView(loop.buffer);
    d.setUint32(2000 * 512 + 446 + 16 + 8, 0, true);
    loop[2000 * 512 + 446 + 16 + 4] = 0x05;
    d.setUint32(2000 * 512 + 446 + 16 + 8, 0, true);
    // link 0 ends the chain; make it point back at itself instead
    d.setUint32(2000 * 512 + 446 + 16 + 8, 1, true);
    mbrDisk(
      0,
      [
        [0x06, 10, 100],
        [0x05, 1, 100],
      ],
      2001 * 512,
      loop,
    );
    const looped = table(loop);
    t.same(
      looped.partitions.map((p) => [p.number, p.startLba]),
      [
        [5, 2010],
        [6, 2011],
      ],
      "the logical partitions read before the chain loops",
    );
    t.match(looped.warnings, [
      /^extended partition chain is broken at LBA 2001 .*: the logical partitions after it are not read$/,
    ]);
  },
);

function gptDisk(sectorSize: number, parts: [number, number][], corrupt?: "header" | "entries"): Uint8Array {
  const sectors = 4096;
  const disk = new Uint8Array(sectors * sectorSize);
  mbrDisk(0, [[0xee, 1, sectors - 1]], 0, disk);
  const h = new DataView(disk.buffer, sectorSize, 92);
  Buffer.from("EFI PART").copy(Buffer.from(disk.buffer), sectorSize);
  h.setUint32(8, 0x00010000, true);
  h.setUint32(12, 92, true);
  h.setBigUint64(24, 1n, true);
  h.setBigUint64(72, 2n, true);
  h.setUint32(80, 128, true);
  h.setUint32(84, 128, true);
  const entries = new Uint8Array(128 * 128);
  const ev = new DataView(entries.buffer);
  parts.forEach(([first, last], i) => {
    entries.set(Buffer.from("A2A0D0EBE5B9334487C068B6B72699C7", "hex"), i * 128); // basic data
    ev.setBigUint64(i * 128 + 32, BigInt(first), true);
    ev.setBigUint64(i * 128 + 40, BigInt(last), true);
  });
  disk.set(entries, 2 * sectorSize);
  h.setUint32(88, zlib.crc32(entries), true);
  if (corrupt === "entries") disk[2 * sectorSize + 40] ^= 1;
  h.setUint32(16, zlib.crc32(disk.subarray(sectorSize, sectorSize + 92)), true);
  if (corrupt === "header") disk[sectorSize + 24] ^= 1;
  return disk;
}

t.test("GPT with 512 and 4096-byte sectors", async (t) => {
  for (const ss of [512, 4096]) {
    const tab = table(
      gptDisk(ss, [
        [64, 1063],
        [2048, 3000],
      ]),
      ss,
    );
    t.equal(tab.scheme, "gpt");
    t.same(
      tab.partitions.map((p) => [p.number, p.startLba, p.sectorCount]),
      [
        [1, 64, 1000],
        [2, 2048, 953],
      ],
    );
    t.equal(tab.partitions[0].typeGuid, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "basic data type GUID");
  }
  t.match(
    caughtCore(() => table(gptDisk(512, [[64, 1063]], "header"))),
    { codeName: "E_GPT_CRC", message: /GPT header CRC32/ },
  );
  t.match(
    caughtCore(() => table(gptDisk(512, [[64, 1063]], "entries"))),
    { codeName: "E_GPT_CRC", message: /partition entry array CRC32/ },
  );
  t.match(table(gptDisk(512, [[64, 99999]])).partitions, [
    { number: 1, startLba: 64, sectorCount: 99936, problem: "reaches past the end of the disk (4096 sectors)" },
  ]);
});

function caughtCore(fn: () => unknown): CoreError {
  try {
    fn();
  } catch (e) {
    return e as CoreError;
  }
  throw new Error("expected an error");
}
