// A simulated printer: its disk built from a device profile with the simulator's own
// partitioner, FAT formatter and file writer (no external tool), firmware-like files on the
// system partition, an image store on the recovery partition, the factory image provisioned as
// a factory line would, and the firmware module running in QuickJS against it.
import { DeviceClock, DeviceModel, DeviceTime, modelOfDisk } from "../../device-profiles/src/device-model";
import { DiskSpec, Media, Profile } from "../../device-profiles/src/profile";
import { formatExfat } from "../../firmware-module/src/ops/exfat-format";
import { formatFat } from "../../firmware-module/src/ops/fat-format";
import { FatWriter } from "../../firmware-module/src/ops/fat-writer";
import { formatNtfs } from "../../firmware-module/src/ops/ntfs-format";
import { PrinterHost, PrinterLayout, printerLayout } from "../../firmware-module/src/ops/printer-host";
import { readPrivateKey, signDevice } from "../../host-shim/src/cli/signing";
import { Core } from "../../host-shim/src/native/core";
import { bundlePath, findPackageRoot } from "../../host-shim/src/native/core-files";
import {
  BlockDevice,
  createSparseFile,
  DeviceWrapper,
  DiskFile,
  PartitionView,
} from "../../host-shim/src/native/devices";
import { loadQuickJS } from "../../host-shim/src/native/quickjs-engine";
import { Firmware } from "../../host-shim/src/native/quickjs-host";
import { ContentFile, firmwareTree, treeDirectories } from "./content";
import { ExfatWriter } from "./exfat-writer";
import { NtfsWriter } from "./ntfs-writer";
import { GPT_BASIC_DATA, PartitionSpec, PlacedPartition, writePartitionTable } from "./partition";

const MiB = 1024 * 1024;
/** GPT type of the recovery partition (clusterback's own, so that no OS mounts it). */
export const GPT_RECOVERY = "CB1A5BAC-0000-4C75-9E7B-5245434F5652";
const MBR_TYPES: Record<string, number> = { fat32: 0x0c, fat16: 0x0e, exfat: 0x07, ntfs: 0x07, raw: 0xda };

/** What the simulator writes files with: FatWriter on FAT, ExfatWriter on exFAT, NtfsWriter on NTFS. */
export interface FileWriter {
  mkdir(path: string): void;
  writeFile(path: string, data: Uint8Array): unknown;
  flush(): void;
}

export interface SimPrinter {
  profile: Profile;
  /** The disk image file ("" for a disk in memory). */
  file: string;
  disk: BlockDevice;
  placed: PlacedPartition[];
  layout: PrinterLayout;
  core: Core;
  host: PrinterHost;
  files: ContentFile[];
  /** The simulated clock (ms), advanced by the scenarios. */
  clock: { now: number };
  close(): void;
}

export class SimulatorError extends Error {
  constructor(message: string) {
    super(message);
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = "SimulatorError";
  }
}

export function layoutOf(profile: Profile): PrinterLayout {
  return printerLayout(profile);
}

/**
 * What a TimedDevice's timing is taken from: a profile's disk (its media gives the default
 * accessMs), a DeviceModel, or bare rates (accessMs 0 unless given: no positioning cost).
 */
export type DiskTiming = Pick<DiskSpec, "readMBps" | "writeMBps" | "accessMs"> & { media?: Media; name?: string };

/**
 * A disk that takes the time the profile's disk would: each read and write moves the printer's
 * clock (ms) on by the device model's time for it (device-profiles/src/device-model.ts: bytes at
 * `readMBps` / `writeMBps`, plus a positioning cost when an access does not start where the
 * previous one ended), so that the firmware measures the rates and times a real printer of the
 * profile would show, seeks included. The clock runs with real time besides. `disk` is the
 * profile's disk or a DeviceModel (DiskTiming); `deviceTime` holds the totals (bytes,
 * repositionings, seconds).
 */
