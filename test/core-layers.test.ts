// The core's layers (LayerKind: window, guard, trap, sectors512) against the portable JS devices
// that define them (PartitionView, WriteGuard, ReadFailureTrap, SectorAdapter): the same random
// reads and writes through both, on twin disks, must give the same bytes, the same refusals with
// the same device codes, the same counters and the same disks afterwards. sectorCopy moves the
// sectors between a layer and a plain host device, so that only the layer under test differs.
import t from "tap";
import {
  CoreCode,
  DeviceCode,
  LAYER_FIRST,
  LAYERS_MAX,
  LayerKind,
  LayerStat,
  LayerWhat,
  Slot,
} from "../firmware-module/src/ops/abi";
import { BadSectorError, DeviceError } from "../firmware-module/src/ops/errors";
import { SectorAdapter } from "../firmware-module/src/ops/sector-adapter";
import { Core } from "../host-shim/src/native/core";
import { BlockDevice, PartitionView, RamDevice, ReadFailureTrap, WriteGuard } from "../host-shim/src/native/devices";
import { FaultDevice } from "../host-shim/src/native/fault-device";

const core = new Core({ build: "portable" });
const ex = core.exports;

/** A small deterministic generator (xorshift32). */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** The code a JS device call throws with (0: none). */
function jsCode(f: () => void): number {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
}
/** The device code of a failed sectorCopy (0: none). */
function coreCode(r: number): number {
  if (r === 0) return 0;
  if (ex.failureCode() !== CoreCode.E_DEVICE) throw new Error(`sectorCopy failed with core code ${ex.failureCode()}`);
  return ex.failureValue(0);
}

interface Stack {
  name: string;
  /** The JS device over `disk`, and the core layers over the disk's handle (outermost last). */
  js: (disk: BlockDevice) => BlockDevice;
  layers: (disk: number) => number[];
  /** Which of the layers is a write guard. */
  guardAt?: number;
}
const open = (kind: number, parent: number, a = 0, b = 0, c = 0, d = 0) =>
  core.check(ex.layerOpen(kind, parent, a, b, c, d));

const stacks = (ss: number): Stack[] => [
  {
    name: "window",
    js: (d) => new PartitionView(d, 5, 40),
    layers: (h) => [open(LayerKind.window, h, 5, 40)],
  },
  {
    name: "guard with a hole over a window",
    js: (d) => new WriteGuard(new PartitionView(d, 3, 50), 10, 30, { startSector: 20, sectors: 4 }),
    layers: (h) => {
      const w = open(LayerKind.window, h, 3, 50);
      return [w, open(LayerKind.guard, w, 10, 30, 20, 4)];
    },
    guardAt: 1,
  },
  {
    name: "trap over a guard",
    js: (d) => new ReadFailureTrap(new WriteGuard(d, 0, 60)),
    layers: (h) => {
      const g = open(LayerKind.guard, h, 0, 60);
      return [g, open(LayerKind.trap, g)];
    },
    guardAt: 0,
  },
  ...(ss > 512
    ? [
        {
          name: "512-byte view of a window",
          js: (d: BlockDevice) => new SectorAdapter(new PartitionView(d, 2, 30), 512),
          layers: (h: number) => {
            const w = open(LayerKind.window, h, 2, 30);
            return [w, open(LayerKind.sectors512, w, ss, 30)];
          },
        },
      ]
    : []),
];

