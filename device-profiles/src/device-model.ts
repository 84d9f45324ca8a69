// Device models: how long a disk takes for a sequence of reads and writes. Declared once here and
// used by the simulator's timed disk (simulator/src/printer.ts TimedDevice) and by the
// bytes-moved bench (test/bench/bytes-bench.js), which replays the system calls of a restore on
// each model. Portable: no Node API (the firmware module may bundle it for QuickJS).
//
// The model: an access of n bytes takes n / rate (readMBps or writeMBps, MB = 10^6 bytes). An
// access that does not start where the previous access on that disk (read or write) ended first
// pays a positioning cost:
//   - a forward gap of g bytes: min(accessMs, g / read rate): the drive reads (or rotates)
//     through a short gap rather than seek, and never pays more than a seek;
//   - a backward jump: accessMs (a seek and, on an HDD, half a revolution on average).
// The disk starts positioned at byte 0 unless told otherwise.

import type { DiskSpec, Media } from "./profile";

export interface DeviceModel {
  name: string;
  readMBps: number; // sequential read, 10^6 bytes per second
  writeMBps: number; // sequential write, 10^6 bytes per second
  accessMs: number; // one random positioning (seek + rotational latency, or command latency), ms
}

/** "r" read, "w" write. */
export type AccessOp = "r" | "w";

/** One access in a trace: `byteLength` bytes at disk byte offset `byteOffset`. */
export interface Access {
  op: AccessOp;
  byteOffset: number;
  byteLength: number;
}

export interface DeviceTime {
  seconds: number; // transferSeconds + positionSeconds
  transferSeconds: number; // bytes / rate, reads and writes
  positionSeconds: number; // time spent positioning (forward gaps and backward jumps)
  bytesRead: number;
  bytesWritten: number;
  repositionings: number; // accesses that did not start where the previous one ended
}

/**
 * eMMC: read 300 MB/s, write 150 MB/s, access 0.1 ms: issue 16's figures (an HS400 eMMC 5.1 part
 * reads sequentially near 300 MB/s and writes about half that). 0.1 ms is the order of one
 * command's latency on such a part (random 4 KiB reads at queue depth 1 in the thousands to
 * ten thousand IOPS); it has no moving parts, so a jump costs a command, not a seek.
 */
export const EMMC: DeviceModel = { name: "emmc", readMBps: 300, writeMBps: 150, accessMs: 0.1 };

/**
 * HDD: 150 MB/s both ways (issue 16's figure), a 7,200 rpm drive. accessMs 8.5 = an average seek
 * of ~4.2 ms + the average rotational latency, half a revolution: 60,000 ms / 7,200 / 2 = 4.17 ms.
 */
export const HDD: DeviceModel = { name: "hdd", readMBps: 150, writeMBps: 150, accessMs: 8.5 };

/**
 * SD card: a UHS-I card of the A1 application performance class, read 90 MB/s, write 30 MB/s
 * (UHS-I's bus tops out at 104 MB/s; speed class U3/V30 guarantees 30 MB/s sustained writes).
 * accessMs 1: A1 guarantees 1,500 random 4 KiB read IOPS (0.67 ms each) and 500 write IOPS
 * (2 ms each), SD Physical Layer Specification 5.1; 1 ms is the command time those imply for a
 * mix of one write to two reads ((2 x 0.67 + 2) / 3 = 1.1 ms), rounded.
 */
export const SD: DeviceModel = { name: "sd", readMBps: 90, writeMBps: 30, accessMs: 1 };

/** The standard models, in the order reports list them. */
export const STANDARD_MODELS: readonly DeviceModel[] = [EMMC, HDD, SD];

/**
 * A profile disk's default accessMs by media: hdd, sd and emmc as the models above; ssd 0.05
 * (a SATA SSD's random 4 KiB read at queue depth 1, about 20,000 IOPS).
 */
export const MEDIA_ACCESS_MS: Readonly<Record<Media, number>> = { hdd: 8.5, sd: 1, emmc: 0.1, ssd: 0.05 };

/** The model of a device profile's disk: its rates, and its accessMs or the media's default. */
export function modelOfDisk(disk: Pick<DiskSpec, "media" | "readMBps" | "writeMBps" | "accessMs">): DeviceModel {
  return {
    name: disk.media,
    readMBps: disk.readMBps,
    writeMBps: disk.writeMBps,
    accessMs: disk.accessMs ?? MEDIA_ACCESS_MS[disk.media],
  };
}

/** Seconds to position from the end of one access to the start of the next. */
export function positionSeconds(model: DeviceModel, fromByte: number, toByte: number): number {
  if (toByte === fromByte) return 0;
  const accessSeconds = model.accessMs / 1e3;
  if (toByte < fromByte) return accessSeconds;
  return Math.min(accessSeconds, (toByte - fromByte) / (model.readMBps * 1e6));
}

/**
 * One disk's clock: feed it accesses in order; it keeps where the last one ended and the totals.
 */
export class DeviceClock {
  private lastEnd: number;
  readonly time: DeviceTime = {
    seconds: 0,
    transferSeconds: 0,
    positionSeconds: 0,
    bytesRead: 0,
    bytesWritten: 0,
    repositionings: 0,
  };
  constructor(
    readonly model: DeviceModel,
    startByte = 0,
  ) {
    this.lastEnd = startByte;
  }
  /** Account one access; returns the seconds it took. An empty access takes none. */
  access(op: AccessOp, byteOffset: number, byteLength: number): number {
    if (byteLength <= 0) return 0;
    const t = this.time;
    const position = positionSeconds(this.model, this.lastEnd, byteOffset);
    if (byteOffset !== this.lastEnd) t.repositionings++;
    const rate = op === "r" ? this.model.readMBps : this.model.writeMBps;
    const transfer = byteLength / (rate * 1e6);
    if (op === "r") t.bytesRead += byteLength;
    else t.bytesWritten += byteLength;
    t.positionSeconds += position;
    t.transferSeconds += transfer;
    t.seconds += position + transfer;
    this.lastEnd = byteOffset + byteLength;
    return position + transfer;
  }
}

/** The device time of a whole trace on one disk. */
export function deviceTime(model: DeviceModel, trace: Iterable<Access>, startByte = 0): DeviceTime {
  const clock = new DeviceClock(model, startByte);
  for (const a of trace) clock.access(a.op, a.byteOffset, a.byteLength);
  return clock.time;
}