export class TimedDevice extends DeviceWrapper {
  private readonly deviceClock: DeviceClock;
  constructor(
    inner: BlockDevice,
    disk: DiskTiming,
    private readonly clock: { now: number },
  ) {
    super(inner);
    this.deviceClock = new DeviceClock(
      disk.media
        ? modelOfDisk({ ...disk, media: disk.media })
        : {
            name: disk.name ?? "disk",
            readMBps: disk.readMBps,
            writeMBps: disk.writeMBps,
            accessMs: disk.accessMs ?? 0,
          },
    );
  }
  get model(): DeviceModel {
    return this.deviceClock.model;
  }
  get deviceTime(): Readonly<DeviceTime> {
    return this.deviceClock.time;
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.inner.read(lba, sectorCount, dst, dstOffset);
    this.clock.now += this.deviceClock.access("r", lba * this.sectorSize, sectorCount * this.sectorSize) * 1e3;
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.inner.write(lba, sectorCount, src, srcOffset);
    this.clock.now += this.deviceClock.access("w", lba * this.sectorSize, sectorCount * this.sectorSize) * 1e3;
  }
}

/**
 * Builds a printer's disk in `file` (a sparse file of the profile's disk size), or on
 * `options.device` (a blank device of that size, for example a RamDevice) when given.
 * `diskTiming`: the printer host's disk is a TimedDevice (its clock takes the profile's disk
 * speeds into account); the factory line's building of the disk is not timed.
 */
export function buildPrinter(
  profile: Profile,
  file: string,
  options: {
    core?: Core;
    start?: number;
    device?: BlockDevice;
    extra?: (w: FileWriter) => void;
    diskTiming?: boolean;
  } = {},
): SimPrinter {
  const layout = layoutOf(profile);
  const ss = profile.disk.sectorBytes;
  let disk: BlockDevice;
  if (options.device) {
    disk = options.device;
    if (disk.sectorSize !== ss || disk.sectorCount * ss !== profile.disk.sizeBytes)
      throw new SimulatorError(
        `${profile.id}: the device given has ${disk.sectorCount} sectors of ${disk.sectorSize} bytes; the profile's disk is ${profile.disk.sizeBytes} bytes of ${ss}-byte sectors`,
      );
  } else {
    createSparseFile(file, profile.disk.sizeBytes);
    disk = new DiskFile(file, { sectorSize: ss, writable: true });
  }
  const specs: PartitionSpec[] = profile.partitions.map((p) => ({
    sectorCount: (p.sizeMiB * MiB) / ss,
    mbrType: MBR_TYPES[p.fs],
    name: p.name,
    gptType: p.role === "recovery" ? GPT_RECOVERY : GPT_BASIC_DATA,
  }));
  const placed = writePartitionTable(disk, profile.partitionTable, specs, { seed: profile.firmware.seed });
  profile.partitions.forEach((p, i) => {
    if (p.fs === "raw") return;
    const view = new PartitionView(disk, placed[i].startLba, placed[i].sectorCount);
    const volumeId = (profile.firmware.seed * 2654435761 + i) >>> 0;
    if (p.fs === "ntfs") {
      formatNtfs(view, {
        clusterBytes: p.clusterBytes!,
        label: p.name,
        hiddenSectors: placed[i].startLba,
        serialNumber: BigInt(volumeId),
      });
      return;
    }
    if (p.fs === "exfat") {
      formatExfat(view, {
        clusterBytes: p.clusterBytes!,
        label: p.name,
        hiddenSectors: placed[i].startLba,
        volumeId,
      });
      return;
    }
    formatFat(view, {
      fatType: p.fs === "fat32" ? 32 : 16,
      clusterBytes: p.clusterBytes!,
      label: p.name,
      hiddenSectors: placed[i].startLba,
      volumeId,
    });
  });
  const files = firmwareTree(profile.firmware.seed, profile.firmware.fillMiB * MiB);
  const sys = placed[layout.system - 1];
  const sysView = new PartitionView(disk, sys.startLba, sys.sectorCount);
  const sysFs = profile.partitions[layout.system - 1].fs;
  const writer: FileWriter =
    sysFs === "exfat" ? new ExfatWriter(sysView) : sysFs === "ntfs" ? new NtfsWriter(sysView) : new FatWriter(sysView);
  for (const d of [...treeDirectories(files), "\\JOBS"]) writer.mkdir(d);
  for (const f of files) writer.writeFile(f.path, f.data());
  options.extra?.(writer);
  writer.flush();
  disk.flush();
  const clock = simulatedClock(options.start ?? Date.UTC(2026, 0, 15, 8, 0, 0));
  const core = options.core ?? new Core({ backgroundWrites: false });
  const host = new PrinterHost(
    core,
    options.diskTiming ? new TimedDevice(disk, profile.disk, clock) : disk,
    layout,
    () => clock.now,
  );
  if (profile.imageLocation.kind === "recovery-partition") host.formatStore(profile.imageLocation.slots);
  return { profile, file, disk, placed, layout, core, host, files, clock, close: () => disk.close() };
}

