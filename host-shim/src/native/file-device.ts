// The command line's file devices: the disk file of disk-file.ts, plus what a job on a Linux
// machine needs besides a printer's disk: block-device nodes (their size and sector size from
// sysfs), creating and growing an image file, opening a whole disk exclusively (O_EXCL, so that a mounted disk or a second job is refused), and writes
// queued on the background writer (async-writer.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DeviceCode, DeviceError } from "../../../firmware-module/src/ops/device-errors";
import { LockError } from "../../../firmware-module/src/ops/errors";
import { DiskFile } from "./disk-file";

/** The queue a deferred write goes on (the CLI's background writer, async-writer.ts, is one). */
export interface FileWriteQueue {
  enqueue(fd: number, ptr: number, byteCount: number, position: number): void;
  beforeFileRead(fd: number, position: number, byteCount: number): void;
  beforeFileUse(fd: number): void;
}

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
  /**
   * Reads go through a second descriptor opened with O_DIRECT, so that they reach the medium
   * rather than the page cache (what a restore reads back is then what the disk holds): on by
   * default for a writable block device node. A read into memory that O_DIRECT cannot take (not
   * 4096-aligned) goes through the page cache; a file system that refuses O_DIRECT turns it off.
   */
  direct?: boolean;
}

/** O_DIRECT's alignment of memory, offset and length that every Linux device accepts. */
const DIRECT_ALIGN = 4096;

/** A new file of `bytes` zero bytes (sparse: nothing written), replacing any file of that name. */
export function createSparseFile(file: string, bytes: number): void {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, "");
  fs.truncateSync(file, bytes);
}

/** A new directory in the system's temporary directory, and the way to remove it with all it holds. */
export function scratchDir(prefix: string): { path: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Whole disks this process holds open with O_EXCL, and how many times. */
const exclusiveDisks = new Map<string, number>();

/** A regular file (partition or disk image, backup image) or a Linux block device node. */
export class FileDevice extends DiskFile {
  private readonly growable: boolean;
  private writer: FileWriteQueue | undefined; // set once a write was queued on it
  private heldDisk: string | undefined;
  private directFd = -1;
  /** Bytes read through O_DIRECT (from the medium), and through the page cache. */
  readonly reads = { direct: 0, cached: 0 };

  constructor(filePath: string, options: FileDeviceOptions = {}) {
    const c = fs.constants;
    let flags = options.create ? c.O_RDWR | c.O_CREAT | c.O_TRUNC : options.writable ? c.O_RDWR : c.O_RDONLY;
    const disk =
      options.exclusive && !options.create && !exclusiveDisks.has(options.exclusive) ? options.exclusive : undefined;
    if (disk) flags |= c.O_EXCL;
    super(filePath, { sectorSize: options.sectorSize, flags }, options.writable ?? false);
    this.growable = options.growable ?? false;
    if (disk) {
      this.heldDisk = disk;
      exclusiveDisks.set(disk, (exclusiveDisks.get(disk) ?? 0) + 1);
    }
    const block = fs.fstatSync(this.fd).isBlockDevice();
    if ((options.direct ?? (block && this.writable)) && c.O_DIRECT !== undefined) {
      try {
        this.directFd = fs.openSync(filePath, c.O_RDONLY | c.O_DIRECT);
      } catch {
        this.directFd = -1; // the file system does not take O_DIRECT: reads use the page cache
      }
    }
  }

  protected openFile(filePath: string, flags: number): number {
    try {
      return fs.openSync(filePath, flags, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EBUSY")
        throw new LockError(
          `${filePath} is in use: it is mounted, or another program holds it open exclusively (EBUSY); unmount it or wait for that program`,
        );
      return super.openFile(filePath, flags);
    }
  }

  protected measure(st: fs.Stats): { bytes: number; sectorSize: number } {
    if (!st.isBlockDevice()) return super.measure(st);
    return { bytes: blockDeviceBytes(st.rdev), sectorSize: blockDeviceSectorSize(st.rdev) };
  }

  protected get writeLimit(): number {
    return this.growable ? Number.MAX_SAFE_INTEGER : this.sectorCount;
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    const bytes = sectorCount * this.sectorSize,
      at = lba * this.sectorSize;
    this.writer?.beforeFileRead(this.live(), at, bytes);
    if (this.readDirect(at, bytes, dst, dstOffset)) return;
    super.read(lba, sectorCount, dst, dstOffset);
    this.reads.cached += bytes;
  }

  /** An O_DIRECT read, when the descriptor is open and memory, offset and length are aligned. */
  private readDirect(at: number, bytes: number, dst: Uint8Array, dstOffset: number): boolean {
    const aligned = (dst.byteOffset + dstOffset) % DIRECT_ALIGN === 0 && at % DIRECT_ALIGN === 0;
    if (this.directFd < 0 || !aligned || bytes % DIRECT_ALIGN !== 0 || at + bytes > this.byteLength) return false;
    try {
      for (let done = 0; done < bytes; ) {
        const n = fs.readSync(this.directFd, dst, dstOffset + done, bytes - done, at + done);
        if (n === 0)
          throw new DeviceError(DeviceCode.short, `${this.name}: short read at byte ${at} (${done} of ${bytes} bytes)`);
        done += n;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e;
      fs.closeSync(this.directFd); // the memory or the device does not take it: the page cache from now on
      this.directFd = -1;
      return false;
    }
    this.reads.direct += bytes;
    return true;
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.writer?.beforeFileUse(this.live());
    super.write(lba, sectorCount, src, srcOffset);
  }

  deferWrite(lba: number, sectorCount: number, ptr: number, writer: FileWriteQueue): boolean {
    const fd = this.checkWrite(lba, sectorCount);
    this.writer = writer;
    writer.enqueue(fd, ptr, sectorCount * this.sectorSize, lba * this.sectorSize);
    this.sizeBytes = Math.max(this.sizeBytes, (lba + sectorCount) * this.sectorSize);
    return true;
  }

  flush(): void {
    this.writer?.beforeFileUse(this.live());
    super.flush();
  }

  close(): void {
    if (this.fd < 0) return;
    const d = this.heldDisk;
    this.heldDisk = undefined;
    if (d) {
      const n = (exclusiveDisks.get(d) ?? 1) - 1;
      if (n > 0) exclusiveDisks.set(d, n);
      else exclusiveDisks.delete(d);
    }
    this.writer?.beforeFileUse(this.fd);
    if (this.directFd >= 0) fs.closeSync(this.directFd);
    this.directFd = -1;
    super.close();
  }
}

/** The sysfs directory of a block device number. */
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
  for (const p of [path.join(dir, "queue/logical_block_size"), path.join(dir, "../queue/logical_block_size")])
    if (fs.existsSync(p)) return Number(fs.readFileSync(p, "utf8").trim());
  return 512;
}
