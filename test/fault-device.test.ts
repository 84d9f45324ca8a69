// The fault-injecting device (littlefs lfs_emubd style): every fault it plans, on its own, at
// both sector sizes, and a power cut at every write of a real backup. A failing case names
// the sector size, the write index and the LBA.
import t from "tap";
import { DeviceCode, DeviceError, ImageError } from "../firmware-module/src/ops/errors";
import { Core, NO_DEVICE } from "../host-shim/src/native/core";
import { RamDevice } from "../host-shim/src/native/devices";
import { BadSectorError, FaultDevice, PowerCutError } from "../host-shim/src/native/fault-device";
import { buildMiniFat } from "./helpers/mini-fat";

const SECTORS = 32;

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 24) | 1;
  }
  return b;
}

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got none");
}

/** A fault device over a RAM disk, and a way to see the medium without the wrapper. */
function rig(ss: number) {
  const ram = new RamDevice(ss, SECTORS, "ram");
  const dev = new FaultDevice(ram, { logWrites: true });
  const sector = (lba: number) => ram.bytes.slice(lba * ss, (lba + 1) * ss);
  return { ram, dev, sector };
}

for (const ss of [512, 4096]) {
  t.test(`${ss}-byte sectors: power cut after N completed writes, not torn`, async (t) => {
    for (let n = 0; n <= 4; n++) {
      const { ram, dev, sector } = rig(ss);
      dev.powerCutAfterWrites = n;
      const data = (i: number) => pattern(2 * ss, 100 + i);
      for (let i = 0; i < n; i++) dev.write(2 * i, 2, data(i), 0);
      const e = caught(() => dev.write(2 * n, 2, data(n), 0)) as PowerCutError;
      t.ok(e instanceof PowerCutError && e instanceof DeviceError, `N=${n}: PowerCutError, a DeviceError`);
      t.equal(e.name, "PowerCutError");
      t.equal(e.code, DeviceCode.io);
      t.equal(e.writeIndex, n);
      t.match(
        e.message,
        new RegExp(`ram: power cut at write ${n} \\(LBA ${2 * n}, 2 sectors\\): 0 of them reached the medium`),
      );
      t.ok(
        sector(2 * n).every((b) => b === 0) && sector(2 * n + 1).every((b) => b === 0),
        `N=${n}: nothing of the cut write reached the medium`,
      );
      // everything after the cut fails too, naming the write the power went at
      for (const [what, fn] of [
        ["read", () => dev.read(0, 1, new Uint8Array(ss), 0)],
        ["write", () => dev.write(30, 1, new Uint8Array(ss), 0)],
        ["flush", () => dev.flush()],
      ] as const) {
        const later = caught(fn);
        t.ok(later instanceof PowerCutError, `N=${n}: ${what} after the cut throws PowerCutError`);
        t.match(later.message, new RegExp(`power is off since write ${n} \\(LBA ${2 * n}\\)`));
      }
      t.ok(
        sector(30).every((b) => b === 0),
        "a write after the cut does not reach the medium",
      );
      // the reboot: the medium holds exactly the completed writes
      dev.powerOn();
      t.equal(dev.powerCut, undefined);
      const fresh = new FaultDevice(ram);
      for (const d of [dev, fresh]) {
        for (let i = 0; i < n; i++) {
          const got = new Uint8Array(2 * ss);
          d.read(2 * i, 2, got, 0);
          t.same(Buffer.from(got), Buffer.from(data(i)), `N=${n}: write ${i} survived the cut`);
        }
      }
      dev.write(2 * n, 1, data(9), 0);
      t.same(
        Buffer.from(sector(2 * n)),
        Buffer.from(data(9).subarray(0, ss)),
        "after powerOn writes go through again (the cut is used up)",
      );
      t.same(
        dev.writeLog.map((w) => w.outcome),
        [...Array(n).fill("written"), "cut", "written"],
        "the log shows the cut write",
      );
    }
  });

  t.test(`${ss}-byte sectors: a torn write leaves its first tearSectors sectors`, async (t) => {
    for (const tear of [1, 3, 5, 9]) {
      const { dev, sector } = rig(ss);
      dev.powerCutAfterWrites = 1;
      dev.tearSectors = tear;
      dev.write(20, 1, pattern(ss, 1), 0);
      const src = pattern(5 * ss, 2);
      const e = caught(() => dev.write(4, 5, src, 0));
      const reached = Math.min(tear, 5);
      t.ok(e instanceof PowerCutError, `tear ${tear}: the torn write still throws`);
      t.match(
        e.message,
        new RegExp(`power cut at write 1 \\(LBA 4, 5 sectors\\): ${reached} of them reached the medium`),
      );
      for (let i = 0; i < 5; i++) {
        const want = i < reached ? src.subarray(i * ss, (i + 1) * ss) : new Uint8Array(ss);
        t.same(
          Buffer.from(sector(4 + i)),
          Buffer.from(want),
          `tear ${tear}: sector ${4 + i} ${i < reached ? "reached" : "did not reach"} the medium`,
        );
      }
      t.same(dev.writeLog[1], { index: 1, lba: 4, sectorCount: 5, outcome: "torn", sectorsReached: reached });
      t.throws(() => dev.read(4, 1, new Uint8Array(ss), 0), PowerCutError, "power is off after a torn write");
    }
  });

  t.test(`${ss}-byte sectors: bad read sectors fail the whole request, naming the first bad LBA`, async (t) => {
    const { ram, dev } = rig(ss);
    ram.bytes.set(pattern(SECTORS * ss, 3));
    dev.badReadSectors = new Set([9, 7]);
    const dst = new Uint8Array(6 * ss).fill(0xee);
    const e = caught(() => dev.read(5, 6, dst, 0)) as BadSectorError;
    t.ok(e instanceof BadSectorError && e instanceof DeviceError, "a BadSectorError, a DeviceError");
    t.equal(e.code, DeviceCode.io);
    t.equal(e.lba, 7, "the first bad LBA of the request");
    t.match(e.message, "ram: read error at LBA 7 (bad sector; read of 6 sectors at LBA 5)");
    t.ok(
      dst.every((b) => b === 0xee),
      "nothing was read into the buffer",
    );
    t.throws(() => dev.read(9, 1, new Uint8Array(ss), 0), /read error at LBA 9/, "a one-sector read of a bad sector");
    const ok = new Uint8Array(2 * ss);
    dev.read(10, 2, ok, 0);
    t.same(Buffer.from(ok), Buffer.from(ram.bytes.subarray(10 * ss, 12 * ss)), "a read beside the bad sectors works");
    dev.badReadSectors.delete(7);
    dev.badReadSectors.delete(9);
    dev.read(5, 6, dst, 0);
    t.same(Buffer.from(dst), Buffer.from(ram.bytes.subarray(5 * ss, 11 * ss)), "the plan can change at any time");
    t.equal(dev.counters.reads, 2, "failed reads are not counted");
  });

  t.test(`${ss}-byte sectors: bad write sectors fail the whole request, writing nothing`, async (t) => {
    const { ram, dev } = rig(ss);
    dev.badWriteSectors.add(12);
    const e = caught(() => dev.write(10, 4, pattern(4 * ss, 4), 0)) as BadSectorError;
    t.ok(e instanceof BadSectorError);
    t.equal(e.code, DeviceCode.io);
    t.equal(e.lba, 12);
    t.match(e.message, "ram: write error at LBA 12 (bad sector; write of 4 sectors at LBA 10)");
    t.ok(
      ram.bytes.every((b) => b === 0),
      "nothing of the failed write reached the medium",
    );
    t.same(dev.writeLog, [{ index: 0, lba: 10, sectorCount: 4, outcome: "failed", sectorsReached: 0 }]);
    t.equal(dev.counters.writes, 0, "a failed write is not counted as completed");
    dev.write(13, 1, pattern(ss, 5), 0);
    t.same(dev.writeLog[1].index, 1, "the next write gets the next index");
    t.throws(
      () => dev.write(12, 1, new Uint8Array(ss), 0),
      /write error at LBA 12/,
      "a one-sector write of a bad sector",
    );
    dev.read(12, 1, new Uint8Array(ss), 0);
    t.pass("a bad write sector still reads");
  });

  t.test(`${ss}-byte sectors: dropped writes complete without reaching the medium`, async (t) => {
    const { ram, dev, sector } = rig(ss);
    dev.dropWrites = new Set([1]);
    for (let i = 0; i < 3; i++) dev.write(i, 1, pattern(ss, 10 + i), 0);
    t.same(Buffer.from(sector(0)), Buffer.from(pattern(ss, 10)), "write 0 reached the medium");
    t.ok(
      sector(1).every((b) => b === 0),
      "write 1 was dropped",
    );
    t.same(Buffer.from(sector(2)), Buffer.from(pattern(ss, 12)), "write 2 reached the medium");
    t.same(
      dev.writeLog.map((w) => w.outcome),
      ["written", "dropped", "written"],
    );
    t.equal(dev.counters.writes, 3, "a dropped write looks completed to its caller");
    dev.dropWrites = (w) => w.lba >= 20;
    dev.write(20, 2, pattern(2 * ss, 20), 0);
    dev.write(5, 1, pattern(ss, 21), 0);
    t.ok(
      ram.bytes.subarray(20 * ss, 22 * ss).every((b) => b === 0),
      "a predicate drops by LBA",
    );
    t.same(Buffer.from(sector(5)), Buffer.from(pattern(ss, 21)), "and lets the others through");
    t.same(
      dev.writeLog.slice(3).map((w) => [w.index, w.outcome]),
      [
        [3, "dropped"],
        [4, "written"],
      ],
    );
  });

  t.test(`${ss}-byte sectors: flipped bits on read and on write`, async (t) => {
    const { ram, dev, sector } = rig(ss);
    const data = pattern(4 * ss, 30);
    ram.bytes.set(data, 8 * ss);
    dev.flipOnRead = [
      { lba: 10, byte: ss - 1, bit: 7 },
      { lba: 9, byte: 0, bit: 0 },
    ];
    const got = new Uint8Array(4 * ss + 3);
    dev.read(8, 4, got, 3);
    const want = Buffer.from(data);
    want[2 * ss + ss - 1] ^= 0x80;
    want[ss] ^= 0x01;
    t.same(Buffer.from(got.subarray(3)), want, "both bits flipped in what the read returned, in the right sectors");
    t.same(Buffer.from(ram.bytes.subarray(8 * ss, 12 * ss)), Buffer.from(data), "the medium keeps its bytes");
    dev.flipOnRead = [];
    const src = pattern(2 * ss, 31);
    const before = Buffer.from(src);
    dev.flipOnWrite = [{ lba: 1, byte: 5, bit: 3 }];
    dev.write(0, 2, src, 0);
    const stored = Buffer.concat([sector(0), sector(1)]);
    const expect = Buffer.from(src);
    expect[ss + 5] ^= 0x08;
    t.same(stored, expect, "the bit is flipped on the medium");
    t.same(Buffer.from(src), before, "the caller's buffer is untouched");
    dev.write(3, 1, src, 0);
    t.same(Buffer.from(sector(3)), Buffer.from(src.subarray(0, ss)), "a write not covering the flip is exact");
  });

  t.test(`${ss}-byte sectors: counters and the write log`, async (t) => {
    const ram = new RamDevice(ss, SECTORS);
    const dev = new FaultDevice(ram);
    dev.write(0, 3, pattern(3 * ss, 1), 0);
    dev.write(5, 1, pattern(ss, 2), 0);
    dev.read(0, 4, new Uint8Array(4 * ss), 0);
    dev.read(5, 1, new Uint8Array(ss), 0);
    dev.read(6, 2, new Uint8Array(2 * ss), 0);
    dev.flush();
    t.same(dev.counters, {
      reads: 3,
      writes: 2,
      flushes: 1,
      sectorsRead: 7,
      sectorsWritten: 4,
      bytesRead: 7 * ss,
      bytesWritten: 4 * ss,
    });
    t.same(dev.writeLog, [], "the log is off by default");
    dev.logWrites = true;
    dev.write(9, 2, pattern(2 * ss, 3), 0);
    t.same(
      dev.writeLog,
      [{ index: 2, lba: 9, sectorCount: 2, outcome: "written", sectorsReached: 2 }],
      "once on, writes are logged with their index",
    );
    dev.resetCounters();
    t.same(dev.counters.writes + dev.counters.reads + dev.counters.bytesWritten, 0);
    t.same(dev.writeLog, []);
    t.equal(dev.writeIndex, 3, "write indices keep counting");
    dev.close();
    t.throws(() => dev.read(0, 1, new Uint8Array(ss), 0), { name: "DeviceError", code: DeviceCode.closed });
  });
}

