// The device model (device-profiles/src/device-model.ts): transfer time at the read and write
// rates, and the positioning rule (contiguous: nothing; a forward gap: the time to read through
// it, at most accessMs; a backward jump: accessMs), with exact figures; the standard models and
// a profile disk's model; and the simulator's TimedDevice, whose clock takes the same model.

import t from "tap";
import {
  Access,
  DeviceClock,
  DeviceModel,
  deviceTime,
  EMMC,
  HDD,
  MEDIA_ACCESS_MS,
  modelOfDisk,
  positionSeconds,
  SD,
  STANDARD_MODELS,
} from "../device-profiles/src/device-model";
import { BlockDevice } from "../host-shim/src/native/devices";
import { TimedDevice } from "../simulator/src/printer";

// rates chosen so that every figure below is exact in binary floating point
const M: DeviceModel = { name: "test", readMBps: 100, writeMBps: 50, accessMs: 10 };
const MB = 1e6;
const close = (t: Tap.Test, got: number, want: number, what: string) =>
  t.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${what}: ${got} = ${want}`);

t.test("a contiguous trace pays no positioning", async (t) => {
  const trace: Access[] = [
    { op: "r", byteOffset: 0, byteLength: 100 * MB },
    { op: "w", byteOffset: 100 * MB, byteLength: 50 * MB },
    { op: "r", byteOffset: 150 * MB, byteLength: 100 * MB },
  ];
  const d = deviceTime(M, trace);
  t.equal(d.repositionings, 0);
  t.equal(d.positionSeconds, 0);
  t.equal(d.bytesRead, 200 * MB);
  t.equal(d.bytesWritten, 50 * MB);
  close(t, d.transferSeconds, 3, "1 s + 1 s + 1 s");
  close(t, d.seconds, 3, "total");
});

t.test("a short forward gap costs the time to read through it", async (t) => {
  // 0.5 MB gap at 100 MB/s = 5 ms < accessMs 10
  const d = deviceTime(M, [
    { op: "r", byteOffset: 0, byteLength: 1 * MB },
    { op: "r", byteOffset: 1.5 * MB, byteLength: 1 * MB },
  ]);
  t.equal(d.repositionings, 1);
  close(t, d.positionSeconds, 0.005, "0.5 MB / 100 MB/s");
  close(t, d.seconds, 0.025, "2 x 10 ms transfer + 5 ms");
  // the gap is read through at the read rate, also before a write
  close(t, positionSeconds(M, 0, 0.25 * MB), 0.0025, "0.25 MB gap before anything");
});

t.test("a long forward gap costs accessMs, no more", async (t) => {
  const d = deviceTime(M, [
    { op: "w", byteOffset: 0, byteLength: 0.5 * MB },
    { op: "w", byteOffset: 500 * MB, byteLength: 0.5 * MB },
  ]);
  t.equal(d.repositionings, 1);
  close(t, d.positionSeconds, 0.01, "accessMs");
  close(t, d.seconds, 0.03, "2 x 10 ms + 10 ms");
});

t.test("a backward jump costs accessMs, however short", async (t) => {
  const d = deviceTime(M, [
    { op: "r", byteOffset: 10 * MB, byteLength: 1 * MB },
    { op: "w", byteOffset: 10.5 * MB, byteLength: 1 * MB }, // 0.5 MB back
    { op: "r", byteOffset: 0, byteLength: 1 * MB },
  ]);
  // the first access starts 10 MB after byte 0: 100 ms to read through, capped at 10 ms
  t.equal(d.repositionings, 3);
  close(t, d.positionSeconds, 0.03, "3 x accessMs");
  close(t, d.transferSeconds, 0.04, "10 + 20 + 10 ms");
  close(t, d.seconds, 0.07, "total");
});

t.test("empty accesses move nothing; a start position may be given", async (t) => {
  const c = new DeviceClock(M, 4096);
  t.equal(c.access("r", 0, 0), 0);
  t.equal(c.access("r", 4096, 1e6), 0.01);
  t.same(c.time, {
    seconds: 0.01,
    transferSeconds: 0.01,
    positionSeconds: 0,
    bytesRead: 1e6,
    bytesWritten: 0,
    repositionings: 0,
  });
});

t.test("the standard models and a profile disk's model", async (t) => {
  t.same(
    STANDARD_MODELS.map((m) => [m.name, m.readMBps, m.writeMBps, m.accessMs]),
    [
      ["emmc", 300, 150, 0.1],
      ["hdd", 150, 150, 8.5],
      ["sd", 90, 30, 1],
    ],
  );
  t.equal(EMMC.name, "emmc");
  t.equal(HDD.accessMs, 8.5);
  t.equal(SD.writeMBps, 30);
  t.same(MEDIA_ACCESS_MS, { hdd: 8.5, sd: 1, emmc: 0.1, ssd: 0.05 });
  t.same(modelOfDisk({ media: "hdd", readMBps: 160, writeMBps: 150 }), {
    name: "hdd",
    readMBps: 160,
    writeMBps: 150,
    accessMs: 8.5,
  });
  t.equal(modelOfDisk({ media: "ssd", readMBps: 500, writeMBps: 400, accessMs: 0.2 }).accessMs, 0.2);
  t.equal(modelOfDisk({ media: "sd", readMBps: 20, writeMBps: 10, accessMs: 0 }).accessMs, 0, "0 is a value");
  // HDD: a 4 KiB read after a 1 MiB forward gap reads through it (1,048,576 / 150e6 s = 6.99 ms)
  close(t, positionSeconds(HDD, 0, 1048576), 1048576 / 150e6, "1 MiB gap on the HDD");
  close(t, positionSeconds(HDD, 0, 2 * 1048576), 0.0085, "2 MiB gap on the HDD: a seek");
});

/** A device that does nothing: sectors of 512 bytes, for the clock alone. */
const nullDevice = (): BlockDevice => ({
  sectorSize: 512,
  sectorCount: 1 << 20,
  name: "null",
  read() {},
  write() {},
  flush() {},
  close() {},
});

t.test("TimedDevice: the clock (ms) takes the model, seeks included", async (t) => {
  const clock = { now: 0 };
  const dev = new TimedDevice(nullDevice(), { media: "hdd", readMBps: 128, writeMBps: 64, accessMs: 4 }, clock);
  const buf = new Uint8Array(512 * 2000);
  dev.read(0, 2000, buf, 0); // 1,024,000 bytes at 128 MB/s = 8 ms
  close(t, clock.now, 8, "sequential read");
  dev.write(2000, 1000, buf, 0); // contiguous, 512,000 bytes at 64 MB/s = 8 ms
  close(t, clock.now, 16, "contiguous write");
  dev.read(0, 1000, buf, 0); // back to 0: 4 ms + 4 ms
  close(t, clock.now, 24, "backward jump");
  t.equal(dev.deviceTime.repositionings, 1);
  t.equal(dev.deviceTime.bytesRead, 1536000);
  t.equal(dev.model.accessMs, 4);
  // the old form, rates alone: no positioning cost
  const c2 = { now: 0 };
  const bare = new TimedDevice(nullDevice(), { readMBps: 128, writeMBps: 64 }, c2);
  bare.read(1000, 2000, buf, 0);
  close(t, c2.now, 8, "rates alone");
  // a profile disk without accessMs: the media's default
  const c3 = { now: 0 };
  const sd = new TimedDevice(nullDevice(), { media: "sd", readMBps: 20, writeMBps: 10 }, c3);
  sd.read(0, 1, buf, 0);
  sd.read(0, 1, buf, 0);
  t.equal(sd.deviceTime.positionSeconds, 0.001, "one jump back at sd's 1 ms");
});