/** A clock that runs with real time from `start`; setting `now` moves it (a night, a week). */
export function simulatedClock(start: number): { now: number } {
  let base = start - performance.now();
  return {
    get now() {
      return base + performance.now();
    },
    set now(v: number) {
      base = v - performance.now();
    },
  };
}

/** The factory line's step: the first image of the system partition, in slot 0. */
export function provisionFactory(p: SimPrinter): Record<string, unknown> {
  p.host.beginBackup({ partition: p.layout.system, factory: true, name: `${p.profile.id} factory` });
  while (!p.host.step(64 * MiB).done) {
    /* steps */
  }
  const r = p.host.finish();
  // a profile that names trusted keys gets a factory image signed by the factory's key
  if (p.profile.security) signDevice(p.core, p.host.imageDeviceOf(0), FACTORY_KEY);
  return r;
}

/** The simulated printers' device key (simulator/keys/README.md: a test key, public on purpose). */
export const DEVICE_KEY = `${findPackageRoot()}/simulator/keys/device.key`;

/** The simulator's factory key (simulator/keys/README.md: a test key, public on purpose). */
export const FACTORY_KEY = `${findPackageRoot()}/simulator/keys/factory.key`;

/** Starts the printer's firmware in QuickJS with the profile's budgets. */
export async function startFirmware(
  p: SimPrinter,
  hooks: { onProgress?: (x: unknown) => void; shouldCancel?: () => boolean; log?: (s: string) => void } = {},
): Promise<Firmware> {
  const engine = await loadQuickJS();
  return new Firmware(
    engine,
    { core: p.core, disk: p.host.disk, now: p.host.now },
    {
      profile: p.profile,
      heapBytes: p.profile.budgets.quickjsHeapBytes,
      stackBytes: p.profile.budgets.quickjsStackBytes,
      // a printer whose partitions include no NTFS one runs the bundle built without NTFS
      bundle: bundlePath({ ntfs: p.profile.partitions.some((x) => x.fs === "ntfs") }),
      deviceKey: readPrivateKey(DEVICE_KEY),
      ...hooks,
    },
  );
}

/** A FatWriter on the live system partition (ordinary use: new jobs, changed settings). */
export function systemWriter(p: SimPrinter): FatWriter {
  const sys = p.placed[p.layout.system - 1];
  const fs = p.profile.partitions[p.layout.system - 1].fs;
  if (fs !== "fat32" && fs !== "fat16")
    throw new SimulatorError(
      fs === "exfat"
        ? `${p.profile.id}: the system partition is exFAT; use systemExfatWriter`
        : `${p.profile.id}: the system partition is NTFS; use systemNtfsWriter`,
    );
  return new FatWriter(new PartitionView(p.disk, sys.startLba, sys.sectorCount));
}

/** An ExfatWriter on the live system partition of a profile whose system partition is exFAT. */
export function systemExfatWriter(p: SimPrinter): ExfatWriter {
  const sys = p.placed[p.layout.system - 1];
  return new ExfatWriter(new PartitionView(p.disk, sys.startLba, sys.sectorCount));
}

export function systemPartition(p: SimPrinter): PartitionView {
  const sys = p.placed[p.layout.system - 1];
  return new PartitionView(p.disk, sys.startLba, sys.sectorCount, "system");
}

/** An NtfsWriter on the live system partition of a profile whose system partition is NTFS. */
export function systemNtfsWriter(p: SimPrinter): NtfsWriter {
  const sys = p.placed[p.layout.system - 1];
  return new NtfsWriter(new PartitionView(p.disk, sys.startLba, sys.sectorCount));
}
