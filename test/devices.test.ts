// One contract, every device: RAM, file, partition view, write guard and fault device
// (FatFs diskio / littlefs lfs_config style). A device that passes this can back any job.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { DeviceCode, DeviceError, WriteGuardError } from "../firmware-module/src/ops/errors";
import { BlockDevice, FileDevice, PartitionView, RamDevice, WriteGuard } from "../host-shim/src/native/devices";
import { FaultDevice } from "../host-shim/src/native/fault-device";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-dev-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Factory = (sectorSize: number, sectorCount: number) => BlockDevice;
let fileNo = 0;
const factories: Record<string, Factory> = {
  ram: (ss, n) => new RamDevice(ss, n),
  file: (ss, n) => {
    const p = path.join(tmp, `dev${fileNo++}.img`);
    fs.writeFileSync(p, Buffer.alloc(ss * n));
    return new FileDevice(p, { sectorSize: ss, writable: true });
  },
  "partition view": (ss, n) => new PartitionView(new RamDevice(ss, n + 10), 7, n),
  "write guard": (ss, n) => new WriteGuard(new RamDevice(ss, n), 0, n),
  "fault device (no faults planned)": (ss, n) => new FaultDevice(new RamDevice(ss, n)),
};

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

for (const [name, make] of Object.entries(factories)) {
  for (const ss of [512, 4096]) {
    t.test(`${name} device, ${ss}-byte sectors`, async (t) => {
      const n = 64;
      const d = make(ss, n);
      t.equal(d.sectorSize, ss, "sector size");
      t.equal(d.sectorCount, n, "sector count");
      // a fresh device reads zeros
      const z = new Uint8Array(ss * 2);
      d.read(0, 2, z, 0);
      t.ok(
        z.every((b) => b === 0),
        "reads zero when new",
      );
      // runs written at offsets into a larger buffer read back exactly
      const src = pattern(ss * 8 + 100, ss);
      d.write(3, 8, src, 100);
      const dst = new Uint8Array(ss * 8 + 50);
      d.read(3, 8, dst, 50);
      t.same(Buffer.from(dst.subarray(50)), Buffer.from(src.subarray(100)), "a run reads back as written");
      // neighbours untouched
      const before = new Uint8Array(ss),
        after = new Uint8Array(ss);
      d.read(2, 1, before, 0);
      d.read(11, 1, after, 0);
      t.ok(before.every((b) => b === 0) && after.every((b) => b === 0), "sectors around a write are untouched");
      // last sector is reachable, one past it is not
      d.write(n - 1, 1, src, 0);
      t.throws(
        () => d.read(n - 1, 2, new Uint8Array(2 * ss), 0),
        { name: "DeviceError" },
        "a read past the end is refused",
      );
      t.ok(
        thrown(() => d.write(n, 1, src, 0)) instanceof DeviceError,
        "a write past the end is refused (RANGE, or GUARD from the write guard)",
      );
      t.throws(() => d.read(-1, 1, new Uint8Array(ss), 0), { name: "DeviceError" }, "a negative LBA is refused");
      t.throws(() => d.read(0.5, 1, new Uint8Array(ss), 0), { name: "DeviceError" }, "a fractional LBA is refused");
      d.flush();
      d.close();
    });
  }
}

t.test("write guard refuses sectors outside its extent and writes nothing", async (t) => {
  const ram = new RamDevice(512, 100);
  const g = new WriteGuard(ram, 10, 20);
  const src = pattern(512 * 4, 1);
  g.write(10, 4, src, 0);
  g.write(26, 4, src, 0);
  t.equal(g.sectorsWritten, 8);
  t.ok(thrown(() => g.write(9, 2, src, 0)) instanceof WriteGuardError, "straddling the start");
  t.ok(thrown(() => g.write(28, 3, src, 0)) instanceof WriteGuardError, "straddling the end");
  t.throws(() => g.write(0, 1, src, 0), /write guard refused 1 sectors at LBA 0: the job may write only LBA 10..29/);
  t.ok(
    ram.bytes.subarray(0, 10 * 512).every((b) => b === 0),
    "nothing reached the device before the extent",
  );
  t.ok(
    ram.bytes.subarray(30 * 512).every((b) => b === 0),
    "nothing reached the device after the extent",
  );
});

t.test("file device errors name the file and the values", async (t) => {
  t.throws(() => new FileDevice(path.join(tmp, "missing.img")), /missing\.img: no such file/);
  const p = path.join(tmp, "ro.img");
  fs.writeFileSync(p, Buffer.alloc(4096));
  const ro = new FileDevice(p);
  t.throws(() => ro.write(0, 1, new Uint8Array(512), 0), { name: "DeviceError", code: DeviceCode.readonly });
  ro.close();
  t.throws(() => ro.read(0, 1, new Uint8Array(512), 0), { name: "DeviceError", code: DeviceCode.closed });
  const grow = new FileDevice(path.join(tmp, "grow.img"), { create: true, writable: true, growable: true });
  t.equal(grow.sectorCount, 0);
  grow.write(3, 2, new Uint8Array(1024).fill(7), 0);
  t.equal(grow.sectorCount, 5, "a growable file grows with writes");
  grow.close();
});

t.test("partition view maps LBAs and refuses a partition past its disk", async (t) => {
  const ram = new RamDevice(512, 50);
  const v = new PartitionView(ram, 20, 10);
  v.write(0, 1, new Uint8Array(512).fill(9), 0);
  t.equal(ram.bytes[20 * 512], 9, "LBA 0 of the view is LBA 20 of the disk");
  t.throws(() => v.write(10, 1, new Uint8Array(512), 0), { name: "DeviceError" });
  t.throws(() => new PartitionView(ram, 45, 10), /reaches past the end/);
});

t.test("a direct file device reads through O_DIRECT where it can, and the bytes are the same", async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cb-direct-")), "disk.img");
  t.teardown(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const bytes = new Uint8Array(64 * 4096).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
  fs.writeFileSync(file, bytes);
  let supported = true;
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT));
  } catch {
    supported = false;
  }
  const dev = new FileDevice(file, { writable: true, direct: true });
  t.teardown(() => dev.close());
  // memory whose start is page-aligned, as the core's buffers are (a wasm memory)
  const mem = new Uint8Array(new WebAssembly.Memory({ initial: 8 }).buffer);
  dev.read(8, 64, mem, 4096); // aligned: 32 KiB at byte 4096 from byte 4096 of the file
  t.same(mem.subarray(4096, 4096 + 32768), bytes.subarray(4096, 4096 + 32768), "aligned read: the file's bytes");
  dev.read(1, 3, mem, 100); // not aligned: through the page cache
  t.same(mem.subarray(100, 100 + 1536), bytes.subarray(512, 512 + 1536), "unaligned read: the file's bytes");
  // a write through the page cache, then an aligned read: the medium has it (the kernel writes the range back first)
  const fresh = new Uint8Array(4096).fill(0x5a);
  dev.write(16, 8, fresh, 0);
  dev.read(16, 8, mem, 8192);
  t.same(mem.subarray(8192, 8192 + 4096), fresh, "what was just written is what the direct read returns");
  t.equal(dev.reads.cached, 1536, "the unaligned read went through the page cache");
  if (supported) t.equal(dev.reads.direct, 32768 + 4096, "the aligned reads went through O_DIRECT");
  else t.equal(dev.reads.direct, 0, `${os.tmpdir()} takes no O_DIRECT: every read through the page cache`);
});
