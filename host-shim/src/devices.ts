// Block devices (FatFs diskio / littlefs lfs_config style): one interface, several devices,
// one contract test (test/devices.test.ts). LBAs and counts are numbers (exact to 2^53).
import * as fs from "node:fs";
import * as path from "node:path";
import type { AsyncWriter } from "./async-writer";
import { blockExtent } from "./endpoints";
import { DeviceCode, DeviceError, LockError, WriteGuardError } from "./errors";

export interface BlockDevice {
  /** Bytes per sector: 512, 1024, 2048 or 4096. */
  readonly sectorSize: number;
  /** Sectors the device holds now (a growable image file grows with writes). */
  readonly sectorCount: number;
  /** For messages. */
  readonly name: string;
  /** Reads sectorCount sectors from lba into dst[dstOffset ...]. Throws DeviceError. */
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void;
  /** Writes sectorCount sectors at lba from src[srcOffset ...]. Throws DeviceError. */
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void;
  /** Makes every completed write durable. */
  flush(): void;
  /** Releases the device; any later call throws DeviceError(CLOSED). */
  close(): void;
  /**
   * Optional: queues a write of memory[ptr ...] (the core's shared memory) on `writer` instead
   * of writing now. Returns false when this device cannot (the caller then writes it itself).
   * Checks are made now, exactly as write() makes them.
   */
  deferWrite?(lba: number, sectorCount: number, ptr: number, writer: AsyncWriter): boolean;
}

function checkRange(dev: BlockDevice, lba: number, sectorCount: number, op: string, limit = dev.sectorCount): void {
  if (
    !Number.isSafeInteger(lba) ||
    !Number.isSafeInteger(sectorCount) ||
    lba < 0 ||
    sectorCount < 0 ||
    lba + sectorCount > limit
  ) {
    throw new DeviceError(
      DeviceCode.range,
      `${dev.name}: ${op} of ${sectorCount} sectors at LBA ${lba} is outside the device (${limit} sectors)`,
    );
  }
}

export interface FileDeviceOptions {
  sectorSize?: number;
  writable?: boolean;
  /** Writes past the end extend the file (an image being written). */
  growable?: boolean;
  /** Create (or truncate) the file. */
  create?: boolean;
  /**
   * A block device is opened with O_EXCL: Linux refuses it while it is mounted or held by
   * another exclusive opener (a second job). Within this process a disk already held so is
   * opened again without it (an image partition and its disk's target partition).
   */
  exclusive?: boolean;
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
  private writer: AsyncWriter | undefined; // set once a write was queued on it
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
      const disk = exclusiveDiskKey(filePath);
      if (disk && !exclusiveDisks.has(disk)) {
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

  deferWrite(lba: number, sectorCount: number, ptr: number, writer: AsyncWriter): boolean {
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

/** The whole disk behind a block device path (for O_EXCL), or undefined for anything else. */
function exclusiveDiskKey(filePath: string): string | undefined {
  try {
    const st = fs.statSync(filePath);
    return st.isBlockDevice() ? (blockExtent(st.rdev)?.key ?? `disk:${st.rdev}`) : undefined;
  } catch {
    return undefined;
  }
}

function sysBlockDir(rdev: number): string {
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

/** A device in memory (tests, the simulator). */
export class RamDevice implements BlockDevice {
  readonly bytes: Uint8Array;
  private closed = false;
  constructor(
    readonly sectorSize: number,
    sectorCountOrBytes: number | Uint8Array,
    readonly name = "ram",
  ) {
    this.bytes =
      typeof sectorCountOrBytes === "number" ? new Uint8Array(sectorCountOrBytes * sectorSize) : sectorCountOrBytes;
  }
  get sectorCount(): number {
    return Math.floor(this.bytes.length / this.sectorSize);
  }
  private live(): void {
    if (this.closed) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.live();
    checkRange(this, lba, sectorCount, "read");
    dst.set(this.bytes.subarray(lba * this.sectorSize, (lba + sectorCount) * this.sectorSize), dstOffset);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.live();
    checkRange(this, lba, sectorCount, "write");
    this.bytes.set(src.subarray(srcOffset, srcOffset + sectorCount * this.sectorSize), lba * this.sectorSize);
  }
  flush(): void {
    this.live();
  }
  close(): void {
    this.closed = true;
  }
}

/** A window of another device: a partition (LBA 0 = its first sector). Closing it leaves the parent open. */
export class PartitionView implements BlockDevice {
  readonly name: string;
  constructor(
    readonly parent: BlockDevice,
    readonly startLba: number,
    readonly sectorCount: number,
    label?: string,
  ) {
    this.name = label ?? `${parent.name}[${startLba}+${sectorCount}]`;
    if (startLba + sectorCount > parent.sectorCount) {
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: partition (start ${startLba}, ${sectorCount} sectors) reaches past the end of ${parent.name} (${parent.sectorCount} sectors)`,
      );
    }
  }
  get sectorSize(): number {
    return this.parent.sectorSize;
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    checkRange(this, lba, sectorCount, "read");
    this.parent.read(this.startLba + lba, sectorCount, dst, dstOffset);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    checkRange(this, lba, sectorCount, "write");
    this.parent.write(this.startLba + lba, sectorCount, src, srcOffset);
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: AsyncWriter): boolean {
    checkRange(this, lba, sectorCount, "write");
    return this.parent.deferWrite?.(this.startLba + lba, sectorCount, ptr, writer) ?? false;
  }
  flush(): void {
    this.parent.flush();
  }
  close(): void {
    /* the parent owns the descriptor */
  }
}

/**
 * The write guard: every write must fall inside [firstLba, firstLba + sectorCount) of the
 * device it wraps, the extent the job was given; anything else is refused before it
 * reaches the device. Reads pass through. Counts what it let through.
 */
export class WriteGuard implements BlockDevice {
  sectorsWritten = 0;
  sectorsRead = 0;
  /** hole: sectors inside the extent that are refused too (a ghost image's own extent). */
  constructor(
    readonly inner: BlockDevice,
    readonly firstLba: number,
    readonly extentSectors: number,
    readonly hole?: { startSector: number; sectors: number },
  ) {}
  get sectorSize(): number {
    return this.inner.sectorSize;
  }
  get sectorCount(): number {
    return this.inner.sectorCount;
  }
  get name(): string {
    return this.inner.name;
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.inner.read(lba, sectorCount, dst, dstOffset);
    this.sectorsRead += sectorCount;
  }
  private guard(lba: number, sectorCount: number): void {
    if (lba < this.firstLba || lba + sectorCount > this.firstLba + this.extentSectors || sectorCount < 0) {
      throw new WriteGuardError(
        `${this.name}: write guard refused ${sectorCount} sectors at LBA ${lba}: the job may write only LBA ${this.firstLba}..${this.firstLba + this.extentSectors - 1}`,
      );
    }
    const h = this.hole;
    if (h && lba < h.startSector + h.sectors && lba + sectorCount > h.startSector) {
      throw new WriteGuardError(
        `${this.name}: write guard refused ${sectorCount} sectors at LBA ${lba}: the ghost image lies at LBA ${h.startSector}..${h.startSector + h.sectors - 1}`,
      );
    }
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.guard(lba, sectorCount);
    this.inner.write(lba, sectorCount, src, srcOffset);
    this.sectorsWritten += sectorCount;
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: AsyncWriter): boolean {
    this.guard(lba, sectorCount);
    const queued = this.inner.deferWrite?.(lba, sectorCount, ptr, writer) ?? false;
    if (queued) this.sectorsWritten += sectorCount;
    return queued;
  }
  flush(): void {
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}