t.test("a power cut at any write of a backup leaves an image that verify refuses", async (t) => {
  const core = new Core({ backgroundWrites: false });
  const vol = buildMiniFat({ fsType: 16, chains: [[2, 3, 4], [10, 11], [40]] });
  const src = new RamDevice(512, vol.bytes, "mini");
  const run = (image: FaultDevice) => {
    const hs = core.attach(src),
      hi = core.attach(image);
    try {
      core.setParams();
      core.check(core.exports.backupBegin(hs, 512, src.sectorCount, hi, 6, 0, 0));
      core.run();
    } finally {
      core.detach(hs);
      core.detach(hi);
    }
  };
  const verify = (image: RamDevice) => {
    const hi = core.attach(image);
    try {
      core.check(core.exports.verifyBegin(hi, image.sectorCount, NO_DEVICE, 0, 0));
      core.run();
    } finally {
      core.detach(hi);
    }
  };
  // the whole backup first, to count its writes
  const wholeMedium = new RamDevice(512, 4096, "image");
  const whole = new FaultDevice(wholeMedium, { logWrites: true });
  run(whole);
  const writes = whole.counters.writes;
  t.ok(writes >= 4, `the backup makes ${writes} writes`);
  verify(wholeMedium);
  for (let n = 0; n < writes; n++) {
    // a tear that lets every sector through is not a tear: only tear writes of several sectors
    for (const tear of whole.writeLog[n].sectorCount > 1 ? [0, 1] : [0]) {
      const medium = new RamDevice(512, 4096, "image");
      const image = new FaultDevice(medium, { powerCutAfterWrites: n, tearSectors: tear });
      const e = caught(() => run(image));
      t.ok(e instanceof PowerCutError, `cut at write ${n} (tear ${tear}): the backup fails with ${e.name}`);
      image.powerOn();
      const v = caught(() => verify(medium));
      t.ok(v instanceof ImageError, `cut at write ${n} (tear ${tear}): verify refuses the image: ${v.message}`);
    }
  }
});
