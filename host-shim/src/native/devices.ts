// The Node host's block devices: regular files and Linux block-device nodes. The interface and
// the devices that only compose others are portable (firmware-module/src/ops/devices.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { DeviceCode, DeviceError, LockError } from "../../../firmware-module/src/ops/device-errors";

/** The queue a deferred write goes on (the CLI's background writer, async-writer.ts, is one). */
export interface FileWriteQueue {
  enqueue(fd: number, ptr: number, byteCount: number, position: number): void;
  beforeFileRead(fd: number, position: number, byteCount: number): void;
  beforeFileUse(fd: number): void;
}

import { BlockDevice, checkRange } from "../../../firmware-module/src/ops/devices";

export * from "../../../firmware-module/src/ops/devices";

export interface FileDeviceOptions {
  sectorSize?: number;
  writable?: boolean;
  /** Writes past the end extend the file (an image being written). */
  growable?: boolean;
  /** Create (or truncate) the file. */
  create?: boolean;
  /**
   * The whole disk behind a block device node (host-shim/src/cli/endpoints.ts exclusiveDiskKey):
   * the node is opened with O_EXCL, which Linux refuses while it is mounted or held by another
   * exclusive opener (a second job). Within this process a disk already held so is opened again
   * without it (an image partition and its disk's target partition). Undefined: no O_EXCL.
   */
  exclusive?: string;
}

/** Whole disks this process holds open with O_EXCL, and how many times. */
const exclusiveDisks = new Map<string, number>();

/** A regular file (partition or disk image, backup image) or a Linux block device node. */
export class FileDevice implements BlockDevice {
  readonly sectorSize: number;
  readonly name: string;
  private fd: number;
  private sizeBytes: number;
  private readonly writable: boolean;
  private readonly growable: boolean;
  private writer: FileWriteQueue | undefined; // set once a write was queued on it
  private heldDisk: string | undefined;

  constructor(
    readonly filePath: string,
    options: FileDeviceOptions = {},
  ) {
    this.name = filePath;
    this.writable = options.writable ?? false;
    this.growable = options.growable ?? false;
    const c = fs.constants;
    let flags = options.create ? c.O_RDWR | c.O_CREAT | c.O_TRUNC : this.writable ? c.O_RDWR : c.O_RDONLY;
    if (options.exclusive && !options.create) {
      const disk = options.exclusive;
      if (!exclusiveDisks.has(disk)) {
        flags |= c.O_EXCL;
        this.heldDisk = disk;
      }
    }
    try {
      this.fd = fs.openSync(filePath, flags, 0o644);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EBUSY")
        throw new LockError(
          `${filePath} is in use: it is mounted, or another program holds it open exclusively (EBUSY); unmount it or wait for that program`,
        );
      throw new DeviceError(
        DeviceCode.io,
        `cannot open ${filePath}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      );
    }
    if (this.heldDisk) exclusiveDisks.set(this.heldDisk, (exclusiveDisks.get(this.heldDisk) ?? 0) + 1);
    const st = fs.fstatSync(this.fd);
    this.sectorSize = options.sectorSize ?? (st.isBlockDevice() ? blockDeviceSectorSize(st.rdev) : 512);
    this.sizeBytes = st.isBlockDevice() ? blockDeviceBytes(st.rdev) : st.size;
  }

  get sectorCount(): number {
    return Math.floor(this.sizeBytes / this.sectorSize);
  }
  get byteLength(): number {
    return this.sizeBytes;
  }

  private live(): number {
    if (this.fd < 0) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
    return this.fd;
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    const fd = this.live();
    checkRange(this, lba, sectorCount, "read");
    const want = sectorCount * this.sectorSize;
    this.writer?.beforeFileRead(fd, lba * this.sectorSize, want);
    let done = 0;
    while (done < want) {
      let n: number;
      try {
        n = fs.readSync(fd, dst, dstOffset + done, want - done, lba * this.sectorSize + done);
      } catch (e) {
        throw new DeviceError(DeviceCode.io, `${this.name}: read error at LBA ${lba}: ${(e as Error).message}`);
      }
      if (n === 0)
        throw new DeviceError(DeviceCode.short, `${this.name}: short read at LBA ${lba} (${done} of ${want} bytes)`);
      done += n;
    }
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    const fd = this.live();
    if (!this.writable)
      throw new DeviceError(DeviceCode.readonly, `${this.name}: opened read-only, write at LBA ${lba} refused`);
    checkRange(this, lba, sectorCount, "write", this.growable ? Number.MAX_SAFE_INTEGER : this.sectorCount);
    this.writer?.beforeFileUse(fd);
    const want = sectorCount * this.sectorSize;
    let done = 0;
    while (done < want) {
      try {
        done += fs.writeSync(fd, src, srcOffset + done, want - done, lba * this.sectorSize + done);
      } catch (e) {
        throw new DeviceError(DeviceCode.io, `${this.name}: write error at LBA ${lba}: ${(e as Error).message}`);
      }
    }
    this.sizeBytes = Math.max(this.sizeBytes, (lba + sectorCount) * this.sectorSize);
  }

  deferWrite(lba: number, sectorCount: number, ptr: number, writer: FileWriteQueue): boolean {
    const fd = this.live();
    if (!this.writable)
      throw new DeviceError(DeviceCode.readonly, `${this.name}: opened read-only, write at LBA ${lba} refused`);
    checkRange(this, lba, sectorCount, "write", this.growable ? Number.MAX_SAFE_INTEGER : this.sectorCount);
    this.writer = writer;
    writer.enqueue(fd, ptr, sectorCount * this.sectorSize, lba * this.sectorSize);
    this.sizeBytes = Math.max(this.sizeBytes, (lba + sectorCount) * this.sectorSize);
    return true;
  }

  flush(): void {
    const fd = this.live();
    this.writer?.beforeFileUse(fd);
    if (!this.writable) return;
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      throw new DeviceError(DeviceCode.io, `${this.name}: flush failed: ${(e as Error).message}`);
    }
  }

  close(): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      this.releaseDisk();
      this.writer?.beforeFileUse(fd);
      fs.closeSync(fd);
    }
  }

  private releaseDisk(): void {
    const d = this.heldDisk;
    if (!d) return;
    this.heldDisk = undefined;
    const n = (exclusiveDisks.get(d) ?? 1) - 1;
    if (n > 0) exclusiveDisks.set(d, n);
    else exclusiveDisks.delete(d);
  }
}

export function sysBlockDir(rdev: number): string {
  const major = Math.floor(rdev / 256) & 0xfff,
    minor = (rdev & 0xff) | (Math.floor(rdev / 1048576) & 0xfff00);
  return `/sys/dev/block/${major}:${minor}`;
}
function blockDeviceBytes(rdev: number): number {
  return Number(fs.readFileSync(path.join(sysBlockDir(rdev), "size"), "utf8").trim()) * 512;
}
function blockDeviceSectorSize(rdev: number): number {
  const dir = sysBlockDir(rdev);
  for (const p of [path.join(dir, "queue/logical_block_size"), path.join(dir, "../queue/logical_block_size")]) {
    if (fs.existsSync(p)) return Number(fs.readFileSync(p, "utf8").trim());
  }
  return 512;
}