for (const ss of [512, 4096]) {
  for (const s of stacks(ss)) {
    t.test(`${ss}-byte disk, ${s.name}: the core's layers do what the JS devices do`, (t) => {
      const next = rng(ss + s.name.length);
      const sectors = 64;
      const a = new RamDevice(ss, sectors, "core-disk"),
        b = new RamDevice(ss, sectors, "js-disk");
      for (let i = 0; i < a.bytes.length; i++) a.bytes[i] = b.bytes[i] = next(256);
      const js = s.js(b);
      const vs = js.sectorSize; // the layer's own sector size (512 for a view)
      const scratch = new RamDevice(vs, 4096 / vs + 64, "scratch");
      const hd = core.attach(a),
        hs = core.attach(scratch);
      const layers = s.layers(hd);
      const top = layers[layers.length - 1];
      let mismatches = 0,
        refusals = 0;
      try {
        for (let op = 0; op < 400; op++) {
          const lba = next(js.sectorCount + 4),
            n = 1 + next(12);
          const got = new Uint8Array(n * vs);
          if (next(2) === 0) {
            const want = new Uint8Array(n * vs);
            const c1 = jsCode(() => js.read(lba, n, want, 0));
            const c2 = coreCode(ex.sectorCopy(top, lba, hs, 0, n, vs));
            scratch.read(0, n, got, 0);
            if (c1 !== c2 || (c1 === 0 && Buffer.compare(want, got) !== 0)) mismatches++;
          } else {
            for (let i = 0; i < got.length; i++) got[i] = next(256);
            scratch.write(0, n, got, 0);
            const c1 = jsCode(() => js.write(lba, n, got, 0));
            const c2 = coreCode(ex.sectorCopy(hs, 0, top, lba, n, vs));
            if (c1 !== c2) mismatches++;
            if (c1 !== 0) refusals++;
          }
        }
        t.equal(mismatches, 0, "400 random reads and writes: same bytes and same device codes");
        t.ok(refusals > 0, `${refusals} writes refused by both (RANGE or GUARD)`);
        t.equal(Buffer.compare(a.bytes, b.bytes), 0, "the twin disks are byte-identical afterwards");
        if (s.guardAt !== undefined) {
          const g = layers[s.guardAt];
          const jsGuard = [js, (js as ReadFailureTrap).inner].find((d): d is WriteGuard => d instanceof WriteGuard);
          t.same(
            [ex.layerStat(g, LayerStat.read), ex.layerStat(g, LayerStat.written)],
            [jsGuard?.sectorsRead, jsGuard?.sectorsWritten],
            "the guard counted the sectors read and written that the JS guard counted",
          );
        }
      } finally {
        for (const h of layers.slice().reverse()) core.check(ex.layerClose(h));
        core.detach(hd);
        core.detach(hs);
      }
      t.end();
    });
  }
}

t.test("a trap remembers the last failed read, in its own LBAs", (t) => {
  const disk = new FaultDevice(new RamDevice(512, 100), { badReadSectors: new Set([47]) });
  const scratch = new RamDevice(512, 32);
  const hd = core.attach(disk),
    hs = core.attach(scratch);
  const w = open(LayerKind.window, hd, 40, 50);
  const trap = open(LayerKind.trap, w);
  t.equal(ex.layerStat(trap, LayerStat.failCount), 0, "nothing failed yet");
  t.equal(coreCode(ex.sectorCopy(trap, 0, hs, 0, 4, 512)), 0, "a good read");
  t.equal(coreCode(ex.sectorCopy(trap, 5, hs, 0, 4, 512)), DeviceCode.io, "a read over the bad sector fails IO");
  t.same(
    [ex.layerStat(trap, LayerStat.failLba), ex.layerStat(trap, LayerStat.failCount)],
    [5, 4],
    "its request, in the window's LBAs",
  );
  const e = core.takeDeviceError();
  t.ok(
    e instanceof BadSectorError && e.lba - e.requestLba === 2,
    "the host's error names the bad sector: 5 + 2 = LBA 7 of the window",
  );
  core.check(ex.layerClose(trap));
  core.check(ex.layerClose(w));
  core.detach(hd);
  core.detach(hs);
  t.end();
});

t.test("layer handles: errors by name, closing order, the table's size", (t) => {
  const disk = new RamDevice(512, 16);
  const hd = core.attach(disk);
  const fails = (r: number, what: number) => {
    t.equal(r, -CoreCode.E_LAYER);
    t.equal(ex.failureValue(0), what);
    t.throws(() => core.check(r), /core layer/);
  };
  fails(ex.layerOpen(9, hd, 0, 0, 0, 0), LayerWhat.kind);
  fails(ex.layerOpen(LayerKind.window, 0, 0, 1, 0, 0), LayerWhat.parent);
  fails(ex.layerOpen(LayerKind.window, LAYER_FIRST + 3, 0, 1, 0, 0), LayerWhat.parent);
  fails(ex.layerOpen(LayerKind.window, hd, -1, 1, 0, 0), LayerWhat.size);
  fails(ex.layerOpen(LayerKind.window, hd, 0.5, 1, 0, 0), LayerWhat.size);
  fails(ex.layerOpen(LayerKind.sectors512, hd, 1000, 0, 0, 0), LayerWhat.size);
  const w = open(LayerKind.window, hd, 0, 8);
  const g = open(LayerKind.guard, w, 0, 8);
  t.ok(w >= LAYER_FIRST && g >= LAYER_FIRST, "layer handles start at LAYER_FIRST");
  fails(ex.layerClose(w), LayerWhat.busy);
  fails(ex.layerClose(hd), LayerWhat.notOpen);
  t.equal(ex.layerStat(hd, LayerStat.read), -1, "a host handle has no figures");
  t.equal(ex.layerStat(g, 99), -1, "nor an unknown figure");
  core.check(ex.layerClose(g));
  core.check(ex.layerClose(w));
  fails(ex.layerClose(w), LayerWhat.notOpen);
  const many: number[] = [];
  for (let i = 0; i < LAYERS_MAX; i++) many.push(open(LayerKind.trap, hd));
  fails(ex.layerOpen(LayerKind.trap, hd, 0, 0, 0, 0), LayerWhat.full);
  for (const h of many) core.check(ex.layerClose(h));
  t.ok(ex.layerOpen(LayerKind.trap, hd, 0, 0, 0, 0) >= LAYER_FIRST, "free again after closing");
  core.check(ex.layerClose(LAYER_FIRST));
  t.equal(coreCode(ex.sectorCopy(LAYER_FIRST + 1, 0, hd, 0, 1, 512)), DeviceCode.closed, "a closed layer reads CLOSED");
  t.equal(
    ex.sectorCopy(hd, 0, hd, 8, 1, 1000),
    -CoreCode.E_LAYER,
    "sectorCopy refuses a sector size that is not a power of two",
  );
  core.detach(hd);
  t.end();
});

t.test("scanMagic finds the last 512-byte unit before the end that starts with a magic", (t) => {
  for (const ss of [512, 4096]) {
    const disk = new RamDevice(ss, (3 * 1024 * 1024) / ss + 3); // more than one io buffer of sectors
    const put = (at: number, magic: string) => disk.bytes.set(Buffer.from(magic, "latin1"), at);
    put(512, "CBGHOSTL");
    put(1024 * 1024 + 1536, "CBIMAGE1");
    put(2 * 1024 * 1024 + 512, "CBGHOSTX"); // first byte alike, not a magic
    put(2 * 1024 * 1024 + 700, "CBIMAGE1"); // not on a 512-byte boundary
    const h = core.attach(disk);
    const params = new Uint8Array(16);
    params.set(Buffer.from("CBGHOSTL", "latin1"), 0);
    params.set(Buffer.from("CBIMAGE1", "latin1"), 8);
    core.setParams(params);
    const end = disk.sectorCount * ss;
    const scan = (stop: number, to: number) => {
      const r = core.check(ex.scanMagic(h, ss, stop, to));
      return r === 1 ? core.results()[Slot.magicAt] : -1;
    };
    t.equal(scan(0, end), 1024 * 1024 + 1536, `${ss}: the image header, the last match`);
    t.equal(scan(0, 1024 * 1024 + 1536), 512, `${ss}: below it, the locator`);
    t.equal(scan(1024, 1024 * 1024 + 1536), -1, `${ss}: nothing between`);
    t.equal(scan(0, 512), -1, `${ss}: the end is exclusive`);
    core.setParams(params.subarray(0, 8));
    t.equal(scan(0, end), 512, `${ss}: zeros as the second magic: only the first`);
    t.equal(ex.scanMagic(h, ss, 100, end), -CoreCode.E_SCAN_RANGE, "bounds not multiples of 512");
    t.equal(ex.scanMagic(h, 1000, 0, 512), -CoreCode.E_SCAN_RANGE, "a sector size that is not a power of two");
    t.equal(ex.scanMagic(h, ss, 0, end + 512 * 8), -CoreCode.E_DEVICE, "past the device: its RANGE");
    core.detach(h);
  }
  t.end();
});
